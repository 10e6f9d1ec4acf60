// A mapping plugin in JavaScript: each Ticket becomes one event whose payload
// holds a few of its fields. Built into a component by build.mjs.
//
// How WIT values look here (componentize-js): interfaces are exported objects
// named after them; record fields are camelCase; enums are their case names
// ('created'); option<T> is T or undefined; a result in a list is
// {tag: 'ok', val} or {tag: 'err', val}.
import { log } from 'autotask-events:plugin/log@0.1.0';

const MAPPING = 'v1';

function mapRecord(ctx, record) {
  const ticket = JSON.parse(record.json);
  return [{
    eventType: record.defaultEventType,
    objectId: record.objectId,
    objectType: ctx.resource,
    eventDate: record.updated ?? record.created ?? ctx.thisPoll,
    payload: JSON.stringify({ id: record.objectId, title: ticket.title, status: ticket.status, mapping: MAPPING }),
  }];
}

export const mapper = {
  transform(ctx, records) {
    log('debug', `mapping ${records.length} ${ctx.resource} record(s) with mapping ${MAPPING}`);
    return records.map((record) => {
      try {
        return { tag: 'ok', val: mapRecord(ctx, record) };
      } catch (e) {
        return { tag: 'err', val: `record ${record.objectId}: ${e}` };
      }
    });
  },
};

export const describe = {
  describe() {
    return {
      resource: 'incidents',
      entity: 'Tickets',
      idField: 'id',
      createdDateField: 'createDate',
      updatedDateField: 'lastActivityDate',
    };
  },
};
