//! The service with its state in PostgreSQL (`[store] url`) instead of the
//! SQLite file: events polled, stored and delivered, and a restart going on
//! from the watermark with nothing repeated. Opted in: it needs a server,
//! named by `AUTOTASK_EVENTS_TEST_POSTGRES` (`tests/run` starts one).

use std::time::Duration;

use autotask_sim::{SimConfig, Simulator};
use serde_json::json;
use support::postgres::fresh_database;
use support::receiver::Receiver;
use support::service::{FAST_DELIVERY, SimControl, incidents_resource, instance_toml, write_config};

use crate::start;

const WAIT: Duration = Duration::from_secs(30);

/// How many rows of `table` in the database at `url` meet `condition`.
async fn rows(url: &str, table: &'static str, condition: &'static str) -> i64 {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        client.query_one(&format!("SELECT count(*) FROM {table} WHERE {condition}"), &[]).unwrap().get(0)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set AUTOTASK_EVENTS_TEST_POSTGRES (tests/run starts one)"]
async fn postgres_store_delivers_and_a_restart_goes_on_from_its_watermark() {
    let url = fresh_database("e2e").await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim =
        Simulator::start(SimConfig { listen: "127.0.0.1:0".parse().unwrap(), tickets: 10, ..SimConfig::default() })
            .await
            .unwrap();
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let instance = instance_toml(
        "acme",
        &sim,
        &receiver.url(),
        json!({"incidents": incidents_resource()}),
        json!({}),
        "refresh_interval_seconds = 0.3",
    );
    let settings = format!("{FAST_DELIVERY}\n[store]\nurl = \"{url}\"\n");
    let config = write_config(dir.path(), &settings, &[instance]);
    let control = SimControl::new(&sim);

    let service = start(&config).await;
    let first = control.create("Tickets", json!({"title": "Stored in PostgreSQL"})).await.to_string();
    receiver.wait_for(WAIT, "the first event", |events| events.iter().any(|e| e["objectId"] == first.as_str())).await;
    service.stop().await;
    assert!(!dir.path().join("data/state.sqlite").exists(), "no SQLite file: the state is in PostgreSQL");
    assert_eq!(rows(&url, "outbox", "state = 'delivered'").await, 1);
    assert_eq!(rows(&url, "watermarks", "instance_id = 'acme' AND resource = 'incidents'").await, 1);

    // Changed while it was down, delivered after the restart; the first not again.
    let second = control.create("Tickets", json!({"title": "While it was down"})).await.to_string();
    let service = start(&config).await;
    receiver.wait_for(WAIT, "the second event", |events| events.iter().any(|e| e["objectId"] == second.as_str())).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ids: Vec<String> = receiver.events().iter().map(|e| e["objectId"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, [first, second], "each change once, in order");
    service.stop().await;
}

/// A fleet: hosts on one database. A plugin uploaded to one host is what a
/// host that starts later loads, written from the database into its own
/// plugin directory before it scans it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set AUTOTASK_EVENTS_TEST_POSTGRES (tests/run starts one)"]
async fn postgres_a_plugin_uploaded_to_one_host_is_loaded_by_the_next_host_of_the_fleet() {
    const USER: &str = "fleet-user-secret-0123456789abcdef";
    const ORGANIZATION: &str = "fleet-organization-secret-0123456";
    let url = fresh_database("uploads").await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let settings = format!(
        "[store]\nurl = \"{url}\"\n\n[api]\nuser_secret = \"{USER}\"\norganization_secret = \"{ORGANIZATION}\"\n"
    );
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = start(&write_config(one.path(), &settings, &[])).await;
    let script =
        b"exports.mapRecord = (ticket, meta) => ({ payload: { id: ticket.id, host: 'uploaded' } });\n".to_vec();
    let uploaded = reqwest::Client::new()
        .put(format!("http://127.0.0.1:{}/elements/api-v2/plugins/contacts.js", first.addr().port()))
        .header("Authorization", format!("User {USER}, Organization {ORGANIZATION}"))
        .body(script.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), reqwest::StatusCode::CREATED, "{}", uploaded.text().await.unwrap());
    assert_eq!(std::fs::read(one.path().join("plugins/contacts.js")).unwrap(), script);

    let second = start(&write_config(two.path(), &settings, &[])).await;
    assert_eq!(std::fs::read(two.path().join("plugins/contacts.js")).unwrap(), script, "written before the scan");
    let listed: serde_json::Value =
        reqwest::get(format!("http://127.0.0.1:{}/plugins", second.addr().port())).await.unwrap().json().await.unwrap();
    let contacts = listed.as_array().unwrap().iter().find(|plugin| plugin["name"] == "contacts.js");
    assert_eq!(contacts.map(|plugin| plugin["status"].clone()), Some(json!("active")), "{listed}");
    first.stop().await;
    second.stop().await;
}
