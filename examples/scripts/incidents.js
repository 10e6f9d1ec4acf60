// The incidents mapping as a JavaScript script plugin: Autotask Tickets →
// standardized incidents, the same events as the built-in Rust plugin.
// Drop it into the plugin directory; the script contract is described in
// host/script-runners/README.md.
//
// The host already read the id and the dates with the resource's
// configuration; this script renames the known Ticket fields, gathers the
// user-defined fields into `customFields`, and keeps every other field under
// `extra`. Numbers keep the text Autotask wrote (`0.0` stays `0.0`): the
// runner hands them over as JSON.rawJSON values, which JSON.stringify writes
// back verbatim, so they are copied through, never computed with.

/** Autotask Ticket field → standardized incident field, copied through as is. */
const FIELD_NAMES = new Map([
  ['ticketNumber', 'ticketNumber'],
  ['title', 'title'],
  ['description', 'description'],
  ['status', 'status'],
  ['priority', 'priority'],
  ['issueType', 'issueType'],
  ['subIssueType', 'subIssueType'],
  ['ticketType', 'ticketType'],
  ['source', 'source'],
  ['queueID', 'queueId'],
  ['companyID', 'companyId'],
  ['contactID', 'contactId'],
  ['assignedResourceID', 'assignedResourceId'],
  ['dueDateTime', 'dueDate'],
  ['completedDate', 'completedDate'],
  ['resolvedDateTime', 'resolvedDate'],
]);

/** Autotask's list of `{name, value}` pairs, mapped to the `customFields` object. */
const USER_DEFINED_FIELDS = 'userDefinedFields';

exports.describe = () => ({
  resource: 'incidents',
  entity: 'Tickets',
  idField: 'id',
  createdDateField: 'createDate',
  updatedDateField: 'lastActivityDate',
});

/** One event a Ticket, of the default type, object id and date: only its payload is ours. */
exports.mapRecord = (record, meta, ctx) => {
  // The fields the host read for us are written once, in normalized form.
  const { idField, dates } = ctx.poll;
  const out = { id: meta.objectId, createdDate: meta.created, updatedDate: meta.updated };
  const extra = {};
  let customText;
  for (const name in record) {
    if (name === idField || name === dates.createdDateField || name === dates.updatedDateField) {
      continue;
    }
    const value = record[name];
    if (name === USER_DEFINED_FIELDS) {
      const fields = customFields(value);
      out.customFields = fields;
      if (fields === undefined) {
        customText = customFieldsText(value);
        out.customFields = CUSTOM_FIELDS_MARK;
      }
    } else {
      const standard = FIELD_NAMES.get(name);
      if (standard !== undefined) {
        out[standard] = value;
      } else {
        extra[name] = value;
      }
    }
  }
  out.extra = extra;
  let payload = JSON.stringify(out);
  if (customText !== undefined) {
    payload = payload.replace(CUSTOM_FIELDS_MARK_TEXT, customText);
  }
  return { payload };
};

/**
 * `[{"name": "Region", "value": "EU"}]` → `{"Region": "EU"}`; `null` → `{}`.
 * Undefined when a name looks like an array index ("42"): a JS object would
 * list it first, and the list's order must stay, so customFieldsText writes it.
 */
function customFields(list) {
  if (list === null) {
    return {};
  }
  if (!Array.isArray(list)) {
    throw notPairs(`it is ${kind(list)}`);
  }
  const fields = {};
  for (let i = 0; i < list.length; i++) {
    const name = pairName(list[i], i);
    if (INDEX_LIKE.test(name)) {
      return undefined;
    }
    const value = list[i].value;
    fields[name] = value === undefined ? null : value;
  }
  return fields;
}

/** The `customFields` object as JSON text, in the list's order. */
function customFieldsText(list) {
  const members = list.map((pair, i) => {
    const value = pair.value === undefined ? null : pair.value;
    return `${JSON.stringify(pairName(pair, i))}:${JSON.stringify(value)}`;
  });
  return `{${members.join(',')}}`;
}

const INDEX_LIKE = /^(?:0|[1-9][0-9]*)$/;
/** Stands for customFields in the stringified payload until its text replaces it. */
const CUSTOM_FIELDS_MARK_TEXT = '"\\u0000customFields"';
const CUSTOM_FIELDS_MARK = JSON.rawJSON(CUSTOM_FIELDS_MARK_TEXT);

function pairName(pair, index) {
  if (pair === null || typeof pair !== 'object' || Array.isArray(pair)) {
    throw notPairs(`item ${index} is ${kind(pair)}`);
  }
  if (typeof pair.name !== 'string') {
    throw notPairs(`item ${index} has no string name`);
  }
  return pair.name;
}

function notPairs(why) {
  return new Error(`${USER_DEFINED_FIELDS} is not a list of {name, value}: ${why}`);
}

function kind(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return JSON.isRawJSON(value) ? 'a number' : 'an object';
  return typeof value === 'string' ? 'a string' : `a ${typeof value}`;
}
