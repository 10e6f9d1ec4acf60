"""The Python runner's logic: loads a script plugin and maps batches with it.

Nothing here imports the WIT bindings, so plain `python3 -m unittest` tests it
(test_script_runner.py); app.py is the glue, which hands in the WIT types.
The script contract is in ../README.md.
"""

import json
import linecache
import re
import sys
import traceback
from types import SimpleNamespace

# Names a custom event type may have (see event-type in plugin.wit).
CUSTOM_EVENT_TYPE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
STANDARD_EVENT_TYPES = ("CREATED", "UPDATED", "DELETED")


class LoadError(Exception):
    """Why a script could not load, with its file and line."""


class EventError(Exception):
    """Why what map_record returned is no event."""


class Script:
    """A loaded script plugin: its file name and the namespace its top level filled."""

    def __init__(self, file_name, namespace):
        self.file_name = file_name
        self.namespace = namespace
        self.map_record = namespace["map_record"]
        self.describe = namespace.get("describe")


def load(file_name, source):
    """Runs `source` as the module `file_name`; raises LoadError naming file and line."""
    # Tracebacks show the script's lines, as they would for a file on disk.
    linecache.cache[file_name] = (len(source), None, source.splitlines(True), file_name)
    try:
        code = compile(source, file_name, "exec")
    except (SyntaxError, ValueError) as e:
        raise LoadError("".join(traceback.format_exception_only(type(e), e)).strip()) from None
    stem = file_name.rsplit(".", 1)[0]
    namespace = {"__name__": stem, "__file__": file_name, "__builtins__": __builtins__}
    try:
        exec(code, namespace)
    except BaseException as e:  # noqa: BLE001 - whatever the script raises fails the load, not the runner
        raise LoadError(f"{file_name}: {reason(file_name, e)}") from None
    if not callable(namespace.get("map_record")):
        raise LoadError(f"{file_name}: the script defines no map_record function (def map_record(record, meta, ctx): ...)")
    if "describe" in namespace and not callable(namespace["describe"]):
        raise LoadError(f"{file_name}: describe is {type(namespace['describe']).__name__}, not a function")
    return Script(file_name, namespace)


def reason(file_name, e):
    """`AttributeError: ... (File "accounts.py", line 12, in map_record)`, then the script's frames."""
    head = "".join(traceback.format_exception_only(type(e), e)).strip()
    frames = [frame for frame in traceback.extract_tb(e.__traceback__) if frame.filename == file_name]
    if not frames:
        return head
    last = frames[-1]
    where = f'File "{last.filename}", line {last.lineno}, in {last.name}'
    return f"{head} ({where})\nTraceback (the script's frames, most recent call last):\n" + "".join(
        traceback.format_list(frames)
    ).rstrip("\n")


def script_context(ctx):
    """The context as scripts see it: attributes with the WIT's names, None for what is absent."""
    poll = ctx.poll
    dates = poll.dates
    return SimpleNamespace(
        instance_id=ctx.instance_id,
        instance_name=ctx.instance_name,
        element_key=ctx.element_key,
        resource=ctx.resource,
        previous_poll=ctx.previous_poll,
        this_poll=ctx.this_poll,
        poll=SimpleNamespace(
            id_field=poll.id_field,
            created_check_tolerance_seconds=poll.created_check_tolerance_seconds,
            dates=SimpleNamespace(
                updated_date_field=dates.updated_date_field,
                updated_date_format=dates.updated_date_format,
                updated_date_timezone=dates.updated_date_timezone,
                created_date_field=dates.created_date_field,
                created_date_format=dates.created_date_format,
                created_date_timezone=dates.created_date_timezone,
            ),
        ),
    )


class Glue:
    """How results are made: the WIT types in the component, stand-ins in tests.

    `event(event_type, object_id, object_type, event_date, payload)` makes an
    event; `event_types` maps CREATED/UPDATED/DELETED to their WIT values and
    `custom(name)` makes a custom one; `default_name(event_type)` names a
    record's default event type; `ok(events)` and `err(reason)` make results.
    """

    def __init__(self, event, event_types, custom, default_name, ok, err):
        self.event = event
        self.event_types = event_types
        self.custom = custom
        self.default_name = default_name
        self.ok = ok
        self.err = err


def transform(script, glue, ctx, records, stderr=None):
    """Maps a batch with `script`: one result per record, in order.

    A record whose mapping raises, or returns something that is no event,
    fails alone; its reason also goes to stderr, which the host logs.
    """
    stderr = stderr if stderr is not None else sys.stderr
    map_record = script.map_record
    file_name = script.file_name
    context = script_context(ctx)
    this_poll = ctx.this_poll
    loads = json.loads
    results = []
    append = results.append
    for raw in records:
        created = raw.created
        updated = raw.updated
        meta = SimpleNamespace(
            object_id=raw.object_id,
            created=created,
            updated=updated,
            default_event_type=glue.default_name(raw.default_event_type),
        )
        try:
            returned = map_record(loads(raw.json), meta, context)
        except BaseException as e:  # noqa: BLE001 - a script's exception fails its record only
            why = reason(file_name, e)
            print(f"{file_name}: record {raw.object_id}: {why}", file=stderr)
            append(glue.err(why))
            continue
        date = updated if updated is not None else created if created is not None else this_poll
        try:
            append(glue.ok(_events(glue, returned, meta, context, date)))
        except EventError as e:
            print(f"{file_name}: record {raw.object_id}: {e}", file=stderr)
            append(glue.err(str(e)))
    return results


def _events(glue, returned, meta, context, date):
    if returned is None:
        return []
    if isinstance(returned, (list, tuple)):
        return [_event(glue, item, f"returned event {i}", meta, context, date) for i, item in enumerate(returned)]
    return [_event(glue, returned, "the returned event", meta, context, date)]


def _event(glue, e, which, meta, context, date):
    if not isinstance(e, dict):
        raise EventError(f"map_record returned {which} as {_kind(e)}, not an event dict")
    get = e.get
    return glue.event(
        _event_type(glue, get("event_type"), meta.default_event_type, which),
        _text(get("object_id"), meta.object_id, which, "object_id"),
        _text(get("object_type"), context.resource, which, "object_type"),
        _text(get("event_date"), date, which, "event_date"),
        _payload(e, which),
    )


def _event_type(glue, name, default, which):
    if name is None:
        name = default
    elif not isinstance(name, str):
        raise EventError(f"{which}'s event_type is {_kind(name)}, not a str")
    standard = glue.event_types.get(name)
    if standard is not None:
        return standard
    if CUSTOM_EVENT_TYPE.fullmatch(name) is None:
        raise EventError(
            f"{which}'s event_type {name!r} is not an event type: CREATED, UPDATED, DELETED or a name of "
            "upper-case letters, digits and _ (at most 64, starting with a letter)"
        )
    return glue.custom(name)


def _text(value, default, which, field):
    if value is None:
        return default
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise EventError(f"{which}'s {field} is {_kind(value)}, not a str")


def _payload(e, which):
    if "payload" not in e:
        raise EventError(f"{which} has no payload")
    value = e["payload"]
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError, RecursionError) as error:
            raise EventError(f"{which}'s payload is not JSON-serializable: {error}") from None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (a `\ud800` escape in the record) has no UTF-8 form.
        if isinstance(value, str):
            raise EventError(f"{which}'s payload has a lone surrogate, which is no text") from None
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text


def describe(script, stderr=None):
    """The script's description as a dict, or its file stem as the resource and no entity."""
    stem = script.file_name.rsplit(".", 1)[0]
    fallback = {
        "resource": stem,
        "entity": "",
        "id_field": "id",
        "created_date_field": None,
        "updated_date_field": None,
    }
    if script.describe is None:
        return fallback
    try:
        d = script.describe()
        if not isinstance(d, dict):
            raise EventError(f"describe returned {_kind(d)}, not a dict")
        out = {}
        for field, default in fallback.items():
            value = d.get(field)
            if value is None:
                value = default
            elif not isinstance(value, str):
                raise EventError(f"describe returned a {field} that is {_kind(value)}, not a str")
            out[field] = value
        return out
    except BaseException as e:  # noqa: BLE001 - a broken describe leaves the script undescribed
        why = str(e) if isinstance(e, EventError) else reason(script.file_name, e)
        print(f"{script.file_name}: describe failed, so the script is not described: {why}", file=stderr or sys.stderr)
        return fallback


def _kind(value):
    if value is None:
        return "None"
    return f"a {type(value).__name__}"
