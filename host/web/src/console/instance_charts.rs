//! An instance page's charts: events delivered and failed, delivery latency,
//! polls and Autotask requests over the last 24 hours, each a [`Chart`] of
//! 10-minute periods (hours for requests, as Autotask's threshold counts).

use chrono::{DateTime, TimeDelta, Utc};
use engine::manage::metrics::{InstanceMetrics, Percentiles, RequestMinuteView};
use engine::store::LATENCY_BUCKETS_MS;
use maud::{Markup, html};

use super::charts::{Chart, Row, number, period_start, periods, render};

/// The period a row of the charts sums up.
const PERIOD: TimeDelta = TimeDelta::minutes(10);

/// The Charts section of an instance's page.
pub fn section(metrics: &InstanceMetrics) -> Markup {
    let window = Window::of(metrics);
    html! {
        section #charts aria-labelledby="charts-heading" {
            h2 #charts-heading { "Charts" }
            p .hint {
                "The last " (metrics.hours) " hours. Deliveries come from the state database; polls and Autotask "
                "requests are this host's since it started."
            }
            div .charts {
                (render(&events_chart(metrics, &window)))
                (render(&latency_chart(metrics, &window)))
                (render(&poll_duration_chart(metrics, &window)))
                (render(&records_chart(metrics, &window)))
                (render(&requests_chart(metrics, &window)))
            }
        }
    }
}

/// The time the charts span, and its 10-minute periods.
struct Window {
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    periods: Vec<DateTime<Utc>>,
}

impl Window {
    fn of(metrics: &InstanceMetrics) -> Window {
        let parse =
            |text: &str| DateTime::parse_from_rfc3339(text).map(|at| at.with_timezone(&Utc)).unwrap_or_default();
        let (from, until) = (parse(&metrics.from), parse(&metrics.until));
        Window { from, until, periods: periods(from, until, PERIOD) }
    }

    /// The period `at` is in, as an index into `periods`.
    fn index(&self, at: DateTime<Utc>) -> Option<usize> {
        self.periods.binary_search(&period_start(at, PERIOD)).ok()
    }

    fn last_hours(&self) -> String {
        let hours = (self.until - self.from).num_hours();
        if hours == 1 { "last hour".into() } else { format!("last {hours} h") }
    }

    fn chart<'a>(&self, id: &str, title: &str, unit: &'a str, series: Vec<String>, rows: Vec<Row>) -> Chart<'a> {
        Chart {
            id: id.into(),
            title: title.into(),
            unit,
            from: self.from,
            until: self.until,
            period: "10 minutes",
            series,
            rows,
            reference: None,
            ceiling: None,
            summary: String::new(),
            empty: "",
        }
    }
}

fn events_chart<'a>(metrics: &InstanceMetrics, window: &Window) -> Chart<'a> {
    // Every period has a count, 0 included: a line between two busy periods
    // must not hide the quiet ones between them.
    let mut sums = vec![[0u64; 2]; window.periods.len()];
    for minute in &metrics.delivery.minutes {
        if let Some(index) = window.index(minute.at) {
            sums[index][0] += minute.delivered;
            sums[index][1] += minute.failed;
        }
    }
    let peak =
        sums.iter().zip(&window.periods).max_by_key(|([delivered, _], at)| (*delivered, std::cmp::Reverse(**at)));
    let mut summary = format!(
        "Events per 10 minutes, {}: {} delivered, {} failed",
        window.last_hours(),
        number(metrics.delivery.delivered as f64),
        number(metrics.delivery.failed as f64)
    );
    if let Some(([delivered, _], at)) = peak.filter(|([delivered, _], _)| *delivered > 0) {
        summary += &format!(
            "; peak {} delivered in the 10 minutes from {} UTC",
            number(*delivered as f64),
            at.format("%H:%M")
        );
    }
    summary.push('.');
    let rows = if metrics.delivery.minutes.is_empty() {
        Vec::new()
    } else {
        window
            .periods
            .iter()
            .zip(&sums)
            .map(|(at, [delivered, failed])| Row {
                at: *at,
                values: vec![Some(*delivered as f64), Some(*failed as f64)],
            })
            .collect()
    };
    Chart {
        summary,
        empty: "No deliveries in the last 24 hours.",
        ..window.chart(
            "chart-events",
            "Events delivered and failed",
            "events",
            vec!["delivered".into(), "failed".into()],
            rows,
        )
    }
}

fn latency_chart<'a>(metrics: &InstanceMetrics, window: &Window) -> Chart<'a> {
    // Percentiles of a period come from its minutes' bucket counts added up,
    // not from the minutes' percentiles.
    let buckets = LATENCY_BUCKETS_MS.len() + 1;
    let mut counts = vec![vec![0u64; buckets]; window.periods.len()];
    for minute in &metrics.delivery.minutes {
        if let Some(index) = window.index(minute.at) {
            for (sum, count) in counts[index].iter_mut().zip(&minute.latency_counts) {
                *sum += count;
            }
        }
    }
    let slowest = *LATENCY_BUCKETS_MS.last().expect("buckets") as f64;
    // A percentile in the last bucket is only known to be slower than its bound.
    let value = |ms: Option<u64>| Some(ms.map_or(slowest + 1.0, |ms| ms as f64));
    let rows = window
        .periods
        .iter()
        .zip(&counts)
        .map(|(at, counts)| Row {
            at: *at,
            values: match Percentiles::of(counts) {
                Some(p) => vec![value(p.p50_ms), value(p.p95_ms), value(p.p99_ms)],
                None => vec![None, None, None],
            },
        })
        .collect();
    let shown = |ms: Option<u64>| {
        ms.map_or(format!("over {} ms", number(slowest)), |ms| format!("at most {} ms", number(ms as f64)))
    };
    let summary = match metrics.delivery.latency {
        Some(p) => format!(
            "Delivery latency per 10 minutes, {}, estimated from latency buckets: p50 {}, p95 {}, p99 {}.",
            window.last_hours(),
            shown(p.p50_ms),
            shown(p.p95_ms),
            shown(p.p99_ms)
        ),
        None => String::new(),
    };
    Chart {
        summary,
        ceiling: Some(slowest),
        empty: "No deliveries in the last 24 hours, so no latency.",
        ..window.chart(
            "chart-latency",
            "Delivery latency (upper bounds of its buckets)",
            "ms",
            vec!["p50".into(), "p95".into(), "p99".into()],
            rows,
        )
    }
}

/// Per resource, a value of each period that had polls (`None` otherwise).
fn poll_rows(metrics: &InstanceMetrics, window: &Window, value: impl Fn((u64, u64, f64)) -> Option<f64>) -> Vec<Row> {
    // Per period and resource: (polls, records, summed duration ms).
    let mut sums = vec![vec![(0u64, 0u64, 0f64); metrics.polls.len()]; window.periods.len()];
    for (resource, polls) in metrics.polls.iter().enumerate() {
        for minute in &polls.minutes {
            if let Some(index) = window.index(minute.at) {
                let sum = &mut sums[index][resource];
                sum.0 += minute.polls;
                sum.1 += minute.records;
                sum.2 += minute.mean_duration_ms * minute.polls as f64;
            }
        }
    }
    window
        .periods
        .iter()
        .zip(&sums)
        .map(|(at, sums)| Row { at: *at, values: sums.iter().map(|sum| value(*sum)).collect() })
        .collect()
}

fn resources(metrics: &InstanceMetrics) -> Vec<String> {
    metrics.polls.iter().map(|polls| polls.resource.clone()).collect()
}

fn total_polls(metrics: &InstanceMetrics) -> u64 {
    metrics.polls.iter().flat_map(|polls| &polls.minutes).map(|minute| minute.polls).sum()
}

fn poll_duration_chart<'a>(metrics: &InstanceMetrics, window: &Window) -> Chart<'a> {
    let rows = poll_rows(metrics, window, |(polls, _, total_ms)| (polls > 0).then(|| total_ms / polls as f64));
    let slowest =
        metrics.polls.iter().flat_map(|polls| &polls.minutes).map(|minute| minute.max_duration_ms).fold(0.0, f64::max);
    Chart {
        summary: format!(
            "Mean poll duration per 10 minutes and resource, {}: {} polls, the slowest {} ms.",
            window.last_hours(),
            number(total_polls(metrics) as f64),
            number(slowest)
        ),
        empty: "No polls on this host in the last 24 hours (these figures start again when the service restarts).",
        ..window.chart("chart-poll-duration", "Poll duration (mean)", "ms", resources(metrics), rows)
    }
}

fn records_chart<'a>(metrics: &InstanceMetrics, window: &Window) -> Chart<'a> {
    let rows = poll_rows(metrics, window, |(polls, records, _)| (polls > 0).then(|| records as f64 / polls as f64));
    let records: u64 = metrics.polls.iter().flat_map(|polls| &polls.minutes).map(|minute| minute.records).sum();
    Chart {
        summary: format!(
            "Records read per poll per 10 minutes and resource, {}: {} records in {} polls.",
            window.last_hours(),
            number(records as f64),
            number(total_polls(metrics) as f64)
        ),
        empty: "No polls on this host in the last 24 hours.",
        ..window.chart("chart-records", "Records per poll (mean)", "records", resources(metrics), rows)
    }
}

fn requests_chart<'a>(metrics: &InstanceMetrics, window: &Window) -> Chart<'a> {
    let hours = periods(window.from, window.until, TimeDelta::hours(1));
    let mut sums: Vec<(u64, Option<u64>)> = vec![(0, None); hours.len()];
    for minute in &metrics.requests {
        if let Ok(index) = hours.binary_search(&period_start(minute.at, TimeDelta::hours(1))) {
            sums[index].0 += minute.requests;
            // Autotask's count for its database, as last read in the hour.
            if minute.threshold_used.is_some() {
                sums[index].1 = minute.threshold_used;
            }
        }
    }
    let threshold = metrics.requests.iter().rev().find_map(|minute: &RequestMinuteView| minute.threshold);
    let rows = if metrics.requests.is_empty() {
        Vec::new()
    } else {
        hours
            .iter()
            .zip(&sums)
            .map(|(at, (sent, used))| Row { at: *at, values: vec![Some(*sent as f64), used.map(|used| used as f64)] })
            .collect()
    };
    let sent: u64 = metrics.requests.iter().map(|minute| minute.requests).sum();
    let mut summary = format!(
        "Autotask requests per hour, {}: {} sent by this instance's polls",
        window.last_hours(),
        number(sent as f64)
    );
    match threshold {
        Some(threshold) => summary += &format!(", against an hourly threshold of {}.", number(threshold as f64)),
        None => summary += "; Autotask's hourly threshold has not been read yet.",
    }
    Chart {
        period: "hour",
        summary,
        reference: threshold.map(|threshold| ("hourly threshold".into(), threshold as f64)),
        empty: "No Autotask requests on this host in the last 24 hours.",
        ..window.chart(
            "chart-requests",
            "Autotask requests per hour",
            "requests",
            vec!["sent by this instance".into(), "used in the hour (Autotask's count, every user)".into()],
            rows,
        )
    }
}
