//! The instance lifecycle against a real engine (state database, plugin
//! registry, supervisor), with nothing that reaches beyond loopback: the
//! resources wait for a plugin file that is not there, so nothing polls, and
//! callbacks go to a loopback port nobody listens on.

use std::path::Path;

use serde_json::{Value, json};

use super::views::{InstanceId, ResourceState};
use super::{Caller, ManageError, Management, OutboxPolicy};
use crate::config::{InstanceRules, LEGACY_USER, ServerSettings, ServiceConfig, read_api_instance};
use crate::egress::{Egress, Range};
use crate::service::{self, Service};
use crate::store::{NewMessage, PollCommit};

/// A loopback address nothing listens on: bound, then let go.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A Cloud Elements body for an instance whose Autotask and callback are on loopback.
fn body(name: &str, callback_port: u16) -> Value {
    json!({
        "element": {"key": "autotaskcrm"},
        "name": name,
        "tags": ["unit"],
        "configuration": {
            "crm.autotask.username": "api@example.com",
            "crm.autotask.password": "s3cret-password",
            "crm.autotask.integration.code": "CODE",
            "crm.autotask.server.url": format!("http://127.0.0.1:{}", closed_port()),
            "event.notification.enabled": true,
            "event.notification.callback.url": format!("http://127.0.0.1:{callback_port}/events"),
            "event.poller.refresh_interval": "15",
            "event.poller.configuration": {"incidents": {
                "url": "/hubs/helpdesk/incidents?where=lastActivityDate>='${date:yyyy-MM-dd'T'HH:mm:ssZ}'",
                "idField": "id"
            }}
        }
    })
}

/// The rules of a test host: everything here runs on loopback.
fn loopback_rules() -> InstanceRules {
    InstanceRules { egress: Egress::allowing([Range::Loopback]), ..InstanceRules::default() }
}

/// An engine with one configuration-file instance (`acme`, events off) and
/// an empty plugin directory.
async fn engine(dir: &Path) -> Service {
    let file_instance = read_api_instance(
        "acme".into(),
        &json!({"name": "Acme", "element": {"key": "autotaskcrm"},
        "configuration": {"crm.autotask.username": "file@example.com", "crm.autotask.password": "p",
            "crm.autotask.integration.code": "C", "crm.autotask.server.url": "http://127.0.0.1:1"}}),
        false,
        None,
        &loopback_rules(),
    )
    .unwrap();
    let server = ServerSettings { rules: loopback_rules(), ..ServerSettings::defaults(dir) };
    let config = ServiceConfig { server, instances: vec![file_instance], files: Vec::new() };
    service::start(config).await.unwrap()
}

/// Adds an instance as a create by the organization admin does once Autotask took its credentials.
async fn add(management: &Management, body: &Value) -> String {
    add_as(management, LEGACY_USER, body).await
}

async fn add_as(management: &Management, owner: &str, body: &Value) -> String {
    let checked = management.configured("new", body, false).unwrap();
    let shown = management.add(owner, body, checked).await.unwrap();
    shown.id.to_string()
}

/// The organization admin, as `user_secret` signs in.
fn admin() -> Caller {
    Caller { user: LEGACY_USER.into(), admin: true, element_token: None }
}

fn user(name: &str) -> Caller {
    Caller { user: name.into(), admin: false, element_token: None }
}

fn running(management: &Management, id: &str) -> bool {
    management.snapshot().api_instances.contains_key(id) && !management.snapshot().resources(id).is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_added_instance_is_stored_running_and_listed_after_the_file_s() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let management = engine.management();

    let id = add(&management, &body("First", closed_port())).await;
    assert_eq!(id, "1");
    assert!(running(&management, &id), "the new instance runs");
    let listed: Vec<InstanceId> = management.list(&admin()).await.unwrap().into_iter().map(|view| view.id).collect();
    assert_eq!(listed, [InstanceId::File("acme".into()), InstanceId::Api(1)]);

    let shown = management.get(&id, &admin()).await.unwrap();
    assert_eq!(shown.configuration["crm.autotask.password"], "********", "secrets are masked");
    assert_eq!(shown.settings.refresh_interval, "15");
    let resources = management.resources(&id, &admin()).await.unwrap();
    assert_eq!(resources.resources[0].status, ResourceState::WaitingForPlugin);

    let token = shown.token.clone().unwrap();
    let own = Caller { element_token: Some(token), ..admin() };
    assert!(management.get(&id, &own).await.is_ok());
    let other = Caller { element_token: Some("not-its-token".into()), ..admin() };
    assert!(matches!(management.get(&id, &other).await, Err(ManageError::WrongToken(_))));
    engine.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_restarts_the_instance_with_its_change_and_disable_stops_polling() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let management = engine.management();
    let id = add(&management, &body("Patched", closed_port())).await;

    let patch = json!({"configuration": {"event.poller.refresh_interval": "5"}, "tags": ["changed"]});
    let shown = management.patch(&id, &admin(), &patch).await.unwrap();
    assert_eq!((shown.settings.refresh_interval.as_str(), shown.tags.clone()), ("5", vec!["changed".to_owned()]));
    let running_config = management.snapshot().api_instances[&id].instance.refresh_interval;
    assert_eq!(running_config, std::time::Duration::from_secs(300), "the running instance has the new interval");
    assert!(!engine.store().api_instance(1).unwrap().unwrap().disabled);

    let shown = management.set_disabled(&id, &admin(), true).await.unwrap();
    assert!(shown.disabled);
    assert!(!running(&management, &id), "a disabled instance does not poll");
    assert!(engine.store().api_instance(1).unwrap().unwrap().disabled, "and the row says so");
    let refused = management.poll_now(&id, &admin(), None).await.unwrap_err();
    assert!(matches!(refused, ManageError::Conflict(ref message) if message.contains("is not polled")), "{refused}");

    management.set_disabled(&id, &admin(), false).await.unwrap();
    assert!(running(&management, &id), "enabled again, it polls");
    engine.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_instances_are_read_only_and_unknown_ones_are_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let management = engine.management();
    let shown = management.get("acme", &admin()).await.unwrap();
    assert!(shown.read_only && shown.token.is_none());
    let patched = management.patch("acme", &admin(), &json!({"name": "x"})).await.unwrap_err();
    assert!(matches!(patched, ManageError::ReadOnly(_)), "{patched}");
    let deleted = management.delete("acme", &admin(), OutboxPolicy::Drop).await.unwrap_err();
    assert!(matches!(deleted, ManageError::ReadOnly(_)), "{deleted}");
    let missing = management.get("7", &admin()).await.unwrap_err();
    assert_eq!(missing, ManageError::NotFound("instance `7`".into()));
    engine.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_that_cannot_deliver_puts_the_instance_back_and_drop_removes_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let management = engine.management();
    let id = add(&management, &body("Undeliverable", closed_port())).await;
    let message = NewMessage {
        message_id: "m1".into(),
        body: "{}".into(),
        event_count: 1,
        plugin_version: None,
        keys: Default::default(),
    };
    let commit = PollCommit { messages: vec![message], ..PollCommit::default() };
    engine.store().commit_poll(&id, "incidents", &commit, chrono::Utc::now()).unwrap();

    let refused = management.delete(&id, &admin(), OutboxPolicy::Flush).await.unwrap_err();
    assert!(
        matches!(refused, ManageError::Conflict(ref message) if message.contains("1 message(s) could not be delivered")),
        "{refused}"
    );
    assert!(running(&management, &id), "the instance is put back running");
    assert!(engine.store().api_instance(1).unwrap().is_some(), "and its row stays");

    let deleted = management.delete(&id, &admin(), OutboxPolicy::Drop).await.unwrap();
    assert_eq!((deleted.id, deleted.delivered, deleted.dropped), (1, 0, 1));
    assert!(!running(&management, &id));
    assert!(engine.store().api_instance(1).unwrap().is_none());
    assert_eq!(engine.store().undelivered(&id).unwrap(), (0, 0), "its outbox went with it");
    assert_eq!(management.get(&id, &admin()).await.unwrap_err(), ManageError::NotFound("instance `1`".into()));
    engine.stop().await;
}

#[test]
fn the_outbox_policy_reads_as_the_query_says_it() {
    assert_eq!(OutboxPolicy::parse(None), Ok(OutboxPolicy::Flush));
    assert_eq!(OutboxPolicy::parse(Some("drop")), Ok(OutboxPolicy::Drop));
    let wrong = OutboxPolicy::parse(Some("keep")).unwrap_err();
    assert_eq!(wrong.field_problems()[0].field, "?outbox");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_test_against_a_new_server_needs_the_secret_again() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let management = engine.management();
    let id = add(&management, &body("Moved", closed_port())).await;

    // A server that would receive the stored secret: it must see no connection.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let moved = json!({"element": {"key": "autotaskcrm"}, "configuration": {
        "crm.autotask.username": "api@example.com",
        "crm.autotask.password": "********",
        "crm.autotask.server.url": format!("http://{}", listener.local_addr().unwrap()),
    }});
    let error = management.test_connection(&admin(), &moved, Some(&id)).await.unwrap_err();
    assert!(error.starts_with("crm.autotask.password: give this secret again"), "{error}");
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_err(), "nothing connected to the new server");
    engine.stop().await;
}

/// Each instance that names a new resource gets a plugin slot; deleting it
/// must free the slot (its file never existed) and its metric series, or a
/// service that creates and deletes instances grows without end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_instance_frees_its_unused_plugin_slot_and_its_metric_series() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let management = engine.management();
    let mut gone = body("Gone", closed_port());
    let incidents = body("", 0)["configuration"]["event.poller.configuration"]["incidents"].clone();
    gone["configuration"]["event.poller.configuration"] = json!({ "once-only": incidents });
    let id = add(&management, &gone).await;
    let listed = |name: &str| management.plugins().iter().any(|plugin| plugin.name == name);
    assert!(listed("once-only.wasm"), "the resource's slot is listed while it is used");

    // A message the worker cannot deliver (nobody listens): a delivery series for the instance.
    let message = NewMessage {
        message_id: "m1".into(),
        body: "{}".into(),
        event_count: 1,
        plugin_version: None,
        keys: Default::default(),
    };
    let commit = PollCommit { messages: vec![message], ..PollCommit::default() };
    engine.store().commit_poll(&id, "once-only", &commit, chrono::Utc::now()).unwrap();
    let series = format!("instance=\"{id}\"");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !engine.metrics().render().contains(&series) {
        assert!(std::time::Instant::now() < deadline, "no delivery attempt was counted");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    management.delete(&id, &admin(), OutboxPolicy::Drop).await.unwrap();
    assert!(!listed("once-only.wasm"), "the slot is freed: {:?}", management.plugins());
    let text = engine.metrics().render();
    assert!(!text.contains(&series), "the instance's series are removed:\n{text}");
    engine.stop().await;
}

/// `/health` writes, not only reads: while another process holds the state
/// database's write lock, it names the database; once released, it is fine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_fails_naming_the_state_database_while_it_cannot_be_written() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let management = engine.management();
    assert!(management.health().await.is_ok());

    let path = engine.settings().data_dir.join(crate::service::STATE_FILE);
    let other = rusqlite::Connection::open(path).unwrap();
    other
        .execute_batch("BEGIN IMMEDIATE; INSERT INTO instances (id, name, created_at) VALUES ('x', 'x', 'x');")
        .unwrap();
    let error = management.health().await.unwrap_err();
    assert!(error.starts_with("the state database cannot be written: "), "{error}");
    assert!(error.contains("locked"), "{error}");

    other.execute_batch("ROLLBACK").unwrap();
    assert!(management.health().await.is_ok(), "writable again, healthy again");
    engine.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_sees_and_changes_only_their_own_instances_and_others_are_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let management = engine.management();
    let alices = add_as(&management, "alice", &body("Alice's", closed_port())).await;
    let bobs = add_as(&management, "bob", &body("Bob's", closed_port())).await;

    let ids = |views: Vec<super::views::InstanceView>| views.into_iter().map(|v| v.id.to_string()).collect::<Vec<_>>();
    assert_eq!(ids(management.list(&user("alice")).await.unwrap()), std::slice::from_ref(&alices));
    assert_eq!(ids(management.list(&user("bob")).await.unwrap()), std::slice::from_ref(&bobs));
    assert_eq!(ids(management.list(&admin()).await.unwrap()), ["acme".to_owned(), alices.clone(), bobs.clone()]);

    // Another user's instance, and a file instance without `owner`, are not found: ids do not leak.
    let bob = user("bob");
    for id in [alices.as_str(), "acme"] {
        assert!(matches!(management.get(id, &bob).await, Err(ManageError::NotFound(_))), "{id}");
        assert!(matches!(management.resources(id, &bob).await, Err(ManageError::NotFound(_))), "{id}");
    }
    let patched = management.patch(&alices, &bob, &json!({"name": "Taken"})).await.unwrap_err();
    assert!(matches!(patched, ManageError::NotFound(_)), "{patched}");
    let deleted = management.delete(&alices, &bob, OutboxPolicy::Drop).await.unwrap_err();
    assert!(matches!(deleted, ManageError::NotFound(_)), "{deleted}");
    assert!(matches!(management.retry(&alices, &bob).await, Err(ManageError::NotFound(_))));
    assert!(matches!(management.events(&alices, &bob, None, 10).await, Err(ManageError::NotFound(_))));
    assert_eq!(management.get(&alices, &user("alice")).await.unwrap().name.as_deref(), Some("Alice's"));
    assert_eq!(management.get(&alices, &admin()).await.unwrap().name.as_deref(), Some("Alice's"));
}
