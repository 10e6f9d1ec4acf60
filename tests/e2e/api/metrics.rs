//! `GET /instances/{id}/metrics` and `GET /plugins/metrics`: the figures the
//! console's charts are drawn from, after real polls and deliveries (one
//! refused by the callback first).

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instances_metrics_count_its_deliveries_polls_and_requests() {
    let setup = Setup::new().await;
    // The first message is refused once, then delivered on its retry.
    setup.receiver.script(&[Answer::Fail(503)]);
    let created = setup.create().await;
    let id = created["id"].as_i64().unwrap();
    // A new instance delivers what changes from its creation on.
    let control = SimControl::new(&setup.sim);
    tokio::time::sleep(Duration::from_millis(500)).await;
    for title in ["first", "second", "third"] {
        control.create("Tickets", json!({ "title": title })).await;
    }
    let delivered = setup.receiver.wait_for(WAIT, "the three tickets", |events| events.len() >= 3).await.len();

    // The receiver answered before the service recorded the outcome: wait for it.
    let path = format!("/instances/{id}/metrics");
    let metrics = wait_until(WAIT, "every delivery recorded", || async {
        let (status, metrics) = setup.api.call(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{metrics}");
        (metrics["delivery"]["delivered"] == json!(delivered)).then_some(metrics)
    })
    .await;
    assert_eq!((metrics["instanceId"].clone(), metrics["hours"].clone()), (json!(id.to_string()), json!(24)));
    let delivery = &metrics["delivery"];
    assert_eq!(delivery["delivered"], json!(delivered), "every delivered event is counted: {metrics}");
    assert!(delivery["failed"].as_u64().unwrap() >= 1, "the refused attempt's events: {metrics}");
    let minutes = delivery["minutes"].as_array().unwrap();
    let summed: u64 = minutes.iter().map(|minute| minute["delivered"].as_u64().unwrap()).sum();
    assert_eq!(summed, delivered as u64, "the minutes add up to the total: {metrics}");
    // Loopback deliveries are fast: the median is in one of the lower buckets.
    let p50 = delivery["latency"]["p50Ms"].as_u64().expect("a median latency");
    assert!(metrics["latencyBucketsMs"].as_array().unwrap().contains(&json!(p50)), "{metrics}");

    let polls = metrics["polls"].as_array().unwrap();
    assert_eq!(polls[0]["resource"], "incidents", "{metrics}");
    let records: u64 = polls[0]["minutes"].as_array().unwrap().iter().map(|m| m["records"].as_u64().unwrap()).sum();
    assert!(records >= 3, "the polls read the new tickets: {metrics}");
    let requests: u64 = metrics["requests"].as_array().unwrap().iter().map(|m| m["requests"].as_u64().unwrap()).sum();
    assert!(requests >= 1, "the polls' requests to Autotask: {metrics}");

    let (status, one_hour) = setup.api.call(Method::GET, &format!("/instances/{id}/metrics?hours=1"), None).await;
    assert_eq!((status, one_hour["hours"].clone()), (StatusCode::OK, json!(1)), "{one_hour}");
    assert_eq!(one_hour["delivery"]["delivered"], json!(delivered), "{one_hour}");

    let (status, plugins) = setup.api.call(Method::GET, "/plugins/metrics", None).await;
    assert_eq!(status, StatusCode::OK, "{plugins}");
    let versions = plugins["versions"].as_array().unwrap();
    let incidents = versions
        .iter()
        .find(|version| version["plugin"].as_str().unwrap().starts_with("incidents"))
        .unwrap_or_else(|| panic!("the incidents plugin's calls: {plugins}"));
    let calls: u64 = incidents["minutes"].as_array().unwrap().iter().map(|m| m["calls"].as_u64().unwrap()).sum();
    assert!(calls >= 1, "{plugins}");
    assert!(!incidents["version"].as_str().unwrap().is_empty(), "{plugins}");
    setup.assert_no_secret_logged();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_hours_are_refused_naming_the_parameter_and_unknown_instances_are_not_found() {
    let setup = Setup::new().await;
    let id = setup.create().await["id"].as_i64().unwrap();
    for bad in ["0", "25", "two", "-3", "1.5"] {
        for path in [format!("/instances/{id}/metrics?hours={bad}"), format!("/plugins/metrics?hours={bad}")] {
            let (status, answer) = setup.api.call(Method::GET, &path, None).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer}");
            assert_eq!(answer["field"], "?hours", "{path}: {answer}");
            assert!(answer["message"].as_str().unwrap().contains("from 1 to 24"), "{path}: {answer}");
        }
    }
    let (status, answer) = setup.api.call(Method::GET, "/instances/999/metrics", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    let (status, answer) = setup.api.call_as("", Method::GET, &format!("/instances/{id}/metrics"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    let (status, answer) = setup.api.call_as("", Method::GET, "/plugins/metrics", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
}
