// The built runner (../javascript.wasm) on its real engine, SpiderMonkey:
// transpiled with jco (installed with the build tools) and run in Node.js.
// Skipped when the component or the build tools are missing.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const wasm = resolve(here, '../../javascript.wasm');
const jco = resolve(here, '../node_modules/.bin/jco');
const skip = !existsSync(wasm) || !existsSync(jco) ? 'needs ../javascript.wasm and the build tools (./build)' : false;

let work;
/** A fresh runner instance with `source` loaded as `fileName`: its exports and the log lines. */
let instantiate;

before(async () => {
  if (skip) return;
  // Inside node_modules, so the transpiled module finds preview2-shim.
  work = mkdtempSync(join(here, '../node_modules/.component-test-'));
  writeFileSync(join(work, 'package.json'), '{"type":"module"}');
  writeFileSync(join(work, 'log.js'), 'export const lines = []; export function log(level, message) { lines.push(`${level}: ${message}`); }');
  execFileSync(jco, ['transpile', wasm, '-o', join(work, 'out'), '--map', 'autotask-events:plugin/log@0.2.0=../log.js', '--quiet']);
  let generation = 0;
  instantiate = async (fileName, source) => {
    // Each import of a fresh copy of the module is a fresh instance.
    const runner = await import(`${pathToFileURL(join(work, 'out', 'javascript.js'))}?${generation++}`);
    let loaded;
    try {
      runner.script.load(fileName, source);
      loaded = { ok: true };
    } catch (e) {
      loaded = { ok: false, message: e.payload ?? e.message };
    }
    return { ...runner, loaded };
  };
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const ctx = {
  instanceId: '1',
  instanceName: 'test',
  elementKey: 'autotaskhelpdesk',
  resource: 'incidents',
  previousPoll: '2024-01-01T00:00:00.000Z',
  thisPoll: '2024-01-01T00:01:00.000Z',
  poll: { idField: 'id', createdCheckToleranceSeconds: 0, dates: { updatedDateField: 'lastActivityDate' } },
};
const record = (json, objectId = '1') => ({ json, objectId, updated: '2024-01-01T00:00:30.407Z', defaultEventType: { tag: 'updated' } });

test('SpiderMonkey keeps every number text, and sourceURL names the file in stacks', { skip }, async () => {
  const source = [
    'exports.mapRecord = (record) => {',
    '  if (record.company) return { payload: { phone: record.company.phone.trim() } };',
    '  return { eventType: record.t, payload: record };',
    '};',
  ].join('\n');
  const runner = await instantiate('accounts.js', source);
  assert.deepEqual(runner.loaded, { ok: true });
  const text = '{"a":12.50,"b":9007199254740993,"c":1.25e-3,"d":1,"e":-0,"f":0.0}';
  const results = runner.mapper.transform(ctx, [record(text), record('{"company":{"phone":null}}', '2'), record('{"t":"DEACTIVATED"}')]);
  assert.equal(results[0].val[0].payload, text);
  assert.equal(results[1].tag, 'err');
  assert.match(results[1].val, /^TypeError: can't access property "trim", record\.company\.phone is null \(at accounts\.js:2:\d+\)\n {4}at exports\.mapRecord \(accounts\.js:2:\d+\)$/);
  assert.deepEqual(results[2].val[0].eventType, { tag: 'custom', val: 'DEACTIVATED' });
  assert.deepEqual(runner.describe.describe(), { resource: 'accounts', entity: '', idField: 'id', createdDateField: undefined, updatedDateField: undefined });
});

test('a syntax error names file, line and column', { skip }, async () => {
  const runner = await instantiate('accounts.js', 'const a = 1;\nconst b = 2;\nconst c = (a +;\n');
  assert.deepEqual(runner.loaded, { ok: false, message: "accounts.js:3:15: SyntaxError: expected expression, got ';'" });
  const first = await instantiate('accounts.js', 'let x = ;');
  assert.equal(first.loaded.message, "accounts.js:1:9: SyntaxError: expected expression, got ';'");
});

test('a script without mapRecord does not load', { skip }, async () => {
  const runner = await instantiate('accounts.js', 'exports.x = 1;');
  assert.match(runner.loaded.message, /^accounts\.js: the script exports no mapRecord function/);
});
