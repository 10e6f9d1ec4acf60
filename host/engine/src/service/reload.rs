//! Changes while running: plugin files and the configuration file.
//!
//! The watcher watches **directories** (the plugin directory, those of plugin
//! files configured elsewhere, and those of the configuration's files), not
//! files: editors, `cp` and build tools replace a file by renaming another
//! over it, and a watch on the file itself goes silent after the first such
//! replace. Events are debounced, then a plugin path goes to the registry
//! (which loads it off the polling path) and a configuration path reloads the
//! configuration.
//!
//! A watched directory that is removed takes its watch with it, so the
//! parents of the plugin directories are watched too: when one of them
//! appears again, its watch is re-armed and the files already in it are
//! looked at (they may have been written before the watch was back).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::RecursiveMode;
use notify::event::{AccessKind, AccessMode, EventKind};
use notify_debouncer_full::{DebounceEventResult, new_debouncer};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::metrics::{CONFIG_APPLIED, CONFIG_REJECTED, OutcomeLabels};
use super::{Changes, Shared, StartError, Supervisor};
use crate::config::{self, ApiSettings, ServiceConfig};

/// Events for one path closer together than this are one change. Short: a
/// reload should follow a rename within a fraction of a second, and a file
/// still being written is caught by the registry's parse-and-settle check.
const DEBOUNCE: Duration = Duration::from_millis(20);

type Debouncer = notify_debouncer_full::Debouncer<notify::RecommendedWatcher, notify_debouncer_full::RecommendedCache>;

/// The directory watch and what it feeds.
pub(super) struct Watcher {
    shared: Arc<Shared>,
    supervisor: Arc<tokio::sync::Mutex<Supervisor>>,
    /// The configuration's files; empty when it did not come from a file.
    config_files: Vec<PathBuf>,
    debouncer: Debouncer,
    watched: BTreeSet<PathBuf>,
    changes: mpsc::UnboundedReceiver<Vec<PathBuf>>,
}

impl Watcher {
    /// Starts watching the directories of the plugins and `config_files`.
    pub(super) fn start(
        shared: Arc<Shared>,
        supervisor: Arc<tokio::sync::Mutex<Supervisor>>,
        config_files: Vec<PathBuf>,
    ) -> Result<Self, StartError> {
        let (sender, changes) = mpsc::unbounded_channel();
        let debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| match result {
            Ok(events) => {
                // Only writes, creations, removals and renames change a file. Reading one
                // (inotify's open and close-without-write) is not a change: counting it made
                // every reload's own read of the configuration start the next reload, for
                // ever, once anything (`cat`, a backup) had read the file.
                let paths: Vec<PathBuf> = events
                    .into_iter()
                    .filter(|event| is_change(&event.event.kind))
                    .flat_map(|event| event.event.paths)
                    .collect();
                if !paths.is_empty() {
                    let _ = sender.send(paths);
                }
            }
            Err(errors) => {
                for error in errors {
                    tracing::warn!("watching for plugin and configuration changes: {error}");
                }
            }
        })
        .map_err(|e| StartError::Watch { path: shared.settings.plugin_dir.clone(), message: e.to_string() })?;
        let mut watcher = Watcher { shared, supervisor, config_files, debouncer, watched: BTreeSet::new(), changes };
        watcher.watch_directories()?;
        Ok(watcher)
    }

    /// The directories that hold files of interest.
    fn wanted_directories(&self) -> BTreeSet<PathBuf> {
        let mut wanted = self.shared.plugins.directories();
        wanted.extend(self.config_files.iter().filter_map(|file| file.parent().map(Path::to_path_buf)));
        wanted
    }

    /// Watches every directory that holds a file of interest, and the parent of
    /// each plugin directory (to see it come back if it is removed), that is
    /// not watched yet. One
    /// that does not exist now is watched when its parent sees it appear.
    fn watch_directories(&mut self) -> Result<(), StartError> {
        let wanted = self.wanted_directories();
        // Only plugin directories' parents: a configuration file's directory (`/etc/...`) is not
        // removed in normal operation, and its parent would flood the watcher with unrelated events.
        let parents: BTreeSet<PathBuf> =
            self.shared.plugins.directories().iter().filter_map(|dir| dir.parent().map(Path::to_path_buf)).collect();
        for dir in wanted.iter().chain(&parents) {
            if self.watched.contains(dir) || (!dir.is_dir() && !wanted.contains(dir)) {
                continue;
            }
            if !dir.is_dir() {
                tracing::warn!("directory {} does not exist; watched again when it is created", dir.display());
                continue;
            }
            self.debouncer
                .watch(dir, RecursiveMode::NonRecursive)
                .map_err(|e| StartError::Watch { path: dir.clone(), message: e.to_string() })?;
            self.watched.insert(dir.clone());
        }
        Ok(())
    }

    /// `dir`, a directory of interest, was removed or created: a removed one
    /// lost its watch; a created one is watched again and its files looked at.
    fn directory_changed(&mut self, dir: &Path) {
        // The old watch went with the directory (inotify drops it); forget it either way.
        let _ = self.debouncer.unwatch(dir);
        self.watched.remove(dir);
        if !dir.is_dir() {
            tracing::warn!("directory {} was removed; watched again when it is created", dir.display());
            return;
        }
        if let Err(error) = self.debouncer.watch(dir, RecursiveMode::NonRecursive) {
            return tracing::warn!("cannot watch directory {} again: {error}", dir.display());
        }
        self.watched.insert(dir.to_path_buf());
        tracing::info!("directory {} is back; watching it again", dir.display());
        // Files written between its creation and the new watch sent no event.
        let entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
        for path in entries.map(|entry| entry.path()) {
            self.shared.plugins.file_changed(&path);
        }
    }

    /// Hands changed paths on until `shutdown`.
    pub(super) async fn run(mut self, shutdown: CancellationToken) {
        loop {
            let paths = tokio::select! {
                paths = self.changes.recv() => match paths { Some(paths) => paths, None => return },
                () = shutdown.cancelled() => return,
            };
            let mut config_changed = false;
            let wanted = self.wanted_directories();
            for path in BTreeSet::from_iter(paths) {
                if wanted.contains(&path) {
                    self.directory_changed(&path);
                } else if self.config_files.contains(&path) {
                    config_changed = true;
                } else {
                    self.shared.plugins.file_changed(&path);
                }
            }
            if config_changed {
                self.reload_config().await;
            }
            // A new configuration can name plugin files in other directories.
            if let Err(error) = self.watch_directories() {
                tracing::warn!("{error}; changes there are not noticed until a restart");
            }
        }
    }

    /// Reads the configuration file again and applies it, or keeps the running one.
    async fn reload_config(&mut self) {
        let path = self.config_files[0].clone();
        let loaded = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || config::load(&path)).await.expect("no panic")
        };
        let config = match loaded {
            Ok(config) => config,
            Err(problems) => {
                let listed: Vec<String> = problems.0.iter().map(ToString::to_string).collect();
                return self.rejected(&path, &format!("{} problem(s): {}", listed.len(), listed.join("; ")));
            }
        };
        let new_files = super::watched_files(&config);
        match apply(&self.shared, &self.supervisor, config).await {
            Ok(changes) => {
                self.shared.metrics.config_reloads.get_or_create(&OutcomeLabels { outcome: CONFIG_APPLIED }).inc();
                self.config_files = new_files;
                if changes.is_empty() {
                    tracing::info!("configuration {} changed, but no instance did", path.display());
                } else {
                    tracing::info!(
                        "configuration {} applied: added [{}], removed [{}], changed [{}]",
                        path.display(),
                        changes.added.join(", "),
                        changes.removed.join(", "),
                        changes.changed.join(", ")
                    );
                }
            }
            Err(error) => self.rejected(&path, &error.to_string()),
        }
    }

    fn rejected(&self, path: &Path, why: &str) {
        self.shared.metrics.config_reloads.get_or_create(&OutcomeLabels { outcome: CONFIG_REJECTED }).inc();
        tracing::error!("configuration {} was not applied, the running one stays: {why}", path.display());
    }
}

/// Whether a watch event can mean a file's content changed: not a read
/// (open, access, close without writing), which changes nothing.
fn is_change(kind: &EventKind) -> bool {
    !matches!(
        kind,
        EventKind::Access(
            AccessKind::Open(_) | AccessKind::Read | AccessKind::Close(AccessMode::Read | AccessMode::Execute)
        )
    )
}

/// Applies `config`'s API users and instances to the running service.
/// Server settings (listener, directories, limits, delivery, telemetry, the
/// API's prefix) need a restart; a change to them is reported and the rest applied.
pub(super) async fn apply(
    shared: &Shared,
    supervisor: &tokio::sync::Mutex<Supervisor>,
    config: ServiceConfig,
) -> Result<Changes, StartError> {
    if super::restart_settings(&config.server) != super::restart_settings(&shared.settings) {
        tracing::warn!(
            "[server], [delivery], [limits], [egress], [telemetry] and `api.prefix` changes take effect at the next restart; users and instances apply now"
        );
    }
    apply_api_users(shared, &config);
    supervisor.lock().await.apply_file(config.instances).await
}

/// Makes `config`'s users and organization secret the ones the API and the
/// console check from the next request on: a rotated secret is refused at
/// once. Applied even when an instance then fails to start: who may call the
/// API does not depend on it. The prefix stays (the routes are mounted).
fn apply_api_users(shared: &Shared, config: &ServiceConfig) {
    let api = ApiSettings { prefix: shared.settings.api.prefix.clone(), ..config.server.api.clone() };
    if *shared.api.load_full() != api {
        let names: Vec<&str> = api.users.iter().map(|user| user.name.as_str()).collect();
        tracing::info!("API users and secrets reloaded: [{}]", names.join(", "));
        shared.api.store(Arc::new(api));
    }
}
