//! The `autotask-events` command.

use std::process::ExitCode;

use autotask_events::cli::Cli;
use clap::Parser;

fn main() -> ExitCode {
    autotask_events::cli::run(Cli::parse())
}
