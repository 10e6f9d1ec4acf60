//! The web console end to end: the simulator, the service with its real
//! listener, a real callback receiver, and the pages used as a person uses
//! them. The first tests speak HTTP (sign-in, cookies, CSRF) and run with
//! plain `cargo test`; the last drives Debian's Chromium through chromedriver
//! (`--ignored`, run by `tests/run`, which installs both) and saves a
//! screenshot of every page under `target/console-screenshots/`.

mod progress;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::start;
use autotask_events::app::RunningService;
use autotask_sim::{SimConfig, Simulator};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use support::receiver::{Answer, Receiver};
use support::service::{SimControl, write_config};
use support::webdriver::{Browser, ENTER, Element, TAB};

mod charts;
mod dry_run;
mod inspector;
mod playground;

pub(crate) const USER_SECRET: &str = "console-user-secret-0123456789";
pub(crate) const ORGANIZATION_SECRET: &str = "console-organization-secret-0123";
pub(crate) const SIGNATURE_KEY: &str = "console-signature-key-0123";
pub(crate) const WAIT: Duration = Duration::from_secs(30);

/// The simulator, a receiver and the service, with the API (and so the console) open.
pub(crate) struct Setup {
    pub(crate) sim: Simulator,
    pub(crate) receiver: Receiver,
    _dir: tempfile::TempDir,
    pub(crate) service: RunningService,
}

impl Setup {
    pub(crate) async fn new() -> Setup {
        Setup::build(8, "", |_, _| Vec::new()).await
    }

    /// [`Setup::new`] with more TOML after its settings (`[[api.users]]`, say).
    pub(crate) async fn with(more: &str) -> Setup {
        Setup::build(8, more, |_, _| Vec::new()).await
    }

    /// A simulator of `tickets` tickets, and the instances of the configuration
    /// file `instances` writes for the simulator and the receiver.
    pub(crate) async fn with_instances(
        tickets: usize,
        instances: impl FnOnce(&Simulator, &Receiver) -> Vec<String>,
    ) -> Setup {
        Setup::build(tickets, "", instances).await
    }

    async fn build(tickets: usize, more: &str, instances: impl FnOnce(&Simulator, &Receiver) -> Vec<String>) -> Setup {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let sim =
            Simulator::start(SimConfig { listen: "127.0.0.1:0".parse().unwrap(), tickets, ..SimConfig::default() })
                .await
                .expect("the simulator starts");
        let receiver = Receiver::start().await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
        // Two retries, then dead-lettered: "Retry failed" has something to do.
        let settings = format!(
            "integration_code = \"{}\"\nallowed_autotask_hosts = [\"{}\"]\n\n[api]\nuser_secret = \"{USER_SECRET}\"\norganization_secret = \"{ORGANIZATION_SECRET}\"\n\n\
             [delivery]\nfirst_retry_seconds = 0.05\nretry_multiplier = 2\nretries = 2\ntimeout_seconds = 1\n\n{more}",
            sim.config().integration_code,
            sim.url().trim_start_matches("http://").trim_end_matches('/'),
        );
        // `write_config` starts with `[server]`; the integration code belongs there.
        let config = write_config(dir.path(), &settings, &instances(&sim, &receiver));
        let service = start(&config).await;
        Setup { sim, receiver, _dir: dir, service }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.service.addr().port())
    }

    fn secrets(&self) -> Vec<String> {
        let sim = self.sim.config();
        vec![
            USER_SECRET.into(),
            ORGANIZATION_SECRET.into(),
            SIGNATURE_KEY.into(),
            sim.secret.clone(),
            sim.integration_code.clone(),
        ]
    }

    pub(crate) fn assert_no_secret(&self, text: &str, what: &str) {
        for secret in self.secrets() {
            assert!(!text.contains(&secret), "{what} shows a secret");
        }
    }

    /// The instance through the JSON API, to check what the console did.
    async fn api_instance(&self, id: &str) -> (StatusCode, Value) {
        self.api_get(&format!("/instances/{id}")).await
    }

    pub(crate) async fn api_get(&self, path: &str) -> (StatusCode, Value) {
        let response = http()
            .get(self.url(&format!("/elements/api-v2{path}")))
            .header("Authorization", format!("User {USER_SECRET}, Organization {ORGANIZATION_SECRET}"))
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The `name=value` of a `Set-Cookie` header named `name`, with its attributes.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

fn cookie_value(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap().split_once('=').unwrap().1
}

/// The value of the hidden `csrf` field in a page.
pub(crate) fn csrf_in(page: &str) -> String {
    let start = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + "name=\"csrf\" value=\"".len();
    page[start..start + page[start..].find('"').unwrap()].to_owned()
}

/// Signs in over plain HTTP; returns the session cookie and a page's CSRF token.
pub(crate) async fn sign_in(setup: &Setup) -> (String, String) {
    sign_in_as(setup, USER_SECRET).await
}

/// [`sign_in`] as the user whose secret is `user_secret`.
pub(crate) async fn sign_in_as(setup: &Setup, user_secret: &str) -> (String, String) {
    let client = http();
    let form = client.get(setup.url("/console/sign-in")).send().await.unwrap();
    let double_submit = set_cookie(&form, "autotask_events_sign_in").expect("a sign-in cookie");
    let token = csrf_in(&form.text().await.unwrap());
    let answer = client
        .post(setup.url("/console/sign-in"))
        .header(COOKIE, double_submit.split(';').next().unwrap())
        .form(&[("user_secret", user_secret), ("organization_secret", ORGANIZATION_SECRET), ("csrf", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let session = set_cookie(&answer, "autotask_events_session").expect("a session cookie");
    let cookie = format!("autotask_events_session={}", cookie_value(&session));
    let page = client.get(setup.url("/console/instances")).header(COOKIE, &cookie).send().await.unwrap();
    (cookie, csrf_in(&page.text().await.unwrap()))
}

/// An instance of the API's documented body, delivering to the setup's
/// receiver and polling every `minutes`; returns its id once its first poll ran
/// and a second went by (a record changed from then on is the next poll's).
pub(crate) async fn instance_polled_every(setup: &Setup, minutes: &str) -> String {
    let mut body = crate::api::readme_instance_body();
    let configuration = &mut body["configuration"];
    configuration["crm.autotask.username"] = json!(setup.sim.config().user);
    configuration["crm.autotask.password"] = json!(setup.sim.config().secret);
    configuration["crm.autotask.server.url"] = json!(setup.sim.url());
    configuration["event.notification.callback.url"] = json!(setup.receiver.url());
    configuration["event.notification.signature.key"] = json!(SIGNATURE_KEY);
    configuration["event.poller.refresh_interval"] = json!(minutes);
    let created: Value = http()
        .post(setup.url("/elements/api-v2/instances"))
        .header("Authorization", format!("User {USER_SECRET}, Organization {ORGANIZATION_SECRET}"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_i64().expect("created").to_string();
    let store = setup.service.store().clone();
    let deadline = Instant::now() + WAIT;
    while store.watermark(&id, "incidents").unwrap().is_none() {
        assert!(Instant::now() < deadline, "the first poll never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    id
}

/// Chromium, signed in as the console's user, by keyboard, on the instances page.
pub(crate) async fn signed_in_browser(setup: &Setup, width: u32, height: u32) -> Browser {
    let browser = Browser::start(width, height).await;
    browser.goto(&setup.url("/")).await;
    browser.fill("#user-secret", USER_SECRET).await;
    browser.focused().await.send_keys(&format!("{TAB}{ORGANIZATION_SECRET}{ENTER}")).await;
    browser.wait_for_text("main h1", "the instances page", |text| text == "Instances").await;
    browser
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dry_run_button_shows_what_a_poll_now_would_deliver_and_sends_nothing() {
    let setup = Setup::new().await;
    let (cookie, token) = sign_in(&setup).await;
    let client = http();
    // An instance polled every 10 minutes: only its first poll runs during the test.
    let id = instance_polled_every(&setup, "10").await;
    let store = setup.service.store().clone();
    let ticket = SimControl::new(&setup.sim).create("Tickets", json!({"title": "Shown by the dry run"})).await;
    let watermark = store.watermark(&id, "incidents").unwrap();

    let page = client
        .post(setup.url(&format!("/console/instances/{id}/dry-run")))
        .header(COOKIE, &cookie)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains("Nothing was stored and nothing was sent"), "{page}");
    assert!(page.contains(&format!("<td>CREATED</td><td>incidents</td><td>{ticket}</td>")), "the event's row: {page}");
    assert!(page.contains("<details><summary>"), "the message bodies: {page}");
    assert!(page.contains(r#"action="/console/instances/"#) && page.contains(">Dry run</button>"), "{page}");
    setup.assert_no_secret(&page, "the dry run's page");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(setup.receiver.deliveries().is_empty(), "nothing was sent");
    assert_eq!(store.watermark(&id, "incidents").unwrap(), watermark, "the watermark did not move");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_need_a_session_and_every_form_its_token() {
    let setup = Setup::new().await;
    let client = http();

    // Without a session, every page leads to the sign-in form.
    let root = client.get(setup.url("/")).send().await.unwrap();
    assert_eq!(root.status(), StatusCode::SEE_OTHER);
    assert_eq!(root.headers()[LOCATION], "/console/instances");
    let list = client.get(setup.url("/console/instances")).send().await.unwrap();
    assert_eq!(list.headers()[LOCATION], "/console/sign-in");
    let fragment = client.get(setup.url("/console/instances/rows")).header("HX-Request", "true").send().await.unwrap();
    assert_eq!(fragment.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(fragment.headers()["hx-redirect"], "/console/sign-in");

    // The sign-in form: labelled fields, and a double-submit cookie.
    let form = client.get(setup.url("/console/sign-in")).send().await.unwrap();
    let double_submit = set_cookie(&form, "autotask_events_sign_in").expect("a sign-in cookie");
    assert!(double_submit.contains("HttpOnly") && double_submit.contains("SameSite=Strict"), "{double_submit}");
    let page = form.text().await.unwrap();
    assert!(page.contains(r#"<label for="user-secret">"#) && page.contains(r#"id="user-secret""#));
    let token = csrf_in(&page);
    let post = |pairs: Vec<(&'static str, String)>, cookie: Option<String>| {
        let mut request = client.post(setup.url("/console/sign-in")).form(&pairs);
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        request.send()
    };
    let cookie = Some(double_submit.split(';').next().unwrap().to_owned());

    // Wrong secrets, swapped secrets, and a form from elsewhere (no cookie) start no session.
    for (user, organization, cookie, status) in [
        ("wrong-user-secret-000000", ORGANIZATION_SECRET, cookie.clone(), StatusCode::UNAUTHORIZED),
        (ORGANIZATION_SECRET, USER_SECRET, cookie.clone(), StatusCode::UNAUTHORIZED),
        (USER_SECRET, ORGANIZATION_SECRET, None, StatusCode::FORBIDDEN),
    ] {
        let answer = post(
            vec![("user_secret", user.into()), ("organization_secret", organization.into()), ("csrf", token.clone())],
            cookie,
        )
        .await
        .unwrap();
        assert_eq!(answer.status(), status);
        assert!(set_cookie(&answer, "autotask_events_session").is_none());
        setup.assert_no_secret(&answer.text().await.unwrap(), "a refused sign-in");
    }

    // The right secrets: an HttpOnly, SameSite=Strict session cookie.
    let answer = post(
        vec![("user_secret", USER_SECRET.into()), ("organization_secret", ORGANIZATION_SECRET.into()), ("csrf", token)],
        cookie,
    )
    .await
    .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let session = set_cookie(&answer, "autotask_events_session").expect("a session cookie");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict") && session.contains("Path=/"));
    assert!(!session.contains("Secure"), "plain HTTP: a Secure cookie would never come back");
    let cookie = format!("autotask_events_session={}", cookie_value(&session));
    let page = client.get(setup.url("/console/instances")).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains("<h1>Instances</h1>") && page.contains("No instances yet"));
    let csrf = csrf_in(&page);

    // A POST without the token, or with another, changes nothing.
    let form = client.get(setup.url("/console/instances/new")).header(COOKIE, &cookie).send().await.unwrap();
    let form = form.text().await.unwrap();
    setup.assert_no_secret(&form, "the create form");
    let create = [("name", "No token"), ("username", "x@example.com"), ("password", "x"), ("resource", "incidents")];
    for token in [None, Some("forged")] {
        let mut pairs: Vec<(&str, &str)> = create.to_vec();
        pairs.extend(token.map(|token| ("csrf", token)));
        let answer =
            client.post(setup.url("/console/instances")).header(COOKIE, &cookie).form(&pairs).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    }
    let forged = client
        .post(setup.url("/console/preview"))
        .header(COOKIE, &cookie)
        .header("X-CSRF-Token", "forged")
        .form(&[("resource", "incidents")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(setup.api_instance("1").await.0, StatusCode::NOT_FOUND, "nothing was created");

    // With the header, as htmx sends it: the preview of a URL template and its Autotask query.
    let preview = client
        .post(setup.url("/console/preview"))
        .header(COOKIE, &cookie)
        .header("X-CSRF-Token", &csrf)
        .form(&[("resource", "incidents"), ("incidents.url", "/hubs/helpdesk/incidents?where=status=1")])
        .send()
        .await
        .unwrap();
    assert_eq!(preview.status(), StatusCode::OK);
    let preview = preview.text().await.unwrap();
    assert!(preview.contains("POST /v1.0/Tickets/query"), "{preview}");
    assert!(
        preview.contains(r#"{&quot;op&quot;:&quot;eq&quot;,&quot;field&quot;:&quot;status&quot;,&quot;value&quot;:1}"#),
        "{preview}"
    );

    // The plugins page's reload history is the API's too.
    let (status, reloads) = setup.api_get("/plugins/reloads").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (reloads[0]["plugin"].as_str(), reloads[0]["outcome"].as_str()),
        (Some("incidents.wasm"), Some("loaded"))
    );
    let page = client.get(setup.url("/console/plugins")).header(COOKIE, &cookie).send().await.unwrap();
    let page = page.text().await.unwrap();
    let version = reloads[0]["version"].as_str().unwrap();
    assert!(page.contains("<h2>Reload history</h2>") && page.contains(&version[..12]), "{page}");

    // htmx itself is served from the host.
    let htmx = client.get(setup.url("/console/static/htmx.min.js")).send().await.unwrap();
    assert_eq!(htmx.headers()["content-type"], "text/javascript");
    assert!(htmx.text().await.unwrap().starts_with("var htmx="));

    // Signing out ends the session on the server, not only in the browser.
    let out = client
        .post(setup.url("/console/sign-out"))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(set_cookie(&out, "autotask_events_session").unwrap().contains("Max-Age=0"));
    let after = client.get(setup.url("/console/instances")).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(after.headers()[LOCATION], "/console/sign-in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_with_a_bad_template_names_the_field_and_creates_nothing() {
    let setup = Setup::new().await;
    let (cookie, csrf) = sign_in(&setup).await;
    let sim = setup.sim.config();
    let bad_url = "/hubs/helpdesk/incidents?where=lastActivityDate>='${date:yyyy-MM-dd'";
    let answer = http()
        .post(setup.url("/console/instances"))
        .header(COOKIE, &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("element", "autotaskcrm"),
            ("username", sim.user.as_str()),
            ("password", sim.secret.as_str()),
            ("server_url", setup.sim.url().as_str()),
            ("events_enabled", "true"),
            ("callback_url", setup.receiver.url().as_str()),
            ("signature_key", SIGNATURE_KEY),
            ("interval", "1"),
            ("resource", "incidents"),
            ("incidents.url", bad_url),
            ("incidents.idField", "id"),
            ("name", "Bad template"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let page = answer.text().await.unwrap();
    setup.assert_no_secret(&page, "the form with its errors");
    let field = "field-configuration-event-poller-configuration-incidents-url";
    let error = &page[page.find(&format!(r#"id="{field}-error""#)).expect("an error next to the URL field")..];
    let error = &error[..error.find("</span>").unwrap()];
    assert!(error.contains("at character"), "{error}");
    assert!(page.contains(&format!(r#"aria-describedby="{field}-hint {field}-error""#)), "the error is announced");
    assert!(page.contains(&format!(r##"href="#{field}""##)), "the summary links to the field");
    // What was typed is kept, but the secrets are not sent back.
    assert!(page.contains(r#"value="Bad template""#));
    assert_eq!(setup.api_instance("1").await.0, StatusCode::NOT_FOUND, "nothing was created");
}

/// The few steps a person takes on a page, each failing with what it was after.
pub(crate) trait Steps {
    async fn save_screenshot(&self, name: &str);
    async fn element(&self, css: &str) -> Element<'_>;
    async fn fill(&self, css: &str, text: &str);
    async fn click(&self, css: &str);
    async fn text(&self, css: &str) -> String;
    async fn wait_for_text(&self, css: &str, what: &str, check: impl Fn(&str) -> bool) -> String;
}

impl Steps for Browser {
    /// Saves the page as `target/console-screenshots/{name}.png`.
    async fn save_screenshot(&self, name: &str) {
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), self.screenshot().await).unwrap();
    }

    async fn element(&self, css: &str) -> Element<'_> {
        self.find(css).await.unwrap_or_else(|error| panic!("`{css}`: {error}"))
    }

    async fn fill(&self, css: &str, text: &str) {
        let field = self.element(css).await;
        field.clear().await;
        field.send_keys(text).await;
    }

    async fn click(&self, css: &str) {
        self.element(css).await.click().await;
    }

    /// The text of `css`, empty when there is no such element.
    async fn text(&self, css: &str) -> String {
        match self.find(css).await {
            Ok(element) => element.text().await,
            Err(_) => String::new(),
        }
    }

    /// Waits until the element `css` exists and its text passes `check`; returns the text.
    async fn wait_for_text(&self, css: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.text(css).await;
            if check(&text) {
                return text;
            }
            if Instant::now() >= deadline {
                self.save_screenshot("timed-out").await;
                let page = self.text("main").await;
                panic!("timed out waiting for {what} in `{css}`; it says: {text:?}; the page says:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots")
}

const URL_FIELD: &str = "#field-configuration-event-poller-configuration-incidents-url";
const INTERVAL_FIELD: &str = "#field-configuration-event-poller-refresh-interval";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Debian's chromium and chromium-driver; tests/run installs them and runs it"]
async fn an_instance_created_edited_retried_and_deleted_in_chromium() {
    let setup = Setup::new().await;
    let browser = Browser::start(1280, 1000).await;
    let sim = setup.sim.config();
    let mut pages = Vec::new();

    // Sign in.
    browser.goto(&setup.url("/")).await;
    assert_eq!(browser.path().await, "/console/sign-in");
    browser.save_screenshot("sign-in").await;
    // By keyboard only: type, Tab to the next field, Enter to submit.
    browser.fill("#user-secret", USER_SECRET).await;
    browser.focused().await.send_keys(&format!("{TAB}{ORGANIZATION_SECRET}{ENTER}")).await;
    browser.wait_for_text("main h1", "the instances page", |text| text == "Instances").await;
    assert!(browser.text("main").await.contains("No instances yet"));

    // The create form, in Cloud Elements' order: credentials first, tested through the host.
    browser.click("nav a[href='/console/instances/new']").await;
    browser.wait_for_text("main h1", "the create form", |text| text == "Create instance").await;
    let mut order = Vec::new();
    for legend in browser.find_all("fieldset > legend").await {
        order.push(legend.text().await);
    }
    assert_eq!(order, ["1. Autotask credentials", "2. Events", "3. Resources to poll", "4. Instance"]);
    browser.fill("#field-configuration-crm-autotask-username", &sim.user).await;
    browser.fill("#field-configuration-crm-autotask-password", "not-the-secret").await;
    browser.fill("#field-configuration-crm-autotask-server-url", &setup.sim.url()).await;
    browser.click("button[formaction='/console/test-connection']").await;
    browser.wait_for_text("#connection-result", "Autotask's refusal", |text| text.contains("did not accept")).await;
    browser.fill("#field-configuration-crm-autotask-password", &sim.secret).await;
    browser.click("button[formaction='/console/test-connection']").await;
    browser.wait_for_text("#connection-result", "the connection test", |text| text.starts_with("Connected")).await;
    browser.fill("#field-configuration-event-notification-callback-url", &setup.receiver.url()).await;
    browser.fill("#field-configuration-event-notification-signature-key", SIGNATURE_KEY).await;
    browser.fill(INTERVAL_FIELD, "0.005").await;
    browser.fill("#field-name", "Console instance").await;
    browser.fill("#field-tags", "console, browser").await;
    // Every default resource is offered; incidents is ticked, with its default poll configuration.
    for resource in ["incidents", "accounts", "contacts", "comments"] {
        browser.element(&format!("#resource-{resource}")).await;
    }
    assert!(browser.element("#resource-incidents").await.is_selected().await);
    browser
        .wait_for_text("#preview-incidents", "the default URL's query", |text| {
            text.contains("POST /v1.0/Tickets/query") && text.contains("lastActivityDate")
        })
        .await;

    // The whole form in one picture, for the docs.
    browser.set_window_size(1280, 2300).await;
    browser.save_screenshot("create-form").await;
    browser.set_window_size(1280, 1000).await;

    // A bad URL template: the live preview and, on Create, the field itself say where.
    let good_url = browser.element(URL_FIELD).await.property("value").await;
    browser.fill(URL_FIELD, "/hubs/helpdesk/incidents?where=lastActivityDate>='${date:yyyy-MM-dd'").await;
    browser.wait_for_text("#preview-incidents", "the preview's error", |text| text.contains("at character")).await;
    browser.click("#instance-form > .actions button[type=submit]").await;
    let error = browser
        .wait_for_text(&format!("{URL_FIELD}-error"), "the error next to the URL field", |text| !text.is_empty())
        .await;
    assert!(error.contains("at character"), "{error}");
    assert!(browser.text(".error-summary").await.contains("at character"));
    browser.save_screenshot("create-form-error").await;
    pages.push(browser.source().await);

    // Fixed (the secrets are typed again: the page never holds them), and created.
    browser.fill(URL_FIELD, &good_url).await;
    browser.fill("#field-configuration-crm-autotask-password", &sim.secret).await;
    browser.fill("#field-configuration-event-notification-signature-key", SIGNATURE_KEY).await;
    browser.wait_for_text("#preview-incidents", "the fixed preview", |text| text.contains("Tickets/query")).await;
    browser.click("#instance-form > .actions button[type=submit]").await;
    browser.wait_for_text("main h1", "the instance page", |text| text == "Console instance").await;
    assert_eq!(browser.path().await, "/console/instances/1?notice=created");

    // A new instance polls what changes from now on (as Cloud Elements): a ticket
    // created in Autotask appears on the page by itself, delivered and signed.
    let control = SimControl::new(&setup.sim);
    let first = control.create("Tickets", json!({"title": "Seen from the console"})).await.to_string();
    browser
        .wait_for_text("#events", "the ticket's delivered event", |text| {
            text.contains("delivered") && text.contains(&format!("CREATED incidents {first}"))
        })
        .await;
    let resources = browser.text("#resources").await;
    let plugins: Value = http().get(setup.url("/plugins")).send().await.unwrap().json().await.unwrap();
    let version = plugins[0]["version"].as_str().expect("the incidents plugin is loaded");
    assert!(resources.contains("Tickets") && resources.contains(&version[..12]), "{resources}");
    let delivered = setup
        .receiver
        .wait_for(WAIT, "the ticket's event", |events| events.iter().any(|e| e["objectId"] == first.as_str()))
        .await;
    assert!(delivered.iter().all(|event| event["objectType"] == "incidents"));
    let signed = setup.receiver.accepted().into_iter().next().expect("a delivery");
    let signature = signed.signature.clone().expect("signed");
    assert!(engine::delivery::signature::verify(SIGNATURE_KEY.as_bytes(), &signed.body, &signature));
    browser.save_screenshot("instance-detail").await;
    pages.push(browser.source().await);

    // The list: one row, healthy, with its resources and counts.
    browser.click("nav a[href='/console/instances']").await;
    let row = browser.wait_for_text("tr[data-instance='1']", "a healthy row", |text| text.contains("healthy")).await;
    assert!(
        row.contains("Console instance") && row.contains("autotaskcrm") && row.contains("console, browser"),
        "{row}"
    );
    assert!(row.contains("incidents") && !row.contains(" 0 delivered"), "{row}");
    browser.save_screenshot("instances").await;
    browser.set_window_size(390, 844).await;
    assert_eq!(browser.element("tr[data-instance='1']").await.css("display").await, "block", "a card on a phone");
    browser.save_screenshot("instances-phone").await;
    browser.set_window_size(1280, 1000).await;
    pages.push(browser.source().await);

    // Edit the interval; the stored secrets stay.
    browser.click("tr[data-instance='1'] a").await;
    browser.wait_for_text("main h1", "the instance page", |text| text == "Console instance").await;
    browser.click("a[href='/console/instances/1/edit']").await;
    browser.wait_for_text("main h1", "the edit form", |text| text == "Edit Console instance").await;
    assert_eq!(browser.element(INTERVAL_FIELD).await.property("value").await, "0.005");
    assert_eq!(browser.element(URL_FIELD).await.property("value").await, good_url);
    browser.fill(INTERVAL_FIELD, "0.01").await;
    browser.click("#instance-form > .actions button[type=submit]").await;
    browser.wait_for_text(".notice", "the saved notice", |text| text.contains("Changes saved")).await;
    let (_, instance) = setup.api_instance("1").await;
    assert_eq!(instance["configuration"]["event.poller.refresh_interval"], "0.01");
    assert_eq!(instance["configuration"]["crm.autotask.password"], "********");
    assert_eq!(instance["valid"], true);

    // Poll now answers with what the poll did; disable stops polling until enabled again.
    browser.click("form[action='/console/instances/1/poll'] button").await;
    browser.wait_for_text(".notice", "the poll's summary", |text| text.starts_with("Polled:")).await;
    browser.click("form[action='/console/instances/1/disable'] button").await;
    browser.wait_for_text(".notice", "the disabled notice", |text| text.contains("Instance disabled")).await;
    assert_eq!(setup.api_instance("1").await.1["disabled"], true);
    browser.click("form[action='/console/instances/1/poll'] button").await;
    browser.wait_for_text(".notice.error", "the refused poll", |text| text.contains("is not polled")).await;
    browser.goto(&setup.url("/console/instances")).await;
    browser.wait_for_text("tr[data-instance='1'] .status", "the disabled row", |text| text == "disabled").await;
    browser.click("tr[data-instance='1'] a").await;
    browser.wait_for_text("main h1", "the instance page", |text| text == "Console instance").await;
    browser.click("form[action='/console/instances/1/enable'] button").await;
    browser.wait_for_text(".notice", "the enabled notice", |text| text.contains("Instance enabled")).await;

    // The callback fails: the new ticket's message is dead-lettered, then retried from the page.
    setup.receiver.answer(Answer::Fail(503));
    let ticket = control.create("Tickets", json!({"title": "While the callback was down"})).await;
    browser.wait_for_text("#events", "a failed message", |text| text.contains("failed") && text.contains("503")).await;
    setup.receiver.answer(Answer::Accept);
    browser.click("form[action='/console/instances/1/retry'] button").await;
    browser.wait_for_text(".notice", "the retry notice", |text| text.contains("delivered again")).await;
    let ticket_id = ticket.to_string();
    setup
        .receiver
        .wait_for(WAIT, "the retried ticket", |events| events.iter().any(|e| e["objectId"] == ticket_id.as_str()))
        .await;
    browser
        .wait_for_text("#events tbody tr:first-child", "the message delivered", |text| text.contains("delivered"))
        .await;
    assert!(browser.find_all("#events tr[data-status='failed'], #events tr[data-status='retrying']").await.is_empty());

    // The plugins page: the built-in incidents plugin, serving, with its calls.
    browser.click("nav a[href='/console/plugins']").await;
    let plugin = browser
        .wait_for_text("tr[data-plugin='incidents.wasm']", "the incidents plugin", |text| text.contains("active"))
        .await;
    assert!(plugin.contains("1/incidents"), "{plugin}");
    assert!(browser.text("#reloads").await.contains("loaded"));
    browser.save_screenshot("plugins").await;
    pages.push(browser.source().await);

    // Delete, after a confirmation page.
    browser.goto(&setup.url("/console/instances/1")).await;
    browser.click("a[href='/console/instances/1/delete']").await;
    browser.wait_for_text("main h1", "the confirmation", |text| text == "Delete Console instance?").await;
    browser.save_screenshot("delete-confirmation").await;
    browser.click("form[action='/console/instances/1/delete'] button[type=submit]").await;
    browser.wait_for_text("main", "the empty list", |text| text.contains("No instances yet")).await;
    assert_eq!(setup.api_instance("1").await.0, StatusCode::NOT_FOUND);

    for page in &pages {
        setup.assert_no_secret(page, "a console page");
    }
}
