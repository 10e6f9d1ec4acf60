//! `PUT /plugins/{name}`, `GET /plugins/{name}/versions`,
//! `POST /plugins/{name}/versions/{version}/activate` and
//! `POST /plugins/{name}/try`: plugins uploaded through the API, with their
//! versions, and two versions compared over records before one serves. The
//! body of a `PUT` is the plugin's bytes, as they would be written into the
//! plugin directory.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, FromRequest, Path, Request, State};
use axum::http::StatusCode;
use engine::manage::Caller;
use engine::manage::PluginTryView;
use engine::manage::views::PluginVersionView;
use serde_json::Value;

use super::Api;
use super::bodies::TryBody as TryRequest;
use super::error::ApiError;

/// Uploaded plugins larger than this are refused with 413: far above any
/// mapping plugin (a JavaScript component is ~12 MiB), and a bound on what one
/// call makes the service hold, check and store.
pub const MAX_PLUGIN_BYTES: usize = 64 << 20;

/// The largest `try` body: a plugin of [`MAX_PLUGIN_BYTES`] in base64, and the records.
pub const MAX_TRY_BYTES: usize = MAX_PLUGIN_BYTES / 3 * 4 + (8 << 20);

/// The request's body, `what` past `limit` bytes (the route's body limit) being a 413 that says so.
async fn body_within<S: Send + Sync>(request: Request, state: &S, what: &str, limit: usize) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("{what} is larger than {} MiB", limit >> 20))
        } else {
            ApiError::new(rejection.status(), rejection.body_text())
        }
    })
}

/// A plugin's bytes: too large is 413.
pub(super) struct PluginBody(Vec<u8>);

impl<S: Send + Sync> FromRequest<S> for PluginBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_within(request, state, "the plugin", MAX_PLUGIN_BYTES).await?;
        Ok(PluginBody(bytes.to_vec()))
    }
}

/// 201 with the new version, or 200 when the bytes were a version already (now active again).
#[utoipa::path(
    put, path = "/plugins/{name}", tag = "plugins", operation_id = "uploadPlugin",
    summary = "Upload a plugin: checked, stored as a new version, made active",
    description = "Checked as a file dropped into the plugin directory is (compiled, then tried on \
                   an empty batch and on the last records its resources mapped). Organization admins only.",
    params(("name" = String, Path, description = "The plugin file name: `incidents.wasm`, `incidents.js`, `incidents.py` (a bare `incidents` is a component)", example = "incidents.js")),
    request_body(content = String, content_type = "application/octet-stream", description = "The plugin's bytes, as they would be written into the plugin directory"),
    responses(
        (status = 201, description = "Stored as a new version, active", body = PluginVersionView, links(
            ("ActivateThisVersion" = (operation_id = "activatePluginVersion", parameters(("name" = "$request.path.name"), ("version" = "$response.body#/version")))),
            ("ListVersions" = (operation_id = "listPluginVersions", parameters(("name" = "$request.path.name")))),
        )),
        (status = 200, description = "The bytes of a stored version: that version is active again", body = PluginVersionView),
        (status = 400, description = "A bad name (`\"field\": \"name\"`) or a plugin that fails the check, with the reason", body = ApiError),
        (status = 401, description = "Missing or wrong credentials", body = ApiError),
        (status = 403, description = "Not an organization admin", body = ApiError),
        (status = 413, description = "Over 64 MiB", body = ApiError),
    ),
    security(("authorization" = [])),
)]
pub(super) async fn upload(
    State(api): State<Api>,
    Path(name): Path<String>,
    Extension(caller): Extension<Caller>,
    PluginBody(bytes): PluginBody,
) -> Result<(StatusCode, Json<PluginVersionView>), ApiError> {
    let (version, created) = api.management.upload_plugin(&caller, &name, bytes).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(version)))
}

#[utoipa::path(
    get, path = "/plugins/{name}/versions", tag = "plugins", operation_id = "listPluginVersions",
    summary = "An uploaded plugin's versions, newest first",
    params(("name" = String, Path, description = "The plugin file name", example = "incidents.js")),
    responses(
        (status = 200, description = "Its stored versions; `active` says which serves", body = Vec<PluginVersionView>, links(
            ("ActivateNewestVersion" = (operation_id = "activatePluginVersion", parameters(("name" = "$request.path.name"), ("version" = "$response.body#/0/version")))),
        )),
        (status = 400, description = "A bad name", body = ApiError),
        (status = 401, description = "Missing or wrong credentials", body = ApiError),
        (status = 404, description = "No such plugin", body = ApiError),
    ),
    security(("authorization" = [])),
)]
pub(super) async fn versions(
    State(api): State<Api>,
    Path(name): Path<String>,
) -> Result<Json<Vec<PluginVersionView>>, ApiError> {
    Ok(Json(api.management.plugin_versions(&name).await?))
}

/// Written into the plugin directory and swapped in as an upload is. Organization admins only.
#[utoipa::path(
    post, path = "/plugins/{name}/versions/{version}/activate", tag = "plugins", operation_id = "activatePluginVersion",
    summary = "Make a stored version active again (roll back or forward)",
    params(
        ("name" = String, Path, description = "The plugin file name", example = "incidents.js"),
        ("version" = i64, Path, description = "The version's number", example = 1),
    ),
    responses(
        (status = 200, description = "The version, now active", body = PluginVersionView),
        (status = 400, description = "A bad name or version", body = ApiError),
        (status = 401, description = "Missing or wrong credentials", body = ApiError),
        (status = 403, description = "Not an organization admin", body = ApiError),
        (status = 404, description = "No such version", body = ApiError),
    ),
    security(("authorization" = [])),
)]
pub(super) async fn activate(
    State(api): State<Api>,
    Path((name, version)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<PluginVersionView>, ApiError> {
    Ok(Json(api.management.activate_plugin_version(&caller, &name, &version).await?))
}

/// A `try` body: JSON, as large as a plugin in base64 may make it (413 past that).
pub(super) struct TryBody(Value);

impl<S: Send + Sync> FromRequest<S> for TryBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_within(request, state, "the body", MAX_TRY_BYTES).await?;
        serde_json::from_slice(&bytes)
            .map(TryBody)
            .map_err(|error| ApiError::field("$", format!("the body is not valid JSON: {error}")))
    }
}

/// Any user may try: nothing is stored or swapped.
#[utoipa::path(
    post, path = "/plugins/{name}/try", tag = "plugins", operation_id = "tryPlugin",
    summary = "Run two versions over records and answer what changes",
    description = "Both are compiled with the service's runtime off the polling path; nothing is stored or swapped.",
    params(("name" = String, Path, description = "The plugin file name", example = "incidents.js")),
    request_body(content = TryRequest, description = "The records, and which versions to compare"),
    responses(
        (status = 200, description = "The two sides, what differs, and each side's events per record", body = PluginTryView),
        (status = 400, description = "A refused body, naming the field (`records`, `versions`, `upload.name`, ...)", body = ApiError),
        (status = 401, description = "Missing or wrong credentials", body = ApiError),
        (status = 404, description = "No such plugin or version", body = ApiError),
        (status = 413, description = "A body larger than a 64 MiB plugin in base64 and the records", body = ApiError),
    ),
    security(("authorization" = [])),
)]
pub(super) async fn try_versions(
    State(api): State<Api>,
    Path(name): Path<String>,
    Extension(caller): Extension<Caller>,
    TryBody(body): TryBody,
) -> Result<Json<PluginTryView>, ApiError> {
    Ok(Json(api.management.try_plugin(&caller, &name, &body).await?))
}
