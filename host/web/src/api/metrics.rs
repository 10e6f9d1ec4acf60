//! The figures the charts are drawn from: an instance's deliveries, polls and
//! Autotask requests per minute, and the plugins' calls per version.

use axum::Json;
use axum::extract::{Extension, Path, State};
use engine::manage::Caller;
use engine::manage::metrics::{InstanceMetrics, PluginMetrics};
use serde::Deserialize;

use super::Api;
use super::error::{ApiError, ApiQuery};

/// `?hours=N`, read as text so that a bad value is answered with the
/// API's own error naming `?hours`, not the extractor's.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct HoursQuery {
    /// The last this many hours, 1 to 24 (24 when absent).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 24)]
    hours: Option<String>,
}

/// Deliveries from the state database (every host's); polls and Autotask
/// requests from this host's memory.
#[utoipa::path(
    get, path = "/instances/{id}/metrics", tag = "polling", operation_id = "getInstanceMetrics",
    summary = "An instance's deliveries, latency, polls and Autotask requests per minute",
    params(("id" = String, Path, description = "The instance's id", example = "1"), HoursQuery),
    responses(
        (status = 200, description = "The figures over the last hours, oldest minute first", body = InstanceMetrics),
        (status = 400, description = "`hours` that is not a whole number from 1 to 24 (`?hours`)", body = ApiError),
        (status = 401, description = "Missing or wrong credentials, or an `Element` token not the instance's", body = ApiError),
        (status = 404, description = "No such instance", body = ApiError),
    ),
    security(("authorization" = [])),
)]
pub(super) async fn instance(
    State(api): State<Api>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
    ApiQuery(query): ApiQuery<HoursQuery>,
) -> Result<Json<InstanceMetrics>, ApiError> {
    Ok(Json(api.management.instance_metrics(&id, &caller, query.hours.as_deref()).await?))
}

/// This host's calls of each plugin version since it started (24 hours at most).
#[utoipa::path(
    get, path = "/plugins/metrics", tag = "plugins", operation_id = "getPluginMetrics",
    summary = "Each plugin version's calls and mean call time per minute",
    params(HoursQuery),
    responses(
        (status = 200, description = "By plugin file, then version", body = PluginMetrics),
        (status = 400, description = "`hours` that is not a whole number from 1 to 24 (`?hours`)", body = ApiError),
        (status = 401, description = "Missing or wrong credentials", body = ApiError),
    ),
    security(("authorization" = [])),
)]
pub(super) async fn plugins(
    State(api): State<Api>,
    ApiQuery(query): ApiQuery<HoursQuery>,
) -> Result<Json<PluginMetrics>, ApiError> {
    Ok(Json(api.management.plugin_metrics(query.hours.as_deref())?))
}
