//! What a hostile or careless API caller must not be able to do: reach
//! another instance's secret, send the host's integration code or a stored
//! secret to a server of their choosing, reach internal addresses, or crash
//! or stall the service with numbers and sizes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::{IntoResponse, Response};

use super::*;

/// A server an attacker points an instance at: it plays Autotask (a zone
/// lookup naming itself, a threshold answer) for the attacker's own secret,
/// refuses every query with 401 (which used to make the service forget the
/// zone of the user name), and counts every `Secret` and `ApiIntegrationCode`
/// header it is sent.
#[derive(Clone)]
struct Attacker {
    requests: Arc<AtomicUsize>,
    headers_seen: Arc<Mutex<HashMap<String, usize>>>,
    addr: SocketAddr,
}

impl Attacker {
    async fn start() -> Attacker {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let attacker =
            Attacker { requests: Arc::default(), headers_seen: Arc::default(), addr: listener.local_addr().unwrap() };
        let router = Router::new().fallback(Self::answer).with_state(attacker.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        attacker
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many requests carried `value` in a credential header.
    fn seen(&self, value: &str) -> usize {
        self.headers_seen.lock().unwrap().get(value).copied().unwrap_or(0)
    }

    async fn answer(State(attacker): State<Attacker>, headers: HeaderMap, request: Request) -> Response {
        attacker.requests.fetch_add(1, Ordering::SeqCst);
        for name in ["Secret", "ApiIntegrationCode"] {
            if let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) {
                *attacker.headers_seen.lock().unwrap().entry(value.to_owned()).or_default() += 1;
            }
        }
        let path = request.uri().path().to_owned();
        if path.ends_with("/zoneInformation") {
            let url = format!("{}/atservicesrest/", attacker.url());
            return axum::Json(json!({"zoneName": "Attacker", "url": url, "webUrl": url, "ci": 1})).into_response();
        }
        if path.ends_with("/ThresholdInformation") {
            let answer = json!({"externalRequestThreshold": 10000, "requestThresholdTimeframe": 60,
                                "currentTimeframeRequestCount": 0});
            return axum::Json(answer).into_response();
        }
        // Slowly: the longer the attacker's zone stays cached before the 401
        // makes the service forget it, the likelier another instance used it.
        tokio::time::sleep(Duration::from_millis(150)).await;
        (AxumStatus::UNAUTHORIZED, axum::Json(json!({"errors": ["Unauthorized"]}))).into_response()
    }
}

/// The documented body pointed at `server` with the simulator's user name
/// and the caller's own password and integration code.
fn attackers_body(setup: &Setup, server: &str) -> Value {
    let mut body = setup.readme_body();
    body["name"] = json!("attacker");
    body["configuration"]["crm.autotask.password"] = json!("attackers-own-password");
    body["configuration"]["crm.autotask.integration.code"] = json!("ATTACKERCODE");
    body["configuration"]["crm.autotask.server.url"] = json!(server);
    body["configuration"]["event.poller.refresh_interval"] = json!("0.00002");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_with_anothers_user_name_never_receives_its_secret() {
    let attacker = Attacker::start().await;
    let setup = Setup::new().await;
    let victim = setup.create().await;
    let victim_id = victim["id"].as_i64().unwrap();
    let (status, created) =
        setup.api.call(Method::POST, "/instances", Some(attackers_body(&setup, &attacker.url()))).await;
    assert_eq!(status, StatusCode::OK, "the attacker's own credentials pass at their own server: {created}");
    let attackers_id = created["id"].as_i64().unwrap();

    // Both poll, the attacker's every few milliseconds, failing with 401.
    let polled = wait_until(WAIT, "the attacker's instance to poll its server 40 times", || {
        std::future::ready((attacker.requests.load(Ordering::SeqCst) >= 40).then_some(()))
    });
    polled.await;
    let ticket = SimControl::new(&setup.sim).create("Tickets", json!({"title": "after the attack"})).await;
    setup
        .receiver
        .wait_for(WAIT, "the victim's new ticket", |events| has(events, "CREATED", "incidents", ticket))
        .await;
    let (status, _) = setup.api.call(Method::DELETE, &format!("/instances/{attackers_id}?outbox=drop"), None).await;
    assert_eq!(status, StatusCode::OK);
    let later = SimControl::new(&setup.sim).create("Tickets", json!({"title": "after the delete"})).await;
    setup.receiver.wait_for(WAIT, "the next ticket", |events| has(events, "CREATED", "incidents", later)).await;

    let sim = setup.sim.config();
    assert_eq!(attacker.seen(&sim.secret), 0, "the victim's secret went to the attacker");
    assert_eq!(attacker.seen(&sim.integration_code), 0, "the host's integration code went to the attacker");
    assert!(attacker.seen("attackers-own-password") > 0, "the attacker's instance polled its own server");
    let (_, shown) = setup.api.call(Method::GET, &format!("/instances/{victim_id}"), None).await;
    assert_eq!(shown["valid"], true, "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_of_one_user_each_poll_with_their_own_password() {
    let setup = Setup::new().await;
    let sim = setup.sim.config();
    let instance = |id: &str, password: &str| {
        instance_toml(
            id,
            &setup.sim,
            &setup.receiver.url(),
            json!({"incidents": incidents_resource()}),
            json!({"helpdesk.autotask.password": password}),
            "refresh_interval_seconds = 0.1",
        )
    };
    let right = instance("right", &sim.secret);
    let wrong = instance("wrong", "not-the-password");
    let config = std::fs::read_to_string(&setup.config).unwrap();
    std::fs::write(&setup.config, format!("{config}\n{right}\n{wrong}")).unwrap();
    let valid = |id: &'static str| {
        let api = &setup.api;
        async move {
            let (_, shown) = api.call(Method::GET, &format!("/instances/{id}"), None).await;
            shown["valid"].as_bool()
        }
    };
    wait_until(WAIT, "the wrong password to be refused", || async {
        (valid("wrong").await == Some(false)).then_some(())
    })
    .await;
    assert_eq!(valid("right").await, Some(true));

    // Corrected in the file, the new password is used without a restart.
    let config = std::fs::read_to_string(&setup.config).unwrap().replace("not-the-password", &sim.secret);
    std::fs::write(&setup.config, config).unwrap();
    wait_until(WAIT, "the corrected password to be used", || async {
        (valid("wrong").await == Some(true)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_secret_goes_only_to_the_server_it_was_stored_with() {
    let attacker = Attacker::start().await;
    let setup = Setup::new().await;
    let id = setup.create().await["id"].as_i64().unwrap();

    // Moved to another server with the password masked or left out: refused.
    for password in [Some(json!("********")), None] {
        let mut configuration = json!({"crm.autotask.server.url": attacker.url()});
        if let Some(password) = password {
            configuration["crm.autotask.password"] = password;
        }
        let patch = json!({ "configuration": configuration });
        let (status, answer) = setup.api.call(Method::PATCH, &format!("/instances/{id}"), Some(patch)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["field"], "$.configuration['crm.autotask.password']", "{answer}");
        assert!(answer["message"].as_str().unwrap().contains("server URL changed"), "{answer}");
    }
    // The host's integration code is not sent to a server an API caller picks.
    let mut body = attackers_body(&setup, &attacker.url());
    body["configuration"].as_object_mut().unwrap().remove("crm.autotask.integration.code");
    let (status, answer) = setup.api.call(Method::POST, "/instances", Some(body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["field"], "$.configuration['crm.autotask.integration.code']", "{answer}");
    assert_eq!(attacker.requests.load(Ordering::SeqCst), 0, "nothing was sent to the other server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_has_one_spelling() {
    let setup = Setup::new().await;
    let id = setup.create().await["id"].as_i64().unwrap();
    for spelling in [format!("0{id}"), format!("+{id}"), format!("00{id}")] {
        for method in [Method::GET, Method::PATCH, Method::DELETE] {
            let body = (method == Method::PATCH).then(|| json!({"name": "renamed"}));
            let (status, answer) = setup.api.call(method.clone(), &format!("/instances/{spelling}"), body).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} /instances/{spelling}: {answer}");
        }
    }
    let (status, shown) = setup.api.call(Method::GET, &format!("/instances/{id}"), None).await;
    assert_eq!((status, shown["name"].clone()), (StatusCode::OK, json!("API Instance with Polling")));
    let (status, resources) = setup.api.call(Method::GET, &format!("/instances/{id}/resources"), None).await;
    assert_eq!(status, StatusCode::OK, "instance {id} still runs under its own id: {resources}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_addresses_are_refused_before_anything_is_sent() {
    let listener = Attacker::start().await;
    // A host with the default policy: loopback, private and link-local refused.
    let setup = Setup::with_rules("", &[]).await;
    for (field, url) in [
        ("event.notification.callback.url", format!("{}/events", listener.url())),
        ("event.notification.callback.url", "http://169.254.169.254/latest/meta-data/".to_owned()),
        ("event.notification.callback.url", "http://10.0.0.1/hook".to_owned()),
        ("event.notification.callback.url", "http://localhost:9/hook".to_owned()),
        ("crm.autotask.server.url", listener.url()),
    ] {
        let mut body = setup.readme_body();
        body["configuration"][field] = json!(url);
        let (status, answer) = setup.api.call(Method::POST, "/instances", Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {answer}");
        let problems = answer.get("problems").cloned().unwrap_or_else(|| json!([answer.clone()]));
        let named = problems.as_array().unwrap().iter().any(|problem| {
            problem["field"] == format!("$.configuration['{field}']")
                && problem["message"].as_str().unwrap().contains("[egress] allow")
        });
        assert!(named, "{url}: {answer}");
    }
    assert_eq!(listener.requests.load(Ordering::SeqCst), 0, "nothing reached the loopback listener");
    let (_, listed) = setup.api.call(Method::GET, "/instances", None).await;
    assert_eq!(listed.as_array().unwrap().len(), 0, "nothing was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_too_short_interval_is_refused_by_the_hosts_floor() {
    let setup = Setup::with_rules("[egress]\nallow = [\"loopback\"]\n\n", &[]).await;
    let mut body = setup.readme_body();
    body["configuration"]["event.poller.refresh_interval"] = json!(1e-12);
    let (status, answer) = setup.api.call(Method::POST, "/instances", Some(body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["field"], "$.configuration['event.poller.refresh_interval']");
    assert!(answer["message"].as_str().unwrap().contains("from 0.083 to 10080"), "{answer}");
    assert_eq!(setup.sim.stats().total, 0, "nothing reached Autotask");
}

/// Every leaf of `value` with its path of keys.
fn leaves(value: &Value, path: &mut Vec<String>, found: &mut Vec<Vec<String>>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                path.push(key.clone());
                leaves(child, path, found);
                path.pop();
            }
        }
        _ => found.push(path.clone()),
    }
}

fn set(body: &mut Value, path: &[String], value: Value) {
    let mut target = body;
    for key in path {
        target = &mut target[key.as_str()];
    }
    *target = value;
}

/// A small deterministic generator (xorshift), so a failure can be replayed from its seed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A JSON value of any type, often extreme.
    fn value(&mut self, depth: usize) -> Value {
        match self.below(if depth > 2 { 7 } else { 9 }) {
            0 => Value::Null,
            1 => json!(self.below(2) == 0),
            2 => [json!(1e308), json!(-1e308), json!(2.5e17), json!(1e-12), json!(-1.0), json!(0), json!(u64::MAX)]
                [self.below(7)]
            .clone(),
            3 => json!(["inf", "-inf", "NaN", "1e300", "-0", "", " "][self.below(7)]),
            4 => json!("y".repeat([1, 100, 5_000, 300_000][self.below(4)])),
            5 => json!("${dateTimeZone:".to_owned() + &":".repeat(self.below(2000))),
            6 => json!(format!("http://{}/x", ["127.0.0.1", "169.254.169.254", "10.0.0.1", "[::1]"][self.below(4)])),
            7 => Value::Array((0..self.below(4)).map(|_| self.value(depth + 1)).collect()),
            _ => Value::Object((0..self.below(4)).map(|i| (format!("k{i}"), self.value(depth + 1))).collect()),
        }
    }
}

/// The management API's body reader, fuzzed: every field of the documented
/// body replaced by values of every type (huge, non-finite, nested), and
/// bodies that are not JSON numbers at all. Every answer is an answer (no
/// dropped connection, no 500), every refusal a 400 naming a field, and a
/// refused body stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_body_reader_answers_every_mutation_with_a_400_naming_a_field() {
    let setup = Setup::new().await;
    let base = setup.readme_body();
    let mut paths = Vec::new();
    leaves(&base, &mut Vec::new(), &mut paths);
    let mut random = Random(0x5eed_cafe);
    let (mut refused, mut accepted) = (0, 0);
    for round in 0..8 {
        for path in &paths {
            let value = random.value(0);
            let mut body = base.clone();
            set(&mut body, path, value.clone());
            let text = body.to_string();
            let (status, answer) = setup.api.call_as(&authorization(), Method::POST, "/instances", Some(text)).await;
            let shown =
                format!("round {round}, {path:?} = {}", &value.to_string().chars().take(80).collect::<String>());
            match status {
                StatusCode::OK => {
                    accepted += 1;
                    let id = answer["id"].as_i64().unwrap();
                    let (status, _) =
                        setup.api.call(Method::DELETE, &format!("/instances/{id}?outbox=drop"), None).await;
                    assert_eq!(status, StatusCode::OK, "{shown}");
                }
                StatusCode::BAD_REQUEST => {
                    refused += 1;
                    let field = answer["field"].as_str().unwrap_or_else(|| panic!("{shown}: no field in {answer}"));
                    assert!(field.starts_with('$'), "{shown}: {answer}");
                    assert!(!answer["message"].as_str().unwrap_or_default().is_empty(), "{shown}: {answer}");
                }
                other => panic!("{shown}: answered {other}: {answer}"),
            }
        }
    }
    // Numbers JSON cannot hold, and values of the wrong type at the top.
    for text in [
        r#"{"name": 1e400}"#.to_owned(),
        r#"{"name": "x", "configuration": {"event.poller.refresh_interval": -1e400}}"#.to_owned(),
        "[]".to_owned(),
        "12".to_owned(),
        format!(r#"{{"name": "{}"}}"#, "n".repeat(500_000)),
    ] {
        let (status, answer) = setup.api.call_as(&authorization(), Method::POST, "/instances", Some(text)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert!(answer["field"].as_str().is_some_and(|field| field.starts_with('$')), "{answer}");
        refused += 1;
    }
    let (_, listed) = setup.api.call(Method::GET, "/instances", None).await;
    assert_eq!(listed.as_array().unwrap().len(), 0, "nothing refused was stored");
    assert!(refused > accepted, "{refused} refused, {accepted} accepted: the mutations hit");
    let (status, _) = setup.api.call(Method::GET, "/instances", None).await;
    assert_eq!(status, StatusCode::OK, "the service still answers");
}

/// A slow Autotask or a slow callback holds up only its own instance: while
/// seven poll-nows wait on a slow Autotask and a DELETE waits on a slow
/// callback, another instance is read, listed and changed at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_io_for_one_instance_never_delays_calls_about_another() {
    let setup = Setup::new().await;
    let slow = setup.create().await["id"].as_i64().unwrap();
    let other = setup.create().await["id"].as_i64().unwrap();
    let control = SimControl::new(&setup.sim);
    control.faults(json!({"latencyMs": 3000})).await;

    let base = setup.api.base.clone();
    let mut poll_nows = Vec::new();
    for _ in 0..7 {
        let api = Client::new(&base);
        poll_nows.push(tokio::spawn(async move {
            api.call(Method::POST, &format!("/instances/{slow}/poll"), None).await.0
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let changed = json!({"name": "renamed while another instance waits"});
    let (status, answer) = setup.api.call(Method::PATCH, &format!("/instances/{other}"), Some(changed)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, listed) = setup.api.call(Method::GET, "/instances", None).await;
    assert_eq!((status, listed.as_array().unwrap().len()), (StatusCode::OK, 2));
    assert!(poll_nows.iter().all(|task| !task.is_finished()), "the poll-nows still wait on Autotask");
    control.faults(json!({})).await;
    for task in poll_nows {
        assert_eq!(task.await.unwrap(), StatusCode::OK);
    }

    // A DELETE delivering to a callback that takes most of its timeout.
    setup.receiver.answer(Answer::Fail(503));
    control.create("Tickets", json!({"title": "waits for a slow callback"})).await;
    let api = &setup.api;
    wait_until(WAIT, "a message waiting for the callback", || async move {
        let (_, failed) = api.call(Method::GET, &format!("/instances/{slow}/events?status=failed"), None).await;
        failed.as_array().filter(|m| !m.is_empty()).cloned()
    })
    .await;
    setup.receiver.answer(Answer::Slow(Duration::from_millis(900)));
    let deleting = {
        let api = Client::new(&base);
        tokio::spawn(async move { api.call(Method::DELETE, &format!("/instances/{slow}"), None).await.0 })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _) = setup.api.call(Method::GET, &format!("/instances/{other}"), None).await;
    assert_eq!(status, StatusCode::OK);
    let changed = json!({"name": "renamed while another instance is deleted"});
    let (status, answer) = setup.api.call(Method::PATCH, &format!("/instances/{other}"), Some(changed)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(!deleting.is_finished(), "the DELETE still waits on its callback");
    setup.receiver.answer(Answer::Accept);
    let status = deleting.await.unwrap();
    assert!(status == StatusCode::OK || status == StatusCode::CONFLICT, "{status}");
}

/// An internal page behind a server URL: its text never comes back to the
/// caller (the service is not a reader of internal addresses), while
/// Autotask's own refusals are still quoted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_of_hosts_that_are_not_autotask_are_never_quoted() {
    let page = "INTERNAL-ADMIN-PAGE ".repeat(50);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let shown = page.clone();
    let router = Router::new().fallback(move || {
        let page = shown.clone();
        async move { (AxumStatus::FORBIDDEN, page) }
    });
    tokio::spawn(async move { axum::serve(listener, router).await });

    let setup = Setup::new().await;
    let mut body = attackers_body(&setup, &url);
    body["configuration"]["event.poller.refresh_interval"] = json!(FAST_MINUTES);
    let (status, answer) = setup.api.call(Method::POST, "/instances", Some(body)).await;
    assert!(status.is_client_error() || status.is_server_error(), "{answer}");
    assert!(!answer.to_string().contains("INTERNAL-ADMIN-PAGE"), "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("403"), "the status is still told: {answer}");

    // The simulator is an Autotask host here: its refusal is quoted.
    let mut body = setup.readme_body();
    body["configuration"]["crm.autotask.password"] = json!("wrong");
    let (status, answer) = setup.api.call(Method::POST, "/instances", Some(body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains("Authorization has been denied for this request."), "{answer}");
}
