//! The PostgreSQL backend's own tests: its schema version, migrating from
//! several hosts at once, read-only databases, lost connections. Its
//! behaviour as a store is tested with SQLite's, in `store::tests`. Like
//! those, these need a server (`AUTOTASK_EVENTS_TEST_POSTGRES`) and run with `--ignored`.

use super::*;
use crate::store::tests::{PgFixture, message, now};

/// An error and its sources: PostgreSQL's own message is a source of `db error`.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

fn schema_versions(fixture: &PgFixture) -> Vec<i32> {
    let rows = fixture.client().query("SELECT version FROM schema_version", &[]).unwrap();
    rows.iter().map(|row| row.get(0)).collect()
}

#[test]
#[ignore = "needs PostgreSQL: set AUTOTASK_EVENTS_TEST_POSTGRES (tests/run starts one)"]
fn reconnecting_does_not_rerun_migrations_and_a_newer_schema_is_refused() {
    let fixture = PgFixture::new();
    drop(Store::connect(&fixture.url).unwrap());
    Store::connect(&fixture.url).unwrap();
    assert_eq!(schema_versions(&fixture), [migrations::VERSION as i32]);
    fixture.client().execute("UPDATE schema_version SET version = 99", &[]).unwrap();
    let error = Store::connect(&fixture.url).err().unwrap().to_string();
    assert!(error.contains("99, newer than this build's"), "{error}");
    assert!(error.contains(&format!("build's {}", migrations::VERSION)), "{error}");
}

/// The hosts of a fleet start at once: one migrates, under the advisory lock,
/// and the others find the schema up to date.
#[test]
#[ignore = "needs PostgreSQL: set AUTOTASK_EVENTS_TEST_POSTGRES (tests/run starts one)"]
fn hosts_connecting_at_once_migrate_once() {
    let fixture = PgFixture::new();
    let start = std::sync::Barrier::new(8);
    std::thread::scope(|threads| {
        let connecting: Vec<_> = (0..8)
            .map(|_| {
                threads.spawn(|| {
                    start.wait();
                    Store::connect(&fixture.url).map(drop)
                })
            })
            .collect();
        for connected in connecting {
            connected.join().unwrap().unwrap();
        }
    });
    assert_eq!(schema_versions(&fixture), [migrations::VERSION as i32]);
}

/// A database made read-only after it was migrated can still be connected to
/// and read, and `check_writable` says it cannot be written.
#[test]
#[ignore = "needs PostgreSQL: set AUTOTASK_EVENTS_TEST_POSTGRES (tests/run starts one)"]
fn a_read_only_database_is_read_and_not_writable() {
    let fixture = PgFixture::new();
    let writable = Store::connect(&fixture.url).unwrap();
    writable.check_writable().unwrap();
    let commit = PollCommit { messages: vec![message("m1")], watermark: Some(now()), ..PollCommit::default() };
    writable.commit_poll("acme", "incidents", &commit, now()).unwrap();
    fixture
        .client()
        .batch_execute(&format!("ALTER DATABASE {} SET default_transaction_read_only = on", fixture.database))
        .unwrap();
    let read_only = Store::connect(&fixture.url).unwrap();
    assert_eq!(read_only.outbox_depth().unwrap(), 1);
    let error = chain(&read_only.check_writable().expect_err("a read-only database is not writable"));
    assert!(error.contains("read-only transaction"), "{error}");
    assert!(read_only.commit_poll("acme", "incidents", &commit, now()).is_err());
}

/// A connection the server closed is opened again: at most the call that
/// found it closed fails.
#[test]
#[ignore = "needs PostgreSQL: set AUTOTASK_EVENTS_TEST_POSTGRES (tests/run starts one)"]
fn a_closed_connection_is_opened_again() {
    let fixture = PgFixture::new();
    let store = Store::connect(&fixture.url).unwrap();
    store
        .commit_poll("acme", "incidents", &PollCommit { messages: vec![message("m1")], ..Default::default() }, now())
        .unwrap();
    let closed: i64 = fixture
        .client()
        .query_one(
            // With a timeout, termination is waited for: the calls below meet closed connections, not dying ones.
            "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(closed, 2, "the store's writer and reader");
    let _ = store.outbox_depth();
    assert_eq!(store.outbox_depth().unwrap(), 1, "the reader, opened again");
    let _ = store.check_writable();
    store.check_writable().unwrap();
}

/// A `Client` closes itself with a runtime of its own: a store dropped on an
/// async thread (the service's, at shutdown) must not panic.
#[test]
#[ignore = "needs PostgreSQL: set AUTOTASK_EVENTS_TEST_POSTGRES (tests/run starts one)"]
fn a_store_can_be_dropped_on_an_async_thread() {
    let fixture = PgFixture::new();
    let store = Store::connect(&fixture.url).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async move { drop(store) });
}

/// A fleet: host `a` takes a lease; `b` cannot while it lives, takes it with
/// the next token once it has expired, and `a`'s renewal then finds it gone.
#[test]
#[ignore = "needs PostgreSQL: set AUTOTASK_EVENTS_TEST_POSTGRES (tests/run starts one)"]
fn postgres_a_lease_goes_to_one_host_at_a_time_with_a_new_token_each_time() {
    let fixture = PgFixture::new();
    let store = Store::connect(&fixture.url).unwrap();
    let leases = store.fleet().expect("PostgreSQL holds a fleet");
    let ttl = std::time::Duration::from_millis(300);
    let key = vec!["poll:acme/incidents".to_owned()];
    assert_eq!(leases.heartbeat("a", "127.0.0.1:1", ttl).unwrap(), ["a"]);
    assert_eq!(leases.heartbeat("b", "127.0.0.1:2", ttl).unwrap(), ["a", "b"]);
    leases.ensure_leases(&key).unwrap();
    leases.ensure_leases(&key).unwrap();
    assert_eq!(leases.acquire("a", &key, ttl).unwrap(), [(key[0].clone(), 1)]);
    assert!(leases.acquire("b", &key, ttl).unwrap().is_empty(), "held and not expired");
    assert_eq!(leases.holders(&key).unwrap(), [(key[0].clone(), "a".to_owned())]);
    assert_eq!(leases.renew("a", &[(key[0].clone(), 1)], ttl).unwrap(), [(key[0].clone(), 1)]);
    std::thread::sleep(ttl + std::time::Duration::from_millis(100));
    assert_eq!(leases.acquire("b", &key, ttl).unwrap(), [(key[0].clone(), 2)]);
    assert!(leases.renew("a", &[(key[0].clone(), 1)], ttl).unwrap().is_empty(), "a's lease was taken over");
    // b releases it: a takes it at once, and the takeover says it was released, not expired.
    leases.release("b", &[(key[0].clone(), 2)]).unwrap();
    assert_eq!(leases.acquire("a", &key, ttl).unwrap(), [(key[0].clone(), 3)]);
    leases.first_work(&key[0], 3, now()).unwrap();
    let status = leases.fleet_status(10).unwrap();
    let takeovers: Vec<(i64, &str, Option<&str>, bool)> = status
        .takeovers
        .iter()
        .map(|t| (t.token, t.host.as_str(), t.previous_holder.as_deref(), t.first_work_at.is_some()))
        .collect();
    assert_eq!(takeovers, [(3, "a", None, true), (2, "b", Some("a"), false), (1, "a", None, false)]);
    assert_eq!(status.hosts.iter().map(|h| h.host.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    leases.leave("a").unwrap();
    let status = leases.fleet_status(10).unwrap();
    assert_eq!(status.hosts.iter().map(|h| h.host.as_str()).collect::<Vec<_>>(), ["b"]);
    assert_eq!(status.leases[0].holder, None, "leaving releases what the host held");
}

/// A host paused past its lease wakes up and tries to commit its poll and
/// mark its deliveries under the old token: the database refuses all of it.
#[test]
#[ignore = "needs PostgreSQL: set AUTOTASK_EVENTS_TEST_POSTGRES (tests/run starts one)"]
fn postgres_writes_under_a_lease_taken_over_since_are_refused_and_store_nothing() {
    let fixture = PgFixture::new();
    let store = Store::connect(&fixture.url).unwrap();
    let leases = store.fleet().unwrap();
    let ttl = std::time::Duration::from_millis(200);
    let (poll, delivery) = ("poll:acme/incidents".to_owned(), "delivery:acme".to_owned());
    leases.ensure_leases(&[poll.clone(), delivery.clone()]).unwrap();
    leases.acquire("a", &[poll.clone(), delivery.clone()], ttl).unwrap();
    let fence = |key: &str, token| Some(Fence { key: key.to_owned(), token });
    let first = PollCommit { messages: vec![message("m1")], fence: fence(&poll, 1), ..PollCommit::default() };
    store.commit_poll("acme", "incidents", &first, now()).unwrap();
    let seq = store.next_pending("acme").unwrap().unwrap().seq;

    std::thread::sleep(ttl + std::time::Duration::from_millis(100));
    leases.acquire("b", &[poll.clone(), delivery.clone()], ttl).unwrap();
    let stale = PollCommit {
        messages: vec![message("m2")],
        watermark: Some(now()),
        fence: fence(&poll, 1),
        ..PollCommit::default()
    };
    let refused = store.commit_poll("acme", "incidents", &stale, now()).unwrap_err();
    assert!(matches!(&refused, StoreError::Fenced { key, token: 1 } if *key == poll), "{refused}");
    assert!(refused.to_string().contains("another host took it over"), "{refused}");
    assert_eq!(store.pending("acme", 10).unwrap().len(), 1, "the stale poll's message was not stored");
    assert_eq!(store.watermark("acme", "incidents").unwrap(), None, "nor its watermark");
    let marks = store.mark_all_delivered(&[NewAttempt::at(seq, now())], fence(&delivery, 1).as_ref());
    assert!(matches!(marks, Err(StoreError::Fenced { .. })));
    assert!(matches!(
        store.schedule_retry(&NewAttempt::failed(seq, now(), "503"), now(), fence(&delivery, 1).as_ref()),
        Err(StoreError::Fenced { .. })
    ));
    assert!(matches!(
        store.dead_letter(&NewAttempt::failed(seq, now(), "503"), fence(&delivery, 1).as_ref()),
        Err(StoreError::Fenced { .. })
    ));
    assert_eq!(store.next_pending("acme").unwrap().unwrap().attempts, 0, "nothing marked");
    // The new holder's writes go through.
    store.mark_all_delivered(&[NewAttempt::at(seq, now())], fence(&delivery, 2).as_ref()).unwrap();
    assert!(store.next_pending("acme").unwrap().is_none());
}

/// Every host hears what another changed: an instance through the API,
/// messages to deliver, a push callout.
#[test]
#[ignore = "needs PostgreSQL: set AUTOTASK_EVENTS_TEST_POSTGRES (tests/run starts one)"]
fn postgres_changes_are_told_to_every_listening_host() {
    let fixture = PgFixture::new();
    let store = Store::connect(&fixture.url).unwrap();
    let (sender, mut heard) = tokio::sync::mpsc::unbounded_channel();
    store.fleet().unwrap().listen(sender).unwrap();
    let other = Store::connect(&fixture.url).unwrap();
    other.insert_api_instance("alice", "token-1", "{}", false, now()).unwrap();
    let commit = PollCommit { messages: vec![message("m1")], ..PollCommit::default() };
    other.commit_poll("acme", "incidents", &commit, now()).unwrap();
    let mut payloads = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while payloads.len() < 2 && std::time::Instant::now() < deadline {
        match heard.try_recv() {
            Ok(payload) => payloads.push(payload),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
    assert_eq!(payloads, ["instances", "outbox:acme"]);
}

/// Saving or activating a plugin version tells every host listening, when it
/// commits; a refused activation (no such version) tells nobody.
#[test]
#[ignore = "needs PostgreSQL: set AUTOTASK_EVENTS_TEST_POSTGRES (tests/run starts one)"]
fn postgres_plugin_version_changes_notify_the_fleet() {
    let fixture = PgFixture::new();
    let store = Store::connect(&fixture.url).unwrap();
    let mut listener = fixture.client();
    listener.batch_execute("LISTEN autotask_events").unwrap();
    let heard = |listener: &mut ::postgres::Client| -> Vec<String> {
        use ::postgres::fallible_iterator::FallibleIterator;
        let mut notifications = listener.notifications();
        let mut heard = notifications.timeout_iter(std::time::Duration::from_millis(500));
        let mut payloads = Vec::new();
        while let Some(notification) = heard.next().unwrap() {
            payloads.push(notification.payload().to_owned());
        }
        payloads
    };
    let bytes = b"exports.mapRecord = () => 1;".as_slice();
    store.save_plugin_version("incidents.js", bytes, &plugin_runtime::version_of(bytes), "ops", now()).unwrap();
    assert_eq!(heard(&mut listener), ["plugins"]);
    assert!(store.activate_plugin_version("incidents.js", 9, now()).unwrap().is_none());
    assert!(heard(&mut listener).is_empty());
    store.activate_plugin_version("incidents.js", 1, now()).unwrap().unwrap();
    assert_eq!(heard(&mut listener), ["plugins"]);
}
