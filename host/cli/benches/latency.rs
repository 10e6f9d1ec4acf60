//! Change-to-delivery latency: one `autotask-events serve` process (this
//! package's release binary) runs two instances against the simulator, one
//! polling Tickets every 5 s, the other every 60 s. Through the simulator's
//! API (`PATCH /sim/Tickets/{id}`) the bench changes a different Ticket at
//! uniformly random moments over 4 minutes (one at a random moment in each
//! second: stratified, so the phases against the poll cycle are even); a
//! receiver records when each event reaches each instance's callback. The
//! latency of a change is from just before its PATCH is sent to the receipt of
//! its event.
//!
//! Printed per interval: p50, p99 and the highest latency against the ideal
//! poller (the baseline: a change waits for the next poll, half an interval on
//! average; p50 = interval / 2, p99 = 0.99 × interval, with no time to read,
//! map, store or deliver), the breakdown of where the time went (waiting for
//! the next poll, reading from Autotask, mapping, storing, delivering — from
//! each poll's summary in the service's log), and a met/MISSED line per goal:
//! 60 s: p50 ≤ 30 s + 200 ms and p99 ≤ 60 s + 500 ms; 5 s: p99 ≤ 6 s.
//!
//! Settings: the default `overlap_seconds` (60) and no `pollDelay`: both widen
//! what a poll reads back, neither delays a change's delivery.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use autotask_sim::{Entity, SimConfig, Simulator};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::routing::post;
use chrono::{DateTime, Utc};
use common::{quantile, serve_json_logs, verdict};
use serde_json::{Value, json};
use support::service::{SimControl, incidents_resource, instance_toml};

/// The two instances: (label, interval in seconds).
const INTERVALS: [(&str, f64); 2] = [("5s", 5.0), ("60s", 60.0)];
/// Changes are made over this long.
const CHANGING: Duration = Duration::from_secs(240);
/// One change a second on average.
const CHANGES: usize = 240;

/// When each (instance label, objectId) event was received.
type Receipts = Arc<Mutex<HashMap<(String, String), DateTime<Utc>>>>;

/// One poll that produced events, from its summary in the log.
#[derive(Debug, Clone)]
struct Poll {
    label: String,
    /// When its summary was logged (right after its commit).
    ended: DateTime<Utc>,
    took_ms: f64,
    reading_ms: f64,
    mapping_ms: f64,
    storing_ms: f64,
}

impl Poll {
    fn started(&self) -> DateTime<Utc> {
        self.ended - chrono::TimeDelta::microseconds((self.took_ms * 1000.0) as i64)
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = runtime.block_on(async {
        Simulator::start(SimConfig {
            tickets: 2 * CHANGES,
            threshold: 100_000_000,
            threshold_latency: [Duration::ZERO; 2],
            ..SimConfig::default()
        })
        .await
        .unwrap()
    });
    let receipts: Receipts = Arc::default();
    let receiver = runtime.block_on(receiver(receipts.clone()));
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sim, receiver);
    // The supervisor's `poll` spans name each summary's instance.
    let log = "warn,autotask_events_engine::service::scheduler=info,autotask_events_engine::service::supervisor=info";
    let (mut child, address) = serve_json_logs(&config, log);
    let polls: Arc<Mutex<Vec<Poll>>> = Arc::default();
    let log_reader = {
        let (stderr, polls) = (child.stderr.take().unwrap(), polls.clone());
        std::thread::spawn(move || read_log(stderr, &polls))
    };
    // Every instance's first poll (from its creation on) is done.
    std::thread::sleep(Duration::from_secs(3));

    eprintln!("latency: changing {CHANGES} Tickets at random moments over {} s ...", CHANGING.as_secs());
    let changes = runtime.block_on(make_changes(&sim));
    let deadline = Utc::now() + chrono::TimeDelta::seconds(90);
    while receipts.lock().unwrap().len() < changes.len() * INTERVALS.len() && Utc::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let delivery = runtime.block_on(delivery_latency(&format!("http://{address}/metrics")));
    child.kill().unwrap();
    child.wait().unwrap();
    log_reader.join().unwrap();

    let receipts = receipts.lock().unwrap().clone();
    let polls = polls.lock().unwrap().clone();
    let mut goals = Vec::new();
    for (label, interval) in INTERVALS {
        goals.extend(report(label, interval, &changes, &receipts, &polls, delivery.get(label).copied()));
    }
    eprintln!("latency, goals:");
    for (goal, ours, met) in goals {
        eprintln!("  goal: {goal}: {ours} ({})", verdict(met));
    }
}

/// `service.toml`: one instance per interval, each delivering to its own path.
fn write_config(dir: &Path, sim: &Simulator, receiver: SocketAddr) -> PathBuf {
    let mut text = String::from(
        "[egress]\nallow = [\"loopback\"]\n\n[limits]\nmin_refresh_interval_seconds = 0.001\n\n\
         [server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"data\"\nplugin_dir = \"plugins\"\n\n",
    );
    for (label, interval) in INTERVALS {
        text.push_str(&instance_toml(
            &format!("latency-{label}"),
            sim,
            &format!("http://{receiver}/events/{label}"),
            json!({"incidents": incidents_resource()}),
            json!({"event.notification.signature.key": "bench"}),
            &format!("refresh_interval_seconds = {interval}"),
        ));
        text.push('\n');
    }
    let path = dir.join("service.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A receiver that notes when each event arrived, by the instance's label (the path).
async fn receiver(receipts: Receipts) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let receive = |State(receipts): State<Receipts>, UrlPath(label): UrlPath<String>, body: Bytes| async move {
        let at = Utc::now();
        let message: Value = serde_json::from_slice(&body).expect("a JSON message");
        let mut receipts = receipts.lock().unwrap();
        for event in message["message"]["events"].as_array().into_iter().flatten() {
            let id = match &event["objectId"] {
                Value::String(id) => id.clone(),
                other => other.to_string(),
            };
            receipts.entry((label.clone(), id)).or_insert(at);
        }
        "ok"
    };
    let router = Router::new().route("/events/{label}", post(receive)).with_state(receipts);
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// Changes [`CHANGES`] different Tickets at uniformly random moments over
/// [`CHANGING`]; returns when each was changed (just before its PATCH), by id.
async fn make_changes(sim: &Simulator) -> Vec<(String, DateTime<Utc>)> {
    let ids: Vec<i64> = sim.with_store(|store| store.table(Entity::Tickets).keys().copied().take(CHANGES).collect());
    assert_eq!(ids.len(), CHANGES, "the simulator holds enough Tickets");
    // A fixed seed: the same moments on every run.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut unit = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    // Stratified: one change at a uniformly random moment within each of
    // [`CHANGES`] equal slots. Each change's moment is uniform over the run,
    // as with independent draws, but their phases against the poll cycle
    // cover it evenly, so the median of a few hundred is not off by seconds
    // by chance (independent draws put it ±2 s from the true median at 60 s).
    let slot = CHANGING / CHANGES as u32;
    let moments: Vec<Duration> = (0..CHANGES).map(|index| slot * index as u32 + slot.mul_f64(unit())).collect();
    let control = SimControl::new(sim);
    let start = tokio::time::Instant::now();
    let mut changes = Vec::new();
    for (index, (id, moment)) in ids.into_iter().zip(moments).enumerate() {
        tokio::time::sleep_until(start + moment).await;
        let at = Utc::now();
        control.patch("Tickets", id, json!({"title": format!("latency change {index}")})).await;
        changes.push((id.to_string(), at));
    }
    changes
}

/// Reads the service's JSON log until it closes, keeping the summaries of polls that produced events.
fn read_log(stderr: std::process::ChildStderr, polls: &Mutex<Vec<Poll>>) {
    let mut shown = 0;
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        if std::env::var_os("LATENCY_SHOW_LOG").is_some() && shown < 20 {
            shown += 1;
            eprintln!("  log: {line}");
        }
        let Ok(entry) = serde_json::from_str::<Value>(&line) else { continue };
        let message = entry["fields"]["message"].as_str().unwrap_or_default();
        let label =
            INTERVALS.iter().map(|(label, _)| *label).find(|label| line.contains(&format!("latency-{label}\"")));
        let (Some(label), Some(timings)) = (label, message.rsplit("; ").next()) else { continue };
        if !message.starts_with("read ") {
            if entry["level"] != "INFO" {
                eprintln!("  service: {message}");
            }
            continue;
        }
        // `… ; 12 ms (waiting for Autotask 3, mapping 2, storing 1)`
        let numbers: Vec<f64> = timings
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|part| !part.is_empty())
            .filter_map(|part| part.parse().ok())
            .collect();
        let ended = entry["timestamp"].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok());
        if numbers.len() != 4 || ended.is_none() {
            eprintln!("  (a poll summary the bench cannot read: {line})");
        }
        if let ([took_ms, reading_ms, mapping_ms, storing_ms], Some(ended)) = (numbers.as_slice(), ended) {
            polls.lock().unwrap().push(Poll {
                label: label.to_owned(),
                ended: ended.with_timezone(&Utc),
                took_ms: *took_ms,
                reading_ms: *reading_ms,
                mapping_ms: *mapping_ms,
                storing_ms: *storing_ms,
            });
        }
    }
}

/// Mean seconds from a message's commit to the callback's 2xx, by label,
/// from the service's `delivery_latency_seconds` histogram.
async fn delivery_latency(url: &str) -> HashMap<String, f64> {
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    let value = |name: &str, label: &str| {
        text.lines()
            .find(|line| line.starts_with(name) && line.contains(&format!("instance=\"latency-{label}\"")))
            .and_then(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
    };
    INTERVALS
        .iter()
        .filter_map(|(label, _)| {
            let sum = value("autotask_events_delivery_latency_seconds_sum", label)?;
            let count = value("autotask_events_delivery_latency_seconds_count", label)?;
            Some(((*label).to_owned(), sum / count.max(1.0)))
        })
        .collect()
}

/// Prints one interval's figures; returns its goals as (goal, ours, met).
fn report(
    label: &str,
    interval: f64,
    changes: &[(String, DateTime<Utc>)],
    receipts: &HashMap<(String, String), DateTime<Utc>>,
    polls: &[Poll],
    delivery_mean: Option<f64>,
) -> Vec<(String, String, bool)> {
    let seconds = |delta: chrono::TimeDelta| delta.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
    let mut polls: Vec<&Poll> = polls.iter().filter(|poll| poll.label == label).collect();
    polls.sort_by_key(|poll| poll.started());
    let mut latencies = Vec::new();
    // Per change: waiting for the next poll, reading, mapping, storing, the rest of the poll, delivering.
    let mut parts: [Vec<f64>; 6] = Default::default();
    let mut missing = 0;
    for (id, changed) in changes {
        let Some(received) = receipts.get(&(label.to_owned(), id.clone())) else {
            missing += 1;
            continue;
        };
        latencies.push(seconds(*received - *changed));
        // The poll that read it: the first to start after the change.
        let Some(poll) = polls.iter().find(|poll| poll.started() >= *changed) else { continue };
        let in_poll = (poll.reading_ms + poll.mapping_ms + poll.storing_ms) / 1000.0;
        for (part, value) in parts.iter_mut().zip([
            seconds(poll.started() - *changed),
            poll.reading_ms / 1000.0,
            poll.mapping_ms / 1000.0,
            poll.storing_ms / 1000.0,
            poll.took_ms / 1000.0 - in_poll,
            seconds(*received - poll.ended),
        ]) {
            part.push(value);
        }
    }
    let (p50, p99, max) = (quantile(&latencies, 0.5), quantile(&latencies, 0.99), quantile(&latencies, 1.0));
    let (ideal_p50, ideal_p99) = (interval / 2.0, interval * 0.99);
    eprintln!(
        "latency, {label} interval: {} changes delivered ({missing} missing), {} polls with events",
        latencies.len(),
        polls.len()
    );
    eprintln!("  ideal poller (baseline): p50 {ideal_p50:.3} s, p99 {ideal_p99:.3} s");
    eprintln!(
        "  serve:                   p50 {p50:.3} s (+{:.0} ms), p99 {p99:.3} s (+{:.0} ms), highest {max:.3} s",
        (p50 - ideal_p50) * 1000.0,
        (p99 - ideal_p99) * 1000.0
    );
    let names =
        ["waiting for the next poll", "reading from Autotask", "mapping", "storing", "rest of the poll", "delivering"];
    eprintln!("  breakdown over {} changes (mean, p99):", parts[0].len());
    for (name, values) in names.iter().zip(&parts) {
        let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
        eprintln!("    {name:<27} {:>9.1} ms  {:>9.1} ms", mean * 1000.0, quantile(values, 0.99) * 1000.0);
    }
    if let Some(mean) = delivery_mean {
        eprintln!("  delivering, from the service's metrics (commit to 2xx): mean {:.1} ms", mean * 1000.0);
    }
    let complete = missing == 0;
    let ours = |value: f64| format!("{value:.3} s{}", if complete { "" } else { " (changes missing)" });
    if interval >= 60.0 {
        vec![
            ("60 s interval, p50 ≤ 30.2 s".into(), ours(p50), complete && p50 <= 30.2),
            ("60 s interval, p99 ≤ 60.5 s".into(), ours(p99), complete && p99 <= 60.5),
        ]
    } else {
        vec![("5 s interval, p99 ≤ 6 s".into(), ours(p99), complete && p99 <= 6.0)]
    }
}
