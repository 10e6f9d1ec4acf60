//! When each resource is polled: once at start (resources starting together
//! take turns, see [`super::first_polls`]), then every refresh interval,
//! each (instance, resource) on its own task so one slow poll delays only
//! itself. A poll that runs past the interval is never overlapped by the next:
//! the next starts when it ends. A resource whose plugin file is missing (or
//! was removed) waits for it, and polls as soon as a version is loaded.
//! "Poll now" (the management API) is a request to the same loop, so it
//! never overlaps a scheduled poll either.
//!
//! Each loop is supervised: one that panics (or ends while the service runs)
//! is logged and started again, and its status says so until it is back, so
//! `/health` can report it.

use std::any::Any;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::metrics::{POLL_ERROR, POLL_OK, PollLabels};
use super::plugins::PluginSlot;
use super::poll::{PollError, PollSummary, ResourcePoller};
use super::push::PushState;
use crate::source::SourceError;

/// What one poll came to: its summary, or why it stored nothing.
pub type PollResult = Result<PollSummary, String>;

/// How a resource's poll loop is seen and asked to poll from outside.
#[derive(Clone)]
pub struct ResourceHandle {
    pub name: String,
    pub plugin: Arc<PluginSlot>,
    /// The resource's push, when it has push on.
    pub push: Option<Arc<PushState>>,
    /// Its poll lease: in a fleet, whether this host polls it now.
    pub lease: crate::lease::Lease,
    status: Arc<Mutex<ResourceStatus>>,
    requests: Arc<PollRequests>,
    /// The loop's poller, for dry runs: they write nothing, so they run beside
    /// the loop's polls, not in turn with them.
    poller: Arc<ResourcePoller>,
}

impl ResourceHandle {
    /// The loop's latest status.
    pub fn status(&self) -> ResourceStatus {
        self.status.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Asks for a poll as soon as the one running (if any) ends; the answer
    /// comes when it is done. `None` when the loop has stopped.
    pub async fn poll_now(&self) -> Option<oneshot::Receiver<PollResult>> {
        let (reply, answer) = oneshot::channel();
        self.requests.push(reply).then_some(answer)
    }

    /// How far the poll running now is, while one runs.
    pub fn progress(&self) -> Option<super::progress::PollProgress> {
        self.poller.progress.snapshot()
    }

    /// What a poll now would deliver, read and mapped without writing anything.
    pub async fn dry_run(&self) -> Result<super::dry_run::DryRunReport, PollError> {
        self.poller.dry_run().await
    }
}

/// Where a resource's poll loop stands.
#[derive(Debug, Clone, Default)]
pub struct ResourceStatus {
    pub last_poll: Option<LastPoll>,
    pub next_poll: Option<DateTime<Utc>>,
    /// Set while the loop waits for its plugin file: why.
    pub waiting_for_plugin: Option<String>,
    /// Set from the loop's death until it is started again: why it died.
    pub died: Option<String>,
    /// How many times the loop died and was started again.
    pub restarts: u32,
}

/// The last poll that ran.
#[derive(Debug, Clone)]
pub struct LastPoll {
    pub started: DateTime<Utc>,
    pub took: Duration,
    pub result: PollResult,
    /// Autotask refused the instance's credentials (or found no zone for its user).
    pub credentials_refused: bool,
}

/// The loop's side of a [`ResourceHandle`].
pub struct Control {
    status: Arc<Mutex<ResourceStatus>>,
    requests: Arc<PollRequests>,
}

/// "Poll now" requests waiting for a loop, answered in order. A lock and a
/// `Notify` rather than a channel: 30,000 waiting loops each kept a channel's
/// ~1 KB for requests that almost never come. Each request is an API call
/// waiting for its answer, so how many wait is bounded by those.
struct PollRequests {
    /// `None` once the loop has stopped: requests are refused, waiting ones dropped.
    waiting: Mutex<Option<VecDeque<oneshot::Sender<PollResult>>>>,
    arrived: tokio::sync::Notify,
}

impl PollRequests {
    fn open() -> Self {
        PollRequests { waiting: Mutex::new(Some(VecDeque::new())), arrived: tokio::sync::Notify::new() }
    }

    /// Queues a request; `false` when the loop has stopped.
    fn push(&self, reply: oneshot::Sender<PollResult>) -> bool {
        let mut waiting = self.waiting.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(queue) = waiting.as_mut() else { return false };
        queue.push_back(reply);
        self.arrived.notify_one();
        true
    }

    /// The next request, when one comes.
    async fn next(&self) -> oneshot::Sender<PollResult> {
        loop {
            let next = {
                let mut waiting = self.waiting.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                waiting.as_mut().and_then(VecDeque::pop_front)
            };
            if let Some(reply) = next {
                return reply;
            }
            // A push between the check and here leaves a permit: no request is missed.
            self.arrived.notified().await;
        }
    }

    /// Refuses requests from now on, dropping those waiting (their callers see the loop stopped).
    fn close(&self) {
        self.waiting.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        self.requests.close();
    }
}

impl Control {
    fn update(&self, change: impl FnOnce(&mut ResourceStatus)) {
        change(&mut self.status.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
    }
}

/// A connected control and handle for one resource's loop.
pub(crate) fn control(
    name: &str,
    plugin: Arc<PluginSlot>,
    push: Option<Arc<PushState>>,
    lease: crate::lease::Lease,
    poller: Arc<ResourcePoller>,
) -> (Control, ResourceHandle) {
    let status = Arc::new(Mutex::new(ResourceStatus::default()));
    let requests = Arc::new(PollRequests::open());
    let handle = ResourceHandle {
        name: name.to_owned(),
        plugin,
        push,
        lease,
        status: status.clone(),
        requests: requests.clone(),
        poller,
    };
    (Control { status, requests }, handle)
}

/// How long a poll loop that died waits before it starts again, so that one
/// dying at once does not spin.
const RESTART_DELAY: Duration = Duration::from_secs(1);

/// Polls `poller` every `interval`, and when `control` asks, until `shutdown`;
/// a loop that dies is started again.
pub(crate) async fn run(
    poller: Arc<ResourcePoller>,
    interval: Duration,
    control: Control,
    shutdown: CancellationToken,
) {
    let status = control.status.clone();
    let control = Arc::new(tokio::sync::Mutex::new(control));
    let start = || {
        let (poller, control, shutdown) = (poller.clone(), control.clone(), shutdown.clone());
        async move { poll_loop(&poller, interval, &mut *control.lock().await, &shutdown).await }
    };
    supervise(&status, &shutdown, RESTART_DELAY, start).await;
}

/// Runs what `start` starts until `shutdown`, starting it again `delay` after it
/// panics or ends; the death is logged and kept in `status` until the restart.
async fn supervise<F, Fut>(status: &Mutex<ResourceStatus>, shutdown: &CancellationToken, delay: Duration, mut start: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let update = |change: &dyn Fn(&mut ResourceStatus)| change(&mut status.lock().unwrap_or_else(|p| p.into_inner()));
    loop {
        // Not polled again after a panic, so no broken state is seen.
        let ended = AssertUnwindSafe(start()).catch_unwind().await;
        if shutdown.is_cancelled() {
            return;
        }
        let why = match ended {
            Ok(()) => "it ended".to_owned(),
            Err(panic) => format!("it panicked: {}", panic_text(&*panic)),
        };
        tracing::error!("the poll loop died, starting it again in {:.0}s: {why}", delay.as_secs_f64());
        update(&|status| status.died = Some(why.clone()));
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shutdown.cancelled() => return,
        }
        update(&|status| {
            status.died = None;
            status.restarts += 1;
        });
    }
}

/// A panic's message, when it has one.
fn panic_text(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// One run of a resource's poll loop: returns only at `shutdown` (or by a bug).
async fn poll_loop(poller: &ResourcePoller, interval: Duration, control: &mut Control, shutdown: &CancellationToken) {
    let instance = poller.instance.id.clone();
    let resource = poller.resource_name().to_owned();
    // Due at once: resources starting together are spread by taking turns,
    // which also sets each loop's phase. A random delay on top would only make
    // a lone instance's first events late.
    let mut next = poller.shared.first_polls.due(Instant::now());
    let push = poller.push.clone();
    if let Some(push) = &push
        && poller.lease.fence().is_ok()
    {
        // Registered before the first poll, so that no change falls between the two.
        push.ensure(&poller.client, &poller.shared.store).await;
    }
    loop {
        let at = Utc::now()
            + chrono::TimeDelta::from_std(next.saturating_duration_since(Instant::now())).unwrap_or_default();
        control.update(|status| status.next_poll = Some(at));
        let mut asked = None;
        tokio::select! {
            () = tokio::time::sleep_until(next.into()) => {}
            reply = control.requests.next() => asked = Some(reply),
            () = pushed(push.as_deref()) => {
                if poller.lease.fence().is_err() {
                    // The host holding the poll lease maps the callouts (it is told of them too).
                    continue;
                }
                let push = push.as_deref().expect("only woken with push on");
                if push.take_recheck() {
                    push.ensure(&poller.client, &poller.shared.store).await;
                }
                tokio::select! {
                    () = map_callouts(poller) => {}
                    () = shutdown.cancelled() => return,
                }
                continue;
            }
            () = shutdown.cancelled() => return,
        }
        // Only a poll the schedule started has a due time to be late for.
        let mut due = asked.is_none().then_some(next);
        if poller.plugin.current().is_none() {
            // Waiting for a plugin file is not lateness of the schedule.
            due = None;
            let reason = poller.plugin.waiting_reason();
            if let Some(reply) = asked {
                let _ = reply.send(Err(format!("not polled: {reason}")));
                continue;
            }
            tracing::warn!("not polling until the plugin is loaded: {reason}");
            control.update(|status| {
                status.next_poll = None;
                status.waiting_for_plugin = Some(reason);
            });
            loop {
                tokio::select! {
                    _ = poller.plugin.wait_until_loaded() => break,
                    reply = control.requests.next() => {
                        let _ = reply.send(Err(format!("not polled: {}", poller.plugin.waiting_reason())));
                    }
                    () = shutdown.cancelled() => return,
                }
            }
            tracing::info!("the plugin is loaded; polling again");
            control.update(|status| status.waiting_for_plugin = None);
        }
        if let Err(not_held) = poller.lease.fence() {
            if let Some(reply) = asked {
                let _ = reply.send(Err(format!("not polled here: {not_held}")));
                continue;
            }
            if !wait_for_lease(poller, control, shutdown).await {
                return;
            }
            // Taken over: polled at once, since its previous holder may have missed polls.
            due = None;
        }
        let started = Instant::now();
        let started_at = Utc::now();
        if let Some(due) = due {
            poller.shared.metrics.schedule_drift.observe(started.saturating_duration_since(due).as_secs_f64());
        }
        control.update(|status| status.next_poll = None);
        if let Some(push) = &push {
            // The webhook checked (and reactivated if Autotask turned it off), and
            // the callouts waiting mapped first: the poll then finds only what push missed.
            push.ensure(&poller.client, &poller.shared.store).await;
            tokio::select! {
                () = map_callouts(poller) => {}
                () = shutdown.cancelled() => return,
            }
        }
        // Stopping mid-poll is safe: nothing is stored until the poll's one commit.
        let outcome = tokio::select! {
            // Boxed: a waiting loop's task then holds no room for a poll in
            // flight (thousands of loops wait at once; few poll).
            outcome = Box::pin(poller.poll_once()) => outcome,
            () = shutdown.cancelled() => Err(PollError::Stopped),
        };
        if !matches!(outcome, Err(PollError::Stopped)) {
            let result = outcome.as_ref().map(Clone::clone).map_err(ToString::to_string);
            let credentials_refused = matches!(
                outcome,
                Err(PollError::Source(SourceError::Unauthorized { .. } | SourceError::ZoneLookup { .. }))
            );
            if let Some(reply) = asked {
                let _ = reply.send(result.clone());
            }
            let took = started.elapsed();
            control.update(|status| {
                status.last_poll = Some(LastPoll { started: started_at, took, result, credentials_refused })
            });
            let records = outcome.as_ref().ok().map(|summary| summary.records);
            poller.shared.history.poll_finished(&instance, &resource, Utc::now(), took, records);
        }
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
        // With its webhook active, push delivers the changes and the poll is the safety net.
        let interval = match &push {
            Some(push) if push.is_active() => poller.instance.config.push_refresh_interval,
            _ => interval,
        };
        next = next_due(started, interval, Instant::now(), crate::random::unit());
    }
}

/// Waits until this host holds the resource's poll lease (another host polls
/// it meanwhile; "poll now" asked here is answered with which). Returns
/// `false` at shutdown.
async fn wait_for_lease(poller: &ResourcePoller, control: &Control, shutdown: &CancellationToken) -> bool {
    control.update(|status| status.next_poll = None);
    loop {
        tokio::select! {
            () = poller.lease.held() => break,
            reply = control.requests.next() => {
                let why = poller.lease.fence().err().map_or_else(|| "the lease was just taken".into(), |e| e.to_string());
                let _ = reply.send(Err(format!("not polled here: {why}")));
            }
            () = shutdown.cancelled() => return false,
        }
    }
    true
}

/// Waits until `push` has callouts to map or a check to make; forever without push.
async fn pushed(push: Option<&PushState>) {
    match push {
        Some(push) => push.wake.notified().await,
        None => std::future::pending().await,
    }
}

/// How many passes of [`CALLOUTS_PER_PASS`](super::poll) callouts one wake maps
/// at most before the loop looks at its schedule again.
const PASSES_PER_WAKE: usize = 20;

/// Maps the push callouts waiting for the resource, pass after pass until none
/// is left. A failure leaves them stored: the next wake or poll tries again.
async fn map_callouts(poller: &ResourcePoller) {
    for _ in 0..PASSES_PER_WAKE {
        let started = Instant::now();
        match poller.map_callouts().await {
            Ok(Some(summary)) => tracing::info!(
                "pushed: {} changed record(s) and {} deletion(s): {} event(s) in {} message(s), {} already seen, {} failed; {:.0} ms",
                summary.records,
                summary.deleted,
                summary.events,
                summary.messages,
                summary.already_seen,
                summary.failed,
                started.elapsed().as_secs_f64() * 1000.0,
            ),
            Ok(None) => return,
            Err(PollError::NoPlugin(reason)) => {
                tracing::warn!("push callouts wait for the plugin: {reason}");
                return;
            }
            Err(error) => {
                tracing::error!("push callouts not mapped, kept for the next try: {error}");
                return;
            }
        }
    }
}

/// How wide the random spread of a poll's start around the interval is: a
/// twentieth of the interval, at most [`MAX_JITTER`], so that instances do
/// not poll Autotask in lockstep.
fn jitter_width(interval: Duration) -> Duration {
    (interval / 20).min(MAX_JITTER)
}

/// At most this wide a spread around the interval: the first polls' turns
/// already set each loop's phase, and a wider spread would lengthen the
/// longest wait of a change for the next poll.
const MAX_JITTER: Duration = Duration::from_secs(1);

/// When the poll after one that started at `started` is due: an interval
/// later, give or take half the jitter width (`unit` in [0, 1) picks where),
/// and never before `now`, so polls never overlap. The jitter is centred so
/// that it spreads instances without lengthening the mean period: a change
/// waits half the interval on average, not half the interval plus the jitter.
fn next_due(started: Instant, interval: Duration, now: Instant, unit: f64) -> Instant {
    let width = jitter_width(interval);
    let due = started + interval + width.mul_f64(unit);
    due.checked_sub(width / 2).unwrap_or(due).max(now)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// The next poll is due an interval after the last started, within half
    /// the jitter width either way, so the mean period is the interval.
    #[test]
    fn the_next_poll_is_due_an_interval_later_give_or_take_half_the_jitter() {
        let started = Instant::now();
        let minute = Duration::from_secs(60);
        let due = |unit| next_due(started, minute, started, unit);
        assert_eq!(due(0.0), started + minute - Duration::from_millis(500));
        assert_eq!(due(0.5), started + minute);
        assert_eq!(due(0.999_999).duration_since(started + minute).as_millis(), 499);
        // A short interval: a twentieth of it, centred.
        let second = next_due(started, Duration::from_secs(1), started, 0.0);
        assert_eq!(second, started + Duration::from_millis(975));
        let mean = (0..1000).map(|i| due(f64::from(i) / 1000.0) - started).sum::<Duration>() / 1000;
        assert!(mean.abs_diff(minute) < Duration::from_millis(2), "{mean:?}");
        // A poll that ran past the interval: the next starts at once, no sooner.
        let late = started + Duration::from_secs(90);
        assert_eq!(next_due(started, minute, late, 0.0), late);
    }

    /// A scheduled poll that starts late is counted in the drift histogram;
    /// the histogram's p99 is what the scale benchmark reads.
    #[test]
    fn schedule_drift_is_kept_in_one_histogram_for_the_host() {
        let metrics = crate::service::metrics::Metrics::new();
        metrics.schedule_drift.observe(0.003);
        metrics.schedule_drift.observe(1.5);
        let text = metrics.render();
        assert!(text.contains("autotask_events_poll_schedule_drift_seconds_count 2"), "{text}");
        assert!(text.contains("autotask_events_poll_schedule_drift_seconds_bucket{le=\"1.0\"} 1"), "{text}");
    }

    /// A loop that panics is reported dead with the panic's message, then
    /// started again, and the report is cleared once it runs.
    #[tokio::test]
    async fn a_poll_loop_that_panics_is_reported_and_started_again() {
        let status = Arc::new(Mutex::new(ResourceStatus::default()));
        let shutdown = CancellationToken::new();
        let starts = Arc::new(AtomicU32::new(0));
        let (dead_seen, restarted) = (Arc::new(tokio::sync::Notify::new()), Arc::new(tokio::sync::Notify::new()));
        let start = {
            let (status, starts, shutdown) = (status.clone(), starts.clone(), shutdown.clone());
            let (dead_seen, restarted) = (dead_seen.clone(), restarted.clone());
            move || {
                let (status, starts, shutdown) = (status.clone(), starts.clone(), shutdown.clone());
                let (dead_seen, restarted) = (dead_seen.clone(), restarted.clone());
                async move {
                    if starts.fetch_add(1, Ordering::SeqCst) == 0 {
                        panic!("poll loop bug");
                    }
                    let died = status.lock().unwrap().died.clone();
                    assert_eq!(died, None, "the report is cleared by the restart");
                    dead_seen.notified().await;
                    restarted.notify_one();
                    shutdown.cancelled().await;
                }
            }
        };
        let supervisor = tokio::spawn({
            let (status, shutdown) = (status.clone(), shutdown.clone());
            async move { supervise(&status, &shutdown, Duration::from_millis(300), start).await }
        });
        // While it waits to be started again, the death is reported.
        let reported = async {
            loop {
                if let Some(why) = status.lock().unwrap().died.clone() {
                    return why;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        let why = tokio::time::timeout(Duration::from_secs(30), reported).await.expect("the death is reported");
        assert_eq!(why, "it panicked: poll loop bug");
        dead_seen.notify_one();
        tokio::time::timeout(Duration::from_secs(30), restarted.notified()).await.expect("the loop is started again");
        assert_eq!((starts.load(Ordering::SeqCst), status.lock().unwrap().restarts), (2, 1));
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), supervisor).await.expect("stops at shutdown").unwrap();
    }
}
