//! What an instance is doing: its recent events and their delivery, replays,
//! a poll (or a dry run) on demand, and each resource's plugin, watermark and schedule; and
//! the service's plugins.

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::response::{IntoResponse, Response};
use engine::manage::views::{MessageView, Resources, Retried};
use engine::manage::{Caller, EventFilter, MAX_EVENTS_LIMIT, MessageDetail, Redelivered};
use engine::service::plugins::{PluginStatus, Reload};
use serde::Deserialize;

use super::Api;
use super::error::ApiError;

/// `?status=delivered|pending|failed&objectId=&eventType=&resource=&from=&to=&limit=N`.
/// (Not `#[serde(flatten)]` over an [`EventFilter`]: a query string flattened
/// reads every value as text, and `limit` would not read as a number.)
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EventsQuery {
    status: Option<String>,
    object_id: Option<String>,
    event_type: Option<String>,
    resource: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
}

impl EventsQuery {
    fn filter(self) -> EventFilter {
        let EventsQuery { status, object_id, event_type, resource, from, to, limit: _ } = self;
        EventFilter { status, object_id, event_type, resource, from, to }
    }
}

/// How many messages `events` lists when the caller does not say.
const DEFAULT_EVENTS_LIMIT: usize = 50;

pub(super) async fn events(
    State(api): State<Api>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<EventsQuery>,
) -> Result<Json<Vec<MessageView>>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_EVENTS_LIMIT);
    Ok(Json(api.management.search_events(&id, &caller, &query.filter(), limit).await?))
}

/// One message whole: body, events beside their records, headers, attempts.
pub(super) async fn event(
    State(api): State<Api>,
    Path((id, message_id)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<MessageDetail>, ApiError> {
    Ok(Json(api.management.event_detail(&id, &caller, &message_id).await?))
}

pub(super) async fn redeliver_one(
    State(api): State<Api>,
    Path((id, message_id)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Redelivered>, ApiError> {
    Ok(Json(api.management.redeliver_event(&id, &caller, &message_id).await?))
}

/// The messages the same query as `events` finds (at most `limit`, 1000 by default), sent again.
pub(super) async fn redeliver(
    State(api): State<Api>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<EventsQuery>,
) -> Result<Json<Redelivered>, ApiError> {
    let limit = query.limit.unwrap_or(MAX_EVENTS_LIMIT);
    Ok(Json(api.management.redeliver_events(&id, &caller, &query.filter(), limit).await?))
}

pub(super) async fn retry(
    State(api): State<Api>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Retried>, ApiError> {
    Ok(Json(api.management.retry(&id, &caller).await?))
}

/// `?resource=NAME` polls one resource only; `?dryRun=true` reports what the
/// poll would deliver and stores and sends nothing.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PollQuery {
    resource: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

pub(super) async fn poll(
    State(api): State<Api>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<PollQuery>,
) -> Result<Response, ApiError> {
    let resource = query.resource.as_deref();
    Ok(if query.dry_run {
        Json(api.management.dry_run(&id, &caller, resource).await?).into_response()
    } else {
        Json(api.management.poll_now(&id, &caller, resource).await?).into_response()
    })
}

pub(super) async fn resources(
    State(api): State<Api>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Resources>, ApiError> {
    Ok(Json(api.management.resources(&id, &caller).await?))
}

pub(super) async fn plugins(State(api): State<Api>) -> Json<Vec<PluginStatus>> {
    Json(api.management.plugins())
}

/// The latest plugin loads, rejections and removals, newest first.
pub(super) async fn reloads(State(api): State<Api>) -> Json<Vec<Reload>> {
    Json(api.management.plugin_reloads())
}
