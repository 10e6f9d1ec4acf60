// The JavaScript script runner as the host sees it: the WIT world
// `script-runner` (sdk/wit/plugin@0.2.0/plugin.wit) over the logic in core.js.
// The host calls `script.load` once on a fresh instance, then `describe` and
// `transform`. Scripts get the engine's console: console.log writes to stdout
// and console.error to stderr, which the host logs (at INFO and WARN).

import { log } from 'autotask-events:plugin/log@0.2.0';
import { LoadError, describe as describeScript, loadScript, transform } from './core.js';

/** The script `load` evaluated; undefined until it succeeds. */
let loaded;

export const script = {
  load(fileName, source) {
    if (loaded !== undefined) {
      return { tag: 'err', val: `${fileName}: this runner already holds ${loaded.fileName}` };
    }
    try {
      loaded = loadScript(fileName, source, globalThis.console);
    } catch (e) {
      if (e instanceof LoadError) {
        return { tag: 'err', val: e.message };
      }
      throw e;
    }
    return { tag: 'ok', val: undefined };
  },
};

export const mapper = {
  transform(ctx, records) {
    if (loaded === undefined) {
      return records.map(() => ({ tag: 'err', val: 'no script is loaded (the host calls script.load first)' }));
    }
    const results = transform(loaded, ctx, records, globalThis.console);
    log('debug', `${loaded.fileName}: mapped ${records.length} record(s)`);
    return results;
  },
};

export const describe = {
  describe() {
    if (loaded === undefined) {
      return { resource: '', entity: '', idField: 'id', createdDateField: undefined, updatedDateField: undefined };
    }
    return describeScript(loaded, globalThis.console);
  },
};
