//! `autotask-events plugin list`: the plugins of a running service, read from
//! its management API (`GET /plugins`) at the address the configuration gives.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use engine::config;
use engine::service::plugins::{PluginStatus, Status, short_version};

#[derive(Debug, Args)]
pub struct ListArgs {
    /// The configuration file (TOML) of the running service: says where its management API listens.
    #[arg(long)]
    pub config: PathBuf,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &ListArgs) -> ExitCode {
    let config = match config::load(&args.config) {
        Ok(config) => config,
        Err(problems) => {
            eprintln!("error: {problems}");
            return ExitCode::FAILURE;
        }
    };
    let scheme = if config.server.tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{}/plugins", config.server.listen);
    let certificate = config.server.tls.as_ref().map(|tls| tls.certificate.clone());
    super::block_on(async move {
        match fetch(&url, certificate.as_deref()).await {
            Ok(plugins) if args.json => {
                println!("{}", serde_json::to_string_pretty(&plugins).expect("plugins serialize"));
                ExitCode::SUCCESS
            }
            Ok(plugins) => {
                print!("{}", table(&plugins));
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: cannot list the plugins of the service at {url}: {error}");
                eprintln!("(is `autotask-events serve --config {}` running?)", args.config.display());
                ExitCode::FAILURE
            }
        }
    })
}

/// Reads `GET /plugins`; over TLS, the listener's own certificate is trusted.
async fn fetch(url: &str, certificate: Option<&std::path::Path>) -> Result<Vec<PluginStatus>, String> {
    engine::use_ring_for_tls();
    let mut client = reqwest::Client::builder();
    if let Some(path) = certificate {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let certificate = reqwest::Certificate::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))?;
        client = client.add_root_certificate(certificate);
    }
    let client = client.build().map_err(|e| e.to_string())?;
    let response = client.get(url).send().await.map_err(|e| e.without_url().to_string())?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    response.json().await.map_err(|e| e.without_url().to_string())
}

/// One line per plugin, then its error or resources below it.
pub fn table(plugins: &[PluginStatus]) -> String {
    let mut out = format!(
        "{:<22} {:<8} {:<12} {:<24} {:>8} {:>7} {:>9}\n",
        "PLUGIN", "STATUS", "VERSION", "LOADED", "CALLS", "ERRORS", "MEAN MS"
    );
    for plugin in plugins {
        let status = match plugin.status {
            Status::Loading => "loading",
            Status::Active => "active",
            Status::Failed => "failed",
            Status::Removed => "removed",
            Status::Missing => "missing",
        };
        out.push_str(&format!(
            "{:<22} {:<8} {:<12} {:<24} {:>8} {:>7} {:>9.2}\n",
            plugin.name,
            status,
            plugin.version.as_deref().map(short_version).unwrap_or("-"),
            plugin.loaded_at.as_deref().unwrap_or("-"),
            plugin.calls,
            plugin.errors,
            plugin.mean_call_ms,
        ));
        out.push_str(&format!("    path: {}\n", plugin.path));
        let used_by =
            if plugin.resources.is_empty() { "nothing (idle)".to_owned() } else { plugin.resources.join(", ") };
        out.push_str(&format!("    used by: {used_by}\n"));
        if let Some(error) = &plugin.error {
            out.push_str(&format!("    error: {error}\n"));
        }
    }
    out
}
