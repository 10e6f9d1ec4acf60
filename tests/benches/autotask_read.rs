//! Reading 50,000 changed Tickets (100 pages of 500) from the simulator on
//! loopback, and where the time goes:
//!
//! - `client`: the REST client's `query_all`, as a poll runs it;
//! - `raw_http`: the same 100 requests with a bare HTTP client that only finds
//!   the next page link: the server and transport cost, the baseline;
//! - `parse_pages`: the client's page reading alone, over the 100 page bodies
//!   fetched beforehand: no network at all.
//!
//! The client's own share is `client − raw_http` of the wall time, which
//! `parse_pages` should explain. Ratios are printed at the end, from this run.

use std::time::Duration;

use autotask_sim::{SimConfig, Simulator};
use criterion::{Criterion, Throughput};
use engine::source::filter::{Filter, Op, QueryBody};
use engine::source::{AutotaskClient, ClientOptions, Connection, Credentials, Secret, ZoneCache, read_page};
use support::criterion_mean_ns;

const TICKETS: usize = 50_000;

fn body() -> QueryBody {
    // Every generated ticket changed in the 30 days before the epoch.
    let since = autotask_sim::sample::sample_epoch() - chrono::TimeDelta::days(31);
    QueryBody::new(vec![Filter::condition(Op::Gte, "lastActivityDate", since.format("%Y-%m-%dT%H:%M:%SZ").to_string())])
}

/// The raw page bodies of the query, following `nextPageUrl` with a bare client.
async fn fetch_raw(http: &reqwest::Client, sim_url: &str, body: &[u8]) -> Vec<Vec<u8>> {
    let mut url = format!("{sim_url}/atservicesrest/v1.0/Tickets/query");
    let mut pages = Vec::new();
    loop {
        let response = http
            .post(&url)
            .header("UserName", "sim@example.com")
            .header("Secret", "sim-secret")
            .header("ApiIntegrationCode", "SIMCODE")
            .header("Content-Type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .expect("the simulator answers");
        let bytes = response.bytes().await.expect("a body").to_vec();
        let next = next_link(&bytes);
        pages.push(bytes);
        match next {
            Some(next) => url = next,
            None => return pages,
        }
    }
}

/// The `nextPageUrl` of a page, found without parsing the page (it is the last field).
fn next_link(page: &[u8]) -> Option<String> {
    let key = br#""nextPageUrl":""#;
    let start = page.windows(key.len()).rposition(|w| w == key)? + key.len();
    let end = start + page[start..].iter().position(|b| *b == b'"')?;
    Some(String::from_utf8_lossy(&page[start..end]).into_owned())
}

fn read(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let config = SimConfig {
        tickets: TICKETS,
        epoch: Some(autotask_sim::sample::sample_epoch()),
        threshold: usize::MAX,
        ..SimConfig::default()
    };
    let sim = runtime.block_on(Simulator::start(config)).expect("the simulator starts");
    let connection = Connection {
        server_url: sim.url(),
        credentials: Credentials {
            username: "sim@example.com".into(),
            secret: Secret::new("sim-secret"),
            integration_code: Secret::new("SIMCODE"),
        },
    };
    let client = AutotaskClient::new(connection, ClientOptions::default(), ZoneCache::default()).expect("a client");
    let body = body();
    let body_bytes = serde_json::to_vec(&body).unwrap();
    let http = reqwest::Client::new();
    let pages = runtime.block_on(fetch_raw(&http, &sim.url(), &body_bytes));
    let megabytes = pages.iter().map(Vec::len).sum::<usize>() as f64 / 1e6;
    eprintln!("{TICKETS} tickets in {} pages, {megabytes:.1} MB of JSON", pages.len());
    let first = runtime.block_on(client.query_all("Tickets", &body)).expect("the client reads");
    assert_eq!((first.records.len(), first.pages), (TICKETS, pages.len()));

    let mut group = c.benchmark_group("read_50k_tickets");
    group.sample_size(10);
    group.throughput(Throughput::Elements(TICKETS as u64));
    group.bench_function("client", |b| {
        b.iter(|| runtime.block_on(client.query_all("Tickets", &body)).expect("the client reads"))
    });
    group.bench_function("raw_http", |b| b.iter(|| runtime.block_on(fetch_raw(&http, &sim.url(), &body_bytes))));
    group.bench_function("parse_pages", |b| {
        b.iter(|| pages.iter().map(|page| read_page("Tickets", page).expect("a page").records.len()).sum::<usize>())
    });
    group.finish();
}

fn report() {
    let (Some(client), Some(raw), Some(parse)) = (
        criterion_mean_ns("read_50k_tickets", "client"),
        criterion_mean_ns("read_50k_tickets", "raw_http"),
        criterion_mean_ns("read_50k_tickets", "parse_pages"),
    ) else {
        return;
    };
    let per_second = |ns: f64| TICKETS as f64 / (ns / 1e9);
    println!("\nreading {TICKETS} changed Tickets, 100 pages, simulator on loopback:");
    println!("  client       {:>8.0} ms  {:>9.0} records/s", client / 1e6, per_second(client));
    println!(
        "  raw_http     {:>8.0} ms  {:>9.0} records/s  (server + transport: the baseline)",
        raw / 1e6,
        per_second(raw)
    );
    println!("  parse_pages  {:>8.0} ms  (the client's page reading, no network)", parse / 1e6);
    println!("  client / raw_http = {:.2}x", client / raw);
    println!("  client's own share of the wall time = {:.1} %", 100.0 * (client - raw).max(0.0) / client);
    println!("  page reading share of the wall time = {:.1} %", 100.0 * parse / client);
}

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(10))
        .configure_from_args();
    read(&mut criterion);
    criterion.final_summary();
    report();
}
