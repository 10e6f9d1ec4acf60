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

/// Saving or activating a plugin version tells every host listening, when it
/// commits; a refused activation (no such version) tells nobody.
#[test]
#[ignore = "needs PostgreSQL: set AUTOTASK_EVENTS_TEST_POSTGRES (tests/run starts one)"]
fn plugin_version_changes_notify_the_fleet() {
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
