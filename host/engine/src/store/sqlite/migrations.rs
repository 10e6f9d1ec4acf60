//! The schema, as numbered steps. `PRAGMA user_version` records how many have
//! run; opening a database runs the rest, each in its own transaction. Steps are
//! only ever appended: a released step is never edited.

use rusqlite::{Connection, TransactionBehavior};

pub(crate) const STEPS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE instances (
         id TEXT PRIMARY KEY,
         name TEXT NOT NULL,
         created_at TEXT NOT NULL
     );
     CREATE TABLE watermarks (
         instance_id TEXT NOT NULL,
         resource TEXT NOT NULL,
         polled_until TEXT NOT NULL,
         PRIMARY KEY (instance_id, resource)
     );
     CREATE TABLE outbox (
         seq INTEGER PRIMARY KEY AUTOINCREMENT,
         instance_id TEXT NOT NULL,
         resource TEXT NOT NULL,
         message_id TEXT NOT NULL UNIQUE,
         body TEXT NOT NULL,
         event_count INTEGER NOT NULL,
         created_at TEXT NOT NULL,
         state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
         attempts INTEGER NOT NULL DEFAULT 0,
         next_attempt_at TEXT NOT NULL,
         last_error TEXT,
         delivered_at TEXT
     );
     CREATE INDEX outbox_by_instance ON outbox (instance_id, state, seq);
     CREATE TABLE seen_records (
         instance_id TEXT NOT NULL,
         resource TEXT NOT NULL,
         object_id TEXT NOT NULL,
         updated TEXT NOT NULL,
         seen_at TEXT NOT NULL,
         PRIMARY KEY (instance_id, resource, object_id, updated)
     ) WITHOUT ROWID;
     CREATE INDEX seen_records_by_age ON seen_records (seen_at);
     CREATE TABLE failed_records (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         instance_id TEXT NOT NULL,
         resource TEXT NOT NULL,
         object_id TEXT,
         record TEXT NOT NULL,
         error TEXT NOT NULL,
         failed_at TEXT NOT NULL
     );",
    // 2: failed records can be asked to be mapped again by the next poll; message
    // bodies move to their own table, so that marking a message delivered
    // rewrites a small row instead of the whole body, and are stored compressed;
    // seen keys are ordered by updated time, so a poll loads its window's at once.
    "ALTER TABLE failed_records ADD COLUMN replay INTEGER NOT NULL DEFAULT 0;
     CREATE INDEX failed_records_by_instance ON failed_records (instance_id, resource, replay);
     CREATE TABLE message_bodies (
         seq INTEGER PRIMARY KEY,
         encoding TEXT NOT NULL CHECK (encoding IN ('identity', 'lz4')),
         body BLOB NOT NULL
     );
     INSERT INTO message_bodies (seq, encoding, body) SELECT seq, 'identity', CAST(body AS BLOB) FROM outbox;
     ALTER TABLE outbox DROP COLUMN body;
     CREATE TABLE seen_keys (
         instance_id TEXT NOT NULL,
         resource TEXT NOT NULL,
         updated TEXT NOT NULL,
         object_id TEXT NOT NULL,
         seen_at TEXT NOT NULL,
         PRIMARY KEY (instance_id, resource, updated, object_id)
     ) WITHOUT ROWID;
     INSERT INTO seen_keys SELECT instance_id, resource, updated, object_id, seen_at FROM seen_records;
     DROP TABLE seen_records;
     ALTER TABLE seen_keys RENAME TO seen_records;
     CREATE INDEX seen_records_by_age ON seen_records (seen_at);",
    // 3: which version of the plugin (its file's SHA-256) mapped a message's events.
    "ALTER TABLE outbox ADD COLUMN plugin_version TEXT;",
    // 4: instances created through the management API: the body as posted
    // (secrets included: the state file is readable by its owner only), the
    // instance token, and whether it is disabled. Ids are never reused.
    "CREATE TABLE api_instances (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         token TEXT NOT NULL UNIQUE,
         body TEXT NOT NULL,
         disabled INTEGER NOT NULL DEFAULT 0,
         created_at TEXT NOT NULL,
         updated_at TEXT NOT NULL
     );",
    // 5: the API user who created each instance (see `config::ApiUser`). Rows
    // from before were created with the one user secret there was, the
    // organization admin `config::LEGACY_USER` (`admin`).
    "ALTER TABLE api_instances ADD COLUMN owner TEXT NOT NULL DEFAULT 'admin';",
    // 6: push. The webhook the service registered in Autotask for a resource
    // (its secret signs the callouts: the state file is readable by its owner
    // only), and the callouts received and not yet turned into events. A
    // callout is stored before it is answered 2xx; the poll-like pass that
    // maps it deletes it in the same commit as its events.
    "CREATE TABLE push_webhooks (
         instance_id TEXT NOT NULL,
         resource TEXT NOT NULL,
         webhook_entity TEXT NOT NULL,
         webhook_id INTEGER NOT NULL,
         guid TEXT NOT NULL,
         secret TEXT NOT NULL,
         url TEXT NOT NULL,
         registered_at TEXT NOT NULL,
         PRIMARY KEY (instance_id, resource)
     );
     CREATE TABLE push_callouts (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         instance_id TEXT NOT NULL,
         resource TEXT NOT NULL,
         callout_key TEXT NOT NULL,
         action TEXT NOT NULL,
         object_id TEXT NOT NULL,
         event_time TEXT,
         body TEXT NOT NULL,
         received_at TEXT NOT NULL,
         UNIQUE (instance_id, resource, callout_key)
     );",
    // 7: plugins uploaded through the management API, every version kept (a
    // rollback is one update), and the version each resource (the file name
    // without its extension) is mapped with. The same bytes are one version.
    "CREATE TABLE plugin_versions (
         name TEXT NOT NULL,
         version INTEGER NOT NULL,
         sha256 TEXT NOT NULL,
         size INTEGER NOT NULL,
         bytes BLOB NOT NULL,
         uploaded_at TEXT NOT NULL,
         uploaded_by TEXT NOT NULL,
         PRIMARY KEY (name, version),
         UNIQUE (name, sha256)
     );
     CREATE TABLE active_plugins (
         resource TEXT PRIMARY KEY,
         name TEXT NOT NULL,
         version INTEGER NOT NULL,
         activated_at TEXT NOT NULL,
         FOREIGN KEY (name, version) REFERENCES plugin_versions (name, version)
     );",
    // 8: the event inspector. Every delivery attempt of a message: when, the
    // callback's status, latency and the start of its answer, the headers
    // sent (the signature's value never). And what a message's events are
    // about, as `|a|b|` texts (see `EventKeys`), to find it by object id or
    // event type; messages from before have none.
    "ALTER TABLE outbox ADD COLUMN object_ids TEXT NOT NULL DEFAULT '';
     ALTER TABLE outbox ADD COLUMN event_types TEXT NOT NULL DEFAULT '';
     CREATE INDEX outbox_by_instance_seq ON outbox (instance_id, seq);
     CREATE TABLE delivery_attempts (
         id INTEGER PRIMARY KEY,
         seq INTEGER NOT NULL,
         instance_id TEXT NOT NULL,
         attempted_at TEXT NOT NULL,
         http_status INTEGER,
         latency_ms REAL NOT NULL,
         error TEXT,
         answer TEXT NOT NULL,
         headers TEXT NOT NULL,
         host TEXT
     );
     CREATE INDEX delivery_attempts_by_message ON delivery_attempts (seq);
     CREATE INDEX delivery_attempts_by_instance ON delivery_attempts (instance_id, attempted_at);",
];

/// The schema version this build writes.
pub const VERSION: usize = STEPS.len();

/// Runs the steps the database has not run yet. A database from a newer build is refused.
///
/// Each step reads the version and runs under SQLite's write lock (`BEGIN
/// IMMEDIATE`): two processes opening a new file at once (`serve` and `events
/// list`, say) migrate it once, the second finding the steps done, instead of
/// both running a step. An up-to-date file is only read.
pub fn apply(connection: &mut Connection) -> rusqlite::Result<()> {
    if up_to_date(connection)? {
        return Ok(());
    }
    loop {
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if up_to_date(&transaction)? {
            return transaction.commit();
        }
        let done = version(&transaction)?;
        transaction.execute_batch(STEPS[done])?;
        transaction.pragma_update(None, "user_version", (done + 1) as i64)?;
        transaction.commit()?;
    }
}

fn version(connection: &Connection) -> rusqlite::Result<usize> {
    Ok(connection.pragma_query_value(None, "user_version", |row| row.get::<_, i64>(0))? as usize)
}

/// Whether the file is at this build's version; an error when it is newer.
fn up_to_date(connection: &Connection) -> rusqlite::Result<bool> {
    let done = version(connection)?;
    if done > VERSION {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "schema version {done} is newer than this build's {VERSION}; use a newer autotask-events"
        )));
    }
    Ok(done == VERSION)
}
