/*
 * Autotask Ticket → standardized incident object: the C port of the Rust plugin
 * (plugins/incidents/src/mapping.rs), giving the same events byte for byte.
 *
 * The host already read the id and the dates with the resource's configuration;
 * this file renames the known Ticket fields, gathers the user-defined fields and
 * keeps every other field under `extra`. It reads each record once and copies the
 * values' JSON text through unchanged, never building a tree.
 */
#include "mapping.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"

/* What this plugin maps by default (describe). */
static const char RESOURCE[] = "incidents";
static const char ENTITY[] = "Tickets";

/* Autotask Ticket field → standardized incident field, copied through as is. */
static const struct {
    const char *autotask;
    const char *standard;
} FIELD_NAMES[] = {
    {"ticketNumber", "ticketNumber"},
    {"title", "title"},
    {"description", "description"},
    {"status", "status"},
    {"priority", "priority"},
    {"issueType", "issueType"},
    {"subIssueType", "subIssueType"},
    {"ticketType", "ticketType"},
    {"source", "source"},
    {"queueID", "queueId"},
    {"companyID", "companyId"},
    {"contactID", "contactId"},
    {"assignedResourceID", "assignedResourceId"},
    {"dueDateTime", "dueDate"},
    {"completedDate", "completedDate"},
    {"resolvedDateTime", "resolvedDate"},
};

/* Autotask's list of {name, value} pairs, mapped to the `customFields` object. */
static const char USER_DEFINED_FIELDS[] = "userDefinedFields";

static json_span span_of(const plugin_string *s) {
    json_span span = {(const char *)s->ptr, s->len};
    return span;
}

/* Names are compared as decoded bytes: a name may hold any character, NUL included. */
static bool span_equals(json_span a, json_span b) {
    return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

static bool span_is(json_span a, const char *s) {
    return span_equals(a, json_cstr(s));
}

/* A copy the bindings can free: WIT strings handed to the host are owned by it. */
static plugin_string string_copy(json_span s) {
    plugin_string out;
    described_plugin_string_dup_n(&out, s.ptr, s.len);
    return out;
}

/* The fields the host read for us (id and dates): written once, in normalized form. */
static bool consumed_by_host(const plugin_context *ctx, json_span name) {
    const autotask_events_plugin_types_dates_configuration_t *dates = &ctx->poll.dates;
    return span_equals(name, span_of(&ctx->poll.id_field)) ||
           (dates->created_date_field.is_some && span_equals(name, span_of(&dates->created_date_field.val))) ||
           (dates->updated_date_field.is_some && span_equals(name, span_of(&dates->updated_date_field.val)));
}

static const char *standard_name(json_span autotask) {
    for (size_t i = 0; i < sizeof FIELD_NAMES / sizeof FIELD_NAMES[0]; i++) {
        if (span_is(autotask, FIELD_NAMES[i].autotask)) return FIELD_NAMES[i].standard;
    }
    return NULL;
}

static void put_optional_string(json_buf *out, const described_plugin_option_string_t *value) {
    if (value->is_some) {
        json_buf_put_string(out, span_of(&value->val));
    } else {
        json_buf_put(out, "null", 4);
    }
}

/*
 * One {name, value} pair of userDefinedFields, written as `"name":value`; NULL, or
 * why the pair is malformed. The Rust plugin reads a pair with serde's derived
 * Deserialize, so the same shapes pass: an object with a string `name` (once) and
 * an optional `value` (once), other members ignored; or, as serde also allows for
 * a struct, an array [name] or [name, value].
 */
static const char *custom_field(json_span pair, json_buf *out, json_buf *scratch) {
    json_reader r;
    json_span member, value = json_cstr("null"), name = {NULL, 0};
    int more;
    json_reader_init(&r, pair);
    if (pair.ptr[0] == '[') {
        json_array_begin(&r);
        if (json_array_next(&r, &name) <= 0) return "a pair written as an array has no name";
        more = json_array_next(&r, &member);
        if (more > 0) {
            value = member;
            more = json_array_next(&r, &member);
        }
        if (more != 0) return "a pair written as an array has more than two items";
    } else {
        json_span key, decoded;
        bool has_value = false;
        if (!json_object_begin(&r)) return "an item is not an object {name, value}";
        while ((more = json_object_next(&r, &key, &member)) > 0) {
            if (!json_decode_string(key, scratch, &decoded)) return "a member name has an unpaired surrogate escape";
            if (span_is(decoded, "name")) {
                if (name.ptr) return "duplicate field `name`";
                name = member;
            } else if (span_is(decoded, "value")) {
                if (has_value) return "duplicate field `value`";
                has_value = true;
                value = member;
            }
        }
        if (!name.ptr) return "missing field `name`";
    }
    if (!json_is_string(name)) return "a `name` is not a string";
    json_span decoded_name;
    if (!json_decode_string(name, scratch, &decoded_name)) return "a `name` has an unpaired surrogate escape";
    json_object_key(out, decoded_name);
    json_buf_put_span(out, value);
    return NULL;
}

/* `[{"name": "Region", "value": "EU"}]` → `{"Region":"EU"}`, `null` → `{}`; NULL, or what is wrong. */
static const char *custom_fields(json_span list, json_buf *out, json_buf *scratch) {
    json_reader r;
    json_span pair;
    int more;
    json_object_open(out);
    if (!json_is_null(list)) {
        json_reader_init(&r, list);
        if (!json_array_begin(&r)) return "it is neither null nor an array";
        while ((more = json_array_next(&r, &pair)) > 0) {
            const char *why = custom_field(pair, out, scratch);
            if (why) return why;
        }
    }
    json_object_close(out);
    return NULL;
}

/*
 * The standardized object for `record` into `out`, or false with the reason in
 * `error`. The text was checked by the reader while it was scanned (values are
 * spans of checked JSON), so later steps need not check it again.
 */
static bool incident(const plugin_context *ctx, const plugin_raw_record *record, json_buf *out, json_buf *error) {
    json_reader r;
    json_buf extra = {0}, scratch = {0};
    json_span key, value, name;
    const char *custom_fields_error = NULL;
    int more = -1;

    json_object_open(out);
    json_object_key(out, json_cstr("id"));
    json_buf_put_string(out, span_of(&record->object_id));
    json_object_key(out, json_cstr("createdDate"));
    put_optional_string(out, &record->created);
    json_object_key(out, json_cstr("updatedDate"));
    put_optional_string(out, &record->updated);

    json_object_open(&extra);
    json_reader_init(&r, span_of(&record->json));
    if (json_object_begin(&r)) {
        while ((more = json_object_next(&r, &key, &value)) > 0) {
            if (!json_decode_string(key, &scratch, &name)) {
                r.error = "a field name has an unpaired surrogate escape";
                r.error_at = (size_t)(key.ptr - r.start);
                more = -1;
                break;
            }
            if (consumed_by_host(ctx, name)) continue;
            const char *standard = NULL;
            if (span_is(name, USER_DEFINED_FIELDS)) {
                /* Scanning goes on after a bad list: the Rust plugin reads the whole
                 * record first, so a record that is also broken further on is
                 * reported as not being JSON, and so it is here. */
                json_object_key(out, json_cstr("customFields"));
                if (!custom_fields_error) custom_fields_error = custom_fields(value, out, &scratch);
            } else if ((standard = standard_name(name)) != NULL) {
                json_object_key(out, json_cstr(standard));
                json_buf_put_span(out, value);
            } else {
                json_object_key(&extra, name);
                json_buf_put_span(&extra, value);
            }
        }
    }
    if (more == 0) json_end(&r);

    if (r.error) {
        json_buf_put_span(error, json_cstr("the record is not a JSON object: "));
        json_buf_put_span(error, json_cstr(r.error));
        json_buf_put_span(error, json_cstr(" at byte "));
        json_buf_put_uint(error, r.error_at);
    } else if (custom_fields_error) {
        json_buf_put_span(error, json_cstr("userDefinedFields is not a list of {name, value}: "));
        json_buf_put_span(error, json_cstr(custom_fields_error));
    } else {
        json_object_close(&extra);
        json_object_key(out, json_cstr("extra"));
        json_buf_put(out, extra.data, extra.len);
        json_object_close(out);
    }
    json_buf_free(&extra);
    json_buf_free(&scratch);
    return error->len == 0;
}

void map_record(const plugin_context *ctx, const plugin_raw_record *record, plugin_result *result) {
    json_buf payload = {0}, error = {0};
    if (!incident(ctx, record, &payload, &error)) {
        json_buf_free(&payload);
        result->is_err = true;
        result->val.err = (plugin_string){(uint8_t *)error.data, error.len};
        return;
    }
    plugin_event *event = malloc(sizeof *event);
    if (!event) abort();
    /* The event the host suggests: its type, the id, the resource as object type
     * and the updated (else created, else this poll's) time as event date. */
    const plugin_string *date = record->updated.is_some   ? &record->updated.val
                                : record->created.is_some ? &record->created.val
                                                          : &ctx->this_poll;
    event->event_type = record->default_event_type;
    event->object_id = string_copy(span_of(&record->object_id));
    event->object_type = string_copy(span_of(&ctx->resource));
    event->event_date = string_copy(span_of(date));
    /* The buffer becomes the payload as it is: it came from malloc and is not empty. */
    event->payload = (plugin_string){(uint8_t *)payload.data, payload.len};
    result->is_err = false;
    result->val.ok.ptr = event;
    result->val.ok.len = 1;
}

void describe_plugin(plugin_description *ret) {
    ret->resource = string_copy(json_cstr(RESOURCE));
    ret->entity = string_copy(json_cstr(ENTITY));
    /* Autotask's usual field names, as the Rust SDK's Description::new has them. */
    ret->id_field = string_copy(json_cstr("id"));
    ret->created_date_field.is_some = true;
    ret->created_date_field.val = string_copy(json_cstr("createDate"));
    ret->updated_date_field.is_some = true;
    ret->updated_date_field.val = string_copy(json_cstr("lastActivityDate"));
}
