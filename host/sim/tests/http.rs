//! The simulator over real HTTP on loopback, as an Autotask client sees it.

mod common;

use common::{api, authed, client, json_of};

use autotask_sim::{SimConfig, Simulator};
use serde_json::{Value, json};

async fn simulator(tickets: usize) -> Simulator {
    let config = SimConfig { tickets, epoch: Some(autotask_sim::sample::sample_epoch()), ..SimConfig::default() };
    Simulator::start(config).await.expect("the simulator starts")
}

#[tokio::test]
async fn zone_lookup_answers_known_users_and_refuses_others_with_the_real_text() {
    let sim = simulator(10).await;
    let http = client();
    let url = format!("{}/atservicesrest/v1.0/zoneInformation?user=SIM@example.com", sim.url());
    let (status, zone) = json_of(http.get(url).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(zone["url"], format!("{}/atservicesrest/", sim.url()));
    assert!(zone["zoneName"].is_string() && zone["webUrl"].is_string() && zone["ci"].is_number());
    let url = format!("{}/atservicesrest/v1.0/zoneInformation?user=nobody@example.com", sim.url());
    let (status, body) = json_of(http.get(url).send().await.unwrap()).await;
    assert_eq!((status, body), (500, json!({"errors": ["Zone information could not be determined"]})));
    let (status, body) =
        json_of(http.get(format!("{}/atservicesrest/versioninformation", sim.url())).send().await.unwrap()).await;
    assert_eq!((status, body), (200, json!({"apiVersions": ["1.0"]})));
}

#[tokio::test]
async fn credentials_are_refused_as_autotask_refuses_them() {
    let sim = simulator(10).await;
    let http = client();
    let body = json!({"filter": [{"op": "exist", "field": "id"}]});
    let query = |user: &str, secret: &str, code: &str| {
        http.post(api(&sim, "Tickets/query"))
            .header("UserName", user)
            .header("Secret", secret)
            .header("ApiIntegrationCode", code)
            .json(&body)
            .send()
    };
    let (status, _) = json_of(http.post(api(&sim, "Tickets/query")).json(&body).send().await.unwrap()).await;
    assert_eq!(status, 401, "no credentials");
    let (status, body_401) = json_of(query("sim@example.com", "wrong", "SIMCODE").await.unwrap()).await;
    assert_eq!(status, 401, "a wrong secret");
    assert!(body_401["Message"].as_str().unwrap().contains("denied"));
    assert_eq!(
        json_of(query("other@example.com", "sim-secret", "SIMCODE").await.unwrap()).await.0,
        500,
        "an unknown user"
    );
    let (status, body) = json_of(query("sim@example.com", "sim-secret", "WRONG").await.unwrap()).await;
    assert_eq!((status, body), (500, json!({"errors": ["IntegrationCode is invalid."]})));
    let (status, _) = json_of(query("sim@example.com", "sim-secret", "SIMCODE").await.unwrap()).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn pages_hold_500_ordered_by_id_and_the_next_page_needs_post_and_the_same_body() {
    let sim = simulator(1_203).await;
    let http = client();
    let body = json!({"filter": [{"op": "gt", "field": "id", "value": 100}]});
    let (status, first) =
        json_of(authed(http.post(api(&sim, "Tickets/query"))).json(&body).send().await.unwrap()).await;
    assert_eq!(status, 200);
    let ids: Vec<i64> = first["items"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, (101..=600).collect::<Vec<_>>());
    assert_eq!(first["pageDetails"]["count"], 500);
    assert_eq!(first["pageDetails"]["requestCount"], 500);
    assert!(first["pageDetails"]["prevPageUrl"].is_null());
    let next = first["pageDetails"]["nextPageUrl"].as_str().unwrap().to_owned();

    let (status, refused) = json_of(authed(http.get(&next)).send().await.unwrap()).await;
    assert_eq!(
        (status, refused),
        (405, json!({"Message": "The requested resource does not support http method 'GET'."}))
    );
    let other = json!({"filter": [{"op": "gt", "field": "id", "value": 99}]});
    assert_eq!(json_of(authed(http.post(&next)).json(&other).send().await.unwrap()).await.0, 400, "another body");

    let (_, second) = json_of(authed(http.post(&next)).json(&body).send().await.unwrap()).await;
    assert_eq!(second["items"][0]["id"], 601);
    let prev = second["pageDetails"]["prevPageUrl"].as_str().unwrap();
    let (_, back) = json_of(authed(http.post(prev)).json(&body).send().await.unwrap()).await;
    assert_eq!(back["items"][0]["id"], 101);
    let next = second["pageDetails"]["nextPageUrl"].as_str().unwrap();
    let (_, third) = json_of(authed(http.post(next)).json(&body).send().await.unwrap()).await;
    assert_eq!(third["items"].as_array().unwrap().len(), 103);
    assert!(third["pageDetails"]["nextPageUrl"].is_null());
}

#[tokio::test]
async fn get_queries_take_the_body_as_search_and_counts_agree() {
    let sim = simulator(300).await;
    let http = client();
    let body = json!({"MaxRecords": 10, "filter": [{"op": "in", "field": "priority", "value": [1, 4]}]});
    let search = body.to_string();
    let (status, page) =
        json_of(authed(http.get(api(&sim, "tickets/QUERY"))).query(&[("search", &search)]).send().await.unwrap()).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 10);
    assert!(page["items"].as_array().unwrap().iter().all(|t| [1, 4].contains(&t["priority"].as_i64().unwrap())));
    let expected = sim.with_store(|store| {
        store
            .table(autotask_sim::Entity::Tickets)
            .values()
            .filter(|t| [1, 4].contains(&t["priority"].as_i64().unwrap()))
            .count()
    });
    let (_, count) =
        json_of(authed(http.post(api(&sim, "Tickets/query/count"))).json(&body).send().await.unwrap()).await;
    assert_eq!(count, json!({"queryCount": expected}));
    let (_, count) =
        json_of(authed(http.get(api(&sim, "Tickets/query/count"))).query(&[("search", &search)]).send().await.unwrap())
            .await;
    assert_eq!(count, json!({"queryCount": expected}));
}

/// The service asks a backfill's total with the poll's own body (a date
/// filter, a page size): the count is what paging through that body reads.
#[tokio::test]
async fn a_count_with_a_polls_body_is_what_its_pages_hold() {
    let sim = simulator(750).await;
    let http = client();
    // A date in the middle of the generated changes, so some tickets match and some do not.
    let mut dates: Vec<String> = sim.with_store(|store| {
        store
            .table(autotask_sim::Entity::Tickets)
            .values()
            .map(|t| t["lastActivityDate"].as_str().unwrap().to_owned())
            .collect()
    });
    dates.sort();
    let from = &dates[dates.len() / 3];
    let body = json!({"MaxRecords": 100, "filter": [{"op": "gte", "field": "lastActivityDate", "value": from}]});
    let (status, count) =
        json_of(authed(http.post(api(&sim, "Tickets/query/count"))).json(&body).send().await.unwrap()).await;
    assert_eq!(status, 200, "{count}");
    let (mut read, mut next) = (0, Some(api(&sim, "Tickets/query")));
    while let Some(url) = next {
        let (status, page) = json_of(authed(http.post(url)).json(&body).send().await.unwrap()).await;
        assert_eq!(status, 200, "{page}");
        read += page["items"].as_array().unwrap().len();
        next = page["pageDetails"]["nextPageUrl"].as_str().map(str::to_owned);
    }
    assert!(read > 0 && read < 750, "the filter matters: {read}");
    assert_eq!(count, json!({"queryCount": read}), "the count is what the pages hold");
}

#[tokio::test]
async fn records_fields_and_threshold_are_served() {
    let sim = simulator(5).await;
    let http = client();
    let (_, item) = json_of(authed(http.get(api(&sim, "Tickets/3"))).send().await.unwrap()).await;
    assert_eq!(item["item"]["id"], 3);
    let (status, missing) = json_of(authed(http.get(api(&sim, "Tickets/999"))).send().await.unwrap()).await;
    assert_eq!((status, missing), (200, json!({"item": null})));
    let (_, fields) =
        json_of(authed(http.get(api(&sim, "Tickets/entityInformation/fields"))).send().await.unwrap()).await;
    let field = |name: &str| fields["fields"].as_array().unwrap().iter().find(|f| f["name"] == name).unwrap().clone();
    let status = field("status");
    assert_eq!(status["isPickList"], true);
    assert!(status["picklistValues"].as_array().unwrap().iter().any(|v| v["value"] == "5" && v["label"] == "Complete"));
    assert_eq!(field("priority")["picklistValues"].as_array().unwrap().len(), 4);
    assert_eq!(field("lastActivityDate")["dataType"], "datetime");
    let (_, threshold) = json_of(authed(http.get(api(&sim, "ThresholdInformation"))).send().await.unwrap()).await;
    assert_eq!(threshold["externalRequestThreshold"], 10_000);
    assert_eq!(threshold["requestThresholdTimeframe"], 60);
    assert_eq!(threshold["currentTimeframeRequestCount"], 3, "the three requests before it");
}

#[tokio::test]
async fn bad_queries_get_autotask_errors() {
    let sim = simulator(5).await;
    let http = client();
    let query = |body: Value| authed(http.post(api(&sim, "Tickets/query"))).json(&body).send();
    let (status, body) =
        json_of(query(json!({"filter": [{"op": "eq", "field": "nope", "value": 1}]})).await.unwrap()).await;
    assert_eq!((status, body), (500, json!({"errors": ["Unable to find nope in the Ticket Entity."]})));
    let (status, _) = json_of(query(json!({"filter": []})).await.unwrap()).await;
    assert_eq!(status, 500);
    let (status, _) =
        json_of(authed(http.post(api(&sim, "Projects/query"))).json(&json!({})).send().await.unwrap()).await;
    assert_eq!(status, 404, "an entity the simulator does not serve");
}

#[tokio::test]
async fn the_control_api_changes_records_as_autotask_users_would() {
    let sim = simulator(5).await;
    let http = client();
    let control = |path: &str| format!("{}/sim/{path}", sim.url());
    let created = http.post(control("Tickets")).json(&json!({"title": "Printer on fire"})).send().await.unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["id"], 6);
    assert_eq!(created["title"], "Printer on fire");
    assert_eq!(created["createDate"], created["lastActivityDate"]);
    let date = created["createDate"].as_str().unwrap();
    assert!(date.ends_with('Z') && !date.contains("+"), "{date}");

    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let patched: Value =
        http.patch(control("Tickets/6")).json(&json!({"status": 5})).send().await.unwrap().json().await.unwrap();
    assert_eq!(patched["status"], 5);
    assert_eq!(patched["createDate"], created["createDate"]);
    assert_ne!(patched["lastActivityDate"], created["lastActivityDate"]);

    // The change is what a poll on lastActivityDate sees.
    let since = created["createDate"].clone();
    let body = json!({"filter": [{"op": "gt", "field": "lastActivityDate", "value": since}]});
    let (_, page) = json_of(authed(http.post(api(&sim, "Tickets/query"))).json(&body).send().await.unwrap()).await;
    assert_eq!(page["items"].as_array().unwrap().iter().map(|t| t["id"].clone()).collect::<Vec<_>>(), [json!(6)]);

    assert_eq!(http.delete(control("Tickets/6")).send().await.unwrap().status(), 204);
    assert_eq!(http.delete(control("Tickets/6")).send().await.unwrap().status(), 404);
    let body = json!({"filter": [{"op": "eq", "field": "ticketID", "value": 6}]});
    let (_, logs) =
        json_of(authed(http.post(api(&sim, "DeletedTicketLogs/query"))).json(&body).send().await.unwrap()).await;
    assert_eq!(logs["items"][0]["ticketTitle"], "Printer on fire");
    assert!(logs["items"][0]["deletedDateTime"].is_string());
    assert_eq!(http.post(control("Nope")).json(&json!({})).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn faults_and_stats_are_set_and_read_over_http() {
    let sim = simulator(5).await;
    let http = client();
    let faults = json!({"force429": 1, "retryAfterSeconds": 7, "failNth": 2});
    assert_eq!(http.post(format!("{}/sim/faults", sim.url())).json(&faults).send().await.unwrap().status(), 200);
    let bad = http.post(format!("{}/sim/faults", sim.url())).json(&json!({"nope": 1})).send().await.unwrap();
    assert_eq!(bad.status(), 400, "unknown fault names are refused");
    let body = json!({"filter": [{"op": "exist", "field": "id"}]});
    let first = authed(http.post(api(&sim, "Tickets/query"))).json(&body).send().await.unwrap();
    assert_eq!(first.status(), 429);
    assert_eq!(first.headers()["retry-after"], "7");
    let second = authed(http.post(api(&sim, "Tickets/query"))).json(&body).send().await.unwrap();
    assert_eq!(second.status(), 500);
    let third = authed(http.post(api(&sim, "Tickets/query"))).json(&body).send().await.unwrap();
    assert_eq!(third.status(), 200);
    let stats: Value = http.get(format!("{}/sim/stats", sim.url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["byEndpoint"]["POST Tickets/query"], json!({"200": 1, "429": 1, "500": 1}));
    assert_eq!(stats["total"], 3);
    assert_eq!(http.delete(format!("{}/sim/stats", sim.url())).send().await.unwrap().status(), 204);
    assert_eq!(sim.stats().total, 0);
}

#[tokio::test]
async fn past_the_hourly_threshold_requests_are_refused() {
    let no_latency = [std::time::Duration::ZERO; 2];
    let config = SimConfig { tickets: 5, threshold: 3, threshold_latency: no_latency, ..SimConfig::default() };
    let sim = Simulator::start(config).await.unwrap();
    let http = client();
    let body = json!({"filter": [{"op": "exist", "field": "id"}]});
    for _ in 0..3 {
        assert_eq!(authed(http.post(api(&sim, "Tickets/query"))).json(&body).send().await.unwrap().status(), 200);
    }
    let refused = authed(http.post(api(&sim, "Tickets/query"))).json(&body).send().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let (_, threshold) = json_of(authed(http.get(api(&sim, "ThresholdInformation"))).send().await.unwrap()).await;
    assert_eq!(threshold["currentTimeframeRequestCount"], 3);
}

#[tokio::test]
async fn churn_changes_data_by_itself() {
    let config = SimConfig { tickets: 5, churn_per_minute: 6000.0, ..SimConfig::default() };
    let sim = Simulator::start(config).await.unwrap();
    let before = sim.with_store(|store| store.table(autotask_sim::Entity::Tickets).clone());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let after = sim.with_store(|store| store.table(autotask_sim::Entity::Tickets).clone());
    assert_ne!(before, after);
}

fn ids_of(page: &Value) -> Vec<i64> {
    page["items"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect()
}

/// Real Autotask: a query started by GET pages by GET, its `nextPageUrl`
/// embedding the `search` (`...query/next?paging={...}&search={...}`).
#[tokio::test]
async fn a_query_started_by_get_pages_by_get_with_its_search_in_the_link() {
    let sim = simulator(1_203).await;
    let http = client();
    let search = json!({"filter": [{"op": "gt", "field": "id", "value": 100}]}).to_string();
    let (status, first) =
        json_of(authed(http.get(api(&sim, "Tickets/query"))).query(&[("search", &search)]).send().await.unwrap()).await;
    assert_eq!(status, 200, "{first}");
    let mut ids = ids_of(&first);
    let mut next = first["pageDetails"]["nextPageUrl"].as_str().map(str::to_owned);
    let link = reqwest::Url::parse(next.as_deref().unwrap()).unwrap();
    let carried: Vec<String> = link.query_pairs().filter(|(k, _)| k == "search").map(|(_, v)| v.into_owned()).collect();
    assert_eq!(carried, std::slice::from_ref(&search), "the link carries the search: {link}");
    let mut pages = 1;
    while let Some(url) = next {
        let (status, page) = json_of(authed(http.get(&url)).send().await.unwrap()).await;
        assert_eq!(status, 200, "GET {url}: {page}");
        ids.extend(ids_of(&page));
        next = page["pageDetails"]["nextPageUrl"].as_str().map(str::to_owned);
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(ids, (101..=1_203).collect::<Vec<_>>());
}

/// Json.NET reads single-quoted strings, so real Autotask takes `{'filter': ...}`.
#[tokio::test]
async fn a_single_quoted_search_is_read_as_json_net_reads_it() {
    let sim = simulator(20).await;
    let http = client();
    let search = "{'filter':[{'op':'in','field':'id','value':[3,4]},{'op':'notExist','field':'title\\'s'}]}";
    let (status, body) =
        json_of(authed(http.get(api(&sim, "Tickets/query"))).query(&[("search", search)]).send().await.unwrap()).await;
    assert_eq!(status, 500, "the escaped quote is read into the field name: {body}");
    assert_eq!(body["errors"][0], "Unable to find title's in the Ticket Entity.");
    let search = "{'filter':[{'op':'in','field':'id','value':[3,4]}]}";
    let (status, page) =
        json_of(authed(http.get(api(&sim, "Tickets/query"))).query(&[("search", search)]).send().await.unwrap()).await;
    assert_eq!((status, ids_of(&page)), (200, vec![3, 4]));
}

/// Real Autotask drops a clause whose operator it does not know (`ne`) and
/// answers as if it had not been sent; the simulator counts each one.
#[tokio::test]
async fn an_unknown_operator_is_dropped_and_counted() {
    let sim = simulator(30).await;
    let http = client();
    let body = json!({"filter": [
        {"op": "lte", "field": "id", "value": 5},
        {"op": "ne", "field": "id", "value": 3},
    ]});
    let (status, page) = json_of(authed(http.post(api(&sim, "Tickets/query"))).json(&body).send().await.unwrap()).await;
    assert_eq!((status, ids_of(&page)), (200, vec![1, 2, 3, 4, 5]), "the `ne` clause did nothing");
    let stats: Value = http.get(format!("{}/sim/stats", sim.url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["ignoredFilterOperators"], json!({"ne": 1}));
    assert_eq!(sim.stats().ignored_filter_operators["ne"], 1);
}

#[tokio::test]
async fn entity_information_and_user_defined_fields_are_served() {
    let sim = simulator(50).await;
    let http = client();
    let (status, info) = json_of(authed(http.get(api(&sim, "Tickets/entityInformation"))).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(info["info"]["name"], "Ticket");
    assert_eq!(info["info"]["canQuery"], true);
    assert_eq!(info["info"]["hasUserDefinedFields"], true);
    assert_eq!(info["info"]["userAccessForQuery"], "All");
    let (_, info) =
        json_of(authed(http.get(api(&sim, "DeletedTicketLogs/entityinformation"))).send().await.unwrap()).await;
    assert_eq!(
        (info["info"]["hasUserDefinedFields"].clone(), info["info"]["canCreate"].clone()),
        (json!(false), json!(false))
    );

    let (status, udfs) =
        json_of(authed(http.get(api(&sim, "Tickets/entityInformation/userDefinedFields"))).send().await.unwrap()).await;
    assert_eq!(status, 200);
    let defined: Vec<&str> = udfs["fields"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    let carried: std::collections::BTreeSet<String> = sim.with_store(|store| {
        store
            .table(autotask_sim::Entity::Tickets)
            .values()
            .flat_map(|t| t["userDefinedFields"].as_array().cloned().unwrap_or_default())
            .map(|udf| udf["name"].as_str().unwrap().to_owned())
            .collect()
    });
    assert!(!carried.is_empty());
    assert!(carried.iter().all(|name| defined.contains(&name.as_str())), "{carried:?} within {defined:?}");

    let (_, fields) =
        json_of(authed(http.get(api(&sim, "Tickets/entityInformation/fields"))).send().await.unwrap()).await;
    let required: Vec<&str> = fields["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["isRequired"] == true)
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(["id", "status", "priority", "title"].iter().all(|f| required.contains(f)), "{required:?}");
}

#[tokio::test]
async fn include_fields_keep_an_empty_user_defined_fields_list() {
    let sim = simulator(5).await;
    let http = client();
    let body = json!({"IncludeFields": ["status"], "filter": [{"op": "eq", "field": "id", "value": 2}]});
    let (_, page) = json_of(authed(http.post(api(&sim, "Tickets/query"))).json(&body).send().await.unwrap()).await;
    let status = sim.with_store(|store| store.table(autotask_sim::Entity::Tickets)[&2]["status"].clone());
    assert_eq!(page["items"], json!([{"id": 2, "status": status, "userDefinedFields": []}]));
}

/// Thread limiting covers every endpoint but zone lookup, `ThresholdInformation`
/// included (the fourth concurrent read is refused: see `traffic.rs`'s tests).
#[tokio::test]
async fn threshold_reads_take_a_thread() {
    let sim = simulator(5).await;
    let http = client();
    let (status, _) = json_of(authed(http.get(api(&sim, "ThresholdInformation"))).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(sim.stats().max_in_flight.get("ThresholdInformation"), Some(&1), "threshold reads take a thread");
    assert_eq!(sim.stats().timeframe_request_count, 0, "but are not counted against the threshold");
}

#[tokio::test]
async fn real_error_texts_for_bad_bodies() {
    let sim = simulator(5).await;
    let http = client();
    let (status, body) = json_of(authed(http.post(api(&sim, "Tickets/query"))).send().await.unwrap()).await;
    assert_eq!(status, 500);
    assert!(body["errors"][0].as_str().unwrap().ends_with("Parameter name: queryModel"), "{body}");
    let body = json!({"MaxRecords": 501, "filter": [{"op": "exist", "field": "id"}]});
    let (status, body) = json_of(authed(http.post(api(&sim, "Tickets/query"))).json(&body).send().await.unwrap()).await;
    assert_eq!((status, body), (500, json!({"errors": ["maxCountOfRecordsToReturn must be between 1 and 500"]})));
}
