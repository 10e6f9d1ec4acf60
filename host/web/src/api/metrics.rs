//! The figures the charts are drawn from: an instance's deliveries, polls and
//! Autotask requests per minute, and the plugins' calls per version.

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use engine::manage::Caller;
use engine::manage::metrics::{InstanceMetrics, PluginMetrics};
use serde::Deserialize;

use super::Api;
use super::error::ApiError;

/// `?hours=N`, read as text so that a bad value is answered with the
/// API's own error naming `?hours`, not the extractor's.
#[derive(Deserialize)]
pub(super) struct HoursQuery {
    hours: Option<String>,
}

pub(super) async fn instance(
    State(api): State<Api>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<HoursQuery>,
) -> Result<Json<InstanceMetrics>, ApiError> {
    Ok(Json(api.management.instance_metrics(&id, &caller, query.hours.as_deref()).await?))
}

pub(super) async fn plugins(
    State(api): State<Api>,
    Query(query): Query<HoursQuery>,
) -> Result<Json<PluginMetrics>, ApiError> {
    Ok(Json(api.management.plugin_metrics(query.hours.as_deref())?))
}
