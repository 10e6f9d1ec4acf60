//! What the simulator counts and refuses: the hourly request threshold, the
//! concurrent-request limit per entity, injected faults, and the statistics
//! tests read back from `/sim/stats`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::sample::Seeded;

/// The length of Autotask's rolling request window.
pub const TIMEFRAME: Duration = Duration::from_secs(60 * 60);

/// Faults to inject into API requests (everything under `/v1.0/` except zone lookup and
/// `ThresholdInformation`) and into webhook callouts,
/// set with `POST /sim/faults`. Setting faults replaces the previous ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Faults {
    /// The share (0–1) of requests that fail with HTTP 500.
    pub error_rate: f64,
    /// Extra time each request takes, in milliseconds.
    pub latency_ms: u64,
    /// The next this-many requests are refused with HTTP 429.
    pub force429: u32,
    /// The `Retry-After` header (seconds) sent with forced 429s.
    pub retry_after_seconds: u64,
    /// The next this-many requests fail with HTTP 500.
    pub fail500: u32,
    /// The Nth request after the faults are set fails with HTTP 500 (1 is the next one).
    pub fail_nth: Option<u64>,
    /// Rewrites the origin (`scheme://host:port`) of every `nextPageUrl`, to test clients
    /// that must not follow a page link to another server.
    pub next_page_origin: Option<String>,
    /// The next this-many webhook callouts are lost: never sent, but counted
    /// (`callouts.dropped`) and written to the webhook log. Their
    /// `SequenceNumber`s are used up, so receivers see the gap.
    pub drop_callouts: u32,
    /// Time each callout attempt waits before it is sent, in milliseconds.
    pub callout_delay_ms: u64,
}

/// Why a request is refused before it is served.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// HTTP 429, with a `Retry-After` in seconds when there is one.
    TooMany { message: String, retry_after: Option<u64> },
    /// HTTP 500.
    ServerError(String),
}

/// Request counts and refusals, as `GET /sim/stats` reports them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Every request the simulator answered (control API excluded).
    pub total: u64,
    /// Answers by endpoint (`"POST Tickets/query/next"`) and HTTP status.
    pub by_endpoint: BTreeMap<String, BTreeMap<u16, u64>>,
    /// The most requests that were ever in flight at once, by entity (and
    /// `ThresholdInformation`, which thread limiting counts on its own).
    pub max_in_flight: BTreeMap<String, usize>,
    /// Requests counted against the threshold in the current hour.
    pub timeframe_request_count: usize,
    /// Filter operators Autotask does not know, by spelling: their clauses were
    /// dropped, as the real API drops them. Tests assert none were sent.
    pub ignored_filter_operators: BTreeMap<String, u64>,
    /// What became of webhook callouts.
    #[serde(default)]
    pub callouts: CalloutStats,
}

/// Webhook callout counts, as `/sim/stats` reports them under `callouts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CalloutStats {
    /// Attempts made (first attempts and retries; deactivation notices not counted).
    pub sent: u64,
    /// Callouts answered with a 2xx.
    pub delivered: u64,
    /// Attempts that failed: a non-2xx answer, no connection, or no answer in time.
    pub failed_attempts: u64,
    /// Callouts given up on: out of attempts or time, dropped with a
    /// deactivated webhook, or lost to the `dropCallouts` fault.
    pub dropped: u64,
    /// Webhooks deactivated for failing too often.
    pub deactivations: u64,
}

impl Stats {
    /// How many answers had `status`, over every endpoint.
    pub fn with_status(&self, status: u16) -> u64 {
        self.by_endpoint.values().filter_map(|statuses| statuses.get(&status)).sum()
    }

    /// How many answers an endpoint gave, whatever their status.
    pub fn for_endpoint(&self, endpoint: &str) -> u64 {
        self.by_endpoint.get(endpoint).map_or(0, |statuses| statuses.values().sum())
    }
}

/// The limits the simulator enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Requests allowed per rolling hour (Autotask: 10,000).
    pub threshold: usize,
    /// Requests allowed in flight per entity (Autotask: 3).
    pub concurrent_per_entity: usize,
    /// Latency added past 50 % and past 75 % of the threshold.
    pub threshold_latency: [Duration; 2],
}

/// The shared counters; cheap to clone.
#[derive(Clone)]
pub struct Traffic {
    inner: Arc<Mutex<Counters>>,
    limits: Limits,
}

struct Counters {
    window: VecDeque<Instant>,
    in_flight: HashMap<&'static str, usize>,
    stats: Stats,
    faults: Faults,
    requests_since_faults: u64,
    rng: Seeded,
}

impl Counters {
    /// Drops requests older than the timeframe from the window.
    fn forget_before(&mut self, now: Instant) {
        while self.window.front().is_some_and(|t| now.duration_since(*t) >= TIMEFRAME) {
            self.window.pop_front();
        }
        self.stats.timeframe_request_count = self.window.len();
    }
}

/// A request's place among its endpoint's in-flight requests; freed on drop.
pub struct Slot {
    traffic: Traffic,
    pool: &'static str,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counters = self.traffic.lock();
        if let Some(count) = counters.in_flight.get_mut(self.pool) {
            *count = count.saturating_sub(1);
        }
    }
}

/// What an admitted request must do before it is served.
pub struct Admission {
    pub slot: Slot,
    /// Injected latency plus any threshold slow-down.
    pub delay: Duration,
}

impl Traffic {
    /// Counters with nothing counted yet.
    pub fn new(limits: Limits, seed: u64) -> Traffic {
        let counters = Counters {
            window: VecDeque::new(),
            in_flight: HashMap::new(),
            stats: Stats::default(),
            faults: Faults::default(),
            requests_since_faults: 0,
            rng: Seeded::new(seed ^ 0xFA17),
        };
        Traffic { inner: Arc::new(Mutex::new(counters)), limits }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        // A panic while holding the lock leaves plain counters behind: still usable.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts an authenticated API request and decides whether it is served:
    /// the threshold first, then injected faults, then the concurrency limit of
    /// its thread pool (an entity's name, or `ThresholdInformation`). A request
    /// that is not `counted` (reading the threshold) skips the first two, so
    /// watching the threshold neither spends it nor meets injected faults.
    pub fn admit(&self, pool: &'static str, counted: bool) -> Result<Admission, Refusal> {
        let now = Instant::now();
        let mut counters = self.lock();
        counters.forget_before(now);
        if !counted {
            let slot = self.take_slot(&mut counters, pool)?;
            return Ok(Admission { slot, delay: Duration::ZERO });
        }
        let threshold = self.limits.threshold;
        if counters.window.len() >= threshold {
            let oldest = *counters.window.front().expect("the window is full");
            let wait = TIMEFRAME.saturating_sub(now.duration_since(oldest)).as_secs().max(1);
            return Err(Refusal::TooMany {
                message: format!(
                    "The request threshold of {threshold} requests per 60 minutes has been reached for this database."
                ),
                retry_after: Some(wait),
            });
        }
        counters.window.push_back(now);
        counters.stats.timeframe_request_count = counters.window.len();
        let used = counters.window.len();
        let mut delay = Duration::from_millis(counters.faults.latency_ms);
        if used * 4 > threshold * 3 {
            delay += self.limits.threshold_latency[1];
        } else if used * 2 > threshold {
            delay += self.limits.threshold_latency[0];
        }

        counters.requests_since_faults += 1;
        let nth = counters.requests_since_faults;
        let faults = &mut counters.faults;
        if faults.force429 > 0 {
            faults.force429 -= 1;
            let retry_after = Some(faults.retry_after_seconds);
            return Err(Refusal::TooMany { message: "Too many requests (simulated).".into(), retry_after });
        }
        if faults.fail500 > 0 || faults.fail_nth == Some(nth) {
            faults.fail500 = faults.fail500.saturating_sub(1);
            return Err(Refusal::ServerError("An unexpected error occurred (simulated).".into()));
        }
        let error_rate = faults.error_rate;
        if error_rate > 0.0 && (counters.rng.below(1_000_000) as f64) < error_rate * 1_000_000.0 {
            return Err(Refusal::ServerError("An unexpected error occurred (simulated, random).".into()));
        }

        let slot = self.take_slot(&mut counters, pool)?;
        Ok(Admission { slot, delay })
    }

    /// A place among `pool`'s in-flight requests, or the real API's 429 when
    /// all are taken (the text is Autotask's, as integrations report it).
    fn take_slot(&self, counters: &mut Counters, pool: &'static str) -> Result<Slot, Refusal> {
        let limit = self.limits.concurrent_per_entity;
        let in_flight = counters.in_flight.entry(pool).or_default();
        if *in_flight >= limit {
            return Err(Refusal::TooMany {
                message: format!("API thread threshold of {limit} threads has been exceeded"),
                retry_after: None,
            });
        }
        *in_flight += 1;
        let now_in_flight = *in_flight;
        let max = counters.stats.max_in_flight.entry(pool.to_owned()).or_default();
        *max = (*max).max(now_in_flight);
        Ok(Slot { traffic: self.clone(), pool })
    }

    /// Counts a filter operator whose clause was dropped.
    pub fn record_ignored_operator(&self, operator: &str) {
        *self.lock().stats.ignored_filter_operators.entry(operator.to_owned()).or_default() += 1;
    }

    /// Counts what happened to a webhook callout.
    pub fn count_callouts(&self, count: impl FnOnce(&mut CalloutStats)) {
        count(&mut self.lock().stats.callouts);
    }

    /// Whether the next callout is lost to the `dropCallouts` fault (using one up).
    pub fn take_dropped_callout(&self) -> bool {
        let faults = &mut self.lock().faults;
        let drop = faults.drop_callouts > 0;
        faults.drop_callouts = faults.drop_callouts.saturating_sub(1);
        drop
    }

    /// Records the status a request was answered with.
    pub fn record(&self, endpoint: &str, status: u16) {
        let mut counters = self.lock();
        counters.stats.total += 1;
        *counters.stats.by_endpoint.entry(endpoint.to_owned()).or_default().entry(status).or_default() += 1;
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        let mut counters = self.lock();
        counters.forget_before(Instant::now());
        counters.stats.clone()
    }

    /// Forgets the statistics (not the threshold window).
    pub fn reset_stats(&self) {
        let mut counters = self.lock();
        let timeframe_request_count = counters.window.len();
        counters.stats = Stats { timeframe_request_count, ..Stats::default() };
    }

    /// Requests counted against the threshold in the current hour.
    pub fn timeframe_request_count(&self) -> usize {
        let mut counters = self.lock();
        counters.forget_before(Instant::now());
        counters.window.len()
    }

    /// The configured limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Replaces the injected faults.
    pub fn set_faults(&self, faults: Faults) {
        let mut counters = self.lock();
        counters.faults = faults;
        counters.requests_since_faults = 0;
    }

    /// The injected faults still pending.
    pub fn faults(&self) -> Faults {
        self.lock().faults.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traffic(threshold: usize) -> Traffic {
        let limits = Limits { threshold, concurrent_per_entity: 3, threshold_latency: [Duration::ZERO; 2] };
        Traffic::new(limits, 1)
    }

    #[test]
    fn a_fourth_concurrent_request_on_one_entity_is_refused() {
        let traffic = traffic(100);
        let slots: Vec<_> = (0..3).map(|_| traffic.admit("Tickets", true).unwrap()).collect();
        assert!(matches!(traffic.admit("Tickets", true), Err(Refusal::TooMany { retry_after: None, .. })));
        assert!(traffic.admit("Companies", true).is_ok(), "the limit is per entity");
        drop(slots);
        assert!(traffic.admit("Tickets", true).is_ok(), "slots are freed when requests end");
        assert_eq!(traffic.stats().max_in_flight["Tickets"], 3);
    }

    #[test]
    fn reading_the_threshold_takes_a_thread_but_not_the_threshold() {
        let traffic = traffic(100);
        let slots: Vec<_> = (0..3).map(|_| traffic.admit("ThresholdInformation", false).unwrap()).collect();
        let Err(Refusal::TooMany { message, .. }) = traffic.admit("ThresholdInformation", false) else {
            panic!("a fourth concurrent threshold read should be refused");
        };
        assert_eq!(message, "API thread threshold of 3 threads has been exceeded");
        assert_eq!(traffic.timeframe_request_count(), 0, "threshold reads are not counted against it");
        drop(slots);
        assert!(traffic.admit("ThresholdInformation", false).is_ok());
    }

    #[test]
    fn requests_past_the_threshold_are_refused_with_retry_after() {
        let traffic = traffic(2);
        assert!(traffic.admit("Tickets", true).is_ok());
        assert!(traffic.admit("Tickets", true).is_ok());
        let Err(Refusal::TooMany { message, retry_after: Some(wait) }) = traffic.admit("Tickets", true) else {
            panic!("the third request should be refused");
        };
        assert!(message.contains("threshold of 2 requests"), "{message}");
        assert!((3500..=3600).contains(&wait), "{wait}");
        assert_eq!(traffic.timeframe_request_count(), 2, "refused requests are not counted");
    }

    #[test]
    fn faults_are_consumed_in_order() {
        let traffic = traffic(100);
        traffic.set_faults(Faults { force429: 1, retry_after_seconds: 2, fail500: 1, ..Faults::default() });
        assert!(matches!(traffic.admit("Tickets", true), Err(Refusal::TooMany { retry_after: Some(2), .. })));
        assert!(matches!(traffic.admit("Tickets", true), Err(Refusal::ServerError(_))));
        assert!(traffic.admit("Tickets", true).is_ok());
        traffic.set_faults(Faults { fail_nth: Some(2), latency_ms: 30, ..Faults::default() });
        assert_eq!(traffic.admit("Tickets", true).unwrap().delay, Duration::from_millis(30));
        assert!(matches!(traffic.admit("Tickets", true), Err(Refusal::ServerError(_))));
        assert!(traffic.admit("Tickets", true).is_ok());
    }
}
