//! A backfill's progress on the instance's page: the page (and the activity
//! section htmx refreshes) shows a labelled `<progress>` with the pages,
//! records and time left while the poll runs, and the instance's delivery.

use reqwest::header::COOKIE;

use super::{Browser, Steps, http, sign_in};
use crate::progress::{TICKETS, backfill, mid_way};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_instance_page_shows_a_running_backfill_as_a_labelled_progress_bar() {
    let setup = backfill().await;
    let (cookie, _) = sign_in(&setup).await;
    mid_way(&setup).await;
    let page = http()
        .get(setup.url("/console/instances/backfill"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"<label for="progress-incidents">"#), "a labelled bar: {page}");
    assert!(page.contains(&format!(r#"<progress id="progress-incidents" max="{TICKETS}" value=""#)), "{page}");
    let text_start = page.find(r#"<span class="progress-text">"#).expect("the progress in words");
    let text = &page[text_start..text_start + page[text_start..].find("</span>").unwrap()];
    assert!(text.contains("page ") && text.contains(" of 3,000 records · about "), "{text}");
    assert!(text.contains(" left") || text.contains("almost done"), "{text}");
    assert!(page.contains("delivered in the last minute"), "the instance's delivery: {page}");
    setup.assert_no_secret(&page, "the instance page mid-backfill");
    // The section htmx fetches every few seconds carries the bar too, so it moves by itself.
    let activity = http()
        .get(setup.url("/console/instances/backfill/activity"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(activity.contains(r#"<progress id="progress-incidents""#), "{activity}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Debian's chromium and chromium-driver; tests/run installs them and runs it"]
async fn a_backfill_in_chromium_shows_its_progress_bar() {
    let setup = backfill().await;
    let browser = Browser::start(1280, 1000).await;
    browser.goto(&setup.url("/")).await;
    browser.fill("#user-secret", super::USER_SECRET).await;
    browser.fill("#organization-secret", super::ORGANIZATION_SECRET).await;
    browser.click("form button[type=submit]").await;
    browser.wait_for_text("main h1", "the instances page", |text| text == "Instances").await;
    mid_way(&setup).await;
    browser.goto(&setup.url("/console/instances/backfill")).await;
    let text = browser.wait_for_text(".poll-progress label", "the progress", |text| text.contains("records")).await;
    assert!(text.contains("of 3,000 records"), "{text}");
    // The bar itself, sized by Autotask's count (a number property, so read from the page).
    browser.element("#progress-incidents").await;
    assert!(browser.source().await.contains(&format!(r#"max="{TICKETS}""#)), "the bar's length");
    browser.save_screenshot("instance-progress").await;
}
