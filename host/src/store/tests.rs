use chrono::TimeDelta;

use super::*;

fn now() -> DateTime<Utc> {
    crate::sample::sample_epoch()
}

fn message(id: &str) -> NewMessage {
    NewMessage { message_id: id.into(), body: format!("{{\"id\":\"{id}\"}}"), event_count: 1 }
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
    let (_dir, store) = open();
    store
        .commit_poll("acme", "incidents", &PollCommit { messages: vec![message("m1")], ..Default::default() }, now())
        .unwrap();
    // The same message id again violates UNIQUE half-way through the transaction.
    let commit =
        PollCommit { messages: vec![message("m2"), message("m1")], watermark: Some(now()), ..Default::default() };
    assert!(store.commit_poll("acme", "incidents", &commit, now()).is_err());
    assert_eq!(store.outbox_depth().unwrap(), 1, "m2 was rolled back");
    assert_eq!(store.watermark("acme", "incidents").unwrap(), None, "the watermark did not move");
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
