//! The plugin runtime with real components: the built-in incidents plugin and a
//! test plugin that misbehaves on demand. Each adversarial case must fail alone,
//! with an error that says what happened, and the next batch must succeed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plugin_runtime::{EventType, Limits, Plugin, PluginError, PluginRuntime, Sample, version_of};
use serde_json::{Value, json};
use support::{
    INCIDENTS_WASM, MISBEHAVING_WASM, context, event_summary, record, sdk_context, sdk_records, ticket_batch,
};

fn runtime() -> PluginRuntime {
    PluginRuntime::new(Limits { batch_time: Duration::from_millis(500), ..Limits::default() }).unwrap()
}

fn incidents(runtime: &PluginRuntime) -> Plugin {
    runtime.load_bytes("incidents.wasm", INCIDENTS_WASM).unwrap()
}

fn misbehaving(runtime: &PluginRuntime) -> Plugin {
    runtime.load_bytes("misbehaving.wasm", MISBEHAVING_WASM).unwrap()
}

fn payload(json: &str) -> Value {
    serde_json::from_str(json).unwrap()
}

#[test]
fn a_0_1_0_component_loads_and_maps_through_that_version_s_bindings() {
    let runtime = runtime();
    // The built-in plugin is on the SDK's interface, 0.2.0; a 0.1.0 build keeps loading.
    assert_eq!(incidents(&runtime).interface_version(), "0.2.0");
    let plugin = runtime.load_bytes("interface-0-1-0.wasm", support::INTERFACE_0_1_0_WASM).unwrap();
    assert_eq!(plugin.interface_version(), "0.1.0", "read from its `mapper@0.1.0` export");
    let description = plugin.description().expect("the incidents plugin describes itself");
    assert_eq!((description.resource.as_str(), description.entity.as_str()), ("incidents", "Tickets"));
    assert_eq!(description.id_field, "id");
    // The batch goes in and comes out as the host's own types, converted by the 0.1.0 module.
    let results = plugin.transform_blocking(&context("incidents"), &ticket_batch(3, 5)).unwrap();
    assert_eq!(results.len(), 5);
    for events in &results {
        let events = events.as_ref().unwrap();
        assert_eq!(events.len(), 1);
        assert!(matches!(events[0].event_type, EventType::Created | EventType::Updated));
        assert_eq!(events[0].object_type, "incidents");
    }
}

#[test]
fn the_incidents_component_maps_a_ticket_field_by_field() {
    let runtime = runtime();
    let plugin = incidents(&runtime);
    let ticket = json!({
        "id": 9001, "ticketNumber": "T20240601.0042", "title": "VPN drops every hour",
        "description": "Zürich office — since the firewall update 🚀", "status": 1, "priority": 2,
        "issueType": 4, "subIssueType": null, "ticketType": 1, "source": 2, "queueID": 8,
        "companyID": 311, "contactID": 27, "assignedResourceID": null,
        "createDate": "2024-06-01T11:59:30.5Z", "lastActivityDate": "2024-06-01T11:59:52.407Z",
        "dueDateTime": "2024-06-04T00:00:00Z", "completedDate": null, "resolvedDateTime": null,
        "userDefinedFields": [{"name": "Region", "value": "EU"}],
        "serviceLevelAgreementID": 3,
    });
    let results = plugin.transform_blocking(&context("incidents"), &[record(&ticket.to_string())]).unwrap();
    let events = results[0].as_ref().unwrap();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    // Created 11:59:30.5, after the previous poll at 11:59:00: CREATED, though edited since.
    assert_eq!(event.event_type, EventType::Created);
    assert_eq!(event.object_id, "9001");
    assert_eq!(event.object_type, "incidents");
    assert_eq!(event.event_date, "2024-06-01T11:59:52.407Z");
    assert_eq!(
        payload(&event.payload),
        json!({
            "id": "9001", "createdDate": "2024-06-01T11:59:30.500Z", "updatedDate": "2024-06-01T11:59:52.407Z",
            "ticketNumber": "T20240601.0042", "title": "VPN drops every hour",
            "description": "Zürich office — since the firewall update 🚀", "status": 1, "priority": 2,
            "issueType": 4, "subIssueType": null, "ticketType": 1, "source": 2, "queueId": 8,
            "companyId": 311, "contactId": 27, "assignedResourceId": null,
            "dueDate": "2024-06-04T00:00:00Z", "completedDate": null, "resolvedDate": null,
            "customFields": {"Region": "EU"}, "extra": {"serviceLevelAgreementID": 3},
        })
    );
}

#[test]
fn the_component_describes_itself() {
    let runtime = runtime();
    let description = incidents(&runtime).description().cloned().unwrap();
    assert_eq!(description.resource, "incidents");
    assert_eq!(description.entity, "Tickets");
    assert_eq!(description.id_field, "id");
    assert_eq!(description.created_date_field.as_deref(), Some("createDate"));
    assert_eq!(description.updated_date_field.as_deref(), Some("lastActivityDate"));
}

#[test]
fn wasm_and_native_builds_of_the_mapping_agree_on_a_thousand_tickets() {
    let runtime = runtime();
    let plugin = incidents(&runtime);
    let ctx = context("incidents");
    let records = ticket_batch(42, 1000);
    let mut wasm = Vec::new();
    for batch in records.chunks(500) {
        for result in plugin.transform_blocking(&ctx, batch).unwrap() {
            for e in result.unwrap() {
                wasm.push(event_summary(
                    e.event_type.cloud_elements_name(),
                    &e.object_id,
                    &e.object_type,
                    &e.event_date,
                    &e.payload,
                ));
            }
        }
    }
    let native: Vec<String> = incidents_plugin::mapping::transform(&sdk_context(&ctx), &sdk_records(&records))
        .into_iter()
        .flat_map(|result| result.unwrap())
        .map(|e| {
            let kind = match &e.event_type {
                autotask_events_sdk::EventType::Created => "CREATED",
                autotask_events_sdk::EventType::Updated => "UPDATED",
                autotask_events_sdk::EventType::Deleted => "DELETED",
                autotask_events_sdk::EventType::Custom(name) => name,
            };
            event_summary(kind, &e.object_id, &e.object_type, &e.event_date, &e.payload)
        })
        .collect();
    assert_eq!(wasm.len(), 1000);
    assert_eq!(wasm, native);
    assert!(wasm.iter().any(|e| e.starts_with("CREATED|")) && wasm.iter().any(|e| e.starts_with("UPDATED|")));
}

#[test]
fn a_copy_of_the_plugin_serves_another_resource_from_its_configuration() {
    let runtime = runtime();
    let accounts = runtime.load_bytes("accounts.wasm", INCIDENTS_WASM).unwrap();
    let mut ctx = context("accounts");
    ctx.poll.id_field = "companyNumber".into();
    let company = json!({"id": 12, "companyNumber": "ACME-001", "companyName": "Acme", "createDate": "2024-01-01T00:00:00Z", "lastActivityDate": "2024-05-01T00:00:00Z"});
    let mut raw = record(&company.to_string());
    raw.object_id = "ACME-001".into();
    let events = accounts.transform_blocking(&ctx, &[raw]).unwrap().remove(0).unwrap();
    assert_eq!(events[0].object_type, "accounts");
    assert_eq!(events[0].object_id, "ACME-001");
    assert_eq!(payload(&events[0].payload)["extra"], json!({"id": 12, "companyName": "Acme"}));
}

#[test]
fn a_bad_record_fails_alone() {
    let runtime = runtime();
    let plugin = incidents(&runtime);
    let mut bad = record(r#"{"id": 1}"#);
    bad.json = r#"{"id": 1, "userDefinedFields": "not a list"}"#.into();
    let good = record(r#"{"id": 2}"#);
    let results = plugin.transform_blocking(&context("incidents"), &[bad, good]).unwrap();
    assert!(results[0].as_ref().unwrap_err().contains("userDefinedFields is not a list"));
    assert_eq!(results[1].as_ref().unwrap()[0].object_id, "2");
}

/// Runs the misbehaving plugin as `resource`, then checks a good batch still works.
fn misbehave(resource: &str) -> PluginError {
    let runtime = runtime();
    let plugin = misbehaving(&runtime);
    let error = plugin.transform_blocking(&context(resource), &[record(r#"{"id": 1}"#)]).unwrap_err();
    let after = plugin.transform_blocking(&context("fine"), &[record(r#"{"id": 2}"#)]).unwrap();
    assert_eq!(after[0].as_ref().unwrap()[0].object_id, "2", "the batch after `{resource}` works");
    error
}

#[test]
fn a_trap_fails_the_batch_with_a_trap_error() {
    match misbehave("trap") {
        PluginError::Trap { plugin, reason } => {
            assert_eq!(plugin, "misbehaving.wasm");
            assert!(reason.contains("unreachable"), "{reason}");
        }
        other => panic!("expected a trap, got {other}"),
    }
}

#[test]
fn an_endless_loop_is_stopped_at_the_time_limit() {
    let started = Instant::now();
    let error = misbehave("spin");
    assert!(matches!(error, PluginError::Timeout { limit, .. } if limit == Duration::from_millis(500)), "{error}");
    assert_eq!(error.to_string(), "plugin `misbehaving.wasm` ran past its time limit of 500ms and was stopped");
    // Generous bound: the point is that it stops at all, not how precisely.
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn unbounded_allocation_is_stopped_at_the_memory_limit() {
    let error = misbehave("grow");
    assert!(matches!(error, PluginError::MemoryLimit { limit_mib: 64, .. }), "{error}");
    assert_eq!(error.to_string(), "plugin `misbehaving.wasm` hit its memory limit of 64 MiB and was stopped");
}

#[test]
fn a_plugin_sees_no_files_environment_or_arguments() {
    let runtime = runtime();
    let plugin = misbehaving(&runtime);
    let results = plugin.transform_blocking(&context("escape"), &[record(r#"{"id": 1}"#)]).unwrap();
    let seen = results[0].as_ref().unwrap_err();
    assert!(seen.starts_with("file: Err("), "{seen}");
    assert!(seen.contains("env vars: 0; args: 0; root dir: Err("), "{seen}");
}

#[test]
fn an_invalid_payload_is_a_malformed_result() {
    match misbehave("bad-json") {
        PluginError::MalformedResult { reason, .. } => {
            assert!(reason.starts_with("record 0: the event payload is not JSON"), "{reason}")
        }
        other => panic!("expected a malformed result, got {other}"),
    }
}

#[test]
fn too_few_results_is_a_malformed_result() {
    match misbehave("short") {
        PluginError::MalformedResult { reason, .. } => assert_eq!(reason, "0 results for 1 records"),
        other => panic!("expected a malformed result, got {other}"),
    }
}

#[test]
fn files_that_are_not_plugins_are_refused_with_the_reason() {
    let runtime = runtime();
    let garbage = runtime.load_bytes("garbage.wasm", b"definitely not wasm").err().unwrap();
    assert!(matches!(garbage, PluginError::NotAComponent { .. }), "{garbage}");
    assert!(garbage.to_string().starts_with("plugin `garbage.wasm` is not a WebAssembly component"));

    // A core module (what `cargo build --target wasm32-unknown-unknown` makes) is not a component.
    let core_module = b"\0asm\x01\0\0\0";
    let error = runtime.load_bytes("core.wasm", core_module).err().unwrap();
    assert!(matches!(error, PluginError::NotAComponent { .. }), "{error}");

    // An empty component is a component, but of another world.
    let empty_component = b"\0asm\x0d\0\x01\0";
    let error = runtime.load_bytes("empty.wasm", empty_component).err().unwrap();
    assert_eq!(
        error.to_string(),
        "plugin `empty.wasm` does not implement the autotask-events plugin world: \
         it does not export `autotask-events:plugin/mapper@0.1.0` or `autotask-events:plugin/mapper@0.2.0` \
         with a `transform` function"
    );

    let missing = runtime.load_file(std::path::Path::new("/nonexistent/incidents.wasm")).err().unwrap();
    assert!(missing.to_string().starts_with("cannot read plugin file /nonexistent/incidents.wasm"));
}

/// A writer that keeps everything logged, for asserting on log lines.
#[derive(Clone, Default)]
struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn plugin_logs_and_output_reach_the_host_log_tagged_with_the_plugin() {
    let log = CapturedLog::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer({
            let log = log.clone();
            move || log.clone()
        })
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let runtime = runtime();
        let plugin = misbehaving(&runtime);
        plugin.transform_blocking(&context("chatty"), &[record(r#"{"id": 77}"#)]).unwrap();
    });
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    for expected in ["mapping record 77", "stdout line for 77", "stderr line for 77"] {
        let line = text.lines().find(|l| l.contains(expected)).unwrap_or_else(|| panic!("no `{expected}` in:\n{text}"));
        assert!(line.contains("plugin=\"misbehaving.wasm\"") || line.contains("plugin=misbehaving.wasm"), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_run_off_the_reactor_and_in_parallel() {
    let runtime = runtime();
    let plugin = Arc::new(incidents(&runtime));
    let ctx = context("incidents");
    let tasks: Vec<_> =
        (0..8).map(|seed| tokio::spawn(plugin.transform(ctx.clone(), ticket_batch(seed, 100)))).collect();
    for task in tasks {
        let results = task.await.unwrap().unwrap();
        assert_eq!(results.len(), 100);
        assert!(results.iter().all(|r| r.as_ref().is_ok_and(|events| events.len() == 1)));
    }
}

#[test]
fn a_new_version_must_map_the_sample_records_and_is_named_by_its_sha256() {
    let runtime = runtime();
    let ticket =
        record(r#"{"id": 5, "lastActivityDate": "2024-01-01T00:00:00Z", "createDate": "2024-01-01T00:00:00Z"}"#);
    let sample = |resource: &str| Sample { ctx: context(resource), record: ticket.clone() };

    let plugin = runtime.load_checked("incidents.wasm", INCIDENTS_WASM, &[sample("incidents")]).unwrap();
    assert_eq!(plugin.version(), version_of(INCIDENTS_WASM));
    assert_eq!(plugin.version().len(), 64);

    // Traps on the sample (the misbehaving plugin traps for a resource named `trap`).
    let error = runtime.load_checked("misbehaving.wasm", MISBEHAVING_WASM, &[sample("trap")]).err().unwrap();
    assert!(matches!(error, PluginError::Trap { .. }), "{error}");
    // Rejects the sample: a per-record error is a failed check too.
    let error = runtime.load_checked("misbehaving.wasm", MISBEHAVING_WASM, &[sample("escape")]).err().unwrap();
    assert!(matches!(error, PluginError::SampleRejected { ref object_id, .. } if object_id == "5"), "{error}");
    // Without samples the same component loads: only the empty batch is tried.
    assert!(runtime.load_checked("misbehaving.wasm", MISBEHAVING_WASM, &[]).is_ok());
}

#[test]
fn the_peak_memory_of_a_batch_is_measured_and_stays_under_the_limit() {
    let runtime = runtime();
    let plugin = incidents(&runtime);
    let at_load = plugin.peak_memory_bytes();
    assert!(at_load > 0, "loading ran the self-test's empty batch");
    plugin.transform_blocking(&context("incidents"), &ticket_batch(7, 500)).unwrap();
    let large = plugin.peak_memory_bytes();
    assert!(large > at_load, "500 tickets need more memory than an empty batch: {at_load} then {large}");
    assert!(large < Limits::default().memory_bytes, "{large}");
}
