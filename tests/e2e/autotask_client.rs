//! The REST client against the simulator, over real HTTP on loopback.

use std::time::{Duration, Instant};

use autotask_sim::{Entity, Faults, SimConfig, Simulator};
use engine::source::filter::{Filter, Op, QueryBody};
use engine::source::hub::autotask_query;
use engine::source::retry::RetryPolicy;
use engine::source::template::UrlTemplate;
use engine::source::{AutotaskClient, ClientOptions, Connection, Credentials, Secret, SourceError, ZoneCache};
use serde_json::Value;
use simple_date_format::Zone;

async fn simulator(tickets: usize) -> Simulator {
    let config = SimConfig { tickets, epoch: Some(autotask_sim::sample::sample_epoch()), ..SimConfig::default() };
    Simulator::start(config).await.expect("the simulator starts")
}

fn connection(sim: &Simulator, user: &str, secret: &str, code: &str) -> Connection {
    Connection {
        server_url: sim.url(),
        credentials: Credentials {
            username: user.into(),
            secret: Secret::new(secret),
            integration_code: Secret::new(code),
        },
    }
}

/// Quick retries, so tests that inject faults stay short.
fn fast_options() -> ClientOptions {
    let retry =
        RetryPolicy { base: Duration::from_millis(20), cap: Duration::from_millis(200), ..RetryPolicy::default() };
    ClientOptions { retry, ..ClientOptions::default() }
}

fn client_with(sim: &Simulator, options: ClientOptions) -> AutotaskClient {
    let connection = connection(sim, "sim@example.com", "sim-secret", "SIMCODE");
    AutotaskClient::new(connection, options, ZoneCache::default()).unwrap()
}

fn client(sim: &Simulator) -> AutotaskClient {
    client_with(sim, fast_options())
}

fn every_ticket() -> QueryBody {
    QueryBody::new(vec![Filter::presence(Op::Exist, "id")])
}

fn ids(records: &[Box<serde_json::value::RawValue>]) -> Vec<i64> {
    records.iter().map(|r| serde_json::from_str::<Value>(r.get()).unwrap()["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn reads_every_page_of_a_large_result_in_id_order() {
    let sim = simulator(2_345).await;
    let client = client(&sim);
    let result = client.query_all("Tickets", &every_ticket()).await.unwrap();
    assert_eq!(result.pages, 5);
    assert_eq!(ids(&result.records), (1..=2_345).collect::<Vec<_>>());
    assert_eq!(client.count("Tickets", &every_ticket()).await.unwrap(), 2_345);
    let stats = sim.stats();
    assert_eq!(stats.for_endpoint("POST Tickets/query"), 1);
    assert_eq!(stats.for_endpoint("POST Tickets/query/next"), 4);
    assert_eq!(stats.for_endpoint("GET zoneInformation"), 1, "the zone is looked up once");
}

#[tokio::test]
async fn a_cloud_elements_poll_url_reads_exactly_the_changed_records() {
    let sim = simulator(2_100).await;
    let url =
        "/hubs/helpdesk/incidents?where=lastActivityDate>='${date:yyyy-MM-dd'T'HH:mm:ssZ}' and priority in (1, 4)";
    let since = autotask_sim::sample::sample_epoch() - chrono::TimeDelta::days(10);
    let rendered = UrlTemplate::new(url).unwrap().render(since, &Zone::Utc);
    let query = autotask_query(&rendered).unwrap();
    assert_eq!(query.entity, "Tickets");

    let result = client(&sim).query_all(&query.entity, &query.body).await.unwrap();
    let expected: Vec<i64> = sim.with_store(|store| {
        store
            .table(Entity::Tickets)
            .values()
            .filter(|t| {
                let changed = chrono::DateTime::parse_from_rfc3339(t["lastActivityDate"].as_str().unwrap()).unwrap();
                changed >= since && [1, 4].contains(&t["priority"].as_i64().unwrap())
            })
            .map(|t| t["id"].as_i64().unwrap())
            .collect()
    });
    assert!(expected.len() > 500, "enough to page: {}", expected.len());
    assert!(expected.len() < 2_100, "and a real subset");
    assert_eq!(ids(&result.records), expected);
    assert!(sim.stats().ignored_filter_operators.is_empty(), "{:?}", sim.stats().ignored_filter_operators);
}

/// Every CEQL operator, nested, becomes filters the simulator evaluates without
/// dropping a clause (real Autotask would drop an operator it does not know, silently).
#[tokio::test]
async fn every_ceql_operator_reaches_autotask_as_an_operator_it_knows() {
    let sim = simulator(300).await;
    let clause = "/hubs/helpdesk/incidents?where=(id = 1 or id != 2 or id <> 3 or id < 4 or id <= 5 or id > 6 or id >= 7) \
        and (title like '%a%' or title like 'a%' or title like '%a' or title like 'a') \
        and (priority in (1, 2) or priority not in (3)) and (contactID is null or contactID is not null)";
    let query = autotask_query(clause).unwrap();
    let result = client(&sim).query_all(&query.entity, &query.body).await.unwrap();
    assert!(!result.records.is_empty(), "the clause matches some tickets");
    assert_eq!(sim.stats().ignored_filter_operators, Default::default(), "no clause was dropped");
}

#[tokio::test]
async fn waits_out_429s_for_as_long_as_retry_after_says() {
    let sim = simulator(10).await;
    let client = client(&sim);
    client.zone().await.unwrap();
    sim.set_faults(Faults { force429: 2, retry_after_seconds: 1, ..Faults::default() });
    let started = Instant::now();
    let result = client.query_all("Tickets", &every_ticket()).await.unwrap();
    assert_eq!(result.records.len(), 10);
    assert!(started.elapsed() >= Duration::from_secs(2), "two Retry-After: 1 waits, took {:?}", started.elapsed());
    assert_eq!(sim.stats().with_status(429), 2);
}

#[tokio::test]
async fn retries_server_errors_until_one_succeeds() {
    let sim = simulator(600).await;
    let client = client(&sim);
    sim.set_faults(Faults { fail500: 3, ..Faults::default() });
    let result = client.query_all("Tickets", &every_ticket()).await.unwrap();
    assert_eq!(result.records.len(), 600);
    assert_eq!(sim.stats().with_status(500), 3);

    // A 500 on a later page is retried too, without starting over.
    sim.reset_stats();
    sim.set_faults(Faults { fail_nth: Some(2), ..Faults::default() });
    let result = client.query_all("Tickets", &every_ticket()).await.unwrap();
    assert_eq!(ids(&result.records), (1..=600).collect::<Vec<_>>());
    assert_eq!(sim.stats().by_endpoint["POST Tickets/query/next"][&500], 1);
}

#[tokio::test]
async fn gives_up_after_the_last_attempt_with_autotask_s_own_text() {
    let sim = simulator(10).await;
    let client = client(&sim);
    sim.set_faults(Faults { fail500: 100, ..Faults::default() });
    let error = client.query_all("Tickets", &every_ticket()).await.unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, SourceError::Http { status: 500, .. }), "{text}");
    assert!(text.contains("Tickets") && text.contains("500") && text.contains("unexpected error"), "{text}");
    assert_eq!(sim.stats().with_status(500), 6, "the default policy makes six attempts");
}

#[tokio::test]
async fn never_has_more_than_three_requests_in_flight_per_entity() {
    let sim = simulator(1_200).await;
    sim.set_faults(Faults { latency_ms: 40, ..Faults::default() });
    let client = client(&sim);
    let polls: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.query_all("Tickets", &every_ticket()).await.map(|r| r.records.len()) })
        })
        .collect();
    for poll in polls {
        assert_eq!(poll.await.unwrap().unwrap(), 1_200);
    }
    let stats = sim.stats();
    assert_eq!(stats.max_in_flight["Tickets"], 3, "the limit was reached, never passed");
    assert_eq!(stats.with_status(429), 0);
}

#[tokio::test]
async fn the_simulator_would_catch_a_client_that_sent_more() {
    // The same load with the client's limit lifted: the simulator refuses the excess,
    // which is what the test above relies on to notice a broken limit.
    let sim = simulator(100).await;
    sim.set_faults(Faults { latency_ms: 40, ..Faults::default() });
    let mut options = fast_options();
    options.max_in_flight_per_entity = 8;
    options.retry.max_attempts = 1;
    let client = client_with(&sim, options);
    let polls: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.query_all("Tickets", &every_ticket()).await })
        })
        .collect();
    let mut refused = 0;
    for poll in polls {
        if let Err(SourceError::Http { status: 429, .. }) = poll.await.unwrap() {
            refused += 1;
        }
    }
    assert!(refused >= 1, "{refused}");
    assert_eq!(sim.stats().with_status(429), refused);
}

#[tokio::test]
async fn refuses_a_page_link_to_another_origin_without_contacting_it() {
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", elsewhere.local_addr().unwrap());
    let sim = simulator(700).await;
    sim.set_faults(Faults { next_page_origin: Some(origin.clone()), ..Faults::default() });
    let error = client(&sim).query_all("Tickets", &every_ticket()).await.unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, SourceError::ForeignOrigin { .. }), "{text}");
    assert!(text.contains(&origin) && text.contains("Tickets"), "{text}");
    let contacted = tokio::time::timeout(Duration::from_millis(200), elsewhere.accept()).await;
    assert!(contacted.is_err(), "the foreign server must not be contacted");
}

#[tokio::test]
async fn wrong_credentials_fail_at_once_with_a_clear_error_and_no_secret() {
    let sim = simulator(10).await;
    let attempt = |user: &str, secret: &str, code: &str| {
        let connection = connection(&sim, user, secret, code);
        let client = AutotaskClient::new(connection, fast_options(), ZoneCache::default()).unwrap();
        async move { client.query_all("Tickets", &every_ticket()).await.unwrap_err() }
    };

    let error = attempt("sim@example.com", "hunter2-wrong", "SIMCODE").await;
    let text = error.to_string();
    assert!(matches!(error, SourceError::Unauthorized { status: 401, .. }), "{text}");
    assert!(text.contains("sim@example.com") && text.contains("denied"), "{text}");
    assert!(!text.contains("hunter2-wrong") && !format!("{error:?}").contains("hunter2-wrong"));

    let error = attempt("sim@example.com", "sim-secret", "BADCODE").await;
    assert!(matches!(error, SourceError::Unauthorized { status: 500, .. }), "{error}");
    assert!(error.to_string().contains("IntegrationCode is invalid."), "{error}");
    assert!(!format!("{error} {error:?}").contains("BADCODE"));

    let error = attempt("nobody@example.com", "sim-secret", "SIMCODE").await;
    assert!(matches!(error, SourceError::ZoneLookup { status: 500, .. }), "{error}");
    assert!(error.to_string().contains("Zone information could not be determined"), "{error}");

    assert_eq!(sim.stats().for_endpoint("POST Tickets/query"), 2, "credential errors are not retried");
}

/// Real Autotask answers an unknown user's API call with a 500 whose wording is
/// not known; the client asks zone lookup again rather than read the text.
#[tokio::test]
async fn a_user_autotask_no_longer_knows_is_a_credentials_error_at_once() {
    let sim = simulator(10).await;
    let zones = ZoneCache::default();
    // The zone was found while the user still existed ...
    let known = connection(&sim, "sim@example.com", "sim-secret", "SIMCODE");
    let zone = AutotaskClient::new(known, fast_options(), zones.clone()).unwrap().zone().await.unwrap();
    let gone = connection(&sim, "gone@example.com", "sim-secret", "SIMCODE");
    zones.insert(gone.key(), zone);
    // ... and is cached when the next poll starts.
    let error = AutotaskClient::new(gone, fast_options(), zones).unwrap().query_all("Tickets", &every_ticket()).await;
    let error = error.unwrap_err();
    assert!(matches!(error, SourceError::ZoneLookup { status: 500, .. }), "{error}");
    assert!(error.to_string().contains("does not know the API user `gone@example.com`"), "{error}");
    assert_eq!(sim.stats().for_endpoint("POST Tickets/query"), 1, "not retried");
}

/// Every operator the client can send is one Autotask knows: the simulator
/// would count any other (real Autotask silently drops it, widening the result).
#[test]
fn the_client_sends_only_operators_autotask_knows() {
    const AUTOTASK_OPERATORS: [&str; 15] = [
        "eq",
        "noteq",
        "gt",
        "gte",
        "lt",
        "lte",
        "beginsWith",
        "endsWith",
        "contains",
        "exist",
        "notExist",
        "in",
        "notIn",
        "and",
        "or",
    ];
    // Exhaustive: a new `Op` variant fails to compile here until it is listed.
    let every_op = |op: Op| match op {
        Op::Eq | Op::NotEq | Op::Gt | Op::Gte | Op::Lt | Op::Lte | Op::BeginsWith | Op::EndsWith | Op::Contains => op,
        Op::Exist | Op::NotExist | Op::In | Op::NotIn | Op::And | Op::Or => op,
    };
    let ops = [
        Op::Eq,
        Op::NotEq,
        Op::Gt,
        Op::Gte,
        Op::Lt,
        Op::Lte,
        Op::BeginsWith,
        Op::EndsWith,
        Op::Contains,
        Op::Exist,
        Op::NotExist,
        Op::In,
        Op::NotIn,
        Op::And,
        Op::Or,
    ];
    let names: Vec<String> =
        ops.map(every_op).iter().map(|op| serde_json::to_value(op).unwrap().as_str().unwrap().to_owned()).collect();
    assert_eq!(names, AUTOTASK_OPERATORS);
}

#[tokio::test]
async fn a_bad_query_is_reported_once_with_autotask_s_text() {
    let sim = simulator(10).await;
    let body = QueryBody::new(vec![Filter::condition(Op::Gte, "lastActivityDat", "2024-01-01T00:00:00Z")]);
    let error = client(&sim).query_all("Tickets", &body).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "Autotask Tickets request failed (HTTP 500): Unable to find lastActivityDat in the Ticket Entity."
    );
    assert_eq!(sim.stats().for_endpoint("POST Tickets/query"), 1, "not retried");
}

#[tokio::test]
async fn an_unreachable_server_is_a_transport_error_naming_the_entity() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut options = fast_options();
    options.retry.max_attempts = 2;
    let connection = Connection {
        server_url: url,
        credentials: Credentials {
            username: "sim@example.com".into(),
            secret: Secret::new("s"),
            integration_code: Secret::new("c"),
        },
    };
    let client = AutotaskClient::new(connection, options, ZoneCache::default()).unwrap();
    let error = client.query_all("Tickets", &every_ticket()).await.unwrap_err();
    assert!(matches!(error, SourceError::Transport { .. }), "{error}");
    assert!(error.to_string().contains("zoneInformation"), "{error}");
}

#[tokio::test]
async fn slows_down_past_three_quarters_of_the_threshold_and_stops_at_it() {
    let no_latency = [Duration::ZERO; 2];
    let config = SimConfig { tickets: 1_500, threshold: 20, threshold_latency: no_latency, ..SimConfig::default() };
    let sim = Simulator::start(config).await.unwrap();
    let mut options = fast_options();
    options.threshold_check_interval = Duration::ZERO;
    options.max_spacing = Duration::from_millis(150);
    let client = client_with(&sim, options);

    let body = QueryBody { max_records: Some(100), ..every_ticket() };
    for _ in 0..14 {
        client.count("Tickets", &body).await.unwrap();
    }
    assert_eq!(client.threshold().await.unwrap().current_timeframe_request_count, 14);
    // 14 of 20 used: the next pages pass 75 % (15) and are spaced, 150 ms each at most here.
    let started = Instant::now();
    let error = client.query_all("Tickets", &body).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(5 * 150), "spaced requests, took {elapsed:?}");
    // The threshold runs out on the seventh page: Autotask's Retry-After is most of an
    // hour, which the client reports instead of sleeping through.
    assert!(matches!(error, SourceError::RateLimited { .. }), "{error}");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    assert_eq!(sim.stats().timeframe_request_count, 20);
}
