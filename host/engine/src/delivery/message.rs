//! The Cloud Elements polling notification built from a poll's events.
//!
//! ```json
//! {"message": {"elementKey", "accountId", "eventId", "companyId", "instanceId", "instance_id",
//!   "instanceName", "instanceTags", "raw": {"<resource>": [records], "objectType": "<resource>"},
//!   "userId", "events": [{"elementKey", "eventType", "hubKey", "objectId", "objectType",
//!   "eventDate", "eventId", "payload"}]}}
//! ```
//!
//! A poll's events are cut into messages of at most `max_events` (Cloud
//! Elements sends 10), each repeating the raw records its events came from.
//! Ids are derived from content, not drawn at random: an event's `eventId`
//! from (instance, resource, objectId, type, date), a message's from its
//! events, so a message re-sent after a crash carries the same ids and a
//! receiver can drop the duplicate. Cloud Elements' account, company and user
//! ids have no equivalent here and are sent as null. Each event also carries
//! the plugin's `payload`, which Cloud Elements has no field for. `instanceId`
//! is a number, as Cloud Elements sends it (see [`instance_number`]); the ids
//! above are derived from the instance's text id, which never changed.

use serde::Serialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::instance_number::instance_number;
use crate::store::{EventKeys, NewMessage};
use plugin_runtime::Event;

/// What a message says about the instance it comes from.
#[derive(Debug, Clone, Copy)]
pub struct InstanceInfo<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub element_key: &'a str,
    pub tags: &'a [String],
}

/// One event and the raw record it was made from.
#[derive(Debug, Clone, Copy)]
pub struct SourcedEvent<'a> {
    pub event: &'a Event,
    pub raw: &'a RawValue,
}

/// The hub an element belongs to: `crm` or `helpdesk`.
pub fn hub_key(element_key: &str) -> &'static str {
    if element_key.ends_with("helpdesk") { "helpdesk" } else { "crm" }
}

/// A stable id for `parts`, shaped like a UUID.
pub(crate) fn content_id(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let hex: String = hasher.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// The `eventId` of an event: the same event content always gets the same id.
pub fn event_id(instance_id: &str, resource: &str, event: &Event) -> String {
    let event_type = event.event_type.cloud_elements_name();
    content_id(&[instance_id, resource, &event.object_id, event_type, &event.event_date])
}

/// The messages for a poll's events, in order, at most `max_events` events each.
pub fn messages(
    instance: InstanceInfo<'_>,
    resource: &str,
    events: &[SourcedEvent<'_>],
    max_events: usize,
) -> Vec<NewMessage> {
    events.chunks(max_events.max(1)).map(|chunk| message(instance, resource, chunk)).collect()
}

fn message(instance: InstanceInfo<'_>, resource: &str, events: &[SourcedEvent<'_>]) -> NewMessage {
    let hub = hub_key(instance.element_key);
    let keys = event_keys(events);
    let ids: Vec<String> = events.iter().map(|e| event_id(instance.id, resource, e.event)).collect();
    let message_id = content_id(&ids.iter().map(String::as_str).collect::<Vec<_>>());
    let mut raw: Vec<&RawValue> = Vec::new();
    for sourced in events {
        // A record that gave several events is repeated once.
        if !raw.iter().any(|seen| std::ptr::eq(*seen, sourced.raw)) {
            raw.push(sourced.raw);
        }
    }
    let events: Vec<WireEvent<'_>> = events
        .iter()
        .zip(&ids)
        .map(|(sourced, id)| {
            let event = sourced.event;
            WireEvent {
                element_key: instance.element_key,
                event_type: event.event_type.cloud_elements_name(),
                hub_key: hub,
                object_id: &event.object_id,
                object_type: &event.object_type,
                event_date: &event.event_date,
                event_id: id,
                payload: payload(&event.payload),
            }
        })
        .collect();
    let number = instance_number(instance.id);
    let body = Wire {
        message: WireMessage {
            element_key: instance.element_key,
            account_id: None,
            event_id: &message_id,
            company_id: None,
            instance_id: number,
            instance_id_snake: number,
            instance_name: instance.name,
            instance_tags: instance.tags,
            raw: WireRaw { resource, records: &raw },
            user_id: None,
            events,
        },
    };
    let body = serde_json::to_string(&body).expect("a message serializes");
    NewMessage { message_id, body, event_count: ids.len(), plugin_version: None, keys }
}

/// What the inspector finds a message by: its events' types and object ids.
pub(crate) fn event_keys(events: &[SourcedEvent<'_>]) -> EventKeys {
    EventKeys::of(
        events.iter().map(|sourced| (sourced.event.event_type.cloud_elements_name(), sourced.event.object_id.as_str())),
    )
}

/// A plugin's payload as it is: the runtime already checked it is JSON, so it is
/// embedded without being parsed into a tree and written out again.
pub(crate) fn payload(text: &str) -> Option<&RawValue> {
    serde_json::from_str::<&RawValue>(text).ok()
}

#[derive(Serialize)]
struct Wire<'a> {
    message: WireMessage<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireMessage<'a> {
    element_key: &'a str,
    account_id: Option<u64>,
    event_id: &'a str,
    company_id: Option<u64>,
    /// A JSON number, as Cloud Elements sends it: receivers written for it parse one.
    instance_id: u64,
    #[serde(rename = "instance_id")]
    instance_id_snake: u64,
    instance_name: &'a str,
    instance_tags: &'a [String],
    raw: WireRaw<'a>,
    user_id: Option<u64>,
    events: Vec<WireEvent<'a>>,
}

/// `{"<resource>": [records], "objectType": "<resource>"}`.
struct WireRaw<'a> {
    resource: &'a str,
    records: &'a [&'a RawValue],
}

impl Serialize for WireRaw<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry(self.resource, self.records)?;
        map.serialize_entry("objectType", self.resource)?;
        map.end()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireEvent<'a> {
    element_key: &'a str,
    event_type: &'a str,
    hub_key: &'a str,
    object_id: &'a str,
    object_type: &'a str,
    event_date: &'a str,
    event_id: &'a str,
    payload: Option<&'a RawValue>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_runtime::EventType;
    use serde_json::{Value, json};

    fn event(id: &str, event_type: EventType) -> Event {
        Event {
            event_type,
            object_id: id.into(),
            object_type: "incidents".into(),
            event_date: "2024-06-01T12:00:00.000Z".into(),
            payload: format!("{{\"id\":\"{id}\"}}"),
        }
    }

    fn raw(id: &str) -> Box<RawValue> {
        RawValue::from_string(format!("{{\"id\":{id},\"title\":\"t\"}}")).unwrap()
    }

    #[test]
    fn builds_the_cloud_elements_message_with_raw_records() {
        let tags = vec!["prod".to_owned()];
        let instance = InstanceInfo { id: "acme", name: "Acme", element_key: "autotaskhelpdesk", tags: &tags };
        let (e1, e2) = (event("1", EventType::Created), event("2", EventType::Updated));
        let (r1, r2) = (raw("1"), raw("2"));
        let events = [SourcedEvent { event: &e1, raw: &r1 }, SourcedEvent { event: &e2, raw: &r2 }];
        let messages = messages(instance, "incidents", &events, 10);
        assert_eq!(messages.len(), 1);
        let body: Value = serde_json::from_str(&messages[0].body).unwrap();
        let message = &body["message"];
        assert_eq!(message["elementKey"], "autotaskhelpdesk");
        // A number, as Cloud Elements sends it: a file instance's is derived from its text id.
        let acme = json!(7_656_644_771_137_696_u64);
        assert_eq!((message["instanceId"].clone(), message["instance_id"].clone()), (acme.clone(), acme));
        assert_eq!(message["instanceName"], "Acme");
        assert_eq!(message["instanceTags"], json!(["prod"]));
        assert_eq!(
            message["raw"],
            json!({"incidents": [{"id": 1, "title": "t"}, {"id": 2, "title": "t"}], "objectType": "incidents"})
        );
        assert_eq!(message["eventId"], messages[0].message_id);
        let first = &message["events"][0];
        assert_eq!(first["eventType"], "CREATED");
        assert_eq!(first["hubKey"], "helpdesk");
        assert_eq!(first["objectId"], "1");
        assert_eq!(first["objectType"], "incidents");
        assert_eq!(first["eventDate"], "2024-06-01T12:00:00.000Z");
        assert_eq!(first["payload"], json!({"id": "1"}));
        assert_eq!(messages[0].event_count, 2);
    }

    #[test]
    fn an_api_instance_is_delivered_with_its_number_and_its_event_ids_stay_those_of_its_text_id() {
        let tags = Vec::new();
        let instance = InstanceInfo { id: "3", name: "API", element_key: "autotaskcrm", tags: &tags };
        let created = event("1", EventType::Created);
        let record = raw("1");
        let messages = messages(instance, "incidents", &[SourcedEvent { event: &created, raw: &record }], 10);
        let body: Value = serde_json::from_str(&messages[0].body).unwrap();
        let message = &body["message"];
        assert_eq!((message["instanceId"].clone(), message["instance_id"].clone()), (json!(3), json!(3)));
        // Derived from the text `"3"` as before numbers were sent: ids stay the same across the upgrade.
        assert_eq!(message["events"][0]["eventId"], "dec17a01-b4dd-608a-e953-4654300569de");
        assert_eq!(message["events"][0]["eventId"], event_id("3", "incidents", &created));
    }

    #[test]
    fn cuts_batches_and_repeats_a_shared_record_once() {
        let tags = Vec::new();
        let instance = InstanceInfo { id: "acme", name: "Acme", element_key: "autotaskcrm", tags: &tags };
        let events: Vec<Event> = (0..25).map(|i| event(&i.to_string(), EventType::Updated)).collect();
        let record = raw("1");
        let sourced: Vec<_> = events.iter().map(|event| SourcedEvent { event, raw: &record }).collect();
        let messages = messages(instance, "incidents", &sourced, 10);
        assert_eq!(messages.iter().map(|m| m.event_count).collect::<Vec<_>>(), [10, 10, 5]);
        let body: Value = serde_json::from_str(&messages[0].body).unwrap();
        assert_eq!(body["message"]["raw"]["incidents"].as_array().unwrap().len(), 1);
        assert_eq!(body["message"]["events"][0]["hubKey"], "crm");
    }

    #[test]
    fn ids_are_stable_for_the_same_content_and_differ_otherwise() {
        let a = event_id("acme", "incidents", &event("1", EventType::Updated));
        assert_eq!(a, event_id("acme", "incidents", &event("1", EventType::Updated)));
        assert_ne!(a, event_id("acme", "incidents", &event("1", EventType::Created)));
        assert_ne!(a, event_id("other", "incidents", &event("1", EventType::Updated)));
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
    }
}
