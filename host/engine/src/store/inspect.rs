//! What the event inspector reads: an instance's messages found by what their
//! events are about, every delivery attempt of a message, and redelivery on
//! demand.

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
}

/// The columns a [`MessageSummary`] is read from, in `summary_row`'s order.
pub(crate) const SUMMARY_COLUMNS: &str =
    "seq, resource, message_id, event_count, state, attempts, created_at, delivered_at, last_error, plugin_version";

/// The columns a [`StoredAttempt`] is read from, in order.
pub(crate) const ATTEMPT_COLUMNS: &str = "attempted_at, http_status, latency_ms, error, answer, headers, host";
