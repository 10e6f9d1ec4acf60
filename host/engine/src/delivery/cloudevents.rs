//! The same events as CloudEvents 1.0 (`event.notification.format = "cloudevents"`):
//! each message is a JSON batch (`application/cloudevents-batch+json`), an
//! array of structured-mode events.
//!
//! ```json
//! [{"specversion": "1.0", "id": "<eventId>", "source": "autotask-events/<instance>/<resource>",
//!   "type": "com.autotask.<resource>.created", "subject": "<objectId>", "time": "<eventDate>",
//!   "datacontenttype": "application/json",
//!   "data": {"elementKey", "eventType", "objectType", "objectId", "instanceId", "instanceName",
//!            "payload", "raw"}}]
//! ```
//!
//! Here `instanceId` stays the instance's text id, as in `source`: Cloud
//! Elements never sent CloudEvents, so no receiver of this format expects its
//! number, and `source`, a URI reference, names the instance by its text anyway.

use serde_json::{Value, json};

use super::message::{InstanceInfo, SourcedEvent, content_id, event_id};
use crate::store::NewMessage;

/// The Content-Type of a CloudEvents batch.
pub const BATCH_CONTENT_TYPE: &str = "application/cloudevents-batch+json";

/// The messages for a poll's events, in order, at most `max_events` events each.
pub fn messages(
    instance: InstanceInfo<'_>,
    resource: &str,
    events: &[SourcedEvent<'_>],
    max_events: usize,
) -> Vec<NewMessage> {
    events
        .chunks(max_events.max(1))
        .map(|chunk| {
            let ids: Vec<String> = chunk.iter().map(|e| event_id(instance.id, resource, e.event)).collect();
            let batch: Vec<Value> =
                chunk.iter().zip(&ids).map(|(e, id)| cloud_event(instance, resource, e, id)).collect();
            NewMessage {
                message_id: content_id(&ids.iter().map(String::as_str).collect::<Vec<_>>()),
                body: Value::Array(batch).to_string(),
                event_count: chunk.len(),
                plugin_version: None,
                keys: super::message::event_keys(chunk),
            }
        })
        .collect()
}

fn cloud_event(instance: InstanceInfo<'_>, resource: &str, sourced: &SourcedEvent<'_>, id: &str) -> Value {
    let event = sourced.event;
    let event_type = event.event_type.cloud_elements_name();
    let payload = serde_json::from_str::<Value>(&event.payload).unwrap_or(Value::Null);
    let raw = serde_json::from_str::<Value>(sourced.raw.get()).unwrap_or(Value::Null);
    json!({
        "specversion": "1.0",
        "id": id,
        "source": format!("autotask-events/{}/{resource}", instance.id),
        "type": format!("com.autotask.{resource}.{}", event_type.to_ascii_lowercase()),
        "subject": event.object_id,
        "time": event.event_date,
        "datacontenttype": "application/json",
        "data": {
            "elementKey": instance.element_key,
            "eventType": event_type,
            "objectType": event.object_type,
            "objectId": event.object_id,
            "instanceId": instance.id,
            "instanceName": instance.name,
            "payload": payload,
            "raw": raw,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_runtime::{Event, EventType};
    use serde_json::value::RawValue;

    #[test]
    fn each_event_is_a_structured_cloud_event_with_the_same_id_as_the_cloud_elements_one() {
        let event = Event {
            event_type: EventType::Deleted,
            object_id: "7".into(),
            object_type: "incidents".into(),
            event_date: "2024-06-01T12:00:00.000Z".into(),
            payload: "{\"id\":\"7\"}".into(),
        };
        let raw = RawValue::from_string("{\"id\":7}".into()).unwrap();
        let tags = Vec::new();
        let instance = InstanceInfo { id: "acme", name: "Acme", element_key: "autotaskhelpdesk", tags: &tags };
        let sourced = [SourcedEvent { event: &event, raw: &raw }];
        let messages = messages(instance, "incidents", &sourced, 10);
        let batch: Value = serde_json::from_str(&messages[0].body).unwrap();
        let first = &batch[0];
        assert_eq!(first["specversion"], "1.0");
        assert_eq!(first["id"], event_id("acme", "incidents", &event));
        assert_eq!(first["type"], "com.autotask.incidents.deleted");
        assert_eq!(first["source"], "autotask-events/acme/incidents");
        assert_eq!(first["data"]["instanceId"], "acme");
        assert_eq!(first["subject"], "7");
        assert_eq!(first["time"], "2024-06-01T12:00:00.000Z");
        assert_eq!(first["data"]["payload"], json!({"id": "7"}));
        assert_eq!(first["data"]["raw"], json!({"id": 7}));
    }
}
