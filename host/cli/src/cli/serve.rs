//! `autotask-events serve`: runs the service until SIGINT or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::LogFormat;
use crate::{app, logging};
use engine::config;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The configuration file (TOML).
    #[arg(long)]
    pub config: PathBuf,
}

pub fn run(args: &ServeArgs, log_format: LogFormat) -> ExitCode {
    let config = match config::load(&args.config) {
        Ok(config) => config,
        Err(problems) => {
            logging::init(log_format);
            for problem in &problems.0 {
                eprintln!("error: {problem}");
            }
            eprintln!("{} problem(s) in the configuration; not starting", problems.0.len());
            return ExitCode::FAILURE;
        }
    };
    let traces = match &config.server.telemetry {
        None => {
            logging::init(log_format);
            None
        }
        Some(telemetry) => match logging::init_with_traces(log_format, telemetry) {
            Ok(traces) => Some(traces),
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        },
    };
    let exit = super::block_on(async {
        let running = match app::start(config).await {
            Ok(running) => running,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        };
        println!("autotask-events listening on {}", running.url());
        stop_signal().await;
        tracing::info!("stopping: polls end now, deliveries on the wire get a few seconds");
        running.stop().await;
        tracing::info!("stopped");
        ExitCode::SUCCESS
    });
    // Off the runtime: sending the last spans blocks (briefly, if the collector is down).
    if let Some(traces) = traces {
        traces.shutdown();
    }
    exit
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM can be handled");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
