//! `autotask-events serve`: runs the service until SIGINT or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::app;
use engine::config;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The configuration file (TOML).
    #[arg(long)]
    pub config: PathBuf,
}

pub fn run(args: &ServeArgs) -> ExitCode {
    let config = match config::load(&args.config) {
        Ok(config) => config,
        Err(problems) => {
            for problem in &problems.0 {
                eprintln!("error: {problem}");
            }
            eprintln!("{} problem(s) in the configuration; not starting", problems.0.len());
            return ExitCode::FAILURE;
        }
    };
    super::block_on(async {
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
    })
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
