//! The management API, compatible with Cloud Elements' instances API: the
//! same bodies, the same `Authorization` header, the same base path
//! (`/elements/api-v2` unless configured), so moving over is a change of
//! base URL. Instances created here live in the state database and survive
//! restarts; the configuration file's instances are listed too, read-only.
//!
//! Handlers are thin: they check the call, ask the engine's service layer
//! ([`Management`]) and serialize its answer.

mod activity;
pub mod auth;
pub mod error;
mod instances;
mod metrics;
mod plugins;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use engine::config::ApiSettings;
use engine::manage::Management;

use error::{ApiError, MAX_BODY_BYTES};
/// The largest plugin an upload (or the console's playground) takes.
pub use plugins::MAX_PLUGIN_BYTES;

/// What the handlers share. The users and secrets are not among them: they
/// are read from [`Management::api_settings`] on every call, as reloaded.
#[derive(Clone)]
struct Api {
    management: Management,
}

/// The API's routes, under the configured prefix, every one behind the secrets.
pub fn router(management: Management, settings: &ApiSettings) -> Router {
    let prefix = settings.prefix.clone();
    let api = Api { management };
    let routes = Router::new()
        .route("/instances", post(instances::create).get(instances::list))
        .route("/instances/{id}", get(instances::get).patch(instances::patch).delete(instances::delete))
        .route("/instances/{id}/events", get(activity::events))
        .route("/instances/{id}/events/retry", post(activity::retry))
        .route("/instances/{id}/events/redeliver", post(activity::redeliver))
        .route("/instances/{id}/events/{message}", get(activity::event))
        .route("/instances/{id}/events/{message}/redeliver", post(activity::redeliver_one))
        .route("/instances/{id}/poll", post(activity::poll))
        .route("/instances/{id}/resources", get(activity::resources))
        .route("/instances/{id}/metrics", get(metrics::instance))
        .route("/plugins", get(activity::plugins))
        .route("/plugins/reloads", get(activity::reloads))
        .route("/plugins/metrics", get(metrics::plugins))
        // A plugin is larger than any JSON body: its own limit.
        .route("/plugins/{name}", put(plugins::upload).layer(DefaultBodyLimit::max(plugins::MAX_PLUGIN_BYTES)))
        .route("/plugins/{name}/versions", get(plugins::versions))
        .route("/plugins/{name}/versions/{version}/activate", post(plugins::activate))
        .route("/plugins/{name}/try", post(plugins::try_versions).layer(DefaultBodyLimit::max(plugins::MAX_TRY_BYTES)))
        .fallback(|| async { ApiError::not_found("such API endpoint") })
        .layer(axum::middleware::from_fn_with_state(api.clone(), auth::require))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(api);
    if prefix.is_empty() { routes } else { Router::new().nest(&prefix, routes) }
}
