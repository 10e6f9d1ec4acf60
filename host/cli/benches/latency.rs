//! Change-to-delivery latency: one `autotask-events serve` process (this
//! package's release binary) runs four instances against the simulator: two
//! only poll Tickets, one every 5 s and one every 60 s; two more have push on
//! (`event.push.enabled`: an Autotask webhook calls the service out on each
//! change) and poll at the same 5 s and 60 s while it is active, so push is
//! compared with polling at the same interval. Before changing anything the
//! bench waits for every instance's first poll and for both webhooks to be
//! active (`autotask_events_push_active` in `/metrics`). Through the
//! simulator's API (`PATCH /sim/Tickets/{id}`) the bench changes a different
//! Ticket at uniformly random moments over 4 minutes (one at a random moment in
//! each second: stratified, so the phases against the poll cycle are even); a
//! receiver records when each event reaches each instance's callback. The
//! latency of a change is from just before its PATCH is sent to the receipt of
//! its event.
//!
//! Printed per polling-only instance: p50, p99 and the highest latency against
//! the ideal poller (the baseline: a change waits for the next poll, half an
//! interval on average; p50 = interval / 2, p99 = 0.99 × interval, with no time
//! to read, map, store or deliver) and the breakdown of where the time went
//! (waiting for the next poll, reading from Autotask, mapping, storing,
//! delivering — from each poll's summary in the service's log). Per push
//! instance, where a breakdown by poll means nothing: p50, p99 and the highest
//! latency against the same baseline and the polling-only instance's own p50
//! and p99 at its interval in this run, how many changes arrived, how many the
//! poll found before push delivered them (`autotask_events_push_gap_total`)
//! and how many callouts were verified. Then a met/MISSED line per goal (not
//! met while any change is missing): polling only, 60 s: p50 ≤ 30 s + 200 ms
//! and p99 ≤ 60 s + 500 ms; 5 s: p99 ≤ 6 s; push on, at 5 s and at 60 s:
//! p99 ≤ 2 s.
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

/// One instance of the run; its id is `latency-{label}`, its callback path `/events/{label}`.
#[derive(Debug, Clone, Copy)]
struct Instance {
    label: &'static str,
    /// Seconds between polls (with push on, also while the webhook is active).
    interval: f64,
    push: bool,
}

/// Polling only and push on, each at 5 s and 60 s.
const INSTANCES: [Instance; 4] = [
    Instance { label: "5s", interval: 5.0, push: false },
    Instance { label: "60s", interval: 60.0, push: false },
    Instance { label: "push-5s", interval: 5.0, push: true },
    Instance { label: "push-60s", interval: 60.0, push: true },
];
/// Changes are made over this long.
const CHANGING: Duration = Duration::from_secs(240);
/// One change a second on average.
const CHANGES: usize = 240;
/// How long registering both webhooks may take before the bench gives up.
const PUSH_ACTIVE_WITHIN: Duration = Duration::from_secs(30);

/// When each (instance label, objectId) event was received.
type Received = HashMap<(String, String), DateTime<Utc>>;
/// [`Received`] as the receiver fills it.
type Receipts = Arc<Mutex<Received>>;

/// A goal as (goal, ours, met).
type Goal = (String, String, bool);

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
    let config = write_config(dir.path(), &sim, receiver, free_address());
    // The supervisor's `poll` spans name each summary's instance.
    let log = "warn,autotask_events_engine::service::scheduler=info,autotask_events_engine::service::supervisor=info";
    let (mut child, address) = serve_json_logs(&config, log);
    let metrics = format!("http://{address}/metrics");
    let polls: Arc<Mutex<Vec<Poll>>> = Arc::default();
    let log_reader = {
        let (stderr, polls) = (child.stderr.take().unwrap(), polls.clone());
        std::thread::spawn(move || read_log(stderr, &polls))
    };
    // Every instance's first poll (from its creation on) is done.
    std::thread::sleep(Duration::from_secs(3));
    if let Err(inactive) = runtime.block_on(wait_for_push(&metrics)) {
        child.kill().unwrap();
        panic!(
            "push is not active for {inactive} after {} s (no `autotask_events_push_active{{…}} 1` in /metrics): \
             did the simulator reach `public_url`?",
            PUSH_ACTIVE_WITHIN.as_secs()
        );
    }

    eprintln!("latency: changing {CHANGES} Tickets at random moments over {} s ...", CHANGING.as_secs());
    let changes = runtime.block_on(make_changes(&sim));
    let deadline = Utc::now() + chrono::TimeDelta::seconds(90);
    while receipts.lock().unwrap().len() < changes.len() * INSTANCES.len() && Utc::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let counted = runtime.block_on(read_metrics(&metrics));
    child.kill().unwrap();
    child.wait().unwrap();
    log_reader.join().unwrap();

    let receipts = receipts.lock().unwrap().clone();
    let polls = polls.lock().unwrap().clone();
    let mut goals = Vec::new();
    for instance in INSTANCES {
        let measured = Latencies::of(instance.label, &changes, &receipts);
        let counted = counted.get(instance.label).copied().unwrap_or_default();
        goals.extend(if instance.push {
            let polling = Latencies::of(polling_only(instance.interval).label, &changes, &receipts);
            report_push(instance, &measured, &polling, counted)
        } else {
            report_poll(instance, &measured, &changes, &receipts, &polls, counted)
        });
    }
    eprintln!("latency, goals:");
    for (goal, ours, met) in goals {
        eprintln!("  goal: {goal}: {ours} ({})", verdict(met));
    }
}

/// A loopback address free now: `public_url` (where the simulator calls out)
/// must name the service's listener before it starts.
fn free_address() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// `service.toml`: one instance per [`INSTANCES`] entry, each delivering to its own path.
fn write_config(dir: &Path, sim: &Simulator, receiver: SocketAddr, listen: SocketAddr) -> PathBuf {
    let mut text = format!(
        "[egress]\nallow = [\"loopback\"]\n\n[limits]\nmin_refresh_interval_seconds = 0.001\n\n\
         [server]\nlisten = \"{listen}\"\npublic_url = \"http://{listen}\"\ndata_dir = \"data\"\nplugin_dir = \"plugins\"\n\n",
    );
    for Instance { label, interval, push } in INSTANCES {
        let mut configuration = json!({"event.notification.signature.key": "bench"});
        let mut intervals = format!("refresh_interval_seconds = {interval}");
        if push {
            // The same interval while the webhook is active: push against polling alone, poll for poll.
            configuration["event.push.enabled"] = json!(true);
            intervals.push_str(&format!("\npush_refresh_interval_seconds = {interval}"));
        }
        text.push_str(&instance_toml(
            &format!("latency-{label}"),
            sim,
            &format!("http://{receiver}/events/{label}"),
            json!({"incidents": incidents_resource()}),
            configuration,
            &intervals,
        ));
        text.push('\n');
    }
    let path = dir.join("service.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The polling-only instance at `interval`: what push is compared with.
fn polling_only(interval: f64) -> Instance {
    INSTANCES
        .into_iter()
        .find(|instance| !instance.push && instance.interval == interval)
        .expect("a polling-only instance at every push instance's interval")
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

/// Waits until every push instance's webhook is active, so that no change
/// reaches them only by their poll; after [`PUSH_ACTIVE_WITHIN`], the ids of
/// those still inactive.
async fn wait_for_push(metrics: &str) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + PUSH_ACTIVE_WITHIN;
    loop {
        let text = metrics_text(metrics).await;
        let inactive: Vec<String> = INSTANCES
            .iter()
            .filter(|instance| instance.push)
            .filter(|instance| metric(&text, "autotask_events_push_active", instance.label, None) != Some(1.0))
            .map(|instance| format!("latency-{}", instance.label))
            .collect();
        if inactive.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(inactive.join(" and "));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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

/// Reads the service's JSON log until it closes, echoing its warnings and
/// errors and keeping the summaries of polling-only instances' polls that
/// produced events.
fn read_log(stderr: std::process::ChildStderr, polls: &Mutex<Vec<Poll>>) {
    let mut shown = 0;
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        if std::env::var_os("LATENCY_SHOW_LOG").is_some() && shown < 20 {
            shown += 1;
            eprintln!("  log: {line}");
        }
        let Ok(entry) = serde_json::from_str::<Value>(&line) else { continue };
        let message = entry["fields"]["message"].as_str().unwrap_or_default();
        if entry["level"] != "INFO" {
            // Also those naming no instance: a refused callout is the listener's.
            eprintln!("  service: {message}");
            continue;
        }
        // With the closing quote, `latency-5s"` is not found in `latency-push-5s"`.
        let instance = INSTANCES.iter().find(|instance| line.contains(&format!("latency-{}\"", instance.label)));
        // A push instance's polls catch only what push missed: its latency is not theirs to break down.
        let Some(label) = instance.filter(|instance| !instance.push).map(|instance| instance.label) else { continue };
        let (true, Some(timings)) = (message.starts_with("read "), message.rsplit("; ").next()) else { continue };
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

/// What the service's `/metrics` says of one instance at the end of the run.
#[derive(Debug, Clone, Copy, Default)]
struct Counted {
    /// Mean seconds from a message's commit to the callback's 2xx (`delivery_latency_seconds`).
    delivery_mean: Option<f64>,
    /// Changes the poll found before push delivered them (0 when never counted).
    push_gap: f64,
    /// Callouts whose signature checked out (0 when never counted).
    callouts_verified: f64,
}

/// Each instance's [`Counted`], by label: read before the service stops, as
/// it keeps them in memory only.
async fn read_metrics(metrics: &str) -> HashMap<&'static str, Counted> {
    let text = metrics_text(metrics).await;
    INSTANCES
        .iter()
        .map(|instance| {
            let value = |name: &str, outcome: Option<&str>| metric(&text, name, instance.label, outcome);
            let sum = value("autotask_events_delivery_latency_seconds_sum", None);
            let count = value("autotask_events_delivery_latency_seconds_count", None);
            let counted = Counted {
                delivery_mean: sum.zip(count).map(|(sum, count)| sum / count.max(1.0)),
                push_gap: value("autotask_events_push_gap_total", None).unwrap_or_default(),
                callouts_verified: value("autotask_events_push_callouts_total", Some("verified")).unwrap_or_default(),
            };
            (instance.label, counted)
        })
        .collect()
}

async fn metrics_text(metrics: &str) -> String {
    reqwest::get(metrics).await.unwrap().text().await.unwrap()
}

/// The value of the series `name` of the instance labelled `label` (and with
/// `outcome`, if given) in a `/metrics` text. With its quotes,
/// `instance="latency-5s"` is not found in `instance="latency-push-5s"`.
fn metric(text: &str, name: &str, label: &str, outcome: Option<&str>) -> Option<f64> {
    let instance = format!("instance=\"latency-{label}\"");
    let outcome = outcome.map(|outcome| format!("outcome=\"{outcome}\""));
    text.lines()
        .filter(|line| line.strip_prefix(name).is_some_and(|labels| labels.starts_with('{')))
        .find(|line| line.contains(&instance) && outcome.as_ref().is_none_or(|outcome| line.contains(outcome)))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

/// One instance's latencies: seconds from each change to its event's receipt.
struct Latencies {
    seconds: Vec<f64>,
    /// Changes whose event never arrived.
    missing: usize,
}

impl Latencies {
    fn of(label: &str, changes: &[(String, DateTime<Utc>)], receipts: &Received) -> Self {
        let mut latencies = Self { seconds: Vec::new(), missing: 0 };
        for (id, changed) in changes {
            match receipts.get(&(label.to_owned(), id.clone())) {
                Some(received) => latencies.seconds.push(seconds(*received - *changed)),
                None => latencies.missing += 1,
            }
        }
        latencies
    }

    fn p50(&self) -> f64 {
        quantile(&self.seconds, 0.5)
    }

    fn p99(&self) -> f64 {
        quantile(&self.seconds, 0.99)
    }

    fn highest(&self) -> f64 {
        quantile(&self.seconds, 1.0)
    }

    /// `goal` on one of these figures, `ours`: not met while any change is missing.
    fn goal(&self, goal: &str, ours: f64, bound: f64) -> Goal {
        let complete = self.missing == 0;
        let shown = format!("{ours:.3} s{}", if complete { "" } else { " (changes missing)" });
        (goal.to_owned(), shown, complete && ours <= bound)
    }
}

fn seconds(delta: chrono::TimeDelta) -> f64 {
    delta.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6
}

/// The ideal poller's (p50, p99) at `interval`: a change waits for the next poll, nothing else.
fn ideal(interval: f64) -> (f64, f64) {
    (interval / 2.0, interval * 0.99)
}

/// Prints a polling-only instance's figures and where the time went; returns its goals.
fn report_poll(
    instance: Instance,
    latencies: &Latencies,
    changes: &[(String, DateTime<Utc>)],
    receipts: &Received,
    polls: &[Poll],
    counted: Counted,
) -> Vec<Goal> {
    let Instance { label, interval, .. } = instance;
    let mut polls: Vec<&Poll> = polls.iter().filter(|poll| poll.label == label).collect();
    polls.sort_by_key(|poll| poll.started());
    // Per change: waiting for the next poll, reading, mapping, storing, the rest of the poll, delivering.
    let mut parts: [Vec<f64>; 6] = Default::default();
    for (id, changed) in changes {
        let Some(received) = receipts.get(&(label.to_owned(), id.clone())) else { continue };
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
    let (p50, p99, max) = (latencies.p50(), latencies.p99(), latencies.highest());
    let (ideal_p50, ideal_p99) = ideal(interval);
    eprintln!(
        "latency, {label} interval: {} changes delivered ({} missing), {} polls with events",
        latencies.seconds.len(),
        latencies.missing,
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
    report_delivery(counted);
    if interval >= 60.0 {
        vec![
            latencies.goal("60 s interval, p50 ≤ 30.2 s", p50, 30.2),
            latencies.goal("60 s interval, p99 ≤ 60.5 s", p99, 60.5),
        ]
    } else {
        vec![latencies.goal("5 s interval, p99 ≤ 6 s", p99, 6.0)]
    }
}

/// Prints a push instance's figures beside the ideal poller's and those of
/// `polling`, the polling-only instance at its interval in this run; returns its goal.
fn report_push(instance: Instance, latencies: &Latencies, polling: &Latencies, counted: Counted) -> Vec<Goal> {
    let Instance { label, interval, .. } = instance;
    let (p50, p99, max) = (latencies.p50(), latencies.p99(), latencies.highest());
    let (ideal_p50, ideal_p99) = ideal(interval);
    eprintln!(
        "latency, {label} (push on, polling every {interval} s): {} changes delivered ({} missing)",
        latencies.seconds.len(),
        latencies.missing
    );
    eprintln!("  ideal poller (baseline): p50 {ideal_p50:.3} s, p99 {ideal_p99:.3} s");
    eprintln!("  polling only, this run:  p50 {:.3} s, p99 {:.3} s", polling.p50(), polling.p99());
    eprintln!("  serve, push on:          p50 {p50:.3} s, p99 {p99:.3} s, highest {max:.3} s");
    eprintln!(
        "  push: {} callout(s) verified; {} change(s) found by a poll before push delivered them",
        counted.callouts_verified, counted.push_gap
    );
    report_delivery(counted);
    vec![latencies.goal(&format!("push on, {interval} s interval, p99 ≤ 2 s"), p99, 2.0)]
}

/// Prints the service's own mean delivery time, when it has one.
fn report_delivery(counted: Counted) {
    if let Some(mean) = counted.delivery_mean {
        eprintln!("  delivering, from the service's metrics (commit to 2xx): mean {:.1} ms", mean * 1000.0);
    }
}
