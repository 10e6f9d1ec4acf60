//! What the event inspector reads: an instance's messages found by what their
//! events are about, every delivery attempt of a message, redelivery on
//! demand, and the per-minute delivery figures its charts are drawn from.

use chrono::{DateTime, Utc};

use super::{MessageSummary, StoreError};

/// Which of an instance's messages a search lists; every field narrows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageSearch {
    /// An event in the message is about this object (exactly this id).
    pub object_id: Option<String>,
    /// An event in the message has this Cloud Elements type (`CREATED`, ...).
    pub event_type: Option<String>,
    pub resource: Option<String>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created before.
    pub to: Option<DateTime<Utc>>,
    pub status: Option<StatusFilter>,
}

/// A message's delivery state as a search asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Delivered,
    /// Not delivered and not dead-lettered (retrying included).
    Pending,
    /// Failed at least once and not delivered: retrying or dead-lettered.
    Failed,
}

impl StatusFilter {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusFilter::Delivered => "delivered",
            StatusFilter::Pending => "pending",
            StatusFilter::Failed => "failed",
        }
    }
}

/// A delivery attempt as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAttempt {
    /// When it was made (RFC 3339, UTC).
    pub at: String,
    pub status: Option<u16>,
    pub latency_ms: f64,
    /// Why it failed; `None` when the callback accepted it.
    pub error: Option<String>,
    pub answer: String,
    /// The request's headers, a JSON object (the signature shown as `present`).
    pub headers: String,
    pub host: Option<String>,
}

/// The event inspector's reads and its one write.
pub trait Inspector: Send + Sync {
    /// An instance's messages matching `search`, newest first, at most `limit`.
    fn search_messages(
        &self,
        instance_id: &str,
        search: &MessageSearch,
        limit: usize,
    ) -> Result<Vec<MessageSummary>, StoreError>;

    /// One of an instance's messages by its id (`Elements-Webhook-Id`).
    fn message_by_id(&self, instance_id: &str, message_id: &str) -> Result<Option<MessageSummary>, StoreError>;

    /// Every recorded attempt at message `seq`, oldest first.
    fn attempts(&self, seq: i64) -> Result<Vec<StoredAttempt>, StoreError>;

    /// Puts messages `seqs` of an instance back in its outbox, due now,
    /// whatever their state: delivered ones are sent again, with the same id
    /// and body, ahead of newer pending ones (the outbox goes in order).
    /// Returns how many.
    fn redeliver(&self, instance_id: &str, seqs: &[i64], now: DateTime<Utc>) -> Result<usize, StoreError>;

    /// An instance's delivery attempts made at or after `since`, counted per
    /// minute and latency bucket (see [`LATENCY_BUCKETS_MS`]): one row per
    /// minute and bucket that has attempts, oldest first, so at most
    /// `minutes × buckets` rows.
    fn delivery_minutes(&self, instance_id: &str, since: DateTime<Utc>) -> Result<Vec<DeliveryMinute>, StoreError>;
}

/// The upper bounds (ms) of the latency buckets [`Inspector::delivery_minutes`]
/// counts attempts in; a last bucket holds the slower ones. Fixed buckets
/// rather than the latencies themselves: percentiles are then estimated from
/// counts, which both databases sum without any math function (SQLite may be
/// built without them).
pub const LATENCY_BUCKETS_MS: [u64; 11] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/// The attempts of one minute whose latency fell in one bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryMinute {
    /// The minute, as `2024-06-01T12:05` (UTC).
    pub minute: String,
    /// An index into [`LATENCY_BUCKETS_MS`]; its length for the slower ones.
    pub bucket: usize,
    /// Events in the messages these attempts delivered.
    pub delivered_events: u64,
    /// Events in the messages these attempts failed to deliver.
    pub failed_events: u64,
    /// The attempts that delivered: the ones latency percentiles count.
    pub delivered_attempts: u64,
}

/// The SQL (the same in both databases) that reads [`DeliveryMinute`]s: `{instance}`
/// and `{since}` are the backend's placeholders. The latency bucket is a CASE
/// ladder over [`LATENCY_BUCKETS_MS`].
pub(crate) fn delivery_minutes_sql(instance: &str, since: &str) -> String {
    let ladder: String = LATENCY_BUCKETS_MS
        .iter()
        .enumerate()
        .map(|(index, bound)| format!(" WHEN a.latency_ms <= {bound} THEN {index}"))
        .collect();
    let slower = LATENCY_BUCKETS_MS.len();
    format!(
        "SELECT substr(a.attempted_at, 1, 16) AS minute,
                CASE{ladder} ELSE {slower} END AS bucket,
                CAST(SUM(CASE WHEN a.error IS NULL THEN o.event_count ELSE 0 END) AS BIGINT),
                CAST(SUM(CASE WHEN a.error IS NULL THEN 0 ELSE o.event_count END) AS BIGINT),
                CAST(SUM(CASE WHEN a.error IS NULL THEN 1 ELSE 0 END) AS BIGINT)
         FROM delivery_attempts a JOIN outbox o ON o.seq = a.seq
         WHERE a.instance_id = {instance} AND a.attempted_at >= {since}
         GROUP BY minute, bucket ORDER BY minute, bucket"
    )
}

/// The columns a [`MessageSummary`] is read from, in `summary_row`'s order.
pub(crate) const SUMMARY_COLUMNS: &str =
    "seq, resource, message_id, event_count, state, attempts, created_at, delivered_at, last_error, plugin_version";

/// The columns a [`StoredAttempt`] is read from, in order.
pub(crate) const ATTEMPT_COLUMNS: &str = "attempted_at, http_status, latency_ms, error, answer, headers, host";
