//! Fleet mode as it runs: three `autotask-events serve` processes sharing the
//! work through one PostgreSQL database, with leases and fencing tokens.
//!
//! The chaos test kills (SIGKILL) and pauses (SIGSTOP for longer than a lease
//! lives) the hosts while changes pour in, then counts: nothing lost, every
//! delivery signed, each ticket's events in order, repeats within their bound,
//! no fencing token used twice, failovers within a lease's life and the work
//! spread evenly at the end. The upload test puts a new script plugin on one
//! host and watches every host map with it.
//!
//! Both need a PostgreSQL server, named by `AUTOTASK_EVENTS_TEST_POSTGRES`:
//! `cargo test -p autotask-events --test cli fleet -- --ignored --nocapture`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use autotask_sim::{SimConfig, Simulator};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use engine::delivery::signature::{SIGNATURE_HEADER, verify};
use engine::delivery::worker::{MAX_UNWRITTEN_MARKS, WEBHOOK_ID_HEADER};
use serde_json::{Value, json};
use support::service::{FAST_DELIVERY, incidents_resource, instance_toml, write_config};

use crate::changes::{Change, Lcg, change_of, seed, updated_ms};

use engine::delivery::worker::{HOST_HEADER, LEASE_HEADER};
const LEASE_TTL_SECONDS: u64 = 5;
const HOSTS: [&str; 3] = ["a", "b", "c"];
const USER_SECRET: &str = "fleet-test-user-secret-0123456789";
const ORGANIZATION_SECRET: &str = "fleet-test-organization-secret-0123456789";

// ---------------------------------------------------------------------------
// PostgreSQL

/// Failover times (ms) of the poll leases another host took from a holder
/// that did not let go: `first_work_at - previous_expiry`; and how many such
/// takeovers never did any work.
async fn failovers(url: &str) -> (Vec<f64>, i64) {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let taken = "previous_holder IS NOT NULL AND previous_holder <> host AND key LIKE 'poll:%'";
        let times = client
            .query(
                &format!(
                    "SELECT (EXTRACT(EPOCH FROM (first_work_at - previous_expiry)) * 1000)::float8 \
                     FROM fleet_takeovers WHERE {taken} AND first_work_at IS NOT NULL"
                ),
                &[],
            )
            .expect("the fleet_takeovers table")
            .iter()
            .map(|row| row.get::<_, f64>(0))
            .collect();
        let idle = client
            .query_one(&format!("SELECT count(*) FROM fleet_takeovers WHERE {taken} AND first_work_at IS NULL"), &[])
            .unwrap()
            .get(0);
        (times, idle)
    })
    .await
    .unwrap()
}

// ---------------------------------------------------------------------------
// The receiver

/// One POST the receiver answered.
struct Delivery {
    /// Arrival order.
    seq: usize,
    at: Instant,
    instance: String,
    message_id: String,
    host: Option<String>,
    lease: Option<i64>,
    signed: bool,
    events: Vec<Value>,
}

struct Receiver {
    deliveries: Mutex<Vec<Delivery>>,
    /// Instance id → its signature key.
    keys: HashMap<String, String>,
    /// Counts requests, for the latency's variation.
    requests: AtomicU64,
}

/// Records every POST to `/events/{instance}`; answers 200 after 5 to 15 ms,
/// so a kill can land while a delivery is on the wire.
async fn start_receiver(keys: HashMap<String, String>) -> (SocketAddr, Arc<Receiver>) {
    let receiver = Arc::new(Receiver { deliveries: Mutex::default(), keys, requests: AtomicU64::new(0) });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new()
        .route(
            "/events/{instance}",
            post(
                |State(receiver): State<Arc<Receiver>>,
                 UrlPath(instance): UrlPath<String>,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    let n = receiver.requests.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(5 + (n * 7) % 11)).await;
                    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
                    let signed = match (receiver.keys.get(&instance), header(SIGNATURE_HEADER)) {
                        (Some(key), Some(signature)) => verify(key.as_bytes(), &body, &signature),
                        _ => false,
                    };
                    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let events = parsed["message"]["events"].as_array().cloned().unwrap_or_default();
                    let mut deliveries = receiver.deliveries.lock().unwrap();
                    let seq = deliveries.len();
                    deliveries.push(Delivery {
                        seq,
                        at: Instant::now(),
                        instance,
                        message_id: header(WEBHOOK_ID_HEADER).unwrap_or_default(),
                        host: header(HOST_HEADER),
                        lease: header(LEASE_HEADER).and_then(|l| l.trim().parse().ok()),
                        signed,
                        events,
                    });
                    StatusCode::OK
                },
            ),
        )
        .with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (addr, receiver)
}

// ---------------------------------------------------------------------------
// The hosts

struct Host {
    name: &'static str,
    config: PathBuf,
    port: u16,
    log: PathBuf,
    child: Option<Child>,
    paused: bool,
}

/// The serve processes; every one of them is killed when this goes, panic or not.
struct Fleet {
    hosts: Vec<Host>,
    dir: Option<tempfile::TempDir>,
}

impl Fleet {
    /// Writes a configuration per host (own directory, own port, the same
    /// instances and store) and starts them all.
    fn start(
        store_url: &str,
        delivery: &str,
        extra_settings: &str,
        instances: &[String],
        plugins: &[(&str, &str)],
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut hosts = Vec::new();
        for name in HOSTS {
            let host_dir = dir.path().join(name);
            std::fs::create_dir_all(host_dir.join("plugins")).unwrap();
            for (file, source) in plugins {
                std::fs::write(host_dir.join("plugins").join(file), source).unwrap();
            }
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let settings = format!(
                "{delivery}\n{extra_settings}\n[store]\nurl = \"{store_url}\"\n\n[fleet]\nhost = \"{name}\"\nlease_ttl_seconds = {LEASE_TTL_SECONDS}\n"
            );
            let config = write_config(&host_dir, &settings, instances);
            let text = std::fs::read_to_string(&config).unwrap();
            assert!(text.contains("listen = \"127.0.0.1:0\""));
            std::fs::write(
                &config,
                text.replace("listen = \"127.0.0.1:0\"", &format!("listen = \"127.0.0.1:{port}\"")),
            )
            .unwrap();
            hosts.push(Host { name, config, port, log: host_dir.join("serve.log"), child: None, paused: false });
        }
        let mut fleet = Fleet { hosts, dir: Some(dir) };
        for i in 0..fleet.hosts.len() {
            fleet.spawn(i);
        }
        fleet
    }

    fn spawn(&mut self, i: usize) {
        let host = &mut self.hosts[i];
        assert!(host.child.is_none(), "host {} runs already", host.name);
        let log = File::options().create(true).append(true).open(&host.log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_autotask-events"))
            .args(["serve", "--config", host.config.to_str().unwrap()])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("the binary starts");
        host.child = Some(child);
        host.paused = false;
    }

    fn kill(&mut self, i: usize) {
        let host = &mut self.hosts[i];
        let mut child = host.child.take().expect("a running host");
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        host.paused = false;
    }

    /// Sends `signal` (`STOP`, `CONT`) through the shell's own `kill`.
    fn signal(&mut self, i: usize, signal: &str) {
        let host = &mut self.hosts[i];
        let pid = host.child.as_ref().expect("a running host").id();
        let status = Command::new("sh").args(["-c", &format!("kill -{signal} {pid}")]).status().unwrap();
        assert!(status.success(), "kill -{signal} {pid}");
        host.paused = signal == "STOP";
    }

    fn kill_all(&mut self) {
        for host in &mut self.hosts {
            if let Some(mut child) = host.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    fn url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.hosts[i].port)
    }

    /// The `fleet` part of each host's `/health` (Null when it does not answer).
    async fn health(&self, http: &reqwest::Client) -> Vec<Value> {
        let mut answers = Vec::new();
        for i in 0..self.hosts.len() {
            let answer = match http.get(format!("{}/health", self.url(i))).timeout(Duration::from_secs(2)).send().await
            {
                Ok(response) => response.json::<Value>().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            answers.push(answer["fleet"].clone());
        }
        answers
    }

    /// How many leases each host holds, by its `/health`.
    async fn leases(&self, http: &reqwest::Client) -> Vec<usize> {
        self.health(http).await.iter().map(|fleet| fleet["leases"].as_array().map_or(0, Vec::len)).collect()
    }

    /// Waits until every host holds a lease.
    async fn wait_for_leases(&self, http: &reqwest::Client, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let leases = self.leases(http).await;
            if leases.iter().all(|&n| n > 0) {
                println!("every host holds leases: {leases:?}");
                return;
            }
            assert!(Instant::now() < deadline, "not every host holds a lease within {within:?}: {leases:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.kill_all();
        if std::thread::panicking() {
            // What each host said last, and its whole log kept for a look.
            for host in &self.hosts {
                let log = std::fs::read_to_string(&host.log).unwrap_or_default();
                let lines: Vec<&str> = log.lines().collect();
                eprintln!("---- last lines of host {} ({}):", host.name, host.log.display());
                for line in &lines[lines.len().saturating_sub(30)..] {
                    eprintln!("{line}");
                }
            }
            if let Some(dir) = self.dir.take() {
                eprintln!("the hosts' configurations and logs are kept in {}", dir.keep().display());
            }
        }
    }
}

async fn simulator(tickets: usize) -> Simulator {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Fifty instances poll one simulator: neither its hourly threshold nor its
    // threads per entity are what this test is about.
    let config = SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tickets,
        threshold: 100_000_000,
        concurrent_per_entity: 10_000,
        ..SimConfig::default()
    };
    Simulator::start(config).await.unwrap()
}

fn instance_ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("t{i:02}")).collect()
}

fn instances(ids: &[String], sim: &Simulator, callback: SocketAddr, since: &str, refresh: &str) -> Vec<String> {
    ids.iter()
        .map(|id| {
            instance_toml(
                id,
                sim,
                &format!("http://{callback}/events/{id}"),
                json!({"incidents": incidents_resource()}),
                json!({"event.notification.signature.key": signature_key(id)}),
                &format!("refresh_interval_seconds = {refresh}\nsince = \"{since}\""),
            )
        })
        .collect()
}

fn signature_key(instance: &str) -> String {
    format!("fleet-key-{instance}")
}

async fn sim_call(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.expect("the simulator answers");
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "simulator control call failed: {status} {text}");
    serde_json::from_str(&text).unwrap()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

// ---------------------------------------------------------------------------
// Test 1: chaos

enum Pending {
    Restart(usize),
    Resume(usize),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set AUTOTASK_EVENTS_TEST_POSTGRES (tests/run starts one)"]
async fn fleet_on_postgres_survives_kills_and_pauses() {
    const INSTANCES: usize = 50;
    const CHANGE_FOR: Duration = Duration::from_secs(120);
    const TICK: Duration = Duration::from_millis(250);
    const INTERRUPT_EVERY: Duration = Duration::from_secs(10);
    /// A created ticket is patched only once this old: every instance polled it by then.
    const PATCH_AFTER: Duration = Duration::from_secs(30);
    const SEEDED_TICKETS: usize = 200;

    let store = support::postgres::fresh_database("chaos").await;
    let seed = seed("FLEET_CHAOS_SEED");
    println!("FLEET_CHAOS_SEED={seed}");
    let mut random = Lcg(seed);

    let sim = simulator(SEEDED_TICKETS).await;
    let ids = instance_ids(INSTANCES);
    let keys = ids.iter().map(|id| (id.clone(), signature_key(id))).collect();
    let (callback, receiver) = start_receiver(keys).await;
    let since = chrono::Utc::now().to_rfc3339();
    // A generous callback timeout: a host resumed after a pause reads the
    // answer it got before, instead of timing out and sending again.
    let delivery = FAST_DELIVERY.replace("timeout_seconds = 1", "timeout_seconds = 30");
    let mut fleet = Fleet::start(&store, &delivery, "", &instances(&ids, &sim, callback, &since, "1"), &[]);
    let http = reqwest::Client::new();
    fleet.wait_for_leases(&http, Duration::from_secs(60)).await;

    let control = format!("{}/sim", sim.url());
    let mut changes: Vec<Change> = Vec::new();
    // Tickets created and not yet patched, oldest first, with when.
    let mut created: std::collections::VecDeque<(i64, Instant)> = Default::default();
    let mut next_seeded = 1_i64;
    let (mut kills, mut pauses) = (0_usize, 0_usize);
    let mut pending: Vec<(Instant, Pending)> = Vec::new();
    let started = Instant::now();
    let mut next_interruption = started + INTERRUPT_EVERY;
    let mut tick = 0_u64;
    while started.elapsed() < CHANGE_FOR {
        // One change a tick: creates and patches in turn, each on a ticket no change touched before it
        // (a created ticket is patched once every instance must have polled it).
        let patch = tick % 2 == 1;
        let change = if patch {
            let id = match created.front() {
                Some(&(id, at)) if at.elapsed() >= PATCH_AFTER => {
                    created.pop_front();
                    id
                }
                _ => {
                    next_seeded += 1;
                    assert!(next_seeded as usize <= SEEDED_TICKETS, "enough seeded tickets");
                    next_seeded - 1
                }
            };
            let record = sim_call(http.patch(format!("{control}/Tickets/{id}")).json(&json!({"status": 5}))).await;
            Change { event_type: "UPDATED", object_id: id.to_string(), updated_ms: updated_ms(&record) }
        } else {
            let record = sim_call(http.post(format!("{control}/Tickets")).json(&json!({"title": "fleet chaos"}))).await;
            created.push_back((record["id"].as_i64().unwrap(), Instant::now()));
            Change { event_type: "CREATED", object_id: record["id"].to_string(), updated_ms: updated_ms(&record) }
        };
        assert!(change.updated_ms.is_some(), "{change:?}");
        changes.push(change);
        tick += 1;

        let now = Instant::now();
        pending.sort_by_key(|(at, _)| *at);
        while pending.first().is_some_and(|(at, _)| *at <= now) {
            match pending.remove(0).1 {
                Pending::Restart(i) => {
                    println!("{:>6.1}s  restart {}", started.elapsed().as_secs_f64(), HOSTS[i]);
                    fleet.spawn(i);
                }
                Pending::Resume(i) => {
                    println!("{:>6.1}s  SIGCONT {}", started.elapsed().as_secs_f64(), HOSTS[i]);
                    fleet.signal(i, "CONT");
                }
            }
        }
        if now >= next_interruption {
            next_interruption += INTERRUPT_EVERY;
            let up: Vec<usize> =
                (0..HOSTS.len()).filter(|&i| fleet.hosts[i].child.is_some() && !fleet.hosts[i].paused).collect();
            let i = up[random.below(up.len() as u64) as usize];
            if (kills + pauses) % 2 == 0 {
                println!("{:>6.1}s  SIGKILL {}", started.elapsed().as_secs_f64(), HOSTS[i]);
                fleet.kill(i);
                kills += 1;
                pending.push((now + Duration::from_secs(2), Pending::Restart(i)));
            } else {
                println!("{:>6.1}s  SIGSTOP {}", started.elapsed().as_secs_f64(), HOSTS[i]);
                fleet.signal(i, "STOP");
                pauses += 1;
                pending.push((now + Duration::from_secs(LEASE_TTL_SECONDS + 2), Pending::Resume(i)));
            }
        }
        tokio::time::sleep_until((started + TICK * tick as u32).into()).await;
    }
    let changes_ended = Instant::now();
    // Every host runs again.
    pending.sort_by_key(|(at, _)| *at);
    for (at, action) in pending.drain(..) {
        tokio::time::sleep_until(at.into()).await;
        match action {
            Pending::Restart(i) => fleet.spawn(i),
            Pending::Resume(i) => fleet.signal(i, "CONT"),
        }
    }

    // Every instance receives every change (bounded).
    let expected: HashSet<(String, Change)> =
        ids.iter().flat_map(|id| changes.iter().map(move |c| (id.clone(), c.clone()))).collect();
    let deadline = changes_ended + Duration::from_secs(90);
    let (mut delivered, mut looked_at) = (HashSet::new(), 0);
    let delivered_all_after = loop {
        {
            // Only what arrived since the last look, not to hold up the receiver.
            let deliveries = receiver.deliveries.lock().unwrap();
            for d in &deliveries[looked_at..] {
                delivered.extend(d.events.iter().map(|e| (d.instance.clone(), change_of(e))));
            }
            looked_at = deliveries.len();
        }
        if expected.iter().all(|e| delivered.contains(e)) {
            break Some(changes_ended.elapsed());
        }
        if Instant::now() > deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    // The work spread evenly once stable: 50 poll and 50 delivery leases.
    let total_leases = 2 * INSTANCES;
    let fair = total_leases as f64 / HOSTS.len() as f64;
    let (low, high) = ((fair * 0.8).floor() as usize, (fair * 1.2).ceil() as usize);
    let balance_deadline = Instant::now() + Duration::from_secs(30);
    let leases = loop {
        let leases = fleet.leases(&http).await;
        let even = leases.iter().all(|&n| (low..=high).contains(&n)) && leases.iter().sum::<usize>() == total_leases;
        if even || Instant::now() > balance_deadline {
            break leases;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let (mut failover_ms, idle_takeovers) = failovers(&store).await;
    // Stopped now; the guard stays, to show and keep the hosts' logs should an assertion fail.
    fleet.kill_all();

    // ---- The figures.
    let deliveries = std::mem::take(&mut *receiver.deliveries.lock().unwrap());
    let delivered = delivered_events(&deliveries);
    let missing: Vec<&(String, Change)> = {
        let mut missing: Vec<_> = expected.iter().filter(|e| !delivered.contains(e)).collect();
        missing.sort_by(|a, b| (&a.0, &a.1.object_id).cmp(&(&b.0, &b.1.object_id)));
        missing
    };
    let unexpected = delivered.iter().filter(|e| !expected.contains(e)).count();
    let unsigned = deliveries.iter().filter(|d| !d.signed).count();
    let unmarked = deliveries.iter().filter(|d| d.host.is_none() || d.lease.is_none()).count();

    let mut seen_messages = HashSet::new();
    let duplicates = deliveries.iter().filter(|d| !seen_messages.insert((&d.instance, &d.message_id))).count();
    let interruptions = kills + pauses;
    let per_host_max = INSTANCES.div_ceil(2);
    let duplicate_bound = interruptions * (MAX_UNWRITTEN_MARKS + 1) * per_host_max;

    // Fencing: a message once per (instance, token); a token held by one host.
    let mut per_token: HashMap<(&str, i64, &str), usize> = HashMap::new();
    let mut token_hosts: HashMap<(&str, i64), HashSet<&str>> = HashMap::new();
    for d in &deliveries {
        if let (Some(lease), Some(host)) = (d.lease, d.host.as_deref()) {
            *per_token.entry((&d.instance, lease, &d.message_id)).or_default() += 1;
            token_hosts.entry((&d.instance, lease)).or_default().insert(host);
        }
    }
    let same_token_repeats: Vec<_> = per_token.iter().filter(|(_, n)| **n > 1).collect();
    // For information (a callback cannot be fenced): deliveries under an older
    // token arriving after one under a newer token, for the same instance.
    let mut newest: HashMap<&str, i64> = HashMap::new();
    let mut stale_sends = 0;
    for d in &deliveries {
        if let Some(lease) = d.lease {
            let newest = newest.entry(&d.instance).or_insert(lease);
            if lease < *newest {
                stale_sends += 1;
            }
            *newest = (*newest).max(lease);
        }
    }
    let shared_tokens: Vec<_> = token_hosts.iter().filter(|(_, hosts)| hosts.len() > 1).collect();

    // Order: each ticket's events, by first arrival, in increasing updated order, CREATED first.
    let mut first_arrival: BTreeMap<(&str, String), Vec<(ArrivalOrder, Change)>> = BTreeMap::new();
    let mut arrived = HashSet::new();
    for d in &deliveries {
        for (index, event) in d.events.iter().enumerate() {
            let change = change_of(event);
            if arrived.insert((d.instance.as_str(), change.clone())) {
                first_arrival
                    .entry((&d.instance, change.object_id.clone()))
                    .or_default()
                    .push(((d.seq, index), change));
            }
        }
    }
    let mut out_of_order = Vec::new();
    for (ticket, events) in &mut first_arrival {
        events.sort_by_key(|(order, _)| *order);
        for pair in events.windows(2) {
            let (before, after) = (&pair[0].1, &pair[1].1);
            if after.updated_ms <= before.updated_ms
                || (before.event_type == "UPDATED" && after.event_type == "CREATED")
            {
                out_of_order.push((ticket.clone(), before.clone(), after.clone()));
            }
        }
    }

    failover_ms.sort_by(f64::total_cmp);
    let (p50, p99, max) = (
        percentile(&failover_ms, 50.0),
        percentile(&failover_ms, 99.0),
        failover_ms.last().copied().unwrap_or(f64::NAN),
    );
    let mut by_host: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &deliveries {
        *by_host.entry(d.host.as_deref().unwrap_or("(none)")).or_default() += 1;
    }
    let creates = changes.iter().filter(|c| c.event_type == "CREATED").count();
    let first_delivery = deliveries.first().map(|d| d.at);
    let last_delivery = deliveries.last().map(|d| d.at);

    println!();
    println!("fleet chaos, seed {seed}: {} hosts, {INSTANCES} instances, lease TTL {LEASE_TTL_SECONDS} s", HOSTS.len());
    println!(
        "  {:<58} {:>12}",
        "changes made (creates / patches)",
        format!("{} ({creates} / {})", changes.len(), changes.len() - creates)
    );
    println!("  {:<58} {:>12}", "interruptions (SIGKILL / SIGSTOP)", format!("{interruptions} ({kills} / {pauses})"));
    println!("  {:<58} {:>12}", "expected events (changes × instances)", expected.len());
    println!("  {:<58} {:>12}", "events delivered (distinct)", delivered.len());
    println!("  {:<58} {:>12}", "missing", missing.len());
    println!("  {:<58} {:>12}", "unexpected events (no such change)", unexpected);
    match delivered_all_after {
        Some(after) => println!(
            "  {:<58} {:>12}",
            "all delivered after the changes ended (s)",
            format!("{:.1}", after.as_secs_f64())
        ),
        None => println!("  {:<58} {:>12}", "all delivered after the changes ended", "never (90 s)"),
    }
    println!("  {:<58} {:>12}", "POSTs received", deliveries.len());
    println!("  {:<58} {:>12}", "  by host", format!("{by_host:?}"));
    if let (Some(first), Some(last)) = (first_delivery, last_delivery) {
        println!("  {:<58} {:>12}", "  between first and last (s)", format!("{:.1}", (last - first).as_secs_f64()));
    }
    println!("  {:<58} {:>12}", "POSTs with an invalid or missing signature", unsigned);
    println!("  {:<58} {:>12}", "POSTs without host or lease header", unmarked);
    println!("  {:<58} {:>12}", "tickets whose events arrived out of order", out_of_order.len());
    println!("  {:<58} {:>12}", "duplicates (an already received message id)", duplicates);
    println!(
        "  {:<58} {:>12}",
        format!("  bound: {interruptions} × ({MAX_UNWRITTEN_MARKS} + 1) × {per_host_max}"),
        duplicate_bound
    );
    println!("  {:<58} {:>12}", "a message twice under one (instance, lease token)", same_token_repeats.len());
    println!("  {:<58} {:>12}", "(instance, lease token)s used by two hosts", shared_tokens.len());
    println!("  {:<58} {:>12}", "sent under an older token after a newer one (info)", stale_sends);
    println!("  {:<58} {:>12}", "poll failovers (taken from a holder that did not let go)", failover_ms.len());
    println!("  {:<58} {:>12}", "  of which never polled", idle_takeovers);
    println!("  {:<58} {:>12}", "  failover p50 / p99 / max (ms)", format!("{p50:.0} / {p99:.0} / {max:.0}"));
    println!(
        "  {:<58} {:>12}",
        format!("leases held at the end (of {total_leases}; even: {low}..={high})"),
        format!("{leases:?}")
    );
    println!();

    // ---- The assertions, after every figure is out.
    assert!(
        missing.is_empty(),
        "{} of {} events never arrived (first ones: {:?})",
        missing.len(),
        expected.len(),
        &missing[..missing.len().min(10)]
    );
    assert_eq!(unexpected, 0, "events for changes never made");
    assert_eq!(unsigned, 0, "every delivery carries a valid signature");
    assert_eq!(unmarked, 0, "every delivery names its host and lease");
    assert!(out_of_order.is_empty(), "out of order (first ones): {:?}", &out_of_order[..out_of_order.len().min(10)]);
    assert!(duplicates <= duplicate_bound, "{duplicates} duplicates, at most {duplicate_bound}");
    assert!(
        same_token_repeats.is_empty(),
        "messages delivered twice under one lease token (instance, token, message id → times): {:?}",
        &same_token_repeats[..same_token_repeats.len().min(10)]
    );
    assert!(
        shared_tokens.is_empty(),
        "lease tokens used by two hosts: {:?}",
        &shared_tokens[..shared_tokens.len().min(10)]
    );
    assert!(!failover_ms.is_empty(), "failovers recorded in fleet_takeovers after {interruptions} interruptions");
    let limit_ms = (LEASE_TTL_SECONDS * 1000 + 1000) as f64;
    assert!(p99 <= limit_ms, "failover p99 {p99:.0} ms, at most {limit_ms} ms (lease TTL + 1 s)");
    assert!(
        leases.iter().sum::<usize>() == total_leases && leases.iter().all(|&n| (low..=high).contains(&n)),
        "every lease held, spread evenly ({low}..={high} a host): {leases:?}"
    );
}

/// Where an event first arrived: its POST's arrival order, its index in the POST.
type ArrivalOrder = (usize, usize);

/// The distinct (instance, event) pairs delivered.
fn delivered_events(deliveries: &[Delivery]) -> HashSet<(String, Change)> {
    deliveries.iter().flat_map(|d| d.events.iter().map(|e| (d.instance.clone(), change_of(e)))).collect()
}

// ---------------------------------------------------------------------------
// Test 2: a plugin uploaded to one host maps on all

/// An incidents script whose events say which version mapped them.
fn marking_script(mark: &str) -> String {
    format!(
        r#"// Incidents, marked with the version that mapped them.
exports.describe = () => ({{ resource: 'incidents', entity: 'Tickets', idField: 'id',
  createdDateField: 'createDate', updatedDateField: 'lastActivityDate' }});

exports.mapRecord = (ticket, meta) => ({{ payload: {{ id: meta.objectId, title: ticket.title, mark: '{mark}' }} }});
"#
    )
}

/// The version of `plugin` each host serves, from its `/plugins`, and when it answered.
async fn served_versions(fleet: &Fleet, http: &reqwest::Client, plugin: &str) -> Vec<(Option<String>, Instant)> {
    let mut versions = Vec::new();
    for i in 0..fleet.hosts.len() {
        let listed = match http.get(format!("{}/plugins", fleet.url(i))).send().await {
            Ok(response) => response.json::<Value>().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        let version = listed.as_array().and_then(|plugins| {
            plugins
                .iter()
                .find(|p| p["name"] == plugin && p["status"] == "active")
                .and_then(|p| p["version"].as_str().map(str::to_owned))
        });
        versions.push((version, Instant::now()));
    }
    versions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set AUTOTASK_EVENTS_TEST_POSTGRES (tests/run starts one)"]
async fn fleet_on_postgres_upload_on_one_host_maps_on_all() {
    const INSTANCES: usize = 6;
    const WAIT: Duration = Duration::from_secs(60);
    const BOUND: Duration = Duration::from_secs(10);

    let store = support::postgres::fresh_database("upload").await;
    let sim = simulator(20).await;
    let ids = instance_ids(INSTANCES);
    let keys = ids.iter().map(|id| (id.clone(), signature_key(id))).collect();
    let (callback, receiver) = start_receiver(keys).await;
    let since = chrono::Utc::now().to_rfc3339();
    let api = format!("[api]\nuser_secret = \"{USER_SECRET}\"\norganization_secret = \"{ORGANIZATION_SECRET}\"\n");
    let v1 = marking_script("v1");
    let fleet = Fleet::start(
        &store,
        FAST_DELIVERY,
        &api,
        &instances(&ids, &sim, callback, &since, "0.5"),
        &[("incidents.js", v1.as_str())],
    );
    let http = reqwest::Client::new();
    fleet.wait_for_leases(&http, WAIT).await;
    let control = format!("{}/sim", sim.url());
    let create = |title: String| {
        let http = http.clone();
        let control = control.clone();
        async move {
            sim_call(http.post(format!("{control}/Tickets")).json(&json!({"title": title}))).await["id"].to_string()
        }
    };
    // The first version maps everywhere.
    let before = create("before the upload".into()).await;
    for (instance, (event, _, _)) in wait_on_every_instance(&receiver, INSTANCES, before).await {
        assert_eq!(event["payload"]["mark"], "v1", "{instance}: {event}");
    }
    let first_versions: Vec<_> =
        served_versions(&fleet, &http, "incidents.js").await.into_iter().map(|(v, _)| v).collect();
    assert!(first_versions.iter().all(|v| v.is_some() && *v == first_versions[0]), "{first_versions:?}");

    // A new version uploaded on host a.
    let v2 = marking_script("v2");
    let upload_started = Instant::now();
    let response = http
        .put(format!("{}/elements/api-v2/plugins/incidents.js", fleet.url(0)))
        .header("Authorization", format!("User {USER_SECRET}, Organization {ORGANIZATION_SECRET}"))
        .body(v2.clone())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let uploaded = Instant::now();
    assert!(status.is_success(), "the upload: {status} {text}");
    let answer: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("a JSON answer ({e}): {text}"));
    // The stored version's number; `/plugins` names versions by their content.
    let version = &answer["version"];
    assert!(version.is_number() || version.is_string(), "the upload answers with its version: {answer}");
    println!("uploaded on a in {:?}: version {version}", uploaded - upload_started);

    // Changes keep coming until every host serves the new version; then one more.
    let mut reloaded: Vec<Option<Duration>> = vec![None; HOSTS.len()];
    let mut after_upload = Vec::new();
    let deadline = uploaded + WAIT;
    let mut last_change: Option<Instant> = None;
    while reloaded.iter().any(Option::is_none) {
        assert!(Instant::now() < deadline, "not every host serves {version} within {WAIT:?}: {reloaded:?}");
        for (i, (served, answered)) in served_versions(&fleet, &http, "incidents.js").await.into_iter().enumerate() {
            if reloaded[i].is_none() && served.is_some() && served != first_versions[0] {
                reloaded[i] = Some(answered - uploaded);
            }
        }
        // A change every 200 ms; the hosts asked every 20 ms.
        if last_change.is_none_or(|at| at.elapsed() >= Duration::from_millis(200)) {
            after_upload.push(create(format!("after the upload {}", after_upload.len())).await);
            last_change = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let new_versions: Vec<_> =
        served_versions(&fleet, &http, "incidents.js").await.into_iter().map(|(v, _)| v).collect();
    assert!(new_versions.iter().all(|v| *v == new_versions[0]), "one new version on every host: {new_versions:?}");
    let last = create("every host serves the new version".into()).await;
    let last_arrivals = wait_on_every_instance(&receiver, INSTANCES, last.clone()).await;
    // A little longer, so each host delivers what it mapped in between.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // When each host first delivered an event of the new version.
    let mut first_new: BTreeMap<String, Duration> = BTreeMap::new();
    let mut delivering_hosts: HashSet<String> = HashSet::new();
    for d in receiver.deliveries.lock().unwrap().iter().filter(|d| d.at > uploaded) {
        let host = d.host.clone().unwrap_or_else(|| "(none)".into());
        delivering_hosts.insert(host.clone());
        if d.events.iter().any(|e| e["payload"]["mark"] == "v2") {
            first_new.entry(host).or_insert(d.at - uploaded);
        }
    }
    let new_version_on: BTreeMap<&String, &str> = last_arrivals
        .iter()
        .map(|(instance, (event, _, _))| (instance, event["payload"]["mark"].as_str().unwrap_or("?")))
        .collect();
    let last_hosts: BTreeMap<&String, &str> =
        last_arrivals.iter().map(|(instance, (_, host, _))| (instance, host.as_deref().unwrap_or("(none)"))).collect();

    println!();
    println!("plugin upload on host a, {} hosts, {INSTANCES} instances:", HOSTS.len());
    for (i, name) in HOSTS.iter().enumerate() {
        println!(
            "  host {name}: serves the new version after {:>8}   first new-version delivery after {:>8}",
            reloaded[i].map_or("never".into(), |d| format!("{} ms", d.as_millis())),
            first_new.get(*name).map_or("none".into(), |d| format!("{} ms", d.as_millis())),
        );
    }
    println!("  served before / after: {:?} / {:?}", first_versions[0], new_versions[0]);
    println!("  changes made while it spread: {}", after_upload.len());
    println!("  the last change, by instance: {new_version_on:?}");
    println!("  delivered by: {last_hosts:?}");
    println!();

    assert!(
        new_version_on.values().all(|mark| *mark == "v2"),
        "every instance maps with the new version: {new_version_on:?}"
    );
    for (i, name) in HOSTS.iter().enumerate() {
        let after = reloaded[i].unwrap();
        assert!(after <= BOUND, "host {name} served the new version after {after:?} (at most {BOUND:?})");
    }
    for host in &delivering_hosts {
        let after = first_new.get(host).unwrap_or_else(|| panic!("host {host} delivered no event of the new version"));
        assert!(*after <= BOUND, "host {host} first delivered the new version after {after:?} (at most {BOUND:?})");
    }
    assert_eq!(
        delivering_hosts.len(),
        HOSTS.len(),
        "every host delivers for some of the {INSTANCES} instances: {delivering_hosts:?}"
    );
    drop(fleet);
}

/// Each instance's first event for `ticket`, the host that delivered it, and when.
type Arrivals = HashMap<String, (Value, Option<String>, Instant)>;

fn arrivals(receiver: &Receiver, ticket: &str) -> Arrivals {
    let deliveries = receiver.deliveries.lock().unwrap();
    let mut arrivals = Arrivals::new();
    for d in deliveries.iter() {
        for event in d.events.iter().filter(|e| e["objectId"] == ticket) {
            arrivals.entry(d.instance.clone()).or_insert((event.clone(), d.host.clone(), d.at));
        }
    }
    arrivals
}

/// Waits until each of the `instances` received `ticket`'s event.
async fn wait_on_every_instance(receiver: &Receiver, instances: usize, ticket: String) -> Arrivals {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let arrived = arrivals(receiver, &ticket);
        if arrived.len() == instances {
            return arrived;
        }
        assert!(Instant::now() < deadline, "ticket {ticket} reached {} of {instances} instances", arrived.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
