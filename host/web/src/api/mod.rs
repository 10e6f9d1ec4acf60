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
mod bodies;
mod document;
pub mod error;
mod instances;
mod metrics;
mod plugins;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::{Extension, Router};
use engine::config::ApiSettings;
use engine::manage::Management;
use utoipa::OpenApi as _;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

pub use document::SECURITY_SCHEME;
use error::{ApiError, MAX_BODY_BYTES};
/// The largest plugin an upload (or the console's playground) takes.
pub use plugins::MAX_PLUGIN_BYTES;

/// What the handlers share. The users and secrets are not among them: they
/// are read from [`Management::api_settings`] on every call, as reloaded.
#[derive(Clone)]
struct Api {
    management: Management,
}

/// Every operation behind the secrets, each routed with its documentation:
/// adding one is a `routes!` line here and a `#[utoipa::path]` on its handler.
fn operations() -> OpenApiRouter<Api> {
    OpenApiRouter::with_openapi(document::ApiDoc::openapi())
        .routes(routes!(instances::create, instances::list))
        .routes(routes!(instances::get, instances::patch, instances::delete))
        .routes(routes!(activity::events))
        .routes(routes!(activity::retry))
        .routes(routes!(activity::redeliver))
        .routes(routes!(activity::event))
        .routes(routes!(activity::redeliver_one))
        .routes(routes!(activity::poll))
        .routes(routes!(activity::resources))
        .routes(routes!(metrics::instance))
        .routes(routes!(activity::plugins))
        .routes(routes!(activity::reloads))
        .routes(routes!(metrics::plugins))
        // A plugin is larger than any JSON body: its own limit.
        .routes(routes!(plugins::upload).layer(DefaultBodyLimit::max(plugins::MAX_PLUGIN_BYTES)))
        .routes(routes!(plugins::versions))
        .routes(routes!(plugins::activate))
        .routes(routes!(plugins::try_versions).layer(DefaultBodyLimit::max(plugins::MAX_TRY_BYTES)))
}

/// The operations open to anyone: the document itself.
fn open_operations() -> OpenApiRouter<Api> {
    OpenApiRouter::new().routes(routes!(document::serve))
}

/// The API's OpenAPI document, as served under `prefix`.
pub fn openapi(prefix: &str) -> utoipa::openapi::OpenApi {
    let (_, document) = operations().merge(open_operations()).split_for_parts();
    document::finish(document, prefix)
}

/// The API's routes under the configured prefix: every one behind the
/// secrets, except `/openapi.json`.
pub fn router(management: Management, settings: &ApiSettings) -> Router {
    let prefix = settings.prefix.clone();
    let api = Api { management };
    let served = document::served_text(&openapi(&prefix));
    let (guarded, _) = operations().split_for_parts();
    let (open, _) = open_operations().split_for_parts();
    let guarded = guarded
        .fallback(|| async { ApiError::not_found("such API endpoint") })
        .layer(axum::middleware::from_fn_with_state(api.clone(), auth::require))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    let routes = open.layer(Extension(document::Served(Arc::from(served)))).merge(guarded).with_state(api);
    if prefix.is_empty() { routes } else { Router::new().nest(&prefix, routes) }
}
