//! A callback receiver for end-to-end tests: a real HTTP server on loopback
//! that records every delivery and answers as the test tells it to.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 200 at once.
    Accept,
    /// This status, at once.
    Fail(u16),
    /// 200 after this long. Recorded with status 0 and never counted as
    /// accepted: tests use it past the delivery timeout, where the host gave up.
    Slow(Duration),
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub at: Instant,
    pub webhook_id: Option<String>,
    pub signature: Option<String>,
    pub content_type: Option<String>,
    pub body: Bytes,
    /// The status the receiver answered (0 for a [`Answer::Slow`] answer).
    pub status: u16,
}

impl Delivery {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("deliveries are JSON")
    }

    /// The Cloud Elements events of an accepted message.
    pub fn events(&self) -> Vec<Value> {
        self.json()["message"]["events"].as_array().cloned().unwrap_or_default()
    }
}

#[derive(Default)]
struct Inner {
    answer: Option<Answer>,
    /// Answers used once each before `answer`.
    scripted: std::collections::VecDeque<Answer>,
    deliveries: Vec<Delivery>,
}

/// A running receiver; stops when dropped.
#[derive(Clone)]
pub struct Receiver {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if Arc::strong_count(&self.task) == 1 {
            self.task.abort();
        }
    }
}

impl Receiver {
    /// Starts a receiver on a free loopback port, accepting everything.
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free loopback port");
        let addr = listener.local_addr().expect("a bound address");
        let inner = Arc::new(Mutex::new(Inner { answer: Some(Answer::Accept), ..Inner::default() }));
        let router = Router::new().route("/events", post(receive)).with_state(inner.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("the receiver serves");
        });
        Receiver { addr, inner, task: Arc::new(task) }
    }

    /// The callback URL.
    pub fn url(&self) -> String {
        format!("http://{}/events", self.addr)
    }

    /// From now on, answer this way.
    pub fn answer(&self, answer: Answer) {
        self.lock().answer = Some(answer);
    }

    /// Answer the next requests these ways, one each, then as before.
    pub fn script(&self, answers: &[Answer]) {
        self.lock().scripted.extend(answers.iter().copied());
    }

    /// Every request so far, accepted or not.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.lock().deliveries.clone()
    }

    /// The requests answered 2xx.
    pub fn accepted(&self) -> Vec<Delivery> {
        self.deliveries().into_iter().filter(|d| (200..300).contains(&d.status)).collect()
    }

    /// Every event of every accepted message, in arrival order.
    pub fn events(&self) -> Vec<Value> {
        self.accepted().iter().flat_map(Delivery::events).collect()
    }

    /// Waits until `done` holds for the accepted events, or panics after `limit`.
    pub async fn wait_for(&self, limit: Duration, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let events = self.events();
            if done(&events) {
                return events;
            }
            assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}; got {events:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

async fn receive(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let answer = {
        let mut inner = inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        inner.scripted.pop_front().or(inner.answer).unwrap_or(Answer::Accept)
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let status = match answer {
        Answer::Accept => 200,
        Answer::Fail(status) => status,
        Answer::Slow(_) => 0,
    };
    let delivery = Delivery {
        at: Instant::now(),
        webhook_id: header("elements-webhook-id"),
        signature: header("elements-webhook-signature"),
        content_type: header("content-type"),
        body,
        status,
    };
    // Recorded on arrival: a host that gives up on a slow answer drops the
    // connection, and this handler with it.
    inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).deliveries.push(delivery);
    if let Answer::Slow(wait) = answer {
        tokio::time::sleep(wait).await;
        return StatusCode::OK;
    }
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A receiver for benchmarks: acknowledges every message and counts its events
/// (one `"eventType"` each) into `events` without parsing it, so it costs the
/// measurement little. Returns its address; its URL is `http://ADDR/events`.
pub async fn counting_receiver(events: Arc<AtomicU64>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = |State(events): State<Arc<AtomicU64>>, body: Bytes| async move {
        let count = body.windows(12).filter(|w| w == b"\"eventType\":").count();
        events.fetch_add(count as u64, Ordering::Relaxed);
        "ok"
    };
    let router = Router::new().route("/events", post(count)).with_state(events);
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}
