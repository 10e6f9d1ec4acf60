//! `autotask-events plugin diff OLD NEW --records F`: what a new version of a
//! plugin would change, before it serves. Both plugins run over the same
//! records with the same context (as `plugin check` runs one), and the
//! comparison lists, record by record, the events removed, added and changed,
//! and the records that fail in one version only. The exit code is `diff`'s:
//! 0 the same, 1 different, 2 trouble.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use super::plugin_run::{self, RunArgs};
use engine::tryout::{self, Diff, RecordRun};

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The version serving now: a component (.wasm) or a script plugin (.js, .py).
    pub old: PathBuf,
    /// The version to compare it with, of any kind.
    pub new: PathBuf,
    #[command(flatten)]
    pub run: RunArgs,
    /// Print the comparison as JSON (as `POST /plugins/{name}/try` answers it) rather than as text.
    #[arg(long)]
    pub json: bool,
}

/// Exit codes, as `diff`'s.
const SAME: u8 = 0;
const DIFFERENT: u8 = 1;
const TROUBLE: u8 = 2;

pub(super) fn run(args: &DiffArgs) -> ExitCode {
    match compare(args) {
        Ok((diff, runs)) => {
            if args.json {
                let answer = json_answer(&diff, &runs);
                println!("{}", serde_json::to_string_pretty(&answer).expect("a Value always serializes"));
            } else {
                print!("{}", text(&diff, args));
            }
            ExitCode::from(if diff.is_identical() { SAME } else { DIFFERENT })
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(TROUBLE)
        }
    }
}

/// Both runs, by side.
struct Runs {
    old: Vec<RecordRun>,
    new: Vec<RecordRun>,
}

fn compare(args: &DiffArgs) -> Result<(Diff, Runs), String> {
    let records = plugin_run::read_records(&args.run.records)?;
    let runtime = plugin_run::runtime(&args.run)?;
    let old = plugin_run::load(&runtime, &args.old).map_err(|e| format!("OLD: {e}"))?;
    let new = plugin_run::load(&runtime, &args.new).map_err(|e| format!("NEW: {e}"))?;
    // One setup for both, so a difference is the plugins' own: the old one's
    // description wins, as it is what the resource is polled with now.
    let setup = plugin_run::setup(&args.run, old.description().or(new.description()))?;
    let runs = Runs {
        old: plugin_run::run(&old, &setup, &records, "plugin diff")?,
        new: plugin_run::run(&new, &setup, &records, "plugin diff")?,
    };
    Ok((tryout::diff(&runs.old, &runs.new), runs))
}

/// The comparison, and what each version made of each record: the API's answer.
fn json_answer(diff: &Diff, runs: &Runs) -> Value {
    let mut answer = serde_json::to_value(diff).expect("a Diff always serializes");
    answer["results"] = Value::Array(tryout::side_by_side(&runs.old, &runs.new));
    answer
}

/// The comparison for people: one block per record that differs, then the summary.
fn text(diff: &Diff, args: &DiffArgs) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "--- {}\n+++ {}", args.old.display(), args.new.display());
    let record = |index: usize, object_id: &Option<String>| match object_id {
        Some(id) => format!("record {index} (id {id})"),
        None => format!("record {index}"),
    };
    for change in &diff.changed {
        let _ = writeln!(out, "\n{}:", record(change.index, &change.object_id));
        for event in &change.removed {
            let _ = writeln!(out, "  - removed {} {}", subject(event), compact(event));
        }
        for event in &change.added {
            let _ = writeln!(out, "  + added {} {}", subject(event), compact(event));
        }
        for event in &change.changed {
            let _ = writeln!(out, "  ~ changed {}", subject(&event.after));
            for line in event.diff.lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    for failure in &diff.failed {
        let _ = writeln!(out, "\n{}:", record(failure.index, &failure.object_id));
        // A script's error may carry its stack on the lines after the message.
        let indented = |error: &str| error.lines().collect::<Vec<_>>().join("\n      ");
        match (&failure.old, &failure.new) {
            (Some(old), Some(new)) => {
                let (old, new) = (indented(old), indented(new));
                let _ = writeln!(out, "  fails in both, differently\n  - old: {old}\n  + new: {new}");
            }
            (None, Some(new)) => {
                let _ = writeln!(out, "  fails in NEW only: {}", indented(new));
            }
            (Some(old), None) => {
                let _ = writeln!(out, "  fails in OLD only (NEW maps it): {}", indented(old));
            }
            (None, None) => {}
        }
    }
    let _ = writeln!(
        out,
        "\n{} records: {} identical, {} changed, {} failed in old, {} failed in new",
        diff.records,
        diff.identical,
        diff.changed.len(),
        diff.failed_in_old(),
        diff.failed_in_new()
    );
    out
}

/// `UPDATED incidents 42`: what an event is about.
fn subject(event: &Value) -> String {
    let text = |key: &str| event[key].as_str().map_or_else(|| event[key].to_string(), str::to_owned);
    format!("{} {} {}", text("eventType"), text("objectType"), text("objectId"))
}

fn compact(event: &Value) -> String {
    serde_json::to_string(&event["payload"]).expect("a Value always serializes")
}
