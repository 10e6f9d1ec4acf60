// Builds a mapping plugin component from a JavaScript file:
//   node build.mjs [mapper.js] [mapper.wasm]
// (package.json names @bytecodealliance/preview2-shim because componentize-js 0.23
// imports it but lists it only as a dev dependency.)
// The world is `described-plugin` of the plugin WIT package in sdk/wit/plugin@0.1.0. No WASI
// features are enabled: the component imports only the host's `log`.
import { componentize } from '@bytecodealliance/componentize-js';
import { writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const source = resolve(process.argv[2] ?? resolve(here, 'mapper.js'));
const out = resolve(process.argv[3] ?? resolve(here, 'mapper.wasm'));
const { component } = await componentize({
  sourcePath: source,
  witPath: resolve(here, '../../../sdk/wit/plugin@0.1.0'),
  worldName: 'described-plugin',
  disableFeatures: ['random', 'stdio', 'clocks', 'http', 'fetch-event'],
});
await writeFile(out, component);
console.log(`${source} -> ${out} (${component.length} bytes)`);
