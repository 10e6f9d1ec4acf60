//! Whether this host may do a piece of work now. On a single host the answer
//! is always yes ([`Lease::solo`]). In a fleet, each poll loop and delivery
//! worker holds a [`Lease`] that the fleet's coordinator (`service::fleet`)
//! keeps up to date: held with a token until a local deadline, or not held.
//!
//! The deadline is measured on this host's monotonic clock from just before
//! the renewal was sent, a little short of the lease's time to live: a host
//! paused past it (SIGSTOP, a long GC-like stall, a cut network) stops working
//! when it wakes, before it learns whether someone else took over. What it had
//! in flight is still fenced by the database (see `store::leases`).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::store::Fence;

/// This host's right to one piece of work (see the module doc).
#[derive(Clone, Default)]
pub struct Lease(Option<Arc<LeaseCell>>);

/// A lease as the coordinator keeps it for this host.
pub(crate) struct LeaseCell {
    pub(crate) key: String,
    /// The instance whose work it is: an instance's leases go to one host.
    pub(crate) instance: String,
    pub(crate) host: String,
    pub(crate) state: watch::Sender<Holding>,
    /// Who holds it when this host does not, as last seen.
    pub(crate) elsewhere: Mutex<Option<String>>,
    /// The first work under a token, waiting to be recorded, and the last token recorded.
    pub(crate) first_work: Mutex<FirstWork>,
}

/// When work first happened under each token, for the takeover's record.
#[derive(Default)]
pub(crate) struct FirstWork {
    pub(crate) waiting: Option<(i64, DateTime<Utc>)>,
    pub(crate) recorded: Option<i64>,
}

/// Whether this host holds a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Holding {
    NotHeld,
    Held { token: i64, until: Instant },
}

/// Why a piece of work is not this host's now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this host does not hold lease `{key}`: {}", match holder {
    Some(holder) => format!("host `{holder}` holds it"),
    None => "no host holds it yet".to_owned(),
})]
pub struct NotHeld {
    pub key: String,
    pub holder: Option<String>,
}

impl LeaseCell {
    pub(crate) fn new(key: String, instance: String, host: String) -> Self {
        LeaseCell {
            key,
            instance,
            host,
            state: watch::Sender::new(Holding::NotHeld),
            elsewhere: Mutex::new(None),
            first_work: Mutex::new(FirstWork::default()),
        }
    }

    pub(crate) fn holding(&self) -> Holding {
        *self.state.borrow()
    }

    pub(crate) fn set(&self, holding: Holding) {
        self.state.send_replace(holding);
    }
}

impl Lease {
    /// A single host's lease: always held, nothing to fence.
    pub fn solo() -> Lease {
        Lease(None)
    }

    pub(crate) fn of(cell: Arc<LeaseCell>) -> Lease {
        Lease(Some(cell))
    }

    /// The fence to write under now: `None` on a single host; an error when
    /// this host does not hold the lease, or its deadline has passed.
    pub fn fence(&self) -> Result<Option<Fence>, NotHeld> {
        let Some(cell) = &self.0 else { return Ok(None) };
        match cell.holding() {
            Holding::Held { token, until } if Instant::now() < until => {
                Ok(Some(Fence { key: cell.key.clone(), token }))
            }
            _ => Err(NotHeld {
                key: cell.key.clone(),
                holder: cell.elsewhere.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            }),
        }
    }

    /// This host's name in the fleet; `None` on a single host.
    pub fn host(&self) -> Option<&str> {
        self.0.as_deref().map(|cell| cell.host.as_str())
    }

    /// Waits until this host holds the lease (at once on a single host).
    pub async fn held(&self) {
        let Some(cell) = &self.0 else { return };
        let mut changes = cell.state.subscribe();
        loop {
            if let Holding::Held { until, .. } = *changes.borrow_and_update()
                && Instant::now() < until
            {
                return;
            }
            if changes.changed().await.is_err() {
                // The coordinator is gone with the service: the lease never comes.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Notes that work was done under `fence` at `at`: the first time for a
    /// token, it is recorded with the takeover (failover time).
    pub fn worked(&self, fence: Option<&Fence>, at: DateTime<Utc>) {
        let (Some(cell), Some(fence)) = (&self.0, fence) else { return };
        let mut first = cell.first_work.lock().unwrap_or_else(|p| p.into_inner());
        let known = first.recorded == Some(fence.token) || first.waiting.is_some_and(|(token, _)| token == fence.token);
        if !known {
            first.waiting = Some((fence.token, at));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cell() -> Arc<LeaseCell> {
        Arc::new(LeaseCell::new("poll:acme/incidents".into(), "acme".into(), "a".into()))
    }

    #[test]
    fn a_single_host_always_holds_its_leases_with_nothing_to_fence() {
        assert_eq!(Lease::solo().fence(), Ok(None));
        assert_eq!(Lease::solo().host(), None);
    }

    #[test]
    fn a_lease_fences_with_its_token_until_its_deadline_then_says_who_holds_it() {
        let cell = cell();
        let lease = Lease::of(cell.clone());
        let err = lease.fence().unwrap_err();
        assert_eq!(err.to_string(), "this host does not hold lease `poll:acme/incidents`: no host holds it yet");
        cell.set(Holding::Held { token: 7, until: Instant::now() + Duration::from_secs(5) });
        assert_eq!(lease.fence(), Ok(Some(Fence { key: "poll:acme/incidents".into(), token: 7 })));
        // Past its deadline (a host paused that long), it is not used, renewed or not.
        cell.set(Holding::Held { token: 7, until: Instant::now() - Duration::from_millis(1) });
        *cell.elsewhere.lock().unwrap() = Some("b".into());
        assert_eq!(lease.fence().unwrap_err().holder.as_deref(), Some("b"));
    }

    #[tokio::test]
    async fn waiting_for_a_lease_ends_when_it_is_taken() {
        let cell = cell();
        let lease = Lease::of(cell.clone());
        let waiting = tokio::spawn(async move { lease.held().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        cell.set(Holding::Held { token: 1, until: Instant::now() + Duration::from_secs(5) });
        tokio::time::timeout(Duration::from_secs(2), waiting).await.expect("woken").unwrap();
    }

    #[test]
    fn the_first_work_under_each_token_is_kept_once() {
        let cell = cell();
        let lease = Lease::of(cell.clone());
        let fence = Fence { key: cell.key.clone(), token: 3 };
        let (early, late) = (Utc::now(), Utc::now() + chrono::TimeDelta::seconds(1));
        lease.worked(Some(&fence), early);
        lease.worked(Some(&fence), late);
        assert_eq!(cell.first_work.lock().unwrap().waiting, Some((3, early)));
    }
}
