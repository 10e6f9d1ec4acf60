//! `POST /instances/{id}/poll?dryRun=true`: what a poll now would deliver,
//! with the watermark, the outbox and the callback left alone, and the real
//! poll after it delivering exactly what it showed.

use super::*;

/// The events of every message of one resource's dry run.
fn dry_run_events(resource: &Value) -> Vec<Value> {
    resource["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .flat_map(|message| message["body"]["message"]["events"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// The fields that make an event the same event wherever it is seen.
fn identity(event: &Value) -> Value {
    json!([event["eventId"], event["eventType"], event["objectType"], event["objectId"], event["eventDate"]])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_shows_the_next_polls_events_and_stores_and_sends_nothing() {
    let setup = Setup::new().await;
    let mut body = setup.readme_body();
    // Polled every 10 minutes: only the first poll, at start, and the ones this test asks for.
    body["configuration"]["event.poller.refresh_interval"] = json!("10");
    body["configuration"]["event.poller.configuration"]["contacts"] = resource("/hubs/crm/contacts");
    let (status, created) = setup.api.call(Method::POST, "/instances", Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let id = created["id"].as_i64().unwrap().to_string();
    let store = setup.service.as_ref().unwrap().store().clone();
    for resource in ["incidents", "contacts"] {
        let (store, id) = (store.clone(), id.clone());
        wait_until(WAIT, "the first poll", || {
            let watermark = store.watermark(&id, resource).unwrap();
            async move { watermark.map(|_| ()) }
        })
        .await;
    }

    let control = SimControl::new(&setup.sim);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let ticket = control.create("Tickets", json!({"title": "Seen by the dry run first"})).await;
    let watermark = store.watermark(&id, "incidents").unwrap();
    let undelivered = store.undelivered(&id).unwrap();
    let pending = store.pending(&id, 100).unwrap().len();
    let received = setup.receiver.deliveries().len();

    let (status, dry) = setup.api.call(Method::POST, &format!("/instances/{id}/poll?dryRun=true"), None).await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!((dry["instanceId"].clone(), dry["dryRun"].clone()), (json!(id), json!(true)), "{dry}");
    let names: Vec<&str> = dry["resources"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["incidents", "contacts"], "{dry}");
    let incidents = &dry["resources"][0];
    assert_eq!(incidents["ok"], true, "{dry}");
    assert!(incidents["url"].as_str().unwrap().starts_with("/hubs/helpdesk/incidents?where=lastActivityDate"), "{dry}");
    assert_eq!(incidents["query"]["entity"], "Tickets", "{dry}");
    assert!(incidents["query"]["body"]["filter"].to_string().contains("lastActivityDate"), "{dry}");
    assert!(incidents["pages"][0]["records"].as_u64().unwrap() >= 1, "{dry}");
    assert_eq!(incidents["pages"][0]["entity"], "Tickets", "{dry}");
    assert!(incidents["watermark"].as_str().unwrap() > incidents["from"].as_str().unwrap(), "{dry}");
    assert_eq!(incidents["pluginVersions"].as_array().unwrap().len(), 1, "{dry}");
    let shown = dry_run_events(incidents);
    let ours: Vec<&Value> = shown.iter().filter(|e| e["objectId"] == ticket.to_string().as_str()).collect();
    assert_eq!(ours.len(), 1, "the new ticket's event, once: {dry}");
    assert_eq!(ours[0]["eventType"], "CREATED");
    let listed = &incidents["messages"][0]["events"][0];
    assert!(listed["eventType"].is_string() && listed["payload"].is_object(), "{dry}");

    // Nothing stored, nothing sent: the same dry run again shows the same event.
    assert_eq!(store.watermark(&id, "incidents").unwrap(), watermark, "the watermark did not move");
    assert_eq!(store.undelivered(&id).unwrap(), undelivered, "the outbox is as it was");
    assert_eq!(store.pending(&id, 100).unwrap().len(), pending);
    let (_, again) =
        setup.api.call(Method::POST, &format!("/instances/{id}/poll?dryRun=true&resource=incidents"), None).await;
    assert_eq!(again["resources"].as_array().unwrap().len(), 1, "`resource=` restricts it: {again}");
    assert_eq!(again["resources"][0]["name"], "incidents");
    let again: Vec<Value> = dry_run_events(&again["resources"][0]).iter().map(identity).collect();
    assert!(again.contains(&identity(ours[0])), "no seen key was written: {again:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(setup.receiver.deliveries().len(), received, "the receiver got nothing");

    // The real poll delivers exactly the event the dry run showed.
    let (status, polled) =
        setup.api.call(Method::POST, &format!("/instances/{id}/poll?resource=incidents"), None).await;
    assert_eq!(status, StatusCode::OK, "{polled}");
    assert!(polled.get("dryRun").is_none(), "{polled}");
    let delivered =
        setup.receiver.wait_for(WAIT, "the ticket's event", |events| has(events, "CREATED", "incidents", ticket)).await;
    let delivered: Vec<Value> =
        delivered.iter().filter(|e| e["objectId"] == ticket.to_string().as_str()).map(identity).collect();
    assert_eq!(delivered, vec![identity(ours[0])], "the same event, once");
    assert!(store.watermark(&id, "incidents").unwrap() > watermark, "the real poll moved the watermark");

    // Unknown instances and resources are refused as a poll now refuses them.
    let (status, answer) = setup.api.call(Method::POST, "/instances/987654/poll?dryRun=true", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    let (status, answer) =
        setup.api.call(Method::POST, &format!("/instances/{id}/poll?dryRun=true&resource=nope"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer.to_string().contains("nope"), "{answer}");
    let (status, _) = setup.api.call_as("", Method::POST, &format!("/instances/{id}/poll?dryRun=true"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    setup.assert_no_secret_logged();
}
