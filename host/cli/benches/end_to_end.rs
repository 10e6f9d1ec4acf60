//! End to end on loopback: the simulator holds 100,000 changed Tickets, and
//! one `autotask-events serve` process (this package's release binary) reads
//! them all in one poll, maps them with the built-in plugin, stores them and
//! delivers them to a receiver that acknowledges every message.
//!
//! - `end_to_end/serve_100k`: from the service being ready to the receiver
//!   holding all 100,000 events.
//! - `end_to_end/naive_poller_100k` (the baseline, same run, same simulator
//!   and receiver): `naive-poller/poller.mjs`, the ~50-line Node.js poller an
//!   integration engineer would write (fetch each page, map it in JavaScript,
//!   POST signed 10-event messages with `Promise.all`, nothing durable), from
//!   its start to the receiver holding all 100,000 events. Needs `node` on PATH.
//! - `end_to_end/read_100k` (same simulator): the Autotask client alone
//!   reading the same 100,000 Tickets, the floor of any poller.
//!
//! Printed besides: records/s and events delivered/s of each run, the
//! service process's CPU time per record, a summary of the run (serve against
//! the naive poller as a ratio, with the goals: ≥ 2× and ≤ 40 µs of service CPU
//! per record), and the memory (RSS) of a service with 1,000 idle instances
//! against one with a single instance.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use autotask_sim::{SimConfig, Simulator};
use common::{cpu_time, rss_kib, serve};
use criterion::{Criterion, criterion_group, criterion_main};
use engine::source::hub::autotask_query;
use engine::source::{AutotaskClient, ClientOptions, Connection, Credentials, Secret, ZoneCache};
use serde_json::json;
use support::receiver::counting_receiver;
use support::service::{incidents_resource, instance_toml};

const TICKETS: usize = 100_000;

struct Bench {
    runtime: tokio::runtime::Runtime,
    sim: Simulator,
    receiver: SocketAddr,
    events: Arc<AtomicU64>,
    /// Every run's figures, for the summary.
    runs: Mutex<Runs>,
}

#[derive(Default)]
struct Runs {
    /// Records/s of each naive poller run.
    naive: Vec<f64>,
    /// Records/s and service CPU µs per record of each serve run.
    serve: Vec<(f64, f64)>,
}

fn setup() -> Bench {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = runtime.block_on(async {
        Simulator::start(SimConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tickets: TICKETS,
            companies: 10,
            contacts: 10,
            threshold: 10_000_000,
            ..SimConfig::default()
        })
        .await
        .unwrap()
    });
    let events = Arc::new(AtomicU64::new(0));
    let receiver = runtime.block_on(counting_receiver(events.clone()));
    Bench { runtime, sim, receiver, events, runs: Mutex::default() }
}

/// The `[[instance]]` table of one benchmark instance polling the simulator's
/// incidents every `interval` seconds; with `backfill` its first poll reads
/// everything (`since`), else only what changes after it starts.
fn instance(bench: &Bench, id: &str, interval: f64, backfill: bool) -> String {
    let since = if backfill { "since = \"2000-01-01T00:00:00Z\"\n" } else { "" };
    instance_toml(
        id,
        &bench.sim,
        &format!("http://{}/events", bench.receiver),
        json!({"incidents": incidents_resource()}),
        json!({"event.notification.signature.key": "bench"}),
        &format!("{since}refresh_interval_seconds = {interval}"),
    )
}

/// `backfill`: the first poll reads everything (`since`), else only what changes after start.
fn write_config(dir: &Path, bench: &Bench, instances: usize, backfill: bool) -> std::path::PathBuf {
    // Everything runs on loopback, and the benchmark polls fast.
    let mut text = String::from(
        "[egress]\nallow = [\"loopback\"]\n\n[limits]\nmin_refresh_interval_seconds = 0.001\n\n[server]\nlisten = \"127.0.0.1:0\"\n\n",
    );
    for index in 0..instances {
        text.push_str(&instance(bench, &format!("bench-{index}"), 3600.0, backfill));
    }
    let path = dir.join("service.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// One full run: a fresh service reads and delivers all the Tickets.
fn serve_once(bench: &Bench) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), bench, 1, true);
    bench.events.store(0, Ordering::Relaxed);
    let mut child = serve(&config);
    let started = Instant::now();
    let cpu_at_start = cpu_time(child.id());
    while bench.events.load(Ordering::Relaxed) < TICKETS as u64 {
        assert!(started.elapsed() < Duration::from_secs(300), "the run did not finish");
        std::thread::sleep(Duration::from_millis(2));
    }
    let took = started.elapsed();
    let cpu = cpu_time(child.id()) - cpu_at_start;
    child.kill().unwrap();
    child.wait().unwrap();
    let per_second = TICKETS as f64 / took.as_secs_f64();
    let cpu_per_record = cpu.as_secs_f64() * 1e6 / TICKETS as f64;
    bench.runs.lock().unwrap().serve.push((per_second, cpu_per_record));
    eprintln!(
        "  serve run: {TICKETS} records and events in {:.2} s = {per_second:.0} records/s, {per_second:.0} events delivered/s; service CPU {:.2} s = {:.1} µs per record",
        took.as_secs_f64(),
        cpu.as_secs_f64(),
        cpu_per_record,
    );
    took
}

/// One run of the naive Node.js poller against the same simulator and
/// receiver, from its first line (Node started) to the receiver holding
/// every event.
fn naive_once(bench: &Bench) -> Duration {
    let sim = bench.sim.config();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/naive-poller/poller.mjs");
    bench.events.store(0, Ordering::Relaxed);
    let mut child = Command::new("node")
        .arg(script)
        .env("AUTOTASK_URL", bench.sim.url())
        .env("AUTOTASK_USER", &sim.user)
        .env("AUTOTASK_SECRET", &sim.secret)
        .env("AUTOTASK_INTEGRATION_CODE", &sim.integration_code)
        .env("CALLBACK_URL", format!("http://{}/events", bench.receiver))
        .env("SIGNATURE_KEY", "bench")
        .env("SINCE", "2000-01-01T00:00:00Z")
        .env("INSTANCE_ID", "naive")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs the naive poller (is Node.js on PATH?)");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.starts_with("naive poller starting"), "unexpected first line: {line}");
    let started = Instant::now();
    while bench.events.load(Ordering::Relaxed) < TICKETS as u64 {
        assert!(started.elapsed() < Duration::from_secs(300), "the naive poller did not finish");
        if let Some(status) = child.try_wait().unwrap() {
            assert!(bench.events.load(Ordering::Relaxed) >= TICKETS as u64, "the naive poller stopped: {status}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let took = started.elapsed();
    line.clear();
    stdout.read_line(&mut line).unwrap();
    assert!(child.wait().unwrap().success(), "the naive poller failed");
    let per_second = TICKETS as f64 / took.as_secs_f64();
    bench.runs.lock().unwrap().naive.push(per_second);
    eprintln!(
        "  naive poller run: {TICKETS} records and events in {:.2} s = {per_second:.0} records/s ({})",
        took.as_secs_f64(),
        line.trim()
    );
    took
}

/// The mean, lowest and highest of `values`.
fn mean_and_range(values: &[f64]) -> (f64, f64, f64) {
    let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (mean, low, high)
}

/// Serve against the naive poller over every run of this bench, and the goals.
fn summary(bench: &Bench) {
    let runs = bench.runs.lock().unwrap();
    if runs.naive.is_empty() || runs.serve.is_empty() {
        // A filtered run (`-- serve_100k`) has nothing to compare.
        return;
    }
    let serve_rates: Vec<f64> = runs.serve.iter().map(|run| run.0).collect();
    let cpu_per_record: Vec<f64> = runs.serve.iter().map(|run| run.1).collect();
    let (naive, naive_low, naive_high) = mean_and_range(&runs.naive);
    let (serve, serve_low, serve_high) = mean_and_range(&serve_rates);
    let (cpu, cpu_low, cpu_high) = mean_and_range(&cpu_per_record);
    let ratio = serve / naive;
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    eprintln!("end to end, {TICKETS} Tickets, same simulator and receiver, means over every run:");
    eprintln!(
        "  naive poller (baseline): {naive:.0} records/s ({naive_low:.0}–{naive_high:.0}, {} runs)",
        runs.naive.len()
    );
    eprintln!(
        "  serve:                   {serve:.0} records/s ({serve_low:.0}–{serve_high:.0}, {} runs)",
        runs.serve.len()
    );
    eprintln!("  goal: serve ≥ 2× the naive poller: {ratio:.2}× ({})", verdict(ratio >= 2.0));
    eprintln!(
        "  goal: service CPU ≤ 40 µs per record: {cpu:.1} µs ({cpu_low:.1}–{cpu_high:.1}) ({})",
        verdict(cpu <= 40.0)
    );
}

/// The floor of any poller: the client alone reading every Ticket.
fn read_once(bench: &Bench) -> Duration {
    let sim = bench.sim.config();
    let connection = Connection {
        server_url: bench.sim.url(),
        credentials: Credentials {
            username: sim.user.clone(),
            secret: Secret::new(sim.secret.clone()),
            integration_code: Secret::new(sim.integration_code.clone()),
        },
    };
    let client = AutotaskClient::new(connection, ClientOptions::default(), ZoneCache::default()).unwrap();
    // The query the service's first poll sends.
    let query = autotask_query("/hubs/helpdesk/incidents?where=lastActivityDate>='2000-01-01T00:00:00Z'").unwrap();
    let started = Instant::now();
    let result = bench.runtime.block_on(client.query_all(&query.entity, &query.body)).unwrap();
    assert_eq!(result.records.len(), TICKETS);
    started.elapsed()
}

fn end_to_end(c: &mut Criterion) {
    let bench = setup();
    let mut group = c.benchmark_group("end_to_end");
    group.sample_size(10).warm_up_time(Duration::from_millis(1)).measurement_time(Duration::from_secs(30));
    group.bench_function("read_100k", |b| b.iter_custom(|iterations| (0..iterations).map(|_| read_once(&bench)).sum()));
    group.bench_function("naive_poller_100k", |b| {
        b.iter_custom(|iterations| (0..iterations).map(|_| naive_once(&bench)).sum())
    });
    group.bench_function("serve_100k", |b| {
        b.iter_custom(|iterations| (0..iterations).map(|_| serve_once(&bench)).sum())
    });
    group.finish();
    summary(&bench);
    idle_instances_memory(&bench);
}

/// RSS with 1,000 idle instances against one, after their first polls.
fn idle_instances_memory(bench: &Bench) {
    let rss = |instances: usize| {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), bench, instances, false);
        let mut child = serve(&config);
        // Every instance's first poll (nothing changed since its creation) is
        // done within their turns for a first poll (200 a second); after that they are idle.
        std::thread::sleep(Duration::from_secs(8));
        let kib = rss_kib(child.id());
        child.kill().unwrap();
        child.wait().unwrap();
        kib
    };
    let one = rss(1);
    let thousand = rss(1001);
    eprintln!(
        "idle instances: RSS {:.1} MiB with 1 instance, {:.1} MiB with 1,001: {:.1} KiB per extra instance",
        one as f64 / 1024.0,
        thousand as f64 / 1024.0,
        (thousand.saturating_sub(one)) as f64 / 1000.0
    );
}

criterion_group!(benches, end_to_end);
criterion_main!(benches);
