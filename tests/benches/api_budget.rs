//! The Autotask API budget, before and after, in one run against the simulator.
//!
//! 1. Quiet incidents polls: the service polls two instances where nothing
//!    changes, each against its own simulator, one reading the deletion log
//!    every poll (`deletionPollInterval: 0`, the old behaviour) and one on
//!    the default cadence. The simulator counts what each sent, by endpoint.
//! 2. Fair sharing: past 75 % of the threshold, one backlogged instance
//!    (three requests always waiting) and four quiet ones (one request every
//!    250 ms) share one client, first with each request waiting out the
//!    spacing on its own (the old behaviour, `take_turns: false`), then taking
//!    turns. Each run gets a fresh simulator with the same threshold left.
//!
//! `cargo bench -p autotask-events-tests --bench api_budget`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use autotask_events::app;
use autotask_sim::{SimConfig, Simulator, Stats};
use engine::source::filter::{Filter, Op, QueryBody};
use engine::source::retry::RetryPolicy;
use engine::source::{AutotaskClient, ClientOptions, Connection, Credentials, Secret, ZoneCache};
use serde_json::{Value, json};
use support::receiver::Receiver;
use support::service::{FAST_DELIVERY, incidents_resource, instance_toml, write_config};

/// How long the quiet instances poll, and how often.
const QUIET_RUN: Duration = Duration::from_secs(10);
const QUIET_INTERVAL: &str = "refresh_interval_seconds = 0.2";

/// The fairness runs: the threshold, what is used before they start, the
/// spacing (the client's cap, so a run takes seconds, not an hour), and how long.
const THRESHOLD: usize = 400;
const USED_BEFORE: usize = 310;
const SPACING: Duration = Duration::from_millis(50);
const FAIR_RUN: Duration = Duration::from_secs(3);
const QUIET_INSTANCES: usize = 4;
const QUIET_EVERY: Duration = Duration::from_millis(250);

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        quiet_polls().await;
        fair_sharing().await;
    });
}

async fn simulator(config: SimConfig) -> Simulator {
    let config = SimConfig { listen: "127.0.0.1:0".parse().unwrap(), tickets: 20, contacts: 10, ..config };
    Simulator::start(config).await.expect("the simulator starts")
}

/// Requests of one endpoint per poll.
fn per_poll(stats: &Stats, endpoint: &str, polls: u64) -> f64 {
    stats.for_endpoint(endpoint) as f64 / polls as f64
}

async fn quiet_polls() {
    let (old_sim, new_sim) = (simulator(SimConfig::default()).await, simulator(SimConfig::default()).await);
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let resources = |more: Value| {
        let mut resource = incidents_resource();
        resource.as_object_mut().unwrap().extend(more.as_object().unwrap().clone());
        json!({ "incidents": resource })
    };
    let instances = [
        instance_toml(
            "old",
            &old_sim,
            &receiver.url(),
            resources(json!({"deletionPollInterval": 0})),
            json!({}),
            QUIET_INTERVAL,
        ),
        instance_toml("new", &new_sim, &receiver.url(), resources(json!({})), json!({}), QUIET_INTERVAL),
    ];
    let config = engine::config::load(&write_config(dir.path(), FAST_DELIVERY, &instances)).unwrap();
    let service = app::start(config).await.expect("the service starts");
    let metrics = service.metrics().clone();
    tokio::time::sleep(QUIET_RUN).await;
    service.stop().await;
    let metrics = metrics.render();

    println!("\n== quiet incidents polls: {QUIET_RUN:?} at a 0.2 s interval, nothing changes ==");
    println!(
        "{:<5} {:>6} {:>9} {:>14} {:>10} {:>10} {:>14}   {:>22}",
        "", "polls", "requests", "Tickets/query", "Deleted…", "Threshold", "zone lookup", "per hour at 60 s (*)"
    );
    let mut hourly = Vec::new();
    for (id, sim, threshold_reads_per_hour) in [("old", &old_sim, 60.0), ("new", &new_sim, 12.0)] {
        let stats = sim.stats();
        let polls = series(
            &metrics,
            &format!("autotask_events_polls_total{{instance=\"{id}\",resource=\"incidents\",outcome=\"ok\"}}"),
        );
        let counted =
            series(&metrics, &format!("autotask_events_instance_autotask_requests_total{{instance=\"{id}\"}}"));
        assert_eq!(counted, stats.total, "the service counts what the simulator answered");
        let reads =
            per_poll(&stats, "POST Tickets/query", polls) + per_poll(&stats, "POST DeletedTicketLogs/query", polls);
        // At a 60 s interval: 60 polls, plus the threshold readings of the
        // hour (every minute before; every 5 minutes now, far below the mark).
        let per_hour = 60.0 * reads + threshold_reads_per_hour;
        hourly.push((reads, per_hour));
        println!(
            "{id:<5} {polls:>6} {:>9} {:>14.2} {:>10.2} {:>10} {:>14}   {per_hour:>22.0}",
            stats.total,
            per_poll(&stats, "POST Tickets/query", polls),
            per_poll(&stats, "POST DeletedTicketLogs/query", polls),
            stats.for_endpoint("GET ThresholdInformation"),
            stats.for_endpoint("GET zoneInformation"),
        );
    }
    println!(
        "reads per quiet poll: {:.2} before, {:.2} now ({:.2}× fewer); per instance-hour at a 60 s interval: {:.0} before, {:.0} now ({:.2}× fewer)",
        hourly[0].0,
        hourly[1].0,
        hourly[0].0 / hourly[1].0,
        hourly[0].1,
        hourly[1].1,
        hourly[0].1 / hourly[1].1
    );
    println!(
        "(*) 60 × the measured reads per poll, plus the ThresholdInformation readings of an hour by the client's rule \
         (60 before; 12 now while under half the slow-down mark): a 10 s run shows one reading"
    );
}

/// The value of a Prometheus series, 0 when it is not there.
fn series(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<f64>().ok())
        .map_or(0, |value| value as u64)
}

/// What one fairness run came to.
struct Shares {
    busy_sent: u64,
    quiet_sent: u64,
    quiet_latencies: Vec<Duration>,
    quiet_failed: u64,
    refused: u64,
}

async fn fair_sharing() {
    let budget = (FAIR_RUN.as_secs_f64() / SPACING.as_secs_f64()) as u64;
    println!(
        "\n== fair sharing past 75 % of the threshold: {} of {THRESHOLD} left, one request per {SPACING:?} ({budget} in {FAIR_RUN:?}) ==",
        THRESHOLD - USED_BEFORE
    );
    println!(
        "one backlogged instance (3 requests always waiting), {QUIET_INSTANCES} quiet ones (a request every {QUIET_EVERY:?})"
    );
    println!(
        "{:<22} {:>6} {:>11} {:>13} {:>14} {:>14} {:>12} {:>8}",
        "", "sent", "busy share", "quiet sent", "quiet p50 ms", "quiet max ms", "quiet failed", "429s"
    );
    for (name, take_turns) in [("each request waits", false), ("turns by instance", true)] {
        let shares = fair_run(take_turns).await;
        let mut latencies = shares.quiet_latencies.clone();
        latencies.sort();
        let ms = |d: Option<&Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
        let sent = shares.busy_sent + shares.quiet_sent;
        println!(
            "{name:<22} {sent:>6} {:>10.0}% {:>13} {:>14.0} {:>14.0} {:>12} {:>8}",
            100.0 * shares.busy_sent as f64 / sent.max(1) as f64,
            shares.quiet_sent,
            ms(latencies.get(latencies.len() / 2)),
            ms(latencies.last()),
            shares.quiet_failed,
            shares.refused,
        );
    }
}

async fn fair_run(take_turns: bool) -> Shares {
    let config = SimConfig { threshold: THRESHOLD, threshold_latency: [Duration::ZERO; 2], ..SimConfig::default() };
    let sim = simulator(config).await;
    let retry = RetryPolicy { base: Duration::from_millis(20), ..RetryPolicy::default() };
    let options = ClientOptions { max_spacing: SPACING, retry, take_turns, ..ClientOptions::default() };
    let connection = Connection {
        server_url: sim.url(),
        credentials: Credentials {
            username: "sim@example.com".into(),
            secret: Secret::new("sim-secret"),
            integration_code: Secret::new("SIMCODE"),
        },
    };
    let client = AutotaskClient::new(connection, options, ZoneCache::default()).unwrap();
    let body = QueryBody::new(vec![Filter::presence(Op::Exist, "id")]);
    for _ in 0..USED_BEFORE {
        client.count("Companies", &body).await.unwrap();
    }
    client.threshold().await.unwrap();
    sim.reset_stats();

    let stop = Arc::new(AtomicBool::new(false));
    let (busy, busy_sent) = client.for_instance("busy").counting();
    let mut busy_tasks = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let (busy, stop, body) = (busy.clone(), stop.clone(), body.clone());
        busy_tasks.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if busy.count("Tickets", &body).await.is_err() {
                    tokio::time::sleep(SPACING).await;
                }
            }
        });
    }
    let mut quiet_tasks = tokio::task::JoinSet::new();
    let mut quiet_sent = Vec::new();
    for index in 0..QUIET_INSTANCES {
        let (quiet, sent) = client.for_instance(&format!("quiet-{index}")).counting();
        quiet_sent.push(sent);
        let (stop, body) = (stop.clone(), body.clone());
        quiet_tasks.spawn(async move {
            let (mut latencies, mut failed) = (Vec::new(), 0);
            // Staggered, as polls of instances started at different times are.
            tokio::time::sleep(QUIET_EVERY * index as u32 / QUIET_INSTANCES as u32).await;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                match quiet.count("Tickets", &body).await {
                    Ok(_) => latencies.push(started.elapsed()),
                    Err(_) => failed += 1,
                }
                tokio::time::sleep(QUIET_EVERY).await;
            }
            (latencies, failed)
        });
    }
    tokio::time::sleep(FAIR_RUN).await;
    stop.store(true, Ordering::Relaxed);
    let (mut quiet_latencies, mut quiet_failed) = (Vec::new(), 0);
    while let Some(done) = quiet_tasks.join_next().await {
        let (latencies, failed) = done.unwrap();
        quiet_latencies.extend(latencies);
        quiet_failed += failed;
    }
    while busy_tasks.join_next().await.is_some() {}
    Shares {
        busy_sent: busy_sent.get(),
        quiet_sent: quiet_sent.iter().map(|sent| sent.get()).sum(),
        quiet_latencies,
        quiet_failed,
        refused: sim.stats().with_status(429),
    }
}
