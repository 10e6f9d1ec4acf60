//! The Autotask API budget against the simulator: every request a poll sends
//! is counted, a quiet incidents poll reads the deletion log only on its own
//! cadence (and no deletion is lost or repeated for it), and instances sharing
//! a client take turns once requests are paced.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::start;
use autotask_sim::{SimConfig, Simulator};
use engine::source::filter::{Filter, Op, QueryBody};
use engine::source::retry::RetryPolicy;
use engine::source::{AutotaskClient, ClientOptions, Connection, Credentials, Secret, ZoneCache};
use serde_json::{Value, json};
use support::receiver::Receiver;
use support::service::{FAST_DELIVERY, SimControl, incidents_resource, instance_toml, write_config};
use support::wait_until;

const WAIT: Duration = Duration::from_secs(20);

async fn simulator(config: SimConfig) -> Simulator {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = SimConfig { listen: "127.0.0.1:0".parse().unwrap(), tickets: 20, contacts: 10, ..config };
    Simulator::start(config).await.expect("the simulator starts")
}

/// The incidents resource, with `more` keys added to its poll configuration.
fn incidents_with(more: Value) -> Value {
    let mut resource = incidents_resource();
    resource.as_object_mut().unwrap().extend(more.as_object().unwrap().clone());
    json!({ "incidents": resource })
}

/// The value of a Prometheus series, 0 when it is not there.
fn series(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<f64>().ok())
        .map_or(0, |value| value as u64)
}

fn deletion_reads(sim: &Simulator) -> u64 {
    sim.stats().for_endpoint("POST DeletedTicketLogs/query")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_polls_read_the_deletion_log_on_its_cadence_and_every_request_is_counted() {
    // Two databases: one instance reads deletions every poll (the old way), one on the default cadence.
    let (every_poll_sim, cadence_sim) = (simulator(SimConfig::default()).await, simulator(SimConfig::default()).await);
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let interval = "refresh_interval_seconds = 0.1";
    let every_poll = incidents_with(json!({"deletionPollInterval": 0}));
    let instances = [
        instance_toml("every", &every_poll_sim, &receiver.url(), every_poll, json!({}), interval),
        instance_toml("cadence", &cadence_sim, &receiver.url(), incidents_with(json!({})), json!({}), interval),
    ];
    let service = start(&write_config(dir.path(), FAST_DELIVERY, &instances)).await;
    let metrics = service.metrics().clone();
    wait_until(WAIT, "30 polls", || async {
        (cadence_sim.stats().for_endpoint("POST Tickets/query") >= 30).then_some(())
    })
    .await;
    service.stop().await;
    let metrics = metrics.render();

    for (id, sim) in [("every", &every_poll_sim), ("cadence", &cadence_sim)] {
        let stats = sim.stats();
        let counted =
            series(&metrics, &format!("autotask_events_instance_autotask_requests_total{{instance=\"{id}\"}}"));
        assert_eq!(counted, stats.total, "{id}: the requests counted are those the simulator answered: {stats:#?}");
        let polls = series(
            &metrics,
            &format!("autotask_events_polls_total{{instance=\"{id}\",resource=\"incidents\",outcome=\"ok\"}}"),
        );
        let queries = stats.for_endpoint("POST Tickets/query");
        assert!(polls >= 20 && (polls..=polls + 1).contains(&queries), "{id}: one query a poll: {polls} {queries}");
        let overhead = stats.for_endpoint("GET zoneInformation") + stats.for_endpoint("GET ThresholdInformation");
        assert_eq!(overhead, 2, "{id}: one zone lookup and one threshold reading for the whole run: {stats:#?}");
        let deletions = stats.for_endpoint("POST DeletedTicketLogs/query");
        assert_eq!(stats.total, queries + deletions + overhead, "{id}: nothing else: {stats:#?}");
        if id == "every" {
            assert!((queries - 1..=queries).contains(&deletions), "every poll reads deletions: {stats:#?}");
        } else {
            // Every fifth poll by default (0.5 s at a 0.1 s interval); a loaded machine
            // stretches polls apart, so only "far less often than every poll" is asserted.
            assert!(deletions >= 2 && deletions * 2 <= queries, "{queries} polls read deletions {deletions} times");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_between_two_deletion_reads_arrives_once_even_across_a_restart() {
    let sim = simulator(SimConfig::default()).await;
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let resources = incidents_with(json!({"deletionPollInterval": 5}));
    let instance = instance_toml("acme", &sim, &receiver.url(), resources, json!({}), "refresh_interval_seconds = 0.1");
    let config = write_config(dir.path(), FAST_DELIVERY, &[instance]);
    let service = start(&config).await;
    wait_until(WAIT, "the first read of the deletion log", || async { (deletion_reads(&sim) >= 1).then_some(()) })
        .await;
    SimControl::new(&sim).delete("Tickets", 4).await;
    SimControl::new(&sim).patch("Tickets", 5, json!({"status": 5})).await;
    // Records keep being polled; the deletion waits for the next deletion read.
    receiver.wait_for(WAIT, "the update", |events| events.iter().any(|e| e["objectId"] == "5")).await;
    service.stop().await;
    assert_eq!(deletion_reads(&sim), 1, "the deletion was made between two reads of the log");
    assert!(receiver.events().iter().all(|e| e["eventType"] != "DELETED"));

    // A new process: the deletion log's watermark was stored with the poll that read it.
    let service = start(&config).await;
    receiver.wait_for(WAIT, "the deletion", |events| events.iter().any(|e| e["eventType"] == "DELETED")).await;
    // A later read of the log adds nothing.
    let reads = deletion_reads(&sim);
    wait_until(WAIT, "another read of the deletion log", || async { (deletion_reads(&sim) > reads).then_some(()) })
        .await;
    service.stop().await;
    let deleted: Vec<Value> = receiver.events().into_iter().filter(|e| e["eventType"] == "DELETED").collect();
    assert_eq!(deleted.len(), 1, "exactly once: {deleted:#?}");
    assert_eq!(deleted[0]["objectId"], "4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paced_requests_take_turns_by_instance_and_stay_within_the_spacing() {
    let config = SimConfig { threshold: 400, threshold_latency: [Duration::ZERO; 2], ..SimConfig::default() };
    let sim = simulator(config).await;
    let spacing = Duration::from_millis(100);
    let retry = RetryPolicy { base: Duration::from_millis(20), ..RetryPolicy::default() };
    let options = ClientOptions { max_spacing: spacing, retry, ..ClientOptions::default() };
    let connection = Connection {
        server_url: sim.url(),
        credentials: Credentials {
            username: "sim@example.com".into(),
            secret: Secret::new("sim-secret"),
            integration_code: Secret::new("SIMCODE"),
        },
    };
    let client = AutotaskClient::new(connection, options, ZoneCache::default()).unwrap();
    let body = QueryBody::new(vec![Filter::presence(Op::Exist, "id")]);
    // Past 75 % of the threshold: requests are paced, one every `spacing` at most.
    for _ in 0..310 {
        client.count("Companies", &body).await.unwrap();
    }
    client.threshold().await.unwrap();

    // One instance with three requests always waiting (a backlog on three
    // resources), three with one each: every instance gets the same turns.
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = tokio::task::JoinSet::new();
    let mut counts = Vec::new();
    for (instance, loops) in [("busy", 3), ("quiet-1", 1), ("quiet-2", 1), ("quiet-3", 1)] {
        let (handle, count) = client.for_instance(instance).counting();
        counts.push((instance, count));
        for _ in 0..loops {
            let (handle, stop, body) = (handle.clone(), stop.clone(), body.clone());
            tasks.spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    handle.count("Tickets", &body).await.unwrap();
                }
            });
        }
    }
    let started = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed_at_stop = started.elapsed();
    while tasks.join_next().await.is_some() {}
    let sent: Vec<(&str, u64)> = counts.iter().map(|(instance, count)| (*instance, count.get())).collect();
    let total: u64 = sent.iter().map(|(_, n)| n).sum();
    // Each of the 6 loops may be granted one more turn after the stop, and the first goes at once.
    let most = (elapsed_at_stop.as_secs_f64() / spacing.as_secs_f64()).ceil() as u64 + 1 + 6;
    assert!(total <= most, "one request per spacing, whoever sends it: {total} in {elapsed_at_stop:?}: {sent:?}");
    let busy = sent[0].1;
    let least_quiet = sent[1..].iter().map(|(_, n)| *n).min().unwrap();
    assert!(least_quiet >= 3, "every instance got turns: {sent:?}");
    assert!(busy <= 2 * least_quiet, "three waiting requests earn no more turns than one: {sent:?}");
    assert_eq!(sim.stats().with_status(429), 0, "the threshold was not reached");
}

/// A deletion log longer than a page, read by a poll that is stopped between
/// its pages: the log's watermark moves only with the poll's last commit, so
/// the next process reads the whole log again and every deletion arrives,
/// once. (The watermark used to ride with the log's first page: the deletions
/// on the pages after it were skipped for good.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_stopped_between_pages_of_the_deletion_log_loses_no_deletion() {
    const DELETED: i64 = 600; // More than one page of 500.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = SimConfig { listen: "127.0.0.1:0".parse().unwrap(), tickets: 700, ..SimConfig::default() };
    let sim = Simulator::start(config).await.expect("the simulator starts");
    let since = chrono::Utc::now() - chrono::TimeDelta::seconds(5);
    sim.with_store(|store| {
        for id in 1..=DELETED {
            assert!(store.delete(autotask_sim::Entity::Tickets, id, chrono::Utc::now()), "ticket {id} exists");
        }
    });
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    // Read once an hour after the first read: only a watermark left unmoved brings the log back.
    let resources = incidents_with(json!({"deletionPollInterval": 3600}));
    let extra = format!("refresh_interval_seconds = 0.2\nsince = \"{}\"", since.to_rfc3339());
    let instance = instance_toml("acme", &sim, &receiver.url(), resources, json!({}), &extra);
    let config = write_config(dir.path(), FAST_DELIVERY, &[instance]);
    // Each request takes a second: the second page is still on its way when the first page's events arrive.
    SimControl::new(&sim).faults(json!({"latencyMs": 1000})).await;
    let service = start(&config).await;
    let deleted_ids = |receiver: &Receiver| -> Vec<String> {
        let events = receiver.events();
        events
            .iter()
            .filter(|e| e["eventType"] == "DELETED")
            .map(|e| e["objectId"].as_str().unwrap().to_owned())
            .collect()
    };
    receiver
        .wait_for(WAIT, "the first page's deletions", |events| events.iter().any(|e| e["eventType"] == "DELETED"))
        .await;
    service.stop().await;
    let first_run = deleted_ids(&receiver).len();
    assert!((1..DELETED as usize).contains(&first_run), "stopped between the pages: {first_run} deletions arrived");

    SimControl::new(&sim).faults(json!({})).await;
    let service = start(&config).await;
    wait_until(WAIT, "every deletion", || async { (deleted_ids(&receiver).len() >= DELETED as usize).then_some(()) })
        .await;
    service.stop().await;
    let ids = deleted_ids(&receiver);
    let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!((ids.len(), distinct.len()), (DELETED as usize, DELETED as usize), "each deletion arrived once");
}
