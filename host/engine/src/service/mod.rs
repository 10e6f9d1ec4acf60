//! The running engine: a scheduler task per (instance, resource), a delivery
//! worker per instance, the plugin registry and the watcher, all sharing one
//! state store, one plugin runtime and one Autotask client per API user
//! (Autotask's limits are per integration user). The web side reaches it only
//! through the typed service layer, `crate::manage`, which is built on it.

pub mod dry_run;
mod first_polls;
pub mod fleet;
mod gates;
pub mod history;
pub mod metrics;
mod notifications;
pub(crate) mod outbox_wakers;
pub mod plugins;
pub mod poll;
pub mod progress;
pub mod push;
mod reload;
pub mod scheduler;
mod supervisor;
pub(crate) mod uploads;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use plugin_runtime::PluginRuntime;
use serde_json::Value;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{
    ApiSettings, ConfiguredInstance, InstanceConfig, Problems, ServerSettings, ServiceConfig, read_api_instance,
};
use crate::records::RecordReader;
use crate::store::{Store, StoredInstance};
pub(crate) use gates::InstanceGates;
use metrics::Metrics;
use plugins::{PluginRegistry, PluginStatus};
pub use supervisor::Changes;
pub(crate) use supervisor::{Snapshot, Supervisor, client_options};

/// The state file inside the data directory.
pub const STATE_FILE: &str = "state.sqlite";

/// How long seen keys and delivered messages are kept: seen keys far longer
/// than any overlap window re-reads; delivered messages to be looked at.
const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long stopping may take before unfinished tasks are abandoned.
const STOP_TIMEOUT: Duration = Duration::from_secs(8);

/// What every task shares.
pub(crate) struct Shared {
    pub(crate) store: Arc<Store>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) settings: ServerSettings,
    pub(crate) plugins: Arc<PluginRegistry>,
    /// One change at a time per instance (see [`InstanceGates`]).
    pub(crate) changing: InstanceGates,
    /// The API's users and organization secret as the configuration file
    /// says now: replaced on every reload, read on every API call and console
    /// request, so a rotated secret counts at once (`settings.api` is the startup copy).
    pub(crate) api: ArcSwap<ApiSettings>,
    /// Wakes the delivery workers of instances with unannounced pending messages.
    pub(crate) outbox_wakers: outbox_wakers::OutboxWakers,
    /// Spreads the first polls of resources that start together.
    pub(crate) first_polls: first_polls::FirstPolls,
    /// This host's side of the fleet, in fleet mode.
    pub(crate) fleet: Option<Arc<fleet::Fleet>>,
    /// The last day of polls, Autotask requests and plugin calls, per minute, for the charts.
    pub(crate) history: history::History,
}

impl Shared {
    /// An instance body from the API read as the service runs it, with the
    /// host's integration code for bodies that have none.
    pub(crate) fn configured(&self, id: &str, body: &Value, disabled: bool) -> Result<ConfiguredInstance, Problems> {
        let code = self.settings.integration_code.as_ref().map(|code| code.expose());
        read_api_instance(id.to_owned(), body, disabled, code, &self.settings.rules)
    }

    /// The lease `key` of `instance`'s work: always held on a single host.
    pub(crate) fn lease(&self, key: String, instance: &str) -> crate::lease::Lease {
        match &self.fleet {
            Some(fleet) => fleet.lease(key, instance),
            None => crate::lease::Lease::solo(),
        }
    }

    /// A stored API instance read as the service runs it.
    pub(crate) fn configured_stored(&self, stored: &StoredInstance) -> Result<ConfiguredInstance, Problems> {
        self.configured(&stored.id.to_string(), &stored_body(stored), stored.disabled)
    }
}

/// The body a stored instance was created with (the store only holds JSON the service layer wrote).
pub(crate) fn stored_body(stored: &StoredInstance) -> Value {
    serde_json::from_str(&stored.body).unwrap_or(Value::Null)
}

/// One running instance.
pub(crate) struct InstanceHandle {
    pub(crate) id: String,
    pub(crate) config: Arc<InstanceConfig>,
    /// One reader per resource, in `config.resources` order.
    pub(crate) readers: Vec<RecordReader>,
    /// Where the first poll reads from: `since`, or when the service first saw the instance.
    pub(crate) first_poll_from: DateTime<Utc>,
    /// Woken when a poll writes to the outbox.
    pub(crate) outbox_ready: Arc<Notify>,
}

/// Why the engine could not start, or a new configuration was not applied.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("data directory {path}: {source}")]
    DataDir { path: std::path::PathBuf, source: std::io::Error },
    #[error("plugin directory {path}: {source}")]
    PluginDir { path: std::path::PathBuf, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Plugin(#[from] plugin_runtime::PluginError),
    #[error("instance `{instance}`: {message}")]
    Instance { instance: String, message: String },
    #[error("cannot watch {path} for changes: {message}")]
    Watch { path: std::path::PathBuf, message: String },
}

/// A started engine; [`Service::stop`] ends it cleanly.
pub struct Service {
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
    shared: Arc<Shared>,
    supervisor: Arc<tokio::sync::Mutex<Supervisor>>,
    snapshot: Arc<ArcSwap<Snapshot>>,
}

impl Service {
    /// What the typed service layer is built on: the shared parts, the
    /// supervisor that makes changes, and the snapshot readers look at.
    pub(crate) fn parts(&self) -> (Arc<Shared>, Arc<tokio::sync::Mutex<Supervisor>>, Arc<ArcSwap<Snapshot>>) {
        (self.shared.clone(), self.supervisor.clone(), self.snapshot.clone())
    }

    /// The settings the engine runs with (the plugin directory made absolute).
    pub fn settings(&self) -> &ServerSettings {
        &self.shared.settings
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.shared.store
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
    }

    /// Every plugin file the service knows, as `GET /plugins` lists them.
    pub fn plugins(&self) -> Vec<PluginStatus> {
        self.shared.plugins.list()
    }

    /// Every plugin file with a version serving, with that version.
    pub fn loaded_plugins(&self) -> Vec<(std::path::PathBuf, Arc<plugin_runtime::Plugin>)> {
        self.shared.plugins.loaded()
    }

    /// The latest plugin loads, rejections and removals, newest first.
    pub fn plugin_reloads(&self) -> Vec<plugins::Reload> {
        self.shared.plugins.history()
    }

    /// Applies a new set of instances, as a changed configuration file does:
    /// started, stopped or restarted as they were added, removed or changed.
    pub async fn apply(&self, config: ServiceConfig) -> Result<Changes, StartError> {
        reload::apply(&self.shared, &self.supervisor, config).await
    }

    /// Stops polling, lets deliveries on the wire finish briefly, and waits
    /// for every task. Nothing is lost: what was not delivered stays in the outbox.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        // Instances get the stop timeout as a whole; the watcher and
        // housekeeping end as soon as they see the cancellation.
        let instances = async { self.supervisor.lock().await.stop_all().await };
        let instances_in_time = tokio::time::timeout(STOP_TIMEOUT, instances).await.is_ok();
        if !(join_or_abort(&mut self.tasks).await && instances_in_time) {
            tracing::warn!("some tasks did not stop in time; abandoning them (their work is still in the outbox)");
        }
        if let Some(fleet) = &self.shared.fleet {
            // Its work stopped: the other hosts may take it over at once.
            fleet.leave().await;
        }
    }
}

/// Starts everything `config` describes: the instances of the file and those
/// created through the management API in earlier runs. When `config.files`
/// names the file it came from, changes to it are applied while it runs.
pub async fn start(config: ServiceConfig) -> Result<Service, StartError> {
    let settings = running_settings(&config.server);
    std::fs::create_dir_all(&settings.data_dir)
        .map_err(|source| StartError::DataDir { path: settings.data_dir.clone(), source })?;
    std::fs::create_dir_all(&settings.plugin_dir)
        .map_err(|source| StartError::PluginDir { path: settings.plugin_dir.clone(), source })?;
    let store = Arc::new(open_store(&settings).await?);
    let metrics = Arc::new(Metrics::new());
    let runtime = Arc::new(PluginRuntime::with_artifact_cache(settings.limits, compile_cache_dir(&settings))?);
    let shutdown = CancellationToken::new();
    let plugins = PluginRegistry::new(runtime, settings.plugin_dir.clone(), metrics.clone(), shutdown.clone());
    let api = ArcSwap::from_pointee(settings.api.clone());
    let fleet = settings
        .fleet
        .as_ref()
        .map(|fleet| fleet::Fleet::new(fleet, settings.listen.to_string(), store.clone(), metrics.clone()));
    let shared = Arc::new(Shared {
        store,
        metrics,
        settings,
        plugins,
        changing: InstanceGates::default(),
        api,
        outbox_wakers: outbox_wakers::OutboxWakers::default(),
        first_polls: first_polls::FirstPolls::default(),
        fleet,
        history: history::History::default(),
    });
    // The active versions of uploaded plugins first: a new host of a fleet
    // starts with them, not with whatever its plugin directory held.
    uploads::sync_uploaded_plugins(&shared).await?;
    let plugin_dir = &shared.settings.plugin_dir;
    shared.plugins.scan().await.map_err(|source| StartError::PluginDir { path: plugin_dir.clone(), source })?;
    let mut tasks = JoinSet::new();
    if let Some(fleet) = &shared.fleet {
        // Running before the instances start: their leases are taken as they ask.
        tasks.spawn(fleet.clone().run(shutdown.clone()));
    }

    let supervisor = Supervisor::new(shared.clone(), shutdown.clone());
    let snapshot = supervisor.snapshot();
    let supervisor = Arc::new(tokio::sync::Mutex::new(supervisor));
    let files = watched_files(&config);
    supervisor.lock().await.apply_file(config.instances).await?;
    start_stored_instances(&shared, &supervisor).await?;

    let watcher = reload::Watcher::start(shared.clone(), supervisor.clone(), files)?;
    tasks.spawn(watcher.run(shutdown.clone()));
    tasks.spawn(housekeeping(shared.clone(), shutdown.clone()));
    tasks.spawn(outbox_wakers::run(shared.clone(), shutdown.clone()));
    tasks.spawn(uploads::run(shared.clone(), shutdown.clone()));
    if shared.fleet.is_some() {
        let notifications = notifications::listen(&shared)?;
        let (shared, supervisor, snapshot) = (shared.clone(), supervisor.clone(), snapshot.clone());
        tasks.spawn(notifications::run(shared, supervisor, snapshot, notifications, shutdown.clone()));
    }
    Ok(Service { shutdown, tasks, shared, supervisor, snapshot })
}

/// The state store the settings name: the PostgreSQL database of `[store]
/// url`, or the SQLite file in the data directory.
pub async fn open_store(settings: &ServerSettings) -> Result<Store, crate::store::StoreError> {
    match &settings.store_url {
        Some(url) => {
            let url = url.expose().to_owned();
            // The PostgreSQL client blocks: it connects on a blocking thread, as every store call runs.
            crate::store::off_thread(move || Store::connect(&url)).await
        }
        None => Store::open(&settings.data_dir.join(STATE_FILE)),
    }
}

/// Starts the instances created through the management API in earlier runs.
/// One that no longer reads (say, the host lost its integration code) is
/// logged and left stopped; the others start.
async fn start_stored_instances(
    shared: &Shared,
    supervisor: &tokio::sync::Mutex<Supervisor>,
) -> Result<(), StartError> {
    let store = shared.store.clone();
    for stored in poll::blocking(move || store.api_instances()).await? {
        let id = stored.id.to_string();
        match shared.configured_stored(&stored) {
            Ok(configured) => {
                if let Err(error) = supervisor.lock().await.apply_api(&id, Some(configured)).await {
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

/// Where compiled plugins are kept, inside the data directory.
pub const PLUGIN_CACHE_DIR: &str = "plugin-cache";

/// Where compiled plugins are kept: `[server] compile_cache_dir`, else in the data directory.
pub fn compile_cache_dir(settings: &ServerSettings) -> PathBuf {
    settings.compile_cache_dir.clone().unwrap_or_else(|| settings.data_dir.join(PLUGIN_CACHE_DIR))
}

/// `path` made absolute against the working directory, symlinks left alone.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The settings as the running service holds them: the plugin directory
/// absolute, so the watcher's paths and the configured ones compare equal.
fn running_settings(server: &ServerSettings) -> ServerSettings {
    ServerSettings { plugin_dir: absolute(&server.plugin_dir), ..server.clone() }
}

/// The settings that need a restart to change: all but the API's users and
/// organization secret, which a reload applies at once.
fn restart_settings(server: &ServerSettings) -> ServerSettings {
    let api = ApiSettings { prefix: server.api.prefix.clone(), ..ApiSettings::default() };
    ServerSettings { api, ..running_settings(server) }
}

/// The configuration's files, absolute, as the watcher reports them.
fn watched_files(config: &ServiceConfig) -> Vec<PathBuf> {
    config.files.iter().map(|file| absolute(file)).collect()
}

/// Waits for `tasks` to end, at most [`STOP_TIMEOUT`]; aborts the rest.
/// Returns whether all ended in time.
async fn join_or_abort(tasks: &mut JoinSet<()>) -> bool {
    let all = async { while tasks.join_next().await.is_some() {} };
    let in_time = tokio::time::timeout(STOP_TIMEOUT, all).await.is_ok();
    if !in_time {
        tasks.abort_all();
    }
    in_time
}

/// Once an hour, forgets seen keys and delivered messages older than a week.
async fn housekeeping(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut every_hour = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = every_hour.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let store = shared.store.clone();
        let before = Utc::now() - chrono::TimeDelta::from_std(RETENTION).expect("a week fits");
        let pruned = tokio::task::spawn_blocking(move || {
            Ok::<_, crate::store::StoreError>((store.prune_seen(before)?, store.prune_delivered(before)?))
        })
        .await;
        match pruned {
            Ok(Ok((keys, messages))) if keys + messages > 0 => {
                tracing::debug!("forgot {keys} seen key(s) and {messages} delivered message(s) older than a week")
            }
            Ok(Err(error)) => tracing::warn!("could not prune old state: {error}"),
            _ => {}
        }
    }
}
