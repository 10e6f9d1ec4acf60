// __FILE__: maps Autotask __ENTITY__ to `__RESOURCE__` events. A script plugin:
// copy this file into the service's plugin directory and it is live at the next batch.
//
// mapRecord(record, meta, ctx) gets one record as Autotask sent it, what the host
// already read from it (meta: objectId, created, updated, defaultEventType) and the
// poll (ctx: instanceId, instanceName, elementKey, resource, previousPoll, thisPoll,
// poll). It returns an event, a list of events, or null for none. Every event field
// but `payload` may be left out: the type defaults to meta.defaultEventType (CREATED
// or UPDATED), the id to meta.objectId, the object type to ctx.resource and the date
// to meta.updated. A thrown error fails only this record.
'use strict';

/** Autotask __ENTITY__ field -> payload field. Missing and null fields become null. */
const FIELDS = {
__FIELDS__};

/** What this plugin maps by default: the service reads the id and dates with it. */
exports.describe = () => ({
  resource: '__RESOURCE__',
  entity: '__ENTITY__',
  idField: '__ID_FIELD__',
  createdDateField: '__CREATED__',
  updatedDateField: '__UPDATED__',
});

exports.mapRecord = (record, meta, ctx) => {
  const payload = {
    id: meta.objectId,
    createdDate: meta.created ?? null,
    updatedDate: meta.updated ?? null,
  };
  for (const [from, to] of Object.entries(FIELDS)) {
    payload[to] = record[from] ?? null;
  }
  payload.customFields = customFields(record.userDefinedFields);
  const event = { payload };
__EVENT_TYPE__  return event;
};

/** Autotask's `[{name, value}]` list as an object; a missing or null list is `{}`. */
function customFields(list) {
  if (list == null) return {};
  if (!Array.isArray(list)) throw new Error('userDefinedFields is not a list of {name, value}');
  const fields = {};
  for (const field of list) {
    if (field && typeof field.name === 'string') fields[field.name] = field.value ?? null;
  }
  return fields;
}
