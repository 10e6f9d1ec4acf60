//! The Cloud Elements compatible management API end to end: the simulator,
//! the service with its real listener, store and plugins, a real callback
//! receiver, and every call made over HTTP as a user's client makes it.
//! Every log line of the test binary is captured, and no secret may be in
//! any of them or in any answer.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};
use std::time::Duration;

use crate::start;
use autotask_events::app::RunningService;
use autotask_sim::{SimConfig, Simulator};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::receiver::{Answer, Receiver};
use support::service::{LOOPBACK_RULES, SimControl, incidents_resource, instance_toml, resource};
use support::wait_until;

mod dry_run;
mod hardening;
mod inspector;
mod metrics;
mod plugins;

const USER_SECRET: &str = "user-secret-0123456789abcdef";
const ORGANIZATION_SECRET: &str = "organization-secret-0123456789";
const SIGNATURE_KEY: &str = "signature-key-for-the-api-test";
const WAIT: Duration = Duration::from_secs(20);
/// 0.3 s between polls, in the minutes Cloud Elements bodies count in.
const FAST_MINUTES: &str = "0.005";

/// Every log line of this test binary.
static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        LOG.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        tracing_subscriber::fmt()
            .with_env_filter("debug,hyper=info,h2=info,reqwest=debug,cranelift=info,wasmtime=info")
            .with_writer(|| LogWriter)
            .with_ansi(false)
            .init();
    });
}

/// Everything the tests run against: simulator, receiver, service, and its API.
struct Setup {
    sim: Simulator,
    receiver: Receiver,
    _dir: tempfile::TempDir,
    config: PathBuf,
    service: Option<RunningService>,
    api: Client,
}

impl Setup {
    async fn new() -> Setup {
        Setup::with(&[], "").await
    }

    /// With `[[instance]]` tables from the file and more `[server]` lines.
    async fn with(file_instances: &[String], server_lines: &str) -> Setup {
        Setup::build(LOOPBACK_RULES, file_instances, server_lines).await
    }

    /// On a host whose `[egress]` and `[limits]` tables are `rules`.
    async fn with_rules(rules: &str, file_instances: &[String]) -> Setup {
        Setup::build(rules, file_instances, "").await
    }

    async fn build(rules: &str, file_instances: &[String], server_lines: &str) -> Setup {
        capture_logs();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let sim = Simulator::start(SimConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tickets: 10,
            contacts: 5,
            ..SimConfig::default()
        })
        .await
        .expect("the simulator starts");
        let receiver = Receiver::start().await;
        let dir = tempfile::tempdir().unwrap();
        let plugins = dir.path().join("plugins");
        std::fs::create_dir_all(&plugins).unwrap();
        std::fs::write(plugins.join("contacts.wasm"), support::INCIDENTS_WASM).unwrap();
        let text = format!(
            "{rules}[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"data\"\nplugin_dir = \"plugins\"\noverlap_seconds = 5\nintegration_code = \"{}\"\nallowed_autotask_hosts = [\"{}\"]\n{server_lines}\n\
             [api]\nuser_secret = \"{USER_SECRET}\"\norganization_secret = \"{ORGANIZATION_SECRET}\"\n\n\
             [delivery]\nfirst_retry_seconds = 0.05\nretry_multiplier = 2\nretries = 30\ntimeout_seconds = 1\n\n{}",
            sim.config().integration_code,
            sim.url().trim_start_matches("http://").trim_end_matches('/'),
            file_instances.join("\n")
        );
        let config = dir.path().join("service.toml");
        std::fs::write(&config, text).unwrap();
        let service = start(&config).await;
        let scheme = if server_lines.contains("tls_certificate") { "https" } else { "http" };
        let api = Client::new(&format!("{scheme}://localhost:{}/elements/api-v2", service.addr().port()));
        Setup { sim, receiver, _dir: dir, config, service: Some(service), api }
    }

    /// Starts the service again (stopping it first if it runs).
    async fn restart(&mut self) {
        if let Some(service) = self.service.take() {
            service.stop().await;
        }
        let service = start(&self.config).await;
        self.api = Client::new(&format!("http://localhost:{}/elements/api-v2", service.addr().port()));
        self.service = Some(service);
    }

    /// The documented `POST /instances` body, pointed at the simulator and the receiver.
    fn readme_body(&self) -> Value {
        let mut body = readme_instance_body();
        let configuration = &mut body["configuration"];
        configuration["crm.autotask.username"] = json!(self.sim.config().user);
        configuration["crm.autotask.password"] = json!(self.sim.config().secret);
        configuration["crm.autotask.server.url"] = json!(self.sim.url());
        configuration["event.notification.callback.url"] = json!(self.receiver.url());
        configuration["event.notification.signature.key"] = json!(SIGNATURE_KEY);
        configuration["event.poller.refresh_interval"] = json!(FAST_MINUTES);
        body
    }

    /// Creates the documented instance; returns its answer.
    async fn create(&self) -> Value {
        let (status, created) = self.api.call(Method::POST, "/instances", Some(self.readme_body())).await;
        assert_eq!(status, StatusCode::OK, "{created}");
        created
    }

    /// Fails if any secret is in any log line so far.
    fn assert_no_secret_logged(&self) {
        let log = String::from_utf8_lossy(&LOG.lock().unwrap()).into_owned();
        assert!(!log.is_empty(), "the log capture works");
        for secret in self.secrets() {
            assert!(!log.contains(&secret), "a secret is in the log");
        }
    }

    fn secrets(&self) -> Vec<String> {
        let sim = self.sim.config();
        vec![
            USER_SECRET.into(),
            ORGANIZATION_SECRET.into(),
            SIGNATURE_KEY.into(),
            sim.secret.clone(),
            sim.integration_code.clone(),
        ]
    }
}

/// The first JSON block under the management API page's `POST /instances` heading.
pub(crate) fn readme_instance_body() -> Value {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/management-api.md")).unwrap();
    let section =
        &readme[readme.find("### Create an instance: `POST /instances`").expect("the page has the section")..];
    let start = section.find("```json\n").expect("a JSON block") + "```json\n".len();
    let end = start + section[start..].find("```").expect("the block ends");
    serde_json::from_str(&section[start..end]).expect("the documented body is JSON")
}

/// A management API client, authenticated unless told otherwise.
struct Client {
    http: reqwest::Client,
    base: String,
}

fn authorization() -> String {
    format!("User {USER_SECRET}, Organization {ORGANIZATION_SECRET}")
}

impl Client {
    fn new(base: &str) -> Client {
        let certificate = std::fs::read(tls_fixture("cert.pem")).unwrap();
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&certificate).unwrap())
            .resolve("localhost", "127.0.0.1:0".parse().unwrap())
            .build()
            .unwrap();
        Client { http, base: base.to_owned() }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_as(&authorization(), method, path, body.map(|b| b.to_string())).await
    }

    async fn call_as(
        &self,
        authorization: &str,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if !authorization.is_empty() {
            request = request.header("Authorization", authorization);
        }
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        for secret in [USER_SECRET, ORGANIZATION_SECRET, SIGNATURE_KEY, "s3cret-api-test"] {
            assert!(!text.contains(secret), "an answer shows a secret: {text}");
        }
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

/// `GET /instances{query}`: status, body and the `Elements-Next-Page-Token` header.
async fn list_page(setup: &Setup, query: &str) -> (StatusCode, Value, Option<String>) {
    let response = setup
        .api
        .http
        .get(format!("{}/instances{query}", setup.api.base))
        .header("Authorization", authorization())
        .send()
        .await
        .expect("the API answers");
    let status = response.status();
    let token = response.headers().get("Elements-Next-Page-Token").map(|value| value.to_str().unwrap().to_owned());
    (status, response.json().await.unwrap(), token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_instance_list_comes_in_pages_that_chain_to_the_whole_list() {
    let sim =
        Simulator::start(SimConfig { listen: "127.0.0.1:0".parse().unwrap(), ..SimConfig::default() }).await.unwrap();
    let files: Vec<String> = ["file-a", "file-b"]
        .iter()
        .map(|id| {
            let resources = json!({"incidents": incidents_resource()});
            instance_toml(
                id,
                &sim,
                "http://127.0.0.1:9/never",
                resources,
                json!({"event.notification.enabled": false}),
                "",
            )
        })
        .collect();
    let setup = Setup::with(&files, "").await;
    for _ in 0..3 {
        setup.create().await;
    }
    let (status, all, token) = list_page(&setup, "").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(token, None, "the whole list has no next page");
    let all_ids: Vec<Value> = all.as_array().unwrap().iter().map(|view| view["id"].clone()).collect();
    assert_eq!(all_ids.len(), 5);

    // Pages of two, chained by their tokens: the file's instances, then the API's, each once.
    let (mut paged, mut query, mut pages) = (Vec::new(), "?pageSize=2".to_owned(), 0);
    loop {
        let (status, page, token) = list_page(&setup, &query).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let page = page.as_array().unwrap().clone();
        assert!(page.len() <= 2, "a page holds at most pageSize: {page:?}");
        paged.extend(page.iter().map(|view| view["id"].clone()));
        pages += 1;
        match token {
            Some(token) => query = format!("?pageSize=2&nextPage={token}"),
            None => break,
        }
    }
    assert_eq!((pages, &paged), (3, &all_ids), "three pages make the whole list, in its order");
    assert_eq!(&all_ids[..2], &[json!("file-a"), json!("file-b")]);

    for (query, field) in [
        ("?pageSize=0", "pageSize"),
        ("?pageSize=1001", "pageSize"),
        ("?pageSize=x", "pageSize"),
        ("?nextPage=elsewhere-7", "nextPage"),
    ] {
        let (status, answer, _) = list_page(&setup, query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {answer}");
        assert!(answer.to_string().contains(field), "{query}: the answer names {field}: {answer}");
    }
}

fn tls_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/web/tests/fixtures/tls").join(name)
}

fn has(events: &[Value], event_type: &str, object_type: &str, id: i64) -> bool {
    let id = id.to_string();
    events
        .iter()
        .any(|e| e["eventType"] == event_type && e["objectType"] == object_type && e["objectId"] == id.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_body_posted_to_the_api_polls_and_delivers_signed_events() {
    let setup = Setup::new().await;
    let created = setup.create().await;
    let id = created["id"].as_i64().expect("a numeric id");
    let token = created["token"].as_str().expect("a token").to_owned();
    assert_eq!(created["name"], "API Instance with Polling");
    assert_eq!(created["element"], json!({"key": "autotaskcrm"}));
    assert_eq!(created["tags"], json!(["Docs"]));
    assert_eq!((created["eventsEnabled"].clone(), created["valid"].clone()), (json!(true), json!(true)));
    assert_eq!(created["disabled"], false);
    assert_eq!(created["configuration"]["crm.autotask.password"], "********");
    assert_eq!(created["configuration"]["event.notification.signature.key"], "********");
    assert_eq!(created["configuration"]["crm.autotask.username"], setup.sim.config().user);
    assert!(created["createdDate"].as_str().unwrap().ends_with('Z'));
    assert!(!created.to_string().contains(&setup.sim.config().secret));

    let control = SimControl::new(&setup.sim);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ticket = control.create("Tickets", json!({"title": "Created through the API's instance"})).await;
    let events = setup
        .receiver
        .wait_for(WAIT, "the new ticket's event", |events| has(events, "CREATED", "incidents", ticket))
        .await;
    assert!(has(&events, "CREATED", "incidents", ticket));
    let delivery = setup.receiver.accepted().into_iter().find(|d| has(&d.events(), "CREATED", "incidents", ticket));
    let delivery = delivery.expect("the delivery");
    assert_eq!(delivery.json()["message"]["instanceName"], "API Instance with Polling");
    // The instance's id as a JSON number, as Cloud Elements sends it, under both names.
    let message = &delivery.json()["message"];
    assert!(message["instanceId"].is_u64(), "{message}");
    assert_eq!((message["instanceId"].clone(), message["instance_id"].clone()), (json!(id), json!(id)));
    assert_eq!(created["instanceNumber"], id, "the API shows the number its messages carry");
    let signature = delivery.signature.clone().expect("signed");
    assert!(engine::delivery::signature::verify(SIGNATURE_KEY.as_bytes(), &delivery.body, &signature));

    // Read it back, with and without its Element token.
    let (status, listed) = setup.api.call(Method::GET, "/instances", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().iter().filter(|i| i["id"] == id).count(), 1);
    let auth_with_token = format!("{}, Element {token}", authorization());
    let (status, one) = setup.api.call_as(&auth_with_token, Method::GET, &format!("/instances/{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["token"], token.as_str());

    // Its events, with their delivery.
    let (status, delivered) =
        setup.api.call(Method::GET, &format!("/instances/{id}/events?status=delivered&limit=100"), None).await;
    assert_eq!(status, StatusCode::OK, "{delivered}");
    let message = delivered
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["events"].as_array().unwrap().iter().any(|e| e["objectId"] == ticket.to_string().as_str()))
        .expect("the ticket's message is listed as delivered")
        .clone();
    assert_eq!((message["status"].clone(), message["attempts"].clone()), (json!("delivered"), json!(1)));
    assert_eq!(message["id"], delivery.webhook_id.clone().unwrap().as_str());

    // Poll now: the change made just before is in the answer's summary.
    control.patch("Tickets", ticket, json!({"title": "Changed just before the poll"})).await;
    let (status, polled) = setup.api.call(Method::POST, &format!("/instances/{id}/poll"), None).await;
    assert_eq!(status, StatusCode::OK, "{polled}");
    let incidents = &polled["resources"][0];
    assert_eq!((incidents["name"].clone(), incidents["ok"].clone()), (json!("incidents"), json!(true)), "{polled}");
    assert!(incidents["summary"]["records"].as_u64().is_some(), "{polled}");

    // Its resources: plugin version, watermark, last and next poll.
    let (status, resources) = setup.api.call(Method::GET, &format!("/instances/{id}/resources"), None).await;
    assert_eq!(status, StatusCode::OK, "{resources}");
    let incidents = &resources["resources"][0];
    assert_eq!(incidents["name"], "incidents");
    assert_eq!(incidents["entity"], "Tickets");
    assert_eq!(incidents["plugin"]["version"].as_str().unwrap().len(), 64, "{resources}");
    assert!(incidents["watermark"].as_str().is_some(), "{resources}");
    assert_eq!(incidents["lastPoll"]["ok"], true, "{resources}");
    setup.assert_no_secret_logged();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_adds_a_resource_and_changes_the_interval_and_delete_stops_the_events() {
    let setup = Setup::new().await;
    let id = setup.create().await["id"].as_i64().unwrap();
    let control = SimControl::new(&setup.sim);

    let patch = json!({"configuration": {
        "event.poller.refresh_interval": "0.004",
        "crm.autotask.password": "********",
        "event.poller.configuration": {"contacts": resource("/hubs/crm/contacts")}
    }});
    let (status, patched) = setup.api.call(Method::PATCH, &format!("/instances/{id}"), Some(patch)).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["configuration"]["event.poller.refresh_interval"], "0.004");
    let resources = patched["configuration"]["event.poller.configuration"].as_object().unwrap();
    assert_eq!(resources.keys().collect::<Vec<_>>(), ["incidents", "contacts"]);
    assert!(patched.get("warnings").is_none(), "contacts.wasm is there: {patched}");

    tokio::time::sleep(Duration::from_millis(500)).await;
    let contact = control.create("Contacts", json!({"firstName": "Grace", "lastName": "Hopper"})).await;
    let ticket = control.create("Tickets", json!({"title": "Still polled after the patch"})).await;
    setup
        .receiver
        .wait_for(WAIT, "the contact's and the ticket's events", |events| {
            has(events, "CREATED", "contacts", contact) && has(events, "CREATED", "incidents", ticket)
        })
        .await;

    // Disabled, it is kept but not polled; enabled again, it polls.
    let path = format!("/instances/{id}");
    let (status, disabled) = setup.api.call(Method::PATCH, &path, Some(json!({"disabled": true}))).await;
    assert_eq!((status, disabled["disabled"].clone()), (StatusCode::OK, json!(true)), "{disabled}");
    let (status, refused) = setup.api.call(Method::POST, &format!("{path}/poll"), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "a disabled instance is not polled: {refused}");
    let (_, resources) = setup.api.call(Method::GET, &format!("{path}/resources"), None).await;
    assert_eq!(resources["resources"][0]["status"], "not polled", "{resources}");
    let (status, bad) = setup.api.call(Method::PATCH, &path, Some(json!({"disabled": "yes"}))).await;
    assert_eq!((status, bad["field"].clone()), (StatusCode::BAD_REQUEST, json!("$.disabled")), "{bad}");
    let (status, enabled) = setup.api.call(Method::PATCH, &path, Some(json!({"disabled": false}))).await;
    assert_eq!((status, enabled["disabled"].clone()), (StatusCode::OK, json!(false)), "{enabled}");
    let (status, polled) = setup.api.call(Method::POST, &format!("{path}/poll?resource=contacts"), None).await;
    assert_eq!(status, StatusCode::OK, "{polled}");
    assert_eq!(polled["resources"].as_array().unwrap().len(), 1, "only the resource asked for: {polled}");

    // Delete, delivering what is left first: afterwards nothing more arrives.
    let (status, deleted) = setup.api.call(Method::DELETE, &format!("/instances/{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["deleted"], true);
    let (status, _) = setup.api.call(Method::GET, &format!("/instances/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let before = setup.receiver.deliveries().len();
    let late = control.create("Tickets", json!({"title": "After the delete"})).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(setup.receiver.deliveries().len(), before, "nothing is delivered after the delete");
    assert!(!has(&setup.receiver.events(), "CREATED", "incidents", late));
    let store = setup.service.as_ref().unwrap().store();
    assert!(store.recent_messages(&id.to_string(), None, 10).unwrap().is_empty(), "its outbox is gone");
    assert_eq!(store.watermark(&id.to_string(), "incidents").unwrap(), None, "its watermarks are gone");
    setup.assert_no_secret_logged();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_refuses_to_drop_undelivered_events_unless_asked_and_retry_replays_them() {
    let setup = Setup::new().await;
    let id = setup.create().await["id"].as_i64().unwrap();
    let control = SimControl::new(&setup.sim);
    setup.receiver.answer(Answer::Fail(503));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ticket = control.create("Tickets", json!({"title": "Waits for the callback"})).await;

    let api = &setup.api;
    let failed = wait_until(WAIT, "a failed delivery listed", || async move {
        let (_, failed) = api.call(Method::GET, &format!("/instances/{id}/events?status=failed"), None).await;
        failed.as_array().filter(|m| !m.is_empty()).cloned()
    })
    .await;
    assert_eq!(failed[0]["status"], "retrying");
    assert!(failed[0]["lastError"].as_str().unwrap().contains("503"), "{failed:?}");

    let (status, refused) = setup.api.call(Method::DELETE, &format!("/instances/{id}"), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("?outbox=drop"), "{refused}");
    let (status, _) = setup.api.call(Method::GET, &format!("/instances/{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "the instance is still there");

    // The callback is back: a retry sends the waiting messages now.
    setup.receiver.answer(Answer::Accept);
    let (status, retried) = setup.api.call(Method::POST, &format!("/instances/{id}/events/retry"), None).await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    setup.receiver.wait_for(WAIT, "the ticket's event", |events| has(events, "CREATED", "incidents", ticket)).await;

    setup.receiver.answer(Answer::Fail(500));
    let late = control.create("Tickets", json!({"title": "Dropped on purpose"})).await;
    wait_until(WAIT, "the late ticket's message failing", || async move {
        let (_, failed) = api.call(Method::GET, &format!("/instances/{id}/events?status=failed"), None).await;
        failed.as_array().filter(|m| !m.is_empty()).cloned()
    })
    .await;
    let (status, deleted) = setup.api.call(Method::DELETE, &format!("/instances/{id}?outbox=drop"), None).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert!(deleted["dropped"].as_u64().unwrap() >= 1, "{deleted}");
    assert!(!has(&setup.receiver.events(), "CREATED", "incidents", late));
    let (status, bad) = setup.api.call(Method::DELETE, "/instances/999?outbox=later", None).await;
    assert_eq!((status, bad["field"].clone()), (StatusCode::BAD_REQUEST, json!("?outbox")), "{bad}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_instances_and_their_watermarks_survive_a_restart() {
    let mut setup = Setup::new().await;
    let created = setup.create().await;
    let id = created["id"].as_i64().unwrap();
    let control = SimControl::new(&setup.sim);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let first = control.create("Tickets", json!({"title": "Before the restart"})).await;
    setup.receiver.wait_for(WAIT, "the first ticket", |events| has(events, "CREATED", "incidents", first)).await;
    let watermark_before = setup.service.as_ref().unwrap().store().watermark(&id.to_string(), "incidents").unwrap();
    assert!(watermark_before.is_some());

    setup.service.take().unwrap().stop().await;
    let while_down = control.create("Tickets", json!({"title": "While the service was down"})).await;
    setup.restart().await;

    let (status, listed) = setup.api.call(Method::GET, &format!("/instances/{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["token"], created["token"]);
    assert_eq!(listed["createdDate"], created["createdDate"]);
    setup
        .receiver
        .wait_for(WAIT, "the ticket created while down", |events| has(events, "CREATED", "incidents", while_down))
        .await;
    let watermark_after = setup.service.as_ref().unwrap().store().watermark(&id.to_string(), "incidents").unwrap();
    assert!(watermark_after > watermark_before);
    let created_events =
        setup.receiver.events().iter().filter(|e| has(&[(*e).clone()], "CREATED", "incidents", first)).count();
    assert_eq!(created_events, 1, "the restart read on from the watermark, not from the start");
    setup.assert_no_secret_logged();
}

/// `(mutation of the documented body, status, field, words the message must have)`.
type BadCase = (fn(&mut Value), u16, &'static str, &'static [&'static str]);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_body_is_refused_naming_the_field_and_nothing_is_created() {
    let setup = Setup::new().await;
    let cases: Vec<(&str, BadCase)> = vec![
        ("unknown element", (|b| b["element"]["key"] = json!("sfdc"), 400, "$.element.key", &["sfdc", "autotaskcrm"])),
        (
            "no callback",
            (
                |b| {
                    b["configuration"].as_object_mut().unwrap().remove("event.notification.callback.url");
                },
                400,
                "$.configuration['event.notification.callback.url']",
                &["missing", "events are enabled"],
            ),
        ),
        (
            "unterminated quote",
            (
                |b| {
                    b["configuration"]["event.poller.configuration"]["incidents"]["url"] =
                        json!("/hubs/helpdesk/incidents?where=lastActivityDate>='${date:yyyy-MM-dd'T}'")
                },
                400,
                "$.configuration['event.poller.configuration'].incidents.url",
                &["at character", "never closed"],
            ),
        ),
        (
            "bad where clause",
            (
                |b| {
                    b["configuration"]["event.poller.configuration"]["incidents"]["url"] =
                        json!("/hubs/helpdesk/incidents?where=lastActivityDate >> 'x'")
                },
                400,
                "$.configuration['event.poller.configuration'].incidents.url",
                &["at character 48", "unknown operator `>>`"],
            ),
        ),
        (
            "unknown pattern letter",
            (
                |b| {
                    b["configuration"]["event.poller.configuration"]["incidents"]["datesConfiguration"]["updatedDateFormat"] =
                        json!("yyyy-MM-dd'T'HH:mm:ss.fff")
                },
                400,
                "$.configuration['event.poller.configuration'].incidents.datesConfiguration.updatedDateFormat",
                &["pattern letter 'f'"],
            ),
        ),
        (
            "non-numeric interval",
            (
                |b| b["configuration"]["event.poller.refresh_interval"] = json!("often"),
                400,
                "$.configuration['event.poller.refresh_interval']",
                &["often", "minutes"],
            ),
        ),
        (
            "wrong password",
            (
                |b| b["configuration"]["crm.autotask.password"] = json!("s3cret-api-test"),
                400,
                "$.configuration['crm.autotask.password']",
                &["Authorization has been denied"],
            ),
        ),
        (
            "unknown user",
            (
                |b| b["configuration"]["crm.autotask.username"] = json!("nobody@example.com"),
                400,
                "$.configuration['crm.autotask.username']",
                &["nobody@example.com", "Zone information could not be determined"],
            ),
        ),
    ];
    for (name, (mutate, status, field, words)) in cases {
        let mut body = setup.readme_body();
        mutate(&mut body);
        let (got, answer) = setup.api.call(Method::POST, "/instances", Some(body)).await;
        assert_eq!(got.as_u16(), status, "{name}: {answer}");
        assert_eq!(answer["field"], field, "{name}: {answer}");
        let message = answer["message"].as_str().unwrap();
        for word in words {
            assert!(message.contains(word), "{name}: `{word}` not in `{message}`");
        }
    }

    let malformed = "{\n  \"element\": {\"key\": \"autotaskcrm\"}\n  \"name\": \"x\"\n}".to_owned();
    let (status, answer) = setup.api.call_as(&authorization(), Method::POST, "/instances", Some(malformed)).await;
    assert_eq!((status, answer["field"].clone()), (StatusCode::BAD_REQUEST, json!("$")), "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("line 3 column 3"), "{answer}");

    let huge = json!({"name": "x".repeat(1 << 20)}).to_string();
    let (status, answer) = setup.api.call_as(&authorization(), Method::POST, "/instances", Some(huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");

    let (status, listed) = setup.api.call(Method::GET, "/instances", None).await;
    assert_eq!((status, listed.clone()), (StatusCode::OK, json!([])), "nothing was half-created");

    // A resource without its plugin file is accepted and reported as waiting.
    let mut body = setup.readme_body();
    body["configuration"]["event.poller.configuration"]["companies"] = resource("/hubs/crm/accounts");
    let (status, created) = setup.api.call(Method::POST, "/instances", Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let warnings = created["warnings"].as_array().expect("a warning");
    assert_eq!(warnings.len(), 1, "{created}");
    assert_eq!(warnings[0]["field"], "$.configuration['event.poller.configuration'].companies");
    assert!(warnings[0]["message"].as_str().unwrap().contains("companies.wasm"), "{created}");
    let id = created["id"].as_i64().unwrap();
    let api = &setup.api;
    let resources = wait_until(WAIT, "the companies resource waiting", || async move {
        let (_, resources) = api.call(Method::GET, &format!("/instances/{id}/resources"), None).await;
        let waiting = resources["resources"]
            .as_array()?
            .iter()
            .any(|r| r["name"] == "companies" && r["status"] == "waiting for its plugin");
        waiting.then_some(resources)
    })
    .await;
    let incidents = resources["resources"].as_array().unwrap().iter().find(|r| r["name"] == "incidents").cloned();
    assert_ne!(incidents.unwrap()["status"], "waiting for its plugin");
    setup.assert_no_secret_logged();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_without_the_secrets_are_refused_and_file_instances_are_read_only() {
    let file_instance = instance_toml(
        "from-file",
        &Simulator::start(SimConfig { listen: "127.0.0.1:0".parse().unwrap(), ..SimConfig::default() }).await.unwrap(),
        "http://127.0.0.1:9/never",
        json!({"incidents": incidents_resource()}),
        json!({"event.notification.enabled": false}),
        "",
    );
    let setup = Setup::with(&[file_instance], "").await;
    let path = "/instances";
    for (authorization, why) in [
        (String::new(), "no header"),
        (format!("User {USER_SECRET}"), "no organization"),
        (format!("User {USER_SECRET}, Organization wrong-organization-secret"), "a wrong organization secret"),
        (format!("User {ORGANIZATION_SECRET}, Organization {USER_SECRET}"), "the secrets swapped"),
        (format!("Bearer {USER_SECRET}"), "another scheme"),
    ] {
        let (status, answer) = setup.api.call_as(&authorization, Method::GET, path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}: {answer}");
        assert!(answer["message"].as_str().unwrap().contains("credentials"), "{why}: {answer}");
    }

    let (status, listed) = setup.api.call(Method::GET, path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed[0]["id"], "from-file");
    assert_eq!(listed[0]["readOnly"], true);
    assert_eq!(listed[0]["configuration"]["helpdesk.autotask.password"], "********");

    let (status, answer) = setup.api.call(Method::PATCH, "/instances/from-file", Some(json!({"name": "x"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("configuration file"), "{answer}");
    let (status, _) = setup.api.call(Method::DELETE, "/instances/from-file", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let one = setup.create().await;
    let other = setup.create().await;
    let wrong_token = format!("{}, Element {}", authorization(), other["token"].as_str().unwrap());
    let (status, _) = setup.api.call_as(&wrong_token, Method::GET, &format!("/instances/{}", one["id"]), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "another instance's token");
    let (status, _) = setup.api.call(Method::GET, "/instances/4242", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    setup.assert_no_secret_logged();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_is_served_over_tls_when_configured_and_closed_without_secrets() {
    let lines = format!(
        "tls_certificate = \"{}\"\ntls_key = \"{}\"",
        tls_fixture("cert.pem").display(),
        tls_fixture("key.pem").display()
    );
    let setup = Setup::with(&[], &lines).await;
    let created = setup.create().await;
    let (status, one) = setup.api.call(Method::GET, &format!("/instances/{}", created["id"]), None).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    let plain = reqwest::get(setup.api.base.replace("https://localhost", "http://127.0.0.1") + "/instances").await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true), "plain HTTP is not served");
    drop(setup);

    // Without [api] secrets the API is closed, and says how to open it.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("service.toml");
    std::fs::write(&config, "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"data\"\nplugin_dir = \"plugins\"\n")
        .unwrap();
    let service = start(&config).await;
    let client = Client::new(&format!("http://localhost:{}/elements/api-v2", service.addr().port()));
    let (status, answer) = client.call(Method::GET, "/instances", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(answer["message"].as_str().unwrap().contains("user_secret"), "{answer}");
    service.stop().await;
}

/// The object ids of the incidents events `receiver` got.
fn incident_ids(receiver: &Receiver) -> std::collections::BTreeSet<String> {
    let events = receiver.events();
    events
        .iter()
        .filter(|e| e["objectType"] == "incidents")
        .map(|e| e["objectId"].as_str().unwrap().to_owned())
        .collect()
}

fn ids(tickets: &[i64]) -> std::collections::BTreeSet<String> {
    tickets.iter().map(i64::to_string).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_instance_gets_no_changes_from_before_it_existed_unless_since_is_set() {
    // The overlap (5 s here) is far longer than the whole test before the
    // instances start: an overlap that reached back before them would read every
    // change made before.
    let setup = Setup::new().await;
    let control = SimControl::new(&setup.sim);
    let (from_file, with_since) = (Receiver::start().await, Receiver::start().await);
    let since = chrono::Utc::now() - chrono::TimeDelta::seconds(1);

    // Changes made before any instance exists.
    let before = [1, 2, 3];
    for id in before {
        control.patch("Tickets", id, json!({"priority": 2})).await;
    }
    let made_before = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(50)).await;

    // The instances: one created through the API, one added to the configuration
    // file, and one added with a `since` from before those changes.
    let id = setup.create().await["id"].as_i64().unwrap();
    let interval = "refresh_interval_seconds = 0.2";
    let file_instances = [
        instance_toml(
            "from-file",
            &setup.sim,
            &from_file.url(),
            json!({"incidents": incidents_resource()}),
            json!({}),
            interval,
        ),
        instance_toml(
            "with-since",
            &setup.sim,
            &with_since.url(),
            json!({"incidents": incidents_resource()}),
            json!({}),
            &format!("{interval}\nsince = \"{}\"", since.to_rfc3339()),
        ),
    ];
    let mut text = std::fs::read_to_string(&setup.config).unwrap();
    text.push('\n');
    text.push_str(&file_instances.join("\n"));
    std::fs::write(&setup.config, text).unwrap();
    let service = setup.service.as_ref().unwrap();
    wait_until(WAIT, "the file instances to start", || async {
        let metrics = service.metrics().render();
        metrics
            .contains("autotask_events_polls_total{instance=\"from-file\",resource=\"incidents\",outcome=\"ok\"}")
            .then_some(())
    })
    .await;
    let all_started = chrono::Utc::now();
    // Several polls of each, each reading its overlap.
    tokio::time::sleep(Duration::from_millis(800)).await;

    // Changes made after: new ones, one committed late (dated between the
    // instances' start and their latest polls: only the overlap finds it), and
    // a late commit of a change made before the instances existed.
    let after = [control.create("Tickets", json!({"title": "After the instances"})).await, 5, 6];
    control.patch("Tickets", 5, json!({"status": 5})).await;
    control.patch("Tickets", 6, json!({"priority": 1})).await;
    let late = 7;
    control.patch_at("Tickets", late, json!({"status": 8}), all_started + chrono::TimeDelta::milliseconds(100)).await;
    let late_from_before = 8;
    control.patch_at("Tickets", late_from_before, json!({"status": 8}), made_before).await;

    let mut expected = ids(&after);
    expected.insert(late.to_string());
    let mut everything = expected.clone();
    everything.extend(ids(&before));
    for (receiver, want, what) in [
        (&setup.receiver, &expected, "the API instance's events"),
        (&from_file, &expected, "the file instance's events"),
        (&with_since, &everything, "the events since `since`"),
    ] {
        receiver.wait_for(WAIT, what, |_| incident_ids(receiver).is_superset(want)).await;
    }
    // More polls, each reading its overlap again: nothing else arrives.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(incident_ids(&setup.receiver), expected, "API instance {id}: only the changes made after it");
    assert_eq!(incident_ids(&from_file), expected, "file instance: only the changes made after it");
    // `since` reads from there: the changes before, and the late commit of one, are its too.
    let mut with_late = everything.clone();
    with_late.insert(late_from_before.to_string());
    assert_eq!(incident_ids(&with_since), with_late, "`since` delivers the changes made before the instance");

    // Each delivered with its number: the API instance's id, the file instance's derived from its text id.
    let file_number = engine::delivery::instance_number::instance_number("from-file");
    for (receiver, number) in [(&setup.receiver, id as u64), (&from_file, file_number)] {
        for delivery in receiver.accepted() {
            let message = &delivery.json()["message"];
            assert_eq!((message["instanceId"].clone(), message["instance_id"].clone()), (json!(number), json!(number)));
        }
    }
    let (status, listed) = setup.api.call(Method::GET, "/instances", None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let shown =
        listed.as_array().unwrap().iter().find(|i| i["id"] == "from-file").expect("the file instance is listed");
    assert_eq!(shown["instanceNumber"], file_number, "the API shows the number its messages carry");
}
