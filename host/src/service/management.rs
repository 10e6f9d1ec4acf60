//! The management listener: `GET /health`, `GET /metrics` (Prometheus text)
//! and `GET /plugins` (every plugin file, its version and how it is doing),
//! open for probes and scrapers; and the management API under its prefix
//! (see [`crate::api`]), behind its secrets; and the web console at `/` (see
//! [`crate::console`]), behind a sign-in with the same secrets. Over TLS when configured.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::{Shared, Supervisor};

/// Every route the listener serves.
pub(crate) fn router(shared: Arc<Shared>, supervisor: Arc<Mutex<Supervisor>>) -> Router {
    let api = crate::api::Api::new(shared.clone(), supervisor);
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/plugins", get(plugins))
        .with_state(shared)
        .merge(crate::api::router(api.clone()))
        .merge(crate::console::router(api))
}

/// Serves `router` until `shutdown`, over TLS when `tls` is given.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: CancellationToken,
) {
    if let Some(tls) = tls {
        return super::tls::serve(listener, router, tls, shutdown).await;
    }
    let stopped = async move { shutdown.cancelled().await };
    if let Err(error) = axum::serve(listener, router).with_graceful_shutdown(stopped).await {
        tracing::error!("the management listener stopped: {error}");
    }
}

/// 200 when the state store answers, 503 otherwise.
async fn health(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let store = shared.store.clone();
    match tokio::task::spawn_blocking(move || store.outbox_depth()).await {
        Ok(Ok(depth)) => (StatusCode::OK, axum::Json(json!({"status": "ok", "outboxDepth": depth}))),
        Ok(Err(error)) => {
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"status": "error", "message": error.to_string()})))
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"status": "error"}))),
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let store = shared.store.clone();
    if let Ok(Ok(depth)) = tokio::task::spawn_blocking(move || store.outbox_depth()).await {
        shared.metrics.outbox_depth.set(depth as i64);
    }
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], shared.metrics.render())
}

async fn plugins(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    axum::Json(shared.plugins.list())
}
