//! Progress of a long poll: a backfill (`since` two months back) of
//! thousands of tickets, each page of the simulator slowed down, shows its
//! progress in `GET /instances/{id}/resources` while it runs (pages and
//! records read, the total Autotask counted, an estimate of the time left),
//! and none once it is over, when its last poll counts every record.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use autotask_sim::Faults;
use serde_json::{Value, json};
use support::service::{incidents_resource, instance_toml};

use crate::console::Setup;

/// Tickets in the simulator, read 100 a page: 30 pages.
pub(crate) const TICKETS: u64 = 3000;
const PAGE_SIZE: u64 = 100;
/// Each request to the simulator takes this much longer: the backfill takes several seconds.
const LATENCY_MS: u64 = 250;
const WAIT: Duration = Duration::from_secs(60);

/// The service with instance `backfill`, whose first poll reads every ticket
/// from two months back (before every generated change), slowly.
pub(crate) async fn backfill() -> Setup {
    Setup::with_instances(TICKETS as usize, |sim, receiver| {
        sim.set_faults(Faults { latency_ms: LATENCY_MS, ..Faults::default() });
        let mut resource = incidents_resource();
        resource["pageSize"] = json!(PAGE_SIZE);
        let since = chrono::Utc::now() - chrono::TimeDelta::days(60);
        vec![instance_toml(
            "backfill",
            sim,
            &receiver.url(),
            json!({ "incidents": resource }),
            json!({ "event.poller.refresh_interval": "10" }),
            &format!("since = \"{}\"", since.to_rfc3339()),
        )]
    })
    .await
}

/// The incidents resource of `backfill` as `/resources` shows it.
pub(crate) async fn incidents(setup: &Setup) -> Value {
    let (status, answer) = setup.api_get("/instances/backfill/resources").await;
    assert!(status.is_success(), "{status}: {answer}");
    answer["resources"][0].clone()
}

/// Waits until the running poll's progress has an estimate; returns the resource then.
pub(crate) async fn mid_way(setup: &Setup) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let resource = incidents(setup).await;
        if resource["progress"]["etaSeconds"].is_u64() {
            return resource;
        }
        assert!(resource["lastPoll"].is_null(), "the backfill ended before it was seen mid-way: {resource}");
        assert!(Instant::now() < deadline, "no progress with an estimate: {resource}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_shows_pages_records_the_total_and_an_estimate_until_it_is_over() {
    let setup = backfill().await;
    let resource = mid_way(&setup).await;
    let progress = &resource["progress"];
    assert_eq!(resource["status"], "polling", "{resource}");
    assert!(progress["pagesRead"].as_u64().unwrap() >= 1, "{progress}");
    assert_eq!(progress["recordsTotal"], json!(TICKETS), "Autotask's count of the poll's query: {progress}");
    let read = progress["recordsRead"].as_u64().unwrap();
    assert!((PAGE_SIZE..TICKETS).contains(&read), "mid-way: {progress}");
    assert!(progress["recordsMapped"].as_u64().unwrap() <= read, "{progress}");
    assert!(progress["startedDate"].is_string(), "{progress}");
    for field in ["messagesStored", "messagesPending", "messagesDelivered"] {
        assert!(progress[field].is_u64(), "{field}: {progress}");
    }
    // At least the slowed pages left to read, and not absurdly more.
    let eta = progress["etaSeconds"].as_u64().unwrap();
    let pages_left = (TICKETS - read) / PAGE_SIZE;
    assert!(eta <= 10 * pages_left * LATENCY_MS / 1000 + 10, "eta {eta} s for {pages_left} pages left: {progress}");
    // The contract fuzzing never catches a poll mid-way: the OpenAPI document is held to this one.
    let (_, document) = setup.api_get("/openapi.json").await;
    let schemas = &document["components"]["schemas"];
    assert_eq!(
        schemas["ResourceView"]["properties"]["progress"]["oneOf"][1]["$ref"],
        "#/components/schemas/ProgressView"
    );
    let documented: BTreeSet<&str> =
        [&schemas["PollProgress"]["properties"], &schemas["ProgressView"]["allOf"][1]["properties"]]
            .into_iter()
            .flat_map(|properties| properties.as_object().unwrap().keys().map(String::as_str))
            .collect();
    let answered: BTreeSet<&str> = progress.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(answered, documented, "every field of the progress is documented, and every documented one answered");

    let deadline = Instant::now() + WAIT;
    let done = loop {
        let resource = incidents(&setup).await;
        if resource["lastPoll"].is_object() {
            break resource;
        }
        assert!(Instant::now() < deadline, "the backfill never ended: {resource}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(done.get("progress").is_none(), "no progress once the poll is over: {done}");
    assert_eq!(done["lastPoll"]["summary"]["records"], json!(TICKETS), "every ticket was read: {done}");
    assert!(done["lastPoll"]["summary"]["pages"].as_u64().unwrap() >= TICKETS / PAGE_SIZE, "{done}");
}
