//! The event inspector: an instance's messages found by what their events are
//! about, one message whole (its body as posted, each event beside the raw
//! record it came from, the headers, every attempt), and redelivery on demand.
//! Redeliveries are written to the log under the `audit` target, with the
//! API user who asked.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::activity::{MAX_EVENTS_LIMIT, message_view};
use super::views::MessageView;
use super::{Caller, ManageError, Management};
use crate::dates::parse_instant;
use crate::service::poll::blocking;
use crate::store::{MessageSearch, MessageSummary, StatusFilter, StoredAttempt};

/// A parameter's value, when given: an empty one counts as absent (a form's empty field).
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|value| !value.is_empty())
}

/// A search as the API and console take it: text, checked here, each problem
/// named by its query parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventFilter {
    /// `delivered`, `pending` (retrying included) or `failed` (retrying or dead-lettered).
    pub status: Option<String>,
    pub object_id: Option<String>,
    /// A Cloud Elements event type (`CREATED`, `UPDATED`, `DELETED`), any case.
    pub event_type: Option<String>,
    pub resource: Option<String>,
    /// Created at or after (RFC 3339).
    pub from: Option<String>,
    /// Created before (RFC 3339).
    pub to: Option<String>,
}

impl EventFilter {
    /// Whether it narrows anything.
    pub fn is_empty(&self) -> bool {
        self.parse().is_ok_and(|search| search == MessageSearch::default())
    }

    /// The store's search; an empty parameter counts as absent (a form's empty field).
    pub fn parse(&self) -> Result<MessageSearch, ManageError> {
        let instant = |name: &str, value: &Option<String>| -> Result<Option<DateTime<Utc>>, ManageError> {
            given(value)
                .map(|text| {
                    parse_instant(text).map_err(|_| {
                        ManageError::field(
                            format!("?{name}"),
                            format!("`{text}` is not an RFC 3339 date-time (2024-06-01T12:00:00Z)"),
                        )
                    })
                })
                .transpose()
        };
        let status = match given(&self.status) {
            None => None,
            Some("delivered") => Some(StatusFilter::Delivered),
            Some("pending") => Some(StatusFilter::Pending),
            Some("failed") => Some(StatusFilter::Failed),
            Some(other) => {
                return Err(ManageError::field(
                    "?status",
                    format!("`{other}` is not `delivered`, `pending` or `failed`"),
                ));
            }
        };
        let search = MessageSearch {
            object_id: given(&self.object_id).map(str::to_owned),
            event_type: given(&self.event_type).map(str::to_ascii_uppercase),
            resource: given(&self.resource).map(str::to_owned),
            from: instant("from", &self.from)?,
            to: instant("to", &self.to)?,
            status,
        };
        if let (Some(from), Some(to)) = (search.from, search.to)
            && from >= to
        {
            return Err(ManageError::field("?to", "is not after `from`"));
        }
        Ok(search)
    }
}

/// One message whole, as the inspector shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageDetail {
    #[serde(flatten)]
    pub summary: MessageView,
    /// Each event with its payload and the raw Autotask record it was made from.
    pub inspected_events: Vec<InspectedEvent>,
    /// The body exactly as posted (and signed), parsed.
    pub body: Value,
    /// The headers of the latest attempt (the signature shown as `present`).
    pub headers: Value,
    /// Every attempt, oldest first.
    pub delivery_attempts: Vec<AttemptView>,
}

/// An event and the raw record beside it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InspectedEvent {
    pub event_type: Option<String>,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub event_date: Option<String>,
    pub event_id: Option<String>,
    pub payload: Value,
    /// `None` when the message does not carry it (a record that gave no id).
    pub raw: Option<Value>,
}

/// One delivery attempt.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    pub date: String,
    /// The callback's HTTP status; `null` when it did not answer.
    pub status: Option<u16>,
    pub latency_ms: f64,
    pub delivered: bool,
    pub error: Option<String>,
    /// The first KB of the callback's answer.
    pub answer: String,
    pub headers: Value,
    pub host: Option<String>,
}

/// What a redelivery did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Redelivered {
    pub instance_id: String,
    /// Message ids put back in the outbox, oldest first.
    pub redelivered: Vec<String>,
}

impl Management {
    /// Instance `id`'s messages matching `filter`, newest first: at most `limit` (1 to 1000).
    pub async fn search_events(
        &self,
        id: &str,
        caller: &Caller,
        filter: &EventFilter,
        limit: usize,
    ) -> Result<Vec<MessageView>, ManageError> {
        let instance = self.find(id, caller).await?.id();
        if !(1..=MAX_EVENTS_LIMIT).contains(&limit) {
            return Err(ManageError::field("?limit", format!("{limit} is not from 1 to {MAX_EVENTS_LIMIT}")));
        }
        let search = filter.parse()?;
        let store = self.shared().store.clone();
        let messages = blocking(move || store.search_messages(&instance, &search, limit)).await?;
        let mut shown = Vec::with_capacity(messages.len());
        for message in messages {
            let store = self.shared().store.clone();
            let body = blocking(move || store.message_body(message.seq)).await?;
            shown.push(message_view(message, body.as_deref()));
        }
        Ok(shown)
    }

    /// Message `message_id` of instance `id`, whole.
    pub async fn event_detail(
        &self,
        id: &str,
        caller: &Caller,
        message_id: &str,
    ) -> Result<MessageDetail, ManageError> {
        let message = self.find_message(id, caller, message_id).await?;
        let (store, seq) = (self.shared().store.clone(), message.seq);
        let (body, attempts) = blocking(move || Ok((store.message_body(seq)?, store.attempts(seq)?))).await?;
        let body = body.unwrap_or_default();
        let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::String(body.clone()));
        let delivery_attempts: Vec<AttemptView> = attempts.into_iter().map(attempt_view).collect();
        let headers = delivery_attempts.last().map_or(Value::Object(Default::default()), |last| last.headers.clone());
        Ok(MessageDetail {
            inspected_events: inspected_events(&parsed),
            summary: message_view(message, Some(&body)),
            body: parsed,
            headers,
            delivery_attempts,
        })
    }

    /// Sends message `message_id` of instance `id` again, whatever its state.
    pub async fn redeliver_event(
        &self,
        id: &str,
        caller: &Caller,
        message_id: &str,
    ) -> Result<Redelivered, ManageError> {
        let message = self.find_message(id, caller, message_id).await?;
        self.redeliver(id, caller, vec![message], &format!("message {message_id}")).await
    }

    /// Sends again instance `id`'s messages matching `filter` (at least one
    /// field: a bare call would resend everything), at most `limit`, oldest first.
    pub async fn redeliver_events(
        &self,
        id: &str,
        caller: &Caller,
        filter: &EventFilter,
        limit: usize,
    ) -> Result<Redelivered, ManageError> {
        if filter.is_empty() {
            return Err(ManageError::field(
                "?objectId",
                "say which messages to redeliver: objectId, eventType, resource, from, to or status",
            ));
        }
        let mut messages = self.search_events_summaries(id, caller, filter, limit).await?;
        messages.reverse();
        self.redeliver(id, caller, messages, &format!("{filter:?}")).await
    }

    /// The summaries a search finds (no bodies read).
    async fn search_events_summaries(
        &self,
        id: &str,
        caller: &Caller,
        filter: &EventFilter,
        limit: usize,
    ) -> Result<Vec<MessageSummary>, ManageError> {
        let instance = self.find(id, caller).await?.id();
        if !(1..=MAX_EVENTS_LIMIT).contains(&limit) {
            return Err(ManageError::field("?limit", format!("{limit} is not from 1 to {MAX_EVENTS_LIMIT}")));
        }
        let search = filter.parse()?;
        let store = self.shared().store.clone();
        Ok(blocking(move || store.search_messages(&instance, &search, limit)).await?)
    }

    async fn find_message(&self, id: &str, caller: &Caller, message_id: &str) -> Result<MessageSummary, ManageError> {
        let instance = self.find(id, caller).await?.id();
        let (store, wanted) = (self.shared().store.clone(), message_id.to_owned());
        blocking(move || store.message_by_id(&instance, &wanted))
            .await?
            .ok_or_else(|| ManageError::NotFound(format!("message `{message_id}` of instance `{id}`")))
    }

    /// Puts `messages` back in instance `id`'s outbox, wakes its worker, and
    /// writes who asked to the audit log.
    async fn redeliver(
        &self,
        id: &str,
        caller: &Caller,
        messages: Vec<MessageSummary>,
        what: &str,
    ) -> Result<Redelivered, ManageError> {
        let instance = self.find(id, caller).await?.id();
        let seqs: Vec<i64> = messages.iter().map(|message| message.seq).collect();
        let (store, for_store) = (self.shared().store.clone(), instance.clone());
        let count = blocking(move || store.redeliver(&for_store, &seqs, Utc::now())).await?;
        self.shared().outbox_wakers.wake(std::slice::from_ref(&instance));
        tracing::info!(
            target: "audit", user = %caller.user, instance = %instance, messages = count, asked = %what,
            "redelivery asked"
        );
        Ok(Redelivered { instance_id: instance, redelivered: messages.into_iter().map(|m| m.message_id).collect() })
    }
}

fn attempt_view(attempt: StoredAttempt) -> AttemptView {
    AttemptView {
        date: attempt.at,
        status: attempt.status,
        latency_ms: (attempt.latency_ms * 10.0).round() / 10.0,
        delivered: attempt.error.is_none(),
        error: attempt.error,
        answer: attempt.answer,
        headers: serde_json::from_str(&attempt.headers).unwrap_or(Value::Null),
        host: attempt.host,
    }
}

/// The events of a posted body, each beside its raw record: a Cloud Elements
/// message's `events` matched with its `raw` records by id, or a CloudEvents
/// batch, whose events carry their record.
fn inspected_events(body: &Value) -> Vec<InspectedEvent> {
    let text = |value: &Value| value.as_str().map(str::to_owned);
    if let Some(events) = body["message"]["events"].as_array() {
        let records: Vec<&Value> = body["message"]["raw"]
            .as_object()
            .into_iter()
            .flat_map(|raw| raw.values())
            .filter_map(Value::as_array)
            .flatten()
            .collect();
        return events
            .iter()
            .map(|event| {
                let object_id = text(&event["objectId"]);
                InspectedEvent {
                    event_type: text(&event["eventType"]),
                    object_type: text(&event["objectType"]),
                    event_date: text(&event["eventDate"]),
                    event_id: text(&event["eventId"]),
                    payload: event["payload"].clone(),
                    raw: raw_record(&records, object_id.as_deref()),
                    object_id,
                }
            })
            .collect();
    }
    body.as_array()
        .into_iter()
        .flatten()
        .map(|event| {
            let kind = event["type"].as_str().unwrap_or_default();
            InspectedEvent {
                event_type: Some(kind.rsplit('.').next().unwrap_or_default().to_ascii_uppercase()),
                object_type: text(&event["data"]["objectType"]),
                object_id: text(&event["subject"]),
                event_date: text(&event["time"]),
                event_id: text(&event["id"]),
                payload: event["data"]["payload"].clone(),
                raw: Some(event["data"]["raw"].clone()).filter(|raw| !raw.is_null()),
            }
        })
        .collect()
}

/// The record an event was made from: the one whose `id` is the event's
/// object id, or the only record there is.
fn raw_record(records: &[&Value], object_id: Option<&str>) -> Option<Value> {
    let id_of = |record: &Value| match &record["id"] {
        Value::String(id) => Some(id.clone()),
        Value::Number(id) => Some(id.to_string()),
        _ => None,
    };
    let matched = records.iter().find(|record| object_id.is_some() && id_of(record).as_deref() == object_id);
    match (matched, records) {
        (Some(record), _) => Some((*record).clone()),
        (None, [only]) => Some((*only).clone()),
        (None, _) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_filter_names_the_parameter_it_cannot_read() {
        let problem = |filter: EventFilter| match filter.parse() {
            Err(ManageError::Invalid(problems)) => problems[0].field.clone(),
            other => panic!("expected a problem, got {other:?}"),
        };
        assert_eq!(problem(EventFilter { from: Some("yesterday".into()), ..Default::default() }), "?from");
        assert_eq!(problem(EventFilter { status: Some("lost".into()), ..Default::default() }), "?status");
        let backwards = EventFilter {
            from: Some("2024-06-02T00:00:00Z".into()),
            to: Some("2024-06-01T00:00:00Z".into()),
            ..Default::default()
        };
        assert_eq!(problem(backwards), "?to");
        let blank = EventFilter { object_id: Some(" ".into()), event_type: Some(String::new()), ..Default::default() };
        assert!(blank.is_empty(), "empty form fields narrow nothing");
        let typed = EventFilter { event_type: Some("created".into()), ..Default::default() }.parse().unwrap();
        assert_eq!(typed.event_type.as_deref(), Some("CREATED"));
    }

    #[test]
    fn each_event_is_shown_beside_the_raw_record_with_its_id() {
        let body = json!({"message": {
            "raw": {"incidents": [{"id": 7, "title": "seven"}, {"id": 8, "title": "eight"}], "objectType": "incidents"},
            "events": [
                {"eventType": "UPDATED", "objectId": "8", "objectType": "incidents", "payload": {"n": 8}},
                {"eventType": "CREATED", "objectId": "7", "objectType": "incidents", "payload": {"n": 7}},
                {"eventType": "CREATED", "objectId": "9", "objectType": "incidents", "payload": null},
            ],
        }});
        let events = inspected_events(&body);
        assert_eq!(events[0].raw, Some(json!({"id": 8, "title": "eight"})));
        assert_eq!(events[0].payload, json!({"n": 8}));
        assert_eq!(events[1].raw, Some(json!({"id": 7, "title": "seven"})));
        assert_eq!(events[2].raw, None, "no record has its id, and there is more than one");
    }

    #[test]
    fn a_cloudevents_batch_carries_each_record_in_its_event() {
        let body = json!([{"type": "com.autotask.incidents.created", "subject": "7", "id": "e1",
                           "data": {"objectType": "incidents", "payload": {"n": 7}, "raw": {"id": 7}}}]);
        let events = inspected_events(&body);
        assert_eq!(events[0].event_type.as_deref(), Some("CREATED"));
        assert_eq!(events[0].raw, Some(json!({"id": 7})));
        assert_eq!(events[0].event_id.as_deref(), Some("e1"));
    }
}
