//! The fleet's backend: one PostgreSQL database shared by every host, with
//! one writer connection and one reader per host, as the SQLite backend has.
//!
//! Every call keeps the SQLite backend's behaviour (it is the reference, in
//! `store::sqlite`); where PostgreSQL needs other SQL the difference is noted.
//! Dates are the same RFC 3339 text, so text comparisons order them by time
//! (see `migrations`).

mod api_instances;
mod inspect;
mod leases;
pub(super) mod migrations;
mod plugin_versions;
mod push;

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

use ::postgres::{Client, Config, NoTls, Row};
use chrono::{DateTime, Utc};

use super::*;
use crate::dates::format_instant;
use leases::{check_fence, notify};

impl Backend for PgStore {
    fn fleet(&self) -> Option<&dyn Leases> {
        Some(self)
    }
}

/// The state in PostgreSQL. Calls are short and synchronous; async callers run
/// them on a blocking thread ([`off_thread`]).
pub struct PgStore {
    /// Where to connect again when a connection is found closed.
    config: Config,
    /// Writes go through this one: a poll's commit is one transaction on it.
    writer: Mutex<Link>,
    /// Reads go through this one (its transactions are read-only), so a
    /// delivery worker reading the outbox does not wait for a poll's commit.
    reader: Mutex<Link>,
}

/// One connection: `None` only while the store is dropped (see [`PgStore`]'s `Drop`).
struct Link(Option<Client>);

/// A locked connection.
struct Connection<'a>(MutexGuard<'a, Link>);

impl std::ops::Deref for Connection<'_> {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.0.0.as_ref().expect("a connection until the store is dropped")
    }
}

impl std::ops::DerefMut for Connection<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.0.0.as_mut().expect("a connection until the store is dropped")
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`) and
    /// brings the schema up to date.
    ///
    /// The connection is plain, without TLS: the database is meant to be on
    /// loopback or a private network. TLS is not supported yet.
    pub fn connect(url: &str) -> Result<PgStore, StoreError> {
        let mut config: Config = url.parse()?;
        if config.get_application_name().is_none() {
            // Shown in `pg_stat_activity`, so an operator sees whose connections these are.
            config.application_name("autotask-events");
        }
        let mut writer = open(&config, Role::Writer)?;
        migrations::apply(&mut writer)?;
        let reader = open(&config, Role::Reader)?;
        Ok(PgStore { config, writer: Mutex::new(Link(Some(writer))), reader: Mutex::new(Link(Some(reader))) })
    }

    fn lock(&self) -> Result<Connection<'_>, StoreError> {
        self.take(&self.writer, Role::Writer)
    }

    fn read(&self) -> Result<Connection<'_>, StoreError> {
        self.take(&self.reader, Role::Reader)
    }

    /// Locks a connection, connecting again (once) when it was found closed:
    /// PostgreSQL restarts or drops idle connections, where a SQLite file stays.
    fn take<'a>(&self, link: &'a Mutex<Link>, role: Role) -> Result<Connection<'a>, StoreError> {
        // A call that panicked dropped its `Transaction`, which rolled back:
        // the connection stays usable, as SQLite's does.
        let mut guard = link.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.0.as_ref().is_none_or(Client::is_closed) {
            guard.0 = Some(open(&self.config, role)?);
        }
        Ok(Connection(guard))
    }
}

/// A `Client` closes itself on drop with a runtime of its own, which panics on
/// an async thread: a store dropped there hands its connections to a thread.
impl Drop for PgStore {
    fn drop(&mut self) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let clients: Vec<Client> = [&mut self.writer, &mut self.reader]
            .into_iter()
            .filter_map(|link| link.get_mut().unwrap_or_else(PoisonError::into_inner).0.take())
            .collect();
        let _ = std::thread::Builder::new().name("store-close".into()).spawn(move || drop(clients));
    }
}

#[derive(Clone, Copy)]
enum Role {
    Writer,
    Reader,
}

fn open(config: &Config, role: Role) -> Result<Client, StoreError> {
    let mut client = config.connect(NoTls)?;
    if let Role::Reader = role {
        // SQLite's reader is `query_only`: this one cannot write by mistake either.
        client.batch_execute("SET default_transaction_read_only = on")?;
    }
    Ok(client)
}

/// The watermark row `row` of an instance.
fn watermark_on(client: &mut Client, instance_id: &str, row: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    let value: Option<String> = client
        .query_opt(
            "SELECT polled_until FROM watermarks WHERE instance_id = $1 AND resource = $2",
            &[&instance_id, &row],
        )?
        .map(|row| row.get(0));
    value.map(|value| instant("watermark", value)).transpose()
}

/// Counts are `BIGINT`, and so are the sums (cast from `NUMERIC`) of `BIGINT` columns.
fn count(row: &Row, index: usize) -> u64 {
    row.get::<_, i64>(index) as u64
}

impl Outbox for PgStore {
    fn instance_created_at(&self, id: &str, name: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, StoreError> {
        let mut connection = self.lock()?;
        // One statement: the row as it stands after the upsert (PostgreSQL returns it).
        let created: String = connection
            .query_one(
                "INSERT INTO instances (id, name, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name
                 RETURNING created_at",
                &[&id, &name, &format_instant(now)],
            )?
            .get(0);
        instant("instance creation time", created)
    }

    fn instances_with_pending(&self) -> Result<Vec<String>, StoreError> {
        let rows = self.read()?.query("SELECT DISTINCT instance_id FROM outbox WHERE state = 'pending'", &[])?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    fn instances_created_at(&self) -> Result<std::collections::HashMap<String, DateTime<Utc>>, StoreError> {
        let rows = self.read()?.query("SELECT id, created_at FROM instances", &[])?;
        let mut created = std::collections::HashMap::new();
        for row in rows {
            created.insert(row.get(0), instant("instance creation time", row.get(1))?);
        }
        Ok(created)
    }

    fn watermark(&self, instance_id: &str, resource: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let mut connection = self.read()?;
        watermark_on(&mut connection, instance_id, resource)
    }

    fn poll_start(&self, instance_id: &str, resource: &str) -> Result<PollStart, StoreError> {
        let mut connection = self.read()?;
        let replay_requested: bool = connection
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM failed_records WHERE instance_id = $1 AND resource = $2 AND replay)",
                &[&instance_id, &resource],
            )?
            .get(0);
        Ok(PollStart {
            watermark: watermark_on(&mut connection, instance_id, resource)?,
            deletions_watermark: watermark_on(&mut connection, instance_id, &deletions_watermark_key(resource))?,
            replay_requested,
        })
    }

    fn seen(&self, instance_id: &str, resource: &str, keys: &[(String, String)]) -> Result<HashSet<usize>, StoreError> {
        let mut connection = self.read()?;
        let statement = connection.prepare(
            "SELECT EXISTS (SELECT 1 FROM seen_records
                            WHERE instance_id = $1 AND resource = $2 AND object_id = $3 AND updated = $4)",
        )?;
        let mut seen = HashSet::new();
        for (index, (object_id, updated)) in keys.iter().enumerate() {
            if connection.query_one(&statement, &[&instance_id, &resource, object_id, updated])?.get(0) {
                seen.insert(index);
            }
        }
        Ok(seen)
    }

    fn seen_since(
        &self,
        instance_id: &str,
        resource: &str,
        since: &str,
    ) -> Result<HashSet<(String, String)>, StoreError> {
        let rows = self.read()?.query(
            "SELECT object_id, updated FROM seen_records WHERE instance_id = $1 AND resource = $2 AND updated >= $3",
            &[&instance_id, &resource, &since],
        )?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    fn commit_poll(
        &self,
        instance_id: &str,
        resource: &str,
        commit: &PollCommit,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Compressed before the writer is taken: every other write waits for it.
        let bodies: Vec<Vec<u8>> = commit.messages.iter().map(|message| compress(&message.body)).collect();
        let mut connection = self.lock()?;
        let mut transaction = connection.transaction()?;
        check_fence(&mut transaction, commit.fence.as_ref())?;
        let now_text = format_instant(now);
        // A message with the same content id is the same events again: keep the
        // first. `RETURNING seq` answers only for a row inserted, where SQLite
        // reads `last_insert_rowid()` after checking the row count.
        let insert = transaction.prepare(
            "INSERT INTO outbox (instance_id, resource, message_id, event_count, created_at, next_attempt_at,
                                 plugin_version, object_ids, event_types)
             VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8)
             ON CONFLICT DO NOTHING RETURNING seq",
        )?;
        let body = transaction.prepare("INSERT INTO message_bodies (seq, encoding, body) VALUES ($1, 'lz4', $2)")?;
        for (message, compressed) in commit.messages.iter().zip(bodies) {
            let added = transaction.query_opt(
                &insert,
                &[
                    &instance_id,
                    &resource,
                    &message.message_id,
                    &(message.event_count as i64),
                    &now_text,
                    &message.plugin_version,
                    &message.keys.object_ids,
                    &message.keys.event_types,
                ],
            )?;
            if let Some(added) = added {
                transaction.execute(&body, &[&added.get::<_, i64>(0), &compressed])?;
            }
        }
        if !commit.messages.is_empty() {
            // The host delivering this instance may not be this one: it is woken on commit.
            notify(&mut transaction, &format!("outbox:{instance_id}"))?;
        }
        let seen = transaction.prepare(
            "INSERT INTO seen_records (instance_id, resource, object_id, updated, seen_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )?;
        for (object_id, updated) in &commit.seen {
            transaction.execute(&seen, &[&instance_id, &resource, object_id, updated, &now_text])?;
        }
        let failed = transaction.prepare(
            "INSERT INTO failed_records (instance_id, resource, object_id, record, error, failed_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )?;
        for record in &commit.failed {
            transaction.execute(
                &failed,
                &[&instance_id, &resource, &record.object_id, &record.record, &record.error, &now_text],
            )?;
        }
        if !commit.replayed.is_empty() {
            transaction.execute("DELETE FROM failed_records WHERE id = ANY($1)", &[&commit.replayed])?;
        }
        if !commit.callouts_done.is_empty() {
            transaction.execute("DELETE FROM push_callouts WHERE id = ANY($1)", &[&commit.callouts_done])?;
        }
        let deletions = deletions_watermark_key(resource);
        for (row, watermark) in [(resource, commit.watermark), (deletions.as_str(), commit.deletions_watermark)] {
            if let Some(watermark) = watermark {
                transaction.execute(
                    "INSERT INTO watermarks (instance_id, resource, polled_until) VALUES ($1, $2, $3)
                     ON CONFLICT (instance_id, resource) DO UPDATE SET polled_until = excluded.polled_until",
                    &[&instance_id, &row, &format_instant(watermark)],
                )?;
            }
        }
        transaction.commit()?;
        Ok(())
    }

    fn pending_except(
        &self,
        instance_id: &str,
        limit: usize,
        except: &[i64],
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        // `<> ALL` of an array where SQLite reads a JSON list with `json_each`.
        let rows = self.read()?.query(
            "SELECT o.seq, o.instance_id, o.resource, o.message_id, b.encoding, b.body, o.event_count, o.attempts,
                    o.next_attempt_at, o.created_at
             FROM outbox o JOIN message_bodies b ON b.seq = o.seq
             WHERE o.instance_id = $1 AND o.state = 'pending' AND o.seq <> ALL($3::bigint[])
             ORDER BY o.seq LIMIT $2",
            &[&instance_id, &(limit as i64), &except],
        )?;
        rows.iter()
            .map(|row| {
                OutboxRow {
                    seq: row.get(0),
                    instance_id: row.get(1),
                    resource: row.get(2),
                    message_id: row.get(3),
                    encoding: row.get(4),
                    body: row.get(5),
                    event_count: row.get(6),
                    attempts: row.get(7),
                    next_attempt_at: row.get(8),
                    created_at: row.get(9),
                }
                .into_message()
            })
            .collect()
    }

    fn mark_all_delivered(&self, delivered: &[NewAttempt], fence: Option<&Fence>) -> Result<(), StoreError> {
        let mut connection = self.lock()?;
        let mut transaction = connection.transaction()?;
        check_fence(&mut transaction, fence)?;
        let mark = transaction.prepare(
            "UPDATE outbox SET state = 'delivered', delivered_at = $2, attempts = attempts + 1, last_error = NULL
             WHERE seq = $1",
        )?;
        for attempt in delivered {
            transaction.execute(&mark, &[&attempt.seq, &format_instant(attempt.at)])?;
        }
        record_attempts(&mut transaction, delivered)?;
        transaction.commit()?;
        Ok(())
    }

    fn schedule_retry(
        &self,
        attempt: &NewAttempt,
        retry_at: DateTime<Utc>,
        fence: Option<&Fence>,
    ) -> Result<(), StoreError> {
        let mut connection = self.lock()?;
        let mut transaction = connection.transaction()?;
        check_fence(&mut transaction, fence)?;
        transaction.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3 WHERE seq = $1",
            &[&attempt.seq, &attempt.error_text(), &format_instant(retry_at)],
        )?;
        record_attempts(&mut transaction, std::slice::from_ref(attempt))?;
        transaction.commit()?;
        Ok(())
    }

    fn dead_letter(&self, attempt: &NewAttempt, fence: Option<&Fence>) -> Result<(), StoreError> {
        let mut connection = self.lock()?;
        let mut transaction = connection.transaction()?;
        check_fence(&mut transaction, fence)?;
        transaction.execute(
            "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = $2 WHERE seq = $1",
            &[&attempt.seq, &attempt.error_text()],
        )?;
        record_attempts(&mut transaction, std::slice::from_ref(attempt))?;
        transaction.commit()?;
        Ok(())
    }

    fn replay_dead(&self, instance_id: &str, now: DateTime<Utc>) -> Result<Vec<i64>, StoreError> {
        let mut connection = self.lock()?;
        let mut transaction = connection.transaction()?;
        let rows = transaction.query(
            "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = $2
             WHERE instance_id = $1 AND state = 'dead' RETURNING seq",
            &[&instance_id, &format_instant(now)],
        )?;
        if !rows.is_empty() {
            notify(&mut transaction, &format!("outbox:{instance_id}"))?;
        }
        transaction.commit()?;
        // RETURNING gives no order.
        let mut seqs: Vec<i64> = rows.iter().map(|row| row.get(0)).collect();
        seqs.sort_unstable();
        Ok(seqs)
    }

    fn recent_messages(
        &self,
        instance_id: &str,
        state: Option<MessageState>,
        limit: usize,
    ) -> Result<Vec<MessageSummary>, StoreError> {
        // `$2::text`: PostgreSQL must know a parameter's type, even where it is only compared with NULL.
        let rows = self.read()?.query(
            "SELECT seq, resource, message_id, event_count, state, attempts, created_at, delivered_at, last_error, plugin_version
             FROM outbox WHERE instance_id = $1 AND ($2::text IS NULL OR state = $2) ORDER BY seq DESC LIMIT $3",
            &[&instance_id, &state.map(MessageState::as_str), &(limit as i64)],
        )?;
        Ok(rows.iter().map(summary_row).collect())
    }

    fn failed_messages(&self, instance_id: &str, limit: usize) -> Result<Vec<MessageSummary>, StoreError> {
        let rows = self.read()?.query(
            "SELECT seq, resource, message_id, event_count, state, attempts, created_at, delivered_at, last_error, plugin_version
             FROM outbox WHERE instance_id = $1 AND (state = 'dead' OR (state = 'pending' AND last_error IS NOT NULL))
             ORDER BY seq DESC LIMIT $2",
            &[&instance_id, &(limit as i64)],
        )?;
        Ok(rows.iter().map(summary_row).collect())
    }

    fn message_body(&self, seq: i64) -> Result<Option<String>, StoreError> {
        let row = self.read()?.query_opt("SELECT encoding, body FROM message_bodies WHERE seq = $1", &[&seq])?;
        Ok(row.and_then(|row| body_text(row.get(0), row.get(1))))
    }

    fn retry_now(&self, instance_id: &str, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut connection = self.lock()?;
        let mut transaction = connection.transaction()?;
        let changed = transaction.execute(
            "UPDATE outbox SET next_attempt_at = $2
             WHERE instance_id = $1 AND state = 'pending' AND last_error IS NOT NULL AND next_attempt_at > $2",
            &[&instance_id, &format_instant(now)],
        )?;
        if changed > 0 {
            notify(&mut transaction, &format!("outbox:{instance_id}"))?;
        }
        transaction.commit()?;
        Ok(changed as usize)
    }

    fn undelivered(&self, instance_id: &str) -> Result<(u64, u64), StoreError> {
        let row = self.read()?.query_one(
            "SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'dead')
             FROM outbox WHERE instance_id = $1",
            &[&instance_id],
        )?;
        Ok((count(&row, 0), count(&row, 1)))
    }

    fn outcomes(&self, seqs: &[i64]) -> Result<Outcomes, StoreError> {
        let row = self.read()?.query_one(
            "SELECT count(*) FILTER (WHERE state = 'delivered'), count(*) FILTER (WHERE state = 'pending'),
                    count(*) FILTER (WHERE state = 'dead')
             FROM outbox WHERE seq = ANY($1)",
            &[&seqs],
        )?;
        Ok(Outcomes { delivered: count(&row, 0), pending: count(&row, 1), dead: count(&row, 2) })
    }

    fn delivered_since(&self, instance_id: &str, since: DateTime<Utc>) -> Result<u64, StoreError> {
        let row = self.read()?.query_one(
            "SELECT count(*) FROM outbox WHERE instance_id = $1 AND state = 'delivered' AND delivered_at >= $2",
            &[&instance_id, &format_instant(since)],
        )?;
        Ok(count(&row, 0))
    }

    fn event_counts_since(&self, instance_id: &str, since: DateTime<Utc>) -> Result<EventCounts, StoreError> {
        // `sum` of a BIGINT is NUMERIC in PostgreSQL: cast back.
        let row = self.read()?.query_one(
            "SELECT coalesce(sum(CASE WHEN state = 'delivered' THEN event_count END), 0)::bigint,
                    coalesce(sum(CASE WHEN state = 'pending' AND last_error IS NULL THEN event_count END), 0)::bigint,
                    coalesce(sum(CASE WHEN state = 'dead' OR last_error IS NOT NULL AND state = 'pending'
                                      THEN event_count END), 0)::bigint
             FROM outbox WHERE instance_id = $1 AND created_at >= $2",
            &[&instance_id, &format_instant(since)],
        )?;
        Ok(EventCounts { delivered: count(&row, 0), pending: count(&row, 1), failed: count(&row, 2) })
    }

    fn outbox_depth(&self) -> Result<u64, StoreError> {
        let row = self.read()?.query_one("SELECT count(*) FROM outbox WHERE state = 'pending'", &[])?;
        Ok(count(&row, 0))
    }

    /// PostgreSQL has no database-wide write lock to take: the update (of no
    /// row in an empty database) is refused when the database, the session or
    /// the server (a standby) is read-only, and waits while another
    /// transaction holds the row.
    fn check_writable(&self) -> Result<(), StoreError> {
        let mut connection = self.lock()?;
        let mut transaction = connection.transaction()?;
        transaction.execute("UPDATE instances SET name = name WHERE id = (SELECT min(id) FROM instances)", &[])?;
        transaction.rollback()?;
        Ok(())
    }

    fn prune_delivered(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut connection = self.lock()?;
        let mut transaction = connection.transaction()?;
        let before = format_instant(before);
        transaction.execute(
            "DELETE FROM message_bodies WHERE seq IN
             (SELECT seq FROM outbox WHERE state = 'delivered' AND delivered_at < $1)",
            &[&before],
        )?;
        let removed =
            transaction.execute("DELETE FROM outbox WHERE state = 'delivered' AND delivered_at < $1", &[&before])?;
        transaction.commit()?;
        Ok(removed as usize)
    }

    fn prune_seen(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        let removed =
            self.lock()?.execute("DELETE FROM seen_records WHERE seen_at < $1", &[&format_instant(before)])?;
        Ok(removed as usize)
    }

    fn failures(
        &self,
        instance_id: &str,
        resource: Option<&str>,
        replay_only: bool,
    ) -> Result<Vec<StoredFailure>, StoreError> {
        let rows = self.read()?.query(
            "SELECT id, resource, failed_at, replay, object_id, record, error FROM failed_records
             WHERE instance_id = $1 AND ($2::text IS NULL OR resource = $2) AND (NOT $3 OR replay) ORDER BY id",
            &[&instance_id, &resource, &replay_only],
        )?;
        Ok(rows
            .iter()
            .map(|row| StoredFailure {
                id: row.get(0),
                resource: row.get(1),
                failed_at: row.get(2),
                replay_requested: row.get(3),
                record: FailedRecord { object_id: row.get(4), record: row.get(5), error: row.get(6) },
            })
            .collect())
    }

    fn request_failure_replay(&self, instance_id: &str) -> Result<usize, StoreError> {
        let changed = self.lock()?.execute(
            "UPDATE failed_records SET replay = TRUE WHERE instance_id = $1 AND NOT replay",
            &[&instance_id],
        )?;
        Ok(changed as usize)
    }
}

/// Records delivery attempts, in the transaction that records their outcome.
fn record_attempts(transaction: &mut ::postgres::Transaction<'_>, attempts: &[NewAttempt]) -> Result<(), StoreError> {
    let insert = transaction.prepare(
        "INSERT INTO delivery_attempts (seq, instance_id, attempted_at, http_status, latency_ms, error, answer, headers, host)
         SELECT seq, instance_id, $2, $3, $4, $5, $6, $7, $8 FROM outbox WHERE seq = $1",
    )?;
    for attempt in attempts {
        transaction.execute(
            &insert,
            &[
                &attempt.seq,
                &format_instant(attempt.at),
                &attempt.status.map(i32::from),
                &attempt.latency_ms,
                &attempt.error,
                &attempt.answer,
                &attempt.headers,
                &attempt.host,
            ],
        )?;
    }
    Ok(())
}

/// A message summary from `seq, resource, message_id, event_count, state,
/// attempts, created_at, delivered_at, last_error, plugin_version`.
fn summary_row(row: &Row) -> MessageSummary {
    MessageSummary {
        seq: row.get(0),
        resource: row.get(1),
        message_id: row.get(2),
        event_count: row.get::<_, i64>(3) as usize,
        state: row.get(4),
        attempts: row.get::<_, i64>(5) as u32,
        created_at: row.get(6),
        delivered_at: row.get(7),
        last_error: row.get(8),
        plugin_version: row.get(9),
    }
}

#[cfg(test)]
mod tests;
