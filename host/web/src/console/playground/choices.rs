//! What the playground offers: the resources the service has a plugin for,
//! and for the chosen one the plugin serving it, its active stored version
//! and the other stored versions to try against it.

use engine::manage::views::PluginVersionView;
use engine::manage::{Caller, ManageError, Management};
use engine::service::plugins::Status;

/// The extensions of a plugin file, in the order a resource's active upload is looked for.
const EXTENSIONS: [&str; 3] = ["wasm", "js", "py"];

/// The resources a plugin serves, sorted: the stems of the plugin files loaded.
pub(super) fn resources(management: &Management) -> Vec<String> {
    management.plugin_directory_resources()
}

/// The chosen resource's plugin and versions.
#[derive(Debug, Clone)]
pub(super) struct Chosen {
    pub(super) resource: String,
    /// The plugin file serving it: `incidents.js`.
    pub(super) plugin: String,
    /// The SHA-256 of the current version: the active one's, else the serving file's.
    pub(super) current_sha256: Option<String>,
    /// Every stored version of [`Chosen::plugin`], newest first.
    pub(super) versions: Vec<PluginVersionView>,
}

impl Chosen {
    /// `resource`'s plugin: its active uploaded plugin (which serves it, or
    /// will once the watcher swapped it in), else the file serving it;
    /// `NotFound` when there is neither.
    pub(super) async fn of(management: &Management, resource: &str) -> Result<Chosen, ManageError> {
        let serving = management
            .plugins()
            .into_iter()
            .filter(|plugin| !matches!(plugin.status, Status::Missing | Status::Removed))
            .find(|plugin| plugin.name.rsplit_once('.').is_some_and(|(stem, _)| stem == resource));
        for extension in EXTENSIONS {
            let name = format!("{resource}.{extension}");
            let versions = management.plugin_versions(&name).await?;
            if let Some(active) = versions.iter().find(|version| version.active) {
                let current_sha256 = Some(active.sha256.clone());
                return Ok(Chosen { resource: resource.to_owned(), plugin: name, current_sha256, versions });
            }
        }
        let serving = serving.ok_or_else(|| ManageError::NotFound(format!("plugin for resource `{resource}`")))?;
        let versions = management.plugin_versions(&serving.name).await?;
        Ok(Chosen { resource: resource.to_owned(), plugin: serving.name, current_sha256: serving.version, versions })
    }

    /// The active stored version, when the plugin was uploaded.
    pub(super) fn active(&self) -> Option<&PluginVersionView> {
        self.versions.iter().find(|version| version.active)
    }

    /// The stored versions that can be tried against the active one.
    pub(super) fn others(&self) -> impl Iterator<Item = &PluginVersionView> {
        let active = self.active().is_some();
        self.versions.iter().filter(move |version| active && !version.active)
    }
}

/// Whether `caller` may activate a version: what `POST …/versions/{v}/activate` asks.
pub(super) fn may_activate(caller: &Caller) -> bool {
    caller.admin
}

/// Why `caller` may not activate a version, as the page says it.
pub(super) fn why_only_admins(caller: &Caller) -> String {
    format!(
        "Only an organization admin may activate a plugin version: plugins map the events of every instance \
         (you are signed in as `{}`, who is not one). You can still try versions here.",
        caller.user
    )
}
