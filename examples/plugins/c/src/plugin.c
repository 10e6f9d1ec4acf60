/*
 * The component's exports: what the bindings generated from the WIT call.
 *
 * Ownership follows wit-bindgen's C conventions: an export receives its
 * arguments as its own and frees them; what it returns is freed by the bindings'
 * post-return function once the host has copied it out.
 */
#include <stdlib.h>

#include "described_plugin.h"
#include "json.h"
#include "mapping.h"

/* One line in the host's log per batch, tagged by the host with the plugin's name. */
static void log_batch(size_t records) {
    json_buf line = {0};
    json_buf_put_span(&line, json_cstr("mapped "));
    json_buf_put_uint(&line, records);
    json_buf_put_span(&line, json_cstr(" record(s)"));
    plugin_string message = {(uint8_t *)line.data, line.len};
    autotask_events_plugin_log_log(AUTOTASK_EVENTS_PLUGIN_LOG_LEVEL_DEBUG, &message);
    json_buf_free(&line);
}

void exports_autotask_events_plugin_mapper_transform(plugin_context *ctx, plugin_records *records, plugin_results *ret) {
    /* One result per record, in order. An empty list must not own memory: the
     * bindings free a list's buffer only when it has items. */
    ret->len = records->len;
    ret->ptr = NULL;
    if (records->len > 0) {
        ret->ptr = malloc(records->len * sizeof *ret->ptr);
        if (!ret->ptr) abort();
    }
    for (size_t i = 0; i < records->len; i++) {
        map_record(ctx, &records->ptr[i], &ret->ptr[i]);
    }
    log_batch(records->len);
    exports_autotask_events_plugin_mapper_context_free(ctx);
    exports_autotask_events_plugin_mapper_list_raw_record_free(records);
}

void exports_autotask_events_plugin_describe_describe(plugin_description *ret) {
    describe_plugin(ret);
}
