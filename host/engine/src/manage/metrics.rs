//! The figures an instance's charts and the plugins' charts are drawn from,
//! per minute over the last hours: deliveries from the state database (they
//! survive restarts and cover every host of a fleet), polls, Autotask
//! requests and plugin calls from this host's memory (see
//! [`crate::service::history`]).

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::views::format_date;
use super::{Caller, ManageError, Management};
use crate::service::history::{CallMinute, PollMinute, RequestMinute};
use crate::service::poll::blocking;
use crate::store::{DeliveryMinute, LATENCY_BUCKETS_MS};

/// How many hours the charts cover unless asked (`?hours=`), and the most.
pub const DEFAULT_HOURS: u32 = 24;

/// `?hours=N`: a whole number from 1 to 24 (24 without one).
pub fn parse_hours(text: Option<&str>) -> Result<u32, ManageError> {
    let Some(text) = text else { return Ok(DEFAULT_HOURS) };
    match text.parse::<u32>() {
        Ok(hours) if (1..=DEFAULT_HOURS).contains(&hours) => Ok(hours),
        _ => Err(ManageError::field(
            "?hours",
            format!("`{text}` is not a whole number of hours from 1 to {DEFAULT_HOURS}"),
        )),
    }
}

/// An instance's figures over the last `hours`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceMetrics {
    pub instance_id: String,
    pub hours: u32,
    #[schema(format = DateTime)]
    pub from: String,
    #[schema(format = DateTime)]
    pub until: String,
    /// The upper bounds of the latency buckets (ms); a last one holds the slower deliveries.
    pub latency_buckets_ms: Vec<u64>,
    pub delivery: DeliveryMetrics,
    /// By resource, in name order.
    pub polls: Vec<ResourcePolls>,
    pub requests: Vec<RequestMinuteView>,
}

/// Deliveries over the hours, with latency percentiles over all of them.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryMetrics {
    /// Events delivered (the events in the messages delivered).
    pub delivered: u64,
    /// Events in failed attempts (a message failing twice counts twice).
    pub failed: u64,
    /// Over every delivered attempt; `None` without one.
    pub latency: Option<Percentiles>,
    /// The minutes with attempts, oldest first.
    pub minutes: Vec<DeliveryMinuteView>,
}

/// One minute's deliveries.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryMinuteView {
    #[schema(format = DateTime)]
    pub minute: String,
    #[serde(skip)]
    pub at: DateTime<Utc>,
    pub delivered: u64,
    pub failed: u64,
    /// Delivered attempts per latency bucket (see `latencyBucketsMs`).
    pub latency_counts: Vec<u64>,
    pub latency: Option<Percentiles>,
}

/// Latency percentiles estimated from bucket counts: each is the upper bound
/// of the bucket the percentile falls in, so the latency was at most that;
/// `None` when it falls in the last bucket (slower than the last bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Percentiles {
    pub p50_ms: Option<u64>,
    pub p95_ms: Option<u64>,
    pub p99_ms: Option<u64>,
}

impl Percentiles {
    /// From counts per bucket of [`LATENCY_BUCKETS_MS`] (and the slower one); `None` when all are 0.
    pub fn of(counts: &[u64]) -> Option<Percentiles> {
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let at = |share: f64| {
            // The rank of the percentile's attempt, 1-based, counted up to.
            let rank = ((share * total as f64).ceil() as u64).max(1);
            let mut seen = 0;
            let bucket = counts.iter().position(|count| {
                seen += count;
                seen >= rank
            });
            bucket.and_then(|bucket| LATENCY_BUCKETS_MS.get(bucket).copied())
        };
        Some(Percentiles { p50_ms: at(0.50), p95_ms: at(0.95), p99_ms: at(0.99) })
    }
}

/// One resource's polls.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourcePolls {
    pub resource: String,
    pub minutes: Vec<PollMinuteView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PollMinuteView {
    #[schema(format = DateTime)]
    pub minute: String,
    #[serde(skip)]
    pub at: DateTime<Utc>,
    pub polls: u64,
    pub failed: u64,
    pub mean_duration_ms: f64,
    pub max_duration_ms: f64,
    pub records: u64,
}

/// The requests an instance's polls sent to Autotask in one minute, and its
/// database's hourly threshold as Autotask last reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestMinuteView {
    #[schema(format = DateTime)]
    pub minute: String,
    #[serde(skip)]
    pub at: DateTime<Utc>,
    pub requests: u64,
    pub threshold: Option<u64>,
    pub threshold_used: Option<u64>,
}

/// Every plugin version's calls over the last `hours`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginMetrics {
    pub hours: u32,
    #[schema(format = DateTime)]
    pub from: String,
    #[schema(format = DateTime)]
    pub until: String,
    /// By plugin file, then version.
    pub versions: Vec<PluginVersionCalls>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginVersionCalls {
    /// The plugin file (`incidents.wasm`).
    pub plugin: String,
    /// The version's SHA-256, shortened.
    pub version: String,
    pub minutes: Vec<CallMinuteView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallMinuteView {
    #[schema(format = DateTime)]
    pub minute: String,
    #[serde(skip)]
    pub at: DateTime<Utc>,
    pub calls: u64,
    pub failed: u64,
    pub mean_call_ms: f64,
}

impl Management {
    /// Instance `id`'s figures over the last `hours` (`?hours=`, see [`parse_hours`]).
    pub async fn instance_metrics(
        &self,
        id: &str,
        caller: &Caller,
        hours: Option<&str>,
    ) -> Result<InstanceMetrics, ManageError> {
        // Who may see it first: another user's instance is not found, whatever was asked of it.
        let instance = self.find(id, caller).await?.id();
        let hours = parse_hours(hours)?;
        let until = Utc::now();
        let from = until - TimeDelta::hours(i64::from(hours));
        let store = self.shared().store.clone();
        let stored_instance = instance.clone();
        let rows = blocking(move || store.delivery_minutes(&stored_instance, from)).await?;
        let history = &self.shared().history;
        let polls = history
            .polls(&instance, until, from)
            .into_iter()
            .map(|(resource, minutes)| ResourcePolls { resource, minutes: minutes.iter().map(poll_view).collect() })
            .collect();
        let requests = history.requests(&instance, until, from).iter().map(request_view).collect();
        Ok(InstanceMetrics {
            instance_id: instance,
            hours,
            from: format_date(from),
            until: format_date(until),
            latency_buckets_ms: LATENCY_BUCKETS_MS.to_vec(),
            delivery: delivery_metrics(&rows),
            polls,
            requests,
        })
    }

    /// Every plugin version's calls over the last `hours` (`?hours=`) on this host.
    pub fn plugin_metrics(&self, hours: Option<&str>) -> Result<PluginMetrics, ManageError> {
        let hours = parse_hours(hours)?;
        let until = Utc::now();
        let from = until - TimeDelta::hours(i64::from(hours));
        let versions = self
            .shared()
            .history
            .calls(until, from)
            .into_iter()
            .map(|((plugin, version), minutes)| PluginVersionCalls {
                plugin,
                version,
                minutes: minutes.iter().map(call_view).collect(),
            })
            .collect();
        Ok(PluginMetrics { hours, from: format_date(from), until: format_date(until), versions })
    }
}

/// The store's rows (one per minute and latency bucket) folded into minutes.
pub fn delivery_metrics(rows: &[DeliveryMinute]) -> DeliveryMetrics {
    let buckets = LATENCY_BUCKETS_MS.len() + 1;
    let mut metrics = DeliveryMetrics::default();
    let mut all = vec![0; buckets];
    for row in rows {
        let at = DateTime::parse_from_rfc3339(&format!("{}:00Z", row.minute))
            .map(|at| at.with_timezone(&Utc))
            .unwrap_or_default();
        if metrics.minutes.last().is_none_or(|last| last.at != at) {
            metrics.minutes.push(DeliveryMinuteView {
                minute: format_date(at),
                at,
                delivered: 0,
                failed: 0,
                latency_counts: vec![0; buckets],
                latency: None,
            });
        }
        let minute = metrics.minutes.last_mut().expect("a minute was just made");
        let bucket = row.bucket.min(buckets - 1);
        minute.delivered += row.delivered_events;
        minute.failed += row.failed_events;
        minute.latency_counts[bucket] += row.delivered_attempts;
        all[bucket] += row.delivered_attempts;
        metrics.delivered += row.delivered_events;
        metrics.failed += row.failed_events;
    }
    for minute in &mut metrics.minutes {
        minute.latency = Percentiles::of(&minute.latency_counts);
    }
    metrics.latency = Percentiles::of(&all);
    metrics
}

fn poll_view((at, minute): &(DateTime<Utc>, PollMinute)) -> PollMinuteView {
    PollMinuteView {
        minute: format_date(*at),
        at: *at,
        polls: minute.polls,
        failed: minute.failed,
        mean_duration_ms: if minute.polls == 0 { 0.0 } else { minute.total_ms / minute.polls as f64 },
        max_duration_ms: minute.max_ms,
        records: minute.records,
    }
}

fn request_view((at, minute): &(DateTime<Utc>, RequestMinute)) -> RequestMinuteView {
    RequestMinuteView {
        minute: format_date(*at),
        at: *at,
        requests: minute.requests,
        threshold: minute.threshold,
        threshold_used: minute.threshold_used,
    }
}

fn call_view((at, minute): &(DateTime<Utc>, CallMinute)) -> CallMinuteView {
    CallMinuteView {
        minute: format_date(*at),
        at: *at,
        calls: minute.calls,
        failed: minute.failed,
        mean_call_ms: if minute.calls == 0 { 0.0 } else { minute.total_ms / minute.calls as f64 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_the_upper_bounds_of_the_buckets_they_fall_in() {
        // 90 attempts up to 5 ms, 8 up to 100 ms, 2 slower than 10 s.
        let mut counts = vec![0; LATENCY_BUCKETS_MS.len() + 1];
        counts[0] = 90;
        counts[4] = 8;
        counts[LATENCY_BUCKETS_MS.len()] = 2;
        assert_eq!(Percentiles::of(&counts), Some(Percentiles { p50_ms: Some(5), p95_ms: Some(100), p99_ms: None }));
        assert_eq!(Percentiles::of(&[0, 0]), None);
    }

    #[test]
    fn rows_fold_into_minutes_with_their_totals() {
        let row = |minute: &str, bucket, delivered_events, failed_events, delivered_attempts| DeliveryMinute {
            minute: minute.into(),
            bucket,
            delivered_events,
            failed_events,
            delivered_attempts,
        };
        let metrics = delivery_metrics(&[
            row("2024-06-01T12:00", 1, 0, 3, 0),
            row("2024-06-01T12:00", 3, 4, 0, 2),
            row("2024-06-01T12:01", 2, 1, 0, 1),
        ]);
        assert_eq!((metrics.delivered, metrics.failed, metrics.minutes.len()), (5, 3, 2));
        assert_eq!(metrics.minutes[0].minute, "2024-06-01T12:00:00.000Z");
        assert_eq!((metrics.minutes[0].delivered, metrics.minutes[0].failed), (4, 3));
        assert_eq!(metrics.minutes[0].latency.map(|latency| latency.p50_ms), Some(Some(50)));
        assert_eq!(metrics.latency.map(|latency| latency.p99_ms), Some(Some(50)));
    }

    #[test]
    fn hours_are_a_whole_number_from_1_to_24() {
        assert_eq!(parse_hours(None), Ok(24));
        assert_eq!(parse_hours(Some("6")), Ok(6));
        for bad in ["0", "25", "-1", "two", ""] {
            let error = parse_hours(Some(bad)).unwrap_err();
            assert_eq!(error.field_problems()[0].field, "?hours", "{bad}");
        }
    }
}
