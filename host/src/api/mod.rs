//! The management API, compatible with Cloud Elements' instances API: the
//! same bodies, the same `Authorization` header, the same base path
//! (`/elements/api-v2` unless configured), so moving over is a change of
//! base URL. Instances created here live in the state database and survive
//! restarts; the configuration file's instances are listed too, read-only.
//!
//! Handlers are thin: they check the call, then use the same store and
//! supervisor the rest of the service uses.

pub(crate) mod activity;
pub(crate) mod auth;
pub(crate) mod body;
pub(crate) mod error;
pub(crate) mod instances;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::config::{ConfiguredInstance, read_api_instance};
use crate::service::poll::blocking;
use crate::service::{Shared, StartError, Supervisor};
use crate::store::StoredInstance;

pub use body::new_token;
use error::{ApiError, MAX_BODY_BYTES};

/// What the handlers share.
pub struct Api {
    pub(crate) shared: Arc<Shared>,
    pub(crate) supervisor: Arc<Mutex<Supervisor>>,
}

impl Api {
    pub(crate) fn new(shared: Arc<Shared>, supervisor: Arc<Mutex<Supervisor>>) -> Arc<Api> {
        Arc::new(Api { shared, supervisor })
    }
}

/// The API's routes, under the configured prefix, every one behind the secrets.
pub(crate) fn router(api: Arc<Api>) -> Router {
    let prefix = api.shared.settings.api.prefix.clone();
    let routes = Router::new()
        .route("/instances", post(instances::create).get(instances::list))
        .route("/instances/{id}", get(instances::get).patch(instances::patch).delete(instances::delete))
        .route("/instances/{id}/events", get(activity::events))
        .route("/instances/{id}/events/retry", post(activity::retry))
        .route("/instances/{id}/poll", post(activity::poll))
        .route("/instances/{id}/resources", get(activity::resources))
        .route("/plugins", get(activity::plugins))
        .route("/plugins/reloads", get(activity::reloads))
        .fallback(|| async { ApiError::not_found("such API endpoint") })
        .layer(axum::middleware::from_fn_with_state(api.clone(), auth::require))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(api);
    if prefix.is_empty() { routes } else { Router::new().nest(&prefix, routes) }
}

/// Starts the instances created through the API in earlier runs. One that
/// no longer reads (say, the host lost its integration code) is logged and
/// left stopped; the others start.
pub(crate) async fn start_stored_instances(
    shared: &Arc<Shared>,
    supervisor: &Mutex<Supervisor>,
) -> Result<(), StartError> {
    let store = shared.store.clone();
    for stored in blocking(move || store.api_instances()).await? {
        let id = stored.id.to_string();
        match configured_stored(shared, &stored) {
            Ok(configured) => {
                if let Err(error) = supervisor.lock().await.apply_api(&id, Some(configured)).await {
                    tracing::error!(instance = %id, "the instance created through the API cannot start: {error}");
                }
            }
            Err(problems) => {
                tracing::error!(instance = %id, "the instance created through the API no longer reads, not started: {problems}")
            }
        }
    }
    Ok(())
}

/// A body read as the service runs it.
pub(crate) fn configured(
    shared: &Shared,
    id: &str,
    body: &Value,
    disabled: bool,
) -> Result<ConfiguredInstance, crate::config::Problems> {
    let code = shared.settings.integration_code.as_ref().map(|code| code.expose());
    read_api_instance(id.to_owned(), body, disabled, code)
}

/// A stored instance read as the service runs it.
fn configured_stored(shared: &Shared, stored: &StoredInstance) -> Result<ConfiguredInstance, crate::config::Problems> {
    configured(shared, &stored.id.to_string(), &stored_body(stored), stored.disabled)
}

/// The body a stored instance was created with (the store only holds JSON the API wrote).
pub(crate) fn stored_body(stored: &StoredInstance) -> Value {
    serde_json::from_str(&stored.body).unwrap_or(Value::Null)
}
