//! Several API users in one organization, end to end: each user's instances
//! are theirs, another user's answer 404 on every call (ids do not leak), an
//! organization admin sees all, Element tokens count only for their owner,
//! and secrets rotated in the configuration (or in a secret file) count at
//! once, for the API and the console, without a restart.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::start;
use autotask_events::app::RunningService;
use autotask_sim::{SimConfig, Simulator};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::receiver::Receiver;
use support::service::{LOOPBACK_RULES, incidents_resource};
use support::wait_until;

const ORGANIZATION: &str = "tenancy-organization-secret-0123";
const ALICE: &str = "alice-secret-0123456789abcdef";
const ALICE_ROTATED: &str = "alice-rotated-secret-0123456789";
/// Bob's secret is in a file, as a mounted secret is.
const BOB: &str = "bob-secret-from-a-file-0123456789";
const BOB_ROTATED: &str = "bob-rotated-in-its-file-0123456789";
const OPS: &str = "ops-admin-secret-0123456789abcdef";
/// How long a reload of the configuration may take to count.
const RELOAD: Duration = Duration::from_secs(15);

/// The simulator, a receiver and the service, with alice, bob and ops (an admin).
struct Setup {
    sim: Simulator,
    receiver: Receiver,
    dir: tempfile::TempDir,
    service: RunningService,
}

impl Setup {
    async fn new() -> Setup {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let sim =
            Simulator::start(SimConfig { listen: "127.0.0.1:0".parse().unwrap(), tickets: 3, ..SimConfig::default() })
                .await
                .expect("the simulator starts");
        let receiver = Receiver::start().await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bob.secret"), format!("{BOB}\n")).unwrap();
        let config = write_config(dir.path(), &sim, ALICE);
        let service = start(&config).await;
        Setup { sim, receiver, dir, service }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.service.addr().port())
    }

    /// A management API call with `user`'s secret and the organization's.
    async fn call(&self, user: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_as(&format!("User {user}, Organization {ORGANIZATION}"), method, path, body).await
    }

    async fn call_as(
        &self,
        authorization: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request =
            http().request(method, self.url(&format!("/elements/api-v2{path}"))).header("Authorization", authorization);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_no_secret(&text, "an API answer");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Creates an instance named `name` as `user`; returns its id and token.
    async fn create(&self, user: &str, name: &str) -> (i64, String) {
        let (status, created) = self.call(user, Method::POST, "/instances", Some(self.body(name))).await;
        assert_eq!(status, StatusCode::OK, "{created}");
        (created["id"].as_i64().expect("an id"), created["token"].as_str().expect("a token").to_owned())
    }

    /// The names of the instances `user` is shown.
    async fn listed(&self, user: &str) -> Vec<String> {
        let (status, listed) = self.call(user, Method::GET, "/instances", None).await;
        assert_eq!(status, StatusCode::OK, "{listed}");
        listed.as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap_or_default().to_owned()).collect()
    }

    /// A Cloud Elements body polling the simulator's incidents every 15 minutes.
    fn body(&self, name: &str) -> Value {
        let sim = self.sim.config();
        json!({"name": name, "element": {"key": "autotaskcrm"}, "tags": ["tenancy"], "configuration": {
            "crm.autotask.username": sim.user,
            "crm.autotask.password": sim.secret,
            "crm.autotask.server.url": self.sim.url(),
            "event.notification.enabled": true,
            "event.notification.callback.url": self.receiver.url(),
            "event.poller.refresh_interval": "15",
            "event.poller.configuration": {"incidents": incidents_resource()}
        }})
    }
}

/// Writes `service.toml`: alice's secret in it, bob's in `bob.secret`, ops an admin.
fn write_config(dir: &Path, sim: &Simulator, alice: &str) -> PathBuf {
    let text = format!(
        "{LOOPBACK_RULES}[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"data\"\nplugin_dir = \"plugins\"\nintegration_code = \"{}\"\nallowed_autotask_hosts = [\"{}\"]\n\n\
         [api]\norganization_secret = \"{ORGANIZATION}\"\n\n\
         [[api.users]]\nname = \"alice\"\nsecret = \"{alice}\"\n\n\
         [[api.users]]\nname = \"bob\"\nsecret = \"${{file:bob.secret}}\"\n\n\
         [[api.users]]\nname = \"ops\"\nsecret = \"{OPS}\"\nadmin = true\n",
        sim.config().integration_code,
        sim.url().trim_start_matches("http://").trim_end_matches('/'),
    );
    let path = dir.join("service.toml");
    rename_into_place(&path, &text);
    path
}

/// Writes `text` beside `path` and renames it into place, as an editor, `mv`
/// or a secret store's mount does: the service never reads half a file.
fn rename_into_place(path: &Path, text: &str) {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text).unwrap();
    std::fs::rename(&partial, path).unwrap();
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn assert_no_secret(text: &str, what: &str) {
    for secret in [ORGANIZATION, ALICE, ALICE_ROTATED, BOB, BOB_ROTATED, OPS] {
        assert!(!text.contains(secret), "{what} shows a secret");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_user_sees_and_changes_only_their_own_instances_and_the_admin_all() {
    let setup = Setup::new().await;
    let (alices, alices_token) = setup.create(ALICE, "alice-tenancy-instance").await;
    let (bobs, _) = setup.create(BOB, "bob-tenancy-instance").await;

    assert_eq!(setup.listed(ALICE).await, ["alice-tenancy-instance"]);
    assert_eq!(setup.listed(BOB).await, ["bob-tenancy-instance"]);
    assert_eq!(setup.listed(OPS).await, ["alice-tenancy-instance", "bob-tenancy-instance"]);

    // Alice's instance, asked for by bob: 404 on every call, as an id that does not exist.
    let path = format!("/instances/{alices}");
    let (_, missing) = setup.call(BOB, Method::GET, "/instances/999", None).await;
    for (method, path, body) in [
        (Method::GET, path.clone(), None),
        (Method::PATCH, path.clone(), Some(json!({"name": "taken over"}))),
        (Method::PATCH, path.clone(), Some(json!({"disabled": true}))),
        (Method::DELETE, format!("{path}?outbox=drop"), None),
        (Method::GET, format!("{path}/events"), None),
        (Method::POST, format!("{path}/events/retry"), None),
        (Method::GET, format!("{path}/events?objectId=1"), None),
        (Method::GET, format!("{path}/events/some-message"), None),
        (Method::POST, format!("{path}/events/some-message/redeliver"), None),
        (Method::POST, format!("{path}/events/redeliver?objectId=1"), None),
        (Method::POST, format!("{path}/poll"), None),
        (Method::GET, format!("{path}/resources"), None),
        (Method::GET, format!("{path}/metrics"), None),
        (Method::GET, format!("{path}/metrics?hours=0"), None),
    ] {
        let (status, answer) = setup.call(BOB, method.clone(), &path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
        let same = answer["message"].as_str().unwrap().replace(&format!("`{alices}`"), "`999`");
        assert_eq!(same, missing["message"].as_str().unwrap(), "the answer says no more than for a missing id");
    }
    let (status, still) = setup.call(ALICE, Method::GET, &path, None).await;
    assert_eq!((status, still["name"].as_str()), (StatusCode::OK, Some("alice-tenancy-instance")), "{still}");
    assert_eq!(still["disabled"], false, "bob's patch changed nothing");

    // Her own calls work, poll now included; the admin reads and changes both.
    let (status, polled) = setup.call(ALICE, Method::POST, &format!("{path}/poll"), None).await;
    assert_eq!(status, StatusCode::OK, "{polled}");
    let (status, _) = setup.call(OPS, Method::GET, &format!("/instances/{bobs}/resources"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, metrics) = setup.call(ALICE, Method::GET, &format!("{path}/metrics"), None).await;
    assert_eq!((status, metrics["instanceId"].clone()), (StatusCode::OK, json!(alices.to_string())), "{metrics}");
    let (status, _) = setup.call(OPS, Method::GET, &format!("/instances/{bobs}/metrics"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, patched) = setup.call(OPS, Method::PATCH, &path, Some(json!({"tags": ["checked-by-ops"]}))).await;
    assert_eq!((status, patched["tags"].clone()), (StatusCode::OK, json!(["checked-by-ops"])), "{patched}");

    // Alice's Element token works with her secrets only.
    let with_token = |user: &str| format!("User {user}, Organization {ORGANIZATION}, Element {alices_token}");
    let (status, _) = setup.call_as(&with_token(ALICE), Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = setup.call_as(&with_token(BOB), Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    let (status, answer) = setup.call_as(&with_token(BOB), Method::GET, &format!("/instances/{bobs}"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "not bob's instance's token: {answer}");

    // Bob deletes his own; alice's stays.
    let (status, deleted) = setup.call(BOB, Method::DELETE, &format!("/instances/{bobs}?outbox=drop"), None).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(setup.listed(OPS).await, ["alice-tenancy-instance"]);
}

/// Signs `user` in to the console over plain HTTP; returns the session cookie.
async fn sign_in(setup: &Setup, user: &str) -> String {
    let client = http();
    let form = client.get(setup.url("/console/sign-in")).send().await.unwrap();
    let double_submit = cookie_pair(&form, "autotask_events_sign_in").expect("a sign-in cookie");
    let page = form.text().await.unwrap();
    let start = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + "name=\"csrf\" value=\"".len();
    let token = &page[start..start + page[start..].find('"').unwrap()];
    let answer = client
        .post(setup.url("/console/sign-in"))
        .header(COOKIE, double_submit)
        .form(&[("user_secret", user), ("organization_secret", ORGANIZATION), ("csrf", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER, "signed in");
    cookie_pair(&answer, "autotask_events_session").expect("a session cookie")
}

/// The `name=value` part of the response's `Set-Cookie` for `name`.
fn cookie_pair(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&format!("{name}=")))
        .map(|value| value.split(';').next().unwrap().to_owned())
}

/// A console page with `cookie`: its status, where it leads, and its text.
async fn console_page(setup: &Setup, cookie: &str, path: &str) -> (StatusCode, Option<String>, String) {
    let response = http().get(setup.url(path)).header(COOKIE, cookie).send().await.unwrap();
    let status = response.status();
    let location = response.headers().get(LOCATION).map(|value| value.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    assert_no_secret(&text, "a console page");
    (status, location, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_a_user_only_their_instances() {
    let setup = Setup::new().await;
    let (alices, _) = setup.create(ALICE, "alice-tenancy-instance").await;
    let (bobs, _) = setup.create(BOB, "bob-tenancy-instance").await;

    let bob = sign_in(&setup, BOB).await;
    let (status, _, list) = console_page(&setup, &bob, "/console/instances").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains("bob-tenancy-instance"), "bob sees his own");
    assert!(!list.contains("alice-tenancy-instance"), "bob does not see alice's");
    let (_, _, rows) = console_page(&setup, &bob, "/console/instances/rows").await;
    assert!(rows.contains("bob-tenancy-instance") && !rows.contains("alice-tenancy-instance"));
    for page in ["", "/edit", "/activity", "/delete"] {
        let (status, _, text) = console_page(&setup, &bob, &format!("/console/instances/{alices}{page}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{page}");
        assert!(!text.contains("alice-tenancy-instance"), "{page}");
    }
    let (status, _, _) = console_page(&setup, &bob, &format!("/console/instances/{bobs}")).await;
    assert_eq!(status, StatusCode::OK);

    let ops = sign_in(&setup, OPS).await;
    let (_, _, list) = console_page(&setup, &ops, "/console/instances").await;
    assert!(list.contains("alice-tenancy-instance") && list.contains("bob-tenancy-instance"), "the admin sees all");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_secrets_count_at_once_without_a_restart() {
    let setup = Setup::new().await;
    setup.create(ALICE, "alice-tenancy-instance").await;
    let alice_in_console = sign_in(&setup, ALICE).await;
    let bob_in_console = sign_in(&setup, BOB).await;

    // Alice's secret changed in the configuration file: the old one is refused, the new one taken.
    write_config(setup.dir.path(), &setup.sim, ALICE_ROTATED);
    let setup = &setup;
    wait_until(RELOAD, "the old secret refused", || async move {
        let (status, _) = setup.call(ALICE, Method::GET, "/instances", None).await;
        (status == StatusCode::UNAUTHORIZED).then_some(())
    })
    .await;
    assert_eq!(setup.listed(ALICE_ROTATED).await, ["alice-tenancy-instance"], "still hers");
    let (status, location, _) = console_page(setup, &alice_in_console, "/console/instances").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "her console session ended with her old secret");
    assert_eq!(location.as_deref(), Some("/console/sign-in"));
    let (status, _, _) = console_page(setup, &bob_in_console, "/console/instances").await;
    assert_eq!(status, StatusCode::OK, "bob's secret did not change");

    // Bob's secret rewritten in its file: the same.
    rename_into_place(&setup.dir.path().join("bob.secret"), &format!("{BOB_ROTATED}\n"));
    wait_until(RELOAD, "bob's old secret refused", || async move {
        let (status, _) = setup.call(BOB, Method::GET, "/instances", None).await;
        (status == StatusCode::UNAUTHORIZED).then_some(())
    })
    .await;
    assert!(setup.listed(BOB_ROTATED).await.is_empty());
    let (status, _, _) = console_page(setup, &bob_in_console, "/console/instances").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "his console session ended too");
    let (status, _) = setup.call(OPS, Method::GET, "/instances", None).await;
    assert_eq!(status, StatusCode::OK, "the admin's secret did not change");
}
