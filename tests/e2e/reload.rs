//! Hot reload end to end: plugin files replaced, broken, removed and swapped
//! a hundred times, and the configuration file changed, while the service
//! polls a simulator with churn and delivers to a real receiver. In every case
//! no poll fails, every change reaches the receiver, and each event was mapped
//! by the version its outbox row names.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::start;
use autotask_events::app::RunningService;
use autotask_sim::{Entity, SimConfig, Simulator};
use chrono::{DateTime, Utc};
use engine::service::plugins::{PluginStatus, Status};
use plugin_runtime::version_of;
use serde_json::{Value, json};
use support::receiver::Receiver;
use support::service::{FAST_DELIVERY, SimControl, incidents_resource, instance_toml, resource, write_config};
use support::{INCIDENTS_WASM, MISBEHAVING_WASM};

const WAIT: Duration = Duration::from_secs(30);

/// A component that implements nothing: a valid component of the wrong world.
const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

/// The service polling `incidents` (and whatever else `resources` says) of a
/// simulator that changes a few tickets a second.
struct Harness {
    sim: Simulator,
    receiver: Receiver,
    dir: tempfile::TempDir,
    service: Option<RunningService>,
    started: DateTime<Utc>,
}

impl Harness {
    async fn start(resources: Value, extra: &str) -> Harness {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let sim = Simulator::start(SimConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tickets: 40,
            contacts: 10,
            churn_per_minute: 300.0,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let receiver = Receiver::start().await;
        let dir = tempfile::tempdir().unwrap();
        let started = Utc::now();
        let extra = format!("refresh_interval_seconds = 0.2\n{extra}");
        let instance = instance_toml("acme", &sim, &receiver.url(), resources, json!({}), &extra);
        let service = start(&write_config(dir.path(), FAST_DELIVERY, &[instance])).await;
        Harness { sim, receiver, dir, service: Some(service), started }
    }

    fn service(&self) -> &RunningService {
        self.service.as_ref().expect("running")
    }

    fn plugin_path(&self, name: &str) -> PathBuf {
        self.dir.path().join("plugins").join(name)
    }

    fn plugin(&self, name: &str) -> PluginStatus {
        let plugins = self.service().plugins();
        plugins.into_iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no plugin {name} listed"))
    }

    /// Waits until `name` is listed as `check` wants it.
    async fn wait_for_plugin(&self, name: &str, what: &str, check: impl Fn(&PluginStatus) -> bool) -> PluginStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            let plugin = self.plugin(name);
            if check(&plugin) {
                return plugin;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}: {plugin:?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits for `count` more events than there are now.
    async fn more_events(&self, count: usize) {
        let now = self.receiver.events().len();
        self.receiver.wait_for(WAIT, "more events", |events| events.len() >= now + count).await;
    }

    /// No poll failed, every ticket change since the start reached the receiver,
    /// and every delivered message was mapped by the version its outbox row
    /// names. Returns the number of messages per version.
    async fn account_for_everything(&self, shapes: &[(&[u8], Shape)]) -> HashMap<String, usize> {
        let metrics = self.service().metrics().render();
        assert!(!metrics.contains("outcome=\"error\""), "a poll failed:\n{metrics}");

        // Every ticket changed since the start: its latest change, or a later one, arrived.
        // (The churn is random: wait until it has changed a few, so the check means something.)
        let deadline = Instant::now() + WAIT;
        let expected = loop {
            let expected = self.changes_since_start();
            if expected.len() > 5 {
                break expected;
            }
            assert!(Instant::now() < deadline, "the churn changed only {} tickets", expected.len());
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let arrived = |events: &[Value]| {
            let mut latest: HashMap<(String, bool), DateTime<Utc>> = HashMap::new();
            for event in events.iter().filter(|e| e["objectType"] == "incidents") {
                let key = (event["objectId"].as_str().unwrap().to_owned(), event["eventType"] == "DELETED");
                let at = date(&event["eventDate"]);
                let entry = latest.entry(key).or_insert(at);
                *entry = (*entry).max(at);
            }
            expected
                .iter()
                .filter(|(id, at, kind)| {
                    let deleted = *kind == "DELETED";
                    let seen = latest.get(&(id.clone(), deleted)).copied();
                    // A deleted ticket's last update may only show as its deletion.
                    let later_deletion = !deleted && latest.contains_key(&(id.clone(), true));
                    seen.is_none_or(|seen| seen < *at) && !later_deletion
                })
                .cloned()
                .collect::<Vec<_>>()
        };
        let deadline = Instant::now() + WAIT;
        loop {
            let missing = arrived(&self.receiver.events());
            if missing.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {} changes never arrived: {missing:?}\n{}",
                missing.len(),
                expected.len(),
                self.where_things_stand()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // Each delivered message has the shape of the version its outbox row names.
        let versions: HashMap<String, Shape> =
            shapes.iter().map(|(bytes, shape)| (version_of(bytes), *shape)).collect();
        let store = self.service().store().clone();
        let rows = store.recent_messages("acme", None, 100_000).unwrap();
        let by_id: HashMap<String, Option<String>> =
            rows.into_iter().map(|row| (row.message_id, row.plugin_version)).collect();
        let mut per_version = HashMap::new();
        for delivery in self.receiver.accepted() {
            let id = delivery.webhook_id.clone().unwrap();
            let version = by_id[&id].clone().expect("every message names its plugin version");
            let shape =
                versions.get(&version).unwrap_or_else(|| panic!("message {id} names unknown version {version}"));
            for event in delivery.events() {
                assert_eq!(Shape::of(&event["payload"]), *shape, "message {id} (version {version}): {event}");
            }
            *per_version.entry(version).or_insert(0) += 1;
        }
        per_version
    }

    /// `(ticket id, when, "any" or "DELETED")` of every ticket changed or deleted since the start.
    /// What a failure of [`Harness::account_for_everything`] shows beside the
    /// missing changes: the records a plugin failed, the outbox, the polls.
    fn where_things_stand(&self) -> String {
        let store = self.service().store();
        let failures: Vec<String> = store
            .failures("acme", None, false)
            .unwrap()
            .into_iter()
            .map(|failure| format!("{:?} at {}: {}", failure.record.object_id, failure.failed_at, failure.record.error))
            .collect();
        let undelivered = store.undelivered("acme").unwrap();
        let metrics = self.service().metrics().render();
        let polls: Vec<&str> =
            metrics.lines().filter(|line| line.contains("poll") && line.contains("outcome=")).collect();
        format!("failed records: {failures:?}\n(pending, dead) messages: {undelivered:?}\npolls: {polls:?}")
    }

    fn changes_since_start(&self) -> Vec<(String, DateTime<Utc>, &'static str)> {
        let (tickets, deletions) = self
            .sim
            .with_store(|store| (store.table(Entity::Tickets).clone(), store.table(Entity::DeletedTicketLogs).clone()));
        let mut changes = Vec::new();
        for ticket in tickets.values() {
            let updated = date(&ticket["lastActivityDate"]);
            if updated >= self.started {
                changes.push((ticket["id"].to_string(), updated, "any"));
            }
        }
        for log in deletions.values() {
            let deleted = date(&log["deletedDateTime"]);
            if deleted >= self.started {
                changes.push((log["ticketID"].to_string(), deleted, "DELETED"));
            }
        }
        changes
    }

    async fn stop(mut self) {
        self.service.take().unwrap().stop().await;
    }
}

/// What each plugin makes of a ticket: the incidents plugin a standardized
/// object, the misbehaving plugin (behaving) the raw record as it came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Standardized,
    Raw,
}

impl Shape {
    fn of(payload: &Value) -> Shape {
        if payload.get("updatedDate").is_some() { Shape::Standardized } else { Shape::Raw }
    }
}

const BOTH: [(&[u8], Shape); 2] = [(INCIDENTS_WASM, Shape::Standardized), (MISBEHAVING_WASM, Shape::Raw)];

fn date(value: &Value) -> DateTime<Utc> {
    let text = value.as_str().unwrap_or_else(|| panic!("not a date: {value}"));
    let text = if text.ends_with('Z') { text.to_owned() } else { format!("{text}Z") };
    DateTime::parse_from_rfc3339(&text).unwrap_or_else(|e| panic!("{text}: {e}")).with_timezone(&Utc)
}

/// Writes `bytes` beside `path` and renames it into place, as `cp` to a temporary and `mv` do.
fn rename_into_place(path: &Path, bytes: &[u8]) {
    let partial = path.with_extension("tmp");
    std::fs::write(&partial, bytes).unwrap();
    std::fs::rename(&partial, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_renamed_into_place_serves_the_next_batches_and_nothing_is_lost() {
    let harness = Harness::start(json!({"incidents": incidents_resource()}), "").await;
    let old = harness.wait_for_plugin("incidents.wasm", "the built-in plugin", |p| p.status == Status::Active).await;
    assert_eq!(old.version.as_deref(), Some(version_of(INCIDENTS_WASM).as_str()));
    harness.more_events(5).await;

    rename_into_place(&harness.plugin_path("incidents.wasm"), MISBEHAVING_WASM);
    let new_version = version_of(MISBEHAVING_WASM);
    let new = harness
        .wait_for_plugin("incidents.wasm", "the new version", |p| p.version.as_deref() == Some(&new_version))
        .await;
    assert_eq!(new.status, Status::Active);
    assert!(new.loaded_at > old.loaded_at);
    assert_eq!(new.resources, ["acme/incidents"]);
    harness.more_events(10).await;

    let per_version = harness.account_for_everything(&BOTH).await;
    assert!(per_version.get(&new_version).is_some_and(|n| *n > 0), "new version delivered nothing: {per_version:?}");
    // Once the new version mapped a batch, the old one maps none: the last
    // messages all come from the new version.
    let last = harness.receiver.accepted().last().unwrap().events();
    assert!(last.iter().all(|e| Shape::of(&e["payload"]) == Shape::Raw));
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_overwritten_in_place_in_slow_chunks_is_loaded_once_complete() {
    let harness = Harness::start(json!({"incidents": incidents_resource()}), "").await;
    harness.wait_for_plugin("incidents.wasm", "the built-in plugin", |p| p.status == Status::Active).await;
    harness.more_events(5).await;

    // Truncate, then write the new bytes in four chunks with pauses in between,
    // the way a slow copy or a build tool writing in place does.
    let path = harness.plugin_path("incidents.wasm");
    let mut file = std::fs::File::create(&path).unwrap();
    for chunk in MISBEHAVING_WASM.chunks(MISBEHAVING_WASM.len() / 4 + 1) {
        file.write_all(chunk).unwrap();
        file.flush().unwrap();
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    drop(file);
    let new_version = version_of(MISBEHAVING_WASM);
    let loaded = harness
        .wait_for_plugin("incidents.wasm", "the complete file", |p| p.version.as_deref() == Some(&new_version))
        .await;
    assert_eq!(loaded.status, Status::Active, "{loaded:?}");
    harness.more_events(10).await;
    let per_version = harness.account_for_everything(&BOTH).await;
    assert!(per_version.contains_key(&new_version), "{per_version:?}");
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_file_or_a_component_of_the_wrong_world_leaves_the_old_version_serving() {
    let harness = Harness::start(json!({"incidents": incidents_resource()}), "").await;
    let good = harness.wait_for_plugin("incidents.wasm", "the built-in plugin", |p| p.status == Status::Active).await;
    harness.more_events(3).await;
    let path = harness.plugin_path("incidents.wasm");

    for (bytes, cause) in [
        (&b"this is not WebAssembly"[..], "is not a WebAssembly component"),
        (EMPTY_COMPONENT, "does not implement the autotask-events plugin world"),
    ] {
        rename_into_place(&path, bytes);
        let failed = harness.wait_for_plugin("incidents.wasm", "the rejection", |p| p.status == Status::Failed).await;
        let error = failed.error.clone().unwrap();
        assert!(error.contains(cause) && error.contains("incidents.wasm"), "{error}");
        assert_eq!(failed.version, good.version, "the old version keeps serving");
        assert_eq!(failed.rejected_version.as_deref(), Some(version_of(bytes).as_str()));
        // Still mapping with the old version.
        harness.more_events(5).await;
        // Back to a good file in between, so the next bad one is a change again.
        rename_into_place(&path, INCIDENTS_WASM);
        harness.wait_for_plugin("incidents.wasm", "the good file again", |p| p.status == Status::Active).await;
    }
    // The history the console shows: newest first, with why each file was refused.
    let history = harness.service().plugin_reloads();
    let outcomes: Vec<&str> = history.iter().map(|reload| reload.outcome).collect();
    assert_eq!(outcomes, ["restored", "rejected", "restored", "rejected", "loaded"]);
    assert!(history[1].detail.as_deref().unwrap().contains("plugin world"), "{history:?}");
    assert_eq!(history[1].version.as_deref(), Some(version_of(EMPTY_COMPONENT).as_str()));
    assert!(history.iter().all(|reload| reload.plugin == "incidents.wasm"));
    let metrics = harness.service().metrics().render();
    assert!(
        metrics.contains("autotask_events_plugin_reloads_total{plugin=\"incidents.wasm\",outcome=\"rejected\"} 2"),
        "{metrics}"
    );
    let per_version = harness.account_for_everything(&BOTH).await;
    assert_eq!(per_version.keys().collect::<Vec<_>>(), [&version_of(INCIDENTS_WASM)]);
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_traps_on_every_record_is_refused_by_its_self_test() {
    // The misbehaving plugin traps on every batch of a resource named `trap`;
    // the incidents plugin maps it like any other.
    let resources = json!({"trap": incidents_resource()});
    let harness = Harness::start(resources, "plugins = { trap = \"plugins/trap.wasm\" }").await;
    let path = harness.plugin_path("trap.wasm");
    rename_into_place(&path, INCIDENTS_WASM);
    let good = harness.wait_for_plugin("trap.wasm", "the first version", |p| p.status == Status::Active).await;
    harness.receiver.wait_for(WAIT, "events", |events| events.len() >= 5).await;

    rename_into_place(&path, MISBEHAVING_WASM);
    let refused = harness.wait_for_plugin("trap.wasm", "the refusal", |p| p.status == Status::Failed).await;
    let error = refused.error.unwrap();
    assert!(error.contains("trapped") && error.contains("trap.wasm"), "{error}");
    assert_eq!(refused.version, good.version);
    let before = harness.receiver.events().len();
    harness.receiver.wait_for(WAIT, "events from the old version", |events| events.len() >= before + 5).await;
    assert!(harness.receiver.events()[before..].iter().all(|e| Shape::of(&e["payload"]) == Shape::Standardized));
    let failed_records = harness.service().store().failed_records("acme").unwrap();
    assert!(failed_records.is_empty(), "no record failed: {failed_records:?}");
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_plugin_stops_its_resource_until_it_is_back_and_a_new_file_starts_one() {
    let resources = json!({"incidents": incidents_resource(), "contacts": resource("/hubs/helpdesk/contacts")});
    let harness = Harness::start(resources, "").await;
    let contacts = harness.wait_for_plugin("contacts.wasm", "contacts waiting", |p| p.status == Status::Missing).await;
    assert_eq!(contacts.resources, ["acme/contacts"]);
    let control = SimControl::new(&harness.sim);
    control.patch("Contacts", 3, json!({"title": "Waiting"})).await;

    // A file dropped in for a resource that waits for one: it starts polling,
    // from where it would have, so the change made while waiting arrives.
    rename_into_place(&harness.plugin_path("contacts.wasm"), INCIDENTS_WASM);
    harness
        .receiver
        .wait_for(WAIT, "the contact changed while waiting", |events| {
            events.iter().any(|e| e["objectType"] == "contacts" && e["objectId"] == "3")
        })
        .await;

    // Removed: incidents stop polling (no errors), and nothing is lost when it is back.
    let path = harness.plugin_path("incidents.wasm");
    std::fs::remove_file(&path).unwrap();
    harness.wait_for_plugin("incidents.wasm", "the removal", |p| p.status == Status::Removed).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    rename_into_place(&path, INCIDENTS_WASM);
    harness.wait_for_plugin("incidents.wasm", "the return", |p| p.status == Status::Active).await;
    harness.more_events(5).await;
    harness.account_for_everything(&BOTH).await;

    // A file no instance uses is loaded and listed, idle.
    rename_into_place(&harness.plugin_path("spare.wasm"), MISBEHAVING_WASM);
    let spare = harness.wait_for_plugin_listed("spare.wasm").await;
    assert!(spare.resources.is_empty());
    harness.stop().await;
}

impl Harness {
    async fn wait_for_plugin_listed(&self, name: &str) -> PluginStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(plugin) =
                self.service().plugins().into_iter().find(|p| p.name == name && p.status == Status::Active)
            {
                return plugin;
            }
            assert!(Instant::now() < deadline, "{name} was never listed active");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlink_swapped_to_another_version_is_followed() {
    let harness = Harness::start(json!({"incidents": incidents_resource()}), "").await;
    harness.wait_for_plugin("incidents.wasm", "the built-in plugin", |p| p.status == Status::Active).await;
    let releases = harness.dir.path().join("releases");
    std::fs::create_dir_all(&releases).unwrap();
    std::fs::write(releases.join("v2.wasm"), MISBEHAVING_WASM).unwrap();
    // `ln -sfn` done atomically: a new link renamed over the file.
    let link = harness.plugin_path(".incidents.link");
    std::os::unix::fs::symlink(releases.join("v2.wasm"), &link).unwrap();
    std::fs::rename(&link, harness.plugin_path("incidents.wasm")).unwrap();
    let new_version = version_of(MISBEHAVING_WASM);
    harness
        .wait_for_plugin("incidents.wasm", "the linked version", |p| p.version.as_deref() == Some(&new_version))
        .await;
    harness.more_events(5).await;
    harness.account_for_everything(&BOTH).await;
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_swaps_under_load_lose_nothing_and_end_on_the_last_version() {
    let harness = Harness::start(json!({"incidents": incidents_resource()}), "").await;
    harness.wait_for_plugin("incidents.wasm", "the built-in plugin", |p| p.status == Status::Active).await;
    let path = harness.plugin_path("incidents.wasm");
    let control = SimControl::new(&harness.sim);
    for swap in 0..100 {
        let bytes = if swap % 2 == 0 { MISBEHAVING_WASM } else { INCIDENTS_WASM };
        rename_into_place(&path, bytes);
        if swap % 10 == 0 {
            // A new ticket rather than a change to an old one: the churn may have deleted that.
            control.create("Tickets", json!({"title": format!("created at swap {swap}")})).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The hundredth swap put the incidents plugin back.
    let last = version_of(INCIDENTS_WASM);
    harness.wait_for_plugin("incidents.wasm", "the last version", |p| p.version.as_deref() == Some(&last)).await;
    harness.more_events(5).await;
    let per_version = harness.account_for_everything(&BOTH).await;
    assert!(per_version.len() == 2, "both versions mapped events: {per_version:?}");
    let reloads = harness.service().metrics().render();
    assert!(!reloads.contains("outcome=\"rejected\""), "no good file was refused:\n{reloads}");
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_changes_add_change_and_remove_instances_and_a_bad_one_is_refused_whole() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim =
        Simulator::start(SimConfig { listen: "127.0.0.1:0".parse().unwrap(), ..SimConfig::default() }).await.unwrap();
    let (first, second) = (Receiver::start().await, Receiver::start().await);
    let dir = tempfile::tempdir().unwrap();
    let interval = "refresh_interval_seconds = 0.2";
    let incidents = json!({"incidents": incidents_resource()});
    let acme = instance_toml("acme", &sim, &first.url(), incidents.clone(), json!({}), interval);
    let config = write_config(dir.path(), FAST_DELIVERY, std::slice::from_ref(&acme));
    let service = start(&config).await;
    let control = SimControl::new(&sim);
    control.patch("Tickets", 1, json!({"status": 5})).await;
    first.wait_for(WAIT, "acme's event", |events| !events.is_empty()).await;

    // Added: a second instance with its own receiver, polling contacts too.
    let both = json!({"incidents": incidents_resource(), "contacts": resource("/hubs/helpdesk/contacts")});
    let std_plugin = dir.path().join("plugins/contacts.wasm");
    std::fs::write(&std_plugin, INCIDENTS_WASM).unwrap();
    // Its first poll reads from `since`: the contact changes right after the file
    // is written, before the reload has started the instance.
    let since = format!("{interval}\nsince = \"{}\"", chrono::Utc::now().to_rfc3339());
    let globex = instance_toml("globex", &sim, &second.url(), both, json!({}), &since);
    write_config(dir.path(), FAST_DELIVERY, &[acme.clone(), globex.clone()]);
    control.patch("Contacts", 2, json!({"title": "Buyer"})).await;
    second
        .wait_for(WAIT, "globex's contact event", |events| events.iter().any(|e| e["objectType"] == "contacts"))
        .await;

    // Refused whole: one bad instance among good ones changes nothing.
    let broken = instance_toml("broken", &sim, &second.url(), json!({"incidents": {"url": "/hubs/x"}}), json!({}), "");
    write_config(dir.path(), FAST_DELIVERY, &[acme.clone(), broken]);
    wait_for_metric(&service, "autotask_events_config_reloads_total{outcome=\"rejected\"} 1").await;
    control.patch("Tickets", 2, json!({"status": 8})).await;
    second.wait_for(WAIT, "globex still running", |events| events.iter().any(|e| e["objectId"] == "2")).await;

    // Changed and removed: acme now posts to the second receiver, globex is gone.
    let acme_moved = instance_toml("acme", &sim, &second.url(), incidents, json!({}), interval);
    write_config(dir.path(), FAST_DELIVERY, &[acme_moved]);
    wait_for_metric(&service, "autotask_events_config_reloads_total{outcome=\"applied\"} 2").await;
    let on_first = first.events().len();
    let on_second = second.events().len();
    control.patch("Tickets", 3, json!({"status": 8})).await;
    control.patch("Contacts", 4, json!({"title": "CEO"})).await;
    second.wait_for(WAIT, "acme on the second receiver", |events| events.iter().any(|e| e["objectId"] == "3")).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(first.events().len(), on_first, "acme no longer posts to the first receiver");
    let late = &second.events()[on_second..];
    assert!(late.iter().all(|e| e["objectType"] == "incidents"), "globex's contacts stopped: {late:?}");
    let plugins = service.plugins();
    let contacts = plugins.iter().find(|p| p.name == "contacts.wasm").unwrap();
    assert!(contacts.resources.is_empty(), "no instance uses contacts.wasm any more: {contacts:?}");
    service.stop().await;
}

/// Reading the configuration file (`cat`, a backup, the service's own reload)
/// is not a change: it reloads nothing. Before, the first read started a
/// reload whose own read of the file started the next, for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_the_configuration_file_reloads_nothing_and_a_write_reloads_it_once() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim =
        Simulator::start(SimConfig { listen: "127.0.0.1:0".parse().unwrap(), ..SimConfig::default() }).await.unwrap();
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let incidents = json!({"incidents": incidents_resource()});
    let acme = instance_toml("acme", &sim, &receiver.url(), incidents, json!({}), "refresh_interval_seconds = 60");
    let config = write_config(dir.path(), FAST_DELIVERY, std::slice::from_ref(&acme));
    let service = start(&config).await;
    let reloads = |service: &RunningService| {
        let text = service.metrics().render();
        text.lines()
            .filter(|line| line.starts_with("autotask_events_config_reloads_total"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };

    for _ in 0..3 {
        std::fs::read_to_string(&config).unwrap();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(reloads(&service), Vec::<String>::new(), "reading the file is not a change");

    write_config(dir.path(), FAST_DELIVERY, &[acme]);
    wait_for_metric(&service, "autotask_events_config_reloads_total{outcome=\"applied\"} 1").await;
    // The reload read the file: that read starts no other reload.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(reloads(&service), vec!["autotask_events_config_reloads_total{outcome=\"applied\"} 1".to_owned()]);
    service.stop().await;
}

async fn wait_for_metric(service: &RunningService, line: &str) {
    let deadline = Instant::now() + WAIT;
    while !service.metrics().render().contains(line) {
        assert!(Instant::now() < deadline, "no `{line}` in:\n{}", service.metrics().render());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
