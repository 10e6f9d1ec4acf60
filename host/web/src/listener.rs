//! The management listener: `GET /health`, `GET /metrics` (Prometheus text)
//! and `GET /plugins` (every plugin file, its version and how it is doing),
//! open for probes and scrapers; Autotask's webhook callouts under
//! `/hooks/autotask/` (see [`crate::hooks`]), checked by their signatures; the management API under its prefix (see
//! [`crate::api`]), behind its secrets; and the web console at `/` (see
//! [`crate::console`]), behind a sign-in with the same secrets. Over TLS when configured.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use engine::config::ServerSettings;
use engine::manage::Management;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Every route the listener serves, over `management`.
pub fn router(management: Management, settings: &ServerSettings) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/plugins", get(plugins))
        .with_state(management.clone())
        .merge(crate::hooks::router(management.clone()))
        .merge(crate::api::router(management.clone(), &settings.api))
        .merge(crate::console::router(management, settings.tls.is_some()))
}

/// Serves `router` until `shutdown`, over TLS when `tls` is given.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: CancellationToken,
) {
    if let Some(tls) = tls {
        return crate::tls::serve(listener, router, tls, shutdown).await;
    }
    let stopped = async move { shutdown.cancelled().await };
    if let Err(error) = axum::serve(listener, router).with_graceful_shutdown(stopped).await {
        tracing::error!("the management listener stopped: {error}");
    }
}

/// 200 when the state store answers, 503 otherwise. In a fleet, also the
/// leases this host holds (which work it does now).
async fn health(State(management): State<Management>) -> impl IntoResponse {
    let (status, mut body) = match management.health().await {
        Ok(depth) => (StatusCode::OK, json!({"status": "ok", "outboxDepth": depth})),
        Err(message) => (StatusCode::SERVICE_UNAVAILABLE, json!({"status": "error", "message": message})),
    };
    if let Some(fleet) = management.fleet_leases() {
        let leases: Vec<_> = fleet
            .leases
            .iter()
            .map(|lease| json!({"key": lease.key, "token": lease.token, "expiresInMs": lease.expires_in.as_millis() as u64}))
            .collect();
        body["fleet"] = json!({"host": fleet.host, "leaseTtlSeconds": fleet.lease_ttl.as_secs_f64(), "leases": leases});
    }
    (status, axum::Json(body))
}

async fn metrics(State(management): State<Management>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        management.metrics_text().await,
    )
}

async fn plugins(State(management): State<Management>) -> impl IntoResponse {
    axum::Json(management.plugins())
}
