//! The event inspector over the API: a delivered message found by the object
//! its event is about, shown whole (every attempt with its status, latency and
//! answer; the headers, the signature shown as present; each event beside its
//! raw record; the plugin version), and sent again, one message or a search's
//! worth, each redelivery in the audit log.

use super::*;

/// How many times the receiver got message `id`.
fn received(setup: &Setup, id: &str) -> usize {
    setup.receiver.deliveries().iter().filter(|delivery| delivery.webhook_id.as_deref() == Some(id)).count()
}

async fn wait_received(setup: &Setup, id: &str, times: usize) {
    wait_until(WAIT, &format!("message {id} received {times} times"), || {
        let done = received(setup, id) >= times;
        async move { done.then_some(()) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivered_event_is_found_by_its_object_inspected_whole_and_redelivered() {
    let setup = Setup::new().await;
    let id = setup.create().await["id"].as_i64().unwrap().to_string();
    let control = SimControl::new(&setup.sim);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The first attempt is refused, the retry accepted.
    setup.receiver.script(&[Answer::Fail(503)]);
    let ticket = control.create("Tickets", json!({"title": "Found by the inspector"})).await.to_string();
    setup
        .receiver
        .wait_for(WAIT, "the new ticket's event", |events| events.iter().any(|e| e["objectId"] == ticket.as_str()))
        .await;

    let events_path = format!("/instances/{id}/events");
    let (status, found) = setup.api.call(Method::GET, &format!("{events_path}?objectId={ticket}"), None).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    let found = found.as_array().unwrap().clone();
    assert_eq!(found.len(), 1, "one message is about the ticket: {found:?}");
    assert_eq!(found[0]["status"], "delivered");
    let message = found[0]["id"].as_str().unwrap().to_owned();
    let (_, other) = setup.api.call(Method::GET, &format!("{events_path}?objectId={ticket}0"), None).await;
    assert_eq!(other, json!([]), "an id is matched whole");
    let (_, typed) =
        setup.api.call(Method::GET, &format!("{events_path}?objectId={ticket}&eventType=deleted"), None).await;
    assert_eq!(typed, json!([]), "the ticket was created, not deleted");
    let (_, since) =
        setup.api.call(Method::GET, &format!("{events_path}?objectId={ticket}&from=2999-01-01T00:00:00Z"), None).await;
    assert_eq!(since, json!([]), "nothing was created in the future");

    let (status, detail) = setup.api.call(Method::GET, &format!("{events_path}/{message}"), None).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    let attempts = detail["deliveryAttempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{detail}");
    assert_eq!(
        (attempts[0]["status"].clone(), attempts[0]["delivered"].clone()),
        (json!(503), json!(false)),
        "{detail}"
    );
    assert!(attempts[0]["error"].as_str().unwrap().contains("HTTP 503"), "{detail}");
    assert_eq!(
        (attempts[1]["status"].clone(), attempts[1]["delivered"].clone()),
        (json!(200), json!(true)),
        "{detail}"
    );
    assert!(attempts.iter().all(|attempt| attempt["latencyMs"].as_f64().unwrap() > 0.0), "{detail}");
    assert!(attempts[0]["date"].as_str().unwrap() <= attempts[1]["date"].as_str().unwrap());
    assert_eq!(detail["headers"]["Elements-Webhook-Signature"], "present", "{detail}");
    assert_eq!(detail["headers"]["Elements-Webhook-Id"], message.as_str());
    assert_eq!(detail["headers"]["content-type"], "application/json");
    let event = &detail["inspectedEvents"][0];
    assert_eq!((event["eventType"].clone(), event["objectId"].clone()), (json!("CREATED"), json!(ticket)), "{detail}");
    assert_eq!(event["raw"]["id"].to_string(), ticket, "the raw record beside its event: {detail}");
    assert_eq!(event["raw"]["title"], "Found by the inspector");
    assert!(event["payload"].is_object(), "{detail}");
    assert_eq!(detail["body"]["message"]["events"][0]["objectId"], ticket.as_str(), "the body as posted");
    assert!(!detail["pluginVersion"].as_str().unwrap().is_empty(), "{detail}");
    let signature = setup.receiver.deliveries().iter().find_map(|d| d.signature.clone()).unwrap();
    assert!(!detail.to_string().contains(&signature), "the signature itself is not shown");

    // One message again: the same id, a third attempt.
    let (status, again) = setup.api.call(Method::POST, &format!("{events_path}/{message}/redeliver"), None).await;
    assert_eq!((status, again["redelivered"].clone()), (StatusCode::OK, json!([message])), "{again}");
    wait_received(&setup, &message, 3).await;
    let (_, detail) = setup.api.call(Method::GET, &format!("{events_path}/{message}"), None).await;
    wait_until(WAIT, "the redelivery's attempt recorded", || {
        let api = &setup.api;
        let path = format!("{events_path}/{message}");
        async move {
            let (_, detail) = api.call(Method::GET, &path, None).await;
            (detail["deliveryAttempts"].as_array().unwrap().len() == 3 && detail["status"] == "delivered").then_some(())
        }
    })
    .await;
    assert_eq!(detail["id"], message.as_str());

    // A search's worth again.
    let (status, again) =
        setup.api.call(Method::POST, &format!("{events_path}/redeliver?objectId={ticket}"), None).await;
    assert_eq!((status, again["redelivered"].clone()), (StatusCode::OK, json!([message])), "{again}");
    wait_received(&setup, &message, 4).await;

    let log = String::from_utf8_lossy(&LOG.lock().unwrap()).into_owned();
    let audited: Vec<&str> =
        log.lines().filter(|line| line.contains("audit") && line.contains("redelivery asked")).collect();
    assert_eq!(audited.len(), 2, "both redeliveries are audited: {audited:?}");
    assert!(
        audited.iter().all(|line| line.contains("user=admin") && line.contains(&format!("instance={id}"))),
        "{audited:?}"
    );
    setup.assert_no_secret_logged();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inspector_names_each_bad_parameter_and_refuses_a_redelivery_of_everything() {
    let setup = Setup::new().await;
    let id = setup.create().await["id"].as_i64().unwrap().to_string();
    let events = format!("/instances/{id}/events");
    for (query, field) in [
        ("?from=yesterday", "?from"),
        ("?to=2024-13-01T00:00:00Z", "?to"),
        ("?from=2024-06-02T00:00:00Z&to=2024-06-01T00:00:00Z", "?to"),
        ("?status=lost", "?status"),
        ("?limit=0", "?limit"),
        ("?limit=1001", "?limit"),
    ] {
        let (status, answer) = setup.api.call(Method::GET, &format!("{events}{query}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {answer}");
        assert_eq!(answer["field"], field, "{query}: {answer}");
    }
    let (status, answer) = setup.api.call(Method::POST, &format!("{events}/redeliver"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("say which messages"), "{answer}");
    let (status, answer) = setup.api.call(Method::POST, &format!("{events}/redeliver?status=lost"), None).await;
    assert_eq!((status, answer["field"].clone()), (StatusCode::BAD_REQUEST, json!("?status")), "{answer}");
    for (method, path) in [
        (Method::GET, format!("{events}/no-such-message")),
        (Method::POST, format!("{events}/no-such-message/redeliver")),
    ] {
        let (status, answer) = setup.api.call(method.clone(), &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
        assert!(answer["message"].as_str().unwrap().contains("no-such-message"), "{answer}");
    }
}
