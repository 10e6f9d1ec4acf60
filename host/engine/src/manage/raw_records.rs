//! The raw Autotask records a resource's latest deliveries carried: real
//! records to try a plugin on (the console's playground), read back from the
//! delivered message bodies, which repeat the records their events came from.
//! A caller sees the records of the instances they may see, as the events
//! API shows them: an admin every instance's, a user only their own.

use serde_json::Value;

use super::{Caller, ManageError, Management};
use crate::service::poll::blocking;
use crate::store::MessageState;

/// The most records one call returns: what one try takes.
pub const MAX_RAW_RECORDS: usize = super::MAX_TRY_RECORDS;

impl Management {
    /// Up to `limit` (1 to [`MAX_RAW_RECORDS`]) distinct raw records of
    /// `resource` from the latest `limit` delivered messages of each instance
    /// `caller` may see, newest first. A record is known by its `id`
    /// (Autotask's key; the newest copy is kept), else by its whole content.
    pub async fn recent_raw_records(
        &self,
        caller: &Caller,
        resource: &str,
        limit: usize,
    ) -> Result<Vec<Value>, ManageError> {
        if !(1..=MAX_RAW_RECORDS).contains(&limit) {
            return Err(ManageError::field("limit", format!("{limit} is not from 1 to {MAX_RAW_RECORDS}")));
        }
        let instances = self.visible_instance_ids(caller).await?;
        let store = self.shared().store.clone();
        let resource = resource.to_owned();
        let bodies = blocking(move || {
            // Every message holds at least one record: `limit` messages per
            // instance are enough; across instances, the newest come first.
            let mut delivered = Vec::new();
            for instance in &instances {
                let messages = store.recent_messages(instance, Some(MessageState::Delivered), limit)?;
                delivered.extend(messages.into_iter().filter(|message| message.resource == resource));
            }
            delivered.sort_by_key(|message| std::cmp::Reverse(message.seq));
            let mut bodies = Vec::new();
            for message in delivered {
                if let Some(body) = store.message_body(message.seq)? {
                    bodies.push((message.resource, body));
                }
            }
            Ok(bodies)
        })
        .await?;
        let mut records: Vec<Value> = Vec::new();
        for (resource, body) in bodies {
            let Ok(body) = serde_json::from_str::<Value>(&body) else { continue };
            for record in raw_records_of(&body, &resource) {
                if records.len() == limit {
                    return Ok(records);
                }
                if !records.iter().any(|known| same_record(known, &record)) {
                    records.push(record);
                }
            }
        }
        Ok(records)
    }

    /// The ids of the instances `caller` may see: the configuration file's and the API's.
    async fn visible_instance_ids(&self, caller: &Caller) -> Result<Vec<String>, ManageError> {
        let mut ids: Vec<String> = self
            .snapshot()
            .file_instances
            .iter()
            .filter(|configured| caller.sees(configured.owner.as_deref()))
            .map(|configured| configured.id.clone())
            .collect();
        let store = self.shared().store.clone();
        let stored = blocking(move || store.api_instances()).await?;
        ids.extend(
            stored.into_iter().filter(|stored| caller.sees(Some(&stored.owner))).map(|stored| stored.id.to_string()),
        );
        Ok(ids)
    }
}

/// The raw records in a message body of either delivery format: Cloud
/// Elements' `{"message": {"raw": {"<resource>": [records]}}}`, or a
/// CloudEvents batch, `[{"data": {"raw": record}}]`.
fn raw_records_of(body: &Value, resource: &str) -> Vec<Value> {
    match body {
        Value::Array(batch) => {
            batch.iter().filter_map(|event| event["data"]["raw"].as_object()).cloned().map(Value::Object).collect()
        }
        _ => body["message"]["raw"][resource]
            .as_array()
            .map(|records| records.iter().filter(|record| record.is_object()).cloned().collect())
            .unwrap_or_default(),
    }
}

/// Whether two raw records are the same object: the same `id`, or (without one) the same content.
fn same_record(a: &Value, b: &Value) -> bool {
    match (a.get("id"), b.get("id")) {
        (Some(a), Some(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn raw_records_are_read_from_both_delivery_formats() {
        let cloud_elements =
            json!({"message": {"raw": {"incidents": [{"id": 1}, {"id": 2}], "objectType": "incidents"}}});
        assert_eq!(raw_records_of(&cloud_elements, "incidents"), [json!({"id": 1}), json!({"id": 2})]);
        assert!(raw_records_of(&cloud_elements, "contacts").is_empty());
        let cloud_events = json!([{"data": {"raw": {"id": 3}}}, {"data": {"raw": null}}]);
        assert_eq!(raw_records_of(&cloud_events, "incidents"), [json!({"id": 3})]);
    }

    #[test]
    fn records_are_the_same_by_id_or_else_by_content() {
        assert!(same_record(&json!({"id": 1, "title": "a"}), &json!({"id": 1, "title": "b"})));
        assert!(!same_record(&json!({"id": 1}), &json!({"id": 2})));
        assert!(same_record(&json!({"name": "x"}), &json!({"name": "x"})));
        assert!(!same_record(&json!({"name": "x"}), &json!({"name": "y"})));
    }
}
