//! The plugins page's charts: per plugin file, the calls and the mean call
//! time of each version, per 10 minutes over the last 24 hours on this host.

use chrono::{DateTime, TimeDelta, Utc};
use engine::manage::metrics::{PluginMetrics, PluginVersionCalls};
use maud::{Markup, html};

use super::charts::{Chart, Row, number, period_start, periods, render};

const PERIOD: TimeDelta = TimeDelta::minutes(10);

/// The Charts section of the plugins page.
pub fn section(metrics: &PluginMetrics) -> Markup {
    let parse = |text: &str| DateTime::parse_from_rfc3339(text).map(|at| at.with_timezone(&Utc)).unwrap_or_default();
    let (from, until) = (parse(&metrics.from), parse(&metrics.until));
    let mut files: Vec<&str> = metrics.versions.iter().map(|calls| calls.plugin.as_str()).collect();
    files.dedup();
    html! {
        section #charts aria-labelledby="charts-heading" {
            h2 #charts-heading { "Charts" }
            p .hint { "Calls on this host in the last " (metrics.hours) " hours, by version; they start again when the service restarts." }
            @if files.is_empty() {
                p .empty-chart { "No plugin calls on this host in the last 24 hours." }
            }
            div .charts {
                @for (index, file) in files.iter().enumerate() {
                    @let versions: Vec<&PluginVersionCalls> = metrics.versions.iter().filter(|calls| calls.plugin == *file).collect();
                    (render(&calls_chart(index, file, &versions, from, until)))
                    (render(&call_time_chart(index, file, &versions, from, until)))
                }
            }
        }
    }
}

/// Per 10-minute period and version: (calls, summed call time in ms).
fn sums(versions: &[&PluginVersionCalls], periods: &[DateTime<Utc>]) -> Vec<Vec<(u64, f64)>> {
    let mut sums = vec![vec![(0u64, 0f64); versions.len()]; periods.len()];
    for (version, calls) in versions.iter().enumerate() {
        for minute in &calls.minutes {
            if let Ok(index) = periods.binary_search(&period_start(minute.at, PERIOD)) {
                sums[index][version].0 += minute.calls;
                sums[index][version].1 += minute.mean_call_ms * minute.calls as f64;
            }
        }
    }
    sums
}

fn names(versions: &[&PluginVersionCalls]) -> Vec<String> {
    versions.iter().map(|calls| format!("version {}", calls.version)).collect()
}

fn chart(id: String, title: String, unit: &'static str, from: DateTime<Utc>, until: DateTime<Utc>) -> Chart<'static> {
    Chart {
        id,
        title,
        unit,
        from,
        until,
        period: "10 minutes",
        series: Vec::new(),
        rows: Vec::new(),
        reference: None,
        ceiling: None,
        summary: String::new(),
        empty: "No calls in the last 24 hours.",
    }
}

fn calls_chart(
    index: usize,
    file: &str,
    versions: &[&PluginVersionCalls],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Chart<'static> {
    let all = periods(from, until, PERIOD);
    let sums = sums(versions, &all);
    let rows = all
        .iter()
        .zip(&sums)
        .map(|(at, sums)| Row { at: *at, values: sums.iter().map(|(calls, _)| Some(*calls as f64)).collect() })
        .collect();
    let totals: Vec<String> = versions
        .iter()
        .map(|calls| {
            let total: u64 = calls.minutes.iter().map(|minute| minute.calls).sum();
            format!("version {} {}", calls.version, number(total as f64))
        })
        .collect();
    Chart {
        series: names(versions),
        rows,
        summary: format!("Calls of {file} per 10 minutes, last 24 h: {}.", totals.join(", ")),
        ..chart(format!("chart-calls-{index}"), format!("{file}: calls"), "calls", from, until)
    }
}

fn call_time_chart(
    index: usize,
    file: &str,
    versions: &[&PluginVersionCalls],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Chart<'static> {
    let all = periods(from, until, PERIOD);
    let sums = sums(versions, &all);
    let rows = all
        .iter()
        .zip(&sums)
        .map(|(at, sums)| Row {
            at: *at,
            values: sums.iter().map(|(calls, total)| (*calls > 0).then(|| total / *calls as f64)).collect(),
        })
        .collect();
    let means: Vec<String> = versions
        .iter()
        .map(|calls| {
            let (count, total) = calls.minutes.iter().fold((0u64, 0f64), |(count, total), minute| {
                (count + minute.calls, total + minute.mean_call_ms * minute.calls as f64)
            });
            let mean = if count == 0 { 0.0 } else { total / count as f64 };
            format!("version {} {} ms", calls.version, number(mean))
        })
        .collect();
    Chart {
        series: names(versions),
        rows,
        summary: format!("Mean call time of {file} per 10 minutes, last 24 h: {}.", means.join(", ")),
        ..chart(format!("chart-call-time-{index}"), format!("{file}: mean call time"), "ms", from, until)
    }
}
