//! `autotask-events events list|replay`: the outbox of an instance, read from
//! the state database. Safe while the service runs (SQLite WAL); a running
//! service picks replayed messages up within seconds.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::Utc;
use clap::Args;

use engine::config;
use engine::service::STATE_FILE;
use engine::store::{MessageState, Store};

#[derive(Debug, Args)]
pub struct EventsListArgs {
    /// The configuration file (TOML): says where the state database is.
    #[arg(long)]
    pub config: PathBuf,
    /// The instance id.
    #[arg(long)]
    pub instance: String,
    /// Only messages in this state.
    #[arg(long, value_enum)]
    pub status: Option<Status>,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("what").required(true).multiple(true))]
pub struct EventsReplayArgs {
    /// The configuration file (TOML): says where the state database is.
    #[arg(long)]
    pub config: PathBuf,
    /// The instance id.
    #[arg(long)]
    pub instance: String,
    /// Send every dead-lettered message of the instance again, in order.
    #[arg(long, group = "what")]
    pub all_failed: bool,
    /// Map the instance's failed records again at the next poll of their resource
    /// (after fixing the plugin, say).
    #[arg(long, group = "what")]
    pub failed_records: bool,
    /// With --all-failed: wait until the running service has delivered the
    /// replayed messages (or dead-lettered them again), with a progress bar on a terminal.
    #[arg(long, requires = "all_failed")]
    pub wait: bool,
}

#[derive(Debug, Args)]
pub struct EventsFailedArgs {
    /// The configuration file (TOML): says where the state database is.
    #[arg(long)]
    pub config: PathBuf,
    /// The instance id.
    #[arg(long)]
    pub instance: String,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Status {
    Pending,
    Delivered,
    Dead,
}

pub fn list(args: &EventsListArgs) -> ExitCode {
    let state = args.status.map(|status| match status {
        Status::Pending => MessageState::Pending,
        Status::Delivered => MessageState::Delivered,
        Status::Dead => MessageState::Dead,
    });
    with_store(&args.config, |store| {
        let messages = store.recent_messages(&args.instance, state, args.limit).map_err(|e| e.to_string())?;
        if messages.is_empty() {
            println!("no messages for instance `{}`", args.instance);
        }
        for m in messages {
            println!(
                "#{:<6} {:<9} {:<10} {:>2} event(s)  attempts {}  created {}{}{}  id {}{}",
                m.seq,
                m.state,
                m.resource,
                m.event_count,
                m.attempts,
                m.created_at,
                m.delivered_at.map(|at| format!("  delivered {at}")).unwrap_or_default(),
                m.last_error.map(|e| format!("  last error: {e}")).unwrap_or_default(),
                m.message_id,
                m.plugin_version
                    .map(|v| format!("  plugin {}", engine::service::plugins::short_version(&v)))
                    .unwrap_or_default(),
            );
        }
        Ok(())
    })
}

pub fn replay(args: &EventsReplayArgs) -> ExitCode {
    with_store(&args.config, |store| {
        if args.all_failed {
            let replayed = store.replay_dead(&args.instance, Utc::now()).map_err(|e| e.to_string())?;
            println!(
                "{} dead-lettered message(s) of instance `{}` put back in the outbox",
                replayed.len(),
                args.instance
            );
            if args.wait && !replayed.is_empty() {
                wait_for_delivery(store, &replayed)?;
            }
        }
        if args.failed_records {
            let asked = store.request_failure_replay(&args.instance).map_err(|e| e.to_string())?;
            println!(
                "{asked} failed record(s) of instance `{}` will be mapped again at their next poll",
                args.instance
            );
        }
        Ok(())
    })
}

/// How often `--wait` looks at the outbox.
const WAIT_TICK: std::time::Duration = std::time::Duration::from_millis(250);

/// Follows the delivery of exactly the `replayed` messages (not the ones polls
/// store meanwhile) until none of them is pending: each is delivered or
/// dead-lettered again.
fn wait_for_delivery(store: &Store, replayed: &[i64]) -> Result<(), String> {
    let total = replayed.len() as u64;
    let bar = super::progress_bar::wanted(false).then(|| super::progress_bar::messages(total));
    let outcomes = loop {
        let outcomes = store.outcomes(replayed).map_err(|e| e.to_string())?;
        if let Some(bar) = &bar {
            bar.set_position(outcomes.delivered);
            bar.set_message(format!("({} pending)", outcomes.pending));
        }
        if outcomes.pending == 0 {
            break outcomes;
        }
        std::thread::sleep(WAIT_TICK);
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    println!("{} of {total} replayed message(s) delivered; {} dead-lettered again", outcomes.delivered, outcomes.dead);
    Ok(())
}

/// Lists the records an instance's plugins could not map, with the reason.
pub fn failed(args: &EventsFailedArgs) -> ExitCode {
    with_store(&args.config, |store| {
        let failures = store.failures(&args.instance, None, false).map_err(|e| e.to_string())?;
        if failures.is_empty() {
            println!("no failed records for instance `{}`", args.instance);
        }
        for failure in failures {
            println!(
                "#{:<6} {:<10} object {:<10} failed {}{}  {}",
                failure.id,
                failure.resource,
                failure.record.object_id.as_deref().unwrap_or("?"),
                failure.failed_at,
                if failure.replay_requested { "  (replay asked)" } else { "" },
                failure.record.error,
            );
        }
        Ok(())
    })
}

pub(super) fn with_store(config_path: &std::path::Path, work: impl FnOnce(&Store) -> Result<(), String>) -> ExitCode {
    let config = match config::load(config_path) {
        Ok(config) => config,
        Err(problems) => {
            eprintln!("error: {problems}");
            return ExitCode::FAILURE;
        }
    };
    let store = match &config.server.store_url {
        Some(url) => Store::connect(url.expose()),
        None => {
            let path = config.server.data_dir.join(STATE_FILE);
            if !path.exists() {
                eprintln!(
                    "error: no state database at {} (has the service run with this configuration?)",
                    path.display()
                );
                return ExitCode::FAILURE;
            }
            Store::open(&path)
        }
    };
    match store.map_err(|e| e.to_string()).and_then(|store| work(&store)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
