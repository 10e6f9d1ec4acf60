//! Plugins uploaded through the management API, kept with every version: the
//! database, not the plugin directory, is where an uploaded plugin lives, so a
//! rollback needs no copy of an old file and every host of a fleet (one
//! PostgreSQL database) writes the same active version into its own plugin
//! directory (`service::uploads`).
//!
//! A name is a plugin file name (`incidents.js`). Its versions are numbered
//! 1, 2, 3… and never change; the same bytes uploaded again are the version
//! they already are. One version is **active per resource** (the file name
//! without its extension): the registry maps `incidents` with whichever of
//! `incidents.wasm`, `.js` or `.py` is there, so activating `incidents.js`
//! version 2 ends the activity of any `incidents.wasm` version.

use chrono::{DateTime, Utc};

use super::StoreError;

/// One stored version of a plugin, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginVersion {
    /// The plugin file name: `incidents.js`.
    pub name: String,
    /// 1, 2, 3… per name.
    pub version: i64,
    /// The SHA-256 of the bytes, in hex.
    pub sha256: String,
    pub size: u64,
    pub uploaded_at: DateTime<Utc>,
    /// The API user who uploaded it first.
    pub uploaded_by: String,
    /// Whether it is the version its resource is mapped with.
    pub active: bool,
}

/// The active version of one resource's plugin, as the plugin directory should hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivePlugin {
    pub name: String,
    pub version: i64,
    pub sha256: String,
}

/// Uploaded plugins and their versions.
pub trait PluginVersions: Send + Sync {
    /// Stores `bytes` as the next version of `name`, or finds the version that
    /// already holds the same bytes (by `sha256`), and makes it the active one
    /// of its resource, in one transaction. Returns it, and whether it is new.
    fn save_plugin_version(
        &self,
        name: &str,
        bytes: &[u8],
        sha256: &str,
        uploaded_by: &str,
        now: DateTime<Utc>,
    ) -> Result<(PluginVersion, bool), StoreError>;

    /// Makes version `version` of `name` the active one of its resource; `None`
    /// (and nothing changed) when there is no such version.
    fn activate_plugin_version(
        &self,
        name: &str,
        version: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<PluginVersion>, StoreError>;

    /// Every version of `name`, newest first.
    fn plugin_versions(&self, name: &str) -> Result<Vec<PluginVersion>, StoreError>;

    /// The active version of every resource that has an uploaded plugin: one
    /// short query, cheap enough to run every few seconds.
    fn active_plugins(&self) -> Result<Vec<ActivePlugin>, StoreError>;

    /// The bytes of version `version` of `name`.
    fn plugin_bytes(&self, name: &str, version: i64) -> Result<Option<Vec<u8>>, StoreError>;
}

/// The resource a plugin file name maps: `incidents.js` → `incidents`. Only one
/// plugin of a resource can be active.
pub(crate) fn plugin_resource(name: &str) -> &str {
    name.rsplit_once('.').map_or(name, |(stem, _)| stem)
}

/// The columns both backends read a version's summary from, `v` being
/// `plugin_versions` and `a` its `active_plugins` row, if any ([`FROM`]).
pub(super) const SUMMARY: &str =
    "v.name, v.version, v.sha256, v.size, v.uploaded_at, v.uploaded_by, a.name IS NOT NULL";

pub(super) const FROM: &str =
    "FROM plugin_versions v LEFT JOIN active_plugins a ON a.name = v.name AND a.version = v.version";
