//! The SQLite backend's own tests: its schema's history, `PRAGMA user_version`
//! and the checkpointing thread. Its behaviour as a store is tested with
//! PostgreSQL's, in `store::tests`.

use super::*;
use crate::store::tests::{Fixture, SqliteFixture, message, now};

#[test]
fn reopening_does_not_rerun_migrations_and_a_newer_schema_is_refused() {
    let fixture = SqliteFixture::new();
    drop(fixture.open());
    let path = fixture.path();
    Store::open(&path).unwrap();
    let connection = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0)).unwrap();
    assert_eq!(version as usize, migrations::VERSION);
    connection.pragma_update(None, "user_version", 99).unwrap();
    drop(connection);
    let error = Store::open(&path).err().unwrap().to_string();
    assert!(error.contains("newer than this build"), "{error}");
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

/// The log is copied into the database file by the store's own thread, once a
/// commit made it long: no commit copies it (SQLite's automatic checkpoint is
/// off), yet the file fills.
#[test]
fn the_log_is_copied_into_the_database_file_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state.db");
    // The backend itself, not a `Store`: the test reads the writer's pragmas.
    let store = SqliteStore::open(&file).unwrap();
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

/// `serve` and `events list` (or two of anything) opening a new file at the
/// same moment: one migrates it, the others wait and find it done.
#[test]
fn processes_opening_a_new_file_at_once_migrate_it_once() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite");
        let start = std::sync::Barrier::new(6);
        std::thread::scope(|threads| {
            let opening: Vec<_> = (0..6)
                .map(|_| {
                    threads.spawn(|| {
                        start.wait();
                        Store::open(&path).map(drop)
                    })
                })
                .collect();
            for opened in opening {
                opened.join().unwrap().unwrap();
            }
        });
        let connection = Connection::open(&path).unwrap();
        let version: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0)).unwrap();
        assert_eq!(version as usize, migrations::VERSION);
    }
}
