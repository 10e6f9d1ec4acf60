//! Plugins in every language with a template: each is scaffolded with
//! `autotask-events plugin new`, built from source with its own toolchain, and
//! run through `autotask-events plugin check` on the same 1,000 generated
//! Tickets (nulls, missing fields, unicode, user-defined fields, records that
//! must fail). Their events must be identical to the built-in Rust plugin's,
//! the same records must fail, and their log lines must reach the host's log
//! tagged with the plugin file.
//!
//! The example scripts (`examples/scripts/incidents.js`, `.py`) are checked
//! the same way on every run: their runners are in the binary.
//!
//! The toolchains (Node.js, Python, clang with wasi-libc) are not plain Rust,
//! so the tests that build components are opted in: `cargo test -p autotask-events --test cli
//! -- --ignored languages::`. `tests/run` installs the toolchains and runs them; a build that
//! cannot get its tools fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

use builtin_plugin::INCIDENTS_WASM;
use serde_json::Value;

const NOW: &str = "2024-06-01T12:00:00Z";
const PREVIOUS_POLL: &str = "2024-06-01T11:00:00Z";

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_autotask-events"))
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).expect("host/cli is two levels down").to_path_buf()
}

/// The 1,000-Ticket equivalence set (see [`support::equivalence_tickets`]).
fn tickets() -> Vec<Value> {
    support::equivalence_tickets(chrono::DateTime::parse_from_rfc3339(NOW).unwrap().with_timezone(&chrono::Utc))
}

/// `plugin check`'s answer for `plugin` on `records`, and its log.
fn check(plugin: &Path, records: &Path) -> (Value, String) {
    let output = binary()
        .args(["plugin", "check"])
        .arg(plugin)
        // The tests' shared compile cache: the script runners compile once per build,
        // and nothing is written beside the plugin (the example scripts are in the repository).
        .arg("--cache-dir")
        .arg(workspace().join("target/test-compile-cache"))
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

    same_events_and_failures(lang, &answer, &reference);
    let tagged = log
        .lines()
        .filter(|line| line.contains(&format!("{lang}.wasm")) && line.contains("mapped 500 record(s)"))
        .count();
    assert_eq!(tagged, 2, "{lang}: one log line per batch of 500, tagged with the plugin file:\n{log}");
}

/// `answer` has exactly `reference`'s events, and the same records failed, for the same reason.
fn same_events_and_failures(what: &str, answer: &Value, reference: &Value) {
    let events = answer["events"].as_array().expect("events");
    let expected = reference["events"].as_array().expect("events");
    assert_eq!(events.len(), expected.len(), "{what}: event count");
    for (got, want) in events.iter().zip(expected) {
        assert_eq!(got, want, "{what}: the event of object {} differs", want["objectId"]);
    }
    let failed = |answer: &Value| -> Vec<u64> {
        answer["errors"].as_array().unwrap().iter().map(|e| e["index"].as_u64().unwrap()).collect()
    };
    assert_eq!(failed(answer), failed(reference), "{what}: the same records must fail");
    assert_eq!(failed(answer).len(), 10, "the ten malformed user-defined field lists fail");
    for error in answer["errors"].as_array().unwrap() {
        let message = error["message"].as_str().unwrap();
        assert!(message.contains("userDefinedFields is not a list of {name, value}"), "{what}: {message}");
    }
}

/// The example scripts, run by the runners shipped in the binary (no Node.js
/// or Python needed), against the built-in plugin on the equivalence set.
#[test]
fn the_example_scripts_map_like_the_rust_plugin() {
    let work = tempfile::tempdir().unwrap();
    let records = work.path().join("tickets.json");
    std::fs::write(&records, serde_json::to_string(&tickets()).unwrap()).unwrap();
    let reference_wasm = work.path().join("rust-reference.wasm");
    std::fs::write(&reference_wasm, INCIDENTS_WASM).unwrap();
    let (reference, _) = check(&reference_wasm, &records);
    for script in ["incidents.js", "incidents.py"] {
        let (answer, _) = check(&workspace().join("examples/scripts").join(script), &records);
        same_events_and_failures(script, &answer, &reference);
    }
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
