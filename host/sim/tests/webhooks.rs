//! Webhooks over real HTTP on loopback: registered through the API as an
//! Autotask client registers them, called out to a real receiver when the
//! control API changes records.

mod common;

use common::{api, authed, client, json_of};

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use autotask_sim::{CalloutStats, SimConfig, Simulator, WebhookTiming};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// Callout timings short enough for tests.
fn quick() -> WebhookTiming {
    WebhookTiming {
        timeout: Duration::from_secs(2),
        retry_after: Duration::from_millis(150),
        attempts: 5,
        window: Duration::from_secs(5),
        deactivate_after: 25,
    }
}

async fn simulator(webhooks: WebhookTiming) -> Simulator {
    let config =
        SimConfig { tickets: 10, epoch: Some(autotask_sim::sample::sample_epoch()), webhooks, ..SimConfig::default() };
    Simulator::start(config).await.expect("the simulator starts")
}

fn control(sim: &Simulator, path: &str) -> String {
    format!("{}/sim/{path}", sim.url())
}

async fn get(http: &reqwest::Client, url: String) -> (u16, Value) {
    json_of(authed(http.get(url)).send().await.unwrap()).await
}

async fn post(http: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    json_of(authed(http.post(url)).json(&body).send().await.unwrap()).await
}

async fn patch(http: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    json_of(authed(http.patch(url)).json(&body).send().await.unwrap()).await
}

/// A request a receiver got.
#[derive(Debug)]
struct Hit {
    path: String,
    headers: HeaderMap,
    body: Bytes,
    at: Instant,
}

impl Hit {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("callouts are JSON")
    }
}

/// A webhook receiver on loopback: answers the statuses given in turn, then 200.
struct Receiver {
    url: String,
    hits: mpsc::UnboundedReceiver<Hit>,
}

async fn receiver(statuses: &[u16]) -> Receiver {
    let statuses: Arc<Mutex<VecDeque<u16>>> = Arc::new(Mutex::new(statuses.iter().copied().collect()));
    let (sender, hits) = mpsc::unbounded_channel();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
        let statuses = statuses.clone();
        let sender = sender.clone();
        async move {
            let _ = sender.send(Hit { path: uri.path().to_owned(), headers, body, at: Instant::now() });
            let status = statuses.lock().unwrap().pop_front().unwrap_or(200);
            StatusCode::from_u16(status).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { url, hits }
}

impl Receiver {
    async fn next(&mut self) -> Hit {
        tokio::time::timeout(Duration::from_secs(5), self.hits.recv()).await.expect("a callout in time").unwrap()
    }

    async fn assert_quiet(&mut self, wait: Duration) {
        if let Ok(Some(hit)) = tokio::time::timeout(wait, self.hits.recv()).await {
            panic!("no callout expected, got {}", String::from_utf8_lossy(&hit.body));
        }
    }
}

/// An address nothing listens on.
async fn nobody_listening() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// The field ids a webhook entity's `fieldID` (or `udfFieldID`) picklist lists, by field name.
async fn field_ids(http: &reqwest::Client, sim: &Simulator, entity: &str, field: &str) -> HashMap<String, i64> {
    let (status, fields) = get(http, api(sim, &format!("{entity}/entityInformation/fields"))).await;
    assert_eq!(status, 200, "{fields}");
    let field = fields["fields"].as_array().unwrap().iter().find(|f| f["name"] == field).unwrap();
    assert_eq!(field["isPickList"], true);
    field["picklistValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["label"].as_str().unwrap().to_owned(), v["value"].as_str().unwrap().parse().unwrap()))
        .collect()
}

/// Registers a Ticket webhook calling `url`, subscribed to `subscribed` and always showing `shown`.
async fn ticket_webhook(
    http: &reqwest::Client,
    sim: &Simulator,
    settings: Value,
    subscribed: &[&str],
    shown: &[&str],
) -> i64 {
    let (status, created) = post(http, api(sim, "TicketWebhooks"), settings).await;
    assert_eq!(status, 200, "{created}");
    let id = created["itemId"].as_i64().unwrap();
    let ids = field_ids(http, sim, "TicketWebhookFields", "fieldID").await;
    for name in subscribed.iter().chain(shown) {
        let body = json!({"FieldID": ids[*name], "IsSubscribedField": subscribed.contains(name), "IsDisplayAlwaysField": shown.contains(name)});
        let (status, answer) = post(http, api(sim, &format!("TicketWebhooks/{id}/Fields")), body).await;
        assert_eq!(status, 200, "{answer}");
    }
    id
}

fn settings(url: &str, deactivation_url: &str) -> Value {
    json!({
        "IsActive": true, "Name": "tickets", "WebhookUrl": url, "DeactivationUrl": deactivation_url,
        "IsSubscribedToCreateEvents": true, "IsSubscribedToUpdateEvents": true, "IsSubscribedToDeleteEvents": true,
    })
}

/// HMAC-SHA1 of the body keyed with the secret, base64: computed here independently of the simulator.
fn expected_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha1={}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

async fn change(http: &reqwest::Client, url: String, fields: Value) -> Value {
    let response = http.patch(url).json(&fields).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn log_of(http: &reqwest::Client, sim: &Simulator, entries: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log: Vec<Value> = http.get(control(sim, "webhooks/log")).send().await.unwrap().json().await.unwrap();
        if log.len() >= entries || Instant::now() > deadline {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The callout counts once `done` holds of them (or after 5 s): the simulator
/// counts an answer just after the receiver sends it.
async fn callouts_once(sim: &Simulator, done: impl Fn(&CalloutStats) -> bool) -> CalloutStats {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stats = sim.stats().callouts;
        if done(&stats) || Instant::now() > deadline {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn webhooks_are_created_read_queried_and_never_show_their_secret() {
    let sim = simulator(quick()).await;
    let http = client();
    let body = json!({
        "isActive": true, "NAME": "Ticket feed", "webhookUrl": "https://example.com/hook",
        "DeactivationUrl": "https://example.com/off", "SecretKey": "s3cret", "IsSubscribedToUpdateEvents": true,
        "NotificationEmailAddress": "ops@example.com",
    });
    let (status, created) = post(&http, api(&sim, "ticketwebhooks"), body).await;
    assert_eq!((status, created.clone()), (200, json!({"itemId": 1})));
    let (_, item) = get(&http, api(&sim, "TicketWebhooks/1")).await;
    let item = &item["item"];
    assert_eq!(item["name"], "Ticket feed");
    assert_eq!(item["webhookUrl"], "https://example.com/hook");
    assert_eq!(item["deactivationUrl"], "https://example.com/off");
    assert_eq!((item["isActive"].clone(), item["isReady"].clone()), (json!(true), json!(false)));
    assert_eq!(item["isSubscribedToUpdateEvents"], true);
    assert_eq!(item["isSubscribedToCreateEvents"], false);
    assert_eq!(item["notificationEmailAddress"], "ops@example.com");
    assert_eq!(item["ownerResourceID"], 29_682_885);
    assert_eq!(item["secretKey"], Value::Null, "the secret key is write-only");
    let guid = item["webhookGUID"].as_str().unwrap();
    assert_eq!(guid.split('-').map(str::len).collect::<Vec<_>>(), [8, 4, 4, 4, 12], "{guid}");

    // A subscribed field makes it ready.
    let ids = field_ids(&http, &sim, "TicketWebhookFields", "fieldID").await;
    let (status, field) =
        post(&http, api(&sim, "TicketWebhooks/1/Fields"), json!({"FieldID": ids["status"], "IsSubscribedField": true}))
            .await;
    assert_eq!(status, 200, "{field}");
    let field_id = field["itemId"].as_i64().unwrap();
    let (_, fields) = get(&http, api(&sim, "TicketWebhooks/1/fields")).await;
    assert_eq!(
        fields["items"],
        json!([{"id": field_id, "webhookID": 1, "fieldID": ids["status"], "isSubscribedField": true, "isDisplayAlwaysField": false}])
    );
    assert_eq!(fields["pageDetails"]["count"], 1);
    let (_, item) = get(&http, api(&sim, "TicketWebhooks/1")).await;
    assert_eq!(item["item"]["isReady"], true);

    // Found again by its URL, by POST and GET queries; the secret stays hidden.
    post(&http, api(&sim, "TicketWebhooks"), settings("https://example.com/other", "https://example.com/off")).await;
    let query = json!({"filter": [{"op": "eq", "field": "webhookUrl", "value": "https://example.com/hook"}]});
    let (status, page) = post(&http, api(&sim, "TicketWebhooks/query"), query.clone()).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["id"], 1);
    assert_eq!(page["items"][0]["isReady"], true);
    assert_eq!(page["items"][0]["secretKey"], Value::Null);
    let search = json!({"filter": [{"op": "beginsWith", "field": "name", "value": "ticket"}]}).to_string();
    let (_, page) = json_of(
        authed(http.get(api(&sim, "TicketWebhooks/query"))).query(&[("search", &search)]).send().await.unwrap(),
    )
    .await;
    let ids: Vec<&Value> = page["items"].as_array().unwrap().iter().map(|w| &w["id"]).collect();
    assert_eq!(ids, [&json!(1), &json!(2)]);
    let (_, count) = post(&http, api(&sim, "TicketWebhooks/query/count"), query).await;
    assert_eq!(count, json!({"queryCount": 1}));
    let (_, others) =
        post(&http, api(&sim, "CompanyWebhooks/query/count"), json!({"filter": [{"op": "exist", "field": "id"}]}))
            .await;
    assert_eq!(others, json!({"queryCount": 0}), "each webhook entity has its own webhooks");

    // Counted like every other request.
    let stats = sim.stats();
    for label in [
        "POST TicketWebhooks",
        "GET TicketWebhooks/{id}",
        "POST TicketWebhooks/{id}/Fields",
        "POST TicketWebhooks/query",
    ] {
        assert!(stats.for_endpoint(label) >= 1, "{label} in {:?}", stats.by_endpoint.keys());
    }
    assert!(stats.max_in_flight.contains_key("TicketWebhooks"));
}

#[tokio::test]
async fn field_ids_are_discovered_from_the_webhook_field_entities() {
    let sim = simulator(quick()).await;
    let http = client();
    let ids = field_ids(&http, &sim, "TicketWebhookFields", "fieldID").await;
    assert!(ids.contains_key("status") && ids.contains_key("title") && ids.contains_key("assignedResourceID"));
    for stamp in ["id", "createDate", "lastActivityDate", "lastTrackedModificationDateTime"] {
        assert!(!ids.contains_key(stamp), "{stamp} cannot be subscribed to");
    }
    let (_, fields) = get(&http, api(&sim, "ticketwebhookfields/entityInformation/fields")).await;
    let field_id = fields["fields"].as_array().unwrap().iter().find(|f| f["name"] == "fieldID").unwrap();
    let first = &field_id["picklistValues"][0];
    assert_eq!(first["isDefaultValue"], false);
    assert_eq!((first["isActive"].clone(), first["isSystem"].clone()), (json!(true), json!(true)));
    assert_eq!(first["parentValue"], "");
    assert!(first["sortOrder"].is_number());

    // The target entity marks exactly those fields as webhook fields.
    let (_, fields) = get(&http, api(&sim, "Tickets/entityInformation/fields")).await;
    let supported: HashMap<String, i64> = fields["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["isSupportedWebhookField"] == true)
        .map(|f| (f["name"].as_str().unwrap().to_owned(), 0))
        .collect();
    let mut supported: Vec<&String> = supported.keys().collect();
    let mut listed: Vec<&String> = ids.keys().collect();
    supported.sort();
    listed.sort();
    assert_eq!(supported, listed);

    let udfs = field_ids(&http, &sim, "TicketWebhookUdfFields", "udfFieldID").await;
    assert!(udfs.contains_key("Region"), "{udfs:?}");
    assert!(field_ids(&http, &sim, "TicketNoteWebhookUdfFields", "udfFieldID").await.is_empty());
    assert!(field_ids(&http, &sim, "ConfigurationItemWebhookFields", "fieldID").await.contains_key("serialNumber"));
    let companies = field_ids(&http, &sim, "CompanyWebhookFields", "fieldID").await;
    assert!(companies.contains_key("phone") && !companies.contains_key("lastTrackedModifiedDateTime"));
}

#[tokio::test]
async fn a_change_to_a_subscribed_field_calls_out_once_signed() {
    let sim = simulator(quick()).await;
    let http = client();
    let mut hook = receiver(&[]).await;
    let mut settings = settings(&hook.url, "https://example.com/off");
    settings["SecretKey"] = json!("s3cret-key");
    let id = ticket_webhook(&http, &sim, settings, &["status"], &["title"]).await;
    let guid = get(&http, api(&sim, &format!("TicketWebhooks/{id}"))).await.1["item"]["webhookGUID"].clone();

    let before = sim.with_store(|store| store.table(autotask_sim::Entity::Tickets)[&3].clone());
    let status = if before["status"] == 8 { 10 } else { 8 };
    let after = change(&http, control(&sim, "Tickets/3"), json!({"status": status})).await;
    let hit = hook.next().await;
    assert_eq!(hit.path, "/hook");
    assert_eq!(hit.headers["content-type"], "application/json");
    let signature = hit.headers["x-hook-signature"].to_str().unwrap();
    assert_eq!(signature, expected_signature("s3cret-key", &hit.body), "the signature covers the exact body");
    let body = hit.json();
    assert_eq!(
        body,
        json!({
            "Action": "Update", "Guid": guid, "EntityType": "Ticket", "Id": 3,
            "Fields": {"status": status, "title": before["title"]},
            "EventTime": after["lastActivityDate"], "SequenceNumber": 1, "PersonID": 29_682_885,
        })
    );
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["Action", "Guid", "EntityType", "Id", "Fields", "EventTime", "SequenceNumber", "PersonID"]);
    assert!(body["EventTime"].as_str().unwrap().ends_with('Z'));

    // Unsubscribed fields, or a subscribed one set to the value it had, call out to nobody.
    change(&http, control(&sim, "Tickets/3"), json!({"priority": 4, "title": "Another title"})).await;
    change(&http, control(&sim, "Tickets/3"), json!({"status": status})).await;
    hook.assert_quiet(Duration::from_millis(400)).await;

    // The next one carries the next sequence number; other tickets are heard too.
    let current = sim.with_store(|store| store.table(autotask_sim::Entity::Tickets)[&4]["status"].clone());
    let status = if current == 1 { 5 } else { 1 };
    change(&http, control(&sim, "Tickets/4"), json!({"status": status})).await;
    let body = hook.next().await.json();
    assert_eq!((body["Id"].clone(), body["SequenceNumber"].clone()), (json!(4), json!(2)));
    let stats = callouts_once(&sim, |stats| stats.delivered == 2).await;
    assert_eq!((stats.sent, stats.delivered, stats.failed_attempts, stats.dropped), (2, 2, 0, 0));
}

#[tokio::test]
async fn creates_and_deletes_call_out_with_their_own_fields() {
    let sim = simulator(quick()).await;
    let http = client();
    let mut hook = receiver(&[]).await;
    ticket_webhook(
        &http,
        &sim,
        settings(&hook.url, "https://example.com/off"),
        &["status", "priority"],
        &["ticketNumber"],
    )
    .await;

    let created: Value = http
        .post(control(&sim, "Tickets?person=4711"))
        .json(&json!({"title": "Printer on fire", "status": 1, "priority": 4}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hit = hook.next().await;
    assert!(!hit.headers.contains_key("x-hook-signature"), "no secret, no signature");
    let body = hit.json();
    assert_eq!(body["Action"], "Create");
    assert_eq!(body["Id"], created["id"]);
    assert_eq!(body["PersonID"], 4711);
    assert_eq!(body["Fields"], json!({"ticketNumber": created["ticketNumber"], "status": 1, "priority": 4}));
    assert_eq!(body["EventTime"], created["lastActivityDate"]);
    assert_eq!(body["EventTime"], created["createDate"]);

    let id = created["id"].as_i64().unwrap();
    let deleted = http.delete(control(&sim, &format!("Tickets/{id}?person=99"))).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    let body = hook.next().await.json();
    assert_eq!(body["Action"], "Delete");
    assert_eq!(body["Id"], id);
    assert_eq!(body["PersonID"], 99);
    assert_eq!(body["Fields"], json!({"ticketNumber": created["ticketNumber"]}), "only the display-always fields");
    assert_eq!(body["SequenceNumber"], 2);
    let log = sim.with_store(|store| {
        let logs = store.table(autotask_sim::Entity::DeletedTicketLogs);
        logs.values().find(|row| row["ticketID"] == id).cloned().unwrap()
    });
    assert_eq!(body["EventTime"], log["deletedDateTime"]);
    assert_eq!(log["deletedByResourceID"], 99);

    // Other entities' changes are not heard by Ticket webhooks.
    http.post(control(&sim, "Companies")).json(&json!({})).send().await.unwrap();
    hook.assert_quiet(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn changes_by_an_excluded_resource_are_not_called_out() {
    let sim = simulator(quick()).await;
    let http = client();
    let mut hook = receiver(&[]).await;
    let id = ticket_webhook(&http, &sim, settings(&hook.url, "https://example.com/off"), &["title"], &[]).await;
    let (status, excluded) =
        post(&http, api(&sim, &format!("TicketWebhooks/{id}/ExcludedResources")), json!({"ResourceID": 4242})).await;
    assert_eq!(status, 200, "{excluded}");
    let (_, list) = get(&http, api(&sim, &format!("TicketWebhooks/{id}/excludedresources"))).await;
    assert_eq!(list["items"], json!([{"id": excluded["itemId"], "webhookID": id, "resourceID": 4242}]));

    change(&http, control(&sim, "Tickets/2?person=4242"), json!({"title": "by the excluded one"})).await;
    hook.assert_quiet(Duration::from_millis(300)).await;
    change(&http, control(&sim, "Tickets/2?person=1"), json!({"title": "by someone else"})).await;
    let body = hook.next().await.json();
    assert_eq!((body["PersonID"].clone(), body["Fields"]["title"].clone()), (json!(1), json!("by someone else")));

    // Once the exclusion is deleted, that resource's changes are heard again.
    let child = excluded["itemId"].as_i64().unwrap();
    let url = api(&sim, &format!("TicketWebhooks/{id}/ExcludedResources/{child}"));
    assert_eq!(authed(http.delete(url.clone())).send().await.unwrap().status(), 200);
    assert_eq!(authed(http.delete(url)).send().await.unwrap().status(), 404);
    change(&http, control(&sim, "Tickets/2?person=4242"), json!({"title": "heard"})).await;
    assert_eq!(hook.next().await.json()["PersonID"], 4242);
}

#[tokio::test]
async fn callouts_of_one_webhook_arrive_in_change_order() {
    let sim = simulator(quick()).await;
    let http = client();
    let mut hook = receiver(&[]).await;
    ticket_webhook(&http, &sim, settings(&hook.url, "https://example.com/off"), &["title"], &[]).await;
    for n in 1..=12 {
        change(&http, control(&sim, &format!("Tickets/{}", n % 3 + 1)), json!({"title": format!("change {n}")})).await;
    }
    for n in 1..=12 {
        let body = hook.next().await.json();
        assert_eq!(
            (body["SequenceNumber"].clone(), body["Fields"]["title"].clone()),
            (json!(n), json!(format!("change {n}")))
        );
    }
}

#[tokio::test]
async fn a_failed_callout_is_retried_without_holding_back_later_ones() {
    let sim = simulator(WebhookTiming { retry_after: Duration::from_millis(400), ..quick() }).await;
    let http = client();
    let mut hook = receiver(&[500]).await;
    ticket_webhook(&http, &sim, settings(&hook.url, "https://example.com/off"), &["title"], &[]).await;
    change(&http, control(&sim, "Tickets/1"), json!({"title": "first"})).await;
    let failed = hook.next().await;
    change(&http, control(&sim, "Tickets/1"), json!({"title": "second"})).await;
    let second = hook.next().await;
    assert_eq!(second.json()["SequenceNumber"], 2, "the failed callout does not hold the next one back");
    assert_eq!(second.json()["Fields"]["title"], "second");
    let retried = hook.next().await;
    assert_eq!(retried.body, failed.body, "a retry sends the same body");
    assert!(retried.at - failed.at >= Duration::from_millis(390), "after the retry delay");
    assert_eq!(retried.json()["SequenceNumber"], 1);
    hook.assert_quiet(Duration::from_millis(600)).await;
    let stats = callouts_once(&sim, |stats| stats.delivered == 2).await;
    assert_eq!((stats.sent, stats.delivered, stats.failed_attempts, stats.dropped), (3, 2, 1, 0));
    assert!(sim.webhook_log().is_empty());
}

#[tokio::test]
async fn a_receiver_down_past_the_window_loses_the_callout_to_the_log() {
    let timing =
        WebhookTiming { retry_after: Duration::from_millis(100), window: Duration::from_millis(250), ..quick() };
    let sim = simulator(timing).await;
    let http = client();
    let url = nobody_listening().await;
    let id = ticket_webhook(&http, &sim, settings(&url, "https://example.com/off"), &["title"], &[]).await;
    change(&http, control(&sim, "Tickets/5"), json!({"title": "lost"})).await;
    let log = log_of(&http, &sim, 1).await;
    assert_eq!(log.len(), 1, "{log:?}");
    let guid = get(&http, api(&sim, &format!("TicketWebhooks/{id}"))).await.1["item"]["webhookGUID"].clone();
    let entry = &log[0];
    assert_eq!(entry["webhookId"], id);
    assert_eq!(entry["entity"], "TicketWebhooks");
    assert_eq!(entry["guid"], guid);
    assert_eq!(entry["sequenceNumber"], 1);
    assert_eq!(entry["action"], "Update");
    assert_eq!(entry["id"], 5);
    assert_eq!(entry["attempts"], 3, "at 0, 100 and 200 ms; a fourth would fall outside 250 ms");
    assert!(entry["reason"].as_str().unwrap().contains("window"), "{entry}");
    assert!(entry["time"].as_str().unwrap().ends_with('Z'));
    let stats: Value = http.get(control(&sim, "stats")).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        stats["callouts"],
        json!({"sent": 3, "delivered": 0, "failedAttempts": 3, "dropped": 1, "deactivations": 0})
    );
    assert_eq!(sim.webhook_log()[0].sequence_number, Some(1));
    http.delete(control(&sim, "stats")).send().await.unwrap();
    assert_eq!(sim.stats().callouts, autotask_sim::CalloutStats::default(), "reset with the other stats");
}

#[tokio::test]
async fn a_callout_out_of_attempts_is_dropped() {
    let timing = WebhookTiming { retry_after: Duration::from_millis(50), attempts: 2, ..quick() };
    let sim = simulator(timing).await;
    let http = client();
    let mut hook = receiver(&[500, 500, 500]).await;
    ticket_webhook(&http, &sim, settings(&hook.url, "https://example.com/off"), &["title"], &[]).await;
    change(&http, control(&sim, "Tickets/5"), json!({"title": "twice"})).await;
    hook.next().await;
    hook.next().await;
    let log = log_of(&http, &sim, 1).await;
    assert_eq!(log[0]["attempts"], 2);
    assert!(log[0]["reason"].as_str().unwrap().contains("HTTP 500"), "{}", log[0]);
    hook.assert_quiet(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn consecutive_failures_deactivate_a_webhook_until_it_is_made_active_again() {
    let timing = WebhookTiming { retry_after: Duration::from_millis(50), deactivate_after: 2, ..quick() };
    let sim = simulator(timing).await;
    let http = client();
    let mut hook = receiver(&[500, 500]).await;
    let mut off = receiver(&[]).await;
    let mut settings = settings(&hook.url, &off.url);
    settings["SecretKey"] = json!("k");
    let id = ticket_webhook(&http, &sim, settings, &["title"], &[]).await;
    change(&http, control(&sim, "Tickets/1"), json!({"title": "one"})).await;
    change(&http, control(&sim, "Tickets/1"), json!({"title": "two"})).await;
    // First attempts go out one after another, so both fail before any retry.
    hook.next().await;
    hook.next().await;
    let notice = off.next().await;
    let guid = get(&http, api(&sim, &format!("TicketWebhooks/{id}"))).await.1["item"]["webhookGUID"].clone();
    assert_eq!(
        notice.json(),
        json!({"Guid": guid, "Id": id, "EntityType": "TicketWebhook", "Reason": "deactivated after 2 consecutive failed callouts"})
    );
    assert_eq!(notice.headers["x-hook-signature"].to_str().unwrap(), expected_signature("k", &notice.body));
    let (_, item) = get(&http, api(&sim, &format!("TicketWebhooks/{id}"))).await;
    assert_eq!(item["item"]["isActive"], false);
    let log = log_of(&http, &sim, 3).await;
    let dropped: Vec<&Value> = log.iter().filter(|entry| entry["sequenceNumber"].is_number()).collect();
    assert_eq!(dropped.len(), 2, "both pending callouts are dropped: {log:?}");
    assert!(log.iter().any(|entry| entry["action"] == "Deactivate" && entry["id"] == id));
    let stats = callouts_once(&sim, |stats| stats.deactivations == 1).await;
    assert_eq!((stats.failed_attempts, stats.dropped, stats.deactivations), (2, 2, 1));

    // The retries find nothing pending; inactive, changes are not called out.
    change(&http, control(&sim, "Tickets/1"), json!({"title": "unheard"})).await;
    hook.assert_quiet(Duration::from_millis(300)).await;
    off.assert_quiet(Duration::from_millis(10)).await;

    // Made active again (the PATCH style with the id in the body), it calls out, numbering on.
    let (status, answer) = patch(&http, api(&sim, "TicketWebhooks"), json!({"id": id, "IsActive": true})).await;
    assert_eq!((status, answer), (200, json!({"itemId": id})));
    change(&http, control(&sim, "Tickets/1"), json!({"title": "heard"})).await;
    let body = hook.next().await.json();
    assert_eq!(body["Fields"]["title"], "heard");
    assert_eq!(body["SequenceNumber"], 3);
    assert_eq!(callouts_once(&sim, |stats| stats.delivered == 1).await.delivered, 1);
}

#[tokio::test]
async fn the_drop_callouts_fault_loses_callouts_and_the_delay_fault_holds_them() {
    let sim = simulator(quick()).await;
    let http = client();
    let mut hook = receiver(&[]).await;
    ticket_webhook(&http, &sim, settings(&hook.url, "https://example.com/off"), &["title"], &[]).await;
    let faults = http.post(control(&sim, "faults")).json(&json!({"dropCallouts": 1})).send().await.unwrap();
    assert_eq!(faults.status(), 200);
    change(&http, control(&sim, "Tickets/1"), json!({"title": "lost"})).await;
    change(&http, control(&sim, "Tickets/1"), json!({"title": "kept"})).await;
    let body = hook.next().await.json();
    assert_eq!((body["SequenceNumber"].clone(), body["Fields"]["title"].clone()), (json!(2), json!("kept")));
    let log = sim.webhook_log();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].sequence_number, log[0].attempts), (Some(1), 0));
    assert!(log[0].reason.contains("dropCallouts"), "{}", log[0].reason);
    assert_eq!(sim.stats().callouts.dropped, 1);

    sim.set_faults(autotask_sim::Faults { callout_delay_ms: 300, ..Default::default() });
    let started = Instant::now();
    change(&http, control(&sim, "Tickets/1"), json!({"title": "late"})).await;
    let hit = hook.next().await;
    assert!(hit.at - started >= Duration::from_millis(300), "{:?}", hit.at - started);
    assert_eq!(hit.json()["Fields"]["title"], "late");
}

#[tokio::test]
async fn webhooks_are_changed_and_deleted() {
    let sim = simulator(quick()).await;
    let http = client();
    let mut hook = receiver(&[]).await;
    let id =
        ticket_webhook(&http, &sim, settings("https://example.com/old", "https://example.com/off"), &["title"], &[])
            .await;
    let (status, _) =
        patch(&http, api(&sim, &format!("TicketWebhooks/{id}")), json!({"WebhookUrl": hook.url, "Name": "renamed"}))
            .await;
    assert_eq!(status, 200);
    let (_, item) = get(&http, api(&sim, &format!("TicketWebhooks/{id}"))).await;
    assert_eq!((item["item"]["name"].clone(), item["item"]["webhookUrl"].clone()), (json!("renamed"), json!(hook.url)));
    assert_eq!(item["item"]["isSubscribedToCreateEvents"], true, "fields not given are kept");
    change(&http, control(&sim, "Tickets/1"), json!({"title": "to the new URL"})).await;
    assert_eq!(hook.next().await.json()["Fields"]["title"], "to the new URL");

    // Without subscribed fields it is not ready, and silent.
    let (_, fields) = get(&http, api(&sim, &format!("TicketWebhooks/{id}/Fields"))).await;
    let field = fields["items"][0]["id"].as_i64().unwrap();
    let removed = authed(http.delete(api(&sim, &format!("TicketWebhooks/{id}/Fields/{field}")))).send().await.unwrap();
    assert_eq!(removed.status(), 200);
    assert_eq!(get(&http, api(&sim, &format!("TicketWebhooks/{id}"))).await.1["item"]["isReady"], false);
    change(&http, control(&sim, "Tickets/1"), json!({"title": "unheard"})).await;
    hook.assert_quiet(Duration::from_millis(300)).await;

    let deleted = authed(http.delete(api(&sim, &format!("TicketWebhooks/{id}")))).send().await.unwrap();
    assert_eq!(json_of(deleted).await, (200, json!({"itemId": id})));
    assert_eq!(get(&http, api(&sim, &format!("TicketWebhooks/{id}"))).await, (200, json!({"item": null})));
    let again = authed(http.delete(api(&sim, &format!("TicketWebhooks/{id}")))).send().await.unwrap();
    assert_eq!(again.status(), 404);

    // ConfigurationItem webhooks exist, though no ConfigurationItem ever changes.
    let (status, created) = post(&http, api(&sim, "ConfigurationItemWebhooks"), settings(&hook.url, &hook.url)).await;
    assert_eq!((status, created), (200, json!({"itemId": 1})));
}

#[tokio::test]
async fn bad_webhook_requests_get_clear_errors() {
    let sim = simulator(quick()).await;
    let http = client();
    let create = |body: Value| post(&http, api(&sim, "TicketWebhooks"), body);
    let error = |answer: (u16, Value)| (answer.0, answer.1["errors"][0].as_str().unwrap_or_default().to_owned());
    let valid = settings("https://example.com/hook", "https://example.com/off");

    let mut missing = valid.clone();
    missing.as_object_mut().unwrap().remove("Name");
    assert_eq!(error(create(missing).await), (500, "Name is required.".into()));
    let mut long = valid.clone();
    long["Name"] = json!("x".repeat(51));
    assert_eq!(error(create(long).await), (500, "Name is longer than its limit of 50 characters.".into()));
    let mut no_url = valid.clone();
    no_url.as_object_mut().unwrap().remove("WebhookUrl");
    assert_eq!(error(create(no_url).await), (500, "WebhookUrl is required.".into()));
    let mut bad_url = valid.clone();
    bad_url["DeactivationUrl"] = json!("not a url");
    let (status, text) = error(create(bad_url).await);
    assert!(status == 500 && text.starts_with("DeactivationUrl must be an absolute http or https URL"), "{text}");
    let mut bad_flag = valid.clone();
    bad_flag["IsActive"] = json!("yes");
    assert_eq!(error(create(bad_flag).await), (500, "IsActive must be true or false, not \"yes\".".into()));
    let mut long_secret = valid.clone();
    long_secret["SecretKey"] = json!("k".repeat(65));
    assert_eq!(error(create(long_secret).await).0, 500);
    let (status, _) = json_of(authed(http.post(api(&sim, "TicketWebhooks"))).body("nope").send().await.unwrap()).await;
    assert_eq!(status, 500, "an unreadable body");

    let (_, created) = create(valid).await;
    let id = created["itemId"].as_i64().unwrap();
    let fields = api(&sim, &format!("TicketWebhooks/{id}/Fields"));
    let (status, text) = error(post(&http, fields.clone(), json!({"FieldID": 9999, "IsSubscribedField": true})).await);
    assert_eq!(status, 500);
    assert!(text.contains("FieldID 9999") && text.contains("TicketWebhookFields/entityInformation/fields"), "{text}");
    assert_eq!(
        error(post(&http, fields.clone(), json!({"IsSubscribedField": true})).await),
        (500, "FieldID is required.".into())
    );
    let ids = field_ids(&http, &sim, "TicketWebhookFields", "fieldID").await;
    assert_eq!(post(&http, fields.clone(), json!({"FieldID": ids["title"]})).await.0, 200);
    let (status, text) = error(post(&http, fields, json!({"FieldID": ids["title"]})).await);
    assert!(status == 500 && text.contains("already"), "{text}");
    let udfs = api(&sim, &format!("TicketWebhooks/{id}/UdfFields"));
    let (status, text) = error(post(&http, udfs, json!({"UdfFieldID": 5})).await);
    assert!(status == 500 && text.contains("UdfFieldID 5"), "{text}");
    let excluded = api(&sim, &format!("TicketWebhooks/{id}/ExcludedResources"));
    assert_eq!(error(post(&http, excluded, json!({"ResourceID": "x"})).await).0, 500);

    let (status, text) = error(patch(&http, api(&sim, "TicketWebhooks"), json!({"id": 99, "Name": "x"})).await);
    assert_eq!((status, text), (404, "No TicketWebhook with id 99 was found.".into()));
    assert_eq!(error(patch(&http, api(&sim, "TicketWebhooks"), json!({"Name": "x"})).await).0, 500);
    assert_eq!(error(patch(&http, api(&sim, "TicketWebhooks/99"), json!({"Name": "x"})).await).0, 404);
    assert_eq!(error(patch(&http, api(&sim, &format!("TicketWebhooks/{id}")), json!({"Name": ""})).await).0, 500);
    assert_eq!(error(post(&http, api(&sim, "TicketWebhooks/99/Fields"), json!({"FieldID": 5})).await).0, 404);
    let (status, text) = error(
        post(&http, api(&sim, "TicketWebhooks/query"), json!({"filter": [{"op": "eq", "field": "nope", "value": 1}]}))
            .await,
    );
    assert_eq!((status, text), (500, "Unable to find nope in the TicketWebhook Entity.".into()));

    let unauthenticated = http.post(api(&sim, "TicketWebhooks")).json(&json!({})).send().await.unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let wrong_method = authed(http.put(api(&sim, "TicketWebhooks/1"))).send().await.unwrap();
    assert_eq!(wrong_method.status(), 405);
    let (_, item) = get(&http, api(&sim, &format!("TicketWebhooks/{id}"))).await;
    assert_eq!(item["item"]["name"], "tickets", "refused changes change nothing");
}

#[tokio::test]
async fn churn_is_heard_by_webhooks() {
    let config = SimConfig { tickets: 5, churn_per_minute: 6000.0, webhooks: quick(), ..SimConfig::default() };
    let sim = Simulator::start(config).await.unwrap();
    let http = client();
    let mut hook = receiver(&[]).await;
    ticket_webhook(&http, &sim, settings(&hook.url, "https://example.com/off"), &["status", "title"], &[]).await;
    let body = hook.next().await.json();
    assert_eq!(body["EntityType"], "Ticket");
    assert_eq!(body["PersonID"], 29_682_885);
}
