//! The trace exporter: the engine's spans ([`engine::telemetry`]) bridged
//! from `tracing` to OpenTelemetry, batched, and posted as OTLP/HTTP protobuf
//! to `<otlp_endpoint>/v1/traces`.
//!
//! The batches are sent from the SDK's own thread with a blocking HTTP
//! client: a slow or absent collector never holds up a poll or a delivery
//! (spans beyond the SDK's queue are dropped). Failed exports are logged at
//! most once a minute, with how many failed since the last such line.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use opentelemetry::trace::TracerProvider;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tracing::Level;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;

use engine::config::TelemetrySettings;

/// How long one export may take: the OTLP exporters' usual default.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The least time between two log lines about failed exports.
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// The running exporter; [`Traces::shutdown`] sends what is still waiting.
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Sends the spans still waiting, then stops exporting. Blocks (for at
    /// most a few seconds with the collector down): call it off the runtime.
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!("the last traces were not all exported: {error}");
        }
    }
}

/// The exporter for `telemetry`, and the layer that hands it the engine's spans.
pub(super) fn start(telemetry: &TelemetrySettings) -> Result<(Traces, super::Output), String> {
    engine::use_ring_for_tls();
    let url = telemetry.traces_url();
    let client = reqwest::blocking::Client::builder()
        .timeout(EXPORT_TIMEOUT)
        .user_agent(concat!("autotask-events/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| format!("telemetry: cannot build the HTTP client: {error}"))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url.clone())
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|error| format!("telemetry.otlp_endpoint: {error}"))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(Reporting::new(exporter, url))
        .with_resource(Resource::builder().with_service_name(telemetry.service_name.clone()).build())
        .build();
    let tracer = provider.tracer("autotask-events");
    // The engine's trace spans only: no log events, no other crate's spans.
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_threads(false)
        .with_filter(Targets::new().with_target(engine::telemetry::TARGET, Level::INFO));
    Ok((Traces { provider }, layer.boxed()))
}

/// The OTLP exporter, logging its failures without flooding the log.
#[derive(Debug)]
struct Reporting {
    inner: opentelemetry_otlp::SpanExporter,
    url: String,
    failures: Mutex<Failures>,
}

#[derive(Debug, Default)]
struct Failures {
    last_reported: Option<Instant>,
    unreported: u64,
}

impl Reporting {
    fn new(inner: opentelemetry_otlp::SpanExporter, url: String) -> Self {
        Reporting { inner, url, failures: Mutex::default() }
    }

    fn failed(&self, error: &dyn std::fmt::Display) {
        let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        failures.unreported += 1;
        if failures.last_reported.is_some_and(|at| at.elapsed() < REPORT_EVERY) {
            return;
        }
        let count = std::mem::take(&mut failures.unreported);
        failures.last_reported = Some(Instant::now());
        drop(failures);
        tracing::warn!(
            "traces not exported to {} ({count} failed export(s) since the last report; polling and delivery go on): {error}",
            self.url
        );
    }
}

impl SpanExporter for Reporting {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let exported = self.inner.export(batch).await;
        if let Err(error) = &exported {
            self.failed(error);
        }
        exported
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
