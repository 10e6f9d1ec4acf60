//! The plugins in use, each in a slot that a new version of its file can
//! replace while the service runs.
//!
//! A slot holds the plugin of one file. Pollers take the slot's current plugin
//! for each batch, so a batch in flight finishes on the version it started
//! with and every later batch uses the new one. A new version is compiled and
//! tried off the polling path (an empty batch, then sample records) and swapped
//! in only if all of that passes; otherwise the old version keeps serving and
//! one error says what is wrong with the file.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::metrics::{Metrics, RELOAD_LOADED, RELOAD_REJECTED, RELOAD_REMOVED, ReloadLabels};
use crate::config::ConfiguredInstance;
use plugin_runtime::priority::in_background;
use plugin_runtime::{Plugin, PluginError, PluginRuntime, Sample, version_of_file};

/// How long a file that does not parse is given to finish being written
/// before it is reported as broken.
const SETTLE: Duration = Duration::from_millis(400);

/// The extensions of plugin files: a component, or a script in one of the
/// languages that have a runner.
const PLUGIN_EXTENSIONS: [&str; 3] = ["wasm", "js", "py"];

/// Where the plugin of `resource` comes from: the file the instance names,
/// else `<plugin_dir>/<resource>` with no extension, which stands for whichever
/// of `<resource>.wasm`, `.js` and `.py` is there (see [`PluginRegistry::slot`]).
pub fn plugin_path(plugin_dir: &Path, instance: &ConfiguredInstance, resource: &str) -> PathBuf {
    instance.plugins.get(resource).cloned().unwrap_or_else(|| plugin_dir.join(resource))
}

/// The plugin file there is for `key` (what [`plugin_path`] returned), if any.
pub fn existing_plugin_file(key: &Path) -> Option<PathBuf> {
    candidate_files(key).into_iter().find(|path| path.exists())
}

/// The plugin file there is for `key`, else the first it may be (`R.wasm`).
pub fn plugin_file_or_default(key: &Path) -> PathBuf {
    existing_plugin_file(key).unwrap_or_else(|| candidate_files(key).swap_remove(0))
}

/// Where a plugin for `key` goes, for messages: the file, or
/// `R.wasm, R.js or R.py in DIR`.
pub fn expected_plugin_files(key: &Path) -> String {
    let candidates = candidate_files(key);
    match candidates.as_slice() {
        [only] => only.display().to_string(),
        _ => {
            let names: Vec<String> = candidates.iter().map(|path| plugin_label(path)).collect();
            let dir = key.parent().map(|dir| dir.display().to_string()).unwrap_or_default();
            let (last, others) = names.split_last().expect("three extensions");
            format!("{} or {last} in {dir}", others.join(", "))
        }
    }
}

/// The files a slot keyed by `key` may load: the key itself when it names a
/// plugin file, else each plugin extension added to it.
pub(crate) fn candidate_files(key: &Path) -> Vec<PathBuf> {
    if has_plugin_extension(key) {
        return vec![key.to_path_buf()];
    }
    PLUGIN_EXTENSIONS.iter().map(|extension| with_extension(key, extension)).collect()
}

/// `key` with `.extension` appended (not replacing: a resource may contain a dot).
fn with_extension(key: &Path, extension: &str) -> PathBuf {
    let mut name = key.as_os_str().to_owned();
    name.push(".");
    name.push(extension);
    PathBuf::from(name)
}

fn has_plugin_extension(path: &Path) -> bool {
    path.extension().and_then(|ext| ext.to_str()).is_some_and(|ext| PLUGIN_EXTENSIONS.contains(&ext))
}

/// The short name of a plugin file for logs and metrics: `incidents.wasm`.
pub fn plugin_label(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |name| name.to_string_lossy().into_owned())
}

/// The first 12 hex digits of a version, for log lines.
pub fn short_version(version: &str) -> &str {
    &version[..version.len().min(12)]
}

/// Whether `path` is a file the plugin directory's watcher should load:
/// `*.wasm`, `*.js` or `*.py`, not hidden (editors and installers write
/// hidden temporaries).
pub fn is_plugin_file(path: &Path) -> bool {
    let name = path.file_name().map(|name| name.to_string_lossy()).unwrap_or_default();
    has_plugin_extension(path) && !name.starts_with('.')
}

/// Every plugin file the service knows: the configured ones and whatever is in
/// the plugin directory.
pub struct PluginRegistry {
    runtime: Arc<PluginRuntime>,
    plugin_dir: PathBuf,
    metrics: Arc<Metrics>,
    slots: Mutex<BTreeMap<PathBuf, Arc<PluginSlot>>>,
    /// The latest loads, rejections and removals, newest last.
    history: Mutex<VecDeque<Reload>>,
    shutdown: CancellationToken,
}

/// How many reloads `history` keeps.
const HISTORY_LENGTH: usize = 100;

/// One thing that happened to a plugin file, as the console's reload history shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reload {
    pub date: String,
    pub plugin: String,
    /// `loaded`, `rejected`, `removed`, or `restored` (the file is again the version serving).
    #[schema(value_type = String)]
    pub outcome: &'static str,
    /// The version loaded, or the one that was rejected.
    pub version: Option<String>,
    /// Why it was rejected, or which version it replaced.
    pub detail: Option<String>,
}

impl PluginRegistry {
    pub fn new(
        runtime: Arc<PluginRuntime>,
        plugin_dir: PathBuf,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(PluginRegistry {
            runtime,
            plugin_dir,
            metrics,
            slots: Mutex::default(),
            history: Mutex::default(),
            shutdown,
        })
    }

    /// The slot of `path`, loaded the first time it is asked for.
    pub async fn slot(self: &Arc<Self>, path: &Path) -> Arc<PluginSlot> {
        let (slot, new) = self.slot_entry(path);
        if new {
            self.reload(&slot).await;
        }
        slot
    }

    fn slot_entry(self: &Arc<Self>, path: &Path) -> (Arc<PluginSlot>, bool) {
        let mut slots = lock(&self.slots);
        if let Some(slot) = slots.get(path) {
            return (slot.clone(), false);
        }
        let slot = Arc::new(PluginSlot::new(path.to_path_buf()));
        slots.insert(path.to_path_buf(), slot.clone());
        tokio::spawn(self.clone().reload_loop(slot.clone()));
        (slot, true)
    }

    /// Frees `slot` once nothing uses it and it has no version to show: its
    /// last user detached and its file does not exist or never loaded. A
    /// service that sees many resource names (instances created and deleted)
    /// would otherwise keep a slot, and a `/plugins` entry, for each forever.
    pub fn release(&self, slot: &Arc<PluginSlot>) {
        let mut slots = lock(&self.slots);
        if !slots.get(&slot.key).is_some_and(|known| Arc::ptr_eq(known, slot)) {
            return;
        }
        let unused = lock(&slot.state).users.is_empty();
        if unused && (slot.current().is_none() || !slot.candidates.iter().any(|path| path.exists())) {
            slots.remove(&slot.key);
            slot.retired.cancel();
        }
    }

    /// Loads every plugin file in the plugin directory, so files that no
    /// instance uses yet are listed (and ready when one does).
    pub async fn scan(self: &Arc<Self>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(&self.plugin_dir)? {
            let path = entry?.path();
            if is_plugin_file(&path) {
                self.slot(&path.with_extension("")).await;
            }
        }
        Ok(())
    }

    /// Something happened to `path` (written, renamed, removed): load it again
    /// (in the background: the caller goes on).
    pub fn file_changed(self: &Arc<Self>, path: &Path) {
        // A file the configuration names is its own slot; one in the plugin
        // directory belongs to its resource's slot, whatever its extension.
        let in_plugin_dir = path.parent() == Some(self.plugin_dir.as_path()) && is_plugin_file(path);
        let resource_key = path.with_extension("");
        let known = {
            let slots = lock(&self.slots);
            slots.get(path).or_else(|| in_plugin_dir.then(|| slots.get(&resource_key)).flatten()).cloned()
        };
        let slot = match known {
            Some(slot) => slot,
            None if in_plugin_dir && path.exists() => self.slot_entry(&resource_key).0,
            None => return,
        };
        slot.dirty.notify_one();
    }

    /// The directories holding the known plugin files (the watcher watches these).
    pub fn directories(&self) -> BTreeSet<PathBuf> {
        let mut dirs: BTreeSet<PathBuf> =
            lock(&self.slots).keys().filter_map(|path| path.parent().map(Path::to_path_buf)).collect();
        dirs.insert(self.plugin_dir.clone());
        dirs
    }

    /// Every slot, for `GET /plugins`.
    pub fn list(&self) -> Vec<PluginStatus> {
        lock(&self.slots).values().map(|slot| slot.status()).collect()
    }

    /// Every file with a version serving, with that version: what a caller
    /// reads a loaded plugin's description from, whatever the file's kind.
    pub fn loaded(&self) -> Vec<(PathBuf, Arc<Plugin>)> {
        lock(&self.slots).values().filter_map(|slot| Some((slot.path(), slot.current()?))).collect()
    }

    /// The latest reloads, newest first.
    pub fn history(&self) -> Vec<Reload> {
        lock(&self.history).iter().rev().cloned().collect()
    }

    fn remember(&self, slot: &PluginSlot, outcome: &'static str, version: Option<&str>, detail: Option<String>) {
        let mut history = lock(&self.history);
        if history.len() == HISTORY_LENGTH {
            history.pop_front();
        }
        history.push_back(Reload {
            date: crate::dates::format_instant(Utc::now()),
            plugin: slot.label(),
            outcome,
            version: version.map(str::to_owned),
            detail,
        });
    }

    /// Loads the slot's file each time it is marked dirty, until shutdown.
    async fn reload_loop(self: Arc<Self>, slot: Arc<PluginSlot>) {
        loop {
            tokio::select! {
                () = slot.dirty.notified() => {}
                () = self.shutdown.cancelled() => return,
                () = slot.retired.cancelled() => return,
            }
            self.reload(&slot).await;
        }
    }

    /// Reads the file and, when it is a new version, loads, checks and swaps it in.
    async fn reload(&self, slot: &PluginSlot) {
        let mut waited_for_writes = false;
        loop {
            let candidates = slot.candidates.clone();
            let read = tokio::task::spawn_blocking(move || read_one_of(&candidates)).await.expect("no panic");
            let (path, bytes) = match read {
                Ok(Some(found)) => found,
                Ok(None) => return self.removed(slot),
                Err(cause) => return self.rejected(slot, None, cause),
            };
            slot.set_file(&path);
            let version = version_of_file(&path, &bytes);
            if slot.is_current(&version) {
                return self.back_to_current(slot);
            }
            if slot.is_rejected(&version) {
                return;
            }
            let started = Instant::now();
            let loaded = self.check(path, bytes, slot.samples(), slot.current().is_some()).await;
            match loaded {
                Ok(plugin) => return self.activate(slot, plugin, started.elapsed()),
                // A file still being written does not parse yet: give the writer a
                // moment, and report it only if it stays the same.
                Err(PluginError::NotAComponent { .. } | PluginError::Script { .. }) if !waited_for_writes => {
                    waited_for_writes = true;
                    tokio::time::sleep(SETTLE).await;
                }
                Err(error) => return self.rejected(slot, Some(version), error.to_string()),
            }
        }
    }

    /// The check every new version passes before it serves: compiled (or its
    /// script read), then tried on an empty batch and on `samples`. While a
    /// version is `serving`, it keeps mapping meanwhile: polling comes first.
    async fn check(
        &self,
        path: PathBuf,
        bytes: Vec<u8>,
        samples: Vec<Sample>,
        serving: bool,
    ) -> Result<Plugin, PluginError> {
        let runtime = self.runtime.clone();
        let load = move || runtime.load_source(&path, &bytes, &samples);
        if serving {
            in_background(load).await
        } else {
            // Its resources wait for this one.
            tokio::task::spawn_blocking(load).await.expect("no panic")
        }
    }

    /// Checks `bytes` as the file `file_name` of the plugin directory, as
    /// a file dropped there would be (the same compile, the same tries, on the
    /// samples of the resources that use that plugin now), without writing it:
    /// an upload is stored only if it passes. The error is the text a
    /// rejected file's would be.
    pub async fn check_upload(&self, file_name: &str, bytes: Vec<u8>) -> Result<(), String> {
        let path = self.plugin_dir.join(file_name);
        let samples = lock(&self.slots).get(&path.with_extension("")).map(|slot| slot.samples()).unwrap_or_default();
        self.check(path, bytes, samples, true).await.map(drop).map_err(|error| error.to_string())
    }

    /// Compiles `bytes` as the file `file_name` of the plugin directory with
    /// the service's runtime (its compile cache and limits), off the polling
    /// path, for a comparison (`POST /plugins/{name}/try`): nothing is tried,
    /// written or swapped in.
    pub async fn load_to_try(&self, file_name: &str, bytes: Vec<u8>) -> Result<Arc<Plugin>, String> {
        let path = self.plugin_dir.join(file_name);
        let runtime = self.runtime.clone();
        in_background(move || runtime.load_source(&path, &bytes, &[]))
            .await
            .map(Arc::new)
            .map_err(|error| error.to_string())
    }

    /// The plugin serving `resource` from the plugin directory now, with its file's name.
    pub fn serving(&self, resource: &str) -> Option<(String, Arc<Plugin>)> {
        let slot = lock(&self.slots).get(&self.plugin_dir.join(resource))?.clone();
        Some((slot.label(), slot.current()?))
    }

    fn activate(&self, slot: &PluginSlot, plugin: Plugin, took: Duration) {
        let version = plugin.version().to_owned();
        let previous = slot.current.swap(Some(Arc::new(plugin)));
        {
            let mut state = lock(&slot.state);
            state.status = Status::Active;
            state.loaded_at = Some(Utc::now());
            state.error = None;
            state.rejected_version = None;
        }
        slot.available.notify_waiters();
        self.count(slot, RELOAD_LOADED);
        let replaced = previous.as_ref().map(|old| format!("replaced {}", short_version(old.version())));
        self.remember(slot, RELOAD_LOADED, Some(&version), replaced);
        let replacing = previous.map(|old| format!(", replacing {}", short_version(old.version()))).unwrap_or_default();
        tracing::info!(
            plugin = %slot.label(),
            version = %short_version(&version),
            "loaded plugin {} in {} ms{replacing}",
            slot.path().display(),
            took.as_millis()
        );
    }

    /// The file is again the version serving (a bad file was replaced by the
    /// good one, or the same bytes were written again).
    fn back_to_current(&self, slot: &PluginSlot) {
        let mut state = lock(&slot.state);
        if state.status != Status::Active {
            state.status = Status::Active;
            state.error = None;
            state.rejected_version = None;
            drop(state);
            let version = slot.current().map(|plugin| plugin.version().to_owned());
            self.remember(slot, "restored", version.as_deref(), Some("the file is the version serving again".into()));
            tracing::info!(plugin = %slot.label(), "plugin file {} is the version serving again", slot.path().display());
        }
    }

    fn rejected(&self, slot: &PluginSlot, version: Option<String>, cause: String) {
        let serving = slot.current.load().as_ref().map(|plugin| short_version(plugin.version()).to_owned());
        {
            let mut state = lock(&slot.state);
            state.status = Status::Failed;
            state.error = Some(cause.clone());
            state.rejected_version = version.clone();
        }
        self.count(slot, RELOAD_REJECTED);
        self.remember(slot, RELOAD_REJECTED, version.as_deref(), Some(cause.clone()));
        match serving {
            Some(old) => tracing::error!(
                plugin = %slot.label(),
                "plugin file {} was not loaded, version {old} keeps serving: {cause}",
                slot.path().display()
            ),
            None => tracing::error!(
                plugin = %slot.label(),
                "plugin file {} was not loaded, and its resources wait for a good one: {cause}",
                slot.path().display()
            ),
        }
    }

    fn removed(&self, slot: &PluginSlot) {
        let had = slot.current.swap(None).is_some();
        let users = {
            let mut state = lock(&slot.state);
            // A file that served was removed; one that never did is missing.
            state.status = if had || state.status == Status::Removed { Status::Removed } else { Status::Missing };
            state.rejected_version = None;
            state.error = None;
            state.users.iter().cloned().collect::<Vec<_>>().join(", ")
        };
        if !had {
            return;
        }
        self.count(slot, RELOAD_REMOVED);
        self.remember(slot, RELOAD_REMOVED, None, None);
        let users = if users.is_empty() { "none".to_owned() } else { users };
        tracing::warn!(
            plugin = %slot.label(),
            "plugin file {} was removed; its resources ({users}) stop polling until it is back",
            slot.path().display()
        );
    }

    fn count(&self, slot: &PluginSlot, outcome: &'static str) {
        self.metrics.plugin_reloads.get_or_create(&ReloadLabels { plugin: slot.label(), outcome }).inc();
    }
}

/// The one candidate file that exists, with its bytes; `None` when none does.
/// Two at once (`accounts.js` beside `accounts.py`) is an error: which one maps
/// the resource must never depend on which was written last.
fn read_one_of(candidates: &[PathBuf]) -> Result<Option<(PathBuf, Vec<u8>)>, String> {
    let mut found = Vec::new();
    for path in candidates {
        match read_if_present(path) {
            Ok(Some(bytes)) => found.push((path.clone(), bytes)),
            Ok(None) => {}
            Err(error) => return Err(format!("cannot read {}: {error}", path.display())),
        }
    }
    if found.len() > 1 {
        let names: Vec<String> = found.iter().map(|(path, _)| plugin_label(path)).collect();
        let dir = found[0].0.parent().map(|dir| dir.display().to_string()).unwrap_or_default();
        return Err(format!(
            "{} in {dir} are plugins for the same resource: keep one of them (a resource has one plugin, a component or a script)",
            names.join(" and ")
        ));
    }
    Ok(found.pop())
}

/// The file's bytes, or `None` when there is no file (or a dangling symlink).
fn read_if_present(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// Where a slot's file stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not loaded yet.
    Loading,
    /// The file on disk is the version serving.
    Active,
    /// The file on disk could not be loaded; the previous version, if any, serves.
    Failed,
    /// The file was removed; its resources wait for it.
    Removed,
    /// The file was never there; its resources wait for it.
    Missing,
}

impl Status {
    /// The word `GET /plugins` and the console use.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Loading => "loading",
            Status::Active => "active",
            Status::Failed => "failed",
            Status::Removed => "removed",
            Status::Missing => "missing",
        }
    }
}

/// One resource's plugin (or one configured plugin file) and the version of it in use.
pub struct PluginSlot {
    /// What the registry knows the slot by: a configured file, or
    /// `<plugin_dir>/<resource>` for whichever plugin file that resource has.
    key: PathBuf,
    /// The files it may load; exactly one of them may exist.
    candidates: Vec<PathBuf>,
    /// The candidate found last (the first one until one is found): its
    /// path and its file name, the name in logs and metrics.
    file: Mutex<(PathBuf, String)>,
    current: ArcSwapOption<Plugin>,
    /// Woken when a version is swapped in.
    available: Notify,
    /// Set when the file may have changed.
    dirty: Notify,
    /// Cancelled when the registry frees the slot: its reload loop ends.
    retired: CancellationToken,
    state: Mutex<SlotState>,
    calls: AtomicU64,
    errors: AtomicU64,
    call_nanos: AtomicU64,
}

struct SlotState {
    status: Status,
    loaded_at: Option<DateTime<Utc>>,
    error: Option<String>,
    /// The version on disk that failed, so the same file is not tried (and reported) again.
    rejected_version: Option<String>,
    /// The `instance/resource`s polling with this plugin.
    users: BTreeSet<String>,
    /// Sample records from the configuration, by user.
    configured_samples: BTreeMap<String, Sample>,
    /// The last record the plugin mapped without error, to try a new version on.
    last_mapped: Option<Sample>,
}

impl PluginSlot {
    fn new(key: PathBuf) -> Self {
        let candidates = candidate_files(&key);
        let first = candidates.iter().find(|path| path.exists()).unwrap_or(&candidates[0]).clone();
        PluginSlot {
            file: Mutex::new((first.clone(), plugin_label(&first))),
            key,
            candidates,
            current: ArcSwapOption::empty(),
            available: Notify::new(),
            dirty: Notify::new(),
            retired: CancellationToken::new(),
            state: Mutex::new(SlotState {
                status: Status::Loading,
                loaded_at: None,
                error: None,
                rejected_version: None,
                users: BTreeSet::new(),
                configured_samples: BTreeMap::new(),
                last_mapped: None,
            }),
            calls: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            call_nanos: AtomicU64::new(0),
        }
    }

    /// `incidents.wasm`: the name in logs and metrics.
    pub fn label(&self) -> String {
        lock(&self.file).1.clone()
    }

    /// The plugin file: the one found last, else where it is expected.
    pub fn path(&self) -> PathBuf {
        lock(&self.file).0.clone()
    }

    fn set_file(&self, path: &Path) {
        let mut file = lock(&self.file);
        if file.0 != path {
            *file = (path.to_path_buf(), plugin_label(path));
        }
    }

    /// Where a plugin for this slot goes, for messages.
    fn expected(&self) -> String {
        expected_plugin_files(&self.key)
    }

    /// The version serving now, if any.
    pub fn current(&self) -> Option<Arc<Plugin>> {
        self.current.load_full()
    }

    /// Waits until a version is loaded.
    pub async fn wait_until_loaded(&self) -> Arc<Plugin> {
        loop {
            let loaded = self.available.notified();
            tokio::pin!(loaded);
            // Registered before looking, so a swap in between is not missed.
            loaded.as_mut().enable();
            if let Some(plugin) = self.current() {
                return plugin;
            }
            loaded.await;
        }
    }

    /// Why no version is serving: the file is missing, removed, broken or still loading.
    pub fn waiting_reason(&self) -> String {
        let state = lock(&self.state);
        match (&state.status, &state.error) {
            (Status::Failed, Some(error)) => error.clone(),
            (Status::Loading, _) => format!("plugin file {} is being loaded", self.path().display()),
            (Status::Removed, _) => format!("plugin file {} was removed", self.path().display()),
            _ => format!("no plugin file: {} does not exist", self.expected()),
        }
    }

    /// Records that `user` (`instance/resource`) polls with this plugin, with its configured sample, if any.
    pub fn attach(&self, user: &str, sample: Option<Sample>) {
        let mut state = lock(&self.state);
        state.users.insert(user.to_owned());
        if let Some(sample) = sample {
            state.configured_samples.insert(user.to_owned(), sample);
        }
    }

    pub fn detach(&self, user: &str) {
        let mut state = lock(&self.state);
        state.users.remove(user);
        state.configured_samples.remove(user);
    }

    /// Keeps `sample` as the record a next version is tried on.
    pub fn mapped(&self, sample: Sample) {
        lock(&self.state).last_mapped = Some(sample);
    }

    /// Counts one call of the plugin.
    pub fn record_call(&self, took: Duration, failed: bool) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.call_nanos.fetch_add(took.as_nanos().min(u64::MAX as u128) as u64, Ordering::Relaxed);
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn samples(&self) -> Vec<Sample> {
        let state = lock(&self.state);
        state.configured_samples.values().chain(state.last_mapped.as_ref()).cloned().collect()
    }

    fn is_current(&self, version: &str) -> bool {
        self.current.load().as_ref().is_some_and(|plugin| plugin.version() == version)
    }

    fn is_rejected(&self, version: &str) -> bool {
        lock(&self.state).rejected_version.as_deref() == Some(version)
    }

    fn status(&self) -> PluginStatus {
        let state = lock(&self.state);
        let current = self.current();
        let calls = self.calls.load(Ordering::Relaxed);
        let nanos = self.call_nanos.load(Ordering::Relaxed);
        PluginStatus {
            name: self.label(),
            path: self.path().display().to_string(),
            version: current.as_ref().map(|plugin| plugin.version().to_owned()),
            interface_version: current.as_ref().map(|plugin| plugin.interface_version().to_owned()),
            loaded_at: state.loaded_at.map(crate::dates::format_instant),
            status: state.status,
            error: state.error.clone(),
            rejected_version: state.rejected_version.clone(),
            resources: state.users.iter().cloned().collect(),
            calls,
            errors: self.errors.load(Ordering::Relaxed),
            mean_call_ms: if calls == 0 { 0.0 } else { nanos as f64 / calls as f64 / 1e6 },
        }
    }
}

/// A plugin as `GET /plugins` and `plugin list` show it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginStatus {
    pub name: String,
    pub path: String,
    /// The SHA-256 of the version serving, if one is.
    pub version: Option<String>,
    /// The plugin interface version it implements (`0.1.0`), read from its exports.
    #[serde(default)]
    pub interface_version: Option<String>,
    pub loaded_at: Option<String>,
    pub status: Status,
    pub error: Option<String>,
    /// The SHA-256 of the file that failed to load, while it is on disk.
    pub rejected_version: Option<String>,
    /// The `instance/resource`s polling with it; none means it is loaded but idle.
    pub resources: Vec<String>,
    pub calls: u64,
    pub errors: u64,
    pub mean_call_ms: f64,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
