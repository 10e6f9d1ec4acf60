//! `autotask-events poll --dry-run`: what the next poll of an instance would
//! deliver, read from Autotask and mapped by the resource's plugin as the
//! service would, with no service running and nothing written: the watermark,
//! the outbox and the seen records stay as they are, and nothing is sent.
//! A real poll belongs to the running service (`POST /instances/{id}/poll`),
//! which alone delivers what it stores.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use engine::config;
use engine::service::dry_run::{DryRunReport, DryRunView, dry_run_offline_watched};
use engine::service::progress::ProgressCell;

use super::progress_bar;

#[derive(Debug, Args)]
pub struct PollArgs {
    /// Read and map as the next poll would, and store and send nothing (required).
    #[arg(long)]
    pub dry_run: bool,
    /// The configuration file (TOML): the instance, the plugin directory and the state database.
    #[arg(long)]
    pub config: PathBuf,
    /// The instance id (a configuration file instance, or one created through the API).
    #[arg(long)]
    pub instance: String,
    /// Only this resource.
    #[arg(long)]
    pub resource: Option<String>,
    /// Print the report as JSON (the management API's `?dryRun=true` answer).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &PollArgs) -> ExitCode {
    if !args.dry_run {
        eprintln!(
            "error: `poll` only dry-runs here (add --dry-run): a real poll is the running service's, \
             ask it with `POST /instances/{}/poll` on its management API",
            args.instance
        );
        return ExitCode::FAILURE;
    }
    let config = match config::load(&args.config) {
        Ok(config) => config,
        Err(problems) => {
            eprintln!("error: {problems}");
            return ExitCode::FAILURE;
        }
    };
    let plugin_dir = config.server.plugin_dir.clone();
    // The plugin the service would use: the built-in incidents one is written on first start.
    if let Err(error) = crate::app::install_builtin(&plugin_dir) {
        eprintln!("error: plugin directory {}: {error}", plugin_dir.display());
        return ExitCode::FAILURE;
    }
    let progress = ProgressCell::default();
    let dry_run = dry_run_offline_watched(config, &args.instance, args.resource.as_deref(), &progress);
    // On a terminal, a bar of the pages and records read while a long (backfill) dry run goes on.
    let view = if progress_bar::wanted(args.json) {
        let prefix = format!("dry run of `{}`", args.instance);
        super::block_on_value(progress_bar::follow_poll(&prefix, &progress, dry_run))
    } else {
        super::block_on_value(dry_run)
    };
    let view = match view {
        Ok(Ok(view)) => view,
        Ok(Err(error)) => {
            eprintln!("error: {}: {error}", args.config.display());
            return ExitCode::FAILURE;
        }
        Err(code) => return code,
    };
    if args.json {
        match serde_json::to_string_pretty(&view) {
            Ok(json) => println!("{json}"),
            Err(error) => {
                eprintln!("error: the report is not JSON: {error}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", readable(&view));
    }
    let failed: Vec<_> = view.resources.iter().filter(|resource| !resource.ok).collect();
    for resource in &failed {
        eprintln!(
            "error: instance `{}`, resource `{}`: {}",
            view.instance_id,
            resource.name,
            resource.error.as_deref().unwrap_or_default()
        );
    }
    if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// The report for people: per resource, what was read and a table of the events.
fn readable(view: &DryRunView) -> String {
    let mut out = format!("dry run of instance `{}`: nothing stored, nothing sent\n", view.instance_id);
    for resource in &view.resources {
        out.push_str(&format!("\n{}\n", resource.name));
        match &resource.report {
            Some(report) => out.push_str(&report_text(report)),
            None => out.push_str(&format!("  failed: {}\n", resource.error.as_deref().unwrap_or_default())),
        }
    }
    out
}

fn report_text(report: &DryRunReport) -> String {
    let mut out = String::new();
    let line = |out: &mut String, label: &str, text: &str| out.push_str(&format!("  {label:<10} {text}\n"));
    line(&mut out, "url", &report.url);
    line(&mut out, "query", &format!("POST {}/query {}", report.query.entity, report.query.body));
    line(&mut out, "window", &format!("{} to {}", report.from, report.until));
    let pages: Vec<String> =
        report.pages.iter().map(|page| format!("{} ({} record(s))", page.entity, page.records)).collect();
    line(&mut out, "pages", &if pages.is_empty() { "none".to_owned() } else { pages.join(", ") });
    line(
        &mut out,
        "records",
        &format!("{} read, {} already seen, {} deletion(s)", report.records, report.already_seen, report.deleted),
    );
    line(&mut out, "plugin", &report.plugin_versions.join(", "));
    line(&mut out, "watermark", &format!("would move to {}", report.watermark.as_deref().unwrap_or("-")));
    line(&mut out, "events", &format!("{} in {} message(s)", report.events, report.messages.len()));
    if report.events > 0 {
        out.push_str(&format!(
            "    {:<4} {:<12} {:<14} {:<12} {}\n",
            "MSG", "EVENT", "OBJECT TYPE", "OBJECT ID", "DATE"
        ));
        for (number, message) in report.messages.iter().enumerate() {
            for event in &message.events {
                out.push_str(&format!(
                    "    {:<4} {:<12} {:<14} {:<12} {}\n",
                    number + 1,
                    event.event_type,
                    event.object_type,
                    event.object_id,
                    event.event_date
                ));
            }
        }
    }
    if !report.failed.is_empty() {
        line(&mut out, "failed", &format!("{} record(s)", report.failed.len()));
        for failed in &report.failed {
            out.push_str(&format!("    #{}: {}\n", failed.object_id.as_deref().unwrap_or("?"), failed.error));
        }
    }
    out
}
