//! Two hosts of a fleet on one PostgreSQL database, in this process: the
//! instances shared between them, an instance created through one host's API
//! run by the fleet at once, and a host leaving handing its work to the other
//! with nothing lost. (The chaos test, with killed and paused processes, is in
//! the CLI's tests.) Opted in: it needs a server (`AUTOTASK_EVENTS_TEST_POSTGRES`).

use std::time::Duration;

use autotask_events::app::RunningService;
use autotask_sim::{SimConfig, Simulator};
use serde_json::{Value, json};
use support::receiver::Receiver;
use support::service::{FAST_DELIVERY, SimControl, incidents_resource, instance_toml, write_config};

use crate::start;
use support::postgres::fresh_database;

const WAIT: Duration = Duration::from_secs(30);
const USER_SECRET: &str = "fleet-user-secret-0123456789";
const ORGANIZATION_SECRET: &str = "fleet-organization-secret-0123";

/// The leases a host holds, from its `/health`.
async fn leases(host: &RunningService) -> Vec<String> {
    let health: Value = reqwest::get(format!("{}/health", host.url())).await.unwrap().json().await.unwrap();
    health["fleet"]["leases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|lease| lease["key"].as_str().unwrap().to_owned())
        .collect()
}

async fn wait_for_leases(
    hosts: &[&RunningService],
    what: &str,
    done: impl Fn(&[Vec<String>]) -> bool,
) -> Vec<Vec<String>> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let mut held = Vec::new();
        for host in hosts {
            held.push(leases(host).await);
        }
        if done(&held) {
            return held;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: the hosts hold {held:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn api(host: &RunningService, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, format!("{}/elements/api-v2{path}", host.url()))
        .header("Authorization", format!("User {USER_SECRET}, Organization {ORGANIZATION_SECRET}"))
}

/// Waits until `receiver` has an event for `object`, then a moment more, and returns how many it has.
async fn events_for(receiver: &Receiver, object: &str) -> usize {
    receiver.wait_for(WAIT, object, |events| events.iter().any(|event| event["objectId"] == object)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    receiver.events().iter().filter(|event| event["objectId"] == object).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set AUTOTASK_EVENTS_TEST_POSTGRES (tests/run starts one)"]
async fn postgres_fleet_shares_instances_runs_api_changes_everywhere_and_survives_a_host_leaving() {
    let url = fresh_database("fleet").await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim =
        Simulator::start(SimConfig { listen: "127.0.0.1:0".parse().unwrap(), tickets: 5, ..SimConfig::default() })
            .await
            .unwrap();
    let control = SimControl::new(&sim);
    let mut receivers = Vec::new();
    let mut instances = Vec::new();
    for index in 0..4 {
        let receiver = Receiver::start().await;
        instances.push(instance_toml(
            &format!("f{index}"),
            &sim,
            &receiver.url(),
            json!({"incidents": incidents_resource()}),
            json!({}),
            "refresh_interval_seconds = 0.3",
        ));
        receivers.push(receiver);
    }
    let config = |host: &str, dir: &std::path::Path| {
        let settings = format!(
            "integration_code = \"{}\"\nallowed_autotask_hosts = [\"{}\"]\n\n{FAST_DELIVERY}\n[store]\nurl = \"{url}\"\n\n[fleet]\nhost = \"{host}\"\nlease_ttl_seconds = 2\n\n\
             [api]\nuser_secret = \"{USER_SECRET}\"\norganization_secret = \"{ORGANIZATION_SECRET}\"\n",
            sim.config().integration_code,
            sim.url().trim_start_matches("http://").trim_end_matches('/'),
        );
        write_config(dir, &settings, &instances)
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start(&config("a", dir_a.path())).await;
    let b = start(&config("b", dir_b.path())).await;

    // Two instances each: their poll and delivery leases together on one host.
    let held = wait_for_leases(&[&a, &b], "the instances shared", |held| held.iter().all(|keys| keys.len() == 4)).await;
    for keys in &held {
        let instances: std::collections::BTreeSet<&str> =
            keys.iter().map(|key| key.split(':').nth(1).unwrap().split('/').next().unwrap()).collect();
        assert_eq!(instances.len(), 2, "an instance's leases are on one host: {keys:?}");
    }

    // Either host answers for any instance: the one not polling it says which host does.
    let on_b = held[1][0].split(':').nth(1).unwrap().split('/').next().unwrap().to_owned();
    let resources: Value = api(&a, reqwest::Method::GET, &format!("/instances/{on_b}/resources"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let resource = &resources["resources"][0];
    assert_eq!(resource["status"], "polled by another host", "{resources}");
    assert!(resource["polledElsewhere"].as_str().unwrap().contains("host `b` holds it"), "{resources}");

    let first = control.create("Tickets", json!({"title": "Seen by the fleet"})).await.to_string();
    for receiver in &receivers {
        assert_eq!(events_for(receiver, &first).await, 1, "each instance's event once, by whichever host polls it");
    }

    // Created through host a's API: host b lists it at once, and the fleet runs it.
    let receiver = Receiver::start().await;
    let mut body = crate::api::readme_instance_body();
    let configuration = &mut body["configuration"];
    configuration["crm.autotask.username"] = json!(sim.config().user);
    configuration["crm.autotask.password"] = json!(sim.config().secret);
    configuration["crm.autotask.server.url"] = json!(sim.url());
    configuration["event.notification.callback.url"] = json!(receiver.url());
    configuration["event.poller.refresh_interval"] = json!("0.005");
    let created = api(&a, reqwest::Method::POST, "/instances").json(&body).send().await.unwrap();
    assert!(created.status().is_success(), "{}", created.text().await.unwrap());
    let created: Value = created.json().await.unwrap();
    let id = created["id"].to_string();
    let listed_on_b = std::time::Instant::now();
    loop {
        let found =
            api(&b, reqwest::Method::GET, &format!("/instances/{id}")).send().await.unwrap().status().is_success();
        if found {
            break;
        }
        assert!(listed_on_b.elapsed() < Duration::from_secs(2), "host b lists an instance created on host a at once");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_for_leases(&[&a, &b], "the new instance taken", |held| held.iter().map(Vec::len).sum::<usize>() == 10).await;
    let second = control.create("Tickets", json!({"title": "After the API change"})).await.to_string();
    assert_eq!(events_for(&receiver, &second).await, 1);

    // Host a stops: host b takes everything over at once (a released it), and nothing is lost.
    a.stop().await;
    wait_for_leases(&[&b], "host b takes over", |held| held[0].len() == 10).await;
    let third = control.create("Tickets", json!({"title": "One host left"})).await.to_string();
    for receiver in receivers.iter().chain([&receiver]) {
        assert_eq!(events_for(receiver, &third).await, 1);
        let ids: Vec<String> =
            receiver.events().iter().filter_map(|event| event["objectId"].as_str().map(str::to_owned)).collect();
        let mut unique = ids.clone();
        unique.dedup();
        assert_eq!(ids, unique, "no event twice in a row");
    }
    b.stop().await;
}
