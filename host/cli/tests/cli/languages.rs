//! Plugins in every language with a template: each is scaffolded with
//! `autotask-events plugin new`, built from source with its own toolchain, and
//! run through `autotask-events plugin check` on the same 1,000 generated
//! Tickets (nulls, missing fields, unicode, user-defined fields, records that
//! must fail). Their events must be identical to the built-in Rust plugin's,
//! the same records must fail, and their log lines must reach the host's log
//! tagged with the plugin file.
//!
//! The toolchains (Node.js, Python, clang with wasi-libc) are not plain Rust,
//! so these tests are opted in: `cargo test -p autotask-events --test cli
//! -- --ignored languages::`. `tests/run` installs the toolchains and runs them; a build that
//! cannot get its tools fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

use autotask_sim::sample;
use builtin_plugin::INCIDENTS_WASM;
use serde_json::{Value, json};

const NOW: &str = "2024-06-01T12:00:00Z";
const PREVIOUS_POLL: &str = "2024-06-01T11:00:00Z";

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_autotask-events"))
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).expect("host/cli is two levels down").to_path_buf()
}

/// 1,000 Tickets: the simulator's realistic ones, with every tenth changed into
/// an edge case the mapping must carry through unchanged (or refuse alike).
fn tickets() -> Vec<Value> {
    let epoch = chrono::DateTime::parse_from_rfc3339(NOW).unwrap().with_timezone(&chrono::Utc);
    let mut tickets = sample::tickets(7, 1, 1000, epoch);
    for (index, ticket) in tickets.iter_mut().enumerate().filter(|(i, _)| i % 10 == 0) {
        let object = ticket.as_object_mut().unwrap();
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

/// `plugin check`'s answer for `plugin` on `records`, and its log.
fn check(plugin: &Path, records: &Path) -> (Value, String) {
    let output = binary()
        // Its compile cache (`data/plugin-cache`) goes next to the plugin.
        .current_dir(plugin.parent().expect("the plugin is in a directory"))
        .args(["plugin", "check"])
        .arg(plugin)
        .arg("--records")
        .arg(records)
        .args(["--now", NOW, "--previous-poll", PREVIOUS_POLL, "--batch-time-ms", "10000", "--memory-mib", "256"])
        .env("RUST_LOG", "debug")
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success() || output.status.code() == Some(1), "plugin check failed:\n{stderr}");
    (serde_json::from_slice(&output.stdout).expect("plugin check prints JSON"), stderr)
}

/// Scaffolds `lang`'s template, builds it, and checks it against the Rust plugin.
fn maps_like_the_rust_plugin(lang: &str) {
    let work = tempfile::tempdir().unwrap();
    let records = work.path().join("tickets.json");
    std::fs::write(&records, serde_json::to_string(&tickets()).unwrap()).unwrap();
    let reference_wasm = work.path().join("rust-reference.wasm");
    std::fs::write(&reference_wasm, INCIDENTS_WASM).unwrap();
    let (reference, _) = check(&reference_wasm, &records);

    let project = work.path().join(format!("incidents-{lang}"));
    // The component templates: for js and python the default is a script plugin.
    let component: &[&str] = if matches!(lang, "js" | "python") { &["--component"] } else { &[] };
    let scaffolded = binary()
        .args(["plugin", "new", &format!("incidents-{lang}"), "--lang", lang])
        .args(component)
        .arg("--dir")
        .arg(&project)
        .output();
    let scaffolded = scaffolded.expect("the binary runs");
    assert!(scaffolded.status.success(), "plugin new: {}", String::from_utf8_lossy(&scaffolded.stderr));
    let plugin = work.path().join(format!("{lang}.wasm"));
    let tools = workspace().join("target/plugin-tools").join(lang);
    let built = Command::new(project.join("build")).arg(&plugin).env("PLUGIN_TOOLS_DIR", &tools).output();
    let built = built.expect("the build script runs");
    assert!(
        built.status.success(),
        "building the {lang} plugin failed:\n{}\n{}",
        String::from_utf8_lossy(&built.stdout),
        String::from_utf8_lossy(&built.stderr)
    );
    let (answer, log) = check(&plugin, &records);

    let events = answer["events"].as_array().expect("events");
    let expected = reference["events"].as_array().expect("events");
    assert_eq!(events.len(), expected.len(), "{lang}: event count");
    for (got, want) in events.iter().zip(expected) {
        assert_eq!(got, want, "{lang}: the event of object {} differs", want["objectId"]);
    }
    let failed = |answer: &Value| -> Vec<u64> {
        answer["errors"].as_array().unwrap().iter().map(|e| e["index"].as_u64().unwrap()).collect()
    };
    assert_eq!(failed(&answer), failed(&reference), "{lang}: the same records must fail");
    assert_eq!(failed(&answer).len(), 10, "the ten malformed user-defined field lists fail");
    for error in answer["errors"].as_array().unwrap() {
        let message = error["message"].as_str().unwrap();
        assert!(message.contains("userDefinedFields is not a list of {name, value}"), "{lang}: {message}");
    }
    let tagged = log
        .lines()
        .filter(|line| line.contains(&format!("{lang}.wasm")) && line.contains("mapped 500 record(s)"))
        .count();
    assert_eq!(tagged, 2, "{lang}: one log line per batch of 500, tagged with the plugin file:\n{log}");
}

#[test]
#[ignore = "needs Node.js and npm: tests/run installs what it needs"]
fn the_javascript_plugin_maps_like_the_rust_plugin() {
    maps_like_the_rust_plugin("js");
}

#[test]
#[ignore = "needs Python 3 and pip: tests/run installs what it needs"]
fn the_python_plugin_maps_like_the_rust_plugin() {
    maps_like_the_rust_plugin("python");
}

#[test]
#[ignore = "needs clang, lld and wasi-libc: tests/run installs them"]
fn the_c_plugin_maps_like_the_rust_plugin() {
    maps_like_the_rust_plugin("c");
}

#[test]
#[ignore = "builds a Rust project outside the workspace (a minute of compiling)"]
fn the_rust_template_builds_and_maps_like_the_built_in_plugin() {
    maps_like_the_rust_plugin("rust");
}
