//! Scale on one host: one `autotask-events serve` process (this package's
//! release binary) runs 100, 1,000 and 10,000 instances, each polling three
//! resources (incidents, companies, contacts) every 5 minutes against the
//! simulator, where nothing changes. Each instance has its own credential (its
//! own server URL, `…/?tenant=N`, the same simulator behind it), as 10,000
//! customers would: none shares another's Autotask client.
//!
//! For each size it prints the resident memory (after the first polls and the
//! highest seen), the CPU the service used while idle, the drift of its
//! scheduled polls (the `poll_schedule_drift_seconds` histogram: from when a
//! poll was due, jitter included, to its start) and the management API's
//! latency, polled all along (the list of instances, paged; one instance; one
//! instance's resources). Then a summary with the goals: ≤ 512 MB, p99 drift
//! ≤ 1 s, idle CPU ≤ 10 % of a core, API p99 < 100 ms, at 10,000 instances.
//!
//! What is measured, per size: the first round of polls (resources starting
//! together take turns, 200 first polls a second: 150 s for 30,000), then
//! 30 s of idleness with the API probe paused (the service's own idle cost)
//! and 60 s with it; at 10,000 instances the run
//! goes on for one whole interval from the end of the first round, so the
//! second round of all 30,000 polls (each due 5 minutes after its first) is in it. The baseline is the 100-instance
//! point, printed beside each figure: memory and CPU grow from there.
//!
//! `SCALE_SIZES=100,1000` runs other sizes; the largest gets the full cycle.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use autotask_sim::{SimConfig, Simulator};
use common::{cpu_time, quantile, rss_kib, serve_logging, verdict};
use serde_json::json;
use support::receiver::counting_receiver;
use support::service::{incidents_resource, instance_toml, resource};

const INTERVAL_SECONDS: f64 = 300.0;
const USER_SECRET: &str = "scale-bench-user-secret";
const ORGANIZATION_SECRET: &str = "scale-bench-organization-secret";
/// Instances a page of the management API's list holds, as the bench reads it.
const LIST_PAGE_SIZE: usize = 500;
/// The whole list in one answer: measured and printed, not part of the API goal
/// (a host of 10,000 instances answers tens of megabytes; clients page).
const WHOLE_LIST: &str = "GET /instances (whole list, unpaged)";
/// Idle time measured after the first round of polls with the API probe paused.
const QUIET: Duration = Duration::from_secs(30);
/// Idle time measured after the first round of polls (and [`QUIET`]), the API probe running.
const IDLE: Duration = Duration::from_secs(60);

/// What one size came to.
struct Point {
    instances: usize,
    started_in: Duration,
    rss_after_first_polls_kib: u64,
    rss_max_kib: u64,
    /// Fraction of a core between the rounds of polls (the first [`IDLE`]).
    idle_cpu: f64,
    /// The same over [`QUIET`], with the API probe paused: the service alone.
    idle_cpu_unprobed: f64,
    /// Fraction of a core over the whole measured cycle (second round of polls included), when run.
    cycle_cpu: Option<f64>,
    drift: Drift,
    api: Vec<(&'static str, f64)>,
}

/// The schedule drift histogram's content.
#[derive(Default)]
struct Drift {
    count: u64,
    sum: f64,
    /// (upper bound, cumulative count), as Prometheus writes them.
    buckets: Vec<(f64, u64)>,
}

impl Drift {
    /// The upper bound of the bucket the `fraction` quantile falls in.
    fn quantile_bound(&self, fraction: f64) -> f64 {
        let rank = (fraction * self.count as f64).ceil() as u64;
        self.buckets.iter().find(|(_, cumulative)| *cumulative >= rank).map_or(f64::INFINITY, |(bound, _)| *bound)
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = runtime.block_on(async {
        Simulator::start(SimConfig {
            tickets: 10,
            companies: 10,
            contacts: 10,
            // One host's instances are many customers: Autotask's limits are
            // each customer's, not one for them all.
            threshold: 1_000_000_000,
            concurrent_per_entity: 1_000_000,
            threshold_latency: [Duration::ZERO; 2],
            ..SimConfig::default()
        })
        .await
        .unwrap()
    });
    let receiver = runtime.block_on(counting_receiver(Arc::default()));
    let callback = format!("http://{receiver}/events");
    let sizes: Vec<usize> = std::env::var("SCALE_SIZES")
        .ok()
        .map(|text| text.split(',').map(|n| n.trim().parse().expect("SCALE_SIZES is numbers")).collect())
        .unwrap_or_else(|| vec![100, 1_000, 10_000]);
    let largest = sizes.iter().copied().max().unwrap_or_default();
    let mut points = Vec::new();
    for &instances in &sizes {
        let point = run(&runtime, &sim, &callback, instances, instances == largest);
        print_point(&point, points.first());
        points.push(point);
    }
    summary(&points);
}

/// One service with `instances` instances, measured; with `full_cycle`, over a whole 5-minute cycle.
fn run(
    runtime: &tokio::runtime::Runtime,
    sim: &Simulator,
    callback: &str,
    instances: usize,
    full_cycle: bool,
) -> Point {
    eprintln!("scale: {instances} instances × 3 resources, polling every {INTERVAL_SECONDS:.0} s ...");
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), sim, callback, instances);
    let launched = Instant::now();
    let (child, address) = serve_logging(&config, "warn");
    // Stopped however the run ends, a failed assertion included.
    let child = KillOnDrop(child);
    let started_in = launched.elapsed();
    let started = Instant::now();
    let pid = child.0.id();
    let base = format!("http://{address}");
    let http = reqwest::Client::new();

    // The management API, polled all along.
    let stop = tokio_util::sync::CancellationToken::new();
    let latencies: Arc<Mutex<Vec<(&'static str, f64)>>> = Arc::default();
    let paused = Arc::new(AtomicBool::new(false));
    let probes = runtime.spawn(probe_api(
        http.clone(),
        base.clone(),
        instances,
        latencies.clone(),
        stop.clone(),
        paused.clone(),
    ));

    // The first round: every resource polled once.
    let rss_max = Arc::new(Mutex::new(0u64));
    let sample_rss = || {
        let kib = rss_kib(pid);
        assert!(kib > 0, "the service stopped");
        let mut max = rss_max.lock().unwrap();
        *max = (*max).max(kib);
    };
    loop {
        sample_rss();
        let polled = runtime.block_on(polls_done(&http, &base));
        if polled >= 3 * instances as u64 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(240), "the first round did not finish: {polled} polls");
        std::thread::sleep(Duration::from_millis(500));
    }
    let first_round = started.elapsed();
    eprintln!(
        "  first round of {} polls done {:.1} s after the service was ready",
        3 * instances,
        first_round.as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(2));
    let rss_after_first_polls_kib = rss_kib(pid);

    let measure_cpu = |length: Duration| {
        let (cpu_before, at) = (cpu_time(pid), Instant::now());
        while at.elapsed() < length {
            sample_rss();
            std::thread::sleep(Duration::from_secs(1));
        }
        (cpu_time(pid) - cpu_before).as_secs_f64() / at.elapsed().as_secs_f64()
    };
    let idle_from = Instant::now();
    let cpu_at_idle = cpu_time(pid);
    paused.store(true, Ordering::SeqCst);
    let idle_cpu_unprobed = measure_cpu(QUIET);
    paused.store(false, Ordering::SeqCst);
    let idle_cpu = measure_cpu(IDLE);
    let cycle_cpu = full_cycle.then(|| {
        // One whole interval from the end of the first round: each resource polls an
        // interval after its first poll, so every one polls once more in it, whatever
        // the spread of the first round.
        let cycle = Duration::from_secs_f64(INTERVAL_SECONDS) + Duration::from_secs(5);
        measure_cpu(cycle.saturating_sub(idle_from.elapsed()));
        let mut polled = runtime.block_on(polls_done(&http, &base));
        // A poll or two may still be on its way.
        while polled < 6 * instances as u64 && idle_from.elapsed() < cycle + Duration::from_secs(30) {
            measure_cpu(Duration::from_secs(1));
            polled = runtime.block_on(polls_done(&http, &base));
        }
        eprintln!("  {polled} of {} polls done after {:.0} s", 6 * instances, started.elapsed().as_secs_f64());
        (cpu_time(pid) - cpu_at_idle).as_secs_f64() / idle_from.elapsed().as_secs_f64()
    });
    stop.cancel();
    runtime.block_on(probes).unwrap();
    let drift = runtime.block_on(drift(&http, &base));
    drop(child);
    let rss_max_kib = *rss_max.lock().unwrap();
    let api = std::mem::take(&mut *latencies.lock().unwrap());
    Point {
        instances,
        started_in,
        rss_after_first_polls_kib,
        rss_max_kib,
        idle_cpu,
        idle_cpu_unprobed,
        cycle_cpu,
        drift,
        api,
    }
}

/// A child process killed when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `service.toml` for `instances` instances, each with its own credential,
/// polling incidents, companies and contacts with the built-in plugin.
fn write_config(dir: &Path, sim: &Simulator, callback: &str, instances: usize) -> PathBuf {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    // The built-in mapping for the other two resources too: nothing changes,
    // so it never maps a record; what counts is that each resource has a plugin.
    for name in ["companies", "contacts"] {
        std::fs::write(plugins.join(format!("{name}.wasm")), builtin_plugin::INCIDENTS_WASM).unwrap();
    }
    let mut text = format!(
        "[egress]\nallow = [\"loopback\"]\n\n[limits]\nmin_refresh_interval_seconds = 0.001\n\n\
         [server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"data\"\nplugin_dir = \"plugins\"\n\n\
         [api]\nuser_secret = \"{USER_SECRET}\"\norganization_secret = \"{ORGANIZATION_SECRET}\"\n\n"
    );
    let resources = json!({
        "incidents": incidents_resource(),
        "companies": resource("/hubs/helpdesk/accounts"),
        "contacts": resource("/hubs/helpdesk/contacts"),
    });
    for index in 0..instances {
        // A server URL of its own makes a credential of its own (its own client and zone answer).
        let server = format!("{}/?tenant={index}", sim.url());
        text.push_str(&instance_toml(
            &format!("scale-{index}"),
            sim,
            callback,
            resources.clone(),
            json!({"event.notification.signature.key": "bench", "helpdesk.autotask.server.url": server}),
            &format!("refresh_interval_seconds = {INTERVAL_SECONDS}"),
        ));
        text.push('\n');
    }
    let path = dir.join("service.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The management API, called until `stop`: one instance's view and its
/// resources every 250 ms (a random instance each time), and every 5 s the
/// list of every instance, paged as a client of a large host reads it
/// ([`LIST_PAGE_SIZE`] a page, following `Elements-Next-Page-Token`). Each
/// call's latency in ms, by route. Every 30 s the whole list in one answer
/// too: printed, but not part of the goal ([`WHOLE_LIST`]).
async fn probe_api(
    http: reqwest::Client,
    base: String,
    instances: usize,
    latencies: Arc<Mutex<Vec<(&'static str, f64)>>>,
    stop: tokio_util::sync::CancellationToken,
    paused: Arc<AtomicBool>,
) {
    let authorization = format!("User {USER_SECRET}, Organization {ORGANIZATION_SECRET}");
    let api = format!("{base}/elements/api-v2");
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut round = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        if paused.load(Ordering::SeqCst) {
            continue;
        }
        let id = format!("scale-{}", fastrand_index(round, instances));
        let mut calls: Vec<(&'static str, String)> = vec![
            ("GET /instances/{id}", format!("{api}/instances/{id}")),
            ("GET /instances/{id}/resources", format!("{api}/instances/{id}/resources")),
        ];
        if round.is_multiple_of(120) {
            calls.push((WHOLE_LIST, format!("{api}/instances")));
        }
        if round.is_multiple_of(20) {
            calls.push(("GET /instances?pageSize", format!("{api}/instances?pageSize={LIST_PAGE_SIZE}")));
        }
        let mut listed = 0;
        while let Some((route, url)) = calls.pop() {
            let at = Instant::now();
            let response = http.get(&url).header("Authorization", &authorization).send().await;
            let (next_page, body) = match response {
                Ok(response) if response.status().is_success() => {
                    let next =
                        response.headers().get("Elements-Next-Page-Token").map(|v| v.to_str().unwrap().to_owned());
                    (next, response.bytes().await.ok())
                }
                Ok(response) => panic!("{route}: {}", response.status()),
                Err(error) => {
                    // The service stopped: `run` says how.
                    eprintln!("  {route}: {error}");
                    return;
                }
            };
            let latency = at.elapsed().as_secs_f64() * 1000.0;
            let body = body.filter(|body| !body.is_empty()).unwrap_or_else(|| panic!("{route}: no body"));
            latencies.lock().unwrap().push((route, latency));
            if route == "GET /instances?pageSize" {
                listed += serde_json::from_slice::<Vec<serde_json::Value>>(&body).unwrap().len();
                match next_page {
                    Some(token) => {
                        calls.push((route, format!("{api}/instances?pageSize={LIST_PAGE_SIZE}&nextPage={token}")))
                    }
                    None => assert_eq!(listed, instances, "the pages list every instance once"),
                }
            }
        }
        round += 1;
    }
}

/// A spread of instance indexes without a random number generator: a
/// multiplicative hash of the round.
fn fastrand_index(round: u64, instances: usize) -> usize {
    (round.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize % instances
}

/// The service's `/metrics` text.
async fn metrics(http: &reqwest::Client, base: &str) -> String {
    http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap()
}

/// Polls finished so far (either outcome), from the drift histogram's count
/// (one per scheduled poll) — cheaper to read than every resource's counters.
async fn polls_done(http: &reqwest::Client, base: &str) -> u64 {
    drift(http, base).await.count
}

/// The schedule drift histogram.
async fn drift(http: &reqwest::Client, base: &str) -> Drift {
    let text = metrics(http, base).await;
    let mut drift = Drift::default();
    for line in text.lines().filter(|line| line.starts_with("autotask_events_poll_schedule_drift_seconds")) {
        let value = line.rsplit(' ').next().unwrap_or_default();
        if line.starts_with("autotask_events_poll_schedule_drift_seconds_count") {
            drift.count = value.parse().unwrap();
        } else if line.starts_with("autotask_events_poll_schedule_drift_seconds_sum") {
            drift.sum = value.parse().unwrap();
        } else if let Some(le) = line.split("le=\"").nth(1) {
            let bound = le.split('"').next().unwrap();
            let bound = if bound == "+Inf" { f64::INFINITY } else { bound.parse().unwrap() };
            drift.buckets.push((bound, value.parse().unwrap()));
        }
    }
    drift
}

/// The latencies of `route` (with `None`, of every route the goal counts: all but [`WHOLE_LIST`]).
fn route_latencies(point: &Point, route: Option<&str>) -> Vec<f64> {
    let counted = |r: &str| route.map_or(r != WHOLE_LIST, |route| r == route);
    point.api.iter().filter(|(r, _)| counted(r)).map(|(_, ms)| *ms).collect()
}

fn print_point(point: &Point, baseline: Option<&Point>) {
    let resources = 3 * point.instances;
    let mib = |kib: u64| kib as f64 / 1024.0;
    eprintln!(
        "  {} instances ({resources} resources), ready in {:.1} s:",
        point.instances,
        point.started_in.as_secs_f64()
    );
    let per_resource = baseline.filter(|b| b.instances < point.instances).map(|b| {
        (point.rss_after_first_polls_kib.saturating_sub(b.rss_after_first_polls_kib)) as f64
            / (resources - 3 * b.instances) as f64
    });
    eprintln!(
        "    RSS after the first polls {:.1} MiB, highest {:.1} MiB{}",
        mib(point.rss_after_first_polls_kib),
        mib(point.rss_max_kib),
        per_resource
            .map(|kib| format!(
                "; {kib:.1} KiB per resource above the {}-instance baseline",
                baseline.unwrap().instances
            ))
            .unwrap_or_default()
    );
    eprintln!(
        "    idle CPU between rounds {:.2} % of a core without API calls, {:.2} % with the API probe{}",
        point.idle_cpu_unprobed * 100.0,
        point.idle_cpu * 100.0,
        point
            .cycle_cpu
            .map(|cpu| format!(", over the whole 5-minute cycle (second round of polls included) {:.2} %", cpu * 100.0))
            .unwrap_or_default()
    );
    let drift = &point.drift;
    eprintln!(
        "    schedule drift over {} polls: mean {:.1} ms, p50 ≤ {} s, p99 ≤ {} s",
        drift.count,
        drift.sum * 1000.0 / drift.count.max(1) as f64,
        drift.quantile_bound(0.5),
        drift.quantile_bound(0.99)
    );
    for route in ["GET /instances?pageSize", WHOLE_LIST, "GET /instances/{id}", "GET /instances/{id}/resources"] {
        let ms = route_latencies(point, Some(route));
        eprintln!(
            "    API {route}: {} calls, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            ms.len(),
            quantile(&ms, 0.5),
            quantile(&ms, 0.99),
            quantile(&ms, 1.0)
        );
    }
}

/// The growth curve and the goals, at the largest size.
fn summary(points: &[Point]) {
    let (Some(baseline), Some(largest)) = (points.first(), points.last()) else { return };
    eprintln!("scale, growth curve (baseline: the {}-instance point):", baseline.instances);
    eprintln!("  instances  resources  RSS MiB  × baseline  idle CPU %  drift p99 ≤ s  API p99 ms");
    for point in points {
        eprintln!(
            "  {:>9}  {:>9}  {:>7.1}  {:>10.2}  {:>10.2}  {:>13}  {:>10.1}",
            point.instances,
            3 * point.instances,
            point.rss_after_first_polls_kib as f64 / 1024.0,
            point.rss_after_first_polls_kib as f64 / baseline.rss_after_first_polls_kib as f64,
            point.cycle_cpu.unwrap_or(point.idle_cpu) * 100.0,
            point.drift.quantile_bound(0.99),
            quantile(&route_latencies(point, None), 0.99),
        );
    }
    let n = largest.instances;
    let rss_mb = largest.rss_max_kib as f64 * 1024.0 / 1e6;
    let drift = largest.drift.quantile_bound(0.99);
    let cpu = largest.cycle_cpu.unwrap_or(largest.idle_cpu) * 100.0;
    let api = quantile(&route_latencies(largest, None), 0.99);
    eprintln!(
        "  goal: {n} instances in ≤ 512 MB resident (highest seen): {rss_mb:.0} MB ({})",
        verdict(rss_mb <= 512.0)
    );
    eprintln!("  goal: p99 schedule drift ≤ 1 s: ≤ {drift} s ({})", verdict(drift <= 1.0));
    eprintln!("  goal: CPU while idle ≤ 10 % of a core: {cpu:.2} % ({})", verdict(cpu <= 10.0));
    eprintln!("  goal: management API p99 < 100 ms: {api:.1} ms ({})", verdict(api < 100.0));
}
