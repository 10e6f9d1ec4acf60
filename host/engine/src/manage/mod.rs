//! The typed service layer: everything the management API and the console do
//! with instances and plugins, as Rust calls returning Rust types. It owns the
//! store-row-plus-running-set transaction of each change and its rollback.
//!
//! Instances come from two places: created through this layer (stored in the
//! state database, with a number id and a token) or written in the
//! configuration file (text id, read-only here). Calls that only look never
//! wait for a change in progress: they read the supervisor's published
//! [`Snapshot`]. Calls that talk to Autotask or a callback (a poll now,
//! delivering before a delete, a credentials check) hold no lock shared with
//! other instances while they do.

mod activity;
pub mod body;
mod error;
mod instances;
#[cfg(test)]
mod tests;
pub mod views;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use serde_json::Value;

use crate::config::{ConfiguredInstance, Problems, read_api_instance};
use crate::service::poll::blocking;
use crate::service::{Shared, Snapshot, StartError, Supervisor};
use crate::store::StoredInstance;
pub use error::{FieldProblem, ManageError, json_path};
pub use instances::OutboxPolicy;

/// Who is asking. The API's secrets were checked before the call; an
/// `Element` token, when one was presented, narrows it to that instance.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub element_token: Option<String>,
}

/// The handle the API and the console hold: cheap to clone, narrow on purpose.
#[derive(Clone)]
pub struct Management {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    /// Changes to the running set, one at a time.
    supervisor: Arc<tokio::sync::Mutex<Supervisor>>,
    /// The running set as the last change left it.
    snapshot: Arc<ArcSwap<Snapshot>>,
    /// One change at a time per instance, so a delete delivering its outbox
    /// and a change to the same instance cannot interleave.
    changing: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Management {
    pub(crate) fn new(
        shared: Arc<Shared>,
        supervisor: Arc<tokio::sync::Mutex<Supervisor>>,
        snapshot: Arc<ArcSwap<Snapshot>>,
    ) -> Self {
        Management { inner: Arc::new(Inner { shared, supervisor, snapshot, changing: Mutex::default() }) }
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.snapshot.load_full()
    }

    /// Waits for other changes to instance `id` to finish; the change goes on
    /// while the guard lives.
    async fn changing(&self, id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let gate = {
            let mut gates = self.inner.changing.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            // A gate nobody holds (only the map refers to it) is forgotten.
            gates.retain(|_, gate| Arc::strong_count(gate) > 1);
            gates.entry(id.to_owned()).or_default().clone()
        };
        gate.lock_owned().await
    }

    /// Starts the instances created through the API in earlier runs. One that
    /// no longer reads (say, the host lost its integration code) is logged and
    /// left stopped; the others start.
    pub(crate) async fn start_stored_instances(&self) -> Result<(), StartError> {
        let store = self.shared().store.clone();
        for stored in blocking(move || store.api_instances()).await? {
            let id = stored.id.to_string();
            match self.configured_stored(&stored) {
                Ok(configured) => {
                    if let Err(error) = self.inner.supervisor.lock().await.apply_api(&id, Some(configured)).await {
                        tracing::error!(instance = %id, "the instance created through the API cannot start: {error}");
                    }
                }
                Err(problems) => {
                    tracing::error!(instance = %id, "the instance created through the API no longer reads, not started: {problems}")
                }
            }
        }
        Ok(())
    }

    /// A body read as the service runs it.
    fn configured(&self, id: &str, body: &Value, disabled: bool) -> Result<ConfiguredInstance, Problems> {
        let code = self.shared().settings.integration_code.as_ref().map(|code| code.expose());
        read_api_instance(id.to_owned(), body, disabled, code)
    }

    /// A stored instance read as the service runs it.
    fn configured_stored(&self, stored: &StoredInstance) -> Result<ConfiguredInstance, Problems> {
        self.configured(&stored.id.to_string(), &stored_body(stored), stored.disabled)
    }
}

/// The body a stored instance was created with (the store only holds JSON this layer wrote).
fn stored_body(stored: &StoredInstance) -> Value {
    serde_json::from_str(&stored.body).unwrap_or(Value::Null)
}
