//! `[telemetry]`: where the service sends its traces, if anywhere.
//!
//! ```toml
//! [telemetry]
//! otlp_endpoint = "http://127.0.0.1:4318"   # an OTLP/HTTP collector
//! service_name = "autotask-events"          # the default
//! ```

use serde::Deserialize;

use super::problems::Collector;

/// The service name traces carry unless `service_name` says.
pub const DEFAULT_SERVICE_NAME: &str = "autotask-events";

/// Traces go to an OTLP/HTTP collector (`[telemetry]` with `otlp_endpoint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetrySettings {
    /// The collector's base URL, without a trailing `/`: spans are posted to
    /// [`TelemetrySettings::traces_url`].
    pub otlp_endpoint: String,
    /// `service.name` of every span.
    pub service_name: String,
}

impl TelemetrySettings {
    /// Where spans are posted: OTLP/HTTP's path for traces under the endpoint.
    pub fn traces_url(&self) -> String {
        format!("{}/v1/traces", self.otlp_endpoint)
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTelemetry {
    otlp_endpoint: Option<String>,
    service_name: Option<String>,
}

/// `[telemetry]`, checked: `None` (no traces) without an `otlp_endpoint`.
pub(super) fn read_telemetry(raw: &RawTelemetry, problems: &mut Collector<'_>) -> Option<TelemetrySettings> {
    let service_name = match raw.service_name.as_deref().map(str::trim) {
        None => DEFAULT_SERVICE_NAME.to_owned(),
        Some(name) if !name.is_empty() && name.len() <= 100 && !name.chars().any(char::is_control) => name.to_owned(),
        Some(_) => {
            problems.add("telemetry.service_name", "must be a name of 1 to 100 printable characters");
            return None;
        }
    };
    let Some(endpoint) = raw.otlp_endpoint.as_deref().map(str::trim) else {
        if raw.service_name.is_some() {
            problems.add("telemetry.otlp_endpoint", "missing: `service_name` names the traces sent there");
        }
        return None;
    };
    match read_endpoint(endpoint) {
        Ok(otlp_endpoint) => Some(TelemetrySettings { otlp_endpoint, service_name }),
        Err(message) => {
            problems.add("telemetry.otlp_endpoint", message);
            None
        }
    }
}

/// An http(s) URL without query, fragment or credentials (a collector that
/// needs them takes them in headers: `OTEL_EXPORTER_OTLP_HEADERS`).
fn read_endpoint(endpoint: &str) -> Result<String, String> {
    let not_http = || format!("`{endpoint}` must be an http or https URL, as `http://127.0.0.1:4318`");
    let url = reqwest::Url::parse(endpoint).map_err(|error| format!("{} ({error})", not_http()))?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err(not_http());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("`{endpoint}` must have no query or fragment: spans go to `<endpoint>/v1/traces`"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Not echoed: the URL holds a password.
        return Err("must not hold credentials: give them in OTEL_EXPORTER_OTLP_HEADERS".into());
    }
    Ok(endpoint.trim_end_matches('/').to_owned())
}
