//! The charts of an instance's page and of the plugins page: drawn from real
//! polls and deliveries, each an `<svg role="img">` whose description states
//! its numbers, with a table of the same numbers after it; in Chromium they
//! render, scale to a phone's width, and their table opens.

use super::*;

/// Creates an instance polled every 0.3 s through the API, then three tickets
/// in Autotask, and waits until their events are delivered and recorded.
/// Returns the instance's id and its metrics as the API answers them.
async fn deliver_three_tickets(setup: &Setup) -> (String, Value) {
    let id = instance_polled_every(setup, "0.005").await;
    let control = SimControl::new(&setup.sim);
    for title in ["Charted one", "Charted two", "Charted three"] {
        control.create("Tickets", json!({ "title": title })).await;
    }
    setup.receiver.wait_for(WAIT, "the three tickets", |events| events.len() >= 3).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, metrics) = setup.api_get(&format!("/instances/{id}/metrics")).await;
        assert_eq!(status, StatusCode::OK, "{metrics}");
        if metrics["delivery"]["delivered"] == json!(3) {
            return (id, metrics);
        }
        assert!(Instant::now() < deadline, "the deliveries were never recorded: {metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The text between `start` and the next `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap_or_else(|| panic!("`{start}` in {text}")) + start.len();
    &text[from..from + text[from..].find(end).unwrap()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_page_charts_its_deliveries_with_a_table_of_the_same_numbers() {
    let setup = Setup::new().await;
    let (cookie, _) = sign_in(&setup).await;
    let (id, _) = deliver_three_tickets(&setup).await;

    let page = http()
        .get(setup.url(&format!("/console/instances/{id}")))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = between(&page, r#"<section class="chart-block" id="chart-events">"#, "</section>");
    assert!(
        events.contains(r#"<svg class="chart" role="img" aria-labelledby="chart-events-title chart-events-desc""#),
        "{events}"
    );
    let desc = between(events, r#"<desc id="chart-events-desc">"#, "</desc>");
    assert!(desc.contains(": 3 delivered, 0 failed"), "{desc}");
    // The table's delivered column adds up to the 3 the description states.
    let table = between(events, "<tbody>", "</tbody>");
    let delivered: u64 =
        table.split("<tr>").skip(1).map(|row| between(row, "<td>", "</td>").parse::<u64>().expect("a count")).sum();
    assert_eq!(delivered, 3, "{table}");
    assert!(events.contains("<details class=\"chart-table\"><summary>Table</summary>"), "{events}");
    // Polls ran on this host, so their charts are drawn too; requests to Autotask as well.
    for chart in ["chart-latency", "chart-poll-duration", "chart-records", "chart-requests"] {
        let section = between(&page, &format!(r#"id="{chart}">"#), "</section>");
        assert!(section.contains(r#"role="img""#), "{chart}: {section}");
    }
    setup.assert_no_secret(&page, "the instance page");

    let plugins =
        http().get(setup.url("/console/plugins")).header(COOKIE, &cookie).send().await.unwrap().text().await.unwrap();
    let calls = between(&plugins, r#"id="chart-calls-0">"#, "</section>");
    assert!(calls.contains(r#"role="img""#) && calls.contains("Calls of incidents"), "{calls}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_deliveries_a_chart_is_a_sentence() {
    let setup = Setup::new().await;
    let (cookie, _) = sign_in(&setup).await;
    let plugins =
        http().get(setup.url("/console/plugins")).header(COOKIE, &cookie).send().await.unwrap().text().await.unwrap();
    assert!(plugins.contains("No plugin calls on this host in the last 24 hours."), "{plugins}");
    assert!(!plugins.contains("<svg class=\"chart\""), "{plugins}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Debian's chromium and chromium-driver; tests/run installs them and runs it"]
async fn the_charts_render_in_chromium_with_their_tables_on_a_desktop_and_a_phone() {
    let setup = Setup::new().await;
    let (id, _) = deliver_three_tickets(&setup).await;
    let browser = Browser::start(1280, 1000).await;
    browser.goto(&setup.url("/")).await;
    browser.fill("#user-secret", USER_SECRET).await;
    browser.focused().await.send_keys(&format!("{TAB}{ORGANIZATION_SECRET}{ENTER}")).await;
    browser.wait_for_text("main h1", "the instances page", |text| text == "Instances").await;
    // `#charts`: the screenshots show the charts, not the top of the page.
    browser.goto(&setup.url(&format!("/console/instances/{id}#charts"))).await;
    browser.wait_for_text("#charts h2", "the charts", |text| text == "Charts").await;

    for (width, name) in [(1280, "charts"), (390, "charts-phone")] {
        browser.set_window_size(width, 1000).await;
        let chart = browser.element("#chart-events svg.chart").await;
        let (_, _, chart_width, chart_height) = chart.rect().await;
        assert!(chart_width > 200.0 && chart_height > 60.0, "{name}: drawn {chart_width}×{chart_height}");
        // The chart fits the page: no wider than the window.
        assert!(chart_width <= f64::from(width), "{name}: {chart_width} wide in a {width} window");
        // The delivered line is drawn, with an extent in both directions (3 events in one 10-minute period).
        let line = browser.element("#chart-events g[data-series='delivered'] polyline").await;
        let (_, _, line_width, line_height) = line.rect().await;
        assert!(line_width > 10.0 && line_height > 1.0, "{name}: the line is {line_width}×{line_height}");
        let markers = browser.find_all("#chart-events g[data-series='delivered'] .marker").await;
        assert!(!markers.is_empty(), "{name}: markers");
        browser.save_screenshot(name).await;
    }
    browser.set_window_size(1280, 1000).await;

    // The table is closed until asked for, then shows the numbers.
    // WebDriver reads no text from what a closed `<details>` hides.
    assert_eq!(browser.text("#chart-events details.chart-table table").await, "", "closed");
    browser.click("#chart-events details.chart-table summary").await;
    let text = browser
        .wait_for_text("#chart-events details.chart-table table", "the open table", |text| text.contains("delivered"))
        .await;
    assert!(text.contains("Period from"), "{text}");
    setup.assert_no_secret(&browser.source().await, "the charts page");
}
