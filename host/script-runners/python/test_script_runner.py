"""The Python runner's logic (src/script_runner.py), without a component build:
`python3 -m unittest` in this directory."""

import io
import json
import os
import sys
import unittest
from types import SimpleNamespace

# No __pycache__ in src/: the build packs the whole directory.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "src"))

import script_runner  # noqa: E402


def event(event_type, object_id, object_type, event_date, payload):
    return {
        "event_type": event_type,
        "object_id": object_id,
        "object_type": object_type,
        "event_date": event_date,
        "payload": payload,
    }


# Stand-ins for the WIT types: event types as their names, results as tuples.
GLUE = script_runner.Glue(
    event=event,
    event_types={"CREATED": "created", "UPDATED": "updated", "DELETED": "deleted"},
    custom=lambda name: ("custom", name),
    default_name=lambda event_type: event_type.upper(),
    ok=lambda events: ("ok", events),
    err=lambda reason: ("err", reason),
)


def context():
    dates = SimpleNamespace(
        updated_date_field="lastActivityDate",
        updated_date_format=None,
        updated_date_timezone=None,
        created_date_field="createDate",
        created_date_format=None,
        created_date_timezone=None,
    )
    return SimpleNamespace(
        instance_id="1",
        instance_name="test",
        element_key="autotaskhelpdesk",
        resource="incidents",
        poll=SimpleNamespace(id_field="id", dates=dates, created_check_tolerance_seconds=0),
        previous_poll="2024-01-01T00:00:00.000Z",
        this_poll="2024-01-01T00:01:00.000Z",
    )


def record(json_text, object_id="42", created="2023-12-31T10:00:00.000Z", updated="2024-01-01T00:00:30.407Z",
           default="updated"):
    return SimpleNamespace(json=json_text, object_id=object_id, created=created, updated=updated,
                           default_event_type=default)


def run(source, records, file_name="accounts.py"):
    stderr = io.StringIO()
    script = script_runner.load(file_name, source)
    return script_runner.transform(script, GLUE, context(), records, stderr), stderr.getvalue()


class Transform(unittest.TestCase):
    def test_numbers_round_trip(self):
        text = '{"a":12.5,"b":9007199254740993,"c":0.00125,"d":1,"f":1.5,"g":0.0,"h":[100.0,{"i":100}]}'
        results, _ = run("def map_record(record, meta, ctx):\n    return {'payload': record}\n", [record(text)])
        self.assertEqual(results[0][1][0]["payload"], text)
        self.assertEqual(json.loads(results[0][1][0]["payload"]), json.loads(text))

    def test_event_defaults(self):
        source = "def map_record(record, meta, ctx):\n    return {'payload': {'x': 1}}\n"
        results, _ = run(source, [record("{}"), record("{}", "7", None, None, "created")])
        self.assertEqual(results[0], ("ok", [event("updated", "42", "incidents", "2024-01-01T00:00:30.407Z", '{"x":1}')]))
        self.assertEqual(results[1][1][0]["event_type"], "created")
        self.assertEqual(results[1][1][0]["event_date"], "2024-01-01T00:01:00.000Z")

    def test_meta_and_ctx(self):
        source = (
            "def map_record(record, meta, ctx):\n"
            "    return {'payload': [meta.object_id, meta.created, meta.updated, meta.default_event_type,\n"
            "                        ctx.resource, ctx.poll.id_field, ctx.poll.dates.updated_date_field, ctx.this_poll]}\n"
        )
        results, _ = run(source, [record("{}", "9", updated=None)])
        self.assertEqual(
            json.loads(results[0][1][0]["payload"]),
            ["9", "2023-12-31T10:00:00.000Z", None, "UPDATED", "incidents", "id", "lastActivityDate",
             "2024-01-01T00:01:00.000Z"],
        )

    def test_event_types(self):
        source = "def map_record(record, meta, ctx):\n    return {'event_type': record['t'], 'payload': '{}'}\n"
        kinds = ['"DELETED"', '"CREATED"', '"DEACTIVATED"', '"lower"', "5", "null"]
        results, stderr = run(source, [record(f'{{"t":{t}}}') for t in kinds])
        self.assertEqual(results[0][1][0]["event_type"], "deleted")
        self.assertEqual(results[1][1][0]["event_type"], "created")
        self.assertEqual(results[2][1][0]["event_type"], ("custom", "DEACTIVATED"))
        self.assertEqual(results[3][0], "err")
        self.assertIn("event_type 'lower' is not an event type", results[3][1])
        self.assertIn("event_type is a int, not a str", results[4][1])
        self.assertEqual(results[5][1][0]["event_type"], "updated")
        self.assertEqual(stderr.count("accounts.py: record"), 2)

    def test_lists_nothing_and_own_fields(self):
        source = (
            "def map_record(record, meta, ctx):\n"
            "    n = record['n']\n"
            "    if n == 0:\n"
            "        return None\n"
            "    if n == 1:\n"
            "        return []\n"
            "    return [{'payload': '{\"raw\":true}', 'object_id': 'a', 'object_type': 'things', 'event_date': 'd'},\n"
            "            {'payload': {'n': n, 'é': 'ü'}}]\n"
        )
        results, _ = run(source, [record('{"n":0}'), record('{"n":1}'), record('{"n":2}')])
        self.assertEqual(results[0], ("ok", []))
        self.assertEqual(results[1], ("ok", []))
        self.assertEqual(results[2][1][0], event("updated", "a", "things", "d", '{"raw":true}'))
        self.assertEqual(results[2][1][1]["payload"], '{"n":2,"é":"ü"}')

    def test_malformed_events(self):
        source = "def map_record(record, meta, ctx):\n    return [5, {}, {'payload': {1j}}, {'payload': float('nan')}][record['i']]\n"
        results, _ = run(source, [record(f'{{"i":{i}}}') for i in range(4)])
        self.assertIn("returned the returned event as a int, not an event dict", results[0][1])
        self.assertIn("has no payload", results[1][1])
        self.assertIn("payload is not JSON-serializable", results[2][1])
        self.assertIn("payload is not JSON-serializable", results[3][1])

    def test_a_throwing_record_fails_alone_with_file_and_line(self):
        source = (
            "def map_record(record, meta, ctx):\n"
            "    company = record['company']\n"
            "    return {'payload': {'phone': company['phone'].strip()}}\n"
        )
        results, stderr = run(source, [
            record('{"company":{"phone":" 1 "}}', "1"),
            record('{"company":{"phone":null}}', "2"),
            record('{"company":{"phone":"2"}}', "3"),
        ])
        self.assertEqual(results[0][1][0]["payload"], '{"phone":"1"}')
        self.assertEqual(results[1][0], "err")
        self.assertTrue(
            results[1][1].startswith(
                "AttributeError: 'NoneType' object has no attribute 'strip' "
                '(File "accounts.py", line 3, in map_record)\n'
            ),
            results[1][1],
        )
        self.assertIn("company['phone'].strip()", results[1][1])  # the script's line
        self.assertNotIn("script_runner.py", results[1][1])  # the runner's own frames are left out
        self.assertEqual(results[2][1][0]["payload"], '{"phone":"2"}')
        self.assertTrue(stderr.startswith("accounts.py: record 2: AttributeError"), stderr)


class Load(unittest.TestCase):
    def test_syntax_error_names_file_and_line(self):
        with self.assertRaises(script_runner.LoadError) as caught:
            script_runner.load("accounts.py", "a = 1\nb = 2\nc = (a +\n")
        message = str(caught.exception)
        self.assertTrue(message.startswith('File "accounts.py", line 3'), message)
        self.assertIn("SyntaxError: ", message)

    def test_exception_at_top_level_names_file_and_line(self):
        with self.assertRaises(script_runner.LoadError) as caught:
            script_runner.load("accounts.py", "\n\nNone.x\n")
        self.assertTrue(
            str(caught.exception).startswith(
                "accounts.py: AttributeError: 'NoneType' object has no attribute 'x' "
                '(File "accounts.py", line 3, in <module>)'
            ),
            str(caught.exception),
        )

    def test_missing_map_record(self):
        with self.assertRaisesRegex(script_runner.LoadError, "defines no map_record function"):
            script_runner.load("accounts.py", "def map(record, meta, ctx):\n    return None\n")

    def test_describe(self):
        described = script_runner.load(
            "tickets.py",
            "def map_record(r, m, c):\n    return None\n"
            "def describe():\n    return {'resource': 'incidents', 'entity': 'Tickets', 'updated_date_field': 'x'}\n",
        )
        self.assertEqual(
            script_runner.describe(described),
            {"resource": "incidents", "entity": "Tickets", "id_field": "id", "created_date_field": None,
             "updated_date_field": "x"},
        )
        plain = script_runner.load("accounts.py", "def map_record(r, m, c):\n    return None\n")
        self.assertEqual(script_runner.describe(plain)["resource"], "accounts")
        self.assertEqual(script_runner.describe(plain)["entity"], "")


if __name__ == "__main__":
    unittest.main()
