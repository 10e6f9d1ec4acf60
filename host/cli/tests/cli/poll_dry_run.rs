//! `autotask-events poll --dry-run` on the state a stopped service left: it
//! prints the event a change in the simulator would make, and the watermark,
//! the outbox and the callback are as they were; `poll` alone is refused.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use engine::store::Store;
use serde_json::{Value, json};

use crate::service_process::{serve, simulator, start_receiver, write_config};

fn poll(config: &Path, secret: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_autotask-events"))
        .args(["poll", "--config", config.to_str().unwrap()])
        .args(args)
        .env("TEST_AUTOTASK_SECRET", secret)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_dry_run_prints_the_event_and_leaves_the_state_alone() {
    let sim = simulator(20).await;
    let secret = sim.config().secret.clone();
    let (callback, received) = start_receiver(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sim, callback, "");
    // The service polls once or more, so the instance has a watermark, then stops.
    let mut child = serve(&config, &sim, "text");
    let state = dir.path().join("data").join(engine::service::STATE_FILE);
    let deadline = Instant::now() + Duration::from_secs(20);
    // Opened only to look: while the service is still creating the file, an
    // open may meet its migration half done, so a failed look is "not yet".
    let polled = || {
        state.exists()
            && Store::open(&state).ok().and_then(|store| store.watermark("acme", "incidents").ok().flatten()).is_some()
    };
    while !polled() {
        assert!(Instant::now() < deadline, "the service never polled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    reqwest::Client::new()
        .patch(format!("{}/sim/Tickets/4", sim.url()))
        .json(&json!({"status": 5}))
        .send()
        .await
        .unwrap();
    let store = Store::open(&state).unwrap();
    let (watermark, undelivered) = (store.watermark("acme", "incidents").unwrap(), store.undelivered("acme").unwrap());
    let seen = store.seen_since("acme", "incidents", "").unwrap();
    let received_before = received.lock().unwrap().messages.len();

    let output = poll(&config, &secret, &["--dry-run", "--instance", "acme"]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("dry run of instance `acme`: nothing stored, nothing sent"), "{stdout}");
    for expected in ["incidents", "/hubs/helpdesk/incidents?where=lastActivityDate", "POST Tickets/query", "Tickets ("]
    {
        assert!(stdout.contains(expected), "`{expected}` in {stdout}");
    }
    let row = stdout.lines().find(|line| line.contains("UPDATED") && line.split_whitespace().any(|word| word == "4"));
    assert!(row.is_some(), "the changed ticket's event in the table: {stdout}");
    assert!(!stdout.contains(&secret) && !stderr.contains(&secret), "no secret in the output");

    let output = poll(&config, &secret, &["--dry-run", "--instance", "acme", "--resource", "incidents", "--json"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("--json prints JSON");
    assert_eq!((report["instanceId"].clone(), report["dryRun"].clone()), (json!("acme"), json!(true)));
    let events: Vec<&Value> = report["resources"][0]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|message| message["events"].as_array().unwrap())
        .filter(|event| event["objectId"] == "4")
        .collect();
    assert_eq!(events.len(), 1, "{report}");
    assert_eq!(events[0]["eventType"], "UPDATED");

    // The state and the callback are as they were.
    assert_eq!(store.watermark("acme", "incidents").unwrap(), watermark, "the watermark did not move");
    assert_eq!(store.undelivered("acme").unwrap(), undelivered, "the outbox is as it was");
    assert_eq!(store.seen_since("acme", "incidents", "").unwrap(), seen, "no seen key was written");
    assert_eq!(received.lock().unwrap().messages.len(), received_before, "nothing was sent");

    // A real poll is the running service's; unknown names are named.
    let output = poll(&config, &secret, &["--instance", "acme"]);
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("--dry-run") && stderr.contains("POST /instances/acme/poll"), "{stderr}");
    let output = poll(&config, &secret, &["--dry-run", "--instance", "nobody"]);
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("no instance `nobody`"), "{}", text(&output.stderr));
    let output = poll(&config, &secret, &["--dry-run", "--instance", "acme", "--resource", "nope"]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("resource `nope`") && stderr.contains("incidents"), "{stderr}");
}

/// A dry run of a backfill (`since` two months back, slowed pages): on a
/// terminal it draws a bar of the records read of Autotask's count; piped,
/// its output has no bar and no escape code. The terminal is `script`'s
/// pseudo-terminal (util-linux).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_dry_run_draws_a_progress_bar_on_a_terminal_only() {
    let sim = simulator(1500).await;
    sim.set_faults(autotask_sim::Faults { latency_ms: 300, ..autotask_sim::Faults::default() });
    let secret = sim.config().secret.clone();
    let (callback, _) = start_receiver(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sim, callback, "");
    // The instance starts two months back: its first poll is a backfill of every ticket.
    let written = std::fs::read_to_string(&config).unwrap();
    let since_line = written.lines().find(|line| line.starts_with("since = ")).unwrap().to_owned();
    let since = chrono::Utc::now() - chrono::TimeDelta::days(60);
    std::fs::write(&config, written.replace(&since_line, &format!("since = \"{}\"", since.to_rfc3339()))).unwrap();
    // A state database that has never polled (a dry run needs one, and does not make one).
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    Store::open(&dir.path().join("data").join(engine::service::STATE_FILE)).unwrap();

    let piped = poll(&config, &secret, &["--dry-run", "--instance", "acme"]);
    let (stdout, stderr) = (text(&piped.stdout), text(&piped.stderr));
    assert!(piped.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1500 read"), "every ticket: {stdout}");
    for output in [&stdout, &stderr] {
        assert!(!output.contains('\u{1b}') && !output.contains('\r'), "no escape codes when piped: {output:?}");
        assert!(!output.contains("records ·"), "no progress when piped: {output}");
    }

    let command = format!(
        "{} poll --config {} --dry-run --instance acme",
        env!("CARGO_BIN_EXE_autotask-events"),
        config.to_str().unwrap()
    );
    let on_terminal = Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .env("TEST_AUTOTASK_SECRET", &secret)
        .env("RUST_LOG", "warn")
        .env("TERM", "xterm")
        .output()
        .expect("`script` (util-linux) runs the command on a pseudo-terminal");
    let shown = text(&on_terminal.stdout);
    assert!(on_terminal.status.success(), "{shown}\n{}", text(&on_terminal.stderr));
    assert!(shown.contains("dry run of `acme`") && shown.contains(" of 1,500 records"), "the bar: {shown:?}");
    assert!(shown.contains('\u{1b}'), "drawn with escape codes: {shown:?}");
    assert!(shown.contains("1500 read"), "and the report: {shown}");
    assert!(!shown.contains(&secret), "no secret on the terminal");
}
