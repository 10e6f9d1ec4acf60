//! Script plugins: `.js` and `.py` files mapped by the runners shipped in the
//! binary. First what a bad script does (each refused or isolated, with an
//! error naming the file, the line and the record), then the accounts story
//! end to end in both languages: a script dropped into the plugin directory of
//! a running service maps Companies with an event type of its own, and a
//! record the script cannot map fails alone with the script's own message.

use std::path::Path;
use std::time::Duration;

use crate::start;
use autotask_sim::{SimConfig, Simulator};
use engine::delivery::signature::verify;
use engine::service::plugins::Status;
use plugin_runtime::{Limits, PluginError, PluginRuntime, RawRecord, ScriptLanguage};
use serde_json::{Value, json};
use support::receiver::Receiver;
use support::service::{FAST_DELIVERY, SimControl, TEST_COMPILE_CACHE, instance_toml, resource, write_config};
use support::{context, record, wait_until};

const WAIT: Duration = Duration::from_secs(30);
const KEY: &str = "script-signature-key";

fn runtime(limits: Limits) -> PluginRuntime {
    PluginRuntime::with_artifact_cache(limits, TEST_COMPILE_CACHE.into()).expect("runtime")
}

fn load(runtime: &PluginRuntime, file_name: &str, source: &str) -> Result<plugin_runtime::Plugin, PluginError> {
    let language = ScriptLanguage::of_path(Path::new(file_name)).expect("a script file name");
    runtime.load_script(file_name, file_name, language, source.as_bytes(), &[])
}

/// Three Companies; the second has no phone, as real tenants' often do not.
fn companies() -> Vec<RawRecord> {
    [
        json!({"id": 1, "companyName": "Acme", "phone": " +1 555 0100 ", "isActive": true, "lastActivityDate": "2024-06-01T10:00:00Z"}),
        json!({"id": 2, "companyName": "Nophone", "phone": null, "isActive": true, "lastActivityDate": "2024-06-01T10:00:00Z"}),
        json!({"id": 3, "companyName": "Gone", "phone": "1", "isActive": false, "lastActivityDate": "2024-06-01T10:00:00Z"}),
    ]
    .iter()
    .map(|company| record(&company.to_string()))
    .collect()
}

const ACCOUNTS_JS: &str = r#"// Companies as accounts; a deactivated company is an event of its own.
exports.describe = () => ({ resource: 'accounts', entity: 'Companies', idField: 'id',
  createdDateField: 'createDate', updatedDateField: 'lastActivityDate' });

exports.mapRecord = (company, meta) => {
  const phone = company.phone.trim();
  return {
    eventType: company.isActive ? meta.defaultEventType : 'DEACTIVATED',
    payload: { id: company.id, name: company.companyName, phone },
  };
};
"#;

const ACCOUNTS_PY: &str = r#"# Companies as accounts; a deactivated company is an event of its own.
def describe():
    return {"resource": "accounts", "entity": "Companies", "id_field": "id",
            "created_date_field": "createDate", "updated_date_field": "lastActivityDate"}


def map_record(company, meta, ctx):
    phone = company["phone"].strip()
    event_type = meta.default_event_type if company["isActive"] else "DEACTIVATED"
    return {"event_type": event_type,
            "payload": {"id": company["id"], "name": company["companyName"], "phone": phone}}
"#;

/// What each language's runtime says about `None.strip()` / `null.trim()`, and where.
fn null_phone_error(file: &str) -> (&'static str, &'static str) {
    if file.ends_with(".js") {
        ("company.phone is null", "accounts.js:6")
    } else {
        ("'NoneType' object has no attribute 'strip'", "\"accounts.py\", line 8")
    }
}

#[test]
fn a_script_maps_with_custom_event_types_and_a_throwing_record_fails_alone() {
    let runtime = runtime(Limits::default());
    for (file, source) in [("accounts.js", ACCOUNTS_JS), ("accounts.py", ACCOUNTS_PY)] {
        let plugin = load(&runtime, file, source).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(plugin.is_script());
        assert_eq!(plugin.interface_version(), "0.2.0");
        let description = plugin.description().expect("described");
        assert_eq!((description.resource.as_str(), description.entity.as_str()), ("accounts", "Companies"));

        let results = plugin.transform_blocking(&context("accounts"), &companies()).unwrap();
        assert_eq!(results.len(), 3);
        let first = results[0].as_ref().unwrap();
        assert_eq!(first[0].event_type.cloud_elements_name(), "UPDATED", "{file}");
        let payload: Value = serde_json::from_str(&first[0].payload).unwrap();
        assert_eq!(payload, json!({"id": 1, "name": "Acme", "phone": "+1 555 0100"}), "{file}");
        let (message, place) = null_phone_error(file);
        let reason = results[1].as_ref().unwrap_err();
        assert!(reason.contains(message) && reason.contains(place), "{file}: {reason}");
        let third = results[2].as_ref().unwrap();
        assert_eq!(third[0].event_type.cloud_elements_name(), "DEACTIVATED", "{file}");
        assert_eq!(third[0].object_id, "3");
    }
}

#[test]
fn a_script_with_a_syntax_error_is_refused_naming_its_file_and_line() {
    let runtime = runtime(Limits::default());
    let cases = [
        ("broken.js", "exports.mapRecord = (r) => {\n  return { payload: r ;\n};\n", "broken.js:2"),
        ("broken.py", "def map_record(record, meta, ctx):\n    return {'payload': record\n", "\"broken.py\", line"),
        ("empty.js", "// nothing here\n", "mapRecord"),
        ("empty.py", "# nothing here\n", "map_record"),
        ("throws.js", "const x = null;\nx.y = 1;\nexports.mapRecord = () => null;\n", "throws.js:2"),
    ];
    for (file, source, expected) in cases {
        let error = load(&runtime, file, source).err().unwrap_or_else(|| panic!("{file} must be refused"));
        assert!(matches!(error, PluginError::Script { .. }), "{file}: {error:?}");
        let message = error.to_string();
        assert!(message.contains(file) && message.contains(expected), "{file}: {message}");
    }
}

#[test]
fn a_malformed_event_fails_only_its_record_and_says_what_is_wrong() {
    let runtime = runtime(Limits::default());
    let cases = [
        (
            "malformed.js",
            "exports.mapRecord = (r) => r.id === 2 ? { eventType: 'deactivated', payload: {} } : { payload: { id: r.id } };\n",
        ),
        (
            "malformed.py",
            "def map_record(r, meta, ctx):\n    return {'event_type': 'deactivated', 'payload': {}} if r['id'] == 2 else {'payload': {'id': r['id']}}\n",
        ),
    ];
    for (file, source) in cases {
        let plugin = load(&runtime, file, source).unwrap_or_else(|e| panic!("{file}: {e}"));
        let results = plugin.transform_blocking(&context("accounts"), &companies()).unwrap();
        assert!(results[0].is_ok() && results[2].is_ok(), "{file}: {results:?}");
        let reason = results[1].as_ref().unwrap_err();
        assert!(reason.contains("deactivated"), "{file}: {reason}");
    }
}

#[test]
fn a_looping_or_allocating_script_is_stopped_and_the_next_batch_runs() {
    let limits = Limits { batch_time: Duration::from_secs(2), memory_bytes: 96 << 20, ..Limits::default() };
    let runtime = runtime(limits);
    let cases = [
        ("loops.js", "exports.mapRecord = (r) => { while (r.id === 2) {} return { payload: {} }; };\n", "time limit"),
        (
            "loops.py",
            "def map_record(r, meta, ctx):\n    while r['id'] == 2:\n        pass\n    return {'payload': {}}\n",
            "time limit",
        ),
        (
            "grows.js",
            "exports.mapRecord = (r) => { const all = []; while (r.id === 2) all.push(new Uint8Array(1 << 20).fill(r.id)); return { payload: {} }; };\n",
            "memory limit",
        ),
        (
            "grows.py",
            "def map_record(r, meta, ctx):\n    everything = []\n    while r['id'] == 2:\n        everything.append(bytearray(1 << 20))\n    return {'payload': {}}\n",
            "memory limit",
        ),
    ];
    for (file, source, limit) in cases {
        let plugin = load(&runtime, file, source).unwrap_or_else(|e| panic!("{file}: {e}"));
        match plugin.transform_blocking(&context("accounts"), &companies()) {
            // The host stopped the batch (the poll then retries record by record).
            Err(error) => {
                let message = error.to_string();
                assert!(message.contains(file) && message.contains(limit), "{file}: {message}");
            }
            // The engine itself ran out of memory and threw: the record fails alone.
            Ok(results) => {
                assert_eq!(limit, "memory limit", "{file}: a loop cannot end by itself: {results:?}");
                assert!(results[0].is_ok() && results[2].is_ok(), "{file}: {results:?}");
                let reason = results[1].as_ref().unwrap_err();
                assert!(reason.to_lowercase().contains("memory"), "{file}: {reason}");
            }
        }
        // The next batch is a fresh instance: the records that map still do.
        let others = [companies().remove(0), companies().remove(2)];
        let results = plugin.transform_blocking(&context("accounts"), &others).unwrap();
        assert!(results.iter().all(Result::is_ok), "{file}: {results:?}");
    }
}

async fn simulator() -> Simulator {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Simulator::start(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tickets: 5,
        companies: 10,
        ..SimConfig::default()
    })
    .await
    .expect("the simulator starts")
}

/// An instance polling `accounts` (Companies) every 200 ms, signed.
fn accounts_instance(sim: &Simulator, callback: &str) -> String {
    let mut accounts = resource("/hubs/crm/accounts");
    accounts["datesConfiguration"]["createdDateField"] = json!("createDate");
    instance_toml(
        "acme",
        sim,
        callback,
        json!({ "accounts": accounts }),
        json!({ "event.notification.signature.key": KEY }),
        "refresh_interval_seconds = 0.2",
    )
}

/// The accounts story as a user lives it: the service runs, the script is
/// copied into the plugin directory, changes are made in Autotask, signed
/// events arrive with the script's own event type, and a company with no
/// phone fails alone, kept with the script's message.
async fn accounts_story(file: &str, source: &str) {
    let sim = simulator().await;
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    let config = write_config(dir.path(), FAST_DELIVERY, &[accounts_instance(&sim, &receiver.url())]);
    let service = start(&config).await;

    // Written beside, then renamed in: the way an editor or `cp` + `mv` lands a file.
    let partial = dir.path().join("plugins").join(format!(".{file}.partial"));
    std::fs::write(&partial, source).unwrap();
    std::fs::rename(&partial, dir.path().join("plugins").join(file)).unwrap();

    let control = SimControl::new(&sim);
    // Wait for the script to serve before changing anything (the first poll starts at that moment).
    let store = service.store().clone();
    tokio::time::sleep(Duration::from_millis(300)).await;
    control.patch("Companies", 3, json!({"isActive": false, "phone": "+1 555 0003"})).await;
    control.patch("Companies", 4, json!({"phone": null})).await;
    control
        .patch("Companies", 5, json!({"companyName": "Renamed Ltd", "phone": "+1 555 0005", "isActive": true}))
        .await;

    let events = receiver
        .wait_for(WAIT, "the deactivation and the rename", |events| {
            let ids: Vec<&str> = events.iter().filter_map(|e| e["objectId"].as_str()).collect();
            ids.contains(&"3") && ids.contains(&"5")
        })
        .await;
    let deactivated = events.iter().find(|e| e["objectId"] == "3").unwrap();
    assert_eq!(deactivated["eventType"], "DEACTIVATED", "{file}: {deactivated}");
    assert_eq!(deactivated["objectType"], "accounts");
    let renamed = events.iter().find(|e| e["objectId"] == "5").unwrap();
    assert_eq!(renamed["eventType"], "UPDATED");
    assert_eq!(renamed["payload"]["name"], "Renamed Ltd", "{file}: {renamed}");
    assert!(events.iter().all(|e| e["objectId"] != "4"), "{file}: the company without a phone maps to no event");
    for delivery in receiver.deliveries() {
        let signature = delivery.signature.as_deref().expect("signed");
        assert!(verify(KEY.as_bytes(), &delivery.body, signature), "{file}: the signature checks out");
    }

    let failed = wait_until(WAIT, "the company without a phone kept as failed", || {
        let failed = store.failures("acme", Some("accounts"), false).unwrap();
        std::future::ready((!failed.is_empty()).then_some(failed))
    })
    .await;
    assert_eq!(failed.len(), 1, "{file}: only that company fails");
    assert_eq!(failed[0].record.object_id.as_deref(), Some("4"));
    let (message, place) = null_phone_error(file);
    let reason = &failed[0].record.error;
    assert!(reason.contains(message) && reason.contains(place), "{file}: {reason}");
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_accounts_story_in_javascript() {
    accounts_story("accounts.js", ACCOUNTS_JS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_accounts_story_in_python() {
    accounts_story("accounts.py", ACCOUNTS_PY).await;
}

/// A broken edit of a serving script is refused with the script's own error,
/// and the version serving keeps mapping; two plugins for one resource are
/// refused until one goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_script_edit_keeps_the_serving_version_and_two_plugins_for_a_resource_are_refused() {
    let sim = simulator().await;
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::write(plugins.join("accounts.js"), ACCOUNTS_JS).unwrap();
    let service = start(&write_config(dir.path(), FAST_DELIVERY, &[accounts_instance(&sim, &receiver.url())])).await;
    let status =
        || service.plugins().into_iter().find(|p| p.name.starts_with("accounts.")).expect("the accounts plugin");
    let serving = wait_until(WAIT, "the script to serve", || {
        let plugin = status();
        std::future::ready((plugin.status == Status::Active).then_some(plugin))
    })
    .await;

    let broken = plugins.join(".accounts.js.partial");
    std::fs::write(&broken, "exports.mapRecord = (c) => {\n  return { payload: c ;\n};\n").unwrap();
    std::fs::rename(&broken, plugins.join("accounts.js")).unwrap();
    let failed = wait_until(WAIT, "the broken edit refused", || {
        let plugin = status();
        std::future::ready((plugin.status == Status::Failed).then_some(plugin))
    })
    .await;
    let error = failed.error.unwrap();
    assert!(error.contains("accounts.js:2") && error.contains("SyntaxError"), "{error}");
    assert_eq!(failed.version, serving.version, "the serving version stays");

    let control = SimControl::new(&sim);
    control.patch("Companies", 6, json!({"companyName": "Still Served", "phone": "1", "isActive": true})).await;
    let events = receiver
        .wait_for(WAIT, "the old version still mapping", |events| events.iter().any(|e| e["objectId"] == "6"))
        .await;
    assert!(events.iter().any(|e| e["payload"]["name"] == "Still Served"));

    // A Python script beside the JavaScript one: which should map is not for the service to guess.
    std::fs::write(plugins.join("accounts.js"), ACCOUNTS_JS).unwrap();
    std::fs::write(plugins.join("accounts.py"), ACCOUNTS_PY).unwrap();
    let refused = wait_until(WAIT, "two plugins for one resource refused", || {
        let plugin = status();
        let both = plugin.error.as_deref().is_some_and(|e| e.contains("accounts.js and accounts.py"));
        std::future::ready(both.then_some(plugin))
    })
    .await;
    assert!(refused.error.unwrap().contains("keep one of them"));
    std::fs::remove_file(plugins.join("accounts.js")).unwrap();
    let python = wait_until(WAIT, "the Python script alone serving", || {
        let plugin = status();
        let active = plugin.status == Status::Active && plugin.name == "accounts.py";
        std::future::ready(active.then_some(plugin))
    })
    .await;
    assert_ne!(python.version, serving.version);
    service.stop().await;
}
