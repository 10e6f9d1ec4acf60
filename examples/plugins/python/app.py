"""The incidents plugin in Python: Autotask Tickets -> standardized incidents.

The WIT glue only: componentize-py builds this module into a component of the
`described-plugin` world, whose exports are the classes named after its
interfaces (`Mapper`, `Describe`). The mapping itself is in mapping.py.
"""

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import log
from wit_world.imports.types import Description, Event

import mapping

# What this plugin maps by default: the events' object type and the Autotask entity.
RESOURCE = "incidents"
ENTITY = "Tickets"


class Mapper(exports.Mapper):
    """Maps a batch: one result per record, in order."""

    def transform(self, ctx, records):
        dates = ctx.poll.dates
        consumed = mapping.consumed_fields(ctx.poll.id_field, dates.created_date_field, dates.updated_date_field)
        results = [map_record(ctx, consumed, record) for record in records]
        log.log(log.Level.DEBUG, f"mapped {len(records)} record(s)")
        return results


class Describe(exports.Describe):
    """Says what this plugin maps, so a dropped-in file is self-describing."""

    def describe(self):
        return Description(
            resource=RESOURCE,
            entity=ENTITY,
            id_field="id",
            created_date_field="createDate",
            updated_date_field="lastActivityDate",
        )


def map_record(ctx, consumed, record):
    """The record's single event, or why it cannot be mapped (which fails that record only)."""
    try:
        payload = mapping.incident(record.json, record.object_id, record.created, record.updated, consumed)
    except mapping.MappingError as e:
        return Err(str(e))
    event = Event(
        event_type=record.default_event_type,
        object_id=record.object_id,
        object_type=ctx.resource,
        event_date=mapping.event_date(record.created, record.updated, ctx.this_poll),
        payload=payload,
    )
    return Ok([event])
