//! "Dry run" in Chromium: the button on an instance's page shows the events a
//! poll now would deliver, and the watermark and the receiver are left alone.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Debian's chromium and chromium-driver; tests/run installs them and runs it"]
async fn a_dry_run_in_chromium_shows_events_and_leaves_the_watermark_and_receiver_alone() {
    let setup = Setup::new().await;
    // Polled every 10 minutes: after its first poll, only what the test asks for.
    let id = instance_polled_every(&setup, "10").await;
    let ticket =
        SimControl::new(&setup.sim).create("Tickets", json!({"title": "Shown by the dry run in Chromium"})).await;
    let store = setup.service.store().clone();
    let watermark = store.watermark(&id, "incidents").unwrap();

    let browser = signed_in_browser(&setup, 1280, 1000).await;
    browser.goto(&setup.url(&format!("/console/instances/{id}"))).await;
    browser.wait_for_text("main h1", "the instance page", |text| !text.is_empty()).await;

    browser.click(&format!("form[action='/console/instances/{id}/dry-run'] button")).await;
    let report = browser
        .wait_for_text("section.dry-run", "the dry run's report", |text| text.contains("Nothing was stored"))
        .await;
    assert!(report.contains("CREATED") && report.contains(&ticket.to_string()), "the new ticket's event: {report}");
    assert!(report.contains("would move to"), "{report}");
    browser.click("section.dry-run details summary").await;
    assert!(browser.text("section.dry-run details pre").await.contains("Shown by the dry run in Chromium"));
    browser.save_screenshot("dry-run").await;

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(setup.receiver.deliveries().is_empty(), "nothing was sent");
    assert_eq!(store.watermark(&id, "incidents").unwrap(), watermark, "the watermark did not move");
}
