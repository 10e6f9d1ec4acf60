"""Autotask Ticket -> standardized incident object, as JSON text.

The host already extracted the id and the dates with the resource's
configuration; this module renames the known Ticket fields, gathers the
user-defined fields, and keeps every other field under `extra`. It knows
nothing of components (app.py is the WIT glue), so plain `python3 -m unittest`
tests it.
"""

import json

# Autotask Ticket field -> standardized incident field, copied through as is.
FIELD_NAMES = {
    "ticketNumber": "ticketNumber",
    "title": "title",
    "description": "description",
    "status": "status",
    "priority": "priority",
    "issueType": "issueType",
    "subIssueType": "subIssueType",
    "ticketType": "ticketType",
    "source": "source",
    "queueID": "queueId",
    "companyID": "companyId",
    "contactID": "contactId",
    "assignedResourceID": "assignedResourceId",
    "dueDateTime": "dueDate",
    "completedDate": "completedDate",
    "resolvedDateTime": "resolvedDate",
}

# Autotask's list of `{name, value}` pairs, mapped to the `customFields` object.
USER_DEFINED_FIELDS = "userDefinedFields"


class MappingError(ValueError):
    """Why one record cannot be mapped: it fails that record only."""


def consumed_fields(id_field, created_field, updated_field):
    """The fields the host read for us, written once in normalized form and never copied."""
    return frozenset(name for name in (id_field, created_field, updated_field) if name is not None)


def event_date(created, updated, this_poll):
    """The event's date: the record's updated date, else its created date, else the poll time."""
    if updated is not None:
        return updated
    if created is not None:
        return created
    return this_poll


def incident(text, object_id, created, updated, consumed):
    """The standardized object for the record `text`, as JSON text.

    Raises MappingError when the record is not a JSON object or its
    user-defined fields are not a list of `{name, value}`.
    """
    out = {"id": object_id, "createdDate": created, "updatedDate": updated}
    extra = {}
    for name, value in _fields(text):
        if name in consumed:
            continue
        if name == USER_DEFINED_FIELDS:
            out["customFields"] = custom_fields(value)
        elif name in FIELD_NAMES:
            out[FIELD_NAMES[name]] = value
        else:
            extra[name] = value
    out["extra"] = extra
    payload = json.dumps(out, ensure_ascii=False, separators=(",", ":"))
    # A lone surrogate (only a `\u` escape can bring one in) has no UTF-8 form,
    # so the host could not receive it as text: keep it escaped, as it came.
    if "\\u" in text and not _is_utf8(payload):
        payload = json.dumps(out, separators=(",", ":"))
    return payload


def custom_fields(value):
    """`[{"name": "Region", "value": "EU"}]` -> `{"Region": "EU"}`; `None` -> `{}`."""
    if value is None:
        return {}
    if not isinstance(value, list):
        raise MappingError(f"{USER_DEFINED_FIELDS} is not a list of {{name, value}}: it is {_kind(value)}")
    fields = {}
    for index, pair in enumerate(value):
        if not isinstance(pair, dict) or not isinstance(pair.get("name"), str):
            raise MappingError(
                f"{USER_DEFINED_FIELDS} is not a list of {{name, value}}: item {index} has no string `name`"
            )
        fields[pair["name"]] = pair.get("value")
    return fields


def _fields(text):
    """The record's top-level `(name, value)` pairs in order, repeated names included.

    The pairs hook runs for every object as it closes; the record itself closes
    last, so the last pairs seen are its own. Nested objects become dicts.
    """
    last = [None]

    def keep(pairs):
        last[0] = pairs
        return dict(pairs)

    try:
        record = json.loads(text, object_pairs_hook=keep, parse_constant=_no_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as e:
        raise MappingError(f"the record is not a JSON object: {e}") from None
    if not isinstance(record, dict):
        raise MappingError(f"the record is not a JSON object: it is {_kind(record)}")
    return last[0]


def _no_constant(name):
    # JSON has no NaN or Infinity; Python's parser accepts them unless told not to.
    raise ValueError(f"{name} is not JSON")


def _finite_float(text):
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise ValueError(f"number out of range: {text}")
    return number


def _is_utf8(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _kind(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
