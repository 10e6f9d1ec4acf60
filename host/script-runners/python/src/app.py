"""The Python script runner as the host sees it: the WIT world `script-runner`
(sdk/wit/plugin@0.2.0/plugin.wit) over the logic in script_runner.py.

The host calls `Script.load` once on a fresh instance, then `Describe.describe`
and `Mapper.transform`. A script's print() goes to stdout and sys.stderr to
stderr, which the host logs (at INFO and WARN).
"""

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import log
from wit_world.imports.types import (
    Description,
    Event,
    EventType_Created,
    EventType_Custom,
    EventType_Deleted,
    EventType_Updated,
)

import script_runner

_DEFAULT_NAMES = {EventType_Created: "CREATED", EventType_Updated: "UPDATED", EventType_Deleted: "DELETED"}

GLUE = script_runner.Glue(
    event=Event,
    event_types={"CREATED": EventType_Created(), "UPDATED": EventType_Updated(), "DELETED": EventType_Deleted()},
    custom=EventType_Custom,
    default_name=lambda event_type: _DEFAULT_NAMES.get(type(event_type), "UPDATED"),
    ok=Ok,
    err=Err,
)

# The script `load` ran; None until it succeeds.
_loaded = None


class Script(exports.Script):
    def load(self, file_name, source):
        global _loaded
        if _loaded is not None:
            raise Err(f"{file_name}: this runner already holds {_loaded.file_name}")
        try:
            _loaded = script_runner.load(file_name, source)
        except script_runner.LoadError as e:
            raise Err(str(e)) from None


class Mapper(exports.Mapper):
    def transform(self, ctx, records):
        if _loaded is None:
            return [Err("no script is loaded (the host calls script.load first)") for _ in records]
        results = script_runner.transform(_loaded, GLUE, ctx, records)
        log.log(log.Level.DEBUG, f"{_loaded.file_name}: mapped {len(records)} record(s)")
        return results


class Describe(exports.Describe):
    def describe(self):
        if _loaded is None:
            return Description(resource="", entity="", id_field="id", created_date_field=None, updated_date_field=None)
        return Description(**script_runner.describe(_loaded))
