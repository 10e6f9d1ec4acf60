//! `POST/GET /instances`, `GET/PATCH/DELETE /instances/{id}`.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{ElementToken, same_secret};
use super::body::{instance_body, masked_configuration, merge_patch, new_token};
use super::error::{ApiError, JsonBody};
use super::{Api, configured, configured_stored, stored_body};
use crate::config::ConfiguredInstance;
use crate::service::plugins::plugin_path;
use crate::service::poll::blocking;
use crate::source::credentials::key_prefix;
use crate::source::retry::RetryPolicy;
use crate::source::{AutotaskClient, ClientOptions, SourceError, ZoneCache};
use crate::store::StoredInstance;

/// An instance the API knows: created through it, or from the configuration file.
pub(super) enum Found {
    Api(StoredInstance),
    File(Box<ConfiguredInstance>),
}

impl Found {
    /// The id the service runs it under.
    pub(super) fn id(&self) -> String {
        match self {
            Found::Api(stored) => stored.id.to_string(),
            Found::File(configured) => configured.id.clone(),
        }
    }
}

/// Instance `id`, checking the `Element` token when one was presented.
pub(super) async fn find(api: &Api, id: &str, element: &ElementToken) -> Result<Found, ApiError> {
    let found = match id.parse::<i64>() {
        Ok(number) => {
            let store = api.shared.store.clone();
            blocking(move || store.api_instance(number)).await?.map(Found::Api)
        }
        Err(_) => api
            .supervisor
            .lock()
            .await
            .file_instances()
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .map(|c| Found::File(Box::new(c))),
    };
    let found = found.ok_or_else(|| ApiError::not_found(format!("instance `{id}`")))?;
    if let Some(token) = &element.0 {
        let matches = match &found {
            Found::Api(stored) => same_secret(token, &stored.token),
            Found::File(_) => false,
        };
        if !matches {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                format!("the Element token is not instance `{id}`'s (instances from the configuration file have none)"),
            ));
        }
    }
    Ok(found)
}

/// Instance `id` when it was created through the API; the file's are read-only.
async fn find_writable(api: &Api, id: &str, element: &ElementToken) -> Result<StoredInstance, ApiError> {
    match find(api, id, element).await? {
        Found::Api(stored) => Ok(stored),
        Found::File(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("instance `{id}` comes from the configuration file and is read-only here; change it in the file"),
        )),
    }
}

pub(crate) async fn create(State(api): State<Arc<Api>>, JsonBody(posted): JsonBody) -> Result<Json<Value>, ApiError> {
    let body = instance_body(&posted);
    let disabled = disabled_flag(&posted, false)?;
    let checked = configured(&api.shared, "new", &body, disabled).map_err(|p| ApiError::problems(&p))?;
    check_credentials(&checked).await?;

    let token = new_token();
    // One change at a time: the store row and the running set move together.
    let mut supervisor = api.supervisor.lock().await;
    let (store, text, token_row) = (api.shared.store.clone(), body.to_string(), token.clone());
    let number = blocking(move || store.insert_api_instance(&token_row, &text, disabled, Utc::now())).await?;
    let id = number.to_string();
    let configured = ConfiguredInstance { id: id.clone(), ..checked };
    if let Err(error) = supervisor.apply_api(&id, Some(configured.clone())).await {
        let store = api.shared.store.clone();
        blocking(move || store.delete_api_instance(number)).await?;
        return Err(ApiError::new(StatusCode::BAD_REQUEST, error.to_string()));
    }
    drop(supervisor);
    tracing::info!(instance = %id, name = %configured.instance.name, "instance created through the API");
    let store = api.shared.store.clone();
    let stored = blocking(move || store.api_instance(number)).await?.ok_or_else(|| ApiError::not_found("instance"))?;
    let mut shown = api_view(&api, &stored).await;
    add_plugin_warnings(&api, &configured, &mut shown);
    Ok(Json(shown))
}

pub(crate) async fn list(State(api): State<Arc<Api>>) -> Result<Json<Value>, ApiError> {
    let files = api.supervisor.lock().await.file_instances().to_vec();
    let mut shown = Vec::new();
    for configured in &files {
        shown.push(file_view(&api, configured).await?);
    }
    let store = api.shared.store.clone();
    for stored in blocking(move || store.api_instances()).await? {
        shown.push(api_view(&api, &stored).await);
    }
    Ok(Json(Value::Array(shown)))
}

pub(crate) async fn get(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    Extension(element): Extension<ElementToken>,
) -> Result<Json<Value>, ApiError> {
    match find(&api, &id, &element).await? {
        Found::Api(stored) => Ok(Json(api_view(&api, &stored).await)),
        Found::File(configured) => Ok(Json(file_view(&api, &configured).await?)),
    }
}

pub(crate) async fn patch(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    Extension(element): Extension<ElementToken>,
    JsonBody(patch): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let stored = find_writable(&api, &id, &element).await?;
    let mut body = stored_body(&stored);
    merge_patch(&mut body, &instance_body(&patch));
    let disabled = disabled_flag(&patch, stored.disabled)?;
    let checked = configured(&api.shared, &id, &body, disabled).map_err(|p| ApiError::problems(&p))?;
    let connection_before = configured_stored(&api.shared, &stored).ok().map(|c| c.instance.connection);
    if connection_before.as_ref() != Some(&checked.instance.connection) {
        check_credentials(&checked).await?;
    }

    let mut supervisor = api.supervisor.lock().await;
    let (store, number, text) = (api.shared.store.clone(), stored.id, body.to_string());
    blocking(move || store.update_api_instance(number, &text, disabled, Utc::now())).await?;
    if let Err(error) = supervisor.apply_api(&id, Some(checked.clone())).await {
        let (store, text) = (api.shared.store.clone(), stored.body.clone());
        blocking(move || store.update_api_instance(number, &text, stored.disabled, stored.updated_at)).await?;
        return Err(ApiError::new(StatusCode::BAD_REQUEST, error.to_string()));
    }
    drop(supervisor);
    tracing::info!(instance = %id, "instance changed through the API");
    let store = api.shared.store.clone();
    let stored = blocking(move || store.api_instance(number)).await?.ok_or_else(|| ApiError::not_found("instance"))?;
    let mut shown = api_view(&api, &stored).await;
    add_plugin_warnings(&api, &checked, &mut shown);
    Ok(Json(shown))
}

/// `?outbox=flush` (the default) or `?outbox=drop`.
#[derive(Deserialize)]
pub(crate) struct DeleteQuery {
    pub outbox: Option<String>,
}

pub(crate) async fn delete(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    Extension(element): Extension<ElementToken>,
    Query(query): Query<DeleteQuery>,
) -> Result<Json<Value>, ApiError> {
    let flush = match query.outbox.as_deref() {
        None | Some("flush") => true,
        Some("drop") => false,
        Some(other) => {
            return Err(ApiError::field("?outbox", format!("`{other}` is not `flush` (deliver first) or `drop`")));
        }
    };
    let stored = find_writable(&api, &id, &element).await?;
    let mut supervisor = api.supervisor.lock().await;
    let running = supervisor.api_instance(&id).cloned();
    supervisor.apply_api(&id, None).await.map_err(ApiError::internal)?;
    let (store, instance) = (api.shared.store.clone(), id.clone());
    let (mut delivered, mut dropped) = (0, 0);
    if flush {
        blocking(move || store.replay_dead(&instance, Utc::now())).await?;
        let outcome = match &running {
            Some(configured) => supervisor.flush(configured).await,
            None => Ok(0),
        };
        let (store, instance) = (api.shared.store.clone(), id.clone());
        let (pending, _) = blocking(move || store.undelivered(&instance)).await?;
        if let (Err(stopped), Some(configured)) = (&outcome, running.clone()) {
            supervisor.apply_api(&id, Some(configured)).await.map_err(ApiError::internal)?;
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "instance `{id}` was not deleted: {pending} message(s) could not be delivered ({}); it keeps running. \
                     Try again later, or delete with ?outbox=drop to drop them",
                    stopped.error
                ),
            ));
        }
        if pending > 0 {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "instance `{id}` was not deleted: {pending} message(s) could not be delivered; delete with ?outbox=drop to drop them"
                ),
            ));
        }
        delivered = outcome.unwrap_or_default();
    } else {
        let (pending, dead) = blocking(move || store.undelivered(&instance)).await?;
        dropped = pending + dead;
    }
    let store = api.shared.store.clone();
    blocking(move || store.delete_api_instance(stored.id)).await?;
    drop(supervisor);
    tracing::info!(instance = %id, delivered, dropped, "instance deleted through the API");
    Ok(Json(json!({"id": stored.id, "deleted": true, "delivered": delivered, "dropped": dropped})))
}

/// The `disabled` flag of a body, or `default` when it has none.
fn disabled_flag(body: &Value, default: bool) -> Result<bool, ApiError> {
    match body.get("disabled") {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(flag)) => Ok(*flag),
        Some(other) => Err(ApiError::field("$.disabled", format!("{other} is not true or false"))),
    }
}

/// Asks Autotask whether it takes the instance's credentials: zone discovery,
/// then one cheap call (`ThresholdInformation`). A refusal names the field.
pub(crate) async fn check_credentials(configured: &ConfiguredInstance) -> Result<(), ApiError> {
    let prefix = key_prefix(&configured.instance.element_key).unwrap_or("crm.autotask");
    let field = |suffix: &str| format!("$.configuration['{prefix}.{suffix}']");
    let options = ClientOptions {
        request_timeout: Duration::from_secs(15),
        retry: RetryPolicy { max_attempts: 2, ..RetryPolicy::default() },
        ..ClientOptions::default()
    };
    let client = AutotaskClient::new(configured.instance.connection.clone(), options, ZoneCache::default())
        .map_err(|error| ApiError::field(field("server.url"), error.to_string()))?;
    let checked = async {
        client.zone().await?;
        client.threshold().await
    };
    let Err(error) = checked.await else { return Ok(()) };
    let suffix = match &error {
        SourceError::ZoneLookup { .. } => "username",
        SourceError::Unauthorized { status: 401 | 403, .. } => "password",
        SourceError::Unauthorized { .. } => {
            if configured.body["configuration"].get(format!("{prefix}.integration.code")).is_some() {
                "integration.code"
            } else {
                "username"
            }
        }
        SourceError::ServerUrl { .. } | SourceError::Transport { .. } | SourceError::ForeignOrigin { .. } => {
            "server.url"
        }
        SourceError::Http { .. } | SourceError::RateLimited { .. } | SourceError::Malformed { .. } => {
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("could not check the credentials with Autotask: {error}"),
            ));
        }
    };
    Err(ApiError::field(field(suffix), format!("Autotask did not accept the credentials: {error}")))
}

/// One warning per resource whose plugin file is not there yet.
fn add_plugin_warnings(api: &Api, configured: &ConfiguredInstance, shown: &mut Value) {
    let warnings: Vec<Value> = configured
        .instance
        .resources
        .iter()
        .filter_map(|resource| {
            let path = plugin_path(&api.shared.settings.plugin_dir, configured, &resource.name);
            (!path.exists()).then(|| {
                json!({
                    "field": format!("$.configuration['event.poller.configuration'].{}", resource.name),
                    "message": format!(
                        "resource `{}` is waiting for its plugin: {} does not exist yet; it starts polling when the file appears",
                        resource.name,
                        path.display()
                    ),
                })
            })
        })
        .collect();
    if !warnings.is_empty() {
        shown["warnings"] = Value::Array(warnings);
    }
}

/// An API instance as Cloud Elements shows one.
async fn api_view(api: &Api, stored: &StoredInstance) -> Value {
    let body = stored_body(stored);
    let id = stored.id.to_string();
    let readable = configured(&api.shared, &id, &body, stored.disabled);
    let refused = credentials_refused(api, &id).await;
    let mut shown = view(json!(stored.id), &body, stored.disabled, readable.is_ok() && !refused, stored.created_at);
    shown["token"] = Value::String(stored.token.clone());
    shown["updatedDate"] = Value::String(format_date(stored.updated_at));
    shown["readOnly"] = Value::Bool(false);
    if let Err(problems) = readable {
        shown["problem"] = Value::String(problems.to_string());
    }
    shown
}

/// A configuration file instance, shown the same way, without a token.
async fn file_view(api: &Api, configured: &ConfiguredInstance) -> Result<Value, ApiError> {
    let (store, id, name) = (api.shared.store.clone(), configured.id.clone(), configured.instance.name.clone());
    let created = blocking(move || store.instance_created_at(&id, &name, Utc::now())).await?;
    let refused = credentials_refused(api, &configured.id).await;
    let mut shown = view(json!(configured.id), &configured.body, configured.disabled, !refused, created);
    shown["readOnly"] = Value::Bool(true);
    Ok(shown)
}

/// Whether a poll of the instance found its credentials refused.
async fn credentials_refused(api: &Api, id: &str) -> bool {
    let supervisor = api.supervisor.lock().await;
    supervisor
        .resources(id)
        .unwrap_or_default()
        .iter()
        .any(|resource| resource.status().last_poll.is_some_and(|last| last.credentials_refused))
}

fn view(id: Value, body: &Value, disabled: bool, valid: bool, created: DateTime<Utc>) -> Value {
    let configuration = masked_configuration(body);
    let events_enabled = match configuration.get("event.notification.enabled") {
        Some(Value::Bool(flag)) => *flag,
        Some(Value::String(text)) => text.eq_ignore_ascii_case("true"),
        _ => false,
    };
    json!({
        "id": id,
        "name": body["name"],
        "element": {"key": body["element"]["key"]},
        "tags": body.get("tags").cloned().unwrap_or_else(|| json!([])),
        "eventsEnabled": events_enabled,
        "valid": valid,
        "disabled": disabled,
        "configuration": configuration,
        "createdDate": format_date(created),
    })
}

/// Dates as Cloud Elements writes them: ISO 8601, UTC, milliseconds.
pub(crate) fn format_date(instant: DateTime<Utc>) -> String {
    instant.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}
