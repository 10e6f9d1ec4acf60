//! `autotask-events serve` as a real child process: killed with SIGKILL over
//! and over while it polls and delivers (nothing may be lost), stopped with
//! SIGTERM (it must exit cleanly and quickly), and the `events` commands on the
//! state it leaves.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use autotask_sim::{SimConfig, Simulator};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use engine::delivery::worker::MAX_UNWRITTEN_MARKS;
use serde_json::{Value, json};

use crate::changes::{Change, Lcg, change_of, seed, updated_ms};

/// What the receiver got: every message (webhook id, body), in arrival order.
#[derive(Default)]
pub(crate) struct Received {
    pub(crate) messages: Vec<(String, Value)>,
    /// Answer 500 to everything while set.
    failing: bool,
}

pub(crate) type Shared = Arc<Mutex<Received>>;

pub(crate) async fn start_receiver(latency: Duration) -> (SocketAddr, Shared) {
    let received = Shared::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new()
        .route(
            "/events",
            post(move |State(received): State<Shared>, headers: HeaderMap, body: Bytes| async move {
                tokio::time::sleep(latency).await;
                let id = headers.get("elements-webhook-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                let mut received = received.lock().unwrap();
                if received.failing {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                received.messages.push((id, serde_json::from_slice(&body).unwrap()));
                StatusCode::OK
            }),
        )
        .with_state(received.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (addr, received)
}

pub(crate) async fn simulator(tickets: usize) -> Simulator {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = SimConfig { listen: "127.0.0.1:0".parse().unwrap(), tickets, ..SimConfig::default() };
    Simulator::start(config).await.unwrap()
}

pub(crate) fn write_config(dir: &Path, sim: &Simulator, callback: SocketAddr, delivery: &str) -> PathBuf {
    let sim_config = sim.config();
    let resources = json!({"incidents": {
        "url": "/hubs/helpdesk/incidents?where=lastActivityDate>='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'",
        "idField": "id",
        "datesConfiguration": {
            "updatedDateField": "lastActivityDate", "updatedDateFormat": "yyyy-MM-dd'T'HH:mm:ss'Z'",
            "createdDateField": "createDate", "createdDateFormat": "yyyy-MM-dd'T'HH:mm:ss'Z'"}}});
    let text = format!(
        r#"[egress]
allow = ["loopback"]

[limits]
min_refresh_interval_seconds = 0.001

[server]
listen = "127.0.0.1:0"
data_dir = "data"
plugin_dir = "plugins"
overlap_seconds = 5

{delivery}

[[instance]]
id = "acme"
name = "Acme"
refresh_interval_seconds = 0.2
# The tests change records while the service starts: the instance starts here.
since = "{since}"
element = {{ key = "autotaskhelpdesk" }}
[instance.configuration]
"helpdesk.autotask.username" = "{user}"
"helpdesk.autotask.password" = "${{env:TEST_AUTOTASK_SECRET}}"
"helpdesk.autotask.integration.code" = "{code}"
"helpdesk.autotask.server.url" = "{url}"
"event.notification.enabled" = true
"event.notification.callback.url" = "http://{callback}/events"
"event.notification.signature.key" = "crash-test-key"
"event.poller.configuration" = {resources}
"#,
        since = chrono::Utc::now().to_rfc3339(),
        user = sim_config.user,
        code = sim_config.integration_code,
        url = sim.url(),
        resources = serde_json::to_string(&resources.to_string()).unwrap(),
    );
    let path = dir.join("service.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts `serve`; its log is captured only with `log_format` `json` (and must then be read).
pub(crate) fn serve(config: &Path, sim: &Simulator, log_format: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_autotask-events"))
        .args(["--log-format", log_format, "serve", "--config", config.to_str().unwrap()])
        .env("TEST_AUTOTASK_SECRET", &sim.config().secret)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(if log_format == "json" { Stdio::piped() } else { Stdio::null() })
        .spawn()
        .expect("the binary starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_with_sigkill_at_random_points_it_loses_nothing_and_repeats_only_unmarked_deliveries() {
    let seed = seed("CRASH_TEST_SEED");
    println!("CRASH_TEST_SEED={seed}");
    let mut random = Lcg(seed);

    let sim = simulator(400).await;
    // A little latency per delivery so kills also land mid-delivery.
    let (callback, received) = start_receiver(Duration::from_millis(15)).await;
    let dir = tempfile::tempdir().unwrap();
    let delivery = "[delivery]\nfirst_retry_seconds = 0.05\nretry_multiplier = 2\nretries = 30\ntimeout_seconds = 2";
    let config = write_config(dir.path(), &sim, callback, delivery);
    let http = reqwest::Client::new();
    let control = format!("{}/sim", sim.url());

    // Every change touches a record no other change touches, so each must show up as its own event.
    let mut changes = Vec::new();
    let (mut next_patch, mut next_delete) = (1_i64, 201_i64);
    let cycles = 10;
    for _ in 0..cycles {
        let mut child = serve(&config, &sim, "text");
        let run_for = Duration::from_millis(400 + random.below(1200));
        let until = Instant::now() + run_for;
        while Instant::now() < until {
            let change = match random.below(10) {
                0..4 if next_patch <= 200 => {
                    let record: Value = http
                        .patch(format!("{control}/Tickets/{next_patch}"))
                        .json(&json!({"status": 5}))
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    next_patch += 1;
                    Change {
                        event_type: "UPDATED",
                        object_id: record["id"].to_string(),
                        updated_ms: updated_ms(&record),
                    }
                }
                4 if next_delete <= 400 => {
                    let response = http.delete(format!("{control}/Tickets/{next_delete}")).send().await.unwrap();
                    assert!(response.status().is_success());
                    next_delete += 1;
                    Change { event_type: "DELETED", object_id: (next_delete - 1).to_string(), updated_ms: None }
                }
                _ => {
                    let record: Value = http
                        .post(format!("{control}/Tickets"))
                        .json(&json!({"title": "crash test"}))
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    Change {
                        event_type: "CREATED",
                        object_id: record["id"].to_string(),
                        updated_ms: updated_ms(&record),
                    }
                }
            };
            changes.push(change);
            tokio::time::sleep(Duration::from_millis(20 + random.below(40))).await;
        }
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
    }

    // A last, undisturbed run delivers whatever is left.
    let mut child = serve(&config, &sim, "text");
    let deadline = Instant::now() + Duration::from_secs(60);
    let missing = loop {
        let delivered = delivered_changes(&received.lock().unwrap().messages);
        let missing: Vec<&Change> = changes.iter().filter(|c| !delivered.contains(c)).collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing.into_iter().cloned().collect::<Vec<_>>();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(missing.is_empty(), "{} of {} changes never arrived: {missing:?}", missing.len(), changes.len());

    // Repeats: a message is only sent again when the kill caught it between the
    // callback's 2xx and the outbox noting it. Marks are written in groups, so
    // a kill repeats at most the unwritten marks and the message on the wire.
    let messages = received.lock().unwrap().messages.clone();
    let mut copies: HashMap<&str, usize> = HashMap::new();
    for (id, _) in &messages {
        *copies.entry(id.as_str()).or_default() += 1;
    }
    let repeated: usize = copies.values().map(|n| n - 1).sum();
    let bound = cycles * (MAX_UNWRITTEN_MARKS + 1);
    assert!(repeated <= bound, "{repeated} repeated messages after {cycles} kills (at most {bound})");
    let mut event_ids = HashMap::<String, Value>::new();
    for (_, message) in &messages {
        for event in message["message"]["events"].as_array().unwrap() {
            let previous = event_ids.insert(event["eventId"].as_str().unwrap().to_owned(), event.clone());
            assert!(previous.is_none_or(|p| p == *event), "an event id names one event only");
        }
    }
    println!("{} changes over {cycles} kills: all delivered, {repeated} message(s) repeated", changes.len());
}

fn delivered_changes(messages: &[(String, Value)]) -> HashSet<Change> {
    let mut delivered = HashSet::new();
    for (_, message) in messages {
        for event in message["message"]["events"].as_array().unwrap() {
            delivered.insert(change_of(event));
        }
    }
    delivered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_it_cleanly_within_ten_seconds_with_json_logs_naming_instance_resource_and_plugin() {
    let sim = simulator(20).await;
    // The callback fails, so a delivery is always due or in flight when the signal comes.
    let (callback, received) = start_receiver(Duration::from_millis(300)).await;
    received.lock().unwrap().failing = true;
    let dir = tempfile::tempdir().unwrap();
    let delivery = "[delivery]\nfirst_retry_seconds = 0.05\nretry_multiplier = 1\nretries = 1000\ntimeout_seconds = 5";
    let config = write_config(dir.path(), &sim, callback, delivery);
    let child = serve(&config, &sim, "json");
    let http = reqwest::Client::new();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    http.patch(format!("{}/sim/Tickets/3", sim.url())).json(&json!({"status": 5})).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let signalled = Instant::now();
    // Through the shell's own `kill`, present wherever `sh` is.
    let status = Command::new("sh").args(["-c", &format!("kill -TERM {}", child.id())]).status().unwrap();
    assert!(status.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    let took = signalled.elapsed();
    assert!(output.status.success(), "a clean exit: {:?}", output.status);
    assert!(took < Duration::from_secs(10), "stopped in {took:?}");

    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}")))
        .collect();
    let poll_line = lines
        .iter()
        .find(|line| line["fields"]["message"].as_str().is_some_and(|m| m.contains("1 event(s)")))
        .unwrap_or_else(|| panic!("a poll line for the change:\n{stderr}"));
    assert_eq!(poll_line["span"]["instance"], "acme");
    assert_eq!(poll_line["span"]["resource"], "incidents");
    assert_eq!(poll_line["span"]["plugin"], "incidents.wasm");
    assert!(lines.iter().any(|line| line["fields"]["message"] == "stopped"));
    assert!(!stderr.contains(&sim.config().secret), "the Autotask secret never reaches the log");
    assert!(!stderr.contains("crash-test-key"), "nor the signature key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_list_and_replay_work_on_the_state_a_stopped_service_left() {
    let sim = simulator(20).await;
    let (callback, received) = start_receiver(Duration::ZERO).await;
    received.lock().unwrap().failing = true;
    let dir = tempfile::tempdir().unwrap();
    let delivery = "[delivery]\nfirst_retry_seconds = 0.05\nretry_multiplier = 1\nretries = 1\ntimeout_seconds = 1";
    let config = write_config(dir.path(), &sim, callback, delivery);
    let mut child = serve(&config, &sim, "text");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    reqwest::Client::new()
        .patch(format!("{}/sim/Tickets/4", sim.url()))
        .json(&json!({"status": 5}))
        .send()
        .await
        .unwrap();
    let events = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_autotask-events"))
            .args(["events"])
            .args(args)
            .args(["--config", config.to_str().unwrap(), "--instance", "acme"])
            .env("TEST_AUTOTASK_SECRET", &sim.config().secret)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let listed = loop {
        let listed = events(&["list", "--status", "dead"]);
        if listed.contains("dead") || Instant::now() > deadline {
            break listed;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(listed.contains("incidents") && listed.contains("attempts 2") && listed.contains("HTTP 500"), "{listed}");
    let version = plugin_runtime::version_of(builtin_plugin::INCIDENTS_WASM);
    assert!(listed.contains(&format!("plugin {}", &version[..12])), "the version that mapped it: {listed}");

    let replayed = events(&["replay", "--all-failed"]);
    assert!(replayed.starts_with("1 dead-lettered message(s) of instance `acme` put back"), "{replayed}");
    assert!(events(&["list", "--status", "dead"]).contains("no messages"));
    received.lock().unwrap().failing = false;
    let mut child = serve(&config, &sim, "text");
    let deadline = Instant::now() + Duration::from_secs(20);
    while received.lock().unwrap().messages.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let messages = received.lock().unwrap().messages.clone();
    assert_eq!(messages.len(), 1, "the replayed message arrives after the restart");
    assert_eq!(messages[0].1["message"]["events"][0]["objectId"], "4");
}

/// `events replay --all-failed --wait` beside a running service: it waits for
/// exactly the messages it put back, and says how they ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_replay_wait_follows_the_replayed_messages_until_delivered_or_dead_again() {
    let sim = simulator(20).await;
    let (callback, received) = start_receiver(Duration::ZERO).await;
    received.lock().unwrap().failing = true;
    let dir = tempfile::tempdir().unwrap();
    let delivery = "[delivery]\nfirst_retry_seconds = 0.05\nretry_multiplier = 1\nretries = 1\ntimeout_seconds = 1";
    let config = write_config(dir.path(), &sim, callback, delivery);
    let mut child = serve(&config, &sim, "text");
    let events = |args: &[&str]| {
        let (config, secret) = (config.clone(), sim.config().secret.clone());
        let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            let output = Command::new(env!("CARGO_BIN_EXE_autotask-events"))
                .arg("events")
                .args(&args)
                .args(["--config", config.to_str().unwrap(), "--instance", "acme"])
                .env("TEST_AUTOTASK_SECRET", secret)
                .output()
                .unwrap();
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
            String::from_utf8(output.stdout).unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    reqwest::Client::new()
        .patch(format!("{}/sim/Tickets/4", sim.url()))
        .json(&json!({"status": 5}))
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !events(&["list", "--status", "dead"]).await.unwrap().contains("dead") {
        assert!(Instant::now() < deadline, "ticket 4's message is never dead-lettered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The callback still fails: the replayed message is dead again, and the command says so.
    let replayed = tokio::time::timeout(Duration::from_secs(30), events(&["replay", "--all-failed", "--wait"]))
        .await
        .expect("--wait ends once the replayed message is dead again")
        .unwrap();
    assert!(replayed.contains("1 dead-lettered message(s) of instance `acme` put back"), "{replayed}");
    assert!(replayed.contains("0 of 1 replayed message(s) delivered; 1 dead-lettered again"), "{replayed}");
    assert!(!replayed.contains('\u{1b}'), "no bar when piped: {replayed:?}");

    // The callback is back: the same message goes through.
    received.lock().unwrap().failing = false;
    let replayed = tokio::time::timeout(Duration::from_secs(30), events(&["replay", "--all-failed", "--wait"]))
        .await
        .expect("--wait ends once the replayed message is delivered")
        .unwrap();
    assert!(replayed.contains("1 of 1 replayed message(s) delivered; 0 dead-lettered again"), "{replayed}");
    child.kill().unwrap();
    child.wait().unwrap();
    let messages = received.lock().unwrap().messages.clone();
    assert!(
        messages.iter().any(|(_, message)| message["message"]["events"][0]["objectId"] == "4"),
        "the replayed message arrived: {messages:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_list_shows_a_running_services_plugins_through_its_management_api() {
    let sim = simulator(20).await;
    let (callback, _received) = start_receiver(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sim, callback, "");
    // A fixed port, so that the command finds the service from the configuration alone.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let text = std::fs::read_to_string(&config).unwrap().replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    std::fs::write(&config, text).unwrap();
    let list = |json: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_autotask-events"));
        command.args(["plugin", "list", "--config", config.to_str().unwrap()]);
        if json {
            command.arg("--json");
        }
        command.env("TEST_AUTOTASK_SECRET", &sim.config().secret).output().unwrap()
    };

    let mut child = serve(&config, &sim, "text");
    let deadline = Instant::now() + Duration::from_secs(20);
    let table = loop {
        let output = list(false);
        if output.status.success() {
            break String::from_utf8(output.stdout).unwrap();
        }
        assert!(Instant::now() < deadline, "{}", String::from_utf8_lossy(&output.stderr));
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let version = plugin_runtime::version_of(builtin_plugin::INCIDENTS_WASM);
    let row = table.lines().find(|line| line.starts_with("incidents.wasm")).unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("active") && row.contains(&version[..12]), "{table}");
    assert!(table.contains("used by: acme/incidents"), "{table}");
    let listed: Value = serde_json::from_slice(&list(true).stdout).unwrap();
    assert_eq!(listed[0]["name"], "incidents.wasm");
    assert_eq!(listed[0]["version"], version.as_str());
    assert_eq!(listed[0]["status"], "active");
    child.kill().unwrap();
    child.wait().unwrap();

    let output = list(false);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!("cannot list the plugins of the service at http://127.0.0.1:{port}/plugins")),
        "{stderr}"
    );
}
