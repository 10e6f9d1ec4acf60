//! What an instance is doing: its recent events and their delivery, replays,
//! a poll (or a dry run) on demand, and each resource's plugin, watermark and schedule; and
//! the service's plugins.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use engine::manage::views::{DryRunView, MessageView, Polled, Resources, Retried};
use engine::manage::{Caller, EventFilter, MAX_EVENTS_LIMIT, MessageDetail, Redelivered};
use engine::service::plugins::{PluginStatus, Reload};
use serde::Deserialize;
use utoipa::openapi::schema::{KnownFormat, Object, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type};

use super::Api;
use super::error::{ApiError, ApiQuery};

/// `?status=delivered|pending|failed&objectId=&eventType=&resource=&from=&to=&limit=N`.
/// (Not `#[serde(flatten)]` over an [`EventFilter`]: a query string flattened
/// reads every value as text, and `limit` would not read as a number.)
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(super) struct EventsQuery {
    #[param(schema_with = status_parameter)]
    status: Option<String>,
    /// An event in the message is about exactly this object.
    object_id: Option<String>,
    /// `CREATED`, `UPDATED` or `DELETED`, any case.
    event_type: Option<String>,
    /// The resource's name.
    resource: Option<String>,
    #[param(schema_with = from_parameter)]
    from: Option<String>,
    #[param(schema_with = to_parameter)]
    to: Option<String>,
    /// At most this many (1 to 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

// An empty search parameter counts as absent (the console's forms send empty
// fields), so the schemas of those that are not free text allow it.

fn status_parameter() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["delivered", "pending", "failed", ""]))
        .description(Some(
            "`delivered`, `pending` (retrying included) or `failed` (failed at least once, not delivered); empty is none",
        ))
        .build()
}

fn from_parameter() -> Schema {
    date_time_or_empty("Created at or after (RFC 3339); empty is none")
}

fn to_parameter() -> Schema {
    date_time_or_empty("Created before (RFC 3339); empty is none")
}

fn date_time_or_empty(description: &str) -> Schema {
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
        )
        .item(ObjectBuilder::new().schema_type(Type::String).max_length(Some(0)))
        .description(Some(description))
        .build()
        .into()
}

impl EventsQuery {
    fn filter(self) -> EventFilter {
        let EventsQuery { status, object_id, event_type, resource, from, to, limit: _ } = self;
        EventFilter { status, object_id, event_type, resource, from, to }
    }
}

/// How many messages `events` lists when the caller does not say.
const DEFAULT_EVENTS_LIMIT: usize = 50;

/// Every parameter narrows the search.
#[utoipa::path(
    get, path = "/instances/{id}/events", tag = "events", operation_id = "listEvents",
    summary = "An instance's messages, newest first",
    params(("id" = String, Path, description = "The instance's id", example = "1"), EventsQuery),
    responses(
        (status = 200, description = "The messages found (50 unless `limit` says)", body = Vec<MessageView>, links(
            ("GetFirstEvent" = (operation_id = "getEvent", parameters(("id" = "$request.path.id"), ("message" = "$response.body#/0/id")))),
            ("RedeliverFirstEvent" = (operation_id = "redeliverEvent", parameters(("id" = "$request.path.id"), ("message" = "$response.body#/0/id")))),
        )),
        (status = 400, description = "A parameter that does not read, naming it (`?from`)", body = ApiError),
        (status = 401, description = "Missing or wrong credentials, or an `Element` token not the instance's", body = ApiError),
        (status = 404, description = "No such instance", body = ApiError),
    ),
    security(("authorization" = [])),
)]
pub(super) async fn events(
    State(api): State<Api>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Json<Vec<MessageView>>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_EVENTS_LIMIT);
    Ok(Json(api.management.search_events(&id, &caller, &query.filter(), limit).await?))
}

/// One message whole: body, events beside their records, headers, attempts.
#[utoipa::path(
    get, path = "/instances/{id}/events/{message}", tag = "events", operation_id = "getEvent",
    summary = "One message whole",
    params(
        ("id" = String, Path, description = "The instance's id", example = "1"),
        ("message" = String, Path, description = "The message's id (its `Elements-Webhook-Id`)"),
    ),
    responses(
        (status = 200, description = "The message, its body, events beside their raw records, headers and attempts", body = MessageDetail),
        (status = 401, description = "Missing or wrong credentials, or an `Element` token not the instance's", body = ApiError),
        (status = 404, description = "No such instance or message", body = ApiError),
    ),
    security(("authorization" = [])),
)]
pub(super) async fn event(
    State(api): State<Api>,
    Path((id, message_id)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<MessageDetail>, ApiError> {
    Ok(Json(api.management.event_detail(&id, &caller, &message_id).await?))
}

/// Back to the outbox, due now, ahead of newer messages; audited.
#[utoipa::path(
    post, path = "/instances/{id}/events/{message}/redeliver", tag = "events", operation_id = "redeliverEvent",
    summary = "Send one message again",
    params(
        ("id" = String, Path, description = "The instance's id", example = "1"),
        ("message" = String, Path, description = "The message's id"),
    ),
    responses(
        (status = 200, description = "The message put back in the outbox", body = Redelivered),
        (status = 401, description = "Missing or wrong credentials, or an `Element` token not the instance's", body = ApiError),
        (status = 403, description = "A configuration file instance's message, for a caller who may not", body = ApiError),
        (status = 404, description = "No such instance or message", body = ApiError),
        (status = 409, description = "The instance cannot deliver now", body = ApiError),
    ),
    security(("authorization" = [])),
)]
pub(super) async fn redeliver_one(
    State(api): State<Api>,
    Path((id, message_id)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Redelivered>, ApiError> {
    Ok(Json(api.management.redeliver_event(&id, &caller, &message_id).await?))
}

/// The messages the same query as `events` finds (at most `limit`, 1000 by default), sent again.
#[utoipa::path(
    post, path = "/instances/{id}/events/redeliver", tag = "events", operation_id = "redeliverEvents",
    summary = "Send again what a search finds",
    description = "At least one parameter: a bare call is refused.",
    params(("id" = String, Path, description = "The instance's id", example = "1"), EventsQuery),
    responses(
        (status = 200, description = "The messages put back in the outbox, oldest first", body = Redelivered),
        (status = 400, description = "No parameter, or one that does not read, naming it", body = ApiError),
        (status = 401, description = "Missing or wrong credentials, or an `Element` token not the instance's", body = ApiError),
        (status = 403, description = "A caller who may not", body = ApiError),
        (status = 404, description = "No such instance", body = ApiError),
        (status = 409, description = "The instance cannot deliver now", body = ApiError),
    ),
    security(("authorization" = [])),
)]
pub(super) async fn redeliver(
    State(api): State<Api>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Json<Redelivered>, ApiError> {
    let limit = query.limit.unwrap_or(MAX_EVENTS_LIMIT);
    Ok(Json(api.management.redeliver_events(&id, &caller, &query.filter(), limit).await?))
}

/// Dead letters back to the outbox, retries waiting for their time due now,
/// records the plugin failed mapped again by the next poll.
#[utoipa::path(
    post, path = "/instances/{id}/events/retry", tag = "events", operation_id = "retryEvents",
    summary = "Deliver failed messages again",
    params(("id" = String, Path, description = "The instance's id", example = "1")),
    responses(
        (status = 200, description = "What was put back on its way", body = Retried),
        (status = 401, description = "Missing or wrong credentials, or an `Element` token not the instance's", body = ApiError),
        (status = 403, description = "A caller who may not", body = ApiError),
        (status = 404, description = "No such instance", body = ApiError),
        (status = 409, description = "The instance cannot deliver now", body = ApiError),
    ),
    security(("authorization" = [])),
)]
pub(super) async fn retry(
    State(api): State<Api>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Retried>, ApiError> {
    Ok(Json(api.management.retry(&id, &caller).await?))
}

/// `?resource=NAME` polls one resource only; `?dryRun=true` reports what the
/// poll would deliver and stores and sends nothing.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(super) struct PollQuery {
    /// Poll this resource only.
    resource: Option<String>,
    /// `true`: report what the poll would deliver; store and send nothing.
    #[serde(default)]
    #[param(value_type = Option<bool>)]
    dry_run: bool,
}

/// A poll's answer, or a dry run's.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Only its schema is used.
pub(super) enum PollAnswer {
    Polled(Polled),
    DryRun(DryRunView),
}

/// Waits for a poll of each resource (never overlapping a scheduled one).
#[utoipa::path(
    post, path = "/instances/{id}/poll", tag = "polling", operation_id = "pollInstance",
    summary = "Poll now, or dry-run a poll",
    params(("id" = String, Path, description = "The instance's id", example = "1"), PollQuery),
    responses(
        (status = 200, description = "Each resource's poll (`Polled`), or with `dryRun=true` what it would do (`DryRunView`)", body = PollAnswer),
        (status = 400, description = "An unknown resource, a parameter that does not read, or an instance not started", body = ApiError),
        (status = 401, description = "Missing or wrong credentials, or an `Element` token not the instance's", body = ApiError),
        (status = 403, description = "A caller who may not", body = ApiError),
        (status = 404, description = "No such instance", body = ApiError),
        (status = 409, description = "The instance cannot poll now (disabled, or its body does not read)", body = ApiError),
    ),
    security(("authorization" = [])),
)]
pub(super) async fn poll(
    State(api): State<Api>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
    ApiQuery(query): ApiQuery<PollQuery>,
) -> Result<Response, ApiError> {
    let resource = query.resource.as_deref();
    Ok(if query.dry_run {
        Json(api.management.dry_run(&id, &caller, resource).await?).into_response()
    } else {
        Json(api.management.poll_now(&id, &caller, resource).await?).into_response()
    })
}

#[utoipa::path(
    get, path = "/instances/{id}/resources", tag = "polling", operation_id = "getResources",
    summary = "Each resource's plugin, watermark, last and next poll, and push",
    params(("id" = String, Path, description = "The instance's id", example = "1")),
    responses(
        (status = 200, description = "The instance's resources", body = Resources),
        (status = 401, description = "Missing or wrong credentials, or an `Element` token not the instance's", body = ApiError),
        (status = 404, description = "No such instance", body = ApiError),
    ),
    security(("authorization" = [])),
)]
pub(super) async fn resources(
    State(api): State<Api>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Resources>, ApiError> {
    Ok(Json(api.management.resources(&id, &caller).await?))
}

#[utoipa::path(
    get, path = "/plugins", tag = "plugins", operation_id = "listPlugins",
    summary = "The plugins, their versions and how they are doing",
    responses(
        (status = 200, description = "Every plugin file", body = Vec<PluginStatus>),
        (status = 401, description = "Missing or wrong credentials", body = ApiError),
    ),
    security(("authorization" = [])),
)]
pub(super) async fn plugins(State(api): State<Api>) -> Json<Vec<PluginStatus>> {
    Json(api.management.plugins())
}

/// The latest plugin loads, rejections and removals, newest first.
#[utoipa::path(
    get, path = "/plugins/reloads", tag = "plugins", operation_id = "listPluginReloads",
    summary = "The last 100 plugin loads, rejections, removals and restorations",
    responses(
        (status = 200, description = "Newest first", body = Vec<Reload>),
        (status = 401, description = "Missing or wrong credentials", body = ApiError),
    ),
    security(("authorization" = [])),
)]
pub(super) async fn reloads(State(api): State<Api>) -> Json<Vec<Reload>> {
    Json(api.management.plugin_reloads())
}
