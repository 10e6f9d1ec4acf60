//! The PostgreSQL schema, as numbered steps. PostgreSQL has no `user_version`:
//! the table `schema_version` holds how many steps have run. Connecting runs
//! the rest, each in its own transaction, while holding an advisory lock, so
//! that hosts of a fleet starting at once migrate once. Steps are only ever
//! appended: a released step is never edited.
//!
//! Step 1 is SQLite's final schema (its steps 1-6) in one, with these differences:
//! - `BIGINT GENERATED ALWAYS AS IDENTITY` where SQLite has `AUTOINCREMENT`:
//!   ids are never reused either way.
//! - Dates stay RFC 3339 text with milliseconds (`dates::format_instant`), as in
//!   SQLite, and are `COLLATE "C"`: queries compare them as text, and only a
//!   byte-wise collation is sure to order them as time, whatever locale the
//!   database was created with. The `updated` of seen keys (Autotask's text) too.
//! - Flags are `BOOLEAN`, counts and Autotask ids `BIGINT`, bodies `BYTEA`.
//! - A message body belongs to its outbox row (`ON DELETE CASCADE`); the store
//!   still deletes bodies first, as with SQLite.

use ::postgres::{Client, Transaction};

use crate::store::StoreError;

pub(crate) const STEPS: &[&str] = &[
    // 1: SQLite's schema at its version 6: instances, watermarks, the outbox and
    // its compressed bodies, seen keys, failed records (replayable), instances
    // created through the API (with their owner), push webhooks and callouts.
    r#"CREATE TABLE instances (
         id TEXT PRIMARY KEY,
         name TEXT NOT NULL,
         created_at TEXT COLLATE "C" NOT NULL
     );
     CREATE TABLE watermarks (
         instance_id TEXT NOT NULL,
         resource TEXT NOT NULL,
         polled_until TEXT COLLATE "C" NOT NULL,
         PRIMARY KEY (instance_id, resource)
     );
     CREATE TABLE outbox (
         seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         instance_id TEXT NOT NULL,
         resource TEXT NOT NULL,
         message_id TEXT NOT NULL UNIQUE,
         event_count BIGINT NOT NULL,
         created_at TEXT COLLATE "C" NOT NULL,
         state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
         attempts BIGINT NOT NULL DEFAULT 0,
         next_attempt_at TEXT COLLATE "C" NOT NULL,
         last_error TEXT,
         delivered_at TEXT COLLATE "C",
         plugin_version TEXT
     );
     CREATE INDEX outbox_by_instance ON outbox (instance_id, state, seq);
     CREATE TABLE message_bodies (
         seq BIGINT PRIMARY KEY REFERENCES outbox (seq) ON DELETE CASCADE,
         encoding TEXT NOT NULL CHECK (encoding IN ('identity', 'lz4')),
         body BYTEA NOT NULL
     );
     CREATE TABLE seen_records (
         instance_id TEXT NOT NULL,
         resource TEXT NOT NULL,
         updated TEXT COLLATE "C" NOT NULL,
         object_id TEXT NOT NULL,
         seen_at TEXT COLLATE "C" NOT NULL,
         PRIMARY KEY (instance_id, resource, updated, object_id)
     );
     CREATE INDEX seen_records_by_age ON seen_records (seen_at);
     CREATE TABLE failed_records (
         id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         instance_id TEXT NOT NULL,
         resource TEXT NOT NULL,
         object_id TEXT,
         record TEXT NOT NULL,
         error TEXT NOT NULL,
         failed_at TEXT COLLATE "C" NOT NULL,
         replay BOOLEAN NOT NULL DEFAULT FALSE
     );
     CREATE INDEX failed_records_by_instance ON failed_records (instance_id, resource, replay);
     CREATE TABLE api_instances (
         id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         token TEXT NOT NULL UNIQUE,
         body TEXT NOT NULL,
         disabled BOOLEAN NOT NULL DEFAULT FALSE,
         created_at TEXT COLLATE "C" NOT NULL,
         updated_at TEXT COLLATE "C" NOT NULL,
         owner TEXT NOT NULL
     );
     CREATE TABLE push_webhooks (
         instance_id TEXT NOT NULL,
         resource TEXT NOT NULL,
         webhook_entity TEXT NOT NULL,
         webhook_id BIGINT NOT NULL,
         guid TEXT NOT NULL,
         secret TEXT NOT NULL,
         url TEXT NOT NULL,
         registered_at TEXT COLLATE "C" NOT NULL,
         PRIMARY KEY (instance_id, resource)
     );
     CREATE TABLE push_callouts (
         id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         instance_id TEXT NOT NULL,
         resource TEXT NOT NULL,
         callout_key TEXT NOT NULL,
         action TEXT NOT NULL,
         object_id TEXT NOT NULL,
         event_time TEXT,
         body TEXT NOT NULL,
         received_at TEXT COLLATE "C" NOT NULL,
         UNIQUE (instance_id, resource, callout_key)
     );"#,
    // 2: a fleet's hosts and leases (PostgreSQL only: a SQLite file serves one
    // host). Times are `TIMESTAMPTZ` on the database's clock, the one clock
    // every host compares expiries with.
    r#"CREATE TABLE fleet_hosts (
         host TEXT PRIMARY KEY,
         address TEXT NOT NULL,
         started_at TIMESTAMPTZ NOT NULL,
         seen_at TIMESTAMPTZ NOT NULL
     );
     CREATE TABLE leases (
         key TEXT PRIMARY KEY,
         holder TEXT,
         token BIGINT NOT NULL DEFAULT 0,
         expires_at TIMESTAMPTZ NOT NULL DEFAULT 'epoch'
     );
     CREATE TABLE fleet_takeovers (
         key TEXT NOT NULL,
         token BIGINT NOT NULL,
         host TEXT NOT NULL,
         previous_holder TEXT,
         previous_expiry TIMESTAMPTZ NOT NULL,
         taken_at TIMESTAMPTZ NOT NULL,
         first_work_at TIMESTAMPTZ,
         PRIMARY KEY (key, token)
     );
     CREATE INDEX fleet_takeovers_by_time ON fleet_takeovers (taken_at);"#,
    // 3: SQLite's step 7: plugins uploaded through the management API, every
    // version kept, and the version each resource is mapped with.
    r#"CREATE TABLE plugin_versions (
         name TEXT NOT NULL,
         version BIGINT NOT NULL,
         sha256 TEXT NOT NULL,
         size BIGINT NOT NULL,
         bytes BYTEA NOT NULL,
         uploaded_at TEXT COLLATE "C" NOT NULL,
         uploaded_by TEXT NOT NULL,
         PRIMARY KEY (name, version),
         UNIQUE (name, sha256)
     );
     CREATE TABLE active_plugins (
         resource TEXT PRIMARY KEY,
         name TEXT NOT NULL,
         version BIGINT NOT NULL,
         activated_at TEXT COLLATE "C" NOT NULL,
         FOREIGN KEY (name, version) REFERENCES plugin_versions (name, version)
     );"#,
    // 4: the event inspector, as SQLite's step 8: every delivery attempt (gone
    // with its message), and what a message's events are about.
    r#"ALTER TABLE outbox ADD COLUMN object_ids TEXT NOT NULL DEFAULT '';
     ALTER TABLE outbox ADD COLUMN event_types TEXT NOT NULL DEFAULT '';
     CREATE INDEX outbox_by_instance_seq ON outbox (instance_id, seq);
     CREATE TABLE delivery_attempts (
         id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         seq BIGINT NOT NULL REFERENCES outbox (seq) ON DELETE CASCADE,
         instance_id TEXT NOT NULL,
         attempted_at TEXT COLLATE "C" NOT NULL,
         http_status INTEGER,
         latency_ms DOUBLE PRECISION NOT NULL,
         error TEXT,
         answer TEXT NOT NULL,
         headers TEXT NOT NULL,
         host TEXT
     );
     CREATE INDEX delivery_attempts_by_message ON delivery_attempts (seq);
     CREATE INDEX delivery_attempts_by_instance ON delivery_attempts (instance_id, attempted_at);"#,
];

/// The schema version this build writes.
pub const VERSION: usize = STEPS.len();

/// The advisory lock held while migrating ("autotask" in ASCII): every host of
/// a fleet takes the same one, so one migrates and the others then find it done.
const LOCK: i64 = 0x6175_746f_7461_736b;

/// Runs the steps the database has not run yet. A database from a newer build is refused.
pub fn apply(client: &mut Client) -> Result<(), StoreError> {
    // An up-to-date database is only read: no lock, no write, so a read-only
    // database (or a standby) can still be connected to and read.
    if up_to_date(&mut client.transaction()?)? {
        return Ok(());
    }
    loop {
        let mut transaction = client.transaction()?;
        transaction.batch_execute(&format!("SELECT pg_advisory_xact_lock({LOCK})"))?;
        let done = done(&mut transaction)?;
        if up_to_date_at(done)? {
            return Ok(transaction.commit()?);
        }
        if done == 0 {
            transaction.batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
                 DELETE FROM schema_version; INSERT INTO schema_version (version) VALUES (0);",
            )?;
        }
        transaction.batch_execute(STEPS[done])?;
        transaction.execute("UPDATE schema_version SET version = $1", &[&((done + 1) as i32)])?;
        transaction.commit()?;
    }
}

fn up_to_date(transaction: &mut Transaction<'_>) -> Result<bool, StoreError> {
    up_to_date_at(done(transaction)?)
}

/// Whether `done` steps is this build's schema; an error when it is newer.
fn up_to_date_at(done: usize) -> Result<bool, StoreError> {
    if done > VERSION {
        return Err(StoreError::Corrupt {
            what: "schema version",
            value: format!("{done}, newer than this build's {VERSION}: use a newer autotask-events"),
        });
    }
    Ok(done == VERSION)
}

/// How many steps the database has run (none when it has no `schema_version` yet).
fn done(transaction: &mut Transaction<'_>) -> Result<usize, StoreError> {
    // A query of the catalog, not `to_regclass`: that reads the session's
    // catalog cache, which taking the advisory lock does not refresh, so a host
    // that waited for another's migration would not see its table.
    let exists: bool = transaction
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables
                            WHERE schemaname = current_schema() AND tablename = 'schema_version')",
            &[],
        )?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let version: Option<i32> = transaction.query_one("SELECT max(version) FROM schema_version", &[])?.get(0);
    Ok(version.unwrap_or(0) as usize)
}
