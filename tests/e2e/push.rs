//! Push and poll together, end to end: the service registers its own webhook
//! in the simulator, the simulator calls out on every change (signed, with
//! Autotask's retry and drop schedule), and the service turns each callout
//! into the event a poll would have made, once, whichever path sees the
//! change first. The callouts go through a proxy standing for the service's
//! public address, so a test can take it down while the service polls on.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use autotask_sim::{SimConfig, Simulator};
use base64::Engine as _;
use engine::manage::Caller;
use engine::manage::views::PushView;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha1::Sha1;
use support::hook_proxy::HookProxy;
use support::receiver::Receiver;
use support::service::{FAST_DELIVERY, SimControl, incidents_resource, instance_toml, write_config};
use support::wait_until;

use crate::start;

const WAIT: Duration = Duration::from_secs(30);

async fn simulator(config: SimConfig) -> Simulator {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Simulator::start(SimConfig { listen: "127.0.0.1:0".parse().unwrap(), tickets: 20, contacts: 10, ..config })
        .await
        .expect("the simulator starts")
}

fn admin() -> Caller {
    Caller { user: "admin".into(), admin: true, element_token: None }
}

/// The `[server]` line and `[delivery]` table of a service whose public address is `proxy`.
fn settings(proxy: &HookProxy) -> String {
    format!("public_url = \"{}\"\n\n{FAST_DELIVERY}", proxy.url())
}

/// An instance of `incidents` with push on, polled every `poll_seconds`
/// (and as often while push is active: `push_poll_seconds`).
fn pushed_instance(
    id: &str,
    sim: &Simulator,
    receiver: &Receiver,
    poll_seconds: f64,
    push_poll_seconds: f64,
) -> String {
    instance_toml(
        id,
        sim,
        &receiver.url(),
        json!({"incidents": every_deletion(incidents_resource())}),
        json!({"event.push.enabled": true}),
        &format!("refresh_interval_seconds = {poll_seconds}\npush_refresh_interval_seconds = {push_poll_seconds}"),
    )
}

/// `resource` with its deletion log read on every poll.
fn every_deletion(mut resource: Value) -> Value {
    resource["deletionPollInterval"] = json!(0);
    resource
}

/// The push of instance `id`'s incidents, as the API shows it.
async fn push_view(service: &autotask_events::app::RunningService, id: &str) -> PushView {
    let resources = service.management().resources(id, &admin()).await.expect("the instance is known");
    resources.resources[0].push.clone().expect("push is on")
}

async fn wait_active(service: &autotask_events::app::RunningService, id: &str) -> PushView {
    wait_until(WAIT, "the webhook is registered and active", || async {
        let view = push_view(service, id).await;
        view.active.then_some(view)
    })
    .await
}

/// One instance, `acme`, pushing its incidents through a proxy, with its webhook active.
struct Acme {
    sim: Simulator,
    _proxy: HookProxy,
    receiver: Receiver,
    dir: tempfile::TempDir,
    service: autotask_events::app::RunningService,
}

async fn acme(poll_seconds: f64, push_poll_seconds: f64) -> Acme {
    let sim = simulator(SimConfig::default()).await;
    let proxy = HookProxy::start().await;
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let instance = pushed_instance("acme", &sim, &receiver, poll_seconds, push_poll_seconds);
    let service = start(&write_config(dir.path(), &settings(&proxy), &[instance])).await;
    proxy.forward_to(service.addr());
    wait_active(&service, "acme").await;
    Acme { sim, _proxy: proxy, receiver, dir, service }
}

/// The simulator's webhooks of `entity` (e.g. `TicketWebhooks`), through its REST API.
async fn sim_webhooks(sim: &Simulator, entity: &str) -> Vec<Value> {
    let config = sim.config();
    let search = json!({"filter": [{"op": "gte", "field": "id", "value": 0}]}).to_string();
    let response = reqwest::Client::new()
        .get(format!("{}/atservicesrest/v1.0/{entity}/query", sim.url()))
        .query(&[("search", search)])
        .header("UserName", &config.user)
        .header("Secret", &config.secret)
        .header("ApiIntegrationCode", &config.integration_code)
        .send()
        .await
        .expect("the simulator answers");
    let body: Value = response.json().await.expect("a JSON page");
    body["items"].as_array().cloned().unwrap_or_default()
}

/// `(eventType, objectId)` of each event, in arrival order.
fn kinds(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| (e["eventType"].as_str().unwrap().to_owned(), e["objectId"].as_str().unwrap().to_owned()))
        .collect()
}

/// How many events each `(eventType, objectId, eventDate)` got.
fn counted(events: &[Value]) -> BTreeMap<(String, String, String), usize> {
    let mut counts = BTreeMap::new();
    for event in events {
        let key = (
            event["eventType"].as_str().unwrap_or_default().to_owned(),
            event["objectId"].as_str().unwrap_or_default().to_owned(),
            event["eventDate"].as_str().unwrap_or_default().to_owned(),
        );
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_changes_arrive_in_seconds_once_and_shaped_as_polled_ones() {
    let sim = simulator(SimConfig::default()).await;
    let proxy = HookProxy::start().await;
    let (pushed, both, polled) = (Receiver::start().await, Receiver::start().await, Receiver::start().await);
    let dir = tempfile::tempdir().unwrap();
    let instances = [
        // Push only, in effect: the poll after the first is an hour away.
        pushed_instance("pushed", &sim, &pushed, 3600.0, 3600.0),
        // Push and a poll every second: both see every change.
        pushed_instance("both", &sim, &both, 1.0, 1.0),
        // Poll only, for the shape of a polled event.
        instance_toml(
            "polled",
            &sim,
            &polled.url(),
            json!({"incidents": every_deletion(incidents_resource())}),
            json!({}),
            "refresh_interval_seconds = 0.5",
        ),
    ];
    let service = start(&write_config(dir.path(), &settings(&proxy), &instances)).await;
    proxy.forward_to(service.addr());
    wait_active(&service, "pushed").await;
    wait_active(&service, "both").await;
    // One webhook each, subscribed, active, calling out through the public address.
    let webhooks = sim_webhooks(&sim, "TicketWebhooks").await;
    assert_eq!(webhooks.len(), 2, "{webhooks:?}");
    for webhook in &webhooks {
        assert_eq!(
            (webhook["isActive"].as_bool(), webhook["isReady"].as_bool()),
            (Some(true), Some(true)),
            "{webhook}"
        );
        assert!(webhook["webhookUrl"].as_str().unwrap().starts_with(&format!("{}/hooks/autotask/", proxy.url())));
        assert!(webhook["secretKey"].is_null(), "the secret is never read back");
    }

    let control = SimControl::new(&sim);
    let changed_at = Instant::now();
    let ticket = control.create("Tickets", json!({"title": "Pushed printer fire", "status": 1})).await;
    let id = ticket.to_string();
    let about = |events: &[Value]| events.iter().filter(|e| e["objectId"] == id.as_str()).count();
    pushed.wait_for(WAIT, "the pushed CREATED", |events| about(events) == 1).await;
    let created_after = changed_at.elapsed();
    assert!(created_after < Duration::from_secs(5), "pushed within seconds, not at the next poll: {created_after:?}");
    // Each change waits for the poll-only instance too, so it has one event per change to compare.
    polled.wait_for(WAIT, "the polled CREATED", |events| about(events) == 1).await;
    control.patch("Tickets", ticket, json!({"status": 8})).await;
    pushed.wait_for(WAIT, "the pushed UPDATED", |events| about(events) == 2).await;
    polled.wait_for(WAIT, "the polled UPDATED", |events| about(events) == 2).await;
    control.delete("Tickets", ticket).await;
    pushed.wait_for(WAIT, "the pushed DELETED", |events| about(events) == 3).await;
    polled.wait_for(WAIT, "the polled DELETED", |events| about(events) == 3).await;
    let expected = vec![
        ("CREATED".to_owned(), id.clone()),
        ("UPDATED".to_owned(), id.clone()),
        ("DELETED".to_owned(), id.clone()),
    ];
    both.wait_for(WAIT, "the DELETED of push and poll", |events| about(events) == 3).await;
    // The poll of `both` reads every change again (and its deletion log every
    // poll) within these seconds: it must add nothing.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(kinds(&pushed.events()), expected, "each change once, by push");
    assert_eq!(kinds(&both.events()), expected, "each change once, whichever of push and poll saw it first");
    assert_eq!(kinds(&polled.events()), expected);

    // A pushed change is the event a poll makes of it: same type, object, date;
    // a pushed record is the full record a poll reads.
    let shape = |event: &Value| {
        json!([event["eventType"], event["objectId"], event["objectType"], event["eventDate"], event["hubKey"]])
    };
    let (pushed_events, polled_events) = (pushed.events(), polled.events());
    for (pushed_event, polled_event) in pushed_events.iter().zip(&polled_events) {
        assert_eq!(shape(pushed_event), shape(polled_event));
    }
    let raw = |receiver: &Receiver, message: usize| {
        receiver.accepted()[message].json()["message"]["raw"]["incidents"][0].clone()
    };
    for message in 0..2 {
        assert_eq!(raw(&pushed, message), raw(&polled, message), "message {message}");
    }
    assert_eq!(raw(&pushed, 0)["title"], "Pushed printer fire");

    let view = push_view(&service, "pushed").await;
    assert!(view.callouts_verified >= 3 && view.callouts_rejected == 0, "{view:?}");
    assert_eq!(view.push_gap, 0, "{view:?}");
    assert!(view.last_callout.is_some() && view.webhook_id.is_some(), "{view:?}");
    assert_eq!(view.poll_interval_seconds, 3600.0);
    let metrics = service.metrics().render();
    assert!(metrics.contains(r#"autotask_events_push_active{instance="pushed",resource="incidents"} 1"#), "{metrics}");
    assert!(
        metrics.contains(
            r#"autotask_events_push_callouts_total{instance="pushed",resource="incidents",outcome="verified"}"#
        ),
        "{metrics}"
    );
    service.stop().await;
}

fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha1={}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_unsigned_and_replayed_callouts_change_nothing() {
    let Acme { sim, _proxy, receiver, dir, service } = acme(3600.0, 3600.0).await;
    // The webhook's secret and GUID, as the service keeps them.
    let state = rusqlite::Connection::open(dir.path().join("data/state.sqlite")).unwrap();
    let (secret, guid): (String, String) =
        state.query_row("SELECT secret, guid FROM push_webhooks", [], |row| Ok((row.get(0)?, row.get(1)?))).unwrap();

    let control = SimControl::new(&sim);
    let ticket = control.create("Tickets", json!({"title": "Real change"})).await;
    receiver.wait_for(WAIT, "the real change", |events| events.len() == 1).await;

    let hook = format!("{}/hooks/autotask/acme/incidents", service.url());
    let http = reqwest::Client::new();
    let post = |body: Vec<u8>, signature: Option<String>| {
        let mut request = http.post(&hook).header("Content-Type", "application/json").body(body);
        if let Some(signature) = signature {
            request = request.header("X-Hook-Signature", signature);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let callout = |sequence: u64| {
        serde_json::to_vec(&json!({
            "Action": "Update", "Guid": guid, "EntityType": "Ticket", "Id": ticket,
            "Fields": {"status": 5}, "EventTime": "2030-01-01T00:00:00Z", "SequenceNumber": sequence, "PersonID": 1
        }))
        .unwrap()
    };
    let before = push_view(&service, "acme").await;
    assert_eq!(post(callout(9001), None).await, 401, "unsigned");
    assert_eq!(post(callout(9002), Some(signature("not-the-secret", &callout(9002)))).await, 401, "forged");
    assert_eq!(post(callout(9003), Some(signature(&secret, &callout(9999)))).await, 401, "signed for another body");
    let other =
        serde_json::to_vec(&json!({"Action": "Update", "Guid": "someone-else", "EntityType": "Ticket", "Id": ticket}))
            .unwrap();
    assert_eq!(post(other.clone(), Some(signature(&secret, &other))).await, 401, "another webhook's");
    let unknown = format!("{}/hooks/autotask/acme/nope", service.url());
    assert_eq!(http.post(unknown).body("{}").send().await.unwrap().status().as_u16(), 404);
    let after = push_view(&service, "acme").await;
    assert_eq!(after.callouts_rejected - before.callouts_rejected, 4, "{after:?}");
    assert_eq!(after.callouts_verified, before.callouts_verified, "nothing refused is taken");

    // A genuine callout replayed: taken (2xx) each time, mapped to nothing new,
    // since the record it points at was already delivered as it is.
    let genuine = callout(9100);
    assert_eq!(post(genuine.clone(), Some(signature(&secret, &genuine))).await, 200);
    assert_eq!(post(genuine.clone(), Some(signature(&secret, &genuine))).await, 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.events().len(), 1, "no second event: {:?}", kinds(&receiver.events()));
    let pending: i64 = state.query_row("SELECT COUNT(*) FROM push_callouts", [], |row| row.get(0)).unwrap();
    assert_eq!(pending, 0, "the replayed callouts were mapped and removed");
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_is_registered_once_reactivated_when_turned_off_and_deleted_with_its_instance() {
    let sim = simulator(SimConfig::default()).await;
    let proxy = HookProxy::start().await;
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let instance = pushed_instance("acme", &sim, &receiver, 3600.0, 3600.0);
    let path = write_config(dir.path(), &settings(&proxy), &[instance]);
    let service = start(&path).await;
    proxy.forward_to(service.addr());
    let first = wait_active(&service, "acme").await;
    service.stop().await;

    // A restart finds its own webhook: still one, the same.
    let service = start(&path).await;
    proxy.forward_to(service.addr());
    let again = wait_active(&service, "acme").await;
    assert_eq!(again.webhook_id, first.webhook_id);
    assert_eq!(sim_webhooks(&sim, "TicketWebhooks").await.len(), 1);

    // Turned off in Autotask (as after 25 failed callouts) and the notice sent:
    // reactivated at once, and the next change is pushed.
    let config = sim.config();
    let id = first.webhook_id.unwrap();
    let patched = reqwest::Client::new()
        .patch(format!("{}/atservicesrest/v1.0/TicketWebhooks", sim.url()))
        .header("UserName", &config.user)
        .header("Secret", &config.secret)
        .header("ApiIntegrationCode", &config.integration_code)
        .json(&json!({"id": id, "IsActive": false}))
        .send()
        .await
        .unwrap();
    assert!(patched.status().is_success(), "{}", patched.status());
    let notice = reqwest::Client::new()
        .post(format!("{}/deactivated", first.webhook_url.clone().unwrap()))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(notice.status().as_u16(), 200);
    wait_until(WAIT, "the webhook reactivated", || async {
        let webhooks = sim_webhooks(&sim, "TicketWebhooks").await;
        (webhooks[0]["isActive"] == true).then_some(())
    })
    .await;
    assert_eq!(push_view(&service, "acme").await.reactivations, 1);
    let ticket = SimControl::new(&sim).create("Tickets", json!({"title": "After reactivation"})).await;
    receiver
        .wait_for(WAIT, "the pushed change", |events| {
            events.iter().any(|e| e["objectId"] == ticket.to_string().as_str())
        })
        .await;

    // The instance removed from the configuration: its webhook is deleted.
    write_config(dir.path(), &settings(&proxy), &[]);
    wait_until(WAIT, "the webhook deleted", || async {
        sim_webhooks(&sim, "TicketWebhooks").await.is_empty().then_some(())
    })
    .await;
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_without_a_public_url_polls_as_usual_and_says_why() {
    let sim = simulator(SimConfig::default()).await;
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let instance = pushed_instance("acme", &sim, &receiver, 0.5, 3600.0);
    let service = start(&write_config(dir.path(), FAST_DELIVERY, &[instance])).await;
    let view = wait_until(WAIT, "the first check", || async {
        let view = push_view(&service, "acme").await;
        view.last_check.is_some().then_some(view)
    })
    .await;
    assert!(!view.active);
    assert!(view.problem.as_deref().unwrap_or_default().contains("public_url"), "{view:?}");
    assert_eq!(view.poll_interval_seconds, 0.5, "polled at the usual interval");
    let ticket = SimControl::new(&sim).create("Tickets", json!({"title": "Polled"})).await;
    receiver
        .wait_for(WAIT, "the polled change", |events| {
            events.iter().any(|e| e["objectId"] == ticket.to_string().as_str())
        })
        .await;
    assert!(sim_webhooks(&sim, "TicketWebhooks").await.is_empty());
    service.stop().await;
}

/// The issue's completeness test: Autotask's callouts cannot reach the service
/// for three minutes (it drops them after its 2 minutes of retries and turns
/// the webhook off after 25 failures) while changes go on; once the path is
/// back, every change has arrived exactly once, by push or by the poll, and
/// the push-gap count is what the poll recovered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_while_callouts_fail_for_three_minutes_all_arrive_once() {
    // Polled every 20 s while push is off, every 30 s while it is active.
    let Acme { sim, _proxy: proxy, receiver, service, dir: _dir } = acme(20.0, 30.0).await;
    let control = SimControl::new(&sim);

    // One change every 2 s: before, during and after the outage.
    let mut tickets = Vec::new();
    let change = |n: usize| {
        let control = &control;
        async move { control.create("Tickets", json!({"title": format!("change {n}")})).await }
    };
    for n in 0..5 {
        tickets.push(change(n).await);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    proxy.set_down(true);
    let outage = Instant::now();
    let mut n = 5;
    while outage.elapsed() < Duration::from_secs(180) {
        tickets.push(change(n).await);
        n += 1;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    proxy.set_down(false);
    for _ in 0..5 {
        tickets.push(change(n).await);
        n += 1;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let (_, refused) = proxy.counts();
    assert!(refused > 25, "the callouts failed while the path was down: {refused}");
    let stats = sim.stats();
    assert!(stats.callouts.dropped > 0, "Autotask dropped callouts: {:?}", stats.callouts);

    let wanted: Vec<String> = tickets.iter().map(i64::to_string).collect();
    let events = receiver
        .wait_for(Duration::from_secs(120), "every change", |events| {
            wanted.iter().all(|id| events.iter().any(|e| e["objectId"] == id.as_str()))
        })
        .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let events = if receiver.events().len() > events.len() { receiver.events() } else { events };
    let counts = counted(&events);
    let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "delivered more than once: {repeated:?}");
    assert_eq!(events.len(), tickets.len(), "one event per change: {:?}", kinds(&events));
    assert!(events.iter().all(|e| e["eventType"] == "CREATED"), "{:?}", kinds(&events));

    let view = push_view(&service, "acme").await;
    let callouts = sim.stats().callouts;
    eprintln!(
        "completeness: {} changes, {} delivered by push, {} by the poll (push gap); {} reactivations; \
         the simulator made {} callout attempts, dropped {} callouts, deactivated the webhook {} times",
        tickets.len(),
        view.changes_pushed,
        view.push_gap,
        view.reactivations,
        callouts.sent,
        callouts.dropped,
        callouts.deactivations
    );
    assert!(view.push_gap > 0, "the poll recovered what push dropped: {view:?}");
    assert!(view.changes_pushed > 0, "{view:?}");
    assert!(view.reactivations >= 1, "the webhook Autotask turned off was reactivated: {view:?}");
    assert!(view.active, "{view:?}");
    // Every change came by exactly one path: what push did not deliver, the poll found.
    assert_eq!((view.changes_pushed + view.push_gap) as usize, tickets.len(), "{view:?}");
    service.stop().await;
}
