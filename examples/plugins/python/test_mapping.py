"""Tests of mapping.py with plain Python (no component): `python3 -m unittest`."""

import json
import unittest

import mapping

CONSUMED = mapping.consumed_fields("id", "createDate", "lastActivityDate")


def incident(record, consumed=CONSUMED):
    text = record if isinstance(record, str) else json.dumps(record)
    payload = mapping.incident(text, "42", "2023-12-31T10:00:00.000Z", "2024-01-01T00:00:30.407Z", consumed)
    return json.loads(payload)


class IncidentTest(unittest.TestCase):
    def test_renames_known_fields_and_keeps_the_rest_under_extra(self):
        payload = incident({
            "id": 42, "ticketNumber": "T20240101.0001", "title": "Printer on fire",
            "queueID": 8, "companyID": 0, "assignedResourceID": None,
            "createDate": "2023-12-31T10:00:00Z", "lastActivityDate": "2024-01-01T00:00:30.407Z",
            "dueDateTime": "2024-01-03T00:00:00Z", "serviceLevelAgreementID": 3,
        })
        self.assertEqual(list(payload.items()), [
            ("id", "42"), ("createdDate", "2023-12-31T10:00:00.000Z"),
            ("updatedDate", "2024-01-01T00:00:30.407Z"),
            ("ticketNumber", "T20240101.0001"), ("title", "Printer on fire"),
            ("queueId", 8), ("companyId", 0), ("assignedResourceId", None),
            ("dueDate", "2024-01-03T00:00:00Z"),
            ("extra", {"serviceLevelAgreementID": 3}),
        ])

    def test_user_defined_fields_become_an_object(self):
        payload = incident({"id": 42, "userDefinedFields": [
            {"name": "Région", "value": 'EU "west"'}, {"name": "Empty", "value": None}, {"name": "NoValue"},
        ]})
        self.assertEqual(payload["customFields"], {"Région": 'EU "west"', "Empty": None, "NoValue": None})
        self.assertEqual(incident({"id": 42, "userDefinedFields": None})["customFields"], {})

    def test_a_malformed_record_is_an_error(self):
        for record, prefix in [
            ("[1,2]", "the record is not a JSON object"),
            ("{", "the record is not a JSON object"),
            ('{"v": NaN}', "the record is not a JSON object"),
            ({"id": 1, "userDefinedFields": "Region=EU"}, "userDefinedFields is not a list of {name, value}"),
            ({"id": 1, "userDefinedFields": [{"value": 1}]}, "userDefinedFields is not a list of {name, value}"),
        ]:
            with self.subTest(record=record), self.assertRaises(mapping.MappingError) as caught:
                incident(record)
            self.assertTrue(str(caught.exception).startswith(prefix), caught.exception)

    def test_follows_the_configured_id_field(self):
        payload = incident({"id": 7, "companyNumber": "C-9", "companyName": "Contoso"},
                           mapping.consumed_fields("companyNumber", None, None))
        self.assertEqual(payload["extra"], {"id": 7, "companyName": "Contoso"})

    def test_copies_values_and_names_exactly(self):
        text = '{"id":1,"we\\"ird\\nname":1,"big":9007199254740993,"s":"🚀 \\u65e5\\\\","lone":"\\ud800"}'
        payload = mapping.incident(text, "1", None, None, CONSUMED)
        self.assertIn('"big":9007199254740993', payload)
        self.assertEqual(json.loads(payload)["extra"],
                         {'we"ird\nname': 1, "big": 9007199254740993, "s": "🚀 日\\", "lone": "\ud800"})
        self.assertTrue(payload.isascii(), "a lone surrogate keeps the payload escaped")

    def test_a_repeated_field_keeps_its_first_place_and_last_value(self):
        payload = incident('{"title":"a","x":1,"title":"b"}')
        self.assertEqual(list(payload)[3:], ["title", "extra"])
        self.assertEqual(payload["title"], "b")


class EventDateTest(unittest.TestCase):
    def test_prefers_updated_then_created_then_the_poll(self):
        self.assertEqual(mapping.event_date("c", "u", "p"), "u")
        self.assertEqual(mapping.event_date("c", None, "p"), "c")
        self.assertEqual(mapping.event_date(None, None, "p"), "p")


if __name__ == "__main__":
    unittest.main()
