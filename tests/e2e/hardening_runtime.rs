//! What a hostile or broken peer, or a changed disk, must not do to the
//! running service: an endless callback answer, a looping or oversized
//! Autotask page, a plugin directory removed and made again, and the console
//! answering without its security headers. Every peer is a real listener on
//! loopback.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use engine::config::DeliverySettings;
use engine::delivery::worker::{DeliveryObserver, Destination, Outcome, Worker};
use engine::service::plugins::Status;
use engine::source::filter::{Filter, Op, QueryBody};
use engine::source::{AutotaskClient, ClientOptions, Connection, Credentials, Secret, SourceError, ZoneCache};
use engine::store::{NewMessage, OutboxMessage, PollCommit, Store};
use serde_json::{Value, json};
use support::service::write_config;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::console::{Setup, http, sign_in};
use crate::start;

const WAIT: Duration = Duration::from_secs(30);

// ---- An endless callback answer -------------------------------------------------

/// A callback on loopback that answers every request `500` with a body that
/// never ends (chunked, 64 KB at a time), until the client hangs up. Returns
/// its URL and the bytes it managed to send so far. Plain threads: each
/// connection blocks on its socket.
fn endless_callback() -> (String, Arc<AtomicU64>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    std::thread::spawn(move || {
        for socket in listener.incoming() {
            let Ok(mut socket) = socket else { return };
            let counter = counter.clone();
            std::thread::spawn(move || {
                // The request: read what arrived; its content does not matter.
                let mut request = vec![0; 64 * 1024];
                let _ = socket.read(&mut request);
                let head = "HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let chunk = format!("10000\r\n{}\r\n", "x".repeat(0x10000));
                while socket.write_all(chunk.as_bytes()).is_ok() {
                    counter.fetch_add(0x10000, Ordering::Relaxed);
                }
            });
        }
    });
    (url, sent)
}

/// Counts attempts; the worker reports each one here.
#[derive(Default)]
struct Attempts(AtomicUsize);

impl DeliveryObserver for Attempts {
    fn attempted(&self, _: &OutboxMessage, _: Outcome, _: Option<&str>, _: Duration) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// A worker for instance `acme` posting to `url`, with one message waiting,
/// a long callback timeout (an endless body must not be read until it) and
/// quick retries.
fn worker_with_a_message(dir: &std::path::Path, url: &str, observer: Arc<Attempts>) -> Worker {
    let store = Arc::new(Store::open(&dir.join("state.sqlite")).unwrap());
    let message = NewMessage {
        message_id: "m1".into(),
        body: "{}".into(),
        event_count: 1,
        plugin_version: None,
        keys: Default::default(),
    };
    let commit = PollCommit { messages: vec![message], ..PollCommit::default() };
    store.commit_poll("acme", "incidents", &commit, chrono::Utc::now()).unwrap();
    Worker {
        settings: DeliverySettings {
            timeout: Duration::from_secs(300),
            retries: 1_000_000,
            first_retry: Duration::from_millis(10),
            retry_multiplier: 1.0,
            ..DeliverySettings::default()
        },
        observer,
        ..worker_on(store, url)
    }
}

/// An endless 500 answer is read up to the cap and dropped: the attempt is
/// recorded as a retry at once (not at the 300 s timeout), with the start of
/// the body in its error, and the callback could send only a few MB (what the
/// socket buffers hold) before the worker hung up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_callback_answer_is_cut_at_the_cap_and_retried() {
    let (url, sent) = endless_callback();
    let dir = tempfile::tempdir().unwrap();
    let attempts = Arc::new(Attempts::default());
    let worker = worker_with_a_message(dir.path(), &url, attempts.clone());

    let stopped = tokio::time::timeout(WAIT, worker.flush()).await.expect("the attempt ends well before the timeout");
    let error = stopped.unwrap_err().error;
    assert!(error.starts_with("the callback answered HTTP 500: xxxx"), "{error}");
    assert_eq!(attempts.0.load(Ordering::Relaxed), 1);
    let pending = worker.store.pending("acme", 10).unwrap();
    assert_eq!((pending.len(), pending[0].attempts), (1, 1), "a retry is scheduled");

    // Once the worker hung up, the callback cannot send more.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let total = sent.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sent.load(Ordering::Relaxed), total, "the worker stopped reading and closed the connection");
    assert!(total < 64 * 1024 * 1024, "the callback sent {total} bytes before the worker stopped reading");
}

// ---- Delivered marks written together ------------------------------------------

/// A worker of instance `acme` on `store`, posting to `url`.
fn worker_on(store: Arc<Store>, url: &str) -> Worker {
    engine::use_ring_for_tls();
    Worker {
        destination: Destination {
            instance_id: "acme".into(),
            callback_url: url.parse().unwrap(),
            signature_key: None,
        },
        store,
        http: reqwest::Client::new(),
        settings: DeliverySettings::default(),
        outbox_ready: Arc::new(Notify::new()),
        observer: Arc::new(Attempts::default()),
        shutdown: CancellationToken::new(),
        lease: engine::lease::Lease::solo(),
    }
}

/// A store at `path` whose outbox holds `count` messages of instance `acme`, `m000`, `m001`, ...
fn store_with_messages(path: &std::path::Path, count: usize) -> Arc<Store> {
    let store = Arc::new(Store::open(path).unwrap());
    let messages = (0..count)
        .map(|i| NewMessage {
            message_id: format!("m{i:03}"),
            body: "{}".into(),
            event_count: 1,
            plugin_version: None,
            keys: Default::default(),
        })
        .collect();
    store
        .commit_poll("acme", "incidents", &PollCommit { messages, ..PollCommit::default() }, chrono::Utc::now())
        .unwrap();
    store
}

/// Marks are written in groups, so a worker stopped dead (its task dropped
/// mid-flight, as a `kill -9` would) leaves at most `MAX_UNWRITTEN_MARKS`
/// accepted messages unmarked, plus the one on the wire: those, and only
/// those, are sent again. Nothing is lost, and order holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopped_dead_resends_at_most_the_unwritten_marks_and_the_message_on_the_wire() {
    use engine::delivery::worker::MAX_UNWRITTEN_MARKS;
    const MESSAGES: usize = 400;
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_messages(&dir.path().join("state.sqlite"), MESSAGES);
    let receiver = support::receiver::Receiver::start().await;
    let distinct = |receiver: &support::receiver::Receiver| {
        let mut ids: Vec<String> = receiver.accepted().into_iter().filter_map(|d| d.webhook_id).collect();
        ids.sort();
        ids.dedup();
        ids.len()
    };

    let mut stops = 0;
    for pause_ms in [3, 11, 7, 17, 5, 13, 2, 19] {
        let task = tokio::spawn(worker_on(store.clone(), &receiver.url()).run());
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        task.abort();
        let _ = task.await;
        stops += 1;
        let (pending, _) = store.undelivered("acme").unwrap();
        let marked = MESSAGES - pending as usize;
        let accepted = distinct(&receiver);
        assert!(
            accepted <= marked + MAX_UNWRITTEN_MARKS + 1,
            "stopped with {accepted} messages accepted and only {marked} marked"
        );
        if accepted == MESSAGES {
            break;
        }
    }
    let delivered = tokio::time::timeout(WAIT, worker_on(store.clone(), &receiver.url()).flush()).await.unwrap();
    assert!(delivered.is_ok(), "{delivered:?}");
    assert_eq!(store.undelivered("acme").unwrap(), (0, 0));

    let ids: Vec<String> = receiver.accepted().into_iter().filter_map(|d| d.webhook_id).collect();
    let mut first_seen = Vec::new();
    for id in &ids {
        if !first_seen.contains(id) {
            first_seen.push(id.clone());
        }
    }
    let expected: Vec<String> = (0..MESSAGES).map(|i| format!("m{i:03}")).collect();
    assert_eq!(first_seen, expected, "every message arrives, in order");
    let repeated = ids.len() - MESSAGES;
    assert!(repeated <= stops * (MAX_UNWRITTEN_MARKS + 1), "{repeated} repeats after {stops} stops");
}

/// While something else holds the database's writer (a poll's long commit), a
/// worker posts on: its marks wait in the background, and it stops at the
/// bound of unwritten marks, not at the first write. Once the writer is free,
/// everything is marked, in order, each message once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_posts_on_while_the_database_is_busy_up_to_the_unwritten_marks_bound() {
    use engine::delivery::worker::MAX_UNWRITTEN_MARKS;
    const MESSAGES: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    let store = store_with_messages(&path, MESSAGES);
    let receiver = support::receiver::Receiver::start().await;
    let accepted = |receiver: &support::receiver::Receiver| receiver.accepted().len();

    // Held for well under the store's 5 s busy timeout, so the marks wait rather than fail.
    let blocker = rusqlite::Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let task = tokio::spawn(worker_on(store.clone(), &receiver.url()).run());
    let started = Instant::now();
    while accepted(&receiver) < MAX_UNWRITTEN_MARKS && started.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Time to overshoot, if the worker did not stop at the bound.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(accepted(&receiver), MAX_UNWRITTEN_MARKS, "posted while the marks could not be written");
    assert_eq!(store.undelivered("acme").unwrap().0, MESSAGES as u64, "no mark could be written");
    blocker.execute_batch("COMMIT").unwrap();

    let started = Instant::now();
    while store.undelivered("acme").unwrap() != (0, 0) {
        assert!(started.elapsed() < WAIT, "still undelivered: {:?}", store.undelivered("acme").unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    let ids: Vec<String> = receiver.accepted().into_iter().filter_map(|d| d.webhook_id).collect();
    let expected: Vec<String> = (0..MESSAGES).map(|i| format!("m{i:03}")).collect();
    assert_eq!(ids, expected, "every message once, in order");
}

/// This process's resident memory now and at its peak, in KB (`/proc/self/status`).
fn memory_kb() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|line| line.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The figure the README quotes: the delivery worker retrying against an
/// endless callback answer for a minute, with the process's memory at the
/// start and the end. Run alone:
/// `cargo test -p autotask-events-tests --test e2e -- --ignored --nocapture endless_callback_memory`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a one-minute measurement"]
async fn endless_callback_memory_over_a_minute() {
    let (url, sent) = endless_callback();
    let dir = tempfile::tempdir().unwrap();
    let attempts = Arc::new(Attempts::default());
    let worker = worker_with_a_message(dir.path(), &url, attempts.clone());
    let shutdown = worker.shutdown.clone();
    let running = tokio::spawn(worker.run());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (start_rss, start_peak) = memory_kb();
    let mut highest = start_rss;
    let began = Instant::now();
    while began.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        highest = highest.max(memory_kb().0);
    }
    let (end_rss, end_peak) = memory_kb();
    shutdown.cancel();
    running.await.unwrap();
    println!(
        "endless callback, 60 s: {} attempts, {} MB offered by the callback; RSS {start_rss} KB at start, \
         {end_rss} KB at end, highest sampled {highest} KB; VmHWM {start_peak} KB at start, {end_peak} KB at end",
        attempts.0.load(Ordering::Relaxed),
        sent.load(Ordering::Relaxed) / (1024 * 1024),
    );
    assert!(attempts.0.load(Ordering::Relaxed) > 10, "the worker kept retrying");
}

// ---- A looping or oversized Autotask answer ---------------------------------

/// What the fake zone's query pages do.
#[derive(Clone, Copy)]
enum Paging {
    /// Every page links to the same next page.
    Loop,
    /// Every page links to a new next page, without end.
    Endless,
    /// The first page is larger than any client limit in these tests (4 MB).
    Huge,
}

#[derive(Clone)]
struct Zone {
    base: String,
    paging: Paging,
    pages: Arc<AtomicUsize>,
}

/// An Autotask zone on loopback: zone lookup, and the `Tickets` query pages as `paging` says.
async fn zone(paging: Paging) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/atservicesrest/", listener.local_addr().unwrap());
    let pages = Arc::new(AtomicUsize::new(0));
    let state = Zone { base: base.clone(), paging, pages: pages.clone() };
    let page = |State(zone): State<Zone>| async move {
        let n = zone.pages.fetch_add(1, Ordering::SeqCst) + 1;
        let next = match zone.paging {
            Paging::Loop => format!("{}v1.0/Tickets/query/next?paging=same", zone.base),
            Paging::Endless => format!("{}v1.0/Tickets/query/next?paging={n}", zone.base),
            Paging::Huge => {
                let items: Vec<Value> = (0..4_000).map(|id| json!({"id": id, "title": "x".repeat(1_000)})).collect();
                return axum::Json(json!({"items": items, "pageDetails": {"nextPageUrl": null}}));
            }
        };
        axum::Json(json!({"items": [{"id": n}], "pageDetails": {"nextPageUrl": next}}))
    };
    let router = Router::new()
        .route(
            "/atservicesrest/v1.0/zoneInformation",
            get(|State(zone): State<Zone>| async move {
                axum::Json(json!({"zoneName": "Loopback", "url": zone.base, "webUrl": zone.base, "ci": 1}))
            }),
        )
        .route("/atservicesrest/v1.0/Tickets/query", post(page))
        .route("/atservicesrest/v1.0/Tickets/query/next", post(page))
        .with_state(state);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (base, pages)
}

fn client(server_url: &str, options: ClientOptions) -> AutotaskClient {
    let connection = Connection {
        server_url: server_url.into(),
        credentials: Credentials {
            username: "api@example.com".into(),
            secret: Secret::new("s"),
            integration_code: Secret::new("c"),
        },
    };
    AutotaskClient::new(connection, options, ZoneCache::default()).unwrap()
}

fn every_ticket() -> QueryBody {
    QueryBody::new(vec![Filter::presence(Op::Exist, "id")])
}

#[tokio::test]
async fn a_page_link_seen_before_stops_the_query_naming_the_entity_and_the_link() {
    let (base, pages) = zone(Paging::Loop).await;
    let error =
        tokio::time::timeout(WAIT, client(&base, ClientOptions::default()).query_all("Tickets", &every_ticket()))
            .await
            .expect("the query ends")
            .unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, SourceError::Limit { .. }), "{text}");
    assert!(text.starts_with("Autotask Tickets query stopped: page 2 links to"), "{text}");
    assert!(text.contains("paging=same") && text.contains("again"), "{text}");
    assert_eq!(pages.load(Ordering::SeqCst), 2, "the repeated page is not asked for");
}

#[tokio::test]
async fn a_query_stops_at_its_page_budget() {
    let (base, pages) = zone(Paging::Endless).await;
    let options = ClientOptions { max_pages: 25, ..ClientOptions::default() };
    let error = tokio::time::timeout(WAIT, client(&base, options).query_all("Tickets", &every_ticket()))
        .await
        .expect("the query ends")
        .unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, SourceError::Limit { .. }), "{text}");
    assert!(text.contains("Tickets") && text.contains("more than 25 pages"), "{text}");
    assert_eq!(pages.load(Ordering::SeqCst), 25);
    assert_eq!(ClientOptions::default().max_pages, 2_000, "the default: a million records of 500 a page");
}

#[tokio::test]
async fn a_page_larger_than_the_cap_fails_naming_the_entity_and_the_limit() {
    let (base, _) = zone(Paging::Huge).await;
    let options = ClientOptions { max_page_bytes: 1024 * 1024, ..ClientOptions::default() };
    let error = client(&base, options).query_all("Tickets", &every_ticket()).await.unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, SourceError::Limit { .. }), "{text}");
    assert!(text.contains("Tickets") && text.contains("1048576 bytes"), "{text}");
    // The default cap reads the same page.
    let (base, _) = zone(Paging::Huge).await;
    let read = client(&base, ClientOptions::default()).query_all("Tickets", &every_ticket()).await.unwrap();
    assert_eq!(read.records.len(), 4_000);
}

// ---- The plugin directory removed and made again ------------------------------

/// inotify drops a watch with its directory: the watcher must see the
/// directory come back and load what is put in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_directory_removed_and_made_again_is_still_watched() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "", &[]);
    let service = start(&config).await;
    let plugins = dir.path().join("plugins");
    let listed = |name: &str| service.plugins().into_iter().any(|p| p.name == name);
    assert!(!listed("tickets.wasm") && !listed("contacts.wasm"));

    std::fs::remove_dir_all(&plugins).unwrap();
    // Let the watcher see the removal on its own, as it would in life.
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::create_dir(&plugins).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::write(plugins.join("tickets.wasm"), support::INCIDENTS_WASM).unwrap();

    let active = support::wait_until(WAIT, "tickets.wasm loaded from the new directory", || async {
        service.plugins().into_iter().find(|p| p.name == "tickets.wasm" && p.status == Status::Active)
    })
    .await;
    assert!(active.version.is_some());

    // And it is still watched after that: a second file is loaded too.
    std::fs::write(plugins.join("contacts.wasm"), support::INCIDENTS_WASM).unwrap();
    support::wait_until(WAIT, "contacts.wasm loaded", || async {
        service.plugins().into_iter().find(|p| p.name == "contacts.wasm" && p.status == Status::Active)
    })
    .await;
    service.stop().await;
}

// ---- The console's security headers ------------------------------------------

/// Every console route, signed in or not, GET and POST, found or not, answers
/// with the security headers; the CSP allows nothing inline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_console_answer_carries_the_security_headers() {
    let setup = Setup::new().await;
    // POSTs go without the CSRF token: refused before any handler runs, so no
    // form reaches for a server (a connection test would), yet every route answers.
    let (cookie, _) = sign_in(&setup).await;
    let client = http();
    let get_paths = [
        "/",
        "/console",
        "/console/sign-in",
        "/console/static/htmx.min.js",
        "/console/static/console.css",
        "/console/instances",
        "/console/instances/rows",
        "/console/instances/new",
        "/console/instances/999",
        "/console/instances/999/activity",
        "/console/instances/999/edit",
        "/console/instances/999/delete",
        "/console/plugins",
    ];
    let post_paths = [
        "/console/sign-in",
        "/console/instances",
        "/console/instances/999",
        "/console/instances/999/poll",
        "/console/instances/999/dry-run",
        "/console/instances/999/retry",
        "/console/instances/999/disable",
        "/console/instances/999/enable",
        "/console/instances/999/delete",
        "/console/test-connection",
        "/console/preview",
        "/console/sign-out",
    ];
    let mut checked = 0;
    for signed_in in [false, true] {
        let requests = get_paths
            .iter()
            .map(|path| (path, client.get(setup.url(path))))
            .chain(post_paths.iter().map(|path| (path, client.post(setup.url(path)).form(&[("csrf", "stale")]))));
        for (path, mut request) in requests {
            if signed_in {
                request = request.header(reqwest::header::COOKIE, &cookie);
            }
            let answer = request.send().await.unwrap();
            let status = answer.status();
            for (name, value) in web::console::SECURITY_HEADERS {
                let got = answer.headers().get(&name).map(|v| v.to_str().unwrap().to_owned());
                assert_eq!(got.as_deref(), Some(value), "{path} ({status}, signed in: {signed_in}): {name}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 2 * (get_paths.len() + post_paths.len()));
    let csp = web::console::SECURITY_HEADERS[0].1;
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");

    // The pages use nothing the policy refuses: no inline script or style.
    let page = client.get(setup.url("/console/instances")).header(reqwest::header::COOKIE, &cookie).send().await;
    let html = page.unwrap().text().await.unwrap();
    assert!(!html.contains("<script>") && !html.contains("style=") && !html.contains("<style"), "{html}");
    assert!(html.contains(r#"<script src="/console/static/htmx.min.js""#), "{html}");
}
