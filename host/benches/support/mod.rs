//! What the service benchmarks share: a receiver that only counts events, and
//! the instance they configure.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use autotask_sim::Simulator;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;

/// Acknowledges every message and counts its events (one `"eventType"` each)
/// without parsing it, so the receiver costs the measurement little.
pub async fn start_receiver(events: Arc<AtomicU64>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new()
        .route(
            "/events",
            post(|State(events): State<Arc<AtomicU64>>, body: Bytes| async move {
                let count = body.windows(12).filter(|w| w == b"\"eventType\":").count();
                events.fetch_add(count as u64, Ordering::Relaxed);
                "ok"
            }),
        )
        .with_state(events);
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// An `[[instance]]` table polling the simulator's incidents every `interval`
/// seconds and delivering to `receiver`; with `backfill`, its first poll
/// reads everything (`since`), else only what changes after it starts.
pub fn instance_toml(sim: &Simulator, receiver: SocketAddr, id: &str, interval: f64, backfill: bool) -> String {
    let config = sim.config();
    let resources = serde_json::json!({"incidents": {
        "url": "/hubs/helpdesk/incidents?where=lastActivityDate>='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'",
        "idField": "id",
        "datesConfiguration": {
            "updatedDateField": "lastActivityDate", "updatedDateFormat": "yyyy-MM-dd'T'HH:mm:ss'Z'",
            "createdDateField": "createDate", "createdDateFormat": "yyyy-MM-dd'T'HH:mm:ss'Z'"}}});
    format!(
        r#"[[instance]]
id = "{id}"
name = "{id}"
{since}
refresh_interval_seconds = {interval}
element = {{ key = "autotaskhelpdesk" }}
[instance.configuration]
"helpdesk.autotask.username" = "{user}"
"helpdesk.autotask.password" = "{secret}"
"helpdesk.autotask.integration.code" = "{code}"
"helpdesk.autotask.server.url" = "{url}"
"event.notification.enabled" = true
"event.notification.callback.url" = "http://{receiver}/events"
"event.notification.signature.key" = "bench"
"event.poller.configuration" = {resources}

"#,
        user = config.user,
        secret = config.secret,
        code = config.integration_code,
        url = sim.url(),
        resources = serde_json::to_string(&resources.to_string()).unwrap(),
        since = if backfill { "since = \"2000-01-01T00:00:00Z\"" } else { "" },
    )
}
