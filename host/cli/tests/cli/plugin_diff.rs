//! `autotask-events plugin diff`: two script plugins run over the same records,
//! as a user runs the command, and what it prints and exits with.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use support::service::TEST_COMPILE_CACHE;

/// A Tickets mapping whose payload's `priority` is `priority` (JavaScript), after `prelude`.
fn script(prelude: &str, priority: &str) -> String {
    format!(
        "exports.describe = () => ({{ resource: 'incidents', entity: 'Tickets', idField: 'id',\n  \
           createdDateField: 'createDate', updatedDateField: 'lastActivityDate' }});\n\
         exports.mapRecord = (ticket, meta) => {{\n  {prelude}\n  \
           return {{ eventType: meta.defaultEventType, payload: {{ id: ticket.id, title: ticket.title, priority: {priority} }} }};\n\
         }};\n"
    )
}

const RECORDS: &str = r#"[
  {"id": 1, "title": "Printer", "priority": 2, "createDate": "2024-06-01T08:00:00Z", "lastActivityDate": "2024-06-01T09:30:00Z"},
  {"id": 2, "title": "VPN", "priority": 1, "createDate": "2024-06-01T09:20:00Z", "lastActivityDate": "2024-06-01T09:20:00Z"},
  {"id": 3, "title": "Mail", "priority": 3, "createDate": "2024-05-01T08:00:00Z", "lastActivityDate": "2024-06-01T09:40:00Z"}
]"#;

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("records.json"), RECORDS).unwrap();
        Files { dir }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `plugin diff OLD NEW --records records.json` with `extra` arguments.
    fn diff(&self, old: &Path, new: &Path, extra: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_autotask-events"))
            .args(["plugin", "diff"])
            .args([old, new])
            .arg("--records")
            .arg(self.path("records.json"))
            .args(["--now", "2024-06-01T10:00:00Z", "--cache-dir", TEST_COMPILE_CACHE])
            .args(extra)
            .current_dir(self.dir.path())
            .output()
            .expect("the binary runs")
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}); stderr: {}", stderr(output)))
}

#[test]
fn a_version_that_changes_one_field_shows_exactly_that_change_and_exits_1() {
    let files = Files::new();
    let old = files.write("v1.js", &script("", "ticket.priority"));
    let new = files.write("v2.js", &script("", "'P' + ticket.priority"));

    let output = files.diff(&old, &new, &[]);
    assert_eq!(output.status.code(), Some(1), "{}{}", stdout(&output), stderr(&output));
    let text = stdout(&output);
    let changed: Vec<&str> =
        text.lines().map(str::trim_start).filter(|line| line.starts_with("-  ") || line.starts_with("+  ")).collect();
    assert_eq!(
        changed,
        [
            "-    \"priority\": 2",
            "+    \"priority\": \"P2\"",
            "-    \"priority\": 1",
            "+    \"priority\": \"P1\"",
            "-    \"priority\": 3",
            "+    \"priority\": \"P3\"",
        ],
        "{text}"
    );
    assert!(text.contains("record 1 (id 2):\n  ~ changed CREATED incidents 2"), "{text}");
    assert!(text.contains("3 records: 0 identical, 3 changed, 0 failed in old, 0 failed in new"), "{text}");

    let output = files.diff(&old, &new, &["--json"]);
    assert_eq!(output.status.code(), Some(1));
    let answer = json_of(&output);
    assert_eq!((answer["records"].clone(), answer["identical"].clone()), (json!(3), json!(0)), "{answer}");
    assert_eq!(answer["failed"], json!([]));
    let first = &answer["changed"][0];
    assert_eq!((first["index"].clone(), first["objectId"].clone()), (json!(0), json!("1")));
    assert_eq!((first["removed"].clone(), first["added"].clone()), (json!([]), json!([])), "{first}");
    let change = &first["changed"][0];
    assert_eq!(change["before"]["payload"], json!({"id": 1, "title": "Printer", "priority": 2}));
    assert_eq!(change["after"]["payload"], json!({"id": 1, "title": "Printer", "priority": "P2"}));
    let lines: Vec<&str> = change["diff"].as_str().unwrap().lines().filter(|line| !line.starts_with(' ')).collect();
    assert_eq!(lines, ["-    \"priority\": 2", "+    \"priority\": \"P2\""], "{change}");
    assert_eq!(answer["results"][2]["old"]["events"][0]["payload"]["priority"], 3);
    assert_eq!(answer["results"][2]["new"]["events"][0]["payload"]["priority"], "P3");
}

#[test]
fn the_same_mapping_in_another_file_is_identical_and_exits_0() {
    let files = Files::new();
    let old = files.write("old.js", &script("", "ticket.priority"));
    let new = files.write("new.js", &script("// reformatted, same mapping", "ticket.priority"));
    let output = files.diff(&old, &new, &[]);
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    assert!(stdout(&output).contains("3 records: 3 identical, 0 changed, 0 failed in old, 0 failed in new"));
    assert!(!stdout(&output).contains("record 0"), "{}", stdout(&output));
}

#[test]
fn records_a_new_version_fails_on_are_listed_with_its_error() {
    let files = Files::new();
    let old = files.write("old.js", &script("", "ticket.priority"));
    let throws = "if (ticket.id === 2) throw new Error('no priority for ticket ' + ticket.id);";
    let new = files.write("new.js", &script(throws, "ticket.priority"));

    let output = files.diff(&old, &new, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("record 1 (id 2):\n  fails in NEW only: "), "{text}");
    assert!(text.contains("no priority for ticket 2"), "{text}");
    assert!(text.contains("3 records: 2 identical, 0 changed, 0 failed in old, 1 failed in new"), "{text}");

    let answer = json_of(&files.diff(&old, &new, &["--json"]));
    let failed = answer["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{answer}");
    assert_eq!((failed[0]["index"].clone(), failed[0]["objectId"].clone()), (json!(1), json!("2")));
    assert_eq!(failed[0]["old"], Value::Null);
    assert!(failed[0]["new"].as_str().unwrap().contains("no priority for ticket 2"), "{answer}");
    assert!(answer["results"][1]["new"]["error"].is_string() && answer["results"][1]["old"]["events"].is_array());
}

#[test]
fn a_missing_plugin_or_unusable_records_exit_2_naming_the_file() {
    let files = Files::new();
    let old = files.write("old.js", &script("", "ticket.priority"));
    let missing = files.path("nowhere.js");
    let output = files.diff(&old, &missing, &[]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("NEW: cannot read plugin file") && message.contains(&missing.display().to_string()),
        "{message}"
    );

    let output = files.diff(&missing, &old, &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("OLD: cannot read plugin file"), "{}", stderr(&output));

    let broken = files.write("broken.js", "exports.mapRecord = (ticket) => {\n  return { payload: ticket ;\n};\n");
    let output = files.diff(&old, &broken, &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("broken.js"), "{}", stderr(&output));

    files.write("records.json", "{\"id\": 1}");
    let output = files.diff(&old, &old, &[]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("records.json is neither a JSON array of records nor an Autotask page"), "{message}");
    assert!(stdout(&output).is_empty());
}
