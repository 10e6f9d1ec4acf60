//! `autotask-events fleet status` on a fleet of one host in PostgreSQL: the
//! host, its leases and its lag, then the host gone once it stops. Opted in:
//! it needs a server (`AUTOTASK_EVENTS_TEST_POSTGRES`; `tests/run` starts one).

use std::process::Command;
use std::time::{Duration, Instant};

use autotask_sim::{SimConfig, Simulator};
use serde_json::{Value, json};
use support::service::{incidents_resource, instance_toml, write_config};

fn fleet_status(config: &std::path::Path, json: bool) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_autotask-events"));
    command.args(["fleet", "status", "--config", config.to_str().unwrap()]);
    if json {
        command.arg("--json");
    }
    let output = command.output().expect("the binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set AUTOTASK_EVENTS_TEST_POSTGRES (tests/run starts one)"]
async fn postgres_fleet_status_lists_the_hosts_their_leases_and_takeovers() {
    let url = support::postgres::fresh_database("status").await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim =
        Simulator::start(SimConfig { listen: "127.0.0.1:0".parse().unwrap(), ..SimConfig::default() }).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let instance = instance_toml(
        "acme",
        &sim,
        "http://127.0.0.1:9/events",
        json!({"incidents": incidents_resource()}),
        json!({}),
        "refresh_interval_seconds = 1",
    );
    let settings = format!("[store]\nurl = \"{url}\"\n\n[fleet]\nhost = \"alpha\"\nlease_ttl_seconds = 3\n");
    let config = write_config(dir.path(), &settings, &[instance]);
    let loaded = engine::config::load(&config).unwrap();
    let service = autotask_events::app::start(loaded).await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    let status: Value = loop {
        let (ok, out) = tokio::task::spawn_blocking({
            let config = config.clone();
            move || fleet_status(&config, true)
        })
        .await
        .unwrap();
        assert!(ok, "{out}");
        let status: Value = serde_json::from_str(&out).unwrap();
        if status["hosts"][0]["deliveryLeases"] == 1 {
            break status;
        }
        assert!(Instant::now() < deadline, "the host never held its leases: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status["hosts"].as_array().unwrap().len(), 1, "{status}");
    assert_eq!(status["hosts"][0]["host"], "alpha");
    assert_eq!(status["hosts"][0]["live"], true);
    assert_eq!(status["hosts"][0]["pollLeases"], 1);
    assert_eq!(status["leaseTtlSeconds"], 3.0);
    let keys: Vec<&str> = status["leases"].as_array().unwrap().iter().map(|l| l["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["delivery:acme", "poll:acme/incidents"]);
    assert!(status["takeovers"].as_array().unwrap().iter().all(|t| t["host"] == "alpha" && t["token"] == 1));

    let (ok, table) = tokio::task::spawn_blocking({
        let config = config.clone();
        move || fleet_status(&config, false)
    })
    .await
    .unwrap();
    assert!(ok, "{table}");
    assert!(table.starts_with("1 host(s), lease time to live 3 s"), "{table}");
    let line = table.lines().find(|line| line.starts_with("alpha")).unwrap_or_else(|| panic!("{table}"));
    let columns: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(columns[2], "live", "{line}");
    assert_eq!(&columns[columns.len() - 3..columns.len() - 1], ["1", "1"], "one poll and one delivery lease: {line}");

    // Stopped cleanly, the host leaves the fleet and its leases are free at once.
    service.stop().await;
    let (ok, table) = tokio::task::spawn_blocking(move || fleet_status(&config, false)).await.unwrap();
    assert!(ok, "{table}");
    assert!(table.starts_with("0 host(s)"), "{table}");
    assert!(table.contains("2 lease(s) held by no live host: delivery:acme, poll:acme/incidents"), "{table}");
}

/// On a single host's SQLite file there is no fleet, and the command says so.
#[test]
fn fleet_status_on_a_sqlite_state_says_a_fleet_needs_postgresql() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("service.toml");
    std::fs::write(&config, "[server]\ndata_dir = \"data\"\n").unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    engine::store::Store::open(&dir.path().join("data").join(engine::service::STATE_FILE)).unwrap();
    let (ok, out) = fleet_status(&config, false);
    assert!(!ok);
    assert!(out.contains("a fleet shares a PostgreSQL database ([store] url)"), "{out}");
}
