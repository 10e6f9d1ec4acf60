//! A dry run on demand: what a poll now of an instance would deliver, read
//! and mapped by each resource's own poller with nothing written (see
//! [`crate::service::dry_run`]). Authorized as a poll now is.

use super::views::{DryRunView, ResourceDryRun};
use super::{Caller, ManageError, Management};

/// How long a dry run may take per resource before it is given up.
const DRY_RUN_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

impl Management {
    /// Dry-runs instance `id`'s resources (or only `resource`): each answer
    /// holds the rendered URL, the query, the pages read and the messages a
    /// poll now would post. The watermark, the outbox and the seen records are
    /// left as they were, and nothing is sent. Runs beside the resources'
    /// scheduled polls, and on any host of a fleet (no lease is needed).
    pub async fn dry_run(&self, id: &str, caller: &Caller, resource: Option<&str>) -> Result<DryRunView, ManageError> {
        let instance = self.find(id, caller).await?.id();
        let snapshot = self.snapshot();
        let handles = snapshot.resources(&instance);
        if handles.is_empty() {
            return Err(ManageError::Conflict(format!(
                "instance `{id}` is not polled (disabled, or events are not enabled)"
            )));
        }
        let chosen: Vec<_> = handles.iter().filter(|handle| resource.is_none_or(|name| name == handle.name)).collect();
        if chosen.is_empty() {
            let name = resource.unwrap_or_default();
            return Err(ManageError::field("?resource", format!("instance `{id}` has no resource `{name}`")));
        }
        let mut resources = Vec::new();
        for handle in chosen {
            let result = match tokio::time::timeout(DRY_RUN_WAIT, handle.dry_run()).await {
                Ok(result) => result.map_err(|error| error.to_string()),
                Err(_) => Err(format!("the dry run took longer than {}s and was given up", DRY_RUN_WAIT.as_secs())),
            };
            resources.push(ResourceDryRun::new(&handle.name, result));
        }
        tracing::info!(instance = %id, resources = resources.len(), "dry run asked through the API");
        Ok(DryRunView { instance_id: instance, dry_run: true, resources })
    }
}
