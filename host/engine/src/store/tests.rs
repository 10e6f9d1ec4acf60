use chrono::TimeDelta;

use super::*;

fn now() -> DateTime<Utc> {
    chrono::TimeZone::with_ymd_and_hms(&Utc, 2024, 6, 1, 12, 0, 0).single().expect("a valid date")
}

fn message(id: &str) -> NewMessage {
    NewMessage { message_id: id.into(), body: format!("{{\"id\":\"{id}\"}}"), event_count: 1, plugin_version: None }
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("state.db")).unwrap();
    (dir, store)
}

#[test]
fn a_poll_commits_its_messages_and_watermark_together_and_survives_reopening() {
    let (dir, store) = open();
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

    let store = Store::open(&dir.path().join("state.db")).unwrap();
    assert_eq!(store.watermark("acme", "incidents").unwrap(), Some(now()));
    assert_eq!(store.outbox_depth().unwrap(), 2);
    assert_eq!(store.next_pending("acme").unwrap().unwrap().message_id, "m1");
    assert_eq!(store.failed_records("acme").unwrap(), commit.failed);
    let keys =
        [("7".to_owned(), "2024-06-01T11:00:00.000Z".to_owned()), ("7".into(), "2024-06-01T12:00:00.000Z".into())];
    assert_eq!(store.seen("acme", "incidents", &keys).unwrap(), HashSet::from([0]), "a later change is new");
}

#[test]
fn a_failed_commit_leaves_neither_messages_nor_watermark() {
    let (dir, store) = open();
    store
        .commit_poll("acme", "incidents", &PollCommit { messages: vec![message("m1")], ..Default::default() }, now())
        .unwrap();
    // A trigger makes the insert of `boom` fail half-way through the transaction.
    rusqlite::Connection::open(dir.path().join("state.db"))
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER fail_boom BEFORE INSERT ON outbox WHEN NEW.message_id = 'boom'
             BEGIN SELECT RAISE(ABORT, 'boom'); END;",
        )
        .unwrap();
    let commit =
        PollCommit { messages: vec![message("m2"), message("boom")], watermark: Some(now()), ..Default::default() };
    assert!(store.commit_poll("acme", "incidents", &commit, now()).is_err());
    assert_eq!(store.outbox_depth().unwrap(), 1, "m2 was rolled back");
    assert_eq!(store.watermark("acme", "incidents").unwrap(), None, "the watermark did not move");
}

#[test]
fn the_deletion_logs_watermark_moves_only_with_its_poll_and_apart_from_the_records() {
    let (dir, store) = open();
    let deletions = deletions_watermark_key("incidents");
    let commit = PollCommit { watermark: Some(now()), ..PollCommit::default() };
    store.commit_poll("acme", "incidents", &commit, now()).unwrap();
    assert_eq!(store.watermark("acme", &deletions).unwrap(), None, "a poll that did not read the log leaves it");

    let later = now() + TimeDelta::minutes(5);
    rusqlite::Connection::open(dir.path().join("state.db"))
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER fail_boom BEFORE INSERT ON outbox WHEN NEW.message_id = 'boom'
             BEGIN SELECT RAISE(ABORT, 'boom'); END;",
        )
        .unwrap();
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

#[test]
fn delivery_works_the_outbox_in_order_with_retries_and_dead_letters() {
    let (_dir, store) = open();
    let commit = PollCommit { messages: vec![message("m1"), message("m2")], ..Default::default() };
    store.commit_poll("acme", "incidents", &commit, now()).unwrap();
    store
        .commit_poll("other", "incidents", &PollCommit { messages: vec![message("o1")], ..Default::default() }, now())
        .unwrap();

    let first = store.next_pending("acme").unwrap().unwrap();
    store.schedule_retry(first.seq, "HTTP 500", now() + TimeDelta::seconds(4)).unwrap();
    let again = store.next_pending("acme").unwrap().unwrap();
    assert_eq!((again.message_id.as_str(), again.attempts), ("m1", 1), "a failing message holds its place");
    assert_eq!(again.next_attempt_at, now() + TimeDelta::seconds(4));

    store.dead_letter(first.seq, "gave up").unwrap();
    assert_eq!(store.next_pending("acme").unwrap().unwrap().message_id, "m2");
    store.mark_delivered(store.next_pending("acme").unwrap().unwrap().seq, now()).unwrap();
    assert_eq!(store.next_pending("acme").unwrap(), None);
    assert_eq!(store.next_pending("other").unwrap().unwrap().message_id, "o1", "instances are separate");

    assert_eq!(store.replay_dead("acme", now()).unwrap(), 1);
    let replayed = store.next_pending("acme").unwrap().unwrap();
    assert_eq!((replayed.message_id.as_str(), replayed.attempts), ("m1", 0));
}

#[test]
fn instances_keep_their_first_creation_time() {
    let (_dir, store) = open();
    assert_eq!(store.instance_created_at("acme", "Acme", now()).unwrap(), now());
    let later = now() + TimeDelta::hours(1);
    assert_eq!(store.instance_created_at("acme", "Acme renamed", later).unwrap(), now());
}

#[test]
fn old_seen_keys_are_pruned() {
    let (_dir, store) = open();
    let commit = PollCommit { seen: vec![("1".into(), "u".into())], ..Default::default() };
    store.commit_poll("acme", "incidents", &commit, now()).unwrap();
    assert_eq!(store.prune_seen(now()).unwrap(), 0);
    assert_eq!(store.prune_seen(now() + TimeDelta::seconds(1)).unwrap(), 1);
}

#[test]
fn reopening_does_not_rerun_migrations_and_a_newer_schema_is_refused() {
    let (dir, store) = open();
    drop(store);
    let path = dir.path().join("state.db");
    Store::open(&path).unwrap();
    let connection = Connection::open(&path).unwrap();
    let version: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0)).unwrap();
    assert_eq!(version as usize, migrations::VERSION);
    connection.pragma_update(None, "user_version", 99).unwrap();
    drop(connection);
    let error = Store::open(&path).err().unwrap().to_string();
    assert!(error.contains("newer than this build"), "{error}");
}

#[test]
fn the_same_message_twice_is_kept_once() {
    let (_dir, store) = open();
    let commit = PollCommit { messages: vec![message("m1"), message("m1"), message("m2")], ..Default::default() };
    store.commit_poll("acme", "incidents", &commit, now()).unwrap();
    let pending = store.pending("acme", 10).unwrap();
    assert_eq!(pending.iter().map(|m| m.message_id.as_str()).collect::<Vec<_>>(), ["m1", "m2"]);
    assert_eq!(pending[0].body, "{\"id\":\"m1\"}");
}

#[test]
fn delivered_messages_are_pruned_by_age_and_pending_ones_never() {
    let (_dir, store) = open();
    let commit = PollCommit { messages: vec![message("m1"), message("m2")], ..Default::default() };
    store.commit_poll("acme", "incidents", &commit, now()).unwrap();
    let first = store.next_pending("acme").unwrap().unwrap();
    store.mark_delivered(first.seq, now()).unwrap();
    assert_eq!(store.prune_delivered(now()).unwrap(), 0, "not older than the cut-off");
    assert_eq!(store.prune_delivered(now() + TimeDelta::days(8)).unwrap(), 1);
    assert!(store.recent_messages("acme", None, 10).unwrap().iter().all(|m| m.message_id == "m2"));
    assert_eq!(store.next_pending("acme").unwrap().unwrap().message_id, "m2");
}

#[test]
fn failed_records_can_be_asked_for_again_and_go_when_replayed() {
    let (_dir, store) = open();
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

#[test]
fn a_version_1_database_is_migrated_with_its_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection.execute_batch(migrations::STEPS[0]).unwrap();
        connection
            .execute_batch(
                "INSERT INTO outbox (instance_id, resource, message_id, body, event_count, created_at, next_attempt_at)
                 VALUES ('acme', 'incidents', 'old', '{\"old\":true}', 1,
                         '2024-06-01T12:00:00.000Z', '2024-06-01T12:00:00.000Z');
                 PRAGMA user_version = 1;",
            )
            .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let message = store.next_pending("acme").unwrap().unwrap();
    assert_eq!((message.message_id.as_str(), message.body.as_str()), ("old", "{\"old\":true}"));
}

#[test]
fn seen_since_loads_the_keys_a_window_can_read_again() {
    let (_dir, store) = open();
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

#[test]
fn event_counts_split_a_day_of_messages_by_where_they_stand() {
    let (_dir, store) = open();
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
    store.schedule_retry(seq("retrying"), "503", now()).unwrap();
    store.dead_letter(seq("dead"), "503").unwrap();

    let counts = store.event_counts_since("acme", now() - TimeDelta::hours(24)).unwrap();
    assert_eq!(counts, EventCounts { delivered: 3, pending: 3, failed: 6 }, "the 25-hour-old message is not counted");
    assert_eq!(store.event_counts_since("nobody", now()).unwrap(), EventCounts::default());
}

#[test]
fn api_instances_from_before_users_belong_to_the_legacy_admin() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection.execute_batch(&migrations::STEPS[..4].join("\n")).unwrap();
        connection
            .execute_batch(
                "INSERT INTO api_instances (token, body, created_at, updated_at)
                 VALUES ('t', '{}', '2024-06-01T12:00:00.000Z', '2024-06-01T12:00:00.000Z');
                 PRAGMA user_version = 4;",
            )
            .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.api_instances().unwrap()[0].owner, crate::config::LEGACY_USER);
    let id = store.insert_api_instance("alice", "t2", "{}", false, now()).unwrap();
    assert_eq!(store.api_instance(id).unwrap().unwrap().owner, "alice");
}

#[test]
fn pending_messages_can_be_read_past_the_ones_delivered_and_not_yet_marked() {
    let (_dir, store) = open();
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

/// The log is copied into the database file by the store's own thread, once a
/// commit made it long: no commit copies it (SQLite's automatic checkpoint is
/// off), yet the file fills.
#[test]
fn the_log_is_copied_into_the_database_file_in_the_background() {
    let (dir, store) = open();
    let file = dir.path().join("state.db");
    let page_size: i64 = store.lock().pragma_query_value(None, "page_size", |row| row.get(0)).unwrap();
    assert_eq!(page_size, 16384, "a new file has 16 KB pages");
    let before = std::fs::metadata(&file).unwrap().len();
    // Incompressible bodies, so the bytes written are the bytes sent.
    let noise = |seed: u64| {
        let mut state = seed + 1;
        let mut next = move || {
            // xorshift64: no run repeats, so LZ4 finds nothing to shorten.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'a' + (state % 26) as u8)
        };
        (0..20_000).map(|_| next()).collect::<String>()
    };
    // 20 KB each, past the log length that asks for a checkpoint (16 KB pages).
    let count = checkpoint::PAGES as u64 * 16 / 20 + 50;
    let messages = (0..count).map(|i| NewMessage { body: noise(i), ..message(&format!("m{i}")) }).collect();
    store.commit_poll("acme", "incidents", &PollCommit { messages, ..Default::default() }, now()).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let grown = std::fs::metadata(&file).unwrap().len() - before;
        if grown > 16_000_000 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the database file grew by only {grown} bytes in 10 s");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
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

#[test]
fn a_callout_is_stored_once_and_leaves_with_the_commit_of_its_events() {
    let (dir, store) = open();
    assert!(store.store_callout("acme", "incidents", &callout("guid:1", "7"), now()).unwrap());
    assert!(
        !store.store_callout("acme", "incidents", &callout("guid:1", "7"), now()).unwrap(),
        "the same callout again"
    );
    assert!(store.store_callout("acme", "incidents", &callout("guid:2", "8"), now()).unwrap());
    assert!(store.store_callout("acme", "contacts", &callout("guid:1", "9"), now()).unwrap(), "another resource's");
    drop(store);

    // Stored before it was answered: still there after a restart, oldest first.
    let store = Store::open(&dir.path().join("state.db")).unwrap();
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

#[test]
fn a_resources_webhook_is_kept_replaced_and_forgotten_with_its_callouts() {
    let (_dir, store) = open();
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
