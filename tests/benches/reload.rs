//! Hot reload while the service polls, in-process on loopback.
//!
//! - **Reload latency**: from a new version renamed into the plugin directory
//!   to the first batch that version mapped (its first outbox message), over 50
//!   swaps, p50 and p99; for the built-in incidents plugin (Rust, ~0.2 MB) and
//!   for a JavaScript plugin (componentize-js, ~12 MB) whose script changes
//!   between versions. The baseline in the same run: compiling the same
//!   component from scratch, as a service without compile caches would.
//! - **Throughput during a swap storm**: `reload/backfill_swap_storm` reads and
//!   delivers 20,000 Tickets while a new version arrives every 100 ms;
//!   `reload/backfill_no_swaps` (the baseline) is the same without swaps.
//!
//! Every swap is a version the service has not seen (a custom section with a
//! counter is appended), so no swap is served from the cache of whole
//! compiled components; what they share with earlier versions is exactly what
//! an edit leaves unchanged: the functions.
//!
//! The JavaScript plugin is built with `npm` and componentize-js
//! (`tests/plugins/js-mapper`); Node.js and npm must be installed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use autotask_events::app::{self, RunningService};
use autotask_sim::{SimConfig, Simulator};
use builtin_plugin::INCIDENTS_WASM;
use criterion::{Criterion, criterion_group, criterion_main};
use plugin_runtime::{Limits, PluginRuntime, version_of};
use serde_json::json;
use support::receiver::counting_receiver;
use support::service::{LOOPBACK_RULES, incidents_resource, instance_toml};

/// Swaps per latency measurement (`RELOAD_BENCH_SWAPS` overrides it, to look into one).
fn swaps() -> usize {
    std::env::var("RELOAD_BENCH_SWAPS").ok().and_then(|n| n.parse().ok()).unwrap_or(50)
}
const BACKFILL: usize = 20_000;

struct Bench {
    runtime: tokio::runtime::Runtime,
    receiver: SocketAddr,
    events: Arc<AtomicU64>,
}

fn setup() -> Bench {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let events = Arc::new(AtomicU64::new(0));
    let receiver = runtime.block_on(counting_receiver(events.clone()));
    Bench { runtime, receiver, events }
}

/// `bytes` with a custom section holding `tag` appended: the same component,
/// a different file (and SHA-256).
fn tagged(bytes: &[u8], tag: u64) -> Vec<u8> {
    let name = b"autotask-events-bench";
    let mut content = vec![name.len() as u8];
    content.extend_from_slice(name);
    content.extend_from_slice(&tag.to_le_bytes());
    let mut out = bytes.to_vec();
    out.push(0); // custom section
    leb128(&mut out, content.len());
    out.extend_from_slice(&content);
    out
}

fn leb128(out: &mut Vec<u8>, mut value: usize) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn rename_into_place(path: &Path, bytes: &[u8]) {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, bytes).unwrap();
    std::fs::rename(&partial, path).unwrap();
}

/// A service polling a churning simulator every 50 ms, its incidents mapped by `plugin`.
struct Live {
    _sim: Simulator,
    dir: tempfile::TempDir,
    service: Option<RunningService>,
}

impl Live {
    fn start(bench: &Bench, plugin: &[u8], sim: SimConfig, since: bool) -> Live {
        let sim = bench.runtime.block_on(Simulator::start(sim)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
        std::fs::write(dir.path().join("plugins/incidents.wasm"), plugin).unwrap();
        let path = dir.path().join("service.toml");
        let text = format!(
            "{LOOPBACK_RULES}[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"data\"\nplugin_dir = \"plugins\"\n\n{}",
            instance_toml(
                "bench",
                &sim,
                &format!("http://{}/events", bench.receiver),
                json!({"incidents": incidents_resource()}),
                json!({"event.notification.signature.key": "bench"}),
                &format!(
                    "{}refresh_interval_seconds = 0.05",
                    if since { "since = \"2000-01-01T00:00:00Z\"\n" } else { "" }
                ),
            )
        );
        std::fs::write(&path, text).unwrap();
        let config = engine::config::load(&path).unwrap();
        let service = bench.runtime.block_on(app::start(config)).unwrap();
        Live { _sim: sim, dir, service: Some(service) }
    }

    fn plugin_path(&self) -> PathBuf {
        self.dir.path().join("plugins/incidents.wasm")
    }

    /// Whether a message mapped by `version` is in the outbox.
    fn mapped_by(&self, version: &str) -> bool {
        let store = self.service.as_ref().unwrap().store();
        store.recent_messages("bench", None, 4).unwrap().iter().any(|m| m.plugin_version.as_deref() == Some(version))
    }

    fn stop(mut self, bench: &Bench) {
        bench.runtime.block_on(self.service.take().unwrap().stop());
    }
}

fn churning() -> SimConfig {
    SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tickets: 200,
        contacts: 10,
        companies: 10,
        churn_per_minute: 3000.0,
        threshold: 10_000_000,
        ..SimConfig::default()
    }
}

/// Swaps `versions` in turn (each tagged anew) and returns each reload's latency.
fn reload_latencies(bench: &Bench, versions: &[&[u8]]) -> Vec<Duration> {
    let live = Live::start(bench, versions[0], churning(), false);
    let path = live.plugin_path();
    let mut latencies = Vec::with_capacity(swaps());
    for swap in 0..swaps() {
        let bytes = tagged(versions[(swap + 1) % versions.len()], swap as u64 + 1);
        let version = version_of(&bytes);
        let started = Instant::now();
        rename_into_place(&path, &bytes);
        while !live.mapped_by(&version) {
            assert!(started.elapsed() < Duration::from_secs(120), "swap {swap} was never mapped by");
            std::thread::sleep(Duration::from_millis(2));
        }
        latencies.push(started.elapsed());
    }
    live.stop(bench);
    latencies
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// Compiling `bytes` from scratch, with no cache: the baseline a reload is compared with.
fn cold_compile(bytes: &[u8]) -> Duration {
    let runtime = PluginRuntime::new(Limits::default()).unwrap();
    let started = Instant::now();
    runtime.load_bytes("cold.wasm", bytes).unwrap();
    started.elapsed()
}

fn report_latency(name: &str, versions: &[&[u8]], bench: &Bench) {
    let cold = cold_compile(&tagged(versions[0], u64::MAX));
    let mut latencies = reload_latencies(bench, versions);
    latencies.sort();
    let (p50, p99) = (percentile(&latencies, 0.50), percentile(&latencies, 0.99));
    eprintln!(
        "reload latency, {name} ({:.1} MB): p50 {:.0} ms, p99 {:.0} ms over {} swaps (rename into place → first batch mapped); \
         compiling it from scratch takes {:.0} ms: p99 = {:.2}× a cold compile",
        versions[0].len() as f64 / 1e6,
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        latencies.len(),
        cold.as_secs_f64() * 1e3,
        p99.as_secs_f64() / cold.as_secs_f64(),
    );
}

/// Every backfill's time, without swaps and during a storm, for the ratio printed at the end.
static BACKFILLS: std::sync::Mutex<[Vec<Duration>; 2]> = std::sync::Mutex::new([Vec::new(), Vec::new()]);

/// One backfill of `BACKFILL` Tickets, with a new plugin version every 100 ms when `storm`.
fn backfill_once(bench: &Bench, storm: bool) -> Duration {
    let sim = SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tickets: BACKFILL,
        contacts: 10,
        companies: 10,
        threshold: 10_000_000,
        ..SimConfig::default()
    };
    bench.events.store(0, Ordering::Relaxed);
    let started = Instant::now();
    let live = Live::start(bench, INCIDENTS_WASM, sim, true);
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = storm.then(|| {
        let (path, stop) = (live.plugin_path(), stop.clone());
        std::thread::spawn(move || {
            let mut tag = 0;
            while !stop.load(Ordering::Relaxed) {
                tag += 1;
                rename_into_place(&path, &tagged(INCIDENTS_WASM, tag));
                std::thread::sleep(Duration::from_millis(100));
            }
            tag
        })
    });
    while bench.events.load(Ordering::Relaxed) < BACKFILL as u64 {
        assert!(started.elapsed() < Duration::from_secs(300), "the backfill did not finish");
        std::thread::sleep(Duration::from_millis(2));
    }
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    if let Some(swapper) = swapper {
        let swaps = swapper.join().unwrap();
        eprintln!("  swap storm: {swaps} new versions during a {:.2} s backfill", took.as_secs_f64());
    }
    live.stop(bench);
    BACKFILLS.lock().unwrap()[usize::from(storm)].push(took);
    took
}

/// CPU and wall time of loading new versions into one runtime (warm caches).
fn report_load_cost(bytes: &[u8]) {
    let runtime = PluginRuntime::new(Limits::default()).unwrap();
    runtime.load_bytes("warm.wasm", bytes).unwrap();
    let cpu = || {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let fields: Vec<u64> = stat[stat.rfind(')').unwrap() + 2..]
            .split_whitespace()
            .skip(11)
            .take(2)
            .map(|f| f.parse().unwrap())
            .collect();
        Duration::from_millis((fields[0] + fields[1]) * 10)
    };
    let (started, cpu_before) = (Instant::now(), cpu());
    for tag in 0..20 {
        runtime.load_bytes("warm.wasm", &tagged(bytes, tag)).unwrap();
    }
    eprintln!(
        "loading a new version with warm caches: {:.1} ms wall, {:.1} ms CPU each",
        started.elapsed().as_secs_f64() * 1e3 / 20.0,
        (cpu() - cpu_before).as_secs_f64() * 1e3 / 20.0
    );
}

fn reload(c: &mut Criterion) {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    }
    let bench = setup();
    report_load_cost(INCIDENTS_WASM);
    if std::env::var_os("RELOAD_BENCH_ONLY_COST").is_some() {
        return;
    }
    report_latency("incidents plugin (Rust)", &[INCIDENTS_WASM], &bench);
    if std::env::var_os("RELOAD_BENCH_SKIP_JS").is_none() {
        let (js_a, js_b) = js_plugin::build();
        report_latency("JavaScript plugin, script changed each swap", &[&js_a, &js_b], &bench);
    }

    let mut group = c.benchmark_group("reload");
    group.sample_size(10).warm_up_time(Duration::from_millis(1)).measurement_time(Duration::from_secs(20));
    group.bench_function("backfill_no_swaps", |b| {
        b.iter_custom(|iterations| (0..iterations).map(|_| backfill_once(&bench, false)).sum())
    });
    group.bench_function("backfill_swap_storm", |b| {
        b.iter_custom(|iterations| (0..iterations).map(|_| backfill_once(&bench, true)).sum())
    });
    group.finish();
    let runs = BACKFILLS.lock().unwrap();
    let mean = |runs: &[Duration]| runs.iter().sum::<Duration>().as_secs_f64() / runs.len() as f64;
    let (calm, storm) = (mean(&runs[0]), mean(&runs[1]));
    eprintln!(
        "throughput during a swap storm: {:.2}× of without ({BACKFILL} Tickets in {calm:.2} s without swaps, {storm:.2} s with; means of {} and {} runs)",
        calm / storm,
        runs[0].len(),
        runs[1].len()
    );
}

/// Builds the JavaScript test plugin twice, with two versions of its script.
mod js_plugin {
    use std::path::Path;
    use std::process::Command;

    pub fn build() -> (Vec<u8>, Vec<u8>) {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/plugins/js-mapper");
        let work = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/js-mapper");
        std::fs::create_dir_all(&work).unwrap();
        for file in ["package.json", "package-lock.json", "build.mjs", "mapper.js"] {
            std::fs::copy(source.join(file), work.join(file)).unwrap();
        }
        // build.mjs finds the WIT package relative to itself.
        let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/wit/plugin@0.1.0");
        let script = std::fs::read_to_string(work.join("build.mjs")).unwrap();
        std::fs::write(
            work.join("build.mjs"),
            script.replace("'../../../sdk/wit/plugin@0.1.0'", &format!("{:?}", wit)),
        )
        .unwrap();
        let changed = std::fs::read_to_string(work.join("mapper.js"))
            .unwrap()
            .replace("const MAPPING = 'v1';", "const MAPPING = 'v2';")
            .replace("status: ticket.status,", "status: ticket.status, priority: ticket.priority,");
        std::fs::write(work.join("mapper-v2.js"), changed).unwrap();

        run(Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&work), "npm ci");
        for (script, out) in [("mapper.js", "mapper.wasm"), ("mapper-v2.js", "mapper-v2.wasm")] {
            run(Command::new("node").args(["build.mjs", script, out]).current_dir(&work), "componentize-js");
        }
        (std::fs::read(work.join("mapper.wasm")).unwrap(), std::fs::read(work.join("mapper-v2.wasm")).unwrap())
    }

    fn run(command: &mut Command, what: &str) {
        let status =
            command.status().unwrap_or_else(|e| panic!("{what} could not start (are Node.js and npm installed?): {e}"));
        assert!(status.success(), "{what} failed: {status}");
    }
}

criterion_group!(benches, reload);
criterion_main!(benches);
