//! The management API as a contract: its OpenAPI 3.1 document, served open at
//! `{prefix}/openapi.json`, says what every operation takes and answers; a
//! client written from it, and one openapi-python-client generates from it, each
//! do create → poll → events → delete against the service; the committed
//! `docs/openapi.json` is the served one; and Schemathesis fuzzes every
//! operation against a live service with the simulator behind it. (The
//! generator and Schemathesis are opted in: `--ignored openapi::`; `tests/run`
//! installs both.)

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Command;
use std::time::Duration;

use crate::console::{ORGANIZATION_SECRET, SIGNATURE_KEY, USER_SECRET};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use support::service::{SimControl, incidents_resource, instance_toml};
use support::wait_until;

const PREFIX: &str = "/elements/api-v2";
const WAIT: Duration = Duration::from_secs(20);

fn authorization() -> String {
    format!("User {USER_SECRET}, Organization {ORGANIZATION_SECRET}")
}

/// The console tests' simulator, receiver and service, with one configuration
/// file instance; and a client that follows redirects (the console's link).
struct Setup {
    running: crate::console::Setup,
    http: reqwest::Client,
}

impl Setup {
    async fn new() -> Setup {
        let running = crate::console::Setup::with_instances(10, |sim, receiver| {
            vec![instance_toml(
                "from-the-file",
                sim,
                &receiver.url(),
                json!({"incidents": incidents_resource()}),
                json!({"event.notification.enabled": false}),
                "",
            )]
        })
        .await;
        Setup { running, http: reqwest::Client::new() }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}{PREFIX}", self.running.service.addr().port())
    }

    /// The served document, fetched without credentials.
    async fn document(&self) -> Value {
        let response = self.http.get(format!("{}/openapi.json", self.base())).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "the document is served without credentials");
        response.json().await.expect("the document is JSON")
    }

    /// The documented instance body, pointed at the simulator and the receiver.
    fn instance_body(&self) -> Value {
        let mut body = crate::api::readme_instance_body();
        let configuration = &mut body["configuration"];
        configuration["crm.autotask.username"] = json!(self.running.sim.config().user);
        configuration["crm.autotask.password"] = json!(self.running.sim.config().secret);
        configuration["crm.autotask.server.url"] = json!(self.running.sim.url());
        configuration["event.notification.callback.url"] = json!(self.running.receiver.url());
        configuration["event.notification.signature.key"] = json!(SIGNATURE_KEY);
        body
    }
}

/// The operations of `document`: (method, path) → operation.
fn operations(document: &Value) -> BTreeMap<(String, String), Value> {
    let mut found = BTreeMap::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                found.insert((method.clone(), path.clone()), operation.clone());
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_served_open_and_every_operation_is_documented_and_routed() {
    let setup = Setup::new().await;
    let response = setup.http.get(format!("{}/openapi.json", setup.base())).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    assert!(response.headers()["cache-control"].to_str().unwrap().contains("max-age"), "clients may keep it");
    let document: Value = response.json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1."), "{}", document["openapi"]);
    assert_eq!(document["servers"][0]["url"], PREFIX, "the configured prefix");
    // The calls it describes still need the secrets.
    let refused = setup.http.get(format!("{}/instances", setup.base())).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    // The console links it from every page's footer, the sign-in page's too.
    let root = format!("http://127.0.0.1:{}", setup.running.service.addr().port());
    let sign_in = setup.http.get(format!("{root}/console/sign-in")).send().await.unwrap().text().await.unwrap();
    assert!(sign_in.contains(r#"<a href="/console/api">API (OpenAPI)</a>"#), "{sign_in}");
    let linked = setup.http.get(format!("{root}/console/api")).send().await.unwrap();
    assert_eq!(linked.url().path(), format!("{PREFIX}/openapi.json"), "the link leads to the document");
    assert_eq!(linked.json::<Value>().await.unwrap(), document);

    let scheme = &document["components"]["securitySchemes"]["authorization"];
    assert_eq!((scheme["type"].as_str(), scheme["in"].as_str()), (Some("apiKey"), Some("header")));
    assert_eq!(scheme["name"], "Authorization");
    assert!(scheme["description"].as_str().unwrap().contains("User <user secret>, Organization <organization secret>"));
    let error = &document["components"]["schemas"]["ApiError"];
    let properties: HashSet<&str> = error["properties"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(properties, HashSet::from(["message", "field", "problems"]));
    assert_eq!(error["required"], json!(["message"]));

    // Found by Schemathesis: an empty search parameter counts as absent (the console's forms
    // send empty fields), so `?to=` is answered, and the document must say that it may be empty.
    let parameters = document["paths"]["/instances/{id}/events"]["get"]["parameters"].as_array().unwrap();
    let to = parameters.iter().find(|parameter| parameter["name"] == "to").unwrap();
    assert!(to["schema"]["oneOf"].as_array().unwrap().contains(&json!({"type": "string", "maxLength": 0})));
    let file_events = setup
        .http
        .get(format!("{}/instances/from-the-file/events?to=&from=&status=", setup.base()))
        .header("Authorization", authorization())
        .send()
        .await
        .unwrap();
    assert_eq!(file_events.status(), StatusCode::OK);

    let operations = operations(&document);
    assert!(operations.len() >= 21, "every operation: {:?}", operations.keys());
    assert_links_lead_to_operations(&operations);
    let mut ids = HashSet::new();
    for ((method, path), operation) in &operations {
        let id = operation["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has an operationId"));
        assert!(ids.insert(id.to_owned()), "operationId {id} is unique");
        assert!(operation["summary"].is_string(), "{method} {path} has a summary");
        let open = path == "/openapi.json";
        assert_eq!(
            operation["security"].is_array(),
            !open,
            "{method} {path}: secrets needed unless it is the document"
        );
        let responses = operation["responses"].as_object().unwrap();
        if !open {
            assert_eq!(
                responses["401"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ApiError",
                "{method} {path} says how a refusal looks"
            );
        }

        // Routed as documented: with the secrets, a call on things that do not exist
        // answers one of its documented statuses, never the router's "no such API endpoint".
        let concrete = path
            .replace("{id}", "424242")
            .replace("{message}", "no-such-message")
            .replace("{name}", "no-such-plugin.js");
        let concrete = concrete.replace("{version}", "9");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let mut request = setup.http.request(method.clone(), format!("{}{concrete}", setup.base()));
        request = request.header("Authorization", authorization());
        if [Method::POST, Method::PATCH, Method::PUT].contains(&method) && !concrete.ends_with("/poll") {
            request = request.header("Content-Type", "application/json").body("{}");
        }
        let answer = request.send().await.unwrap();
        let status = answer.status();
        let text = answer.text().await.unwrap();
        assert!(!text.contains("no such API endpoint"), "{method} {concrete} is routed: {text}");
        assert!(
            responses.contains_key(status.as_str()),
            "{method} {concrete} answered {status}, which its documentation does not list: {text}"
        );
    }
}

/// Every link (followed by Schemathesis' stateful phase, and by client tools) names an
/// operation of the document and only parameters that operation has.
fn assert_links_lead_to_operations(operations: &BTreeMap<(String, String), Value>) {
    let parameters: HashMap<&str, HashSet<&str>> = operations
        .values()
        .map(|operation| {
            let names = operation["parameters"].as_array().into_iter().flatten();
            (operation["operationId"].as_str().unwrap(), names.map(|p| p["name"].as_str().unwrap()).collect())
        })
        .collect();
    let mut links = 0;
    for ((method, path), operation) in operations {
        for response in operation["responses"].as_object().unwrap().values() {
            for (name, link) in response["links"].as_object().into_iter().flatten() {
                let target = link["operationId"].as_str().unwrap();
                let known =
                    parameters.get(target).unwrap_or_else(|| panic!("{method} {path}: link {name} leads nowhere"));
                for parameter in link["parameters"].as_object().unwrap().keys() {
                    assert!(
                        known.contains(parameter.as_str()),
                        "{method} {path}: link {name} sets `{parameter}`, not {target}'s"
                    );
                }
                links += 1;
            }
        }
    }
    assert!(links >= 5, "from a message list to its messages, from an upload to its versions: {links}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_instance_body_is_the_example_and_the_committed_copy_is_the_served_document() {
    let setup = Setup::new().await;
    let document = setup.document().await;
    let body = &document["components"]["schemas"]["InstanceBody"];
    assert_eq!(body["example"], crate::api::readme_instance_body(), "the example is docs/management-api.md's");
    let create = &document["paths"]["/instances"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(create["$ref"], "#/components/schemas/InstanceBody");
    let configuration = &document["components"]["schemas"]["Configuration"]["properties"];
    for key in [
        "crm.autotask.username",
        "crm.autotask.password",
        "crm.autotask.server.url",
        "event.notification.enabled",
        "event.notification.callback.url",
        "event.notification.signature.key",
        "event.poller.refresh_interval",
        "event.poller.configuration",
    ] {
        assert!(configuration.get(key).is_some(), "the configuration's `{key}` is described");
    }

    // The copy people read without running the service.
    let served = setup.http.get(format!("{}/openapi.json", setup.base())).send().await.unwrap().text().await.unwrap();
    let committed = std::fs::read_to_string(support::workspace_root().join("docs/openapi.json")).unwrap_or_default();
    assert!(
        committed == served,
        "docs/openapi.json is not the served document; regenerate it with \
         `UPDATE_OPENAPI=1 cargo test -p autotask-events-web docs_openapi_json`"
    );
}

// --- A typed client written from the document: each type is named after its schema. ---

/// `#/components/schemas/InstanceView` (the fields this client reads).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InstanceView {
    id: Value,
    instance_number: u64,
    name: Option<String>,
    token: Option<String>,
    read_only: bool,
    events_enabled: bool,
}

/// `#/components/schemas/Polled`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Polled {
    instance_id: String,
    resources: Vec<ResourcePolled>,
}

/// `#/components/schemas/ResourcePolled`.
#[derive(Debug, Deserialize)]
struct ResourcePolled {
    name: String,
    ok: bool,
    summary: Option<PollSummary>,
    error: Option<String>,
}

/// `#/components/schemas/PollSummary`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PollSummary {
    records: u64,
    events: u64,
    messages: u64,
}

/// `#/components/schemas/MessageView`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageView {
    id: String,
    resource: String,
    status: String,
    event_count: u64,
    events: Vec<EventSummary>,
}

/// `#/components/schemas/EventSummary`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventSummary {
    event_type: Option<String>,
    object_id: Option<String>,
}

/// `#/components/schemas/Deleted`.
#[derive(Debug, Deserialize)]
struct Deleted {
    id: i64,
    deleted: bool,
}

/// `#/components/schemas/ApiError`.
#[derive(Debug, Deserialize)]
struct ApiError {
    message: String,
    field: Option<String>,
}

/// The operations this client calls, with the schemas it reads them as:
/// (method, path, request schema, 200 answer schema; `[]` for an array of it).
const CLIENT_OPERATIONS: [(&str, &str, Option<&str>, &str); 5] = [
    ("post", "/instances", Some("InstanceBody"), "InstanceView"),
    ("post", "/instances/{id}/poll", None, "PollAnswer"),
    ("get", "/instances/{id}/events", None, "[]MessageView"),
    ("get", "/instances/{id}", None, "InstanceView"),
    ("delete", "/instances/{id}", None, "Deleted"),
];

/// The management API, typed.
struct ApiClient {
    http: reqwest::Client,
    base: String,
    authorization: String,
}

impl ApiClient {
    async fn call<T: for<'de> Deserialize<'de>>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&impl Serialize>,
    ) -> Result<T, (StatusCode, ApiError)> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .query(query)
            .header("Authorization", &self.authorization);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status();
        if status.is_success() {
            Ok(response.json().await.expect("an answer of the documented schema"))
        } else {
            Err((status, response.json().await.expect("an ApiError")))
        }
    }

    /// `createInstance`.
    async fn create_instance(&self, body: &Value) -> Result<InstanceView, (StatusCode, ApiError)> {
        self.call(Method::POST, "/instances", &[], Some(body)).await
    }

    /// `pollInstance`, not a dry run: the answer is a `Polled`.
    async fn poll_instance(&self, id: &str) -> Result<Polled, (StatusCode, ApiError)> {
        self.call(Method::POST, &format!("/instances/{id}/poll"), &[], None::<&Value>).await
    }

    /// `listEvents`.
    async fn list_events(&self, id: &str, limit: &str) -> Result<Vec<MessageView>, (StatusCode, ApiError)> {
        self.call(Method::GET, &format!("/instances/{id}/events"), &[("limit", limit)], None::<&Value>).await
    }

    /// `getInstance`.
    async fn get_instance(&self, id: &str) -> Result<InstanceView, (StatusCode, ApiError)> {
        self.call(Method::GET, &format!("/instances/{id}"), &[], None::<&Value>).await
    }

    /// `deleteInstance`.
    async fn delete_instance(&self, id: &str) -> Result<Deleted, (StatusCode, ApiError)> {
        self.call(Method::DELETE, &format!("/instances/{id}"), &[("outbox", "flush")], None::<&Value>).await
    }
}

/// The schema name an operation's part refers to (`[]Name` for an array of `Name`).
fn schema_name(schema: &Value) -> Option<String> {
    let reference = |schema: &Value| {
        schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")).map(str::to_owned)
    };
    match schema["type"].as_str() {
        Some("array") => reference(&schema["items"]).map(|name| format!("[]{name}")),
        _ => reference(schema),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_written_from_the_document_creates_polls_reads_events_and_deletes() {
    let setup = Setup::new().await;
    let document = setup.document().await;
    let operations = operations(&document);
    for (method, path, request, answer) in CLIENT_OPERATIONS {
        let operation = operations
            .get(&(method.to_owned(), path.to_owned()))
            .unwrap_or_else(|| panic!("the document has {method} {path}"));
        if let Some(request) = request {
            let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
            assert_eq!(schema_name(schema).as_deref(), Some(request), "{method} {path}'s body");
        }
        let schema = &operation["responses"]["200"]["content"]["application/json"]["schema"];
        assert_eq!(schema_name(schema).as_deref(), Some(answer), "{method} {path}'s answer");
        for status in ["400", "401", "404"] {
            if let Some(refusal) = operation["responses"].get(status) {
                assert_eq!(schema_name(&refusal["content"]["application/json"]["schema"]).as_deref(), Some("ApiError"));
            }
        }
    }
    for name in ["InstanceView", "Polled", "ResourcePolled", "PollSummary", "MessageView", "EventSummary", "Deleted"] {
        assert!(document["components"]["schemas"].get(name).is_some(), "the document defines {name}");
    }

    let client = ApiClient { http: setup.http.clone(), base: setup.base(), authorization: authorization() };
    let created = client.create_instance(&setup.instance_body()).await.expect("the documented body is taken");
    let id = created.id.as_i64().expect("an API instance's id is a number").to_string();
    assert_eq!(created.instance_number.to_string(), id);
    assert!(created.token.is_some() && !created.read_only && created.events_enabled);
    assert_eq!(created.name.as_deref(), Some("API Instance with Polling"));

    // A ticket changes in Autotask; a poll now finds it (unless the scheduled first poll did).
    let ticket =
        SimControl::new(&setup.running.sim).create("Tickets", json!({"title": "Seen through the typed client"})).await;
    let polled = client.poll_instance(&id).await.expect("a poll");
    assert_eq!(polled.instance_id, id);
    let incidents = polled.resources.iter().find(|resource| resource.name == "incidents").expect("incidents polled");
    assert!(incidents.ok, "{:?}", incidents.error);
    let summary = incidents.summary.as_ref().expect("a summary when ok");
    assert!(summary.events <= summary.records && summary.messages <= summary.events.max(1), "{summary:?}");

    let ticket_id = ticket.to_string();
    let messages = wait_until(WAIT, "the ticket's message delivered", || async {
        let messages = client.list_events(&id, "100").await.expect("events");
        let about_it = |message: &MessageView| {
            message.status == "delivered"
                && message.events.iter().any(|event| event.object_id.as_deref() == Some(ticket_id.as_str()))
        };
        messages.iter().any(about_it).then_some(messages)
    })
    .await;
    let delivered = messages
        .iter()
        .find(|message| message.events.iter().any(|event| event.object_id.as_deref() == Some(ticket_id.as_str())))
        .unwrap();
    assert_eq!(delivered.resource, "incidents");
    assert_eq!(delivered.event_count as usize, delivered.events.len());
    assert!(delivered.events.iter().all(|event| event.event_type.is_some() && event.object_id.is_some()));
    assert!(
        setup.running.receiver.accepted().iter().any(|delivery| delivery.json().to_string().contains(&delivered.id))
    );

    // A refusal reads as the documented ApiError, naming the parameter.
    let (status, refusal) = client.list_events(&id, "ten").await.expect_err("a limit that is not a number");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(refusal.field.as_deref(), Some("?limit"), "{}", refusal.message);

    let deleted = client.delete_instance(&id).await.expect("deleted");
    assert!(deleted.deleted);
    assert_eq!(deleted.id.to_string(), id);
    let (status, _) = client.get_instance(&id).await.expect_err("gone");
    assert_eq!(status, StatusCode::NOT_FOUND);
}

// --- A client generated from the document ---

/// openapi-python-client generates a Python package from the served document
/// (every schema and operation, or its warning fails the test), and
/// tests/openapi-client/flow.py drives the service through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs openapi-python-client; tests/run installs it"]
async fn a_client_generated_by_openapi_python_client_creates_polls_reads_events_and_deletes() {
    let generator = std::env::var("AUTOTASK_EVENTS_OPENAPI_PYTHON_CLIENT").unwrap_or_else(|_| {
        panic!(
            "AUTOTASK_EVENTS_OPENAPI_PYTHON_CLIENT is not set: point it at an openapi-python-client 0.29.1 executable \
             (tests/run installs one in target/plugin-tools/openapi-python-client)"
        )
    });
    let setup = Setup::new().await;
    let work = tempfile::tempdir().unwrap();
    let body = work.path().join("instance.json");
    std::fs::write(&body, setup.instance_body().to_string()).unwrap();
    let arguments = [setup.base(), authorization(), format!("{}/sim", setup.running.sim.url())];
    let document = format!("{}/openapi.json", setup.base());
    let directory = work.path().to_owned();
    let (generated, ran) = tokio::task::spawn_blocking(move || {
        // The generator's own environment: Python, httpx and attrs for the client, ruff to format it.
        let tools = std::path::Path::new(&generator).parent().expect("the generator is in a directory").to_owned();
        let path = format!("{}:{}", tools.display(), std::env::var("PATH").unwrap_or_default());
        let generated = Command::new(&generator)
            .args(["generate", "--url", &document, "--output-path", "client"])
            .current_dir(&directory)
            .env("PATH", &path)
            .output()
            .unwrap_or_else(|error| panic!("{generator} does not run: {error}"));
        let ran = Command::new(tools.join("python"))
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi-client/flow.py"))
            .args(&arguments)
            .arg(&body)
            .env("PYTHONPATH", directory.join("client"))
            .output()
            .expect("python runs");
        (generated, ran)
    })
    .await
    .unwrap();
    let generator_said =
        format!("{}{}", String::from_utf8_lossy(&generated.stdout), String::from_utf8_lossy(&generated.stderr));
    assert!(generated.status.success(), "the generator failed:\n{generator_said}");
    assert!(!generator_said.contains("Warning"), "every schema and operation is generated:\n{generator_said}");
    let stdout = String::from_utf8_lossy(&ran.stdout);
    assert!(ran.status.success(), "flow.py failed:\n{stdout}\n{}", String::from_utf8_lossy(&ran.stderr));

    let saw: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("one JSON line: {stdout}"));
    assert_eq!(saw["deleted"], json!(true), "{saw}");
    assert!(saw["attempts"].as_u64().unwrap() >= 1, "{saw}");
    let message = saw["message"].as_str().unwrap();
    assert!(
        setup.running.receiver.accepted().iter().any(|delivery| delivery.json().to_string().contains(message)),
        "the message the client read is the one the receiver got: {saw}"
    );
    let instance = saw["instance"].as_str().unwrap();
    let client = ApiClient { http: setup.http.clone(), base: setup.base(), authorization: authorization() };
    let (status, _) = client.get_instance(instance).await.expect_err("deleted through the generated client");
    assert_eq!(status, StatusCode::NOT_FOUND);
}

// --- Schemathesis ---

/// Examples per operation and phase: with the stateful phase, ~3,000 test
/// cases in under a minute on two busy cores (well under the five allowed).
const MAX_EXAMPLES: &str = "100";

/// Checks left out, each with why.
const EXCLUDED_CHECKS: [(&str, &str); 1] = [(
    "positive_data_acceptance",
    // A body can match the schema and still be refused: Autotask refuses made-up
    // credentials (400 naming `crm.autotask.username`), a poll URL's CEQL must
    // parse, a plugin's bytes must compile, a bulk redelivery needs at least one of
    // its (each optional) search parameters. The schema cannot say these; the
    // refusals are documented 400s and the other checks still hold them to the
    // ApiError schema.
    "schema-valid bodies are refused for what only Autotask or the plugin runtime can check",
)];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Schemathesis; tests/run installs it"]
async fn schemathesis_finds_no_failure_in_any_operation() {
    let schemathesis = std::env::var("AUTOTASK_EVENTS_SCHEMATHESIS").unwrap_or_else(|_| {
        panic!(
            "AUTOTASK_EVENTS_SCHEMATHESIS is not set: point it at a schemathesis 4.32.5 executable \
             (tests/run installs one in target/plugin-tools/schemathesis)"
        )
    });
    let setup = Setup::new().await;
    // An API instance for the operations on one (the document's example id is 1).
    let client = ApiClient { http: setup.http.clone(), base: setup.base(), authorization: authorization() };
    let created = client.create_instance(&setup.instance_body()).await.expect("an instance to fuzz");
    assert_eq!(created.id, json!(1));
    // Messages and a plugin version to find, so that the operations on one (reached through
    // the document's links and examples) get past "not found" to their work.
    SimControl::new(&setup.running.sim).create("Tickets", json!({"title": "For the fuzzer to find"})).await;
    let message = wait_until(WAIT, "instance 1's poll to store the new ticket's message", || async {
        client.poll_instance("1").await.expect("instance 1 polls");
        client.list_events("1", "1").await.expect("its messages list").pop()
    })
    .await;
    let script = b"exports.mapRecord = (ticket, meta) => ({ payload: { id: ticket.id, title: ticket.title } });\n";
    let uploaded = setup
        .http
        .put(format!("{}/plugins/incidents.js", setup.base()))
        .header("Authorization", authorization())
        .body(script.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), StatusCode::CREATED, "{}", uploaded.text().await.unwrap());
    let reports = tempfile::tempdir().unwrap();
    // The message's id is known only now: the operations on one message are given it (a
    // list's first message is linked to them too, but fuzzed searches mostly find none).
    let config = reports.path().join("schemathesis.toml");
    let config_text = format!(
        "[[operations]]\ninclude-operation-id = [\"getEvent\", \"redeliverEvent\"]\nparameters = {{ \"path.message\" = \"{}\" }}\n",
        message.id
    );
    std::fs::write(&config, config_text).unwrap();
    let started = std::time::Instant::now();
    let schemathesis_run = {
        let (schemathesis, document, reports) =
            (schemathesis.clone(), format!("{}/openapi.json", setup.base()), reports.path().to_owned());
        let excluded = EXCLUDED_CHECKS.map(|(check, _)| check).join(",");
        tokio::task::spawn_blocking(move || {
            Command::new(&schemathesis)
                .arg("--config-file")
                .arg(reports.join("schemathesis.toml"))
                .args(["run", &document, "--checks", "all", "--exclude-checks", &excluded])
                .args(["--header", &format!("Authorization: {}", authorization())])
                .args(["--max-examples", MAX_EXAMPLES, "--phases", "examples,coverage,fuzzing,stateful"])
                .args(["--seed", "24", "--workers", "2", "--request-timeout", "30", "--no-color"])
                .args(["--report", "json", "--report-dir"])
                .arg(&reports)
                .env("SCHEMATHESIS_HOOKS", "")
                // Its cache (`.schemathesis/`) goes with the reports, not into the checkout.
                .current_dir(&reports)
                .output()
                .unwrap_or_else(|error| panic!("{schemathesis} does not run: {error}"))
        })
    };
    let output = schemathesis_run.await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let figures = figures(reports.path());
    println!("{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    println!("Schemathesis figures: {figures} in {:.0} s", started.elapsed().as_secs_f64());
    assert!(output.status.success(), "Schemathesis found failures ({figures}):\n{stdout}");

    // Still healthy, and consistent: every instance listed can be read and, when
    // the API made it, deleted; then only the configuration file's is left.
    let root = format!("http://127.0.0.1:{}", setup.running.service.addr().port());
    let health = setup.http.get(format!("{root}/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK, "{}", health.text().await.unwrap());
    let listed: Vec<InstanceView> =
        client.call(Method::GET, "/instances", &[], None::<&Value>).await.expect("the list reads");
    for instance in &listed {
        let id = instance.id.as_i64().map_or_else(|| instance.id.as_str().unwrap().to_owned(), |n| n.to_string());
        client.get_instance(&id).await.unwrap_or_else(|error| panic!("instance {id} reads: {error:?}"));
        if !instance.read_only {
            let deleted: Deleted = client
                .call(Method::DELETE, &format!("/instances/{id}"), &[("outbox", "drop")], None::<&Value>)
                .await
                .unwrap_or_else(|error| panic!("instance {id} deletes: {error:?}"));
            assert!(deleted.deleted);
        }
    }
    let left: Vec<InstanceView> = client.call(Method::GET, "/instances", &[], None::<&Value>).await.unwrap();
    let left: Vec<&Value> = left.iter().map(|instance| &instance.id).collect();
    assert_eq!(left, [&json!("from-the-file")], "only the configuration file's instance is left");
}

/// What the run's JSON report counts: operations tested, test cases
/// generated, failures (by Schemathesis' code) and errors.
fn figures(reports: &std::path::Path) -> String {
    let report = std::fs::read_dir(reports)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|extension| extension == "json"))
        .and_then(|path| std::fs::read_to_string(path).ok())
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .unwrap_or(Value::Null);
    let failures: Vec<String> = report["failures"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|failure| format!("{} {} ×{}", failure["code"], failure["title"], failure["count"]))
        .collect();
    format!(
        "{} operations tested, {} test cases generated, {} with failures ({} unique: [{}]), {} errors",
        report["operations"]["tested"],
        report["test_cases"]["generated"],
        report["test_cases"]["with_failures"],
        report["test_cases"]["unique_failures"],
        failures.join(", "),
        report["errors"].as_array().map_or(0, Vec::len),
    )
}
