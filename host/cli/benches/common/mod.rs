//! What the benchmarks that run the release `autotask-events serve` binary
//! share: starting it, and reading its CPU time and memory from `/proc`.

#![allow(dead_code)] // Each bench uses its own part of these.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Starts `serve` and waits until it says it is listening (plugins loaded, polls scheduled).
pub fn serve(config: &Path) -> Child {
    serve_logging(config, "warn,autotask_events_engine::service::scheduler=info").0
}

/// Starts `serve` with `RUST_LOG=rust_log` and waits until it says it is
/// listening; returns the process and its management address (`host:port`).
pub fn serve_logging(config: &Path, rust_log: &str) -> (Child, String) {
    spawn_serve(config, rust_log, false)
}

/// As [`serve_logging`], with the log written as JSON lines to the child's
/// piped `stderr` (take it from the [`Child`]) for the bench to read.
pub fn serve_json_logs(config: &Path, rust_log: &str) -> (Child, String) {
    spawn_serve(config, rust_log, true)
}

fn spawn_serve(config: &Path, rust_log: &str, json_logs: bool) -> (Child, String) {
    // `SERVE_BINARY` runs another build (an earlier commit's, to compare).
    let binary = std::env::var("SERVE_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_autotask-events").to_owned());
    let mut command = Command::new(binary);
    if json_logs {
        command.args(["--log-format", "json"]);
    }
    let mut child = command
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", rust_log)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(if json_logs { Stdio::piped() } else { Stdio::inherit() })
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("autotask-events listening"), "unexpected first line: {line}");
    let address = line.split_whitespace().find(|word| word.contains(':')).unwrap_or_default();
    let address = address.trim_start_matches("http://").trim_start_matches("https://").trim_end_matches('/');
    (child, address.to_owned())
}

/// User plus system CPU time of a running process, from `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_secs_f64(ticks as f64 / 100.0)
}

/// Resident memory of a process, in KiB (0 once it has exited).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or("VmRSS: 0 kB");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The `fraction` quantile (0.5, 0.99) of `values`, nearest rank; 0 when empty.
pub fn quantile(values: &[f64], fraction: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((fraction * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// `met` or `MISSED`, for the summary lines.
pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}
