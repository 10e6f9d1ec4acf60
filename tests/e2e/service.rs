//! The service end to end on loopback: the simulator, the service with real
//! SQLite files and compiled plugins, and a real callback receiver.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use crate::start;
use autotask_sim::{SimConfig, Simulator};
use engine::delivery::signature::verify;
use serde_json::{Value, json};
use support::receiver::{Answer, Receiver};
use support::service::{FAST_DELIVERY, SimControl, incidents_resource, instance_toml, resource, write_config};
use support::wait_until;

const KEY: &str = "test-signature-key";
const WAIT: Duration = Duration::from_secs(20);

async fn simulator() -> Simulator {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Simulator::start(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tickets: 20,
        contacts: 10,
        ..SimConfig::default()
    })
    .await
    .expect("the simulator starts")
}

fn incidents_only() -> Value {
    json!({ "incidents": incidents_resource() })
}

fn signed() -> Value {
    json!({ "event.notification.signature.key": KEY })
}

/// `(eventType, objectId)` of each event.
fn kinds(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| (e["eventType"].as_str().unwrap().to_owned(), e["objectId"].as_str().unwrap().to_owned()))
        .collect()
}

fn has(events: &[Value], event_type: &str, id: i64) -> bool {
    kinds(events).contains(&(event_type.to_owned(), id.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_updated_and_deleted_tickets_arrive_as_exactly_those_signed_events() {
    let sim = simulator().await;
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let instance =
        instance_toml("acme", &sim, &receiver.url(), incidents_only(), signed(), "refresh_interval_seconds = 0.2");
    let service = start(&write_config(dir.path(), FAST_DELIVERY, &[instance])).await;
    let control = SimControl::new(&sim);

    let created = control.create("Tickets", json!({"title": "Printer on fire"})).await;
    control.patch("Tickets", 3, json!({"status": 5})).await;
    control.delete("Tickets", 4).await;

    receiver
        .wait_for(WAIT, "the three events", |events| {
            has(events, "CREATED", created) && has(events, "UPDATED", 3) && has(events, "DELETED", 4)
        })
        .await;
    // A few more polls read the same records again (the overlap) and must add nothing.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let events = receiver.events();
    let mut got = kinds(&events);
    got.sort();
    let mut want = vec![
        ("CREATED".to_owned(), created.to_string()),
        ("DELETED".to_owned(), "4".to_owned()),
        ("UPDATED".to_owned(), "3".to_owned()),
    ];
    want.sort();
    assert_eq!(got, want, "exactly one event per change");

    let created_event = events.iter().find(|e| e["eventType"] == "CREATED").unwrap();
    assert_eq!(created_event["payload"]["title"], "Printer on fire");
    assert_eq!(created_event["objectType"], "incidents");
    assert_eq!(created_event["elementKey"], "autotaskhelpdesk");
    assert_eq!(created_event["hubKey"], "helpdesk");

    let mut webhook_ids = HashSet::new();
    for delivery in receiver.accepted() {
        let signature = delivery.signature.as_deref().expect("every message is signed");
        assert!(verify(KEY.as_bytes(), &delivery.body, signature), "the signature verifies against the exact body");
        assert!(!verify(b"another key", &delivery.body, signature));
        assert!(webhook_ids.insert(delivery.webhook_id.clone().expect("every message has an Elements-Webhook-Id")));
        let message = &delivery.json()["message"];
        // A file instance's number, derived from its text id (the documented value for `acme`).
        assert_eq!(message["instanceId"], 7_656_644_771_137_696_u64);
        assert_eq!(message["instance_id"], 7_656_644_771_137_696_u64);
        assert_eq!(message["instanceName"], "acme instance");
        assert_eq!(message["instanceTags"], json!(["test"]));
        assert_eq!(message["raw"]["objectType"], "incidents");
        let raw_ids: BTreeSet<String> =
            message["raw"]["incidents"].as_array().unwrap().iter().map(|r| r["id"].to_string()).collect();
        for event in message["events"].as_array().unwrap() {
            let id = event["objectId"].as_str().unwrap();
            let in_raw = raw_ids.contains(id)
                || message["raw"]["incidents"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r["ticketID"].to_string().as_str() == id);
            assert!(in_raw, "event {id}'s raw record travels with it: {message}");
        }
        assert_eq!(delivery.content_type.as_deref(), Some("application/json"));
    }
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_poll_starts_at_the_instance_creation_unless_since_is_set() {
    let sim = simulator().await;
    let (fresh, backfill) = (Receiver::start().await, Receiver::start().await);
    let dir = tempfile::tempdir().unwrap();
    let instances = [
        instance_toml("fresh", &sim, &fresh.url(), incidents_only(), json!({}), "refresh_interval_seconds = 0.2"),
        instance_toml(
            "backfill",
            &sim,
            &backfill.url(),
            incidents_only(),
            json!({}),
            "refresh_interval_seconds = 0.2\nsince = \"2000-01-01T00:00:00Z\"",
        ),
    ];
    let service = start(&write_config(dir.path(), FAST_DELIVERY, &instances)).await;
    let events = backfill.wait_for(WAIT, "all 20 tickets", |events| events.len() >= 20).await;
    let ids: BTreeSet<&str> = events.iter().map(|e| e["objectId"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 20, "every existing ticket once");
    // By now `fresh` has polled several times too, and nothing changed after it started.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let metrics = service.metrics().render();
    assert!(metrics.contains("autotask_events_polls_total{instance=\"fresh\",resource=\"incidents\",outcome=\"ok\"}"));
    assert!(fresh.events().is_empty(), "no backfill without `since`: {:?}", fresh.events());
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_wait_while_the_callback_is_down_then_all_arrive_in_order() {
    let sim = simulator().await;
    let receiver = Receiver::start().await;
    receiver.answer(Answer::Fail(503));
    let dir = tempfile::tempdir().unwrap();
    let instance =
        instance_toml("acme", &sim, &receiver.url(), incidents_only(), json!({}), "refresh_interval_seconds = 0.1");
    let settings =
        "[delivery]\nfirst_retry_seconds = 0.05\nretry_multiplier = 1.5\nretries = 100\ntimeout_seconds = 1\n";
    let service = start(&write_config(dir.path(), settings, &[instance])).await;
    let control = SimControl::new(&sim);

    // One change per poll, so each is its own message and their order is the changes' order.
    let changed = [7, 2, 9, 5, 1];
    for id in changed {
        control.patch("Tickets", id, json!({"priority": 2})).await;
        tokio::time::sleep(Duration::from_millis(350)).await;
    }
    assert!(receiver.deliveries().len() >= 3, "the service kept trying while the callback was down");
    assert!(receiver.accepted().is_empty());

    receiver.answer(Answer::Accept);
    let events = receiver.wait_for(WAIT, "the five updates", |events| events.len() >= changed.len()).await;
    let order: Vec<String> = events.iter().map(|e| e["objectId"].as_str().unwrap().to_owned()).collect();
    assert_eq!(order, changed.map(|id| id.to_string()), "delivered in the order they were polled");
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_and_timed_out_deliveries_are_retried_with_growing_waits() {
    let sim = simulator().await;
    let receiver = Receiver::start().await;
    receiver.script(&[
        Answer::Fail(500),
        Answer::Fail(500),
        Answer::Slow(Duration::from_millis(900)),
        Answer::Fail(502),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let instance =
        instance_toml("acme", &sim, &receiver.url(), incidents_only(), json!({}), "refresh_interval_seconds = 0.2");
    let settings = "[delivery]\nfirst_retry_seconds = 0.1\nretry_multiplier = 2\nretries = 9\ntimeout_seconds = 0.4\n";
    let service = start(&write_config(dir.path(), settings, &[instance])).await;
    SimControl::new(&sim).patch("Tickets", 11, json!({"status": 8})).await;

    receiver.wait_for(WAIT, "the update", |events| has(events, "UPDATED", 11)).await;
    let attempts = receiver.deliveries();
    assert_eq!(attempts.len(), 5, "4 failures then success: {attempts:#?}");
    let id = attempts[0].webhook_id.clone();
    assert!(attempts.iter().all(|a| a.webhook_id == id && a.body == attempts[0].body), "the same message each time");
    // Waits: 0.1 s, 0.2 s, then 0.4 s after a 0.4 s timeout, then 0.8 s (jitter only adds).
    let gaps: Vec<f64> = attempts.windows(2).map(|w| (w[1].at - w[0].at).as_secs_f64()).collect();
    let least = [0.1, 0.2, 0.4 + 0.4, 0.8];
    for (gap, least) in gaps.iter().zip(least) {
        assert!(*gap >= least * 0.95, "gaps {gaps:?} must be at least {least}s each");
    }
    assert!(gaps[3] > gaps[0] * 4.0, "backoff grows: {gaps:?}");
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_out_of_retries_is_dead_lettered_kept_and_replayable() {
    let sim = simulator().await;
    let receiver = Receiver::start().await;
    receiver.answer(Answer::Fail(500));
    let dir = tempfile::tempdir().unwrap();
    let instance =
        instance_toml("acme", &sim, &receiver.url(), incidents_only(), json!({}), "refresh_interval_seconds = 0.2");
    let settings = "[delivery]\nfirst_retry_seconds = 0.05\nretry_multiplier = 1\nretries = 2\ntimeout_seconds = 1\n";
    let service = start(&write_config(dir.path(), settings, &[instance])).await;
    let control = SimControl::new(&sim);
    control.patch("Tickets", 6, json!({"status": 5})).await;

    let store = service.store().clone();
    let dead = wait_until(WAIT, "a dead letter", || {
        let dead = store.recent_messages("acme", Some(engine::store::MessageState::Dead), 10).unwrap();
        std::future::ready((!dead.is_empty()).then_some(dead))
    })
    .await;
    assert_eq!(dead[0].attempts, 3, "the first attempt and 2 retries");
    assert!(dead[0].last_error.as_deref().unwrap().contains("HTTP 500"), "{:?}", dead[0].last_error);
    assert_eq!(receiver.deliveries().len(), 3);

    // A later change still goes out: a dead letter does not block the queue.
    receiver.answer(Answer::Accept);
    control.patch("Tickets", 8, json!({"status": 5})).await;
    receiver.wait_for(WAIT, "the later update", |events| has(events, "UPDATED", 8)).await;
    assert!(!has(&receiver.events(), "UPDATED", 6));

    assert_eq!(store.replay_dead("acme", chrono::Utc::now()).unwrap().len(), 1);
    receiver.wait_for(WAIT, "the replayed update", |events| has(events, "UPDATED", 6)).await;
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autotask_429_storms_and_500s_lose_nothing() {
    let sim = simulator().await;
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let instance =
        instance_toml("acme", &sim, &receiver.url(), incidents_only(), json!({}), "refresh_interval_seconds = 0.2");
    let service = start(&write_config(dir.path(), FAST_DELIVERY, &[instance])).await;
    let control = SimControl::new(&sim);

    // Every request is refused for a while (the client retries within one poll,
    // and polls that give up start again from the same watermark), then the
    // next ones fail with 500; changes keep coming throughout.
    control.faults(json!({"force429": 3, "retryAfterSeconds": 0})).await;
    for id in 1..=6 {
        control.patch("Tickets", id, json!({"status": 5})).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    receiver.wait_for(WAIT, "the first updates", |events| (1..=6).all(|id| has(events, "UPDATED", id))).await;
    control.faults(json!({"fail500": 3})).await;
    for id in 7..=12 {
        control.patch("Tickets", id, json!({"status": 5})).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    receiver.wait_for(WAIT, "every update", |events| (1..=12).all(|id| has(events, "UPDATED", id))).await;

    let metrics = service.metrics().render();
    assert!(metrics.contains("status=\"429\""), "the storm reached the client: {metrics}");
    assert!(metrics.contains("status=\"500\""), "the errors reached the client: {metrics}");
    assert_eq!(receiver.events().len(), 12, "each change once");
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_plugin_or_a_dead_callback_does_not_hold_up_other_instances() {
    let sim = simulator().await;
    let (good, broken_receiver) = (Receiver::start().await, Receiver::start().await);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    std::fs::write(dir.path().join("plugins/misbehaving.wasm"), support::MISBEHAVING_WASM).unwrap();
    // A port nothing listens on: the callback is dead.
    let dead_url = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/events", listener.local_addr().unwrap())
    };
    let instances = [
        // The misbehaving plugin traps on every batch of a resource named `trap`.
        instance_toml(
            "broken",
            &sim,
            &broken_receiver.url(),
            json!({"trap": incidents_resource()}),
            json!({}),
            "refresh_interval_seconds = 0.2\nplugins = { trap = \"plugins/misbehaving.wasm\" }",
        ),
        instance_toml("dead", &sim, &dead_url, incidents_only(), json!({}), "refresh_interval_seconds = 0.2"),
        instance_toml("good", &sim, &good.url(), incidents_only(), json!({}), "refresh_interval_seconds = 0.2"),
    ];
    let service = start(&write_config(dir.path(), FAST_DELIVERY, &instances)).await;
    let control = SimControl::new(&sim);

    for round in 0..3 {
        control.patch("Tickets", 10 + round, json!({"status": 5})).await;
        let started = std::time::Instant::now();
        good.wait_for(Duration::from_secs(5), "the good instance's event", |events| has(events, "UPDATED", 10 + round))
            .await;
        assert!(started.elapsed() < Duration::from_secs(3), "round {round} took {:?}", started.elapsed());
    }

    let store = service.store().clone();
    let failed = wait_until(WAIT, "failed records", || {
        let failed = store.failed_records("broken").unwrap();
        std::future::ready((failed.len() >= 3).then_some(failed))
    })
    .await;
    assert!(failed.iter().all(|f| f.error.contains("trap")), "{failed:?}");
    assert!(broken_receiver.events().is_empty());
    let pending = store.recent_messages("dead", Some(engine::store::MessageState::Pending), 100).unwrap();
    let oldest = pending.last().expect("the dead callback's messages wait in the outbox");
    assert!(oldest.last_error.as_deref().is_some_and(|e| e.contains("connect")), "{pending:?}");
    // The broken instance's polls still succeed: its watermark moves past the bad records.
    let metrics = service.metrics().render();
    assert!(metrics.contains("autotask_events_polls_total{instance=\"broken\",resource=\"trap\",outcome=\"ok\"}"));
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_without_its_plugin_is_not_polled_and_the_others_are() {
    let sim = simulator().await;
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let resources = json!({"incidents": incidents_resource(), "contacts": resource("/hubs/helpdesk/contacts")});
    let instance = instance_toml("acme", &sim, &receiver.url(), resources, json!({}), "refresh_interval_seconds = 0.2");
    let service = start(&write_config(dir.path(), FAST_DELIVERY, &[instance])).await;
    assert!(dir.path().join("plugins/incidents.wasm").exists(), "the built-in plugin is written on first start");
    assert!(!dir.path().join("plugins/contacts.wasm").exists());

    let control = SimControl::new(&sim);
    control.patch("Contacts", 2, json!({"title": "CTO"})).await;
    control.patch("Tickets", 2, json!({"status": 5})).await;
    receiver.wait_for(WAIT, "the ticket update", |events| has(events, "UPDATED", 2)).await;
    let metrics = service.metrics().render();
    assert!(!metrics.contains("resource=\"contacts\""), "contacts is not polled: {metrics}");
    assert!(receiver.events().iter().all(|e| e["objectType"] == "incidents"));
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudevents_format_delivers_a_batch_of_cloud_events() {
    let sim = simulator().await;
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let format = json!({"event.notification.format": "cloudevents"});
    let instance =
        instance_toml("acme", &sim, &receiver.url(), incidents_only(), format, "refresh_interval_seconds = 0.2");
    let service = start(&write_config(dir.path(), FAST_DELIVERY, &[instance])).await;
    SimControl::new(&sim).patch("Tickets", 5, json!({"status": 8})).await;

    let delivery = wait_until(WAIT, "a delivery", || std::future::ready(receiver.accepted().into_iter().next())).await;
    assert_eq!(delivery.content_type.as_deref(), Some("application/cloudevents-batch+json"));
    let batch = delivery.json();
    let event = &batch[0];
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(event["type"], "com.autotask.incidents.updated");
    assert_eq!(event["subject"], "5");
    assert_eq!(event["source"], "autotask-events/acme/incidents");
    assert_eq!(event["data"]["payload"]["status"], 8);
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics_are_served_on_the_management_listener() {
    let sim = simulator().await;
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let instance =
        instance_toml("acme", &sim, &receiver.url(), incidents_only(), json!({}), "refresh_interval_seconds = 0.2");
    let service = start(&write_config(dir.path(), FAST_DELIVERY, &[instance])).await;
    SimControl::new(&sim).patch("Tickets", 5, json!({"status": 8})).await;
    receiver.wait_for(WAIT, "the update", |events| has(events, "UPDATED", 5)).await;

    let base = format!("http://{}", service.addr());
    let http = reqwest::Client::new();
    let health: Value = http.get(format!("{base}/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
    let metrics = wait_until(WAIT, "delivery metrics", || {
        let text = service.metrics().render();
        std::future::ready(text.contains("outcome=\"delivered\"").then_some(()))
    });
    metrics.await;
    let text = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    for name in [
        "autotask_events_polls_total{instance=\"acme\",resource=\"incidents\",outcome=\"ok\"}",
        "autotask_events_records_read_total{instance=\"acme\",resource=\"incidents\"} 1",
        "autotask_events_events_produced_total{instance=\"acme\",resource=\"incidents\"} 1",
        "autotask_events_deliveries_total{instance=\"acme\",outcome=\"delivered\"} 1",
        "autotask_events_delivery_latency_seconds_count{instance=\"acme\"} 1",
        "autotask_events_plugin_call_seconds_count{plugin=\"incidents.wasm\"}",
        "autotask_events_autotask_requests_total{entity=\"Tickets\",status=\"200\"}",
        "autotask_events_outbox_depth 0",
    ] {
        assert!(text.contains(name), "/metrics lacks `{name}`:\n{text}");
    }
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_records_are_kept_and_mapped_again_when_asked_after_a_plugin_fix() {
    let sim = simulator().await;
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    std::fs::write(dir.path().join("plugins/misbehaving.wasm"), support::MISBEHAVING_WASM).unwrap();
    let instance = |plugin: &str| {
        let extra = format!("refresh_interval_seconds = 0.2\nplugins = {{ trap = \"plugins/{plugin}\" }}");
        instance_toml("acme", &sim, &receiver.url(), json!({"trap": incidents_resource()}), json!({}), &extra)
    };
    let service = start(&write_config(dir.path(), FAST_DELIVERY, &[instance("misbehaving.wasm")])).await;
    let control = SimControl::new(&sim);
    control.patch("Tickets", 12, json!({"status": 5})).await;
    control.patch("Tickets", 13, json!({"status": 5})).await;
    let store = service.store().clone();
    let failed = wait_until(WAIT, "two failed records", || {
        let failed = store.failures("acme", Some("trap"), false).unwrap();
        std::future::ready((failed.len() == 2).then_some(failed))
    })
    .await;
    assert_eq!(
        failed.iter().map(|f| f.record.object_id.clone().unwrap()).collect::<BTreeSet<_>>(),
        BTreeSet::from(["12".to_owned(), "13".to_owned()])
    );
    // More polls read them again (the overlap) without failing them again.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(store.failures("acme", None, false).unwrap().len(), 2);
    service.stop().await;
    drop(store);

    // The fixed plugin, then the replay.
    let service = start(&write_config(dir.path(), FAST_DELIVERY, &[instance("incidents.wasm")])).await;
    assert_eq!(service.store().request_failure_replay("acme").unwrap(), 2);
    let events = receiver.wait_for(WAIT, "both records mapped", |events| events.len() >= 2).await;
    let mut ids: Vec<&str> = events.iter().map(|e| e["objectId"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, ["12", "13"]);
    assert!(events.iter().all(|e| e["objectType"] == "trap" && e["eventType"] == "UPDATED"));
    let store = service.store().clone();
    wait_until(WAIT, "the failures to be gone", || {
        std::future::ready(store.failures("acme", None, false).unwrap().is_empty().then_some(()))
    })
    .await;
    service.stop().await;
}
