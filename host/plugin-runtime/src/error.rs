//! What can go wrong with a plugin. Every variant names the plugin.

use std::path::PathBuf;
use std::time::Duration;

/// A plugin could not be loaded, or one batch failed in it. Either way the host
/// keeps running and the next batch starts afresh.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("cannot read plugin file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },

    #[error("plugin `{plugin}` is not a WebAssembly component: {reason}")]
    NotAComponent { plugin: String, reason: String },

    #[error("plugin `{plugin}` does not implement the autotask-events plugin world: {missing}")]
    WrongWorld { plugin: String, missing: String },

    #[error("plugin `{plugin}` trapped: {reason}")]
    Trap { plugin: String, reason: String },

    #[error("plugin `{plugin}` ran past its time limit of {limit:?} and was stopped")]
    Timeout { plugin: String, limit: Duration },

    #[error("plugin `{plugin}` hit its memory limit of {limit_mib} MiB and was stopped")]
    MemoryLimit { plugin: String, limit_mib: usize },

    #[error("plugin `{plugin}` returned a malformed result: {reason}")]
    MalformedResult { plugin: String, reason: String },

    /// A script plugin's own error: it does not parse, it threw while its top
    /// level ran, or it defines no mapping. The reason names file and line.
    #[error("script plugin `{plugin}` could not be loaded: {reason}")]
    Script { plugin: String, reason: String },

    #[error("plugin `{plugin}` could not map the sample record {object_id}: {reason}")]
    SampleRejected { plugin: String, object_id: String, reason: String },

    #[error("plugin `{plugin}` could not be run: {reason}")]
    Runtime { plugin: String, reason: String },
}
