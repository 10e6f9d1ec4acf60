//! The event inspector's pages: over HTTP (search, a message whole,
//! redelivery with its CSRF token) and in Chromium (find a delivered event by
//! its object id, open it, see its attempts and raw record, redeliver it and
//! see the new attempt), with screenshots for the docs.

use super::*;

/// An instance polling every 0.3 s; its id once its first poll ran.
async fn polled_instance(setup: &Setup) -> String {
    instance_polled_every(setup, "0.005").await
}

/// A new ticket, once the receiver accepted its event; returns its id.
async fn delivered_ticket(setup: &Setup, title: &str) -> String {
    let ticket = SimControl::new(&setup.sim).create("Tickets", json!({"title": title})).await.to_string();
    setup
        .receiver
        .wait_for(WAIT, "the ticket's event", |events| events.iter().any(|e| e["objectId"] == ticket.as_str()))
        .await;
    ticket
}

fn times_received(setup: &Setup, message: &str) -> usize {
    setup.receiver.deliveries().iter().filter(|delivery| delivery.webhook_id.as_deref() == Some(message)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inspector_pages_find_show_and_redeliver_a_message() {
    let setup = Setup::new().await;
    let (cookie, token) = sign_in(&setup).await;
    let id = polled_instance(&setup).await;
    let ticket = delivered_ticket(&setup, "Inspected over HTTP").await;
    let client = http();
    let get = |path: String| {
        let request = client.get(setup.url(&path)).header(COOKIE, &cookie);
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };

    let (status, page) = get(format!("/console/instances/{id}/events?objectId={ticket}&status=delivered")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains(r#"role="search""#) && page.contains(&format!(r#"value="{ticket}""#)),
        "the search is kept: {page}"
    );
    let row = page.find("data-message=\"").expect("a message found") + "data-message=\"".len();
    let message = page[row..row + page[row..].find('"').unwrap()].to_owned();
    assert!(page.contains(&format!("CREATED {ticket}")), "{page}");
    let (_, none) = get(format!("/console/instances/{id}/events?objectId={ticket}&eventType=DELETED")).await;
    assert!(none.contains("No message matches."), "{none}");
    let (status, bad) = get(format!("/console/instances/{id}/events?from=someday")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad.contains("is not an RFC 3339 date-time"), "{bad}");

    let detail_path = format!("/console/instances/{id}/events/{message}");
    let (status, detail) = get(detail_path.clone()).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert!(detail.contains(r#"<table id="attempts">"#) && detail.contains(r#"data-delivered="true""#), "{detail}");
    assert!(detail.contains("Elements-Webhook-Signature") && detail.contains("<code>present</code>"), "{detail}");
    assert!(detail.contains("Inspected over HTTP"), "the raw record is shown: {detail}");
    assert!(detail.contains("Raw record") && detail.contains("Payload"), "{detail}");
    setup.assert_no_secret(&detail, "the message page");

    // Redelivery is a form: refused without its token, done with it.
    let redeliver = setup.url(&format!("{detail_path}/redeliver"));
    let refused = client.post(&redeliver).header(COOKIE, &cookie).form(&[("csrf", "forged")]).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let done = client.post(&redeliver).header(COOKIE, &cookie).form(&[("csrf", token.as_str())]).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()[LOCATION], format!("{detail_path}?redelivered=true").as_str());
    let deadline = Instant::now() + WAIT;
    while times_received(&setup, &message) < 2 {
        assert!(Instant::now() < deadline, "the redelivery never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, detail) = get(format!("{detail_path}?redelivered=true")).await;
        if detail.matches(r#"data-delivered="true""#).count() == 2 {
            assert!(detail.contains("Queued for redelivery"), "{detail}");
            break;
        }
        assert!(Instant::now() < deadline, "the second attempt is not shown: {detail}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A search's worth.
    let search = setup.url(&format!("/console/instances/{id}/events/redeliver?objectId={ticket}"));
    let done = client.post(&search).header(COOKIE, &cookie).form(&[("csrf", token.as_str())]).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert!(done.headers()[LOCATION].to_str().unwrap().ends_with("&redelivered=1"), "{:?}", done.headers()[LOCATION]);
    let deadline = Instant::now() + WAIT;
    while times_received(&setup, &message) < 3 {
        assert!(Instant::now() < deadline, "the search's redelivery never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Debian's chromium and chromium-driver; tests/run installs them and runs it"]
async fn a_delivered_event_found_opened_and_redelivered_in_chromium() {
    let setup = Setup::new().await;
    let id = polled_instance(&setup).await;
    // Refused once, then accepted: the message shows two attempts.
    setup.receiver.script(&[Answer::Fail(503)]);
    let ticket = delivered_ticket(&setup, "Found in the inspector").await;
    let browser = signed_in_browser(&setup, 1280, 1000).await;

    // From the instance's page to the inspector, and a search by object id.
    browser.goto(&setup.url(&format!("/console/instances/{id}"))).await;
    browser.click("a[href$='/events']").await;
    browser.wait_for_text("main h1", "the inspector", |text| text.starts_with("Events of")).await;
    browser.fill("#object-id", &ticket).await;
    browser.click("form.search button[type=submit]").await;
    let found = browser
        .wait_for_text("#found-events", "the ticket's message", |text| text.contains(&format!("CREATED {ticket}")))
        .await;
    assert!(found.contains("delivered"), "{found}");
    browser.save_screenshot("inspector-search").await;

    // Open it: two attempts (503, then 200), the headers, the raw record beside the payload.
    browser.click("#found-events tbody tr a").await;
    browser.wait_for_text("main h1", "the message page", |text| text.starts_with("Message")).await;
    let attempts = browser.text("#attempts").await;
    assert!(attempts.contains("503") && attempts.contains("200"), "{attempts}");
    assert_eq!(browser.find_all("#attempts tbody tr").await.len(), 2);
    assert!(browser.text("#headers").await.contains("present"));
    let raw = browser.text("pre.raw").await;
    assert!(raw.contains("Found in the inspector") && raw.contains(&ticket), "{raw}");
    assert!(!browser.text("#plugin-version").await.is_empty());
    browser.set_window_size(1280, 1800).await;
    browser.save_screenshot("inspector-message").await;
    browser.set_window_size(1280, 1000).await;

    // Redeliver: the page comes back saying so, and the new attempt appears.
    browser.click("#redeliver").await;
    browser.wait_for_text(".notice", "the redelivery's notice", |text| text.contains("Queued for redelivery")).await;
    let deadline = Instant::now() + WAIT;
    while browser.find_all("#attempts tbody tr").await.len() < 3 {
        assert!(Instant::now() < deadline, "the new attempt never showed");
        tokio::time::sleep(Duration::from_millis(300)).await;
        browser.goto(&setup.url(&browser.path().await)).await;
    }
    assert_eq!(times_received(&setup, setup.receiver.deliveries().last().unwrap().webhook_id.as_deref().unwrap()), 3);

    // On a phone: the payload and the record stack.
    browser.set_window_size(390, 844).await;
    browser.save_screenshot("inspector-phone").await;
}
