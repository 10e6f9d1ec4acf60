//! `autotask-events plugin check`: runs a plugin over records from a file, exactly
//! as the service would for one poll, and prints the events.
//!
//! As in a poll, a batch that fails as a whole (a trap, the time or memory
//! limit) is mapped again record by record, so only the records that cause it
//! fail. Compiled components are kept in the service's on-disk cache
//! (`DATA_DIR/plugin-cache`), so checking the same file again, or the service
//! loading it after a check, does not compile it again.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::{Value, json};

use super::plugin_run::{self, RunArgs};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The plugin: a component (.wasm) or a script plugin (.js, .py).
    pub plugin: PathBuf,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Exit code when some records could not be mapped.
const SOME_RECORDS_FAILED: u8 = 1;
/// Exit code when the plugin could not be loaded or called, or the input is unusable.
const UNUSABLE: u8 = 2;

pub(super) fn run(args: &CheckArgs) -> ExitCode {
    match check(args) {
        Ok(report) => {
            println!("{}", serde_json::to_string_pretty(&report.json).expect("a Value always serializes"));
            ExitCode::from(if report.failed_records > 0 { SOME_RECORDS_FAILED } else { 0 })
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(UNUSABLE)
        }
    }
}

struct Report {
    json: Value,
    failed_records: usize,
}

fn check(args: &CheckArgs) -> Result<Report, String> {
    let records = plugin_run::read_records(&args.run.records)?;
    let runtime = plugin_run::runtime(&args.run)?;
    let plugin = plugin_run::load(&runtime, &args.plugin)?;
    let setup = plugin_run::setup(&args.run, plugin.description())?;
    let runs = plugin_run::run(&plugin, &setup, &records, "plugin check")?;

    let mut events = Vec::new();
    let mut errors = Vec::new();
    for run in runs {
        match run.outcome {
            Ok(mapped) => events.extend(mapped),
            Err(message) => errors.push(json!({"index": run.index, "message": message})),
        }
    }
    let failed_records = errors.len();
    Ok(Report { json: json!({"events": events, "errors": errors}), failed_records })
}
