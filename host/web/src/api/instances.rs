//! `POST/GET /instances`, `GET/PATCH/DELETE /instances/{id}`.

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use engine::manage::views::{Deleted, InstanceView};
use engine::manage::{Caller, OutboxPolicy};
use serde::Deserialize;

use super::Api;
use super::error::{ApiError, JsonBody};

pub(super) async fn create(
    State(api): State<Api>,
    Extension(caller): Extension<Caller>,
    JsonBody(posted): JsonBody,
) -> Result<Json<InstanceView>, ApiError> {
    Ok(Json(api.management.create(&caller, &posted).await?))
}

pub(super) async fn list(
    State(api): State<Api>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<InstanceView>>, ApiError> {
    Ok(Json(api.management.list(&caller).await?))
}

pub(super) async fn get(
    State(api): State<Api>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<InstanceView>, ApiError> {
    Ok(Json(api.management.get(&id, &caller).await?))
}

pub(super) async fn patch(
    State(api): State<Api>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
    JsonBody(patch): JsonBody,
) -> Result<Json<InstanceView>, ApiError> {
    Ok(Json(api.management.patch(&id, &caller, &patch).await?))
}

/// `?outbox=flush` (the default) or `?outbox=drop`.
#[derive(Deserialize)]
pub(super) struct DeleteQuery {
    outbox: Option<String>,
}

pub(super) async fn delete(
    State(api): State<Api>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<DeleteQuery>,
) -> Result<Json<Deleted>, ApiError> {
    let outbox = OutboxPolicy::parse(query.outbox.as_deref())?;
    Ok(Json(api.management.delete(&id, &caller, outbox).await?))
}
