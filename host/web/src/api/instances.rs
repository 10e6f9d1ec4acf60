//! `POST/GET /instances`, `GET/PATCH/DELETE /instances/{id}`.

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use engine::manage::views::{Deleted, InstanceView};
use engine::manage::{Caller, OutboxPolicy, Page};
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

/// `?pageSize=N` and `?nextPage=TOKEN`: one page of the list (all of it without them).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListQuery {
    page_size: Option<String>,
    next_page: Option<String>,
}

/// The header that carries the next page's token, as Cloud Elements names it.
const NEXT_PAGE_TOKEN: &str = "elements-next-page-token";

pub(super) async fn list(
    State(api): State<Api>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let page = Page::parse(query.page_size.as_deref(), query.next_page.as_deref())?;
    let (views, next) = api.management.list_page(&caller, page).await?;
    let mut response = Json(views).into_response();
    if let Some(token) = next.map(|next| next.token()).and_then(|token| HeaderValue::from_str(&token).ok()) {
        response.headers_mut().insert(NEXT_PAGE_TOKEN, token);
    }
    Ok(response)
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
