//! What a fleet shares besides the state: which hosts are alive, who holds
//! each lease, and notifications from host to host.
//!
//! A lease gives one host the right to do one piece of work: poll one
//! resource of one instance (`poll:{instance}/{resource}`), or deliver one
//! instance's outbox (`delivery:{instance}`). It expires unless renewed, and
//! every time a host takes it its token (the epoch) goes up. A write made
//! under a lease carries the token it was taken with ([`Fence`]); the database
//! refuses it when the token has moved on, so a host that was paused or cut
//! off, and wakes up, cannot commit a poll or mark a delivery that another
//! host has taken over.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::StoreError;

/// The lease a write is made under, and the token it was taken with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub key: String,
    pub token: i64,
}

/// The key of a resource's poll lease.
pub fn poll_lease_key(instance: &str, resource: &str) -> String {
    format!("poll:{instance}/{resource}")
}

/// The key of an instance's delivery lease.
pub fn delivery_lease_key(instance: &str) -> String {
    format!("delivery:{instance}")
}

/// A lease as the database holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    pub key: String,
    pub holder: Option<String>,
    pub token: i64,
    pub expires_at: DateTime<Utc>,
}

/// A host of the fleet, as its heartbeats left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRow {
    pub host: String,
    pub started_at: DateTime<Utc>,
    pub seen_at: DateTime<Utc>,
    /// Its management listener, as it gave it.
    pub address: String,
}

/// A lease changing hands, as the new holder recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Takeover {
    pub key: String,
    pub token: i64,
    pub host: String,
    /// Who held it before: `None` when it was released cleanly (or never held).
    pub previous_holder: Option<String>,
    /// When the lease it took over expired (or was released).
    pub previous_expiry: DateTime<Utc>,
    pub taken_at: DateTime<Utc>,
    /// When the new holder first worked under it (polled, or attempted a delivery).
    pub first_work_at: Option<DateTime<Utc>>,
}

/// The fleet as the database sees it now (`autotask-events fleet status`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetStatus {
    /// The database's clock, which every expiry is measured on.
    pub now: Option<DateTime<Utc>>,
    pub hosts: Vec<HostRow>,
    pub leases: Vec<LeaseRow>,
    /// The latest takeovers, newest first.
    pub takeovers: Vec<Takeover>,
    /// Per instance, the oldest pending message's creation time (its delivery lag).
    pub oldest_pending: Vec<(String, DateTime<Utc>)>,
}

/// Where the notifications of other hosts go: a payload per notification,
/// and [`RESYNC`] after the listening connection was lost and made again
/// (anything may have been missed meanwhile).
pub type Notifications = tokio::sync::mpsc::UnboundedSender<String>;

/// Sent to [`Notifications`] when notifications may have been missed.
pub const RESYNC: &str = "resync";

/// The notification of an instance created, changed or deleted through the API.
pub const INSTANCES_CHANGED: &str = "instances";

/// A fleet's leases, hosts and notifications. Calls are short and
/// synchronous; async callers run them on a blocking thread.
pub trait Leases: Send + Sync {
    /// Records that `host` (listening at `address`) is alive now, and returns
    /// the hosts seen within `ttl`, this one included, by name.
    fn heartbeat(&self, host: &str, address: &str, ttl: Duration) -> Result<Vec<String>, StoreError>;

    /// Makes sure a lease row exists for each of `keys`.
    fn ensure_leases(&self, keys: &[String]) -> Result<(), StoreError>;

    /// Extends by `ttl` those of `held` (key, token) that `host` still holds
    /// with that token, and returns them: a lease missing from the answer was
    /// taken by another host.
    fn renew(&self, host: &str, held: &[(String, i64)], ttl: Duration) -> Result<Vec<(String, i64)>, StoreError>;

    /// Takes those of `keys` that nobody holds or whose lease expired,
    /// skipping rows another host is taking at this moment; each taken lease
    /// gets the next token and is recorded as a [`Takeover`]. Returns the
    /// taken (key, token).
    fn acquire(&self, host: &str, keys: &[String], ttl: Duration) -> Result<Vec<(String, i64)>, StoreError>;

    /// Gives up `held` (key, token) at once, so that another host may take
    /// them without waiting for them to expire, and tells the fleet.
    fn release(&self, host: &str, held: &[(String, i64)]) -> Result<(), StoreError>;

    /// Who holds each of `keys` now (unexpired), by key.
    fn holders(&self, keys: &[String]) -> Result<Vec<(String, String)>, StoreError>;

    /// Records when the holder of `key` with `token` first worked under it.
    fn first_work(&self, key: &str, token: i64, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// The hosts, leases and latest takeovers.
    fn fleet_status(&self, takeovers: usize) -> Result<FleetStatus, StoreError>;

    /// Removes `host` from the fleet (a clean stop), releasing what it holds.
    fn leave(&self, host: &str) -> Result<(), StoreError>;

    /// Starts listening for the other hosts' notifications on a connection of
    /// its own (made again when lost), sending each to `to` until it is closed.
    fn listen(&self, to: Notifications) -> Result<(), StoreError>;
}
