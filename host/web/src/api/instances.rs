//! `POST/GET /instances`, `GET/PATCH/DELETE /instances/{id}`.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use engine::manage::views::{Deleted, InstanceView};
use engine::manage::{Caller, OutboxPolicy, Page};
use serde::Deserialize;

use super::Api;
use super::bodies::InstanceBody;
use super::error::{ApiError, ApiQuery, JsonBody};

/// Before it answers, Autotask is asked whether it takes the credentials, and
/// every poll URL and date format is checked; then the instance is stored and
/// polling starts.
#[utoipa::path(
    post, path = "/instances", tag = "instances", operation_id = "createInstance",
    summary = "Create an instance from a Cloud Elements body",
    request_body(content = InstanceBody, description = "A Cloud Elements instance body"),
    responses(
        (status = 200, description = "The instance, with its `token`", body = InstanceView),
        (status = 400, description = "A refused body, naming the field (`$.configuration['crm.autotask.password']`)", body = ApiError),
        (status = 401, description = "Missing or wrong credentials", body = ApiError),
        (status = 413, description = "A body over 1 MiB", body = ApiError),
        (status = 502, description = "Autotask could not be asked about the credentials", body = ApiError),
    ),
    security(("authorization" = [])),
)]
pub(super) async fn create(
    State(api): State<Api>,
    Extension(caller): Extension<Caller>,
    JsonBody(posted): JsonBody,
) -> Result<Json<InstanceView>, ApiError> {
    Ok(Json(api.management.create(&caller, &posted).await?))
}

/// `?pageSize=N` and `?nextPage=TOKEN`: one page of the list (all of it without them).
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Answer at most this many (1 to 1000), and the next page's token in `Elements-Next-Page-Token`.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    page_size: Option<String>,
    /// The token of the page before's `Elements-Next-Page-Token` header.
    next_page: Option<String>,
}

/// The header that carries the next page's token, as Cloud Elements names it.
const NEXT_PAGE_TOKEN: &str = "elements-next-page-token";

/// The configuration file's instances (`"readOnly": true`), then the API's by id.
#[utoipa::path(
    get, path = "/instances", tag = "instances", operation_id = "listInstances",
    summary = "List the instances, whole or in pages",
    params(ListQuery),
    responses(
        (status = 200, description = "The instances the caller may see", body = Vec<InstanceView>,
         headers(("Elements-Next-Page-Token" = String, description = "The next page's token, when more follow"))),
        (status = 400, description = "A `pageSize` out of range or a token this service did not give", body = ApiError),
        (status = 401, description = "Missing or wrong credentials", body = ApiError),
    ),
    security(("authorization" = [])),
)]
pub(super) async fn list(
    State(api): State<Api>,
    Extension(caller): Extension<Caller>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let page = Page::parse(query.page_size.as_deref(), query.next_page.as_deref())?;
    let (views, next) = api.management.list_page(&caller, page).await?;
    let mut response = Json(views).into_response();
    if let Some(token) = next.map(|next| next.token()).and_then(|token| HeaderValue::from_str(&token).ok()) {
        response.headers_mut().insert(NEXT_PAGE_TOKEN, token);
    }
    Ok(response)
}

#[utoipa::path(
    get, path = "/instances/{id}", tag = "instances", operation_id = "getInstance",
    summary = "One instance",
    params(("id" = String, Path, description = "The instance's id: a number, or a configuration file instance's text id", example = "1")),
    responses(
        (status = 200, description = "The instance", body = InstanceView),
        (status = 401, description = "Missing or wrong credentials, or an `Element` token not the instance's", body = ApiError),
        (status = 404, description = "No such instance (or another user's)", body = ApiError),
    ),
    security(("authorization" = [])),
)]
pub(super) async fn get(
    State(api): State<Api>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<InstanceView>, ApiError> {
    Ok(Json(api.management.get(&id, &caller).await?))
}

/// A JSON merge patch (RFC 7396): objects merge key by key, `null` removes a
/// key, a secret sent as `********` keeps its value. The instance restarts; its
/// resources go on from their watermarks.
#[utoipa::path(
    patch, path = "/instances/{id}", tag = "instances", operation_id = "patchInstance",
    summary = "Change any part of an instance",
    params(("id" = String, Path, description = "The instance's id", example = "1")),
    request_body(content = Object, description = "Any part of an instance body (`InstanceBody`), merged into the stored one"),
    responses(
        (status = 200, description = "The instance as changed", body = InstanceView),
        (status = 400, description = "A refused body, naming the field", body = ApiError),
        (status = 401, description = "Missing or wrong credentials, or an `Element` token not the instance's", body = ApiError),
        (status = 403, description = "A configuration file instance (change it in the file)", body = ApiError),
        (status = 404, description = "No such instance", body = ApiError),
        (status = 409, description = "The changed instance could not take over", body = ApiError),
        (status = 413, description = "A body over 1 MiB", body = ApiError),
        (status = 502, description = "Autotask could not be asked about changed credentials", body = ApiError),
    ),
    security(("authorization" = [])),
)]
pub(super) async fn patch(
    State(api): State<Api>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
    JsonBody(patch): JsonBody,
) -> Result<Json<InstanceView>, ApiError> {
    Ok(Json(api.management.patch(&id, &caller, &patch).await?))
}

/// `?outbox=flush` (the default) or `?outbox=drop`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct DeleteQuery {
    #[param(schema_with = outbox_parameter)]
    outbox: Option<String>,
}

fn outbox_parameter() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["flush", "drop"]))
        .description(Some("`flush` (the default) delivers what is undelivered first; `drop` drops it"))
        .build()
}

#[utoipa::path(
    delete, path = "/instances/{id}", tag = "instances", operation_id = "deleteInstance",
    summary = "Stop and remove an instance",
    params(("id" = String, Path, description = "The instance's id", example = "1"), DeleteQuery),
    responses(
        (status = 200, description = "What the deletion did", body = Deleted),
        (status = 400, description = "An `outbox` other than `flush` or `drop`", body = ApiError),
        (status = 401, description = "Missing or wrong credentials, or an `Element` token not the instance's", body = ApiError),
        (status = 403, description = "A configuration file instance", body = ApiError),
        (status = 404, description = "No such instance", body = ApiError),
        (status = 409, description = "`outbox=flush` and the callback did not take what was undelivered: the instance keeps running", body = ApiError),
    ),
    security(("authorization" = [])),
)]
pub(super) async fn delete(
    State(api): State<Api>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
    ApiQuery(query): ApiQuery<DeleteQuery>,
) -> Result<Json<Deleted>, ApiError> {
    let outbox = OutboxPolicy::parse(query.outbox.as_deref())?;
    Ok(Json(api.management.delete(&id, &caller, outbox).await?))
}
