//! The store's behaviour, the same against both backends: each test is a
//! function of a [`Fixture`], run by [`both_backends!`] once against SQLite
//! (a file in a temporary directory) and once against PostgreSQL (a database
//! of its own on the server `AUTOTASK_EVENTS_TEST_POSTGRES` names; ignored
//! unless asked for with `--ignored`, and failing, not passing, without it).
//! Tests of one backend's internals are in `sqlite::tests` and `postgres::tests`.

use std::sync::atomic::{AtomicU32, Ordering};

use chrono::TimeDelta;

use super::*;

pub(super) fn now() -> DateTime<Utc> {
    chrono::TimeZone::with_ymd_and_hms(&Utc, 2024, 6, 1, 12, 0, 0).single().expect("a valid date")
}

pub(super) fn message(id: &str) -> NewMessage {
    NewMessage {
        message_id: id.into(),
        body: format!("{{\"id\":\"{id}\"}}"),
        event_count: 1,
        plugin_version: None,
        keys: Default::default(),
    }
}

/// A backend to test against: a store that, opened again, is in the same state.
pub(super) trait Fixture {
    /// The store, opened (again).
    fn open(&self) -> Store;

    /// Makes the outbox refuse message `message_id`: a commit with it fails half-way through.
    fn refuse_message(&self, message_id: &str);
}

/// A SQLite file in a temporary directory of its own.
pub(super) struct SqliteFixture(tempfile::TempDir);

impl SqliteFixture {
    pub(super) fn new() -> SqliteFixture {
        SqliteFixture(tempfile::tempdir().unwrap())
    }

    pub(super) fn path(&self) -> std::path::PathBuf {
        self.0.path().join("state.db")
    }
}

impl Fixture for SqliteFixture {
    fn open(&self) -> Store {
        Store::open(&self.path()).unwrap()
    }

    fn refuse_message(&self, message_id: &str) {
        rusqlite::Connection::open(self.path())
            .unwrap()
            .execute_batch(&format!(
                "CREATE TRIGGER fail_boom BEFORE INSERT ON outbox WHEN NEW.message_id = '{message_id}'
                 BEGIN SELECT RAISE(ABORT, 'boom'); END;"
            ))
            .unwrap();
    }
}

/// The PostgreSQL server the tests create their databases on.
pub(super) const POSTGRES_VARIABLE: &str = "AUTOTASK_EVENTS_TEST_POSTGRES";

/// A PostgreSQL database of its own, created on the server [`POSTGRES_VARIABLE`]
/// names and dropped (its connections closed) with the fixture.
pub(super) struct PgFixture {
    server: String,
    pub(super) database: String,
    pub(super) url: String,
}

impl PgFixture {
    pub(super) fn new() -> PgFixture {
        let server = std::env::var(POSTGRES_VARIABLE).unwrap_or_else(|_| {
            panic!(
                "the PostgreSQL tests need a server: set {POSTGRES_VARIABLE} to the URL of one where they may \
                 create databases (postgres://postgres@127.0.0.1:54329/postgres; tests/postgres/start starts one)"
            )
        });
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let database =
            format!("autotask_events_test_{}_{}_{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let fixture = PgFixture { url: with_database(&server, &database), server, database };
        fixture.admin().batch_execute(&format!("CREATE DATABASE {}", fixture.database)).unwrap();
        fixture
    }

    /// A connection to the server's own database (not the test's).
    fn admin(&self) -> ::postgres::Client {
        ::postgres::Client::connect(&self.server, ::postgres::NoTls)
            .unwrap_or_else(|error| panic!("cannot connect to {POSTGRES_VARIABLE}: {error}"))
    }

    /// A connection to the test's database, around the store.
    pub(super) fn client(&self) -> ::postgres::Client {
        ::postgres::Client::connect(&self.url, ::postgres::NoTls).unwrap()
    }
}

/// `url` with its database replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(base, query)| (base, Some(query)));
    let authority = base.find("://").map_or(0, |scheme| scheme + 3);
    let server = base[authority..].find('/').map_or(base, |path| &base[..authority + path]);
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

impl Fixture for PgFixture {
    fn open(&self) -> Store {
        Store::connect(&self.url).unwrap()
    }

    fn refuse_message(&self, message_id: &str) {
        self.client()
            .batch_execute(&format!(
                "CREATE FUNCTION fail_boom() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN
                     IF NEW.message_id = '{message_id}' THEN RAISE EXCEPTION 'boom'; END IF;
                     RETURN NEW;
                 END $$;
                 CREATE TRIGGER fail_boom BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION fail_boom();"
            ))
            .unwrap();
    }
}

impl Drop for PgFixture {
    fn drop(&mut self) {
        let dropped = ::postgres::Client::connect(&self.server, ::postgres::NoTls).and_then(|mut admin| {
            admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database))
        });
        if let Err(error) = dropped {
            eprintln!("cannot drop the test database {}: {error}", self.database);
        }
    }
}

/// For each `fn name(fixture: &dyn Fixture)`, a test `sqlite::name` and a
/// test `postgres::name`, ignored unless asked for: it needs a server.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name(&super::SqliteFixture::new())
                }
            )*
        }

        mod postgres {
            $(
                #[test]
                #[ignore = "needs PostgreSQL: set AUTOTASK_EVENTS_TEST_POSTGRES (tests/run starts one)"]
                fn $name() {
                    super::$name(&super::PgFixture::new())
                }
            )*
        }
    };
}

both_backends!(
    a_poll_commits_its_messages_and_watermark_together_and_survives_reopening,
    a_failed_commit_leaves_neither_messages_nor_watermark,
    the_deletion_logs_watermark_moves_only_with_its_poll_and_apart_from_the_records,
    delivery_works_the_outbox_in_order_with_retries_and_dead_letters,
    a_replay_returns_its_messages_and_their_outcomes_are_counted_exactly,
    instances_keep_their_first_creation_time,
    old_seen_keys_are_pruned,
    the_same_message_twice_is_kept_once,
    delivered_messages_are_pruned_by_age_and_pending_ones_never,
    failed_records_can_be_asked_for_again_and_go_when_replayed,
    seen_since_loads_the_keys_a_window_can_read_again,
    event_counts_split_a_day_of_messages_by_where_they_stand,
    delivered_since_counts_the_messages_delivered_from_then_on,
    pending_messages_can_be_read_past_the_ones_delivered_and_not_yet_marked,
    a_callout_is_stored_once_and_leaves_with_the_commit_of_its_events,
    a_resources_webhook_is_kept_replaced_and_forgotten_with_its_callouts,
    uploaded_plugins_are_numbered_versions_and_the_same_bytes_are_one_version,
    activating_a_version_switches_its_resources_plugin_and_survives_reopening,
    messages_are_found_by_object_id_event_type_resource_time_and_status,
    every_attempt_is_recorded_with_its_outcome_and_goes_with_its_message,
    a_delivered_message_can_be_redelivered_and_comes_first,
    delivery_minutes_count_events_and_latency_buckets_per_minute,
);

fn a_poll_commits_its_messages_and_watermark_together_and_survives_reopening(fixture: &dyn Fixture) {
    let store = fixture.open();
    assert_eq!(store.watermark("acme", "incidents").unwrap(), None);
    let commit = PollCommit {
        messages: vec![message("m1"), message("m2")],
        seen: vec![("7".into(), "2024-06-01T11:00:00.000Z".into())],
        failed: vec![FailedRecord { object_id: Some("9".into()), record: "{}".into(), error: "bad".into() }],
        watermark: Some(now()),
        ..PollCommit::default()
    };
    store.commit_poll("acme", "incidents", &commit, now()).unwrap();
    drop(store);

    let store = fixture.open();
    assert_eq!(store.watermark("acme", "incidents").unwrap(), Some(now()));
    assert_eq!(store.outbox_depth().unwrap(), 2);
    assert_eq!(store.next_pending("acme").unwrap().unwrap().message_id, "m1");
    assert_eq!(store.failed_records("acme").unwrap(), commit.failed);
    let keys =
        [("7".to_owned(), "2024-06-01T11:00:00.000Z".to_owned()), ("7".into(), "2024-06-01T12:00:00.000Z".into())];
    assert_eq!(store.seen("acme", "incidents", &keys).unwrap(), HashSet::from([0]), "a later change is new");
}

fn a_failed_commit_leaves_neither_messages_nor_watermark(fixture: &dyn Fixture) {
    let store = fixture.open();
    store
        .commit_poll("acme", "incidents", &PollCommit { messages: vec![message("m1")], ..Default::default() }, now())
        .unwrap();
    // A trigger makes the insert of `boom` fail half-way through the transaction.
    fixture.refuse_message("boom");
    let commit =
        PollCommit { messages: vec![message("m2"), message("boom")], watermark: Some(now()), ..Default::default() };
    assert!(store.commit_poll("acme", "incidents", &commit, now()).is_err());
    assert_eq!(store.outbox_depth().unwrap(), 1, "m2 was rolled back");
    assert_eq!(store.watermark("acme", "incidents").unwrap(), None, "the watermark did not move");
}

fn the_deletion_logs_watermark_moves_only_with_its_poll_and_apart_from_the_records(fixture: &dyn Fixture) {
    let store = fixture.open();
    let deletions = deletions_watermark_key("incidents");
    let commit = PollCommit { watermark: Some(now()), ..PollCommit::default() };
    store.commit_poll("acme", "incidents", &commit, now()).unwrap();
    assert_eq!(store.watermark("acme", &deletions).unwrap(), None, "a poll that did not read the log leaves it");

    let later = now() + TimeDelta::minutes(5);
    fixture.refuse_message("boom");
    let failing = PollCommit {
        messages: vec![message("deleted"), message("boom")],
        watermark: Some(later),
        deletions_watermark: Some(later),
        ..PollCommit::default()
    };
    assert!(store.commit_poll("acme", "incidents", &failing, later).is_err());
    assert_eq!(store.watermark("acme", &deletions).unwrap(), None, "rolled back with the events it read");

    let commit =
        PollCommit { messages: vec![message("deleted")], deletions_watermark: Some(later), ..PollCommit::default() };
    store.commit_poll("acme", "incidents", &commit, later).unwrap();
    assert_eq!(store.watermark("acme", &deletions).unwrap(), Some(later));
    assert_eq!(store.watermark("acme", "incidents").unwrap(), Some(now()), "the records' watermark is its own");
}

fn delivery_works_the_outbox_in_order_with_retries_and_dead_letters(fixture: &dyn Fixture) {
    let store = fixture.open();
    let commit = PollCommit { messages: vec![message("m1"), message("m2")], ..Default::default() };
    store.commit_poll("acme", "incidents", &commit, now()).unwrap();
    store
        .commit_poll("other", "incidents", &PollCommit { messages: vec![message("o1")], ..Default::default() }, now())
        .unwrap();

    let first = store.next_pending("acme").unwrap().unwrap();
    store
        .schedule_retry(&NewAttempt::failed(first.seq, now(), "HTTP 500"), now() + TimeDelta::seconds(4), None)
        .unwrap();
    let again = store.next_pending("acme").unwrap().unwrap();
    assert_eq!((again.message_id.as_str(), again.attempts), ("m1", 1), "a failing message holds its place");
    assert_eq!(again.next_attempt_at, now() + TimeDelta::seconds(4));

    store.dead_letter(&NewAttempt::failed(first.seq, now(), "gave up"), None).unwrap();
    assert_eq!(store.next_pending("acme").unwrap().unwrap().message_id, "m2");
    store.mark_delivered(store.next_pending("acme").unwrap().unwrap().seq, now()).unwrap();
    assert_eq!(store.next_pending("acme").unwrap(), None);
    assert_eq!(store.next_pending("other").unwrap().unwrap().message_id, "o1", "instances are separate");

    assert_eq!(store.replay_dead("acme", now()).unwrap(), [first.seq]);
    let replayed = store.next_pending("acme").unwrap().unwrap();
    assert_eq!((replayed.message_id.as_str(), replayed.attempts), ("m1", 0));
}

fn a_replay_returns_its_messages_and_their_outcomes_are_counted_exactly(fixture: &dyn Fixture) {
    let store = fixture.open();
    let commit = PollCommit { messages: vec![message("m1"), message("m2"), message("m3")], ..Default::default() };
    store.commit_poll("acme", "incidents", &commit, now()).unwrap();
    store
        .commit_poll("other", "incidents", &PollCommit { messages: vec![message("o1")], ..Default::default() }, now())
        .unwrap();
    let [m1, m2, m3] = ["m1", "m2", "m3"].map(|id| store.message_by_id("acme", id).unwrap().unwrap().seq);
    let o1 = store.message_by_id("other", "o1").unwrap().unwrap().seq;
    store.dead_letter(&NewAttempt::failed(m1, now(), "gave up"), None).unwrap();
    store.dead_letter(&NewAttempt::failed(m2, now(), "gave up"), None).unwrap();
    store.dead_letter(&NewAttempt::failed(o1, now(), "gave up"), None).unwrap();

    let replayed = store.replay_dead("acme", now()).unwrap();
    assert_eq!(replayed, [m1, m2], "this instance's dead letters, in order");
    assert_eq!(store.outcomes(&replayed).unwrap(), Outcomes { delivered: 0, pending: 2, dead: 0 });
    store.mark_delivered(m1, now()).unwrap();
    store.dead_letter(&NewAttempt::failed(m2, now(), "gave up again"), None).unwrap();
    assert_eq!(store.outcomes(&replayed).unwrap(), Outcomes { delivered: 1, pending: 0, dead: 1 });
    // Only the messages asked about: m3 is pending and o1 dead, but neither was replayed.
    assert_eq!(store.outcomes(&[m3, o1, 999_999]).unwrap(), Outcomes { delivered: 0, pending: 1, dead: 1 });
    assert_eq!(store.outcomes(&[]).unwrap(), Outcomes::default());
    assert_eq!(store.replay_dead("acme", now()).unwrap(), [m2]);
}

fn instances_keep_their_first_creation_time(fixture: &dyn Fixture) {
    let store = fixture.open();
    assert_eq!(store.instance_created_at("acme", "Acme", now()).unwrap(), now());
    let later = now() + TimeDelta::hours(1);
    assert_eq!(store.instance_created_at("acme", "Acme renamed", later).unwrap(), now());
}

fn old_seen_keys_are_pruned(fixture: &dyn Fixture) {
    let store = fixture.open();
    let commit = PollCommit { seen: vec![("1".into(), "u".into())], ..Default::default() };
    store.commit_poll("acme", "incidents", &commit, now()).unwrap();
    assert_eq!(store.prune_seen(now()).unwrap(), 0);
    assert_eq!(store.prune_seen(now() + TimeDelta::seconds(1)).unwrap(), 1);
}

fn the_same_message_twice_is_kept_once(fixture: &dyn Fixture) {
    let store = fixture.open();
    let commit = PollCommit { messages: vec![message("m1"), message("m1"), message("m2")], ..Default::default() };
    store.commit_poll("acme", "incidents", &commit, now()).unwrap();
    let pending = store.pending("acme", 10).unwrap();
    assert_eq!(pending.iter().map(|m| m.message_id.as_str()).collect::<Vec<_>>(), ["m1", "m2"]);
    assert_eq!(pending[0].body, "{\"id\":\"m1\"}");
}

fn delivered_messages_are_pruned_by_age_and_pending_ones_never(fixture: &dyn Fixture) {
    let store = fixture.open();
    let commit = PollCommit { messages: vec![message("m1"), message("m2")], ..Default::default() };
    store.commit_poll("acme", "incidents", &commit, now()).unwrap();
    let first = store.next_pending("acme").unwrap().unwrap();
    store.mark_delivered(first.seq, now()).unwrap();
    assert_eq!(store.prune_delivered(now()).unwrap(), 0, "not older than the cut-off");
    assert_eq!(store.prune_delivered(now() + TimeDelta::days(8)).unwrap(), 1);
    assert!(store.recent_messages("acme", None, 10).unwrap().iter().all(|m| m.message_id == "m2"));
    assert_eq!(store.next_pending("acme").unwrap().unwrap().message_id, "m2");
}

fn failed_records_can_be_asked_for_again_and_go_when_replayed(fixture: &dyn Fixture) {
    let store = fixture.open();
    let failed = FailedRecord { object_id: Some("9".into()), record: "{\"id\":9}".into(), error: "bad".into() };
    let commit = PollCommit { failed: vec![failed.clone()], ..Default::default() };
    store.commit_poll("acme", "incidents", &commit, now()).unwrap();
    assert!(store.failures("acme", Some("incidents"), true).unwrap().is_empty(), "not asked for yet");
    assert_eq!(store.request_failure_replay("acme").unwrap(), 1);
    let asked = store.failures("acme", Some("incidents"), true).unwrap();
    assert_eq!((asked.len(), asked[0].record.clone(), asked[0].replay_requested), (1, failed, true));
    let commit = PollCommit { replayed: vec![asked[0].id], ..Default::default() };
    store.commit_poll("acme", "incidents", &commit, now()).unwrap();
    assert!(store.failed_records("acme").unwrap().is_empty());
}

fn seen_since_loads_the_keys_a_window_can_read_again(fixture: &dyn Fixture) {
    let store = fixture.open();
    let seen = vec![
        ("1".into(), "2024-06-01T11:59:00.000Z".into()),
        ("2".into(), "2024-06-01T12:00:00.000Z".into()),
        ("3".into(), "2024-06-01T12:00:30.500Z".into()),
    ];
    store.commit_poll("acme", "incidents", &PollCommit { seen, ..Default::default() }, now()).unwrap();
    let keys = store.seen_since("acme", "incidents", "2024-06-01T12:00:00.000Z").unwrap();
    let mut ids: Vec<&str> = keys.iter().map(|(id, _)| id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["2", "3"]);
    assert!(store.seen_since("acme", "contacts", "2000-01-01T00:00:00.000Z").unwrap().is_empty());
}

fn event_counts_split_a_day_of_messages_by_where_they_stand(fixture: &dyn Fixture) {
    let store = fixture.open();
    let three = |id: &str| NewMessage { event_count: 3, ..message(id) };
    let old = PollCommit { messages: vec![three("old")], ..Default::default() };
    store.commit_poll("acme", "incidents", &old, now() - TimeDelta::hours(25)).unwrap();
    let recent = PollCommit {
        messages: vec![three("delivered"), three("pending"), three("retrying"), three("dead")],
        ..Default::default()
    };
    store.commit_poll("acme", "incidents", &recent, now()).unwrap();
    store
        .commit_poll("other", "incidents", &PollCommit { messages: vec![three("o")], ..Default::default() }, now())
        .unwrap();
    let seq = |id: &str| {
        store.recent_messages("acme", None, 10).unwrap().into_iter().find(|m| m.message_id == id).unwrap().seq
    };
    store.mark_delivered(seq("old"), now()).unwrap();
    store.mark_delivered(seq("delivered"), now()).unwrap();
    store.schedule_retry(&NewAttempt::failed(seq("retrying"), now(), "503"), now(), None).unwrap();
    store.dead_letter(&NewAttempt::failed(seq("dead"), now(), "503"), None).unwrap();

    let counts = store.event_counts_since("acme", now() - TimeDelta::hours(24)).unwrap();
    assert_eq!(counts, EventCounts { delivered: 3, pending: 3, failed: 6 }, "the 25-hour-old message is not counted");
    assert_eq!(store.event_counts_since("nobody", now()).unwrap(), EventCounts::default());
}

fn delivered_since_counts_the_messages_delivered_from_then_on(fixture: &dyn Fixture) {
    let store = fixture.open();
    let ids = ["early", "late", "later", "pending"];
    let commit = PollCommit { messages: ids.iter().map(|id| message(id)).collect(), ..Default::default() };
    store.commit_poll("acme", "incidents", &commit, now()).unwrap();
    store
        .commit_poll("other", "incidents", &PollCommit { messages: vec![message("o")], ..Default::default() }, now())
        .unwrap();
    let seq = |id: &str| {
        store.recent_messages("acme", None, 10).unwrap().into_iter().find(|m| m.message_id == id).unwrap().seq
    };
    let minute_ago = now() - TimeDelta::minutes(1);
    store.mark_delivered(seq("early"), minute_ago - TimeDelta::seconds(1)).unwrap();
    store.mark_delivered(seq("late"), minute_ago).unwrap();
    store.mark_delivered(seq("later"), now()).unwrap();
    let other = store.recent_messages("other", None, 1).unwrap()[0].seq;
    store.mark_delivered(other, now()).unwrap();
    assert_eq!(store.delivered_since("acme", minute_ago).unwrap(), 2, "from `since` on, this instance's only");
    assert_eq!(store.delivered_since("acme", now() + TimeDelta::seconds(1)).unwrap(), 0);
}

fn pending_messages_can_be_read_past_the_ones_delivered_and_not_yet_marked(fixture: &dyn Fixture) {
    let store = fixture.open();
    let messages = (1..=5).map(|i| message(&format!("m{i}"))).collect();
    store.commit_poll("acme", "incidents", &PollCommit { messages, ..Default::default() }, now()).unwrap();
    let all = store.pending("acme", 10).unwrap();
    let seqs: Vec<i64> = all.iter().map(|m| m.seq).collect();
    let ids = |messages: Vec<OutboxMessage>| messages.into_iter().map(|m| m.message_id).collect::<Vec<_>>();
    assert_eq!(ids(store.pending_except("acme", 10, &[seqs[0], seqs[2]]).unwrap()), ["m2", "m4", "m5"]);
    assert_eq!(
        ids(store.pending_except("acme", 2, &seqs[..3]).unwrap()),
        ["m4", "m5"],
        "the limit counts what is read"
    );
    assert_eq!(ids(store.pending_except("acme", 10, &[]).unwrap()), ids(all));
}

fn callout(key: &str, object_id: &str) -> NewCallout {
    NewCallout {
        key: key.into(),
        action: "Update".into(),
        object_id: object_id.into(),
        event_time: Some("2024-06-01T12:00:00Z".into()),
        body: format!("{{\"Id\":{object_id}}}"),
    }
}

fn a_callout_is_stored_once_and_leaves_with_the_commit_of_its_events(fixture: &dyn Fixture) {
    let store = fixture.open();
    assert!(store.store_callout("acme", "incidents", &callout("guid:1", "7"), now()).unwrap());
    assert!(
        !store.store_callout("acme", "incidents", &callout("guid:1", "7"), now()).unwrap(),
        "the same callout again"
    );
    assert!(store.store_callout("acme", "incidents", &callout("guid:2", "8"), now()).unwrap());
    assert!(store.store_callout("acme", "contacts", &callout("guid:1", "9"), now()).unwrap(), "another resource's");
    drop(store);

    // Stored before it was answered: still there after a restart, oldest first.
    let store = fixture.open();
    let pending = store.pending_callouts("acme", "incidents", 10).unwrap();
    let ids: Vec<&str> = pending.iter().map(|stored| stored.callout.object_id.as_str()).collect();
    assert_eq!(ids, ["7", "8"]);
    assert_eq!(pending[0].callout, callout("guid:1", "7"));
    let commit = PollCommit {
        messages: vec![message("pushed")],
        seen: vec![("7".into(), "2024-06-01T12:00:00.000Z".into())],
        callouts_done: vec![pending[0].id],
        ..PollCommit::default()
    };
    assert!(!commit.is_empty());
    store.commit_poll("acme", "incidents", &commit, now()).unwrap();
    let left: Vec<String> =
        store.pending_callouts("acme", "incidents", 10).unwrap().into_iter().map(|s| s.callout.object_id).collect();
    assert_eq!(left, ["8"]);
    assert_eq!(store.outbox_depth().unwrap(), 1);
}

fn a_resources_webhook_is_kept_replaced_and_forgotten_with_its_callouts(fixture: &dyn Fixture) {
    let store = fixture.open();
    assert_eq!(store.push_webhook("acme", "incidents").unwrap(), None);
    let webhook = StoredWebhook {
        webhook_entity: "TicketWebhooks".into(),
        webhook_id: 3,
        guid: "g-3".into(),
        secret: "hush-hush".into(),
        url: "https://events.example.com/hooks/autotask/acme/incidents".into(),
    };
    assert!(!format!("{webhook:?}").contains("hush-hush"), "never shown, even in a debug line");
    store.save_push_webhook("acme", "incidents", &webhook, now()).unwrap();
    let replaced = StoredWebhook { webhook_id: 4, guid: "g-4".into(), ..webhook };
    store.save_push_webhook("acme", "incidents", &replaced, now()).unwrap();
    assert_eq!(store.push_webhook("acme", "incidents").unwrap(), Some(replaced));
    store.store_callout("acme", "incidents", &callout("g-4:1", "7"), now()).unwrap();
    store.forget_push_webhook("acme", "incidents").unwrap();
    assert_eq!(store.push_webhook("acme", "incidents").unwrap(), None);
    assert!(store.pending_callouts("acme", "incidents", 10).unwrap().is_empty());
}

fn sha(bytes: &[u8]) -> String {
    plugin_runtime::version_of(bytes)
}

/// `(version, active)` of each version of `name`, newest first.
fn versions(store: &Store, name: &str) -> Vec<(i64, bool)> {
    store.plugin_versions(name).unwrap().iter().map(|version| (version.version, version.active)).collect()
}

fn uploaded_plugins_are_numbered_versions_and_the_same_bytes_are_one_version(fixture: &dyn Fixture) {
    let store = fixture.open();
    assert!(store.plugin_versions("incidents.js").unwrap().is_empty());
    assert!(store.active_plugins().unwrap().is_empty());
    let (one, two) = (b"exports.mapRecord = () => 1;".as_slice(), b"exports.mapRecord = () => 2;".as_slice());

    let (first, created) = store.save_plugin_version("incidents.js", one, &sha(one), "ops", now()).unwrap();
    assert!(created);
    assert_eq!((first.version, first.size, first.active), (1, one.len() as u64, true));
    assert_eq!(
        (first.sha256.as_str(), first.uploaded_by.as_str(), first.uploaded_at),
        (sha(one).as_str(), "ops", now())
    );
    let later = now() + TimeDelta::minutes(5);
    let (second, created) = store.save_plugin_version("incidents.js", two, &sha(two), "admin", later).unwrap();
    assert!(created);
    assert_eq!((second.version, second.uploaded_by.as_str(), second.uploaded_at), (2, "admin", later));
    assert_eq!(versions(&store, "incidents.js"), [(2, true), (1, false)], "newest first, one active");

    // The first bytes again: version 1 serves again, and no row is added.
    let (again, created) = store.save_plugin_version("incidents.js", one, &sha(one), "someone", later).unwrap();
    assert!(!created);
    assert_eq!(again, PluginVersion { active: true, ..first });
    assert_eq!(versions(&store, "incidents.js"), [(2, false), (1, true)]);

    // Another name counts from 1; the bytes read back are the bytes stored.
    let (other, _) = store.save_plugin_version("contacts.py", two, &sha(two), "ops", now()).unwrap();
    assert_eq!(other.version, 1);
    assert_eq!(store.plugin_bytes("incidents.js", 1).unwrap().as_deref(), Some(one));
    assert_eq!(store.plugin_bytes("incidents.js", 2).unwrap().as_deref(), Some(two));
    assert_eq!(store.plugin_bytes("incidents.js", 3).unwrap(), None);
    let active = store.active_plugins().unwrap();
    assert_eq!(
        active,
        [
            ActivePlugin { name: "contacts.py".into(), version: 1, sha256: sha(two) },
            ActivePlugin { name: "incidents.js".into(), version: 1, sha256: sha(one) },
        ]
    );
}

fn activating_a_version_switches_its_resources_plugin_and_survives_reopening(fixture: &dyn Fixture) {
    let store = fixture.open();
    let (one, two) = (b"\0asm one".as_slice(), b"\0asm two".as_slice());
    store.save_plugin_version("incidents.wasm", one, &sha(one), "ops", now()).unwrap();
    store.save_plugin_version("incidents.wasm", two, &sha(two), "ops", now()).unwrap();
    assert_eq!(store.activate_plugin_version("incidents.wasm", 7, now()).unwrap(), None, "no such version");
    assert_eq!(versions(&store, "incidents.wasm"), [(2, true), (1, false)], "an unknown version changes nothing");

    let rolled_back = store.activate_plugin_version("incidents.wasm", 1, now()).unwrap().unwrap();
    assert_eq!((rolled_back.version, rolled_back.active, rolled_back.sha256), (1, true, sha(one)));
    assert_eq!(versions(&store, "incidents.wasm"), [(2, false), (1, true)]);

    // One plugin per resource: a script for incidents ends the component's activity.
    let script = b"exports.mapRecord = () => 1;".as_slice();
    store.save_plugin_version("incidents.js", script, &sha(script), "ops", now()).unwrap();
    assert_eq!(versions(&store, "incidents.wasm"), [(2, false), (1, false)]);
    let active = store.active_plugins().unwrap();
    assert_eq!(active, [ActivePlugin { name: "incidents.js".into(), version: 1, sha256: sha(script) }]);

    store.activate_plugin_version("incidents.wasm", 2, now()).unwrap().unwrap();
    drop(store);
    let store = fixture.open();
    let active = store.active_plugins().unwrap();
    assert_eq!(active, [ActivePlugin { name: "incidents.wasm".into(), version: 2, sha256: sha(two) }]);
    assert_eq!(versions(&store, "incidents.js"), [(1, false)]);
    assert_eq!(store.plugin_bytes("incidents.wasm", 2).unwrap().as_deref(), Some(two));
}

/// A message whose events are `(type, object id)`.
fn message_about(id: &str, events: &[(&str, &str)]) -> NewMessage {
    NewMessage { keys: EventKeys::of(events.iter().copied()), event_count: events.len(), ..message(id) }
}

fn messages_are_found_by_object_id_event_type_resource_time_and_status(fixture: &dyn Fixture) {
    let store = fixture.open();
    let earlier = now() - TimeDelta::hours(2);
    let commit = |resource: &str, at, messages| {
        store.commit_poll("acme", resource, &PollCommit { messages, ..Default::default() }, at).unwrap()
    };
    commit("incidents", earlier, vec![message_about("t1", &[("CREATED", "12"), ("UPDATED", "123")])]);
    commit("incidents", now(), vec![message_about("t2", &[("UPDATED", "12")])]);
    commit("companies", now(), vec![message_about("c1", &[("CREATED", "12")])]);
    store
        .commit_poll(
            "other",
            "incidents",
            &PollCommit { messages: vec![message_about("o1", &[("CREATED", "12")])], ..Default::default() },
            now(),
        )
        .unwrap();
    let ids = |search: MessageSearch| -> Vec<String> {
        store.search_messages("acme", &search, 10).unwrap().into_iter().map(|message| message.message_id).collect()
    };
    let object = |id: &str| MessageSearch { object_id: Some(id.into()), ..Default::default() };

    assert_eq!(ids(object("12")), ["c1", "t2", "t1"], "newest first, this instance only");
    assert_eq!(ids(object("123")), ["t1"], "an id is matched whole, not as a prefix");
    assert_eq!(ids(object("1")), Vec::<String>::new());
    assert_eq!(ids(MessageSearch { event_type: Some("CREATED".into()), ..object("12") }), ["c1", "t1"]);
    assert_eq!(ids(MessageSearch { resource: Some("incidents".into()), ..object("12") }), ["t2", "t1"]);
    assert_eq!(ids(MessageSearch { from: Some(now() - TimeDelta::hours(1)), ..object("12") }), ["c1", "t2"]);
    assert_eq!(ids(MessageSearch { to: Some(now() - TimeDelta::hours(1)), ..object("12") }), ["t1"]);

    let t1 = store.message_by_id("acme", "t1").unwrap().expect("t1 is acme's");
    assert_eq!(store.message_by_id("other", "t1").unwrap(), None, "another instance's message is not found");
    store.mark_delivered(t1.seq, now()).unwrap();
    let c1 = store.message_by_id("acme", "c1").unwrap().unwrap();
    store.schedule_retry(&NewAttempt::failed(c1.seq, now(), "HTTP 503"), now(), None).unwrap();
    let status = |status| ids(MessageSearch { status: Some(status), ..Default::default() });
    assert_eq!(status(StatusFilter::Delivered), ["t1"]);
    assert_eq!(status(StatusFilter::Pending), ["c1", "t2"]);
    assert_eq!(status(StatusFilter::Failed), ["c1"]);
}

fn every_attempt_is_recorded_with_its_outcome_and_goes_with_its_message(fixture: &dyn Fixture) {
    let store = fixture.open();
    store
        .commit_poll(
            "acme",
            "incidents",
            &PollCommit { messages: vec![message("m1"), message("m2")], ..Default::default() },
            now(),
        )
        .unwrap();
    let m1 = store.message_by_id("acme", "m1").unwrap().unwrap();
    let failed = NewAttempt {
        status: Some(503),
        latency_ms: 12.5,
        answer: "busy".into(),
        headers: r#"{"Elements-Webhook-Signature":"present"}"#.into(),
        host: Some("host-a".into()),
        ..NewAttempt::failed(m1.seq, now(), "the callback answered HTTP 503: busy")
    };
    store.schedule_retry(&failed, now(), None).unwrap();
    let accepted = NewAttempt {
        status: Some(200),
        latency_ms: 3.0,
        answer: "ok".into(),
        ..NewAttempt::at(m1.seq, now() + TimeDelta::seconds(1))
    };
    store.mark_all_delivered(std::slice::from_ref(&accepted), None).unwrap();

    let attempts = store.attempts(m1.seq).unwrap();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(
        (attempts[0].status, attempts[0].latency_ms, attempts[0].error.as_deref(), attempts[0].answer.as_str()),
        (Some(503), 12.5, Some("the callback answered HTTP 503: busy"), "busy")
    );
    assert_eq!(attempts[0].headers, failed.headers);
    assert_eq!(attempts[0].host.as_deref(), Some("host-a"));
    assert_eq!(
        (attempts[1].status, attempts[1].error.as_deref(), attempts[1].answer.as_str()),
        (Some(200), None, "ok")
    );
    assert_eq!(attempts[1].at, "2024-06-01T12:00:01.000Z");
    let m2 = store.message_by_id("acme", "m2").unwrap().unwrap();
    store.dead_letter(&NewAttempt::failed(m2.seq, now(), "gave up"), None).unwrap();
    assert_eq!(store.attempts(m2.seq).unwrap().len(), 1);

    // Pruned with its delivered message; a dead letter's stay.
    assert_eq!(store.prune_delivered(now() + TimeDelta::days(1)).unwrap(), 1);
    assert_eq!(store.attempts(m1.seq).unwrap(), Vec::new());
    assert_eq!(store.attempts(m2.seq).unwrap().len(), 1);
}

fn a_delivered_message_can_be_redelivered_and_comes_first(fixture: &dyn Fixture) {
    let store = fixture.open();
    store
        .commit_poll(
            "acme",
            "incidents",
            &PollCommit { messages: vec![message("m1"), message("m2")], ..Default::default() },
            now(),
        )
        .unwrap();
    store
        .commit_poll("other", "incidents", &PollCommit { messages: vec![message("o1")], ..Default::default() }, now())
        .unwrap();
    let m1 = store.message_by_id("acme", "m1").unwrap().unwrap();
    let o1 = store.message_by_id("other", "o1").unwrap().unwrap();
    store.mark_delivered(m1.seq, now()).unwrap();
    assert_eq!(store.next_pending("acme").unwrap().unwrap().message_id, "m2");

    assert_eq!(
        store.redeliver("acme", &[m1.seq, o1.seq], now()).unwrap(),
        1,
        "another instance's message is left alone"
    );
    let next = store.next_pending("acme").unwrap().unwrap();
    assert_eq!((next.message_id.as_str(), next.attempts), ("m1", 0), "sent again before the newer m2");
    let summary = store.message_by_id("acme", "m1").unwrap().unwrap();
    assert_eq!((summary.state.as_str(), summary.delivered_at), ("pending", None));
    assert_eq!(store.attempts(m1.seq).unwrap().len(), 1, "the first delivery stays in the history");
}

fn delivery_minutes_count_events_and_latency_buckets_per_minute(fixture: &dyn Fixture) {
    let store = fixture.open();
    let three_events = NewMessage { event_count: 3, ..message("m1") };
    let messages = vec![three_events, message("m2"), message("m3"), message("old")];
    store.commit_poll("acme", "incidents", &PollCommit { messages, ..Default::default() }, now()).unwrap();
    store
        .commit_poll("other", "incidents", &PollCommit { messages: vec![message("o1")], ..Default::default() }, now())
        .unwrap();
    let seq = |id: &str| store.message_by_id("acme", id).unwrap().unwrap().seq;
    let at = |seconds: i64| now() + TimeDelta::seconds(seconds);
    let attempt =
        |id: &str, seconds: i64, latency_ms: f64| NewAttempt { latency_ms, ..NewAttempt::at(seq(id), at(seconds)) };
    // 12:00: m1 (3 events) fails at 7 ms, then is delivered at 40 ms; m2 delivered at 40 ms too.
    store
        .schedule_retry(
            &NewAttempt { latency_ms: 7.0, ..NewAttempt::failed(seq("m1"), at(1), "HTTP 503") },
            at(1),
            None,
        )
        .unwrap();
    store.mark_all_delivered(&[attempt("m1", 20, 40.0), attempt("m2", 30, 40.0)], None).unwrap();
    // 12:01: m3 delivered in 20 s, slower than every bounded bucket.
    store.mark_all_delivered(&[attempt("m3", 61, 20_000.0)], None).unwrap();
    // Before the window: not counted.
    store.mark_all_delivered(&[attempt("old", -3600, 1.0)], None).unwrap();
    let o1 = store.message_by_id("other", "o1").unwrap().unwrap().seq;
    store.mark_all_delivered(&[NewAttempt::at(o1, at(5))], None).unwrap();

    let row = |minute: &str, bucket: usize, delivered_events, failed_events, delivered_attempts| DeliveryMinute {
        minute: minute.into(),
        bucket,
        delivered_events,
        failed_events,
        delivered_attempts,
    };
    assert_eq!(
        store.delivery_minutes("acme", now()).unwrap(),
        [
            row("2024-06-01T12:00", 1, 0, 3, 0),
            row("2024-06-01T12:00", 3, 4, 0, 2),
            row("2024-06-01T12:01", LATENCY_BUCKETS_MS.len(), 1, 0, 1),
        ]
    );
    assert_eq!(store.delivery_minutes("acme", at(60)).unwrap().len(), 1, "only the attempts since the time");
    assert_eq!(store.delivery_minutes("nobody", now()).unwrap(), Vec::new());
}
