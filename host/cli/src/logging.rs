//! Where a command's log lines go (stderr, as text or JSON, filtered by
//! `RUST_LOG`), and for `serve` with `[telemetry]`, where its traces go.
//!
//! Each output has its own filter: the log leaves out the spans meant for
//! traces ([`engine::telemetry::TARGET`]), so its lines read the same with
//! traces on or off, and `RUST_LOG` does not decide what is traced.

mod traces;

use tracing_subscriber::filter::{EnvFilter, FilterExt, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

pub use traces::Traces;

use crate::cli::LogFormat;
use engine::config::TelemetrySettings;

/// An output with its own filter.
type Output = Box<dyn Layer<Registry> + Send + Sync>;

/// Sets up the log alone.
pub fn init(format: LogFormat) {
    let _ = tracing_subscriber::registry().with(vec![log(format)]).try_init();
}

/// Sets up the log, and traces exported to `telemetry`'s collector. The
/// returned [`Traces`] sends the spans still waiting when shut down.
pub fn init_with_traces(format: LogFormat, telemetry: &TelemetrySettings) -> Result<Traces, String> {
    let (traces, exporter) = traces::start(telemetry)?;
    let _ = tracing_subscriber::registry().with(vec![log(format), exporter]).try_init();
    Ok(traces)
}

/// The log: `RUST_LOG`'s choice (`info` by default) of everything but the
/// spans meant for traces.
fn log(format: LogFormat) -> Output {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let not_traces = filter_fn(|metadata| metadata.target() != engine::telemetry::TARGET);
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let lines = match format {
        LogFormat::Text => lines.boxed(),
        LogFormat::Json => lines.json().with_current_span(true).with_span_list(false).boxed(),
    };
    lines.with_filter(filter.and(not_traces)).boxed()
}
