//! The service's durable state in one embedded SQLite file: instances,
//! watermarks, the outbox of messages to deliver, the records already turned
//! into events, and the records that failed to map.
//!
//! The one rule that makes a crash lose nothing: a poll's outbox messages and
//! its new watermark are written in the same transaction
//! ([`Store::commit_poll`]). Delivery then works the outbox in order and only
//! marks a message delivered after the callback answered 2xx, so a crash at
//! any point re-sends at most the messages that were in flight or accepted
//! and not yet marked (see `delivery::worker` for the bound).

pub mod inspect;
pub mod leases;
mod plugin_versions;
mod postgres;
mod sqlite;

use std::collections::HashSet;
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::dates::parse_instant;

pub use inspect::{DeliveryMinute, Inspector, LATENCY_BUCKETS_MS, MessageSearch, StatusFilter, StoredAttempt};
pub use leases::{Fence, FleetStatus, HostRow, LeaseRow, Leases, Notifications, Takeover};
pub(crate) use plugin_versions::plugin_resource;
pub use plugin_versions::{ActivePlugin, PluginVersion, PluginVersions};
pub use sqlite::{NewCallout, StoredCallout, StoredInstance, StoredWebhook};

/// At most this many store calls hold a blocking thread at once. The store
/// serves one writer and one reader at a time, so more threads would only
/// wait on its locks: thousands of polls due together once kept ~160
/// threads waiting, and every one of them a malloc arena of its own.
const CALLS_AT_ONCE: usize = 4;

static CALLS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(CALLS_AT_ONCE);

/// Runs a (synchronous) store call on the blocking pool, once one of the
/// [`CALLS_AT_ONCE`] turns is free; a panic in it is the caller's.
pub(crate) async fn off_thread<T: Send + 'static>(call: impl FnOnce() -> T + Send + 'static) -> T {
    let _turn = CALLS.acquire().await.expect("the store's semaphore is never closed");
    tokio::task::spawn_blocking(call).await.unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))
}

/// A store failure: SQLite's own error, or a value in the file that cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the state database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL's own error (it never holds the connection URL's password).
    #[error("the PostgreSQL state database: {}", postgres_text(.0))]
    Postgres(#[from] ::postgres::Error),
    #[error("the state database holds an unreadable {what}: `{value}`")]
    Corrupt { what: &'static str, value: String },
    /// A fleet write made under a lease another host has taken since: refused,
    /// nothing of it stored (see [`Fence`]).
    #[error(
        "lease `{key}` has moved on from epoch {token}: another host took it over, so this host's write was refused"
    )]
    Fenced { key: String, token: i64 },
}

/// A PostgreSQL error with its cause: the client's own text is often just "db
/// error", and the server's message is in the source.
fn postgres_text(error: &::postgres::Error) -> String {
    match std::error::Error::source(error) {
        Some(cause) => format!("{error}: {cause}"),
        None => error.to_string(),
    }
}

/// A message for the outbox, ready to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Unique per message; also the `Elements-Webhook-Id` header.
    pub message_id: String,
    /// The exact body to post (and sign).
    pub body: String,
    pub event_count: usize,
    /// The SHA-256 of the plugin file that mapped the events, when a plugin did.
    pub plugin_version: Option<String>,
    /// What the message is found by in the event inspector.
    pub keys: EventKeys,
}

/// The object ids and event types of a message's events, each as `|a|b|`:
/// stored beside the message (two short texts, no row per event), so a
/// search by object id or type is a `LIKE '%|id|%'` over an instance's rows
/// in a time range, without reading a body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventKeys {
    pub object_ids: String,
    pub event_types: String,
}

impl EventKeys {
    /// The keys of events given as `(event type, object id)`, each value once.
    pub fn of<'a>(events: impl IntoIterator<Item = (&'a str, &'a str)>) -> EventKeys {
        let (mut types, mut ids) = (Vec::new(), Vec::new());
        for (event_type, object_id) in events {
            if !types.contains(&event_type) {
                types.push(event_type);
            }
            if !ids.contains(&object_id) {
                ids.push(object_id);
            }
        }
        let joined =
            |values: Vec<&str>| if values.is_empty() { String::new() } else { format!("|{}|", values.join("|")) };
        EventKeys { object_ids: joined(ids), event_types: joined(types) }
    }
}

/// One delivery attempt of a message, as recorded with its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAttempt {
    pub seq: i64,
    pub at: DateTime<Utc>,
    /// The callback's HTTP status; `None` when it did not answer.
    pub status: Option<u16>,
    pub latency_ms: f64,
    /// Why the attempt failed (`None` when it was accepted).
    pub error: Option<String>,
    /// The start of the callback's answer body ([`ANSWER_EXCERPT`] bytes at most).
    pub answer: String,
    /// The request's headers as sent, a JSON object; the signature's value is
    /// replaced by `present` (see `delivery::worker`).
    pub headers: String,
    /// The host that sent it, in a fleet.
    pub host: Option<String>,
}

/// How much of a callback's answer an attempt keeps.
pub const ANSWER_EXCERPT: usize = 1024;

impl NewAttempt {
    /// An attempt at `seq` made `at`, with nothing known about it yet.
    pub fn at(seq: i64, at: DateTime<Utc>) -> NewAttempt {
        NewAttempt {
            seq,
            at,
            status: None,
            latency_ms: 0.0,
            error: None,
            answer: String::new(),
            headers: "{}".into(),
            host: None,
        }
    }

    /// The same, failed with `error`.
    pub fn failed(seq: i64, at: DateTime<Utc>, error: &str) -> NewAttempt {
        NewAttempt { error: Some(error.to_owned()), ..NewAttempt::at(seq, at) }
    }

    /// The error an attempt records on its message; every failed attempt has one.
    fn error_text(&self) -> &str {
        self.error.as_deref().unwrap_or("the delivery failed")
    }
}

/// A record the plugin could not map, kept to be looked at and replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRecord {
    pub object_id: Option<String>,
    pub record: String,
    pub error: String,
}

/// A failed record as stored, with its row id and when it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFailure {
    pub id: i64,
    pub resource: String,
    pub failed_at: String,
    pub replay_requested: bool,
    pub record: FailedRecord,
}

/// Everything one poll of one resource writes, at once.
#[derive(Debug, Default)]
pub struct PollCommit {
    pub messages: Vec<NewMessage>,
    /// Failed records this poll mapped again (their rows are removed; a record
    /// that failed again is in `failed` anew).
    pub replayed: Vec<i64>,
    /// `(objectId, updated instant)` of every record turned into events.
    pub seen: Vec<(String, String)>,
    pub failed: Vec<FailedRecord>,
    /// Where the next poll starts reading.
    pub watermark: Option<DateTime<Utc>>,
    /// Where the next read of the resource's deletion log starts, when this
    /// poll read it (see [`deletions_watermark_key`]).
    pub deletions_watermark: Option<DateTime<Utc>>,
    /// Push callouts whose changes this commit's events (or seen keys) hold:
    /// removed with it, so each is turned into events once.
    pub callouts_done: Vec<i64>,
    /// In a fleet, the poll lease this commit is made under: refused when
    /// another host has taken the lease since (`None` on a single host).
    pub fence: Option<Fence>,
}

/// Messages repeat their records (raw and mapped): LZ4 makes them 5-8 times
/// smaller, which is most of the cost of writing and reading them.
fn compress(body: &str) -> Vec<u8> {
    lz4_flex::compress_prepend_size(body.as_bytes())
}

impl PollCommit {
    /// Whether committing this would write nothing.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
            && self.replayed.is_empty()
            && self.seen.is_empty()
            && self.failed.is_empty()
            && self.watermark.is_none()
            && self.deletions_watermark.is_none()
            && self.callouts_done.is_empty()
    }
}

/// The watermark row of a resource's deletion log, read on its own cadence.
/// Resource names are letters, digits, `-` and `_`: no resource is called this.
pub fn deletions_watermark_key(resource: &str) -> String {
    format!("{resource}/deletions")
}

/// An outbox message as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub seq: i64,
    pub instance_id: String,
    pub resource: String,
    pub message_id: String,
    pub body: String,
    pub event_count: usize,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    /// When the poll that made it was committed.
    pub created_at: DateTime<Utc>,
}

/// An outbox row as both backends read it, before its body is decoded and its
/// dates parsed ([`OutboxRow::into_message`]): the one place that does that.
pub(crate) struct OutboxRow {
    pub(crate) seq: i64,
    pub(crate) instance_id: String,
    pub(crate) resource: String,
    pub(crate) message_id: String,
    pub(crate) encoding: String,
    pub(crate) body: Vec<u8>,
    pub(crate) event_count: i64,
    pub(crate) attempts: i64,
    pub(crate) next_attempt_at: String,
    pub(crate) created_at: String,
}

impl OutboxRow {
    pub(crate) fn into_message(self) -> Result<OutboxMessage, StoreError> {
        let body = body_text(&self.encoding, self.body)
            .ok_or_else(|| StoreError::Corrupt { what: "message body", value: self.message_id.clone() })?;
        Ok(OutboxMessage {
            seq: self.seq,
            instance_id: self.instance_id,
            resource: self.resource,
            message_id: self.message_id,
            body,
            event_count: self.event_count as usize,
            attempts: self.attempts as u32,
            next_attempt_at: instant("retry time", self.next_attempt_at)?,
            created_at: instant("message creation time", self.created_at)?,
        })
    }
}

/// Where an outbox message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageState {
    Pending,
    Delivered,
    /// Out of retries: kept until replayed.
    Dead,
}

impl MessageState {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageState::Pending => "pending",
            MessageState::Delivered => "delivered",
            MessageState::Dead => "dead",
        }
    }
}

/// A message as listed for people: its state and delivery history, not its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSummary {
    pub seq: i64,
    pub resource: String,
    pub message_id: String,
    pub event_count: usize,
    pub state: String,
    pub attempts: u32,
    pub created_at: String,
    pub delivered_at: Option<String>,
    pub last_error: Option<String>,
    pub plugin_version: Option<String>,
}

/// How many of some messages are delivered, pending (retrying included) and
/// dead-lettered ([`Store::outcomes`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcomes {
    pub delivered: u64,
    pub pending: u64,
    pub dead: u64,
}

/// Events by delivery state: delivered, waiting for their first attempt, and
/// failed at least once without being delivered (retrying or dead-lettered).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventCounts {
    pub delivered: u64,
    pub pending: u64,
    pub failed: u64,
}

/// Where a poll of a resource starts ([`Store::poll_start`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollStart {
    /// Where the records were read until, if they were read before.
    pub watermark: Option<DateTime<Utc>>,
    /// Where the deletion log was read until, if it was read on its own cadence before.
    pub deletions_watermark: Option<DateTime<Utc>>,
    /// Some failed records wait to be mapped again.
    pub replay_requested: bool,
}

/// A poll's reads and writes, the outbox and its delivery, failed records.
/// Calls are short and synchronous; async callers run them on a blocking
/// thread ([`off_thread`]).
pub trait Outbox: Send + Sync {
    /// When the service first saw instance `id`: recorded now if it is new.
    /// The first poll reads from here, so a new instance gets no backfill.
    fn instance_created_at(&self, id: &str, name: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, StoreError>;

    /// The instances with pending messages (due or not).
    fn instances_with_pending(&self) -> Result<Vec<String>, StoreError>;

    /// When the service first saw each instance it knows, by id: one read for
    /// a list of thousands, where [`Store::instance_created_at`] is one write each.
    fn instances_created_at(&self) -> Result<std::collections::HashMap<String, DateTime<Utc>>, StoreError>;

    /// Where the next poll of a resource starts reading, if it was polled before.
    fn watermark(&self, instance_id: &str, resource: &str) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// What a poll of a resource starts from, in one read: its watermarks and
    /// whether someone asked for its failed records to be mapped again.
    fn poll_start(&self, instance_id: &str, resource: &str) -> Result<PollStart, StoreError>;

    /// Which of `keys` (objectId, updated) were already turned into events: those
    /// records are dropped when an overlapping poll reads them again.
    fn seen(&self, instance_id: &str, resource: &str, keys: &[(String, String)]) -> Result<HashSet<usize>, StoreError>;

    /// Every seen key of a resource whose updated time is `since` or later (both
    /// RFC 3339 UTC with milliseconds, so text order is time order): all a poll
    /// whose window starts at `since` can read again.
    fn seen_since(
        &self,
        instance_id: &str,
        resource: &str,
        since: &str,
    ) -> Result<HashSet<(String, String)>, StoreError>;

    /// Writes a poll's messages, seen keys, failed records and new watermark in
    /// one transaction: all of it is stored, or none of it.
    fn commit_poll(
        &self,
        instance_id: &str,
        resource: &str,
        commit: &PollCommit,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The oldest undelivered message of an instance: delivery keeps order, so
    /// this is the only one that may be sent, even when it must wait for a retry.
    fn next_pending(&self, instance_id: &str) -> Result<Option<OutboxMessage>, StoreError> {
        Ok(self.pending(instance_id, 1)?.pop())
    }

    /// The `limit` oldest undelivered messages of an instance, oldest first.
    fn pending(&self, instance_id: &str, limit: usize) -> Result<Vec<OutboxMessage>, StoreError> {
        self.pending_except(instance_id, limit, &[])
    }

    /// [`Self::pending`], leaving out the messages `except`: a delivery worker
    /// reads on past the messages it has delivered but not yet marked, so it
    /// need not wait for their marks to be written.
    fn pending_except(&self, instance_id: &str, limit: usize, except: &[i64])
    -> Result<Vec<OutboxMessage>, StoreError>;

    /// The callback accepted message `seq`.
    fn mark_delivered(&self, seq: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.mark_all_delivered(&[NewAttempt::at(seq, now)], None)
    }

    /// The callback accepted each attempt's message (delivered at the attempt's
    /// time), and the attempts are recorded: one transaction for all of them,
    /// which is what lets delivery keep up with a large poll. In a fleet,
    /// `fence` is the delivery lease they were sent under: the marks are
    /// refused when another host has taken it since.
    fn mark_all_delivered(&self, delivered: &[NewAttempt], fence: Option<&Fence>) -> Result<(), StoreError>;

    /// The attempt at its message failed; try again at `retry_at` (refused
    /// under a stale `fence`). The attempt is recorded.
    fn schedule_retry(
        &self,
        attempt: &NewAttempt,
        retry_at: DateTime<Utc>,
        fence: Option<&Fence>,
    ) -> Result<(), StoreError>;

    /// The attempt at its message failed and used up its retries: kept as a
    /// dead letter, listed and replayable (refused under a stale `fence`).
    fn dead_letter(&self, attempt: &NewAttempt, fence: Option<&Fence>) -> Result<(), StoreError>;

    /// Puts an instance's dead letters back in the outbox, due now, in their
    /// original order. Returns their `seq`s, in that order.
    fn replay_dead(&self, instance_id: &str, now: DateTime<Utc>) -> Result<Vec<i64>, StoreError>;

    /// An instance's most recent messages in `state` (all states when `None`), newest first.
    fn recent_messages(
        &self,
        instance_id: &str,
        state: Option<MessageState>,
        limit: usize,
    ) -> Result<Vec<MessageSummary>, StoreError>;

    /// An instance's most recent messages that failed at least once and are
    /// not delivered (retrying or dead-lettered), newest first.
    fn failed_messages(&self, instance_id: &str, limit: usize) -> Result<Vec<MessageSummary>, StoreError>;

    /// The body of message `seq`, as posted.
    fn message_body(&self, seq: i64) -> Result<Option<String>, StoreError>;

    /// Makes an instance's messages waiting for a retry due now. Returns how many.
    fn retry_now(&self, instance_id: &str, now: DateTime<Utc>) -> Result<usize, StoreError>;

    /// How many of an instance's messages are not delivered: pending, and dead-lettered.
    fn undelivered(&self, instance_id: &str) -> Result<(u64, u64), StoreError>;

    /// Where messages `seqs` stand now (a `seq` no longer stored counts nowhere):
    /// how a replay of exactly those messages is going.
    fn outcomes(&self, seqs: &[i64]) -> Result<Outcomes, StoreError>;

    /// How many of an instance's messages were delivered at `since` or later:
    /// the delivery side of a backfill's progress.
    fn delivered_since(&self, instance_id: &str, since: DateTime<Utc>) -> Result<u64, StoreError>;

    /// The events in an instance's messages created since `since`, by where they stand.
    fn event_counts_since(&self, instance_id: &str, since: DateTime<Utc>) -> Result<EventCounts, StoreError>;

    /// Messages not yet delivered (pending, not dead), over every instance.
    fn outbox_depth(&self) -> Result<u64, StoreError>;

    /// Whether the database takes a write now: takes the write lock and changes
    /// a row (unchanged in value) in a transaction that is rolled back. Fails
    /// when another process holds the database, or it or its disk is read-only.
    fn check_writable(&self) -> Result<(), StoreError>;

    /// Removes messages delivered before `before`, bodies and all. Returns how many.
    fn prune_delivered(&self, before: DateTime<Utc>) -> Result<usize, StoreError>;

    /// Forgets seen keys older than `before`: by then no overlapping poll reads them again.
    fn prune_seen(&self, before: DateTime<Utc>) -> Result<usize, StoreError>;

    /// The failed records of an instance, oldest first.
    fn failed_records(&self, instance_id: &str) -> Result<Vec<FailedRecord>, StoreError> {
        Ok(self.failures(instance_id, None, false)?.into_iter().map(|failure| failure.record).collect())
    }

    /// The failed records of an instance (of one resource, if given; only those
    /// waiting for a replay, if `replay_only`), oldest first.
    fn failures(
        &self,
        instance_id: &str,
        resource: Option<&str>,
        replay_only: bool,
    ) -> Result<Vec<StoredFailure>, StoreError>;

    /// Asks the next poll of each resource to map an instance's failed records
    /// again (after a plugin fix, say). Returns how many.
    fn request_failure_replay(&self, instance_id: &str) -> Result<usize, StoreError>;
}

/// Instances created through the management API.
pub trait ApiInstances: Send + Sync {
    /// Stores a new instance and returns its id.
    fn insert_api_instance(
        &self,
        owner: &str,
        token: &str,
        body: &str,
        disabled: bool,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError>;

    /// Replaces an instance's body and disabled flag. Returns whether it exists.
    fn update_api_instance(&self, id: i64, body: &str, disabled: bool, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Every API instance, by id.
    fn api_instances(&self) -> Result<Vec<StoredInstance>, StoreError>;

    /// One API instance.
    fn api_instance(&self, id: i64) -> Result<Option<StoredInstance>, StoreError>;

    /// Removes an API instance and everything kept for it (watermarks, outbox,
    /// seen keys, failed records), in one transaction. Returns whether it existed.
    fn delete_api_instance(&self, id: i64) -> Result<bool, StoreError>;
}

/// Push: the webhook registered for each resource, and the callouts waiting to be mapped.
pub trait PushStore: Send + Sync {
    /// The webhook registered for a resource, if one is.
    fn push_webhook(&self, instance_id: &str, resource: &str) -> Result<Option<StoredWebhook>, StoreError>;

    /// Records the webhook registered for a resource, replacing any earlier one.
    fn save_push_webhook(
        &self,
        instance_id: &str,
        resource: &str,
        webhook: &StoredWebhook,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Forgets a resource's webhook and the callouts it left unmapped (the
    /// webhook was deleted in Autotask: the resource is gone or push is off).
    fn forget_push_webhook(&self, instance_id: &str, resource: &str) -> Result<(), StoreError>;

    /// Stores a callout; `false` when the same callout (its key) is already waiting.
    fn store_callout(
        &self,
        instance_id: &str,
        resource: &str,
        callout: &NewCallout,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// The oldest `limit` callouts of a resource waiting to be mapped, oldest first.
    fn pending_callouts(
        &self,
        instance_id: &str,
        resource: &str,
        limit: usize,
    ) -> Result<Vec<StoredCallout>, StoreError>;
}

/// Everything the service keeps: one backend holds all of it.
pub trait Backend: Outbox + ApiInstances + PushStore + PluginVersions + Inspector {
    /// The leases and notifications of a fleet, when this backend can hold
    /// one (PostgreSQL); a SQLite file serves one host.
    fn fleet(&self) -> Option<&dyn Leases> {
        None
    }
}

/// The state database, whichever backend holds it: its calls are the
/// [`Backend`]'s (through `Deref`).
pub struct Store(Box<dyn Backend>);

impl Store {
    /// Opens (creating if needed) the SQLite file at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Ok(Store(Box::new(sqlite::SqliteStore::open(path)?)))
    }

    /// Connects to the PostgreSQL database at `url` (`postgres://user:password@host/db`)
    /// and brings its schema up to date.
    pub fn connect(url: &str) -> Result<Store, StoreError> {
        Ok(Store(Box::new(postgres::PgStore::connect(url)?)))
    }
}

impl std::ops::Deref for Store {
    type Target = dyn Backend;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

/// A stored body as text; `None` when it cannot be read back.
fn body_text(encoding: &str, bytes: Vec<u8>) -> Option<String> {
    let bytes = match encoding {
        "lz4" => lz4_flex::decompress_size_prepended(&bytes).ok()?,
        _ => bytes,
    };
    String::from_utf8(bytes).ok()
}

fn instant(what: &'static str, value: String) -> Result<DateTime<Utc>, StoreError> {
    parse_instant(&value).map_err(|_| StoreError::Corrupt { what, value })
}

#[cfg(test)]
mod tests;
