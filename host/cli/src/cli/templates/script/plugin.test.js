// Unit tests of __FILE__: `node --test` runs them (Node.js 18 or later, nothing to install).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const plugin = require('./__FILE__');

const meta = {
  objectId: '42',
  created: '2024-05-01T09:00:00.000Z',
  updated: '2024-05-02T10:30:00.000Z',
  defaultEventType: 'UPDATED',
};
const ctx = {
  instanceId: '1', instanceName: 'test', elementKey: 'autotaskhelpdesk', resource: '__RESOURCE__',
  previousPoll: '2024-05-02T10:00:00.000Z', thisPoll: '2024-05-02T10:31:00.000Z', poll: {},
};

/** A __ENTITY__ record as Autotask sends it. */
const record = __SAMPLE__;

test('describe names the resource, the entity and its fields', () => {
  assert.deepEqual(plugin.describe(), {
    resource: '__RESOURCE__', entity: '__ENTITY__', idField: '__ID_FIELD__',
    createdDateField: '__CREATED__', updatedDateField: '__UPDATED__',
  });
});

test('maps the main fields of a record', () => {
  const event = plugin.mapRecord(record, meta, ctx);
  assert.equal(event.payload.id, '42');
  assert.equal(event.payload.updatedDate, meta.updated);
__FIELD_ASSERTIONS__});

test('copes with null and missing fields', () => {
  const sparse = { id: 42, __NULL_FIELD__: null, userDefinedFields: null };
  const event = plugin.mapRecord(sparse, { ...meta, created: null }, ctx);
  assert.equal(event.payload.createdDate, null);
  assert.equal(event.payload.__NULL_PAYLOAD_FIELD__, null);
  assert.deepEqual(event.payload.customFields, {});
});

test('user-defined fields become an object, a value-less one null', () => {
  const withFields = { ...record, userDefinedFields: [{ name: 'Region', value: 'EU' }, { name: 'PO', value: null }, { name: 'Tag' }] };
  assert.deepEqual(plugin.mapRecord(withFields, meta, ctx).payload.customFields, { Region: 'EU', PO: null, Tag: null });
  assert.throws(() => plugin.mapRecord({ ...record, userDefinedFields: 'Region=EU' }, meta, ctx), /not a list/);
});
__EVENT_TYPE_TEST__
