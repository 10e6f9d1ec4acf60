// Autotask Ticket → standardized incident object.
//
// The host already read the id and the dates with the resource's configuration;
// this module renames the known Ticket fields, gathers the user-defined fields,
// and keeps every other field under `extra`. Values are copied through as the
// JSON text Autotask wrote (see raw-json.js), never converted.
//
// Plain JavaScript with no imports from the host, so Node.js can test it as is.
// How WIT values look here (componentize-js): record fields are camelCase,
// enums are their case names ('updated'), and option<T> is T or undefined.

import { SCALAR, STRING, decodeString, elements, kind, members } from './raw-json.js';

/** Autotask Ticket field → standardized incident field, copied through as is. */
export const FIELD_NAMES = [
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
];

/** Autotask field → the start of its standardized member, `"queueId":`, written once. */
const STANDARD_KEYS = new Map(FIELD_NAMES.map(([autotask, standard]) => [autotask, `${JSON.stringify(standard)}:`]));

/** Autotask's list of `{name, value}` pairs, mapped to the `customFields` object. */
export const USER_DEFINED_FIELDS = 'userDefinedFields';

/** Why one record could not be mapped: it fails that record only, not the batch. */
export class MappingError extends Error {}

/** Maps one record to its single event; throws a MappingError when it cannot. */
export function mapRecord(ctx, record) {
  return [
    {
      eventType: record.defaultEventType,
      objectId: record.objectId,
      objectType: ctx.resource,
      eventDate: record.updated ?? record.created ?? ctx.thisPoll,
      payload: incident(ctx, record),
    },
  ];
}

/** The standardized object for `record`, as JSON text. */
export function incident(ctx, record) {
  checkIsObject(record.json);

  // The fields the host read for us are written once, in normalized form.
  const { idField, dates } = ctx.poll;
  const consumed = [idField, dates.createdDateField, dates.updatedDateField];

  const out = [
    `"id":${JSON.stringify(record.objectId)}`,
    `"createdDate":${optionalString(record.created)}`,
    `"updatedDate":${optionalString(record.updated)}`,
  ];
  const extra = [];
  for (const { name, member, value } of members(record.json)) {
    if (consumed.includes(name)) {
      continue;
    }
    if (name === USER_DEFINED_FIELDS) {
      out.push(`"customFields":${customFields(value)}`);
    } else if (STANDARD_KEYS.has(name)) {
      out.push(STANDARD_KEYS.get(name) + value);
    } else {
      extra.push(member); // as written: one slice of the record, nothing to encode
    }
  }
  out.push(`"extra":${object(extra)}`);
  return object(out);
}

/** Throws unless `json` is one well-formed JSON object (raw-json.js relies on that). */
function checkIsObject(json) {
  let value;
  try {
    value = JSON.parse(json);
  } catch (e) {
    throw new MappingError(`the record is not a JSON object: ${e.message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new MappingError(`the record is not a JSON object: it is ${described(json)}`);
  }
}

/** `[{"name": "Region", "value": "EU"}]` → `{"Region": "EU"}`; `null` → `{}`. */
function customFields(json) {
  const type = kind(json);
  if (type === 'null') {
    return '{}';
  }
  if (type !== 'array') {
    throw notPairs(`it is ${described(json)}`);
  }
  const fields =
    plainPairs(json) ??
    elements(json).map((item, index) => {
      const [name, value] = pair(item, index);
      return `${name}:${value ?? 'null'}`; // a pair without a value is a field without one
    });
  return object(fields);
}

/**
 * One pair as Autotask writes every pair: `{"name": "…", "value": …}`, a name
 * without escapes and a string or scalar value. Reading a list of them with
 * one match a pair is several times quicker than the general path (`pair`),
 * which reads the rest.
 */
const PLAIN_PAIR = new RegExp(
  String.raw`[\s,[]*\{\s*"name"\s*:\s*("[^"\\]*")\s*,\s*"value"\s*:\s*(${STRING}|${SCALAR})\s*\}`,
  'y',
);
const LIST_END = /\s*\]$/y;

/** The members of the `customFields` object, when every pair in the list `json` is plain; else null. */
function plainPairs(json) {
  const fields = [];
  let end = 0;
  PLAIN_PAIR.lastIndex = 0;
  for (let match; (match = PLAIN_PAIR.exec(json)) !== null; ) {
    fields.push(`${match[1]}:${match[2]}`);
    end = PLAIN_PAIR.lastIndex;
  }
  LIST_END.lastIndex = end;
  return LIST_END.test(json) ? fields : null;
}

/** One user-defined field's name and value as JSON text (the value undefined when missing), read by the general rules. */
function pair(json, index) {
  // The Rust plugin reads pairs with serde, and this keeps to its rules: other
  // keys are ignored, a repeated key is an error, and a pair may also be
  // written as the list of its fields, `[name]` or `[name, value]`.
  const type = kind(json);
  if (type === 'array') {
    const items = elements(json);
    if (items.length === 0 || items.length > 2) {
      throw notPairs(`item ${index} is a list of ${items.length}, not [name, value]`);
    }
    return [pairName(items[0], index), items[1]];
  }
  if (type !== 'object') {
    throw notPairs(`item ${index} is ${described(json)}`);
  }
  let name;
  let value;
  for (const member of members(json)) {
    if (member.name === 'name') {
      if (name !== undefined) {
        throw notPairs(`item ${index} has two names`);
      }
      name = pairName(member.value, index);
    } else if (member.name === 'value') {
      if (value !== undefined) {
        throw notPairs(`item ${index} has two values`);
      }
      value = member.value;
    }
  }
  if (name === undefined) {
    throw notPairs(`item ${index} has no name`);
  }
  return [name, value];
}

/** A pair's name, which must be a JSON string: it is returned as such. */
function pairName(json, index) {
  if (kind(json) !== 'string') {
    throw notPairs(`the name of item ${index} is ${described(json)}, not a string`);
  }
  // JSON.parse takes an escaped lone surrogate ("\ud800"), which is no text:
  // Rust refuses it, and so does this.
  if (!decodeString(json).isWellFormed()) {
    throw notPairs(`the name of item ${index} has a lone surrogate`);
  }
  return json;
}

/** The error for a `userDefinedFields` that is not what Autotask sends. */
function notPairs(why) {
  return new MappingError(`${USER_DEFINED_FIELDS} is not a list of {name, value}: ${why}`);
}

/** The kind of JSON value in `json`, for error messages: 'an array', 'null', ... */
function described(json) {
  return DESCRIBED_KINDS[kind(json)];
}

const DESCRIBED_KINDS = {
  object: 'an object',
  array: 'an array',
  string: 'a string',
  number: 'a number',
  boolean: 'a boolean',
  null: 'null',
};

/** An object from its members. */
function object(members) {
  return `{${members.join(',')}}`;
}

/** A JSON string, or `null` for a missing one. */
function optionalString(value) {
  return value == null ? 'null' : JSON.stringify(value);
}
