//! Mapping 500 realistic Tickets: the incidents mapping compiled natively versus
//! the same code as a component through the host runtime, plus the fixed cost
//! of one call. Prints the wasm/native ratios at the end, from the numbers
//! measured in this same run.
//!
//! The component is measured two ways: a fresh instance per batch (what a poll
//! of one page costs), and the batches of one poll mapped on one instance
//! ([`plugin_runtime::PollSession`]) with the poll's instance started and
//! dropped every [`POLL_PAGES`] batches, so its cost is in the figure.

use std::time::Duration;

use criterion::{Criterion, Throughput};
use plugin_runtime::{Limits, PluginRuntime};
use support::{INCIDENTS_WASM, context, criterion_mean_ns, sdk_context, sdk_records, ticket_batch};

const BATCH: usize = 500;

/// Pages in the poll the session figures model: 5,000 changed Tickets.
const POLL_PAGES: usize = 10;

fn mapping(c: &mut Criterion) {
    let ctx = context("incidents");
    let records = ticket_batch(7, BATCH);
    let bytes: usize = records.iter().map(|r| r.json.len()).sum();
    eprintln!("batch: {BATCH} tickets, {} KB of JSON", bytes / 1000);

    let native_ctx = sdk_context(&ctx);
    let native_records = sdk_records(&records);
    let runtime = PluginRuntime::new(Limits::default()).expect("runtime");
    let plugin = std::sync::Arc::new(runtime.load_bytes("incidents.wasm", INCIDENTS_WASM).expect("incidents plugin"));

    let mut group = c.benchmark_group("incidents_500");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("native", |b| b.iter(|| incidents_plugin::mapping::transform(&native_ctx, &native_records)));
    group.bench_function("wasm", |b| b.iter(|| plugin.transform_blocking(&ctx, &records).expect("batch maps")));
    group.bench_function("wasm_poll", |b| {
        let mut session = plugin.session();
        let mut pages = 0;
        b.iter(|| {
            if pages == POLL_PAGES {
                session = plugin.session();
                pages = 0;
            }
            pages += 1;
            session.transform_blocking(&ctx, &records).expect("batch maps")
        })
    });
    group.finish();

    let mut group = c.benchmark_group("per_call");
    group.bench_function("empty_batch", |b| b.iter(|| plugin.transform_blocking(&ctx, &[]).expect("empty batch")));
    group.bench_function("empty_batch_in_poll", |b| {
        let mut session = plugin.session();
        b.iter(|| session.transform_blocking(&ctx, &[]).expect("empty batch"))
    });
    group.finish();
}

fn report() {
    let (Some(native), Some(wasm)) =
        (criterion_mean_ns("incidents_500", "native"), criterion_mean_ns("incidents_500", "wasm"))
    else {
        return;
    };
    let per_second = |ns: f64| BATCH as f64 / (ns / 1e9);
    println!("\nincidents, {BATCH} tickets per batch:");
    println!("  native            {:>10.0} records/s  ({:.3} ms/batch)", per_second(native), native / 1e6);
    println!("  wasm, fresh       {:>10.0} records/s  ({:.3} ms/batch)", per_second(wasm), wasm / 1e6);
    println!("  wasm, fresh instance per batch = {:.2}x native", native / wasm);
    if let Some(poll) = criterion_mean_ns("incidents_500", "wasm_poll") {
        println!("  wasm, in a poll   {:>10.0} records/s  ({:.3} ms/batch)", per_second(poll), poll / 1e6);
        println!("  wasm, one instance per poll of {POLL_PAGES} pages = {:.2}x native", native / poll);
    }
    if let Some(empty) = criterion_mean_ns("per_call", "empty_batch") {
        println!("  fixed cost of a poll's instance (store + instantiate + call + reset) = {:.1} µs", empty / 1e3);
    }
    if let Some(empty) = criterion_mean_ns("per_call", "empty_batch_in_poll") {
        println!("  fixed cost of a batch on the poll's instance = {:.1} µs", empty / 1e3);
    }
}

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    mapping(&mut criterion);
    criterion.final_summary();
    report();
}
