//! The example scripts (`examples/scripts/incidents.js` and `.py`) through the
//! runners shipped in the binary, against the built-in incidents plugin on the
//! 1,000-Ticket equivalence set, batches of 500 as the service sends them.
//!
//! The JavaScript script writes numbers exactly as Autotask did, so its
//! payloads are the Rust plugin's byte for byte; the Python script parses
//! numbers with `json.loads` (the contract says so), so its payloads are the
//! same JSON, compared as values. Either way the same records must fail.

use std::time::Duration;

use autotask_sim::sample;
use plugin_runtime::{Limits, Plugin, PluginRuntime, RecordResult, ScriptLanguage};
use serde_json::Value;
use support::{INCIDENTS_WASM, context, equivalence_tickets, previous_poll, reader, workspace_root};

fn runtime() -> PluginRuntime {
    let limits = Limits { batch_time: Duration::from_secs(20), memory_bytes: 256 << 20, ..Limits::default() };
    // Compiling a runner takes seconds; later runs of the tests load it from here.
    PluginRuntime::with_artifact_cache(limits, support::service::TEST_COMPILE_CACHE.into()).unwrap()
}

fn script(runtime: &PluginRuntime, file_name: &str, language: ScriptLanguage) -> Plugin {
    let source = std::fs::read(workspace_root().join("examples/scripts").join(file_name)).unwrap();
    runtime.load_script(file_name, file_name, language, &source, &[]).unwrap()
}

/// Every record's outcome on the equivalence set, mapped 500 at a time.
fn map_all(plugin: &Plugin) -> Vec<RecordResult> {
    let records: Vec<_> = equivalence_tickets(sample::sample_epoch())
        .iter()
        .map(|ticket| reader().read(&ticket.to_string(), previous_poll()).expect("the host reads every Ticket"))
        .collect();
    let ctx = context("incidents");
    records.chunks(500).flat_map(|batch| plugin.transform_blocking(&ctx, batch).expect("the batch maps")).collect()
}

/// The script's outcomes are the Rust plugin's: the same events (payloads
/// compared as text when `byte_identical`, else as JSON values), and the same
/// records fail, each for the same reason.
fn same_as_rust(file_name: &str, language: ScriptLanguage, byte_identical: bool) {
    let runtime = runtime();
    let rust = map_all(&runtime.load_bytes("incidents.wasm", INCIDENTS_WASM).unwrap());
    let ours = map_all(&script(&runtime, file_name, language));
    assert_eq!(ours.len(), rust.len());
    let mut failed = Vec::new();
    for (index, (ours, rust)) in ours.iter().zip(&rust).enumerate() {
        match (ours, rust) {
            (Ok(ours), Ok(rust)) => {
                assert_eq!(ours.len(), rust.len(), "{file_name}: record {index}: the number of events");
                for (ours, rust) in ours.iter().zip(rust) {
                    let (a, b) = (&ours.payload, &rust.payload);
                    if byte_identical {
                        assert_eq!(a, b, "{file_name}: record {index}: the payload text");
                    } else {
                        let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap();
                        assert_eq!(parse(a), parse(b), "{file_name}: record {index}: the payload");
                    }
                    assert_eq!(
                        (&ours.event_type, &ours.object_id, &ours.object_type, &ours.event_date),
                        (&rust.event_type, &rust.object_id, &rust.object_type, &rust.event_date),
                        "{file_name}: record {index}: the event"
                    );
                }
            }
            (Err(ours), Err(rust)) => {
                assert!(rust.contains("userDefinedFields is not a list of {name, value}"), "{rust}");
                assert!(
                    ours.contains("userDefinedFields is not a list of {name, value}"),
                    "{file_name}: record {index}: {ours}"
                );
                failed.push(index);
            }
            (ours, rust) => panic!("{file_name}: record {index}: {ours:?}, where the Rust plugin gives {rust:?}"),
        }
    }
    assert_eq!(failed.len(), 10, "the ten malformed user-defined field lists fail: {failed:?}");
}

#[test]
fn the_javascript_incidents_script_writes_the_rust_plugin_s_payloads_byte_for_byte() {
    same_as_rust("incidents.js", ScriptLanguage::JavaScript, true);
}

#[test]
fn the_python_incidents_script_maps_like_the_rust_plugin() {
    same_as_rust("incidents.py", ScriptLanguage::Python, false);
}
