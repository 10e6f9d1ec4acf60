//! The embedded backend: one SQLite file, in WAL mode, with one writer
//! connection and one reader.

mod api_instances;
pub(super) mod checkpoint;
mod inspect;
pub(super) mod migrations;
mod plugin_versions;
mod push;

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::*;
use crate::dates::format_instant;

pub use api_instances::StoredInstance;
pub use push::{NewCallout, StoredCallout, StoredWebhook};

/// The watermark row `row` of an instance, read on `connection`.
fn watermark_on(connection: &Connection, instance_id: &str, row: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    let value: Option<String> = connection
        .prepare_cached("SELECT polled_until FROM watermarks WHERE instance_id = ?1 AND resource = ?2")?
        .query_row([instance_id, row], |row| row.get(0))
        .optional()?;
    value.map(|value| instant("watermark", value)).transpose()
}

/// The state database. Calls are short and synchronous; async callers run
/// them on a blocking thread.
pub struct SqliteStore {
    /// Every write goes through this one (SQLite has one writer at a time).
    writer: Mutex<Connection>,
    /// Reads go through this one, so a delivery worker reading the outbox does
    /// not wait for a poll's commit (WAL lets readers and the writer overlap).
    reader: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let mut connection = Connection::open(path)?;
        // First: another process opening the same new file (its journal mode,
        // its migration) is waited for, not an error.
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        owner_only(path);
        // WAL: readers never block the writer, and a commit is one append.
        // synchronous=NORMAL does not fsync each commit: a commit survives the
        // process being killed (it is in the OS's hands), and only a power loss
        // can undo the last commits, whole. That is safe here because a page's
        // events and their seen keys are one commit and the watermark moves only
        // after them: an undone commit is simply polled again, and an undone
        // "delivered" mark means a repeat, never a loss.
        //
        // 16 KB pages (a new file's; an existing file keeps its own): a message
        // of ten compressed events (~5 KB) fits in one, and a large poll's
        // commits and reads are fewer, larger system calls.
        connection.pragma_update(None, "page_size", 16384)?;
        use_wal(&connection)?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        // The log is copied back by a thread of the store's own, not by whichever
        // commit crosses SQLite's threshold (see `checkpoint`).
        connection.pragma_update(None, "wal_autocheckpoint", 0)?;
        checkpoint::start(path, &mut connection)?;
        // A large poll grows the log between two checkpoints; once it is copied
        // back, the file is cut back to this rather than kept at its largest.
        connection.pragma_update(None, "journal_size_limit", 64 << 20)?;
        // A page of 500 records dirties more pages than the default 2 MB cache
        // holds: SQLite then writes them out mid-transaction and reads them back.
        connection.pragma_update(None, "cache_size", -16384)?;
        connection.pragma_update(None, "foreign_keys", true)?;
        migrations::apply(&mut connection)?;
        let reader = Connection::open(path)?;
        reader.busy_timeout(std::time::Duration::from_secs(5))?;
        reader.pragma_update(None, "query_only", true)?;
        Ok(SqliteStore { writer: Mutex::new(connection), reader: Mutex::new(reader) })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // SQLite rolls back an unfinished transaction itself; the connection stays usable.
        self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn read(&self) -> MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Switches the file to WAL. The switch needs the file to itself and SQLite
/// answers "busy" at once, without waiting, while another process opening it
/// holds it: tried again for up to the busy timeout.
fn use_wal(connection: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match connection.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(error, _))
                if error.code == rusqlite::ErrorCode::DatabaseBusy && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            result => return result,
        }
    }
}

/// A SQLite file serves one host: no fleet.
impl Backend for SqliteStore {}

impl Outbox for SqliteStore {
    /// When the service first saw instance `id`: recorded now if it is new.
    /// The first poll reads from here, so a new instance gets no backfill.
    fn instance_created_at(&self, id: &str, name: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, StoreError> {
        let connection = self.lock();
        connection.execute(
            "INSERT INTO instances (id, name, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name",
            params![id, name, format_instant(now)],
        )?;
        let created: String =
            connection.query_row("SELECT created_at FROM instances WHERE id = ?1", [id], |row| row.get(0))?;
        instant("instance creation time", created)
    }

    /// The instances with pending messages (due or not).
    fn instances_with_pending(&self) -> Result<Vec<String>, StoreError> {
        let connection = self.read();
        let mut statement =
            connection.prepare_cached("SELECT DISTINCT instance_id FROM outbox WHERE state = 'pending'")?;
        let ids = statement.query_map([], |row| row.get(0))?.collect::<Result<Vec<String>, _>>()?;
        Ok(ids)
    }

    /// When the service first saw each instance it knows, by id: one read for
    /// a list of thousands, where [`Store::instance_created_at`] is one write each.
    fn instances_created_at(&self) -> Result<std::collections::HashMap<String, DateTime<Utc>>, StoreError> {
        let connection = self.read();
        let mut statement = connection.prepare("SELECT id, created_at FROM instances")?;
        let rows = statement.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?;
        let mut created = std::collections::HashMap::new();
        for row in rows {
            let (id, at) = row?;
            created.insert(id, instant("instance creation time", at)?);
        }
        Ok(created)
    }

    /// Where the next poll of a resource starts reading, if it was polled before.
    fn watermark(&self, instance_id: &str, resource: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        watermark_on(&self.read(), instance_id, resource)
    }

    /// What a poll of a resource starts from, in one read: its watermarks and
    /// whether someone asked for its failed records to be mapped again.
    fn poll_start(&self, instance_id: &str, resource: &str) -> Result<PollStart, StoreError> {
        let connection = self.read();
        let replay_requested = connection
            .prepare_cached(
                "SELECT 1 FROM failed_records WHERE instance_id = ?1 AND resource = ?2 AND replay = 1 LIMIT 1",
            )?
            .exists([instance_id, resource])?;
        Ok(PollStart {
            watermark: watermark_on(&connection, instance_id, resource)?,
            deletions_watermark: watermark_on(&connection, instance_id, &deletions_watermark_key(resource))?,
            replay_requested,
        })
    }

    /// Which of `keys` (objectId, updated) were already turned into events: those
    /// records are dropped when an overlapping poll reads them again.
    fn seen(&self, instance_id: &str, resource: &str, keys: &[(String, String)]) -> Result<HashSet<usize>, StoreError> {
        let connection = self.read();
        let mut statement = connection.prepare_cached(
            "SELECT 1 FROM seen_records WHERE instance_id = ?1 AND resource = ?2 AND object_id = ?3 AND updated = ?4",
        )?;
        let mut seen = HashSet::new();
        for (index, (object_id, updated)) in keys.iter().enumerate() {
            if statement.exists(params![instance_id, resource, object_id, updated])? {
                seen.insert(index);
            }
        }
        Ok(seen)
    }

    /// Every seen key of a resource whose updated time is `since` or later (both
    /// RFC 3339 UTC with milliseconds, so text order is time order): all a poll
    /// whose window starts at `since` can read again.
    fn seen_since(
        &self,
        instance_id: &str,
        resource: &str,
        since: &str,
    ) -> Result<HashSet<(String, String)>, StoreError> {
        let connection = self.read();
        let mut statement = connection.prepare_cached(
            "SELECT object_id, updated FROM seen_records
             WHERE instance_id = ?1 AND resource = ?2 AND updated >= ?3",
        )?;
        let keys = statement
            .query_map(params![instance_id, resource, since], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(keys)
    }

    /// Writes a poll's messages, seen keys, failed records and new watermark in
    /// one transaction: all of it is stored, or none of it.
    fn commit_poll(
        &self,
        instance_id: &str,
        resource: &str,
        commit: &PollCommit,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Compressed before the writer is taken: every other write (delivery
        // workers' marks among them) waits for it.
        let bodies: Vec<Vec<u8>> = commit.messages.iter().map(|message| compress(&message.body)).collect();
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let now_text = format_instant(now);
        {
            let mut insert = transaction.prepare_cached(
                // A message with the same content id is the same events again: keep the first.
                "INSERT OR IGNORE INTO outbox (instance_id, resource, message_id, event_count, created_at, next_attempt_at,
                                               plugin_version, object_ids, event_types)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8)",
            )?;
            let mut body = transaction
                .prepare_cached("INSERT INTO message_bodies (seq, encoding, body) VALUES (?1, 'lz4', ?2)")?;
            for (message, compressed) in commit.messages.iter().zip(bodies) {
                let added = insert.execute(params![
                    instance_id,
                    resource,
                    message.message_id,
                    message.event_count as i64,
                    now_text,
                    message.plugin_version,
                    message.keys.object_ids,
                    message.keys.event_types
                ])?;
                if added == 1 {
                    body.execute(params![transaction.last_insert_rowid(), compressed])?;
                }
            }
            let mut seen = transaction.prepare_cached(
                "INSERT OR IGNORE INTO seen_records (instance_id, resource, object_id, updated, seen_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (object_id, updated) in &commit.seen {
                seen.execute(params![instance_id, resource, object_id, updated, now_text])?;
            }
            let mut failed = transaction.prepare_cached(
                "INSERT INTO failed_records (instance_id, resource, object_id, record, error, failed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for record in &commit.failed {
                failed.execute(params![
                    instance_id,
                    resource,
                    record.object_id,
                    record.record,
                    record.error,
                    now_text
                ])?;
            }
        }
        {
            let mut replayed = transaction.prepare_cached("DELETE FROM failed_records WHERE id = ?1")?;
            for id in &commit.replayed {
                replayed.execute([id])?;
            }
            let mut done = transaction.prepare_cached("DELETE FROM push_callouts WHERE id = ?1")?;
            for id in &commit.callouts_done {
                done.execute([id])?;
            }
        }
        let deletions = deletions_watermark_key(resource);
        for (row, watermark) in [(resource, commit.watermark), (deletions.as_str(), commit.deletions_watermark)] {
            if let Some(watermark) = watermark {
                transaction.execute(
                    "INSERT INTO watermarks (instance_id, resource, polled_until) VALUES (?1, ?2, ?3)
                     ON CONFLICT (instance_id, resource) DO UPDATE SET polled_until = excluded.polled_until",
                    params![instance_id, row, format_instant(watermark)],
                )?;
            }
        }
        transaction.commit()?;
        Ok(())
    }

    /// [`Self::pending`], leaving out the messages `except`: a delivery worker
    /// reads on past the messages it has delivered but not yet marked, so it
    /// need not wait for their marks to be written.
    fn pending_except(
        &self,
        instance_id: &str,
        limit: usize,
        except: &[i64],
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let connection = self.read();
        let mut statement = connection.prepare_cached(
            "SELECT o.seq, o.instance_id, o.resource, o.message_id, b.encoding, b.body, o.event_count, o.attempts,
                    o.next_attempt_at, o.created_at
             FROM outbox o JOIN message_bodies b ON b.seq = o.seq
             WHERE o.instance_id = ?1 AND o.state = 'pending'
               AND o.seq NOT IN (SELECT value FROM json_each(?3))
             ORDER BY o.seq LIMIT ?2",
        )?;
        let except = serde_json::to_string(except).expect("a list of integers is JSON");
        let rows = statement.query_map(params![instance_id, limit as i64, except], |row| {
            Ok(OutboxRow {
                seq: row.get(0)?,
                instance_id: row.get(1)?,
                resource: row.get(2)?,
                message_id: row.get(3)?,
                encoding: row.get(4)?,
                body: row.get(5)?,
                event_count: row.get(6)?,
                attempts: row.get(7)?,
                next_attempt_at: row.get(8)?,
                created_at: row.get(9)?,
            })
        })?;
        rows.map(|row| row?.into_message()).collect()
    }

    /// The callback accepted each attempt's message: one transaction for all
    /// of them, which is what lets delivery keep up with a large poll.
    /// A SQLite file serves one host: there is no lease to fence.
    fn mark_all_delivered(&self, delivered: &[NewAttempt], _: Option<&Fence>) -> Result<(), StoreError> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        {
            let mut mark = transaction.prepare_cached(
                "UPDATE outbox SET state = 'delivered', delivered_at = ?2, attempts = attempts + 1, last_error = NULL
                 WHERE seq = ?1",
            )?;
            for attempt in delivered {
                mark.execute(params![attempt.seq, format_instant(attempt.at)])?;
                record_attempt(&transaction, attempt)?;
            }
        }
        transaction.commit()?;
        Ok(())
    }

    /// The attempt at its message failed; try again at `retry_at`.
    fn schedule_retry(
        &self,
        attempt: &NewAttempt,
        retry_at: DateTime<Utc>,
        _: Option<&Fence>,
    ) -> Result<(), StoreError> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        transaction.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3 WHERE seq = ?1",
            params![attempt.seq, attempt.error_text(), format_instant(retry_at)],
        )?;
        record_attempt(&transaction, attempt)?;
        transaction.commit()?;
        Ok(())
    }

    /// The attempt at its message failed and used up its retries: kept as a
    /// dead letter, listed and replayable.
    fn dead_letter(&self, attempt: &NewAttempt, _: Option<&Fence>) -> Result<(), StoreError> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        transaction.execute(
            "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ?2 WHERE seq = ?1",
            params![attempt.seq, attempt.error_text()],
        )?;
        record_attempt(&transaction, attempt)?;
        transaction.commit()?;
        Ok(())
    }

    /// Puts an instance's dead letters back in the outbox, due now, in their
    /// original order. Returns their `seq`s, in that order.
    fn replay_dead(&self, instance_id: &str, now: DateTime<Utc>) -> Result<Vec<i64>, StoreError> {
        let connection = self.lock();
        let mut statement = connection.prepare_cached(
            "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?2
             WHERE instance_id = ?1 AND state = 'dead' RETURNING seq",
        )?;
        let mut seqs: Vec<i64> = statement
            .query_map(params![instance_id, format_instant(now)], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        // RETURNING gives no order.
        seqs.sort_unstable();
        Ok(seqs)
    }

    /// An instance's most recent messages in `state` (all states when `None`), newest first.
    fn recent_messages(
        &self,
        instance_id: &str,
        state: Option<MessageState>,
        limit: usize,
    ) -> Result<Vec<MessageSummary>, StoreError> {
        let connection = self.read();
        let mut statement = connection.prepare_cached(
            "SELECT seq, resource, message_id, event_count, state, attempts, created_at, delivered_at, last_error, plugin_version
             FROM outbox WHERE instance_id = ?1 AND (?2 IS NULL OR state = ?2) ORDER BY seq DESC LIMIT ?3",
        )?;
        let rows = statement
            .query_map(params![instance_id, state.map(MessageState::as_str), limit as i64], summary_row)?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// An instance's most recent messages that failed at least once and are
    /// not delivered (retrying or dead-lettered), newest first.
    fn failed_messages(&self, instance_id: &str, limit: usize) -> Result<Vec<MessageSummary>, StoreError> {
        let connection = self.read();
        let mut statement = connection.prepare_cached(
            "SELECT seq, resource, message_id, event_count, state, attempts, created_at, delivered_at, last_error, plugin_version
             FROM outbox WHERE instance_id = ?1 AND (state = 'dead' OR (state = 'pending' AND last_error IS NOT NULL))
             ORDER BY seq DESC LIMIT ?2",
        )?;
        let rows = statement.query_map(params![instance_id, limit as i64], summary_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The body of message `seq`, as posted.
    fn message_body(&self, seq: i64) -> Result<Option<String>, StoreError> {
        let row = self
            .read()
            .query_row("SELECT encoding, body FROM message_bodies WHERE seq = ?1", [seq], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?))
            })
            .optional()?;
        Ok(row.and_then(|(encoding, bytes)| body_text(&encoding, bytes)))
    }

    /// Makes an instance's messages waiting for a retry due now. Returns how many.
    fn retry_now(&self, instance_id: &str, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let now = format_instant(now);
        let changed = self.lock().execute(
            "UPDATE outbox SET next_attempt_at = ?2
             WHERE instance_id = ?1 AND state = 'pending' AND last_error IS NOT NULL AND next_attempt_at > ?2",
            params![instance_id, now],
        )?;
        Ok(changed)
    }

    /// How many of an instance's messages are not delivered: pending, and dead-lettered.
    fn undelivered(&self, instance_id: &str) -> Result<(u64, u64), StoreError> {
        let count = |state: &str| -> Result<u64, StoreError> {
            let count: i64 = self.read().query_row(
                "SELECT count(*) FROM outbox WHERE instance_id = ?1 AND state = ?2",
                [instance_id, state],
                |row| row.get(0),
            )?;
            Ok(count as u64)
        };
        Ok((count("pending")?, count("dead")?))
    }

    fn outcomes(&self, seqs: &[i64]) -> Result<Outcomes, StoreError> {
        let seqs = serde_json::to_string(seqs).expect("a list of integers is JSON");
        let (delivered, pending, dead): (i64, i64, i64) = self.read().query_row(
            "SELECT count(*) FILTER (WHERE state = 'delivered'), count(*) FILTER (WHERE state = 'pending'),
                    count(*) FILTER (WHERE state = 'dead')
             FROM outbox WHERE seq IN (SELECT value FROM json_each(?1))",
            [seqs],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )?;
        Ok(Outcomes { delivered: delivered as u64, pending: pending as u64, dead: dead as u64 })
    }

    fn delivered_since(&self, instance_id: &str, since: DateTime<Utc>) -> Result<u64, StoreError> {
        let count: i64 = self.read().query_row(
            "SELECT count(*) FROM outbox WHERE instance_id = ?1 AND state = 'delivered' AND delivered_at >= ?2",
            params![instance_id, format_instant(since)],
            |row| row.get(0),
        )?;
        Ok(count as u64)
    }

    /// The events in an instance's messages created since `since`, by where they stand.
    fn event_counts_since(&self, instance_id: &str, since: DateTime<Utc>) -> Result<EventCounts, StoreError> {
        let counts = self.read().query_row(
            "SELECT coalesce(sum(CASE WHEN state = 'delivered' THEN event_count END), 0),
                    coalesce(sum(CASE WHEN state = 'pending' AND last_error IS NULL THEN event_count END), 0),
                    coalesce(sum(CASE WHEN state = 'dead' OR last_error IS NOT NULL AND state = 'pending'
                                      THEN event_count END), 0)
             FROM outbox WHERE instance_id = ?1 AND created_at >= ?2",
            params![instance_id, format_instant(since)],
            |row| {
                let count = |index: usize| row.get::<_, i64>(index).map(|count| count as u64);
                Ok(EventCounts { delivered: count(0)?, pending: count(1)?, failed: count(2)? })
            },
        )?;
        Ok(counts)
    }

    /// Messages not yet delivered (pending, not dead), over every instance.
    fn outbox_depth(&self) -> Result<u64, StoreError> {
        let depth: i64 =
            self.read().query_row("SELECT count(*) FROM outbox WHERE state = 'pending'", [], |row| row.get(0))?;
        Ok(depth as u64)
    }

    /// Whether the database takes a write now: takes the write lock and changes
    /// a row (unchanged in value) in a transaction that is rolled back. Fails
    /// when another process holds the database, or it or its disk is read-only.
    fn check_writable(&self) -> Result<(), StoreError> {
        let mut connection = self.lock();
        let transaction = connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        transaction.execute("UPDATE instances SET name = name WHERE rowid = (SELECT min(rowid) FROM instances)", [])?;
        transaction.rollback()?;
        Ok(())
    }

    /// Removes messages delivered before `before`, bodies and all. Returns how many.
    fn prune_delivered(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let before = format_instant(before);
        for table in ["message_bodies", "delivery_attempts"] {
            transaction.execute(
                &format!(
                    "DELETE FROM {table} WHERE seq IN
                     (SELECT seq FROM outbox WHERE state = 'delivered' AND delivered_at < ?1)"
                ),
                [&before],
            )?;
        }
        let removed =
            transaction.execute("DELETE FROM outbox WHERE state = 'delivered' AND delivered_at < ?1", [&before])?;
        transaction.commit()?;
        Ok(removed)
    }

    /// Forgets seen keys older than `before`: by then no overlapping poll reads them again.
    fn prune_seen(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        let removed = self.lock().execute("DELETE FROM seen_records WHERE seen_at < ?1", [format_instant(before)])?;
        Ok(removed)
    }

    /// The failed records of an instance (of one resource, if given; only those
    /// waiting for a replay, if `replay_only`), oldest first.
    fn failures(
        &self,
        instance_id: &str,
        resource: Option<&str>,
        replay_only: bool,
    ) -> Result<Vec<StoredFailure>, StoreError> {
        let connection = self.read();
        let mut statement = connection.prepare_cached(
            "SELECT id, resource, failed_at, replay, object_id, record, error FROM failed_records
             WHERE instance_id = ?1 AND (?2 IS NULL OR resource = ?2) AND (?3 = 0 OR replay = 1) ORDER BY id",
        )?;
        let failures = statement
            .query_map(params![instance_id, resource, replay_only], |row| {
                Ok(StoredFailure {
                    id: row.get(0)?,
                    resource: row.get(1)?,
                    failed_at: row.get(2)?,
                    replay_requested: row.get(3)?,
                    record: FailedRecord { object_id: row.get(4)?, record: row.get(5)?, error: row.get(6)? },
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(failures)
    }

    /// Asks the next poll of each resource to map an instance's failed records
    /// again (after a plugin fix, say). Returns how many.
    fn request_failure_replay(&self, instance_id: &str) -> Result<usize, StoreError> {
        let changed = self
            .lock()
            .execute("UPDATE failed_records SET replay = 1 WHERE instance_id = ?1 AND replay = 0", [instance_id])?;
        Ok(changed)
    }
}

/// Records a delivery attempt, in the transaction that records its outcome.
fn record_attempt(transaction: &rusqlite::Transaction<'_>, attempt: &NewAttempt) -> rusqlite::Result<()> {
    let mut insert = transaction.prepare_cached(
        "INSERT INTO delivery_attempts (seq, instance_id, attempted_at, http_status, latency_ms, error, answer, headers, host)
         SELECT seq, instance_id, ?2, ?3, ?4, ?5, ?6, ?7, ?8 FROM outbox WHERE seq = ?1",
    )?;
    insert.execute(params![
        attempt.seq,
        format_instant(attempt.at),
        attempt.status,
        attempt.latency_ms,
        attempt.error,
        attempt.answer,
        attempt.headers,
        attempt.host
    ])?;
    Ok(())
}

/// A message summary from `seq, resource, message_id, event_count, state,
/// attempts, created_at, delivered_at, last_error, plugin_version`.
fn summary_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<MessageSummary> {
    Ok(MessageSummary {
        seq: row.get(0)?,
        resource: row.get(1)?,
        message_id: row.get(2)?,
        event_count: row.get::<_, i64>(3)? as usize,
        state: row.get(4)?,
        attempts: row.get::<_, i64>(5)? as u32,
        created_at: row.get(6)?,
        delivered_at: row.get(7)?,
        last_error: row.get(8)?,
        plugin_version: row.get(9)?,
    })
}

/// Makes the state file readable by its owner only: it holds the Autotask
/// credentials of instances created through the API.
fn owner_only(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(error) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            tracing::warn!("cannot make {} readable by its owner only: {error}", path.display());
        }
    }
}

#[cfg(test)]
mod tests;
