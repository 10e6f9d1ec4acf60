//! `serve` with `[telemetry] otlp_endpoint`: one Autotask change makes one
//! trace, from its poll to its delivery, at an OTLP/HTTP collector running in
//! this test on loopback; and the receiver can continue that trace.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use autotask_sim::Simulator;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use serde_json::json;

use crate::service_process::{simulator, write_config};

/// A span as the collector received it, ids in hex and attribute values as text.
#[derive(Debug, Clone)]
struct ReceivedSpan {
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    attributes: HashMap<String, String>,
    /// The attributes of the resource it came with (`service.name`).
    resource: HashMap<String, String>,
}

impl ReceivedSpan {
    fn attribute(&self, key: &str) -> &str {
        self.attributes.get(key).map_or("", String::as_str)
    }
}

type Spans = Arc<Mutex<Vec<ReceivedSpan>>>;

/// An OTLP/HTTP collector: `POST /v1/traces` with a protobuf `ExportTraceServiceRequest`.
async fn start_collector() -> (SocketAddr, Spans) {
    let spans = Spans::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new()
        .route(
            "/v1/traces",
            post(|State(spans): State<Spans>, headers: HeaderMap, body: Bytes| async move {
                assert_eq!(headers["content-type"], "application/x-protobuf", "OTLP/HTTP protobuf");
                let request = ExportTraceServiceRequest::decode(body).expect("an ExportTraceServiceRequest");
                let mut spans = spans.lock().unwrap();
                for resource_spans in request.resource_spans {
                    let resource = attributes(&resource_spans.resource.map(|r| r.attributes).unwrap_or_default());
                    for span in resource_spans.scope_spans.into_iter().flat_map(|scope| scope.spans) {
                        spans.push(ReceivedSpan {
                            name: span.name,
                            trace_id: hex(&span.trace_id),
                            span_id: hex(&span.span_id),
                            parent_span_id: hex(&span.parent_span_id),
                            attributes: attributes(&span.attributes),
                            resource: resource.clone(),
                        });
                    }
                }
                StatusCode::OK
            }),
        )
        .with_state(spans.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (addr, spans)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn attributes(pairs: &[KeyValue]) -> HashMap<String, String> {
    let text = |value: &Option<AnyValue>| match value.as_ref().and_then(|value| value.value.as_ref()) {
        Some(any_value::Value::StringValue(text)) => text.clone(),
        Some(any_value::Value::IntValue(number)) => number.to_string(),
        Some(any_value::Value::DoubleValue(number)) => number.to_string(),
        Some(any_value::Value::BoolValue(flag)) => flag.to_string(),
        other => format!("{other:?}"),
    };
    pairs.iter().map(|pair| (pair.key.clone(), text(&pair.value))).collect()
}

/// What the callback got: (webhook id, `traceparent` header) per message.
type Deliveries = Arc<Mutex<Vec<(String, Option<String>)>>>;

async fn start_receiver() -> (SocketAddr, Deliveries) {
    let deliveries = Deliveries::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new()
        .route(
            "/events",
            post(|State(deliveries): State<Deliveries>, headers: HeaderMap| async move {
                let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
                deliveries
                    .lock()
                    .unwrap()
                    .push((header("elements-webhook-id").unwrap_or_default(), header("traceparent")));
                StatusCode::OK
            }),
        )
        .with_state(deliveries.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (addr, deliveries)
}

/// `serve`, exporting batches every 100 ms (the SDK's `OTEL_BSP_SCHEDULE_DELAY`, in milliseconds).
fn serve(config: &Path, sim: &Simulator, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_autotask-events"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("TEST_AUTOTASK_SECRET", &sim.config().secret)
        .env("RUST_LOG", "info")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("the binary starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_change_is_one_trace_from_its_poll_to_its_delivery_and_the_receiver_gets_its_traceparent() {
    let sim = simulator(20).await;
    let (collector, spans) = start_collector().await;
    let (callback, deliveries) = start_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    // Tables written before the instance's.
    let tables = format!("[telemetry]\notlp_endpoint = \"http://{collector}/\"\nservice_name = \"events-under-test\"");
    let config = write_config(dir.path(), &sim, callback, &tables);
    let log = dir.path().join("serve.log");
    let mut child = serve(&config, &sim, &log);

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let patched = reqwest::Client::new()
        .patch(format!("{}/sim/Tickets/3", sim.url()))
        .json(&json!({"status": 5}))
        .send()
        .await
        .unwrap();
    assert!(patched.status().is_success());

    // The delivery, and its span at the collector.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (message_id, traceparent, deliver) = loop {
        let delivered = deliveries.lock().unwrap().first().cloned();
        if let Some((message_id, traceparent)) = delivered {
            let spans = spans.lock().unwrap();
            let span = spans.iter().find(|span| span.name == "deliver" && span.attribute("message.id") == message_id);
            if let Some(span) = span {
                break (message_id, traceparent, span.clone());
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "no delivery span within 30 s; deliveries: {:?}; {} span(s); log:\n{}",
                deliveries.lock().unwrap(),
                spans.lock().unwrap().len(),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(deliver.attribute("http.response.status_code"), "200", "{deliver:?}");
    assert_eq!(deliver.attribute("outcome"), "delivered");
    assert_eq!(deliver.attribute("attempt"), "1");
    assert_eq!(deliver.attribute("instance"), "acme");
    assert!(deliver.attribute("latency_ms").parse::<f64>().is_ok(), "{deliver:?}");
    assert_eq!(deliver.resource.get("service.name").map(String::as_str), Some("events-under-test"));

    // The receiver may continue the trace: the header names this attempt's span in this trace.
    let traceparent = traceparent.expect("a traceparent header with the delivery");
    assert_eq!(traceparent, format!("00-{}-{}-01", deliver.trace_id, deliver.span_id));

    // Give the poll's spans time to arrive: they end before the delivery's, but batches may split them.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = spans.lock().unwrap().clone();
    let trace: Vec<&ReceivedSpan> = all.iter().filter(|span| span.trace_id == deliver.trace_id).collect();
    let named = |name: &str| trace.iter().copied().filter(|span| span.name == name).collect::<Vec<_>>();
    let polls = named("poll");
    assert_eq!(polls.len(), 1, "one poll in the trace: {trace:#?}");
    let poll = polls[0];
    assert_eq!(poll.parent_span_id, "", "the poll is the trace's root");
    assert_eq!((poll.attribute("instance"), poll.attribute("resource")), ("acme", "incidents"));
    assert_eq!(poll.attribute("trigger"), "poll");
    assert!(poll.attribute("messages").parse::<u64>().unwrap() >= 1, "{poll:?}");
    assert_eq!(deliver.parent_span_id, poll.span_id, "the delivery continues its poll's trace");

    let pages = named("autotask.page");
    for page in &pages {
        assert_eq!(page.parent_span_id, poll.span_id);
        assert_eq!(page.attribute("http.response.status_code"), "200");
    }
    let page = pages
        .iter()
        .find(|page| page.attribute("records") != "0")
        .unwrap_or_else(|| panic!("the page read with the change: {trace:#?}"));
    assert_eq!((page.attribute("entity"), page.attribute("page")), ("Tickets", "1"));

    let version = plugin_runtime::version_of(builtin_plugin::INCIDENTS_WASM);
    let maps = named("map");
    let map = maps
        .iter()
        .find(|map| map.attribute("events") != "0")
        .unwrap_or_else(|| panic!("a map span with the change's event: {maps:#?}"));
    assert_eq!(map.parent_span_id, poll.span_id);
    assert_eq!(map.attribute("plugin.name"), "incidents.wasm");
    assert_eq!(map.attribute("plugin.version"), &version[..12], "the loaded plugin's version");
    assert_eq!(map.attribute("failed"), "0");

    let commits = named("store.commit");
    assert!(commits.iter().all(|commit| commit.parent_span_id == poll.span_id), "{commits:#?}");
    assert!(
        commits.iter().any(|commit| commit.attribute("messages") != "0"),
        "the commit of the message: {commits:#?}"
    );
    assert!(deliveries.lock().unwrap().iter().all(|(id, _)| *id == message_id), "one message");

    // A clean stop sends what is left, and exits well.
    let status = Command::new("sh").args(["-c", &format!("kill -TERM {}", child.id())]).status().unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(exit.success(), "a clean exit: {exit:?}");

    // No secret in any span: not the Autotask secret, not the signature key.
    let all = spans.lock().unwrap().clone();
    let secret = &sim.config().secret;
    for span in &all {
        for (key, value) in span.attributes.iter().chain(&span.resource) {
            assert!(!value.contains(secret.as_str()), "the Autotask secret in {key} of {span:?}");
            assert!(!value.contains("crash-test-key"), "the signature key in {key} of {span:?}");
        }
    }
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(!log.contains("traces not exported"), "the collector took every batch:\n{log}");
}
