//! What a plugin costs in each language: the incidents mapping in Rust (the
//! built-in plugin), JavaScript, Python and C, each built from its example's
//! source, measured in one run with the Rust plugin as the baseline.
//!
//! - load: compiling the component with no cache (what the first start and a
//!   hot reload of a new version cost), and loading it again from the on-disk
//!   artifact cache (what a restart costs);
//! - batch: mapping 500 realistic Tickets (criterion), fresh instance included,
//!   and an empty batch (the fixed cost: instantiating the pre-initialized runtime);
//! - memory: the most linear memory one batch's instance grew to.
//!
//! Each language's component must also pass the hot-reload self-test (load,
//! describe, empty batch, a sample record) under the default limits.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use plugin_runtime::{Limits, Plugin, PluginRuntime, Sample};
use support::{INCIDENTS_WASM, build_example_plugin, context, criterion_mean_ns, ticket_batch};

const BATCH: usize = 500;
const LANGUAGES: [&str; 4] = ["rust", "javascript", "python", "c"];

/// One language's component and what loading it took.
struct Measured {
    lang: &'static str,
    size: usize,
    compile: Duration,
    cached_load: Duration,
    plugin: Plugin,
}

fn component(lang: &str, dir: &Path) -> Vec<u8> {
    if lang == "rust" {
        return INCIDENTS_WASM.to_vec();
    }
    let out = dir.join(format!("{lang}.wasm"));
    build_example_plugin(lang, &out);
    std::fs::read(&out).expect("the build wrote the component")
}

fn measure(lang: &'static str, dir: &Path) -> Measured {
    let bytes = component(lang, dir);
    let sample = Sample { ctx: context("incidents"), record: ticket_batch(3, 1).remove(0) };
    // A runtime of its own for each, so no cache from another language helps.
    let cache = dir.join(format!("cache-{lang}"));
    let runtime = PluginRuntime::with_artifact_cache(Limits::default(), cache.clone()).expect("runtime");
    let started = Instant::now();
    let plugin = runtime.load_checked(&format!("{lang}.wasm"), &bytes, std::slice::from_ref(&sample));
    let compile = started.elapsed();
    let plugin =
        plugin.unwrap_or_else(|e| panic!("{lang}: the hot-reload self-test fails under the default limits: {e}"));
    drop(plugin);
    // The artifact is written in the background; wait for it, then load as a restart would.
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_dir(&cache).map(|d| d.count()).unwrap_or(0) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let restarted = PluginRuntime::with_artifact_cache(Limits::default(), cache).expect("runtime");
    let started = Instant::now();
    let plugin = restarted.load_checked(&format!("{lang}.wasm"), &bytes, &[sample]).expect("loads from the cache");
    let cached_load = started.elapsed();
    Measured { lang, size: bytes.len(), compile, cached_load, plugin }
}

fn languages(c: &mut Criterion, measured: &[Measured]) {
    let ctx = context("incidents");
    let records = ticket_batch(7, BATCH);
    let mut group = c.benchmark_group("languages_500");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    for m in measured {
        group.bench_function(m.lang, |b| b.iter(|| m.plugin.transform_blocking(&ctx, &records).expect("batch maps")));
    }
    group.finish();
    // The fixed cost of a batch: a fresh instance of the (pre-initialized) runtime and one call.
    let mut group = c.benchmark_group("languages_empty");
    group.sample_size(20);
    for m in measured {
        group.bench_function(m.lang, |b| b.iter(|| m.plugin.transform_blocking(&ctx, &[]).expect("empty batch")));
    }
    group.finish();
}

fn report(measured: &[Measured]) {
    let rust = &measured[0];
    let rust_batch = criterion_mean_ns("languages_500", "rust").unwrap_or(f64::NAN);
    println!("\nthe incidents mapping in each language, {BATCH} Tickets a batch (ratios to Rust, this run):");
    println!(
        "{:<11} {:>9} {:>12} {:>8} {:>13} {:>8} {:>11} {:>6} {:>11} {:>11} {:>6}",
        "language",
        "size KB",
        "compile ms",
        "ratio",
        "cached ms",
        "ratio",
        "batch ms",
        "ratio",
        "empty ms",
        "memory MiB",
        "ratio"
    );
    for m in measured {
        let batch = criterion_mean_ns("languages_500", m.lang).unwrap_or(f64::NAN);
        let empty = criterion_mean_ns("languages_empty", m.lang).unwrap_or(f64::NAN);
        let memory = m.plugin.peak_memory_bytes() as f64 / (1 << 20) as f64;
        let rust_memory = rust.plugin.peak_memory_bytes() as f64 / (1 << 20) as f64;
        println!(
            "{:<11} {:>9} {:>12.0} {:>7.1}x {:>13.1} {:>7.1}x {:>11.2} {:>5.1}x {:>11.3} {:>11.1} {:>5.1}x",
            m.lang,
            m.size / 1000,
            m.compile.as_secs_f64() * 1000.0,
            m.compile.as_secs_f64() / rust.compile.as_secs_f64(),
            m.cached_load.as_secs_f64() * 1000.0,
            m.cached_load.as_secs_f64() / rust.cached_load.as_secs_f64(),
            batch / 1e6,
            batch / rust_batch,
            empty / 1e6,
            memory,
            memory / rust_memory,
        );
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let only: Option<String> = std::env::var("LANGUAGES_BENCH_ONLY").ok();
    let measured: Vec<Measured> = LANGUAGES
        .iter()
        .filter(|lang| **lang == "rust" || only.as_deref().is_none_or(|only| only.split(',').any(|l| l == **lang)))
        .map(|lang| measure(lang, dir.path()))
        .collect();
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    languages(&mut criterion, &measured);
    criterion.final_summary();
    report(&measured);
}
