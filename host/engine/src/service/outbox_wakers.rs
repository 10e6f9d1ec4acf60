//! Wakes the delivery workers of instances whose outbox holds pending
//! messages nobody told them about: a replay through the management API or
//! from another process (`autotask-events events replay`). A poll that writes
//! to the outbox wakes its worker itself.
//!
//! One query for the whole host every [`RECHECK`], instead of every idle
//! worker asking for its own outbox that often: ten thousand idle instances
//! would otherwise cost thousands of queries a second, most of an idle core.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::poll::blocking;

/// How soon a pending message nobody announced is noticed.
pub(crate) const RECHECK: Duration = Duration::from_secs(2);

/// Each running instance's "outbox ready" signal, by instance id.
#[derive(Default)]
pub(crate) struct OutboxWakers(Mutex<HashMap<String, Weak<Notify>>>);

impl OutboxWakers {
    /// From now on, pending messages of instance `id` wake `ready` (replacing
    /// what an earlier run of the instance registered).
    pub(crate) fn register(&self, id: &str, ready: &Arc<Notify>) {
        self.lock().insert(id.to_owned(), Arc::downgrade(ready));
    }

    /// Wakes the workers of instances `ids`; forgets the signals of stopped ones.
    pub(crate) fn wake(&self, ids: &[String]) {
        let mut wakers = self.lock();
        wakers.retain(|_, ready| ready.strong_count() > 0);
        for ready in ids.iter().filter_map(|id| wakers.get(id)?.upgrade()) {
            // Kept as a permit when the worker is busy: it looks again when done.
            ready.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Weak<Notify>>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Every [`RECHECK`] until `shutdown`, wakes the workers of instances with pending messages.
pub(crate) async fn run(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(RECHECK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let store = shared.store.clone();
        match blocking(move || store.instances_with_pending()).await {
            Ok(ids) => shared.outbox_wakers.wake(&ids),
            Err(error) => tracing::warn!("cannot look for pending messages: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_the_named_running_instances_are_woken() {
        let wakers = OutboxWakers::default();
        let (pending, idle) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        wakers.register("pending", &pending);
        wakers.register("idle", &idle);
        {
            let stopped = Arc::new(Notify::new());
            wakers.register("stopped", &stopped);
        }
        wakers.wake(&["pending".into(), "stopped".into(), "unknown".into()]);
        let woken = |ready: Arc<Notify>| async move {
            tokio::time::timeout(Duration::from_millis(50), ready.notified()).await.is_ok()
        };
        assert!(woken(pending).await, "an instance with pending messages is woken");
        assert!(!woken(idle).await, "one without is not");
        assert_eq!(wakers.lock().len(), 2, "a stopped instance's signal is forgotten");
    }
}
