//! Which plugin file each resource uses, and loading each file once however
//! many instances use it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::builtin::{INCIDENTS_FILE_NAME, INCIDENTS_WASM};
use crate::config::ConfiguredInstance;
use crate::plugin::{Plugin, PluginRuntime};

/// The plugin file of `resource`: the one the instance names, else `<plugin_dir>/<resource>.wasm`.
pub fn plugin_path(plugin_dir: &Path, instance: &ConfiguredInstance, resource: &str) -> PathBuf {
    instance.plugins.get(resource).cloned().unwrap_or_else(|| plugin_dir.join(format!("{resource}.wasm")))
}

/// Writes the built-in `incidents.wasm` into `plugin_dir` unless a file is
/// already there (a user's own incidents plugin is never replaced). Returns
/// whether it wrote one.
pub fn install_builtin(plugin_dir: &Path) -> std::io::Result<bool> {
    std::fs::create_dir_all(plugin_dir)?;
    let path = plugin_dir.join(INCIDENTS_FILE_NAME);
    if path.exists() {
        return Ok(false);
    }
    // Written beside and renamed into place: a reader never sees half a file.
    let partial = plugin_dir.join(format!(".{INCIDENTS_FILE_NAME}.partial"));
    std::fs::write(&partial, INCIDENTS_WASM)?;
    std::fs::rename(&partial, &path)?;
    Ok(true)
}

/// Plugins by file, each compiled once.
pub struct PluginSet {
    runtime: Arc<PluginRuntime>,
    loaded: Mutex<HashMap<PathBuf, Result<Arc<Plugin>, String>>>,
}

impl PluginSet {
    pub fn new(runtime: Arc<PluginRuntime>) -> Self {
        PluginSet { runtime, loaded: Mutex::new(HashMap::new()) }
    }

    /// The plugin in `path`, loading it on first use; the error says what is wrong with the file.
    pub fn get(&self, path: &Path) -> Result<Arc<Plugin>, String> {
        if let Some(loaded) = self.lock().get(path) {
            return loaded.clone();
        }
        let loaded = if path.exists() {
            self.runtime.load_file(path).map(Arc::new).map_err(|e| e.to_string())
        } else {
            Err(format!("plugin file {} does not exist", path.display()))
        };
        self.lock().insert(path.to_path_buf(), loaded.clone());
        loaded
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Result<Arc<Plugin>, String>>> {
        self.loaded.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The short name of a plugin file for logs and metrics: `incidents.wasm`.
pub fn plugin_label(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |name| name.to_string_lossy().into_owned())
}
