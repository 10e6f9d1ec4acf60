// The incidents plugin as the host sees it: adapts the pure mapping in
// mapping.js to the WIT world `described-plugin` (sdk/wit/plugin@0.1.0/plugin.wit).
//
// How componentize-js presents that world: each exported interface is an
// exported object named after it (`mapper`, `describe`); an imported function
// is an ES module import from 'package/interface@version'; enums are their case
// names as strings ('debug', 'updated'); and a `result` in a list is
// {tag: 'ok', val} or {tag: 'err', val}.

import { log } from 'autotask-events:plugin/log@0.1.0';
import { MappingError, mapRecord } from './mapping.js';

/** The resource this plugin maps by default: it names the events' object type. */
const RESOURCE = 'incidents';
/** The Autotask entity whose records it expects. */
const ENTITY = 'Tickets';

export const mapper = {
  /** Maps a batch: exactly one result per record, in order. */
  transform(ctx, records) {
    log('debug', `mapped ${records.length} record(s)`);
    return records.map((record) => {
      try {
        return { tag: 'ok', val: mapRecord(ctx, record) };
      } catch (e) {
        // A record the mapping cannot read fails alone. Anything else is a bug
        // in the plugin: let it fail the batch, as a panic does in Rust.
        if (e instanceof MappingError) {
          return { tag: 'err', val: e.message };
        }
        throw e;
      }
    });
  },
};

export const describe = {
  /** What this plugin maps by default, so a dropped-in file is self-describing. */
  describe() {
    return {
      resource: RESOURCE,
      entity: ENTITY,
      idField: 'id',
      createdDateField: 'createDate',
      updatedDateField: 'lastActivityDate',
    };
  },
};
