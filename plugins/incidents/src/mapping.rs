//! Autotask Ticket → standardized incident object.
//!
//! The host already extracted the id and the dates with the resource's
//! configuration; this module renames the known Ticket fields, gathers the
//! user-defined fields, and keeps every other field under `extra`. It reads each
//! record once and copies values through as raw JSON, never building a tree.

use std::borrow::Cow;
use std::fmt;

use autotask_events_sdk::{Context, Description, Event, RawRecord};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// Autotask Ticket field → standardized incident field, copied through as is.
pub const FIELD_NAMES: &[(&str, &str)] = &[
    ("ticketNumber", "ticketNumber"),
    ("title", "title"),
    ("description", "description"),
    ("status", "status"),
    ("priority", "priority"),
    ("issueType", "issueType"),
    ("subIssueType", "subIssueType"),
    ("ticketType", "ticketType"),
    ("source", "source"),
    ("queueID", "queueId"),
    ("companyID", "companyId"),
    ("contactID", "contactId"),
    ("assignedResourceID", "assignedResourceId"),
    ("dueDateTime", "dueDate"),
    ("completedDate", "completedDate"),
    ("resolvedDateTime", "resolvedDate"),
];

/// Autotask's list of `{name, value}` pairs, mapped to the `customFields` object.
pub const USER_DEFINED_FIELDS: &str = "userDefinedFields";

/// What this plugin maps by default.
pub fn describe() -> Description {
    Description::new("incidents", "Tickets")
}

/// Maps one record to its single event, or says why it cannot.
pub fn map_record(ctx: &Context, record: &RawRecord) -> Result<Vec<Event>, String> {
    let payload = incident(ctx, record)?;
    Ok(vec![Event::from_record(ctx, record, payload)])
}

/// Maps a batch: one result per record.
pub fn transform(ctx: &Context, records: &[RawRecord]) -> Vec<Result<Vec<Event>, String>> {
    records.iter().map(|record| map_record(ctx, record)).collect()
}

/// The standardized object for `record`, as JSON text.
fn incident(ctx: &Context, record: &RawRecord) -> Result<String, String> {
    let fields: Fields =
        serde_json::from_str(&record.json).map_err(|e| format!("the record is not a JSON object: {e}"))?;

    // The fields the host read for us are written once, in normalized form.
    let dates = &ctx.poll.dates;
    let consumed =
        [Some(ctx.poll.id_field.as_str()), dates.created_date_field.as_deref(), dates.updated_date_field.as_deref()];

    let mut out = JsonObject::with_capacity(record.json.len() + 96);
    out.string("id", &record.object_id);
    out.optional_string("createdDate", record.created.as_deref());
    out.optional_string("updatedDate", record.updated.as_deref());

    let mut extra = JsonObject::with_capacity(0);
    for (name, value) in &fields.0 {
        let name = name.as_ref();
        if consumed.contains(&Some(name)) {
            continue;
        }
        if name == USER_DEFINED_FIELDS {
            out.raw("customFields", &custom_fields(value)?);
        } else if let Some(standard) = standard_name(name) {
            out.raw(standard, value.get());
        } else {
            extra.raw(name, value.get());
        }
    }
    out.raw("extra", &extra.finish());
    Ok(out.finish())
}

fn standard_name(autotask: &str) -> Option<&'static str> {
    FIELD_NAMES.iter().find(|(from, _)| *from == autotask).map(|(_, to)| *to)
}

/// `[{"name": "Region", "value": "EU"}]` → `{"Region": "EU"}`; `null` → `{}`.
fn custom_fields(value: &RawValue) -> Result<String, String> {
    #[derive(serde::Deserialize)]
    struct Pair<'a> {
        #[serde(borrow)]
        name: Cow<'a, str>,
        #[serde(borrow, default)]
        value: Option<&'a RawValue>,
    }
    let pairs: Option<Vec<Pair>> = serde_json::from_str(value.get())
        .map_err(|e| format!("{USER_DEFINED_FIELDS} is not a list of {{name, value}}: {e}"))?;
    let mut object = JsonObject::with_capacity(value.get().len());
    for pair in pairs.unwrap_or_default() {
        object.raw(&pair.name, pair.value.map_or("null", RawValue::get));
    }
    Ok(object.finish())
}

/// A record's top-level fields in order, values kept as raw JSON text.
struct Fields<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(32));
                while let Some(Key(name)) = map.next_key()? {
                    fields.push((name, map.next_value()?));
                }
                Ok(Fields(fields))
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

/// An object key, borrowed from the input unless it had escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Writes a JSON object field by field; values arrive as JSON text.
struct JsonObject {
    text: String,
}

impl JsonObject {
    fn with_capacity(capacity: usize) -> Self {
        let mut text = String::with_capacity(capacity.max(2));
        text.push('{');
        JsonObject { text }
    }

    fn key(&mut self, name: &str) {
        if self.text.len() > 1 {
            self.text.push(',');
        }
        push_json_string(&mut self.text, name);
        self.text.push(':');
    }

    fn raw(&mut self, name: &str, json: &str) {
        self.key(name);
        self.text.push_str(json);
    }

    fn string(&mut self, name: &str, value: &str) {
        self.key(name);
        push_json_string(&mut self.text, value);
    }

    fn optional_string(&mut self, name: &str, value: Option<&str>) {
        match value {
            Some(value) => self.string(name, value),
            None => self.raw(name, "null"),
        }
    }

    fn finish(mut self) -> String {
        self.text.push('}');
        self.text
    }
}

fn push_json_string(out: &mut String, s: &str) {
    let plain = s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\');
    if plain {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(s).expect("a string always serializes"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autotask_events_sdk::{DatesConfiguration, EventType, PollConfiguration};
    use serde_json::{Value, json};

    fn context(resource: &str, id_field: &str) -> Context {
        Context {
            instance_id: "1".into(),
            instance_name: "test".into(),
            element_key: "autotaskhelpdesk".into(),
            resource: resource.into(),
            poll: PollConfiguration {
                id_field: id_field.into(),
                dates: DatesConfiguration {
                    updated_date_field: Some("lastActivityDate".into()),
                    updated_date_format: None,
                    updated_date_timezone: None,
                    created_date_field: Some("createDate".into()),
                    created_date_format: None,
                    created_date_timezone: None,
                },
                created_check_tolerance_seconds: 0,
            },
            previous_poll: "2024-01-01T00:00:00.000Z".into(),
            this_poll: "2024-01-01T00:01:00.000Z".into(),
        }
    }

    fn record(json: Value) -> RawRecord {
        RawRecord {
            json: json.to_string(),
            object_id: "42".into(),
            created: Some("2023-12-31T10:00:00.000Z".into()),
            updated: Some("2024-01-01T00:00:30.407Z".into()),
            default_event_type: EventType::Updated,
        }
    }

    fn payload(event: &Event) -> Value {
        serde_json::from_str(&event.payload).expect("payload is JSON")
    }

    #[test]
    fn renames_known_fields_and_keeps_the_rest_under_extra() {
        let raw = record(json!({
            "id": 42, "ticketNumber": "T20240101.0001", "title": "Printer on fire",
            "queueID": 8, "companyID": 0, "assignedResourceID": null,
            "createDate": "2023-12-31T10:00:00Z", "lastActivityDate": "2024-01-01T00:00:30.407Z",
            "dueDateTime": "2024-01-03T00:00:00Z", "serviceLevelAgreementID": 3,
        }));
        let events = map_record(&context("incidents", "id"), &raw).unwrap();
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_eq!(event.event_type, EventType::Updated);
        assert_eq!(event.object_id, "42");
        assert_eq!(event.object_type, "incidents");
        assert_eq!(event.event_date, "2024-01-01T00:00:30.407Z");
        assert_eq!(
            payload(event),
            json!({
                "id": "42", "createdDate": "2023-12-31T10:00:00.000Z",
                "updatedDate": "2024-01-01T00:00:30.407Z",
                "ticketNumber": "T20240101.0001", "title": "Printer on fire",
                "queueId": 8, "companyId": 0, "assignedResourceId": null,
                "dueDate": "2024-01-03T00:00:00Z",
                "extra": {"serviceLevelAgreementID": 3},
            })
        );
    }

    #[test]
    fn user_defined_fields_become_an_object() {
        let raw = record(json!({"id": 42, "userDefinedFields": [
            {"name": "Région", "value": "EU \"west\""}, {"name": "Empty", "value": null}, {"name": "NoValue"}
        ]}));
        let event = &map_record(&context("incidents", "id"), &raw).unwrap()[0];
        assert_eq!(payload(event)["customFields"], json!({"Région": "EU \"west\"", "Empty": null, "NoValue": null}));
        let null_udfs = record(json!({"id": 42, "userDefinedFields": null}));
        let event = &map_record(&context("incidents", "id"), &null_udfs).unwrap()[0];
        assert_eq!(payload(event)["customFields"], json!({}));
    }

    #[test]
    fn a_malformed_record_is_an_error_for_that_record_only() {
        let ctx = context("incidents", "id");
        let bad = RawRecord { json: "[1,2]".into(), ..record(json!({})) };
        let bad_udfs = record(json!({"id": 1, "userDefinedFields": "Region=EU"}));
        let good = record(json!({"id": 42}));
        let results = transform(&ctx, &[bad, bad_udfs, good]);
        assert!(results[0].as_ref().unwrap_err().contains("not a JSON object"));
        assert!(results[1].as_ref().unwrap_err().contains("userDefinedFields is not a list"));
        assert_eq!(results[2].as_ref().unwrap()[0].object_id, "42");
    }

    #[test]
    fn follows_the_configured_resource_and_id_field() {
        let ctx = context("accounts", "companyNumber");
        let raw = record(json!({"id": 7, "companyNumber": "C-9", "companyName": "Contoso"}));
        let event = &map_record(&ctx, &raw).unwrap()[0];
        assert_eq!(event.object_type, "accounts");
        assert_eq!(payload(event)["extra"], json!({"id": 7, "companyName": "Contoso"}));
    }

    #[test]
    fn escapes_field_names_that_need_it() {
        let raw = record(json!({"id": 1, "we\"ird\nname": 1}));
        let event = &map_record(&context("incidents", "id"), &raw).unwrap()[0];
        assert_eq!(payload(event)["extra"], json!({"we\"ird\nname": 1}));
    }
}
