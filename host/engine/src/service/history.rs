//! The last 24 hours of what no table records, per minute, in this host's
//! memory: each poll's duration and records, the requests sent to Autotask
//! with the hourly threshold Autotask last reported, and each plugin
//! version's calls. The charts are drawn from it; it starts empty when the
//! service starts, and covers only the work this host did (delivery figures
//! come from the database instead).
//!
//! Bounded: a series keeps only the minutes that had something, at most
//! [`MINUTES_KEPT`] of them, and drops the ones older than that whenever it
//! is written or read.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::source::ThresholdInformation;

/// A day of minutes.
pub const MINUTES_KEPT: i64 = 24 * 60;

/// The polls of one resource in one minute.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PollMinute {
    pub polls: u64,
    /// Polls that stored nothing (an error).
    pub failed: u64,
    /// Summed over the polls.
    pub total_ms: f64,
    pub max_ms: f64,
    /// Records read by the polls that succeeded.
    pub records: u64,
}

/// The requests one instance's polls sent to Autotask in one minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestMinute {
    pub requests: u64,
    /// The hourly request threshold of the instance's Autotask database, as
    /// Autotask last reported it (it is read only now and then).
    pub threshold: Option<u64>,
    /// How much of it Autotask said was used, plus what the client sent since.
    pub threshold_used: Option<u64>,
}

/// The calls of one plugin version in one minute.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CallMinute {
    pub calls: u64,
    pub failed: u64,
    /// Summed over the calls.
    pub total_ms: f64,
}

/// A plugin file (`incidents.wasm`) and a version of it (short SHA-256).
pub type PluginVersion = (String, String);

/// Per-minute series, by what they are about.
#[derive(Default)]
pub struct History {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// By (instance, resource).
    polls: BTreeMap<(String, String), Series<PollMinute>>,
    /// By instance.
    requests: BTreeMap<String, Series<RequestMinute>>,
    calls: BTreeMap<PluginVersion, Series<CallMinute>>,
}

/// The minutes that had something, oldest first, none older than a day.
struct Series<T> {
    minutes: VecDeque<(i64, T)>,
}

impl<T> Default for Series<T> {
    fn default() -> Self {
        Series { minutes: VecDeque::new() }
    }
}

impl<T: Default + Copy> Series<T> {
    /// The figures of `minute`, made when it has none yet.
    fn at(&mut self, minute: i64) -> &mut T {
        self.forget_before(minute - MINUTES_KEPT + 1);
        // A clock set back writes into the newest minute rather than out of order.
        if self.minutes.back().is_none_or(|(last, _)| *last < minute) {
            self.minutes.push_back((minute, T::default()));
        }
        &mut self.minutes.back_mut().expect("a minute was just made").1
    }

    fn forget_before(&mut self, minute: i64) {
        while self.minutes.front().is_some_and(|(first, _)| *first < minute) {
            self.minutes.pop_front();
        }
    }

    /// The minutes from `since` on.
    fn since(&self, since: i64) -> Vec<(DateTime<Utc>, T)> {
        self.minutes
            .iter()
            .filter(|(minute, _)| *minute >= since)
            .map(|(minute, value)| (time(*minute), *value))
            .collect()
    }
}

fn minute_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(60)
}

fn time(minute: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(minute * 60, 0).unwrap_or_default()
}

fn millis(took: Duration) -> f64 {
    took.as_secs_f64() * 1000.0
}

/// A series' minutes that had something, oldest first.
pub type Minutes<T> = Vec<(DateTime<Utc>, T)>;

/// Every series of `map` with minutes from `since` on; series with none left
/// are dropped (a deleted resource, a replaced plugin version).
fn read<K: Ord + Clone, T: Default + Copy>(
    map: &mut BTreeMap<K, Series<T>>,
    now: DateTime<Utc>,
    since: DateTime<Utc>,
    wanted: impl Fn(&K) -> bool,
) -> Vec<(K, Minutes<T>)> {
    map.retain(|_, series| {
        series.forget_before(minute_of(now) - MINUTES_KEPT + 1);
        !series.minutes.is_empty()
    });
    map.iter()
        .filter(|(key, _)| wanted(key))
        .map(|(key, series)| (key.clone(), series.since(minute_of(since))))
        .filter(|(_, minutes)| !minutes.is_empty())
        .collect()
}

impl History {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A poll of `instance`'s `resource` ended at `at` after `took`; `records`
    /// read, or `None` when it failed.
    pub fn poll_finished(
        &self,
        instance: &str,
        resource: &str,
        at: DateTime<Utc>,
        took: Duration,
        records: Option<usize>,
    ) {
        let mut state = self.state();
        let minute = state.polls.entry((instance.to_owned(), resource.to_owned())).or_default().at(minute_of(at));
        minute.polls += 1;
        minute.total_ms += millis(took);
        minute.max_ms = minute.max_ms.max(millis(took));
        match records {
            Some(records) => minute.records += records as u64,
            None => minute.failed += 1,
        }
    }

    /// `instance` sent `requests` to Autotask at `at`; `threshold` is what the
    /// client last read of the hourly threshold, if it has read it.
    pub fn requests_sent(
        &self,
        instance: &str,
        at: DateTime<Utc>,
        requests: u64,
        threshold: Option<ThresholdInformation>,
    ) {
        let mut state = self.state();
        let minute = state.requests.entry(instance.to_owned()).or_default().at(minute_of(at));
        minute.requests += requests;
        if let Some(threshold) = threshold {
            minute.threshold = Some(threshold.external_request_threshold);
            minute.threshold_used = Some(threshold.current_timeframe_request_count);
        }
    }

    /// Version `version` of plugin file `plugin` was called at `at`.
    pub fn plugin_called(&self, plugin: &str, version: &str, at: DateTime<Utc>, took: Duration, failed: bool) {
        let mut state = self.state();
        let minute = state.calls.entry((plugin.to_owned(), version.to_owned())).or_default().at(minute_of(at));
        minute.calls += 1;
        minute.total_ms += millis(took);
        minute.failed += u64::from(failed);
    }

    /// `instance`'s polls since `since`, by resource.
    pub fn polls(
        &self,
        instance: &str,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> Vec<(String, Minutes<PollMinute>)> {
        read(&mut self.state().polls, now, since, |(of, _)| of == instance)
            .into_iter()
            .map(|((_, resource), minutes)| (resource, minutes))
            .collect()
    }

    /// The requests `instance`'s polls sent since `since`.
    pub fn requests(
        &self,
        instance: &str,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> Vec<(DateTime<Utc>, RequestMinute)> {
        read(&mut self.state().requests, now, since, |of| of == instance)
            .into_iter()
            .flat_map(|(_, minutes)| minutes)
            .collect()
    }

    /// Every plugin version's calls since `since`.
    pub fn calls(&self, now: DateTime<Utc>, since: DateTime<Utc>) -> Vec<(PluginVersion, Minutes<CallMinute>)> {
        read(&mut self.state().calls, now, since, |_| true)
    }

    /// Drops a deleted instance's series.
    pub fn forget_instance(&self, instance: &str) {
        let mut state = self.state();
        state.polls.retain(|(of, _), _| of != instance);
        state.requests.remove(instance);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_717_243_200 + minutes * 60, 0).unwrap()
    }

    #[test]
    fn polls_of_one_minute_add_up_and_a_failed_one_reads_no_records() {
        let history = History::default();
        history.poll_finished("7", "incidents", at(0), Duration::from_millis(100), Some(5));
        history.poll_finished("7", "incidents", at(0), Duration::from_millis(300), None);
        history.poll_finished("7", "contacts", at(1), Duration::from_millis(50), Some(1));
        history.poll_finished("8", "incidents", at(1), Duration::from_millis(50), Some(1));
        let polls = history.polls("7", at(2), at(-10));
        assert_eq!(polls.len(), 2, "one series per resource of instance 7: {polls:?}");
        let (resource, minutes) = &polls[1];
        assert_eq!(resource, "incidents");
        assert_eq!(
            minutes.as_slice(),
            [(at(0), PollMinute { polls: 2, failed: 1, total_ms: 400.0, max_ms: 300.0, records: 5 })]
        );
    }

    #[test]
    fn a_series_keeps_one_day_of_minutes_and_no_more() {
        let history = History::default();
        for minute in 0..(MINUTES_KEPT + 100) {
            history.plugin_called("incidents.wasm", "abc", at(minute), Duration::from_millis(2), false);
        }
        let now = at(MINUTES_KEPT + 99);
        let calls = history.calls(now, at(-10));
        let minutes = &calls[0].1;
        assert_eq!(minutes.len() as i64, MINUTES_KEPT);
        assert_eq!(minutes[0].0, at(100), "the oldest kept is a day before the newest");
        assert_eq!(history.calls(now, at(MINUTES_KEPT + 90))[0].1.len(), 10, "read from `since` on");

        // A version not called for a day is gone.
        assert!(history.calls(at(3 * MINUTES_KEPT), at(0)).is_empty());
    }

    #[test]
    fn requests_keep_the_latest_threshold_reading_and_deleted_instances_go() {
        let history = History::default();
        history.requests_sent("7", at(0), 3, None);
        let reading = ThresholdInformation {
            external_request_threshold: 10_000,
            request_threshold_timeframe: 60,
            current_timeframe_request_count: 40,
        };
        history.requests_sent("7", at(0), 2, Some(reading));
        assert_eq!(
            history.requests("7", at(1), at(0)),
            [(at(0), RequestMinute { requests: 5, threshold: Some(10_000), threshold_used: Some(40) })]
        );
        history.forget_instance("7");
        assert!(history.requests("7", at(1), at(0)).is_empty());
    }
}
