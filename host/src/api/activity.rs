//! What an instance is doing: its recent events and their delivery, replays,
//! a poll on demand, and each resource's plugin, watermark and schedule.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::ElementToken;
use super::error::ApiError;
use super::instances::{Found, find, format_date};
use super::{Api, configured_stored};
use crate::config::ConfiguredInstance;
use crate::service::plugins::{plugin_path, short_version};
use crate::service::poll::blocking;
use crate::service::scheduler::{LastPoll, PollResult};
use crate::store::{MessageState, MessageSummary};

/// How long `POST /poll` waits for the polls it asked for.
const POLL_WAIT: Duration = Duration::from_secs(120);

/// `?status=delivered|pending|failed&limit=N`.
#[derive(Deserialize)]
pub(crate) struct EventsQuery {
    pub status: Option<String>,
    pub limit: Option<usize>,
}

pub(crate) async fn events(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    Extension(element): Extension<ElementToken>,
    Query(query): Query<EventsQuery>,
) -> Result<Json<Value>, ApiError> {
    let instance = find(&api, &id, &element).await?.id();
    let limit = query.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::field("?limit", format!("{limit} is not from 1 to 1000")));
    }
    let store = api.shared.store.clone();
    let messages = match query.status.as_deref() {
        None => blocking(move || store.recent_messages(&instance, None, limit)).await?,
        Some("delivered") => {
            blocking(move || store.recent_messages(&instance, Some(MessageState::Delivered), limit)).await?
        }
        Some("pending") => {
            blocking(move || store.recent_messages(&instance, Some(MessageState::Pending), limit)).await?
        }
        Some("failed") => blocking(move || store.failed_messages(&instance, limit)).await?,
        Some(other) => {
            return Err(ApiError::field("?status", format!("`{other}` is not `delivered`, `pending` or `failed`")));
        }
    };
    let mut shown = Vec::with_capacity(messages.len());
    for message in messages {
        let store = api.shared.store.clone();
        let body = blocking(move || store.message_body(message.seq)).await?;
        shown.push(message_view(&message, body.as_deref()));
    }
    Ok(Json(Value::Array(shown)))
}

/// A message with its delivery history and the events in it.
fn message_view(message: &MessageSummary, body: Option<&str>) -> Value {
    let status = match message.state.as_str() {
        "pending" if message.last_error.is_some() => "retrying",
        "dead" => "failed",
        other => other,
    };
    json!({
        "id": message.message_id,
        "resource": message.resource,
        "status": status,
        "attempts": message.attempts,
        "lastError": message.last_error,
        "createdDate": message.created_at,
        "deliveredDate": message.delivered_at,
        "pluginVersion": message.plugin_version.as_deref().map(short_version),
        "eventCount": message.event_count,
        "events": events_of(body.unwrap_or_default()),
    })
}

/// The events of a posted body: a Cloud Elements message's `events`, or a
/// CloudEvents batch read as the same four fields.
fn events_of(body: &str) -> Vec<Value> {
    let Ok(parsed) = serde_json::from_str::<Value>(body) else { return Vec::new() };
    if let Some(events) = parsed["message"]["events"].as_array() {
        return events
            .iter()
            .map(|event| {
                json!({
                    "eventType": event["eventType"],
                    "objectType": event["objectType"],
                    "objectId": event["objectId"],
                    "eventDate": event["eventDate"],
                })
            })
            .collect();
    }
    parsed
        .as_array()
        .into_iter()
        .flatten()
        .map(|event| {
            let kind = event["type"].as_str().unwrap_or_default();
            json!({
                "eventType": kind.rsplit('.').next().unwrap_or_default().to_ascii_uppercase(),
                "objectType": event["data"]["objectType"],
                "objectId": event["subject"],
                "eventDate": event["time"],
            })
        })
        .collect()
}

pub(crate) async fn retry(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    Extension(element): Extension<ElementToken>,
) -> Result<Json<Value>, ApiError> {
    let instance = find(&api, &id, &element).await?.id();
    let store = api.shared.store.clone();
    let (dead, retrying, records) = blocking(move || {
        let now = Utc::now();
        Ok((
            store.replay_dead(&instance, now)?,
            store.retry_now(&instance, now)?,
            store.request_failure_replay(&instance)?,
        ))
    })
    .await?;
    tracing::info!(instance = %id, dead, retrying, records, "replay asked through the API");
    Ok(Json(json!({"deadLettered": dead, "retrying": retrying, "failedRecords": records})))
}

/// `?resource=NAME` polls one resource only.
#[derive(Deserialize)]
pub(crate) struct PollQuery {
    pub resource: Option<String>,
}

pub(crate) async fn poll(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    Extension(element): Extension<ElementToken>,
    Query(query): Query<PollQuery>,
) -> Result<Json<Value>, ApiError> {
    let instance = find(&api, &id, &element).await?.id();
    let mut asked = Vec::new();
    {
        let supervisor = api.supervisor.lock().await;
        let Some(resources) = supervisor.resources(&instance).filter(|resources| !resources.is_empty()) else {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("instance `{id}` is not polled (disabled, or events are not enabled)"),
            ));
        };
        for resource in resources {
            if query.resource.as_ref().is_none_or(|name| *name == resource.name) {
                asked.push((resource.name.clone(), resource.poll_now().await));
            }
        }
    }
    if asked.is_empty() {
        let name = query.resource.unwrap_or_default();
        return Err(ApiError::field("?resource", format!("instance `{id}` has no resource `{name}`")));
    }
    let mut results = Vec::new();
    for (name, answer) in asked {
        let result = match answer {
            Some(answer) => match tokio::time::timeout(POLL_WAIT, answer).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Err("the poll was stopped (the instance changed or the service is stopping)".into()),
                Err(_) => Err(format!("still polling after {}s; see /resources for its result", POLL_WAIT.as_secs())),
            },
            None => Err("the resource's poll loop has stopped".into()),
        };
        results.push(poll_result_view(&name, &result));
    }
    Ok(Json(json!({"instanceId": instance, "resources": results})))
}

fn poll_result_view(name: &str, result: &PollResult) -> Value {
    match result {
        Ok(summary) => json!({"name": name, "ok": true, "summary": summary}),
        Err(error) => json!({"name": name, "ok": false, "error": error}),
    }
}

pub(crate) async fn resources(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    Extension(element): Extension<ElementToken>,
) -> Result<Json<Value>, ApiError> {
    let found = find(&api, &id, &element).await?;
    let configured: ConfiguredInstance = match &found {
        Found::File(configured) => (**configured).clone(),
        Found::Api(stored) => configured_stored(&api.shared, stored).map_err(|problems| {
            ApiError::new(StatusCode::CONFLICT, format!("the instance does not read: {problems}"))
        })?,
    };
    let instance = configured.id.clone();
    let mut shown = Vec::new();
    for resource in &configured.instance.resources {
        let (store, instance, name) = (api.shared.store.clone(), instance.clone(), resource.name.clone());
        let watermark = blocking(move || store.watermark(&instance, &name)).await?;
        let path = plugin_path(&api.shared.settings.plugin_dir, &configured, &resource.name);
        let supervisor = api.supervisor.lock().await;
        let handle = supervisor.resources(&configured.id).unwrap_or_default().iter().find(|r| r.name == resource.name);
        let status = handle.map(|handle| handle.status());
        let version = handle.and_then(|handle| handle.plugin.current()).map(|plugin| plugin.version().to_owned());
        drop(supervisor);
        let state = match &status {
            None => "not polled",
            Some(status) if status.waiting_for_plugin.is_some() || version.is_none() => "waiting for its plugin",
            Some(status) if status.next_poll.is_none() && status.last_poll.is_some() => "polling",
            Some(_) => "scheduled",
        };
        shown.push(json!({
            "name": resource.name,
            "entity": resource.entity,
            "url": resource.url,
            "status": state,
            "plugin": {
                "path": path,
                "version": version,
                "waitingReason": status.as_ref().and_then(|s| s.waiting_for_plugin.clone()),
            },
            "watermark": watermark.map(format_date),
            "lastPoll": status.as_ref().and_then(|s| s.last_poll.as_ref()).map(last_poll_view),
            "nextPollDate": status.as_ref().and_then(|s| s.next_poll).map(format_date),
        }));
    }
    Ok(Json(json!({"instanceId": instance, "resources": shown})))
}

fn last_poll_view(last: &LastPoll) -> Value {
    let mut shown = poll_result_view("", &last.result);
    let object = shown.as_object_mut().expect("an object");
    object.remove("name");
    object.insert("startedDate".into(), Value::String(format_date(last.started)));
    object.insert("tookMs".into(), json!((last.took.as_secs_f64() * 1000.0).round()));
    shown
}

pub(crate) async fn plugins(State(api): State<Arc<Api>>) -> Json<Value> {
    Json(serde_json::to_value(api.shared.plugins.list()).unwrap_or_default())
}

/// The latest plugin loads, rejections and removals, newest first.
pub(crate) async fn reloads(State(api): State<Arc<Api>>) -> Json<Value> {
    Json(serde_json::to_value(api.shared.plugins.history()).unwrap_or_default())
}
