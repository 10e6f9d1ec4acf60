// The mapping's tests, run natively by Node.js (`npm test`): the same cases as
// the Rust plugin's, plus the text-level promises that JSON.parse would break.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MappingError, incident, mapRecord } from '../src/mapping.js';

function context(resource = 'incidents', idField = 'id') {
  return {
    instanceId: '1',
    instanceName: 'test',
    elementKey: 'autotaskhelpdesk',
    resource,
    poll: {
      idField,
      dates: { updatedDateField: 'lastActivityDate', createdDateField: 'createDate' },
      createdCheckToleranceSeconds: 0,
    },
    previousPoll: '2024-01-01T00:00:00.000Z',
    thisPoll: '2024-01-01T00:01:00.000Z',
  };
}

function record(json) {
  return {
    json: typeof json === 'string' ? json : JSON.stringify(json),
    objectId: '42',
    created: '2023-12-31T10:00:00.000Z',
    updated: '2024-01-01T00:00:30.407Z',
    defaultEventType: 'updated',
  };
}

const payload = (ctx, raw) => JSON.parse(incident(ctx, raw));

test('renames known fields and keeps the rest under extra', () => {
  const raw = record({
    id: 42, ticketNumber: 'T20240101.0001', title: 'Printer on fire',
    queueID: 8, companyID: 0, assignedResourceID: null,
    createDate: '2023-12-31T10:00:00Z', lastActivityDate: '2024-01-01T00:00:30.407Z',
    dueDateTime: '2024-01-03T00:00:00Z', serviceLevelAgreementID: 3,
  });
  const [event, ...more] = mapRecord(context(), raw);
  assert.equal(more.length, 0);
  assert.equal(event.eventType, 'updated');
  assert.equal(event.objectId, '42');
  assert.equal(event.objectType, 'incidents');
  assert.equal(event.eventDate, '2024-01-01T00:00:30.407Z');
  // Compared as text, so the key order is checked too.
  assert.equal(event.payload, JSON.stringify({
    id: '42', createdDate: '2023-12-31T10:00:00.000Z', updatedDate: '2024-01-01T00:00:30.407Z',
    ticketNumber: 'T20240101.0001', title: 'Printer on fire',
    queueId: 8, companyId: 0, assignedResourceId: null,
    dueDate: '2024-01-03T00:00:00Z',
    extra: { serviceLevelAgreementID: 3 },
  }));
});

test('user-defined fields become an object', () => {
  const raw = record({ id: 42, userDefinedFields: [
    { name: 'Région', value: 'EU "west"' }, { name: 'Empty', value: null }, { name: 'NoValue' },
  ] });
  assert.deepEqual(payload(context(), raw).customFields, { Région: 'EU "west"', Empty: null, NoValue: null });
  assert.deepEqual(payload(context(), record({ id: 42, userDefinedFields: null })).customFields, {});
  // serde, which the Rust plugin reads pairs with, also takes a pair as a list.
  assert.deepEqual(payload(context(), record({ id: 42, userDefinedFields: [['Region', 'EU'], ['Bare']] })).customFields,
    { Region: 'EU', Bare: null });
});

test('plain pairs and the general rules read user-defined fields alike', () => {
  const plain = '[ {"name": "A", "value": 1.0}, {"name":"B","value":null},\n{ "name" : "C\\"" , "value" : "x]" } ]';
  const mixed = `${plain.slice(0, -1)}, {"value": 2, "name": "D"}]`; // a reversed pair: the general rules
  const fields = (json) => payload(context(), record(`{"userDefinedFields": ${json}}`)).customFields;
  assert.deepEqual(fields(plain), { A: 1, B: null, 'C"': 'x]' });
  assert.deepEqual(fields(mixed), { A: 1, B: null, 'C"': 'x]', D: 2 });
  assert.match(incident(context(), record(`{"userDefinedFields": ${plain}}`)), /"customFields":\{"A":1\.0,/);
  assert.deepEqual(fields('[]'), {});
});

test('a malformed record is an error for that record only', () => {
  const fails = (json, start) => assert.throws(() => mapRecord(context(), record(json)),
    (e) => e instanceof MappingError && e.message.startsWith(start));
  fails('[1,2]', 'the record is not a JSON object');
  fails('{"id": 1', 'the record is not a JSON object');
  fails({ id: 1, userDefinedFields: 'Region=EU' }, 'userDefinedFields is not a list of {name, value}');
  fails({ id: 1, userDefinedFields: [1] }, 'userDefinedFields is not a list of {name, value}');
  fails({ id: 1, userDefinedFields: [{ value: 1 }] }, 'userDefinedFields is not a list of {name, value}');
  fails({ id: 1, userDefinedFields: [{ name: 5 }] }, 'userDefinedFields is not a list of {name, value}');
  fails('{"id": 1, "userDefinedFields": [{"name": "a", "name": "b"}]}', 'userDefinedFields is not a list');
  fails('{"id": 1, "userDefinedFields": [{"name": "\\ud800", "value": 1}]}', 'userDefinedFields is not a list');
});

test('follows the configured resource and id field', () => {
  const ctx = context('accounts', 'companyNumber');
  const raw = record({ id: 7, companyNumber: 'C-9', companyName: 'Contoso' });
  assert.equal(mapRecord(ctx, raw)[0].objectType, 'accounts');
  assert.deepEqual(payload(ctx, raw).extra, { id: 7, companyName: 'Contoso' });
});

test('without dates the event is dated by the poll', () => {
  const raw = { ...record({ id: 1 }), created: undefined, updated: undefined };
  const [event] = mapRecord(context(), raw);
  assert.equal(event.eventDate, '2024-01-01T00:01:00.000Z');
  assert.equal(event.payload, '{"id":"42","createdDate":null,"updatedDate":null,"extra":{}}');
});

test('escapes field names that need it', () => {
  const raw = record({ id: 1, 'we"ird\nname': 1 });
  assert.deepEqual(payload(context(), raw).extra, { 'we"ird\nname': 1 });
  // An escaped name is read by its meaning: this is `title`.
  assert.equal(payload(context(), record('{"ti\\u0074le": "t"}')).title, 't');
});

test('copies values and member order exactly as written', () => {
  const raw = record(`{ "id" : 1 ,\t"b": 18446744073709551617, "a": 0.0, "42": [ 1e2 , "]\\\\" ],
    "userDefinedFields": [{"name": "7", "value": {"x": -0}}, {"name": "1", "value": 2.50}] }`);
  assert.equal(incident(context(), raw),
    '{"id":"42","createdDate":"2023-12-31T10:00:00.000Z","updatedDate":"2024-01-01T00:00:30.407Z",'
    + '"customFields":{"7":{"x": -0},"1":2.50},'
    + '"extra":{"b": 18446744073709551617,"a": 0.0,"42": [ 1e2 , "]\\\\" ]}}');
});
