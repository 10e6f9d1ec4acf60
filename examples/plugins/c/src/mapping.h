/*
 * The incidents mapping: Autotask Tickets → standardized incident events.
 *
 * It works on the types the bindings generate from the WIT (described_plugin.h),
 * shortened here; plugin.c only connects it to the component's exports.
 */
#ifndef MAPPING_H
#define MAPPING_H

#include "described_plugin.h"

typedef described_plugin_string_t plugin_string;
typedef exports_autotask_events_plugin_mapper_context_t plugin_context;
typedef exports_autotask_events_plugin_mapper_raw_record_t plugin_raw_record;
typedef exports_autotask_events_plugin_mapper_event_t plugin_event;
typedef exports_autotask_events_plugin_mapper_result_list_event_string_t plugin_result;
typedef exports_autotask_events_plugin_mapper_list_raw_record_t plugin_records;
typedef exports_autotask_events_plugin_mapper_list_result_list_event_string_t plugin_results;
typedef exports_autotask_events_plugin_describe_description_t plugin_description;

/*
 * Maps one record: its single event, or why it cannot be mapped (that record
 * only). Everything in `result` is newly allocated; the bindings free it after
 * the host has read it.
 */
void map_record(const plugin_context *ctx, const plugin_raw_record *record, plugin_result *result);

/* What this plugin maps by default, so a dropped-in file is self-describing. */
void describe_plugin(plugin_description *ret);

#endif
