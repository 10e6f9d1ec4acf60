//! The command line: argument definitions and dispatch to one module per command.

mod config_check;
mod demo;
mod events;
mod fleet;
mod plugin_check;
mod plugin_diff;
mod plugin_init;
mod plugin_list;
mod plugin_new;
mod plugin_run;
mod poll;
mod progress_bar;
mod serve;
mod sim;
mod template_render;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

pub use config_check::ConfigCheckArgs;
pub use demo::DemoArgs;
pub use events::{EventsFailedArgs, EventsListArgs, EventsReplayArgs};
pub use plugin_check::CheckArgs;
pub use plugin_diff::DiffArgs;
pub use plugin_new::{Kind, Lang, Mapping, NewArgs, Script, scaffold};
pub use plugin_run::RunArgs;
pub use poll::PollArgs;
pub use serve::ServeArgs;
pub use sim::SimArgs;
pub use template_render::RenderArgs;

/// Polls Autotask PSA and delivers standardized events, mapped by WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "autotask-events", version, about)]
pub struct Cli {
    /// How log lines are written (to stderr): `text` for people, `json` for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Try everything on loopback: the simulator with churn, the service and a receiver printing events.
    Demo(DemoArgs),
    /// Run the service: poll every configured instance and deliver its events.
    Serve(ServeArgs),
    /// Work with mapping plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Work with poll URL templates.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// Work with the service configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Look at and replay an instance's delivered, pending and dead-lettered messages.
    #[command(subcommand)]
    Events(EventsCommand),
    /// Show what the next poll of an instance would deliver (`--dry-run`), storing and sending nothing.
    Poll(PollArgs),
    /// Look at a fleet of hosts sharing one PostgreSQL database.
    #[command(subcommand)]
    Fleet(FleetCommand),
    /// Run the Autotask REST API simulator (for tests, demos and trying things out).
    Sim(Box<SimArgs>),
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// List an instance's recent messages with their delivery state, attempts and last error.
    List(EventsListArgs),
    /// Deliver dead-lettered messages again (`--all-failed`), or map failed records again (`--failed-records`).
    Replay(EventsReplayArgs),
    /// List the records the instance's plugins could not map, with the reason.
    Failed(EventsFailedArgs),
}

#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// List the hosts, the leases each holds, their delivery lag, and the latest takeovers.
    Status(fleet::FleetStatusArgs),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a configuration file and its instances and plugins; list every problem.
    Check(ConfigCheckArgs),
}

#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// Print a poll URL with its `${date:...}` placeholders filled in for a given time.
    Render(RenderArgs),
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Write the built-in incidents.wasm into a directory, to use or copy for other resources.
    Init(InitArgs),
    /// Run a plugin over raw records from a file and print the events it produces.
    Check(Box<CheckArgs>),
    /// Run two versions of a plugin over the same records and show what the new one changes.
    Diff(Box<DiffArgs>),
    /// List the plugins of a running service: version, status, calls, errors.
    List(plugin_list::ListArgs),
    /// Write a new plugin for a resource: a JavaScript or Python script, or a Rust or C project.
    New(plugin_new::NewArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The plugin directory (created if missing).
    pub dir: PathBuf,
    /// Replace an existing incidents.wasm.
    #[arg(long)]
    pub force: bool,
}

/// Runs `work` on a new multi-threaded async runtime; a runtime that cannot
/// start is reported and fails the command.
fn block_on(work: impl Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(work),
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `work` on a new multi-threaded async runtime and returns its value;
/// a runtime that cannot start is reported, and its exit code returned instead.
fn block_on_value<T>(work: impl Future<Output = T>) -> Result<T, ExitCode> {
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => Ok(runtime.block_on(work)),
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            Err(ExitCode::FAILURE)
        }
    }
}

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    // `serve` sets its log up once it has read its configuration, whose `[telemetry]` may add traces.
    if !matches!(cli.command, Command::Serve(_)) {
        crate::logging::init(cli.log_format);
    }
    match cli.command {
        Command::Serve(args) => serve::run(&args, cli.log_format),
        Command::Demo(args) => demo::run(&args),
        Command::Events(EventsCommand::List(args)) => events::list(&args),
        Command::Events(EventsCommand::Replay(args)) => events::replay(&args),
        Command::Events(EventsCommand::Failed(args)) => events::failed(&args),
        Command::Plugin(PluginCommand::Init(args)) => plugin_init::run(&args),
        Command::Plugin(PluginCommand::Check(args)) => plugin_check::run(&args),
        Command::Plugin(PluginCommand::Diff(args)) => plugin_diff::run(&args),
        Command::Plugin(PluginCommand::List(args)) => plugin_list::run(&args),
        Command::Plugin(PluginCommand::New(args)) => plugin_new::run(&args),
        Command::Template(TemplateCommand::Render(args)) => template_render::run(&args),
        Command::Poll(args) => poll::run(&args),
        Command::Fleet(FleetCommand::Status(args)) => fleet::status(&args),
        Command::Sim(args) => sim::run(&args),
        Command::Config(ConfigCommand::Check(args)) => config_check::run(&args),
    }
}
