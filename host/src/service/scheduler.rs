//! When each resource is polled: once at start, then every refresh interval,
//! each (instance, resource) on its own task so one slow poll delays only
//! itself. A poll that runs past the interval is never overlapped by the next:
//! the next starts when it ends. A resource whose plugin file is missing (or
//! was removed) waits for it, and polls as soon as a version is loaded.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::metrics::{POLL_ERROR, POLL_OK, PollLabels};
use super::poll::{PollError, ResourcePoller};

/// At most this much random delay is added to each wait, so that many
/// instances started together do not poll Autotask in lockstep.
const MAX_JITTER: Duration = Duration::from_secs(2);

/// Polls `poller` every `interval` until `shutdown`.
pub async fn run(poller: ResourcePoller, interval: Duration, shutdown: CancellationToken) {
    let instance = poller.instance.id.clone();
    let resource = poller.resource_name().to_owned();
    let mut next = Instant::now() + jitter(interval);
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next.into()) => {}
            () = shutdown.cancelled() => return,
        }
        if poller.plugin.current().is_none() {
            tracing::warn!("not polling until the plugin is loaded: {}", poller.plugin.waiting_reason());
            tokio::select! {
                _ = poller.plugin.wait_until_loaded() => tracing::info!("the plugin is loaded; polling again"),
                () = shutdown.cancelled() => return,
            }
        }
        let started = Instant::now();
        // Stopping mid-poll is safe: nothing is stored until the poll's one commit.
        let outcome = tokio::select! {
            outcome = poller.poll_once() => outcome,
            () = shutdown.cancelled() => Err(PollError::Stopped),
        };
        let labels = |outcome| PollLabels { instance: instance.clone(), resource: resource.clone(), outcome };
        match outcome {
            Ok(summary) => {
                poller.shared.metrics.polls.get_or_create(&labels(POLL_OK)).inc();
                let level_info = summary.events > 0 || summary.failed > 0;
                let versions = match summary.plugin_versions.as_slice() {
                    [] => String::new(),
                    versions => format!(", mapped by version {}", versions.join(" then ")),
                };
                let line = format!(
                    "read {} record(s) and {} deletion log row(s) in {} page(s) since {}: {} event(s) in {} message(s), {} already seen, {} failed{versions}; {:.0} ms (waiting for Autotask {:.0}, mapping {:.0}, storing {:.0})",
                    summary.records,
                    summary.deleted,
                    summary.pages,
                    summary.from,
                    summary.events,
                    summary.messages,
                    summary.already_seen,
                    summary.failed,
                    started.elapsed().as_secs_f64() * 1000.0,
                    summary.waiting_ms,
                    summary.mapping_ms,
                    summary.storing_ms,
                );
                if level_info {
                    tracing::info!("{line}");
                } else {
                    tracing::debug!("{line}");
                }
            }
            Err(PollError::Stopped) => return,
            // Removed between the check and the poll: the next round waits for it.
            Err(PollError::NoPlugin(_)) => {}
            Err(error) => {
                poller.shared.metrics.polls.get_or_create(&labels(POLL_ERROR)).inc();
                tracing::error!("poll failed, the next one starts from the same point: {error}");
            }
        }
        next = (started + interval).max(Instant::now()) + jitter(interval);
    }
}

/// A random wait of up to a twentieth of the interval, capped at [`MAX_JITTER`].
fn jitter(interval: Duration) -> Duration {
    (interval / 20).min(MAX_JITTER).mul_f64(crate::random::unit())
}
