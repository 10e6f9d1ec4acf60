//! What a script plugin costs a batch: the incidents mapping as the example
//! scripts (`examples/scripts/incidents.js` and `.py`, run by the runners
//! shipped in the binary) against the built-in Rust plugin (its component,
//! through the same runtime), 500 realistic Tickets a batch, in one run.
//!
//! Where a script's batch goes, measured apart (`scripts_parts`):
//!
//! - `instantiate`: the runner alone (loaded as a plain component, no script
//!   given) mapping an empty batch: a fresh instance of the pre-initialized
//!   runtime and one call;
//! - `load_tiny`: a fresh instance given a one-line script (`load`), then an
//!   empty batch: adds what `load` costs at least;
//! - `load_incidents`: the same with the incidents script: adds evaluating it;
//! - `constant_500`: 500 Tickets mapped by a script whose mapRecord returns a
//!   constant: adds the runner's per-record glue (the WIT values in and out,
//!   parsing each record, checking each event), not the mapping;
//! - the whole batch (`scripts_500`) adds the incidents mapping itself.
//!
//! The runners are compiled once into an artifact cache under `target/`
//! (`target/script-bench-cache`), so only the first run ever compiles them.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use plugin_runtime::{Limits, Plugin, PluginRuntime, ScriptLanguage};
use support::{INCIDENTS_WASM, context, criterion_mean_ns, ticket_batch, workspace_root};

const BATCH: usize = 500;

/// A script language's plugins for the bench.
struct Language {
    name: &'static str,
    language: ScriptLanguage,
    /// The runner component, loaded as a plain component: no script is given.
    bare_runner: Plugin,
    tiny: Plugin,
    constant: Plugin,
    incidents: Plugin,
    incidents_source_bytes: usize,
}

/// The smallest script each runner accepts, mapping every record to one constant event.
fn constant_script(language: ScriptLanguage) -> &'static str {
    match language {
        ScriptLanguage::JavaScript => "exports.mapRecord = () => ({ payload: '{}' });\n",
        ScriptLanguage::Python => "def map_record(record, meta, ctx):\n    return {\"payload\": \"{}\"}\n",
    }
}

/// A one-line script: what `load` costs with next to nothing to evaluate.
fn tiny_script(language: ScriptLanguage) -> &'static str {
    match language {
        ScriptLanguage::JavaScript => "exports.mapRecord = () => null;\n",
        ScriptLanguage::Python => "def map_record(record, meta, ctx): return None\n",
    }
}

fn load(runtime: &PluginRuntime, language: ScriptLanguage, what: &str, source: &str) -> Plugin {
    let file_name = format!("{what}.{}", language.extension());
    runtime
        .load_script(&file_name, &file_name, language, source.as_bytes(), &[])
        .unwrap_or_else(|e| panic!("{file_name}: {e}"))
}

fn language(runtime: &PluginRuntime, name: &'static str, language: ScriptLanguage) -> Language {
    let path = workspace_root().join("examples/scripts").join(format!("incidents.{}", language.extension()));
    let source = std::fs::read_to_string(&path).expect("the example script");
    let started = Instant::now();
    let incidents = load(runtime, language, "incidents", &source);
    eprintln!(
        "{name}: the runner ({:.1} MB) and the incidents script loaded in {:.0} ms (the runner from the artifact cache, \
         unless this is the first run)",
        language.runner().len() as f64 / 1e6,
        started.elapsed().as_secs_f64() * 1e3
    );
    Language {
        name,
        language,
        bare_runner: runtime.load_bytes(&format!("{name}-runner.wasm"), language.runner()).expect("the bare runner"),
        tiny: load(runtime, language, "tiny", tiny_script(language)),
        constant: load(runtime, language, "constant", constant_script(language)),
        incidents,
        incidents_source_bytes: source.len(),
    }
}

fn bench(c: &mut Criterion, rust: &Plugin, languages: &[Language]) {
    let ctx = context("incidents");
    let records = ticket_batch(7, BATCH);
    // Every plugin maps the batch without a failed record, and the scripts' events are Rust's.
    let reference = rust.transform_blocking(&ctx, &records).expect("the Rust plugin maps");
    for l in languages {
        let ours = l.incidents.transform_blocking(&ctx, &records).expect("the script maps");
        assert_eq!(ours.len(), reference.len());
        for (ours, rust) in ours.iter().zip(&reference) {
            let (ours, rust) = (ours.as_ref().expect("maps"), rust.as_ref().expect("maps"));
            let json = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
            assert_eq!(json(&ours[0].payload), json(&rust[0].payload), "{}: the same payload", l.name);
        }
    }

    let mut group = c.benchmark_group("scripts_500");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    group.bench_function("rust", |b| b.iter(|| rust.transform_blocking(&ctx, &records).expect("batch maps")));
    for l in languages {
        group.bench_function(l.name, |b| b.iter(|| l.incidents.transform_blocking(&ctx, &records).expect("maps")));
    }
    group.finish();

    let mut group = c.benchmark_group("scripts_parts");
    group.sample_size(20);
    group.bench_function("rust_instantiate", |b| b.iter(|| rust.transform_blocking(&ctx, &[]).expect("empty")));
    for l in languages {
        let parts: [(&str, &Plugin, &[_]); 4] = [
            ("instantiate", &l.bare_runner, &[]),
            ("load_tiny", &l.tiny, &[]),
            ("load_incidents", &l.incidents, &[]),
            ("constant_500", &l.constant, &records),
        ];
        for (part, plugin, batch) in parts {
            group.bench_function(format!("{}_{part}", l.name), |b| {
                b.iter(|| plugin.transform_blocking(&ctx, batch).expect("maps"))
            });
        }
    }
    group.finish();
}

fn report(languages: &[Language]) {
    let ms = |group: &str, name: &str| criterion_mean_ns(group, name).unwrap_or(f64::NAN) / 1e6;
    let rust = ms("scripts_500", "rust");
    println!(
        "\nthe incidents mapping, {BATCH} Tickets a batch, fresh instance included (this run; 2 shared cores, noisy):"
    );
    println!("{:<11} {:>10} {:>14} {:>8}", "plugin", "batch ms", "ratio to Rust", "goal");
    println!("{:<11} {:>10.2} {:>13.1}x {:>8}", "rust", rust, 1.0, "");
    for l in languages {
        let batch = ms("scripts_500", l.name);
        let ratio = batch / rust;
        let verdict = if ratio <= 10.0 { "met" } else { "missed" };
        println!("{:<11} {:>10.2} {:>13.1}x {:>8}", l.name, batch, ratio, format!("≤10x {verdict}"));
    }
    println!("\nwhere a script's batch goes (each step adds to the one before; means of this run):");
    println!("  rust: instantiate + empty call {:.3} ms, mapping {:.3} ms", ms("scripts_parts", "rust_instantiate"), {
        rust - ms("scripts_parts", "rust_instantiate")
    });
    for l in languages {
        let part = |p: &str| ms("scripts_parts", &format!("{}_{p}", l.name));
        let (instantiate, tiny, incidents, constant) =
            (part("instantiate"), part("load_tiny"), part("load_incidents"), part("constant_500"));
        let batch = ms("scripts_500", l.name);
        println!(
            "  {}: instantiate + empty call {instantiate:.3} ms | load(1-line script) +{:.3} ms | \
             load(incidents, {} B) +{:.3} ms more | per-record glue, 500 records +{:.3} ms ({:.1} µs a record) | \
             the incidents mapping itself +{:.3} ms ({:.1} µs a record) | total {batch:.2} ms",
            l.name,
            tiny - instantiate,
            l.incidents_source_bytes,
            incidents - tiny,
            constant - tiny,
            (constant - tiny) * 1e3 / BATCH as f64,
            batch - constant - (incidents - tiny),
            (batch - constant - (incidents - tiny)) * 1e3 / BATCH as f64,
        );
        let _ = l.language;
    }
}

fn main() {
    let cache = workspace_root().join("target/script-bench-cache");
    let runtime = PluginRuntime::with_artifact_cache(Limits::default(), cache.clone()).expect("runtime");
    let rust = runtime.load_bytes("incidents.wasm", INCIDENTS_WASM).expect("the built-in plugin");
    let only = std::env::var("SCRIPTS_BENCH_ONLY").ok();
    let languages: Vec<Language> = [("javascript", ScriptLanguage::JavaScript), ("python", ScriptLanguage::Python)]
        .into_iter()
        .filter(|(name, _)| only.as_deref().is_none_or(|only| only.split(',').any(|l| l == *name)))
        .map(|(name, l)| language(&runtime, name, l))
        .collect();
    wait_for_artifacts(&cache, languages.len() + 1);
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    bench(&mut criterion, &rust, &languages);
    criterion.final_summary();
    report(&languages);
}

/// The artifact cache is written in the background; a run that compiled lets
/// it finish first, so the next run starts warm and this one is not slowed.
fn wait_for_artifacts(cache: &Path, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let artifacts = || {
        std::fs::read_dir(cache)
            .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".cwasm")).count())
            .unwrap_or(0)
    };
    while artifacts() < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
}
