//! The plugin playground end to end: a pasted script, a stored version and
//! recent deliveries' records tried beside the version serving, over HTTP
//! with the console's session and CSRF token; bad JSON named and kept; only
//! admins activate. Then the same in Chromium, to the next poll's events.

use super::*;

/// A user who is no organization admin.
const BOB: &str = "bob-is-no-admin-secret-0123456789";

fn bob_user() -> String {
    format!("[[api.users]]\nname = \"bob\"\nsecret = \"{BOB}\"\n")
}

/// A Tickets mapping whose payload says which `mapping` made it; a ticket
/// without a title makes it fail (`title.trim()`), naming the record.
fn ticket_script(mapping: &str) -> String {
    format!(
        "// Tickets as incidents, mapping {mapping}.\n\
         exports.describe = () => ({{ resource: 'incidents', entity: 'Tickets', idField: 'id',\n  \
           createdDateField: 'createDate', updatedDateField: 'lastActivityDate' }});\n\
         exports.mapRecord = (ticket, meta) => ({{\n  \
           eventType: meta.defaultEventType,\n  \
           payload: {{ id: ticket.id, title: ticket.title.trim(), mapping: '{mapping}' }},\n\
         }});\n"
    )
}

/// Two tickets as a poll reads them; the second has no title.
const RECORDS: &str = r#"[
  {"id": 41, "title": "Printer", "createDate": "2024-06-01T08:00:00Z", "lastActivityDate": "2024-06-01T09:30:00Z"},
  {"id": 42, "createDate": "2024-06-01T09:20:00Z", "lastActivityDate": "2024-06-01T09:20:00Z"}
]"#;

const BOUNDARY: &str = "playground-test-boundary";

/// A `multipart/form-data` body of text fields, as a browser sends the playground's form.
fn multipart(fields: &[(&str, &str)]) -> String {
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"));
    }
    // An empty file input, as a browser sends one.
    body.push_str(&format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n\r\n--{BOUNDARY}--\r\n"
    ));
    body
}

/// The form for a pasted JavaScript `script` over pasted `records`, token first.
fn script_form<'a>(csrf: &'a str, script: &'a str, records: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("resource", "incidents"),
        ("new", "script"),
        ("language", "js"),
        ("script", script),
        ("records", "pasted"),
        ("records_json", records),
    ]
}

/// Posts the playground's form; returns the status and the page.
async fn try_form(setup: &Setup, cookie: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
    let answer = http()
        .post(setup.url("/console/playground"))
        .header(COOKIE, cookie)
        .header("Content-Type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(multipart(fields))
        .send()
        .await
        .unwrap();
    (answer.status(), answer.text().await.unwrap())
}

/// Posts the activation form.
async fn activate(setup: &Setup, cookie: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
    let answer = http()
        .post(setup.url("/console/playground/activate"))
        .header(COOKIE, cookie)
        .form(fields)
        .send()
        .await
        .unwrap();
    (answer.status(), answer.text().await.unwrap())
}

/// The value of the hidden input `name` in a page.
fn hidden(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker)? + marker.len();
    Some(page[start..start + page[start..].find('"')?].to_owned())
}

/// The part of `page` inside the element with id `id` (to its first `</section>`, `</table>` or `</div>`).
fn section<'a>(page: &'a str, id: &str, end: &str) -> &'a str {
    let start = page.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id} in {page}"));
    let rest = &page[start..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

async fn versions(setup: &Setup) -> Vec<(i64, bool)> {
    let (_, listed) = setup.api_get("/plugins/incidents.js/versions").await;
    listed
        .as_array()
        .map(|listed| listed.iter().map(|v| (v["version"].as_i64().unwrap(), v["active"].as_bool().unwrap())).collect())
        .unwrap_or_default()
}

/// Creates an instance polling tickets every 10 minutes into the receiver; returns its id.
async fn create_instance(setup: &Setup) -> String {
    instance_polled_every(setup, "10").await
}

/// Creates a ticket, polls now and waits for its event; returns the ticket's id.
async fn deliver_ticket(setup: &Setup, id: &str, title: &str) -> String {
    let ticket = SimControl::new(&setup.sim).create("Tickets", json!({"title": title})).await.to_string();
    let polled = http()
        .post(setup.url(&format!("/elements/api-v2/instances/{id}/poll")))
        .header("Authorization", format!("User {USER_SECRET}, Organization {ORGANIZATION_SECRET}"))
        .send()
        .await
        .unwrap();
    assert!(polled.status().is_success(), "{}", polled.text().await.unwrap());
    setup.receiver.wait_for(WAIT, title, |events| events.iter().any(|e| e["objectId"] == ticket.as_str())).await;
    // The receiver has it before the service marks it delivered.
    let deadline = Instant::now() + WAIT;
    while setup
        .api_get(&format!("/instances/{id}/events?status=delivered"))
        .await
        .1
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        assert!(Instant::now() < deadline, "the message was never marked delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ticket
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_playground_tries_versions_side_by_side_and_only_admins_activate() {
    let setup = Setup::with(&bob_user()).await;
    let (cookie, csrf) = sign_in(&setup).await;

    // The page is in the navigation and linked from the plugins page; the current side is the built-in file.
    let page =
        http().get(setup.url("/console/playground?resource=incidents")).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains(r#"<a href="/console/playground" aria-current="page">Playground</a>"#), "{page}");
    assert!(page.contains("<code>incidents.wasm</code>") && page.contains("never uploaded"), "{page}");
    let plugins = http().get(setup.url("/console/plugins")).header(COOKIE, &cookie).send().await.unwrap();
    assert!(plugins.text().await.unwrap().contains(r#"href="/console/playground""#));

    // Without the token, or with another, the multipart form is refused.
    let script = ticket_script("v1");
    let forged = script_form("forged", &script, RECORDS);
    assert_eq!(try_form(&setup, &cookie, &forged).await.0, StatusCode::FORBIDDEN);
    assert_eq!(try_form(&setup, &cookie, &forged[1..]).await.0, StatusCode::FORBIDDEN);

    // A pasted script against the file serving, over pasted records: both sides, and the differences.
    let form = script_form(&csrf, &script, RECORDS);
    let (status, page) = try_form(&setup, &cookie, &form).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    setup.assert_no_secret(&page, "the playground");
    let summary = section(&page, "try-summary", "</p>");
    assert!(
        summary.contains("2 records tried") && summary.contains("Current: incidents.wasm (serving file)"),
        "{summary}"
    );
    assert!(summary.contains("new: incidents.js (not stored yet)"), "{summary}");
    let sides = section(&page, "side-by-side", "</table>");
    assert!(sides.contains("<th scope=\"col\">Current: incidents.wasm (serving file)</th>"), "{sides}");
    assert!(sides.contains("<th scope=\"row\">record #41</th>"), "{sides}");
    assert!(sides.contains("&quot;mapping&quot;: &quot;v1&quot;"), "the new side's payload: {sides}");
    // The ticket without a title: the script fails on it, naming it; the component maps it.
    assert!(sides.contains("Fails on record #42: ") && sides.contains("trim"), "{sides}");
    let diff = section(&page, "diff", "</section>");
    assert!(diff.contains("<ins>+    &quot;mapping&quot;: &quot;v1&quot;</ins>"), "{diff}");
    assert!(diff.contains("<h4>record #42</h4>") && diff.contains("Current: maps it"), "{diff}");
    // The admin may activate exactly what was tried.
    let draft = hidden(&page, "draft").expect("an activation form for the draft");
    assert_eq!(hidden(&page, "plugin").as_deref(), Some("incidents.js"));

    // Bad JSON: the field is named, everything typed is kept, nothing is tried.
    let bad = script_form(&csrf, &script, "[{\"id\": 41},");
    let (status, page) = try_form(&setup, &cookie, &bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let error = section(&page, "records-json-error", "</span>");
    assert!(error.contains("Records (JSON) is not valid JSON"), "{error}");
    assert!(page.contains(r#"aria-describedby="records-json-hint records-json-error""#), "announced: {page}");
    assert!(page.contains(r##"href="#records-json""##), "the summary links to the field");
    assert!(page.contains("[{&quot;id&quot;: 41},</textarea>"), "the records typed are kept: {page}");
    assert!(page.contains("mapping: &#39;v1&#39;") || page.contains("mapping: 'v1'"), "the script is kept: {page}");
    assert!(!page.contains("id=\"try-result\""), "nothing was tried");

    // Activate the draft: stored as version 1 and active, as `PUT /plugins/incidents.js` would.
    let (status, page) =
        activate(&setup, &cookie, &[("csrf", &csrf), ("plugin", "incidents.js"), ("draft", &draft)]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Stored as incidents.js version 1 and activated"), "{page}");
    assert_eq!(versions(&setup).await, [(1, true)]);
    assert!(section(&page, "current", "</dl>").contains("version 1, uploaded by admin"), "{page}");
    let (status, again) =
        activate(&setup, &cookie, &[("csrf", &csrf), ("plugin", "incidents.js"), ("draft", &draft)]).await;
    assert_eq!(status, StatusCode::CONFLICT, "an activated draft is not kept: {again}");

    // Version 2 through the API; version 1 tried against it, on a recent poll's records.
    let put = http()
        .put(setup.url("/elements/api-v2/plugins/incidents.js"))
        .header("Authorization", format!("User {USER_SECRET}, Organization {ORGANIZATION_SECRET}"))
        .body(ticket_script("v2"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    let instance = create_instance(&setup).await;
    let ticket = deliver_ticket(&setup, &instance, "Tried in the playground").await;
    let stored = [
        ("csrf", csrf.as_str()),
        ("resource", "incidents"),
        ("new", "version"),
        ("version", "1"),
        ("language", "js"),
        ("records", "recent"),
    ];
    let (status, page) = try_form(&setup, &cookie, &stored).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let summary = section(&page, "try-summary", "</p>");
    assert!(summary.contains("Current: incidents.js version 2; new: incidents.js version 1"), "{summary}");
    let sides = section(&page, "side-by-side", "</table>");
    assert!(sides.contains(&format!("record #{ticket}")) && sides.contains("Tried in the playground"), "{sides}");
    let diff = section(&page, "diff", "</section>");
    assert!(diff.contains("<del>-    &quot;mapping&quot;: &quot;v2&quot;</del>"), "{diff}");
    assert!(diff.contains("<ins>+    &quot;mapping&quot;: &quot;v1&quot;</ins>"), "{diff}");
    assert_eq!(
        (hidden(&page, "plugin").as_deref(), hidden(&page, "version").as_deref()),
        (Some("incidents.js"), Some("1"))
    );

    // Bob sees only his own instances' deliveries: none. He may try on sample records, but
    // not activate: the button is disabled and says why, and a post is refused.
    let (bob, bob_csrf) = sign_in_as(&setup, BOB).await;
    let mut as_bob = stored.to_vec();
    as_bob[0].1 = &bob_csrf;
    let (status, page) = try_form(&setup, &bob, &as_bob).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("no delivered message of an instance you may see"), "{page}");
    assert!(!page.contains("Tried in the playground"), "not the admin's instance's records");
    as_bob[5].1 = "sample";
    let (status, page) = try_form(&setup, &bob, &as_bob).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let activation = section(&page, "activate", "</section>");
    assert!(activation.contains("disabled") && activation.contains("Only an organization admin"), "{activation}");
    assert!(hidden(&page, "version").is_none(), "no activation form: {activation}");
    let (status, page) =
        activate(&setup, &bob, &[("csrf", &bob_csrf), ("plugin", "incidents.js"), ("version", "1")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("Only an organization admin"), "{page}");
    assert_eq!(versions(&setup).await, [(2, true), (1, false)], "bob changed nothing");

    // The admin activates version 1: the same call as `POST …/versions/1/activate`.
    let (status, page) =
        activate(&setup, &cookie, &[("csrf", &csrf), ("plugin", "incidents.js"), ("version", "1")]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Activated incidents.js version 1"), "{page}");
    assert_eq!(versions(&setup).await, [(2, false), (1, true)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Debian's chromium and chromium-driver; tests/run installs them and runs it"]
async fn a_changed_mapping_tried_on_a_recent_poll_and_activated_in_chromium() {
    let setup = Setup::new().await;
    let instance = create_instance(&setup).await;
    let before = deliver_ticket(&setup, &instance, "Mapped before the playground").await;
    let browser = Browser::start(1280, 1000).await;

    browser.goto(&setup.url("/")).await;
    browser.fill("#user-secret", USER_SECRET).await;
    browser.focused().await.send_keys(&format!("{TAB}{ORGANIZATION_SECRET}{ENTER}")).await;
    browser.wait_for_text("main h1", "the instances page", |text| text == "Instances").await;

    // From the plugins page to the playground; the current version is the built-in file.
    browser.click("nav a[href='/console/plugins']").await;
    browser.wait_for_text("main h1", "the plugins page", |text| text == "Plugins").await;
    browser.click("main a[href='/console/playground']").await;
    browser.wait_for_text("main h1", "the playground", |text| text == "Plugin playground").await;
    assert!(browser.text("#current").await.contains("incidents.wasm"));

    // A changed mapping, pasted, tried on the records the poll delivered.
    browser.click("#new-script").await;
    browser.fill("#script", &ticket_script("playground")).await;
    browser.click("#records-recent").await;
    browser.click("#try-form button[type=submit]").await;
    let summary = browser.wait_for_text("#try-summary", "the try's summary", |text| text.contains(" tried: ")).await;
    assert!(summary.contains("new: incidents.js (not stored yet)"), "{summary}");
    let sides = browser.text("#side-by-side").await;
    assert!(sides.contains(&format!("record #{before}")) && sides.contains("\"mapping\": \"playground\""), "{sides}");
    let mut added = Vec::new();
    for line in browser.find_all("#diff pre.diff ins").await {
        added.push(line.text().await);
    }
    assert!(added.iter().all(|line| line.starts_with('+')), "{added:?}");
    assert!(added.iter().any(|line| line.contains("\"mapping\": \"playground\"")), "{added:?}");
    browser.set_window_size(1280, 2600).await;
    browser.save_screenshot("playground").await;
    browser.set_window_size(1280, 1000).await;

    // Activate it: stored as version 1, and served once the watcher swapped it in.
    browser.click("#activate button[type=submit]").await;
    browser
        .wait_for_text(".notice", "the activation", |text| {
            text.contains("Stored as incidents.js version 1 and activated")
        })
        .await;
    assert!(browser.text("#current").await.contains("version 1"));
    let deadline = Instant::now() + WAIT;
    loop {
        let plugins: Value = http().get(setup.url("/plugins")).send().await.unwrap().json().await.unwrap();
        let serving =
            plugins.as_array().unwrap().iter().any(|p| p["name"] == "incidents.js" && p["status"] == "active");
        if serving {
            break;
        }
        assert!(Instant::now() < deadline, "incidents.js never served: {plugins}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Poll now from the instance's page: the next event has the changed mapping.
    let ticket = SimControl::new(&setup.sim)
        .create("Tickets", json!({"title": "Mapped by the playground's version"}))
        .await
        .to_string();
    browser.goto(&setup.url(&format!("/console/instances/{instance}"))).await;
    browser.click(&format!("form[action='/console/instances/{instance}/poll'] button")).await;
    browser.wait_for_text(".notice", "the poll's summary", |text| text.starts_with("Polled:")).await;
    let events = setup
        .receiver
        .wait_for(WAIT, "the ticket's event", |events| events.iter().any(|e| e["objectId"] == ticket.as_str()))
        .await;
    let event = events.iter().find(|e| e["objectId"] == ticket.as_str()).unwrap();
    assert_eq!(event["payload"]["mapping"], "playground", "{event}");
    setup.assert_no_secret(&browser.source().await, "the instance page");
}
