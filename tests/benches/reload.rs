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
//! - **Script plugins** (`plugins/incidents.js`, `plugins/incidents.py`: the
//!   example scripts, a comment with a counter appended for each new version,
//!   written to a temporary name and renamed into place): reload latency over
//!   50 swaps, p50 and p99, and the process's resident memory (VmRSS) after
//!   them; the swap storm with the JavaScript script
//!   (`reload/backfill_swap_storm_js_script` against
//!   `reload/backfill_no_swaps_js_script`). The runners come from an artifact
//!   cache under `target/` (`target/script-bench-cache`), compiled once ever;
//!   what that first compile costs is printed apart, as "first start".
//!   `RELOAD_BENCH_SCRIPTS_ONLY=1` measures only the script plugins.
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
use plugin_runtime::{Limits, PluginRuntime, Sample, ScriptLanguage, version_of, version_of_file};
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
    file_name: String,
}

impl Live {
    fn start(bench: &Bench, plugin: &[u8], sim: SimConfig, since: bool) -> Live {
        Live::start_file(bench, "incidents.wasm", plugin, sim, since)
    }

    /// A service whose plugin directory holds `plugin` as `file_name`. For a
    /// script, the artifact cache is the one under `target/` that
    /// [`warm_runner`] filled, so the runner is not compiled again.
    fn start_file(bench: &Bench, file_name: &str, plugin: &[u8], sim: SimConfig, since: bool) -> Live {
        let sim = bench.runtime.block_on(Simulator::start(sim)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
        std::fs::write(dir.path().join("plugins").join(file_name), plugin).unwrap();
        if ScriptLanguage::of_path(Path::new(file_name)).is_some() {
            std::fs::create_dir_all(dir.path().join("data")).unwrap();
            std::fs::create_dir_all(runner_cache()).unwrap();
            std::os::unix::fs::symlink(runner_cache(), dir.path().join("data/plugin-cache")).unwrap();
        }
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
        Live { _sim: sim, dir, service: Some(service), file_name: file_name.to_owned() }
    }

    fn plugin_path(&self) -> PathBuf {
        self.dir.path().join("plugins").join(&self.file_name)
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

/// The artifact cache the script measurements share across runs (and with the
/// `scripts` bench): the runners are compiled into it once, ever.
fn runner_cache() -> PathBuf {
    support::workspace_root().join("target/script-bench-cache")
}

/// The example incidents script of `language`, with `tag` appended as a
/// comment: a new version of the script (its SHA-256 changes), mapping alike.
fn script_version(language: ScriptLanguage, tag: u64) -> Vec<u8> {
    let path = support::workspace_root().join("examples/scripts").join(format!("incidents.{}", language.extension()));
    let mut source = std::fs::read(path).unwrap();
    let comment = match language {
        ScriptLanguage::JavaScript => "//",
        ScriptLanguage::Python => "#",
    };
    source.extend_from_slice(format!("\n{comment} version {tag}\n").as_bytes());
    source
}

/// Compiles `language`'s runner into [`runner_cache`] if it is not there yet,
/// and says what a start costs: the first ever (the runner compiled from
/// scratch, without any cache: a one-off per installation) and a start from
/// the warm cache (what every later start of the service costs).
fn warm_runner(language: ScriptLanguage) {
    let sample = [Sample { ctx: support::context("incidents"), record: support::ticket_batch(3, 1).remove(0) }];
    let source = script_version(language, 0);
    let file_name = format!("incidents.{}", language.extension());
    let cold = PluginRuntime::new(Limits::default()).unwrap();
    let started = Instant::now();
    cold.load_script(&file_name, &file_name, language, &source, &sample).unwrap();
    let first = started.elapsed();
    drop(cold);
    let load_warm = || {
        let warm = PluginRuntime::with_artifact_cache(Limits::default(), runner_cache()).unwrap();
        let started = Instant::now();
        warm.load_script(&file_name, &file_name, language, &source, &sample).unwrap();
        started.elapsed()
    };
    let mut warm = load_warm();
    // A cold cache compiles here and writes the artifact in the background.
    let deadline = Instant::now() + Duration::from_secs(120);
    let cached = || {
        std::fs::read_dir(runner_cache()).into_iter().flatten().flatten().any(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.starts_with(language.runner_version()) && name.ends_with(".cwasm")
        })
    };
    while !cached() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    if warm > Duration::from_secs(1) {
        warm = load_warm();
    }
    eprintln!(
        "{} runner ({:.1} MB): first start {:.1} s (compiling the runner, no cache: once per installation); \
         a start from the artifact cache {:.0} ms (runner loaded, script loaded and checked on a sample)",
        language.name(),
        language.runner().len() as f64 / 1e6,
        first.as_secs_f64(),
        warm.as_secs_f64() * 1e3
    );
}

/// The process's resident memory, in MB (VmRSS of /proc/self/status).
fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kb / 1024.0
}

/// Reload latency of a script plugin over [`swaps`] new versions of the
/// example script, each renamed into place; then the process's RSS.
fn report_script_latency(language: ScriptLanguage, bench: &Bench) {
    let file_name = format!("incidents.{}", language.extension());
    let rss_before = rss_mb();
    let started = Instant::now();
    let live = Live::start_file(bench, &file_name, &script_version(language, 0), churning(), false);
    let start = started.elapsed();
    let path = live.plugin_path();
    let mut latencies = Vec::with_capacity(swaps());
    for swap in 1..=swaps() as u64 {
        let source = script_version(language, swap);
        let version = version_of_file(&path, &source);
        let started = Instant::now();
        rename_into_place(&path, &source);
        while !live.mapped_by(&version) {
            assert!(started.elapsed() < Duration::from_secs(120), "swap {swap} was never mapped by");
            std::thread::sleep(Duration::from_millis(2));
        }
        latencies.push(started.elapsed());
    }
    let rss_after = rss_mb();
    live.stop(bench);
    latencies.sort();
    let (p50, p99) = (percentile(&latencies, 0.50), percentile(&latencies, 0.99));
    eprintln!(
        "reload latency, {} script (incidents.{}, a comment changed each swap): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms \
         over {} swaps (rename into place → first batch mapped; goal p99 ≤ 100 ms: {}); the service started in {:.0} ms; \
         RSS {rss_after:.0} MB after the swaps (goal ≤ 150 MB: {}; {rss_before:.0} MB before the service started)",
        language.name(),
        language.extension(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
        latencies.len(),
        if p99 <= Duration::from_millis(100) { "met" } else { "missed" },
        start.as_secs_f64() * 1e3,
        if rss_after <= 150.0 { "met" } else { "missed" },
    );
}

/// Every backfill's time, without swaps and during a storm (the built-in
/// plugin, then the JavaScript script), for the ratios printed at the end.
static BACKFILLS: std::sync::Mutex<[Vec<Duration>; 4]> =
    std::sync::Mutex::new([Vec::new(), Vec::new(), Vec::new(), Vec::new()]);

/// What a backfill is mapped by, and how each new version of it is made.
#[derive(Clone, Copy)]
enum Mapping {
    Wasm,
    JavaScript,
}

impl Mapping {
    fn file_name(self) -> &'static str {
        match self {
            Mapping::Wasm => "incidents.wasm",
            Mapping::JavaScript => "incidents.js",
        }
    }

    fn version(self, tag: u64) -> Vec<u8> {
        match self {
            Mapping::Wasm if tag == 0 => INCIDENTS_WASM.to_vec(),
            Mapping::Wasm => tagged(INCIDENTS_WASM, tag),
            Mapping::JavaScript => script_version(ScriptLanguage::JavaScript, tag),
        }
    }
}

/// One backfill of `BACKFILL` Tickets mapped by `mapping`, with a new version every 100 ms when `storm`.
fn backfill_with(bench: &Bench, mapping: Mapping, storm: bool) -> Duration {
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
    let live = Live::start_file(bench, mapping.file_name(), &mapping.version(0), sim, true);
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = storm.then(|| {
        let (path, stop) = (live.plugin_path(), stop.clone());
        std::thread::spawn(move || {
            let mut tag = 0;
            while !stop.load(Ordering::Relaxed) {
                tag += 1;
                rename_into_place(&path, &mapping.version(tag));
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
    let slot = usize::from(storm) + if matches!(mapping, Mapping::JavaScript) { 2 } else { 0 };
    BACKFILLS.lock().unwrap()[slot].push(took);
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
    // `RELOAD_BENCH_SCRIPTS_ONLY`: only the script plugins' measurements.
    let components = std::env::var_os("RELOAD_BENCH_SCRIPTS_ONLY").is_none();
    // Scripts first, so the resident memory they report is not that of the
    // components' compiles (which keep hundreds of MB of compiled functions).
    // A first-ever run compiles the runners when the service starts.
    for language in ScriptLanguage::ALL {
        report_script_latency(language, &bench);
    }
    for language in ScriptLanguage::ALL {
        warm_runner(language);
    }
    if components {
        report_load_cost(INCIDENTS_WASM);
        if std::env::var_os("RELOAD_BENCH_ONLY_COST").is_some() {
            return;
        }
        report_latency("incidents plugin (Rust)", &[INCIDENTS_WASM], &bench);
        if std::env::var_os("RELOAD_BENCH_SKIP_JS").is_none() {
            let (js_a, js_b) = js_plugin::build();
            report_latency("JavaScript plugin, script changed each swap", &[&js_a, &js_b], &bench);
        }
    }

    let mut group = c.benchmark_group("reload");
    group.sample_size(10).warm_up_time(Duration::from_millis(1)).measurement_time(Duration::from_secs(20));
    let backfills: [(&str, Mapping, bool); 4] = [
        ("backfill_no_swaps", Mapping::Wasm, false),
        ("backfill_swap_storm", Mapping::Wasm, true),
        ("backfill_no_swaps_js_script", Mapping::JavaScript, false),
        ("backfill_swap_storm_js_script", Mapping::JavaScript, true),
    ];
    for (name, mapping, storm) in backfills {
        if components || matches!(mapping, Mapping::JavaScript) {
            group.bench_function(name, |b| {
                b.iter_custom(|iterations| (0..iterations).map(|_| backfill_with(&bench, mapping, storm)).sum())
            });
        }
    }
    group.finish();
    let runs = BACKFILLS.lock().unwrap();
    let mean = |runs: &[Duration]| runs.iter().sum::<Duration>().as_secs_f64() / runs.len() as f64;
    for (what, calm, storm) in
        [("the built-in plugin", &runs[0], &runs[1]), ("the JavaScript script", &runs[2], &runs[3])]
    {
        if calm.is_empty() || storm.is_empty() {
            continue;
        }
        let (calm_mean, storm_mean) = (mean(calm), mean(storm));
        eprintln!(
            "throughput during a swap storm, {what}: {:.2}× of without ({BACKFILL} Tickets in {calm_mean:.2} s without \
             swaps, {storm_mean:.2} s with; means of {} and {} runs)",
            calm_mean / storm_mean,
            calm.len(),
            storm.len()
        );
    }
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
