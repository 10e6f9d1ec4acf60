"""__FILE__: maps Autotask __ENTITY__ to `__RESOURCE__` events. A script plugin:
copy this file into the service's plugin directory and it is live at the next batch.

map_record(record, meta, ctx) gets one record as Autotask sent it (a dict), what the
host already read from it (meta.object_id, meta.created, meta.updated,
meta.default_event_type) and the poll (ctx.instance_id, ctx.instance_name,
ctx.element_key, ctx.resource, ctx.previous_poll, ctx.this_poll, ctx.poll). It
returns an event dict, a list of them, or None for none. Every event key but
"payload" may be left out: event_type defaults to meta.default_event_type (CREATED
or UPDATED), object_id to meta.object_id, object_type to ctx.resource and
event_date to meta.updated. An exception fails only this record.
"""

# Autotask __ENTITY__ field -> payload field. Missing and null fields become None (null).
FIELDS = {
__FIELDS__}


def describe():
    """What this plugin maps by default: the service reads the id and dates with it."""
    return {
        "resource": "__RESOURCE__",
        "entity": "__ENTITY__",
        "id_field": "__ID_FIELD__",
        "created_date_field": "__CREATED__",
        "updated_date_field": "__UPDATED__",
    }


def map_record(record, meta, ctx):
    payload = {
        "id": meta.object_id,
        "createdDate": meta.created,
        "updatedDate": meta.updated,
    }
    for source, target in FIELDS.items():
        payload[target] = record.get(source)
    payload["customFields"] = custom_fields(record.get("userDefinedFields"))
    event = {"payload": payload}
__EVENT_TYPE__    return event


def custom_fields(fields):
    """Autotask's [{name, value}] list as a dict; a missing or null list is {}."""
    if fields is None:
        return {}
    if not isinstance(fields, list):
        raise ValueError("userDefinedFields is not a list of {name, value}")
    return {field["name"]: field.get("value") for field in fields if isinstance(field, dict) and isinstance(field.get("name"), str)}
