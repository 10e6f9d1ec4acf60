// The runner's logic (src/core.js), run natively by Node.js without a
// component build: `node --test host/script-runners/javascript/test/*.test.mjs`.
// component.test.mjs runs the same contract on the built component.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

if (typeof JSON.rawJSON !== 'function') {
  // Node.js 20's V8 has JSON.rawJSON and the reviver's source behind a flag
  // (on by default from Node.js 22): run this file again with it.
  const run = spawnSync(
    process.execPath,
    ['--harmony-json-parse-with-source', '--test', '--test-reporter=spec', fileURLToPath(import.meta.url)],
    { encoding: 'utf8' },
  );
  test('the runner logic, under --harmony-json-parse-with-source', () => {
    assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  });
} else {
  await import('./cases.mjs');
}
