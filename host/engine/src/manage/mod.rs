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
mod dry_run;
mod error;
mod inspect;
mod instances;
pub mod metrics;
mod plugin_try;
mod plugins;
mod push;
mod raw_records;
#[cfg(test)]
mod tests;
pub mod views;

use std::sync::Arc;

use arc_swap::ArcSwap;
use serde_json::Value;

use crate::config::{ApiSettings, ApiUser, ConfiguredInstance, Problems};
use crate::service::{Service, Shared, Snapshot, Supervisor};
use crate::store::StoredInstance;
pub use activity::MAX_EVENTS_LIMIT;
pub use error::{FieldProblem, ManageError, json_path};
pub use inspect::{AttemptView, EventFilter, InspectedEvent, MessageDetail, Redelivered};
pub use instances::{OutboxPolicy, Page};
pub use plugin_try::{MAX_TRY_RECORDS, PluginTryView, TrySide};
pub use push::HookError;
pub use raw_records::MAX_RAW_RECORDS;

/// Who is asking. The API's secrets were checked before the call and named
/// the user; an `Element` token, when one was presented, narrows it to that instance.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The API user's name: the owner of what they create.
    pub user: String,
    /// An organization admin sees and changes every instance; a user only their own.
    pub admin: bool,
    pub element_token: Option<String>,
}

impl Caller {
    /// The caller `user` is, without an `Element` token.
    pub fn of(user: &ApiUser) -> Self {
        Caller { user: user.name.clone(), admin: user.admin, element_token: None }
    }

    /// Whether this caller may see and use an instance owned by `owner`
    /// (configuration file instances without `owner` are the admins' only).
    pub fn sees(&self, owner: Option<&str>) -> bool {
        self.admin || owner == Some(self.user.as_str())
    }
}

/// The handle the API and the console hold: cheap to clone, narrow on purpose.
#[derive(Clone)]
pub struct Management {
    shared: Arc<Shared>,
    /// Changes to the running set, one at a time.
    supervisor: Arc<tokio::sync::Mutex<Supervisor>>,
    /// The running set as the last change left it.
    snapshot: Arc<ArcSwap<Snapshot>>,
}

impl Service {
    /// The typed service layer over this engine: what the management API and
    /// the console call.
    pub fn management(&self) -> Management {
        let (shared, supervisor, snapshot) = self.parts();
        Management { shared, supervisor, snapshot }
    }
}

impl Management {
    fn shared(&self) -> &Shared {
        &self.shared
    }

    /// The API's users and organization secret as the configuration says
    /// now: read on every call, so a reloaded secret counts at once.
    pub fn api_settings(&self) -> Arc<ApiSettings> {
        self.shared.api.load_full()
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Waits for other changes to instance `id` to finish; the change goes on
    /// while the guard lives.
    async fn changing(&self, id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        self.shared.changing.enter(id).await
    }

    /// A body read as the service runs it.
    fn configured(&self, id: &str, body: &Value, disabled: bool) -> Result<ConfiguredInstance, Problems> {
        self.shared.configured(id, body, disabled)
    }

    /// A stored instance read as the service runs it.
    fn configured_stored(&self, stored: &StoredInstance) -> Result<ConfiguredInstance, Problems> {
        self.shared.configured_stored(stored)
    }
}
