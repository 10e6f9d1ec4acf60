//! Shared pieces of the tests and benchmarks: the compiled test components,
//! batches of realistic records, conversions to the SDK's types so native and
//! wasm runs of the same mapping can be compared, callback receivers
//! ([`receiver`]), configurations written as users write them and the
//! simulator's control API ([`service`]), and a small WebDriver client
//! ([`webdriver`]).

pub mod hook_proxy;
pub mod postgres;
pub mod receiver;
pub mod service;
pub mod webdriver;

use autotask_sim::sample;
use chrono::{DateTime, TimeDelta, Utc};
use engine::dates::{AUTOTASK_DATE_PATTERN, DateFormat, format_instant};
use engine::records::{DateField, RecordReader};
use plugin_runtime::{Context, DatesConfiguration, PollConfiguration, RawRecord};

/// The misbehaving test plugin, compiled from `tests/plugins/misbehaving` by `build.rs`.
pub const MISBEHAVING_WASM: &[u8] = include_bytes!(env!("MISBEHAVING_PLUGIN_WASM"));

/// A plugin built against interface 0.1.0 (`tests/plugins/interface-0-1-0`).
pub const INTERFACE_0_1_0_WASM: &[u8] = include_bytes!(env!("INTERFACE_0_1_0_PLUGIN_WASM"));

/// The built-in incidents plugin, as the binary ships it.
pub use builtin_plugin::INCIDENTS_WASM;

/// Polls `check` every 50 ms until it gives a value, or panics after `limit`.
pub async fn wait_until<T, F: Future<Output = Option<T>>>(
    limit: std::time::Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(std::time::Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The previous poll of every sample batch: one minute before the sample epoch.
pub fn previous_poll() -> DateTime<Utc> {
    sample::sample_epoch() - TimeDelta::minutes(1)
}

/// The repository's root directory.
pub fn workspace_root() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).expect("tests/support is two levels down")
}

/// The mean time of benchmark `group/name` measured in this run, in
/// nanoseconds, from criterion's own estimates (benches print ratios from it).
pub fn criterion_mean_ns(group: &str, name: &str) -> Option<f64> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let path = target.join("criterion").join(group).join(name).join("new/estimates.json");
    let estimates: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    estimates["mean"]["point_estimate"].as_f64()
}

/// Builds the example plugin of `lang` (`javascript`, `python`, `c`: a directory
/// under `examples/plugins/`) with its own `build` script, into `out`. The
/// script installs its pinned tools under `target/plugin-tools/<lang>` the
/// first time; a tool it cannot install fails the build, and this panics with
/// the script's output.
pub fn build_example_plugin(lang: &str, out: &std::path::Path) {
    let workspace = workspace_root();
    let script = workspace.join("examples/plugins").join(lang).join("build");
    let output = std::process::Command::new(&script)
        .arg(out)
        .env("PLUGIN_TOOLS_DIR", workspace.join("target/plugin-tools").join(lang))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        output.status.success(),
        "building the {lang} example plugin failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A context for `resource` with Autotask's default Ticket configuration.
pub fn context(resource: &str) -> Context {
    Context {
        instance_id: "17".into(),
        instance_name: "Acme MSP".into(),
        element_key: "autotaskhelpdesk".into(),
        resource: resource.into(),
        poll: PollConfiguration {
            id_field: "id".into(),
            dates: DatesConfiguration {
                updated_date_field: Some("lastActivityDate".into()),
                updated_date_format: Some(AUTOTASK_DATE_PATTERN.into()),
                updated_date_timezone: None,
                created_date_field: Some("createDate".into()),
                created_date_format: Some(AUTOTASK_DATE_PATTERN.into()),
                created_date_timezone: None,
            },
            created_check_tolerance_seconds: 1,
        },
        previous_poll: format_instant(previous_poll()),
        this_poll: format_instant(sample::sample_epoch()),
    }
}

/// Reads records as the host does for a resource configured like [`context`].
pub fn reader() -> RecordReader {
    let date = |field: &str| {
        Some(DateField {
            field: field.into(),
            format: DateFormat::new(AUTOTASK_DATE_PATTERN, None).expect("a valid pattern"),
        })
    };
    RecordReader {
        id_field: "id".into(),
        created: date("createDate"),
        updated: date("lastActivityDate"),
        created_check_tolerance: TimeDelta::seconds(1),
    }
}

/// `count` realistic Tickets, read and ready for a plugin.
pub fn ticket_batch(seed: u64, count: usize) -> Vec<RawRecord> {
    sample::tickets(seed, 1, count, sample::sample_epoch())
        .iter()
        .map(|ticket| reader().read(&ticket.to_string(), previous_poll()).expect("sample tickets are readable"))
        .collect()
}

/// One record read from `json`.
pub fn record(json: &str) -> RawRecord {
    reader().read(json, previous_poll()).expect("a readable record")
}

/// The same context in the SDK's types, for calling a mapping natively.
pub fn sdk_context(ctx: &Context) -> autotask_events_sdk::Context {
    let dates = &ctx.poll.dates;
    autotask_events_sdk::Context {
        instance_id: ctx.instance_id.clone(),
        instance_name: ctx.instance_name.clone(),
        element_key: ctx.element_key.clone(),
        resource: ctx.resource.clone(),
        poll: autotask_events_sdk::PollConfiguration {
            id_field: ctx.poll.id_field.clone(),
            dates: autotask_events_sdk::DatesConfiguration {
                updated_date_field: dates.updated_date_field.clone(),
                updated_date_format: dates.updated_date_format.clone(),
                updated_date_timezone: dates.updated_date_timezone.clone(),
                created_date_field: dates.created_date_field.clone(),
                created_date_format: dates.created_date_format.clone(),
                created_date_timezone: dates.created_date_timezone.clone(),
            },
            created_check_tolerance_seconds: ctx.poll.created_check_tolerance_seconds,
        },
        previous_poll: ctx.previous_poll.clone(),
        this_poll: ctx.this_poll.clone(),
    }
}

/// The same records in the SDK's types.
pub fn sdk_records(records: &[RawRecord]) -> Vec<autotask_events_sdk::RawRecord> {
    records
        .iter()
        .map(|r| autotask_events_sdk::RawRecord {
            json: r.json.clone(),
            object_id: r.object_id.clone(),
            created: r.created.clone(),
            updated: r.updated.clone(),
            default_event_type: match &r.default_event_type {
                plugin_runtime::EventType::Created => autotask_events_sdk::EventType::Created,
                plugin_runtime::EventType::Updated => autotask_events_sdk::EventType::Updated,
                plugin_runtime::EventType::Deleted => autotask_events_sdk::EventType::Deleted,
                plugin_runtime::EventType::Custom(name) => autotask_events_sdk::EventType::Custom(name.clone()),
            },
        })
        .collect()
}

/// An event reduced to comparable text, whichever side produced it.
pub fn event_summary(event_type: &str, object_id: &str, object_type: &str, date: &str, payload: &str) -> String {
    let payload: serde_json::Value = serde_json::from_str(payload).expect("payload is JSON");
    format!("{event_type}|{object_id}|{object_type}|{date}|{payload}")
}

/// The equivalence set: 1,000 Tickets as the simulator generates them at
/// `epoch`, with every tenth changed into an edge case a mapping must carry
/// through unchanged (nulls, missing fields, unicode and control characters,
/// user-defined fields with unusual names, odd numbers) or refuse alike (a
/// `userDefinedFields` that is not a list: ten records that must fail).
/// A mapping in another language must give exactly the Rust plugin's events.
pub fn equivalence_tickets(epoch: DateTime<Utc>) -> Vec<serde_json::Value> {
    use serde_json::json;
    let mut tickets = sample::tickets(7, 1, 1000, epoch);
    for (index, ticket) in tickets.iter_mut().enumerate().filter(|(i, _)| i % 10 == 0) {
        let object = ticket.as_object_mut().expect("a Ticket is an object");
        match (index / 10) % 10 {
            0 => {
                object.insert("title".into(), json!(null));
                object.insert("description".into(), json!(null));
            }
            1 => {
                object.remove("status");
                object.remove("userDefinedFields");
                object.remove("queueID");
            }
            2 => {
                object.insert("title".into(), json!("Zürich café — 日本語 🚀 \"quoted\" back\\slash\ttab\nline"));
            }
            3 => {
                object.insert(
                    "userDefinedFields".into(),
                    json!([{"name": "Région", "value": "EU"}, {"name": "Empty", "value": null}, {"name": "NoValue"},
                           {"name": "Nested", "value": {"a": [1, 2, {"b": null}]}}, {"name": "42", "value": 42}]),
                );
            }
            4 => {
                object.insert("userDefinedFields".into(), json!(null));
            }
            5 => {
                object.insert("userDefinedFields".into(), json!([]));
            }
            6 => {
                object.insert("we\"ird\nname".into(), json!(1));
                object.insert("emptyObject".into(), json!({}));
                object.insert("list".into(), json!([true, false, null, -0.5, 1.25e-3]));
            }
            7 => {
                object.insert("bigNumber".into(), json!(9_007_199_254_740_991_i64));
                object.insert("negative".into(), json!(-29_683_354));
            }
            8 => {
                // Refused by the plugin: the host reads the record, the mapping cannot.
                object.insert("userDefinedFields".into(), json!("Region=EU"));
            }
            _ => {
                object.insert("description".into(), json!(""));
                object.insert("ticketNumber".into(), json!("T\u{0}\u{1f}.\u{7f}"));
            }
        }
    }
    tickets
}
