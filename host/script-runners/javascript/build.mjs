// Builds the JavaScript script runner: node build.mjs [output.wasm]
//
// World `script-runner` of sdk/wit/plugin@0.2.0 in this repository. Of the
// engine's WASI features only stdio stays, so scripts' console output reaches
// the host's log; random, clocks, http and fetch-event are disabled.
import { componentize } from '@bytecodealliance/componentize-js';
import { writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? resolve(here, '../javascript.wasm'));
const wit = resolve(here, '../../../sdk/wit/plugin@0.2.0');

// componentize-js maps the working directory into the engine to load the
// sources: from here, src/runner.js and its imports resolve alike wherever the
// build is started from.
process.chdir(here);
const { component } = await componentize({
  sourcePath: 'src/runner.js',
  witPath: wit,
  worldName: 'script-runner',
  disableFeatures: ['random', 'clocks', 'http', 'fetch-event'],
});
await writeFile(out, component);
console.log(`${out} (${component.length} bytes)`);
