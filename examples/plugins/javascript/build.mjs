// Builds the plugin component: node build.mjs [output.wasm]
//
// The world is `described-plugin` of the WIT package in $PLUGIN_WIT_DIR, else
// in wit/ here (a project made by `autotask-events plugin new`), else in
// sdk/wit/plugin@0.1.0 of the repository this example sits in. Every WASI feature of the engine is
// disabled, so the component imports only the host's `log`.
import { componentize } from '@bytecodealliance/componentize-js';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? resolve(here, 'incidents.wasm'));
const wit = process.env.PLUGIN_WIT_DIR
  ? resolve(process.env.PLUGIN_WIT_DIR)
  : [resolve(here, 'wit'), resolve(here, '../../../sdk/wit/plugin@0.1.0')].find((dir) => existsSync(resolve(dir, 'plugin.wit')));
if (wit === undefined || !existsSync(resolve(wit, 'plugin.wit'))) {
  console.error(`build: no plugin.wit in ${wit ?? `${here}/wit`}: set PLUGIN_WIT_DIR to the directory holding plugin.wit (sdk/wit/plugin@0.1.0 in autotask-events)`);
  process.exit(1);
}

// componentize-js loads the sources through a directory it maps into the
// engine (the working directory, when it holds them): working from here,
// src/plugin.js and its relative imports resolve alike wherever the build is
// started from.
process.chdir(here);
const { component } = await componentize({
  sourcePath: 'src/plugin.js',
  witPath: wit,
  worldName: 'described-plugin',
  disableFeatures: ['random', 'stdio', 'clocks', 'http', 'fetch-event'],
});
await writeFile(out, component);
console.log(`${out} (${component.length} bytes)`);
