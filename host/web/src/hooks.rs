//! Autotask's webhook callouts: `POST /hooks/autotask/{instance}/{resource}`
//! and its `/deactivated` notice. Open like `/health` (Autotask sends no
//! credentials), and checked instead by the `X-Hook-Signature` each callout
//! carries: only a callout signed with the resource's webhook secret is taken.
//! It is answered 200 once stored, 401 when unsigned or forged, 404 when no
//! resource here has push on by that name, and 503 when it cannot be stored
//! yet (Autotask sends it again).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use engine::manage::{HookError, Management};
use serde_json::json;

/// A callout carries one record's changed fields: far below this.
const MAX_CALLOUT_BYTES: usize = 256 * 1024;

/// The callout routes, over `management`.
pub fn router(management: Management) -> Router {
    Router::new()
        .route("/hooks/autotask/{instance}/{resource}", post(callout))
        .route("/hooks/autotask/{instance}/{resource}/deactivated", post(deactivated))
        .layer(DefaultBodyLimit::max(MAX_CALLOUT_BYTES))
        .with_state(management)
}

async fn callout(
    State(management): State<Management>,
    Path((instance, resource)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let signature = headers.get("X-Hook-Signature").and_then(|value| value.to_str().ok());
    answer(management.push_callout(&instance, &resource, signature, &body).await)
}

async fn deactivated(
    State(management): State<Management>,
    Path((instance, resource)): Path<(String, String)>,
) -> impl IntoResponse {
    answer(management.push_deactivated(&instance, &resource))
}

fn answer(outcome: Result<(), HookError>) -> impl IntoResponse {
    match outcome {
        Ok(()) => (StatusCode::OK, axum::Json(json!({"status": "stored"}))),
        Err(error) => {
            let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
            (status, axum::Json(json!({"message": error.to_string()})))
        }
    }
}
