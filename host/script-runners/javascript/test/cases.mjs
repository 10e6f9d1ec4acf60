// The runner logic's cases, imported by core.test.mjs once JSON.rawJSON is there.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LoadError, describe, loadScript, parseRecord, transform } from '../src/core.js';

export function context() {
  return {
    instanceId: '1',
    instanceName: 'test',
    elementKey: 'autotaskhelpdesk',
    resource: 'incidents',
    poll: {
      idField: 'id',
      dates: { updatedDateField: 'lastActivityDate', createdDateField: 'createDate' },
      createdCheckToleranceSeconds: 0,
    },
    previousPoll: '2024-01-01T00:00:00.000Z',
    thisPoll: '2024-01-01T00:01:00.000Z',
  };
}

export function record(json, objectId = '42', extra = {}) {
  return {
    json,
    objectId,
    created: '2023-12-31T10:00:00.000Z',
    updated: '2024-01-01T00:00:30.407Z',
    defaultEventType: { tag: 'updated' },
    ...extra,
  };
}

/** A console that keeps what is written to it. */
function recorder() {
  const lines = { log: [], error: [] };
  return { lines, log: (...a) => lines.log.push(a.join(' ')), error: (...a) => lines.error.push(a.join(' ')) };
}

function run(source, records, fileName = 'accounts.js') {
  const console = recorder();
  const script = loadScript(fileName, source, console);
  return { results: transform(script, context(), records, console), console, script };
}

test('numbers keep their text through parse and stringify', () => {
  const text = '{"a":12.50,"b":9007199254740993,"c":1.25e-3,"d":1,"e":-0,"f":1.5,"g":0.0,"h":[1E2,{"i":100}]}';
  assert.equal(JSON.stringify(parseRecord(text)), text);
  const { results } = run('exports.mapRecord = (record) => ({ payload: record });', [record(text)]);
  assert.equal(results[0].val[0].payload, text);
});

test('an event takes its defaults from meta and ctx', () => {
  const { results } = run('exports.mapRecord = () => ({ payload: { x: 1 } });', [
    record('{}'),
    record('{}', '7', { created: undefined, updated: undefined, defaultEventType: { tag: 'created' } }),
  ]);
  assert.deepEqual(results[0], {
    tag: 'ok',
    val: [
      {
        eventType: { tag: 'updated' },
        objectId: '42',
        objectType: 'incidents',
        eventDate: '2024-01-01T00:00:30.407Z',
        payload: '{"x":1}',
      },
    ],
  });
  assert.deepEqual(results[1].val[0].eventType, { tag: 'created' });
  assert.equal(results[1].val[0].eventDate, '2024-01-01T00:01:00.000Z');
});

test('the script sees meta and ctx', () => {
  const source = `exports.mapRecord = (r, meta, ctx) => ({ payload: { meta, ctx } });`;
  const { results } = run(source, [record('{}', '9', { updated: undefined })]);
  const { meta, ctx } = JSON.parse(results[0].val[0].payload);
  assert.deepEqual(meta, { objectId: '9', created: '2023-12-31T10:00:00.000Z', updated: null, defaultEventType: 'UPDATED' });
  assert.equal(ctx.poll.dates.updatedDateField, 'lastActivityDate');
  assert.equal(ctx.poll.dates.updatedDateFormat, null);
  assert.equal(ctx.thisPoll, '2024-01-01T00:01:00.000Z');
});

test('event types: the standard three, custom names, and bad ones', () => {
  const source = `exports.mapRecord = (r) => ({ eventType: r.t, payload: '{}' });`;
  const { results } = run(source, ['"DELETED"', '"CREATED"', '"DEACTIVATED"', '"lower"', '5', 'null'].map((t) => record(`{"t":${t}}`)));
  assert.deepEqual(results[0].val[0].eventType, { tag: 'deleted' });
  assert.deepEqual(results[1].val[0].eventType, { tag: 'created' });
  assert.deepEqual(results[2].val[0].eventType, { tag: 'custom', val: 'DEACTIVATED' });
  assert.equal(results[3].tag, 'err');
  assert.match(results[3].val, /eventType "lower" is not an event type/);
  assert.equal(results[4].tag, 'err');
  assert.match(results[4].val, /eventType is a number, not a string/);
  assert.deepEqual(results[5].val[0].eventType, { tag: 'updated' });
});

test('mapRecord may return a list, nothing, or fields of its own', () => {
  const source = `exports.mapRecord = (r) => r.n === 0 ? null : r.n === 1 ? [] :
    [{ payload: '{"raw":true}', objectId: 'a', objectType: 'things', eventDate: 'd' }, { payload: { n: r.n } }];`;
  const { results } = run(source, [record('{"n":0}'), record('{"n":1}'), record('{"n":2}')]);
  assert.deepEqual(results[0], { tag: 'ok', val: [] });
  assert.deepEqual(results[1], { tag: 'ok', val: [] });
  assert.equal(results[2].val.length, 2);
  assert.deepEqual(results[2].val[0], {
    eventType: { tag: 'updated' },
    objectId: 'a',
    objectType: 'things',
    eventDate: 'd',
    payload: '{"raw":true}',
  });
  assert.equal(results[2].val[1].payload, '{"n":2}');
});

test('a malformed event fails its record with what is wrong', () => {
  const source = `exports.mapRecord = (r) => [ 5, {}, { payload: { b: 1n } }, { payload: () => 1 } ][r.i];`;
  const { results } = run(source, [0, 1, 2, 3].map((i) => record(`{"i":${i}}`)));
  assert.match(results[0].val, /returned the returned event as a number, not an event object/);
  assert.match(results[1].val, /has no payload/);
  assert.match(results[2].val, /payload is not JSON-serializable/);
  assert.match(results[3].val, /payload is a function, which JSON cannot hold/);
});

test('a throwing record fails alone, with the script file and line in the reason', () => {
  const source = [
    'exports.mapRecord = (record) => {',
    '  const company = record.company;',
    '  return { payload: { phone: company.phone.trim() } };',
    '};',
  ].join('\n');
  const { results, console } = run(source, [
    record('{"company":{"phone":" 1 "}}', '1'),
    record('{"company":{"phone":null}}', '2'),
    record('{"company":{"phone":"2"}}', '3'),
  ]);
  assert.equal(results[0].val[0].payload, '{"phone":"1"}');
  assert.equal(results[1].tag, 'err');
  assert.match(results[1].val, /^TypeError: .* \(at accounts\.js:3:\d+\)\n {4}at .*accounts\.js:3:\d+/);
  assert.equal(results[2].val[0].payload, '{"phone":"2"}');
  assert.equal(console.lines.error.length, 1);
  assert.match(console.lines.error[0], /^accounts\.js: record 2: TypeError/);
});

test('a thrown non-error is shown as text', () => {
  const { results } = run(`exports.mapRecord = () => { throw 'no'; };`, [record('{}')]);
  assert.deepEqual(results[0], { tag: 'err', val: 'uncaught a string: no' });
});

test('a syntax error fails the load, naming the file', () => {
  const source = 'const a = 1;\nconst b = 2;\nconst c = (a +;\n';
  assert.throws(() => loadScript('accounts.js', source, recorder()), (e) => {
    assert(e instanceof LoadError);
    // SpiderMonkey gives the line and column (see component.test.mjs); V8 does not.
    assert.match(e.message, /^accounts\.js(:3:\d+)?: SyntaxError: /);
    return true;
  });
});

test('an exception at the top level fails the load with file and line', () => {
  const source = '\n\nnull.x;\nexports.mapRecord = () => null;';
  assert.throws(() => loadScript('accounts.js', source, recorder()), (e) => {
    assert.match(e.message, /^accounts\.js: TypeError: .* \(at accounts\.js:3:\d+\)/);
    return true;
  });
});

test('a script without mapRecord does not load', () => {
  assert.throws(() => loadScript('accounts.js', 'exports.map = () => null;', recorder()), /exports no mapRecord function/);
  // module.exports may be replaced, as in CommonJS.
  loadScript('accounts.js', 'module.exports = { mapRecord() { return null; } };', recorder());
});

test('the script has its own scope and console', () => {
  const source = 'console.log("loading", typeof LoadError); exports.mapRecord = () => null;';
  const console = recorder();
  loadScript('accounts.js', source, console);
  assert.deepEqual(console.lines.log, ['loading undefined']);
});

test('describe: the script own, or its file stem', () => {
  const console = recorder();
  const described = loadScript(
    'tickets.js',
    'exports.mapRecord = () => null; exports.describe = () => ({ resource: "incidents", entity: "Tickets", updatedDateField: "lastActivityDate" });',
    console,
  );
  assert.deepEqual(describe(described, console), {
    resource: 'incidents',
    entity: 'Tickets',
    idField: 'id',
    createdDateField: undefined,
    updatedDateField: 'lastActivityDate',
  });
  const plain = loadScript('accounts.js', 'exports.mapRecord = () => null;', console);
  assert.deepEqual(describe(plain, console), {
    resource: 'accounts',
    entity: '',
    idField: 'id',
    createdDateField: undefined,
    updatedDateField: undefined,
  });
});
