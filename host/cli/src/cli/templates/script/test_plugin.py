"""Unit tests of __FILE__: `python3 -m unittest` runs them (nothing to install)."""

import importlib
import unittest
from types import SimpleNamespace

plugin = importlib.import_module("__RESOURCE__")

META = SimpleNamespace(
    object_id="42",
    created="2024-05-01T09:00:00.000Z",
    updated="2024-05-02T10:30:00.000Z",
    default_event_type="UPDATED",
)
CTX = SimpleNamespace(
    instance_id="1", instance_name="test", element_key="autotaskhelpdesk", resource="__RESOURCE__",
    previous_poll="2024-05-02T10:00:00.000Z", this_poll="2024-05-02T10:31:00.000Z", poll=None,
)

# A __ENTITY__ record as Autotask sends it.
RECORD = __SAMPLE__


class MappingTest(unittest.TestCase):
    def test_describe_names_the_resource_the_entity_and_its_fields(self):
        self.assertEqual(plugin.describe(), {
            "resource": "__RESOURCE__", "entity": "__ENTITY__", "id_field": "__ID_FIELD__",
            "created_date_field": "__CREATED__", "updated_date_field": "__UPDATED__",
        })

    def test_maps_the_main_fields_of_a_record(self):
        event = plugin.map_record(RECORD, META, CTX)
        self.assertEqual(event["payload"]["id"], "42")
        self.assertEqual(event["payload"]["updatedDate"], META.updated)
__FIELD_ASSERTIONS__
    def test_copes_with_null_and_missing_fields(self):
        sparse = {"id": 42, "__NULL_FIELD__": None, "userDefinedFields": None}
        meta = SimpleNamespace(**{**vars(META), "created": None})
        event = plugin.map_record(sparse, meta, CTX)
        self.assertIsNone(event["payload"]["createdDate"])
        self.assertIsNone(event["payload"]["__NULL_PAYLOAD_FIELD__"])
        self.assertEqual(event["payload"]["customFields"], {})

    def test_user_defined_fields_become_a_dict_a_value_less_one_none(self):
        fields = [{"name": "Region", "value": "EU"}, {"name": "PO", "value": None}, {"name": "Tag"}]
        event = plugin.map_record({**RECORD, "userDefinedFields": fields}, META, CTX)
        self.assertEqual(event["payload"]["customFields"], {"Region": "EU", "PO": None, "Tag": None})
        with self.assertRaisesRegex(ValueError, "not a list"):
            plugin.map_record({**RECORD, "userDefinedFields": "Region=EU"}, META, CTX)
__EVENT_TYPE_TEST__

if __name__ == "__main__":
    unittest.main()
