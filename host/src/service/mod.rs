//! The running service: a scheduler task per (instance, resource), a delivery
//! worker per instance, and the management listener (`/health`, `/metrics`),
//! all sharing one state store, one plugin runtime and one Autotask client
//! per API user (Autotask's limits are per integration user).

pub mod management;
pub mod metrics;
pub mod plugins;
pub mod poll;
mod reload;
pub mod scheduler;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::{ConfiguredInstance, InstanceConfig, ServerSettings, ServiceConfig};
use crate::delivery::worker::{DeliveryObserver, Destination, Outcome, Worker};
use crate::plugin::PluginRuntime;
use crate::records::RecordReader;
use crate::source::{AutotaskClient, ClientOptions, ResponseObserver, ZoneCache};
use crate::store::{OutboxMessage, Store};
use metrics::{AutotaskLabels, DEAD_LETTER, DELIVERED, DeliveryLabels, InstanceLabels, Metrics, RETRY};
use plugins::{PluginRegistry, PluginSlot, PluginStatus, install_builtin, plugin_path};
use poll::ResourcePoller;

/// The state file inside the data directory.
pub const STATE_FILE: &str = "state.sqlite";

/// How long seen keys and delivered messages are kept: seen keys far longer
/// than any overlap window re-reads; delivered messages to be looked at.
const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long stopping may take before unfinished tasks are abandoned.
const STOP_TIMEOUT: Duration = Duration::from_secs(8);

/// What every task shares.
pub struct Shared {
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    pub settings: ServerSettings,
    pub plugins: Arc<PluginRegistry>,
}

/// One running instance.
pub struct InstanceHandle {
    pub id: String,
    pub config: InstanceConfig,
    /// One reader per resource, in `config.resources` order.
    pub readers: Vec<RecordReader>,
    /// Where the first poll reads from: `since`, or when the service first saw the instance.
    pub first_poll_from: DateTime<Utc>,
    /// Woken when a poll writes to the outbox.
    pub outbox_ready: Arc<Notify>,
}

/// Why the service could not start, or a new configuration was not applied.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("data directory {path}: {source}")]
    DataDir { path: std::path::PathBuf, source: std::io::Error },
    #[error("plugin directory {path}: {source}")]
    PluginDir { path: std::path::PathBuf, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Plugin(#[from] crate::plugin::PluginError),
    #[error("management listener {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("instance `{instance}`: {message}")]
    Instance { instance: String, message: String },
    #[error("cannot watch {path} for changes: {message}")]
    Watch { path: std::path::PathBuf, message: String },
}

/// A started service; [`RunningService::stop`] ends it cleanly.
pub struct RunningService {
    addr: SocketAddr,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
    shared: Arc<Shared>,
    supervisor: Arc<tokio::sync::Mutex<Supervisor>>,
}

impl RunningService {
    /// Where the management listener is (useful when configured with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
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

    /// Applies a new set of instances, as a changed configuration file does:
    /// started, stopped or restarted as they were added, removed or changed.
    pub async fn apply(&self, config: ServiceConfig) -> Result<Changes, StartError> {
        reload::apply(&self.shared, &self.supervisor, config).await
    }

    /// Stops polling, lets deliveries on the wire finish briefly, and waits
    /// for every task. Nothing is lost: what was not delivered stays in the outbox.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        // Instances get the stop timeout as a whole; the listener, watcher and
        // housekeeping end as soon as they see the cancellation.
        let instances = async { self.supervisor.lock().await.stop_all().await };
        let instances_in_time = tokio::time::timeout(STOP_TIMEOUT, instances).await.is_ok();
        if !(join_or_abort(&mut self.tasks).await && instances_in_time) {
            tracing::warn!("some tasks did not stop in time; abandoning them (their work is still in the outbox)");
        }
    }
}

/// Starts everything `config` describes. When `config.files` names the file it
/// came from, changes to it are applied while the service runs.
pub async fn start(config: ServiceConfig) -> Result<RunningService, StartError> {
    let settings = running_settings(&config.server);
    std::fs::create_dir_all(&settings.data_dir)
        .map_err(|source| StartError::DataDir { path: settings.data_dir.clone(), source })?;
    if install_builtin(&settings.plugin_dir)
        .map_err(|source| StartError::PluginDir { path: settings.plugin_dir.clone(), source })?
    {
        tracing::info!("wrote the built-in incidents plugin to {}", settings.plugin_dir.display());
    }
    let store = Arc::new(Store::open(&settings.data_dir.join(STATE_FILE))?);
    let metrics = Arc::new(Metrics::new());
    let runtime =
        Arc::new(PluginRuntime::with_artifact_cache(settings.limits, settings.data_dir.join(PLUGIN_CACHE_DIR))?);
    let shutdown = CancellationToken::new();
    let plugins = PluginRegistry::new(runtime, settings.plugin_dir.clone(), metrics.clone(), shutdown.clone());
    plugins.scan().await.map_err(|source| StartError::PluginDir { path: settings.plugin_dir.clone(), source })?;
    let shared = Arc::new(Shared { store, metrics, settings, plugins });
    let mut tasks = JoinSet::new();

    let listener = tokio::net::TcpListener::bind(shared.settings.listen)
        .await
        .map_err(|source| StartError::Listen { addr: shared.settings.listen, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen { addr: shared.settings.listen, source })?;

    let supervisor = Supervisor {
        shared: shared.clone(),
        clients: Clients::new(shared.metrics.clone()),
        http: delivery_client(),
        shutdown: shutdown.clone(),
        running: BTreeMap::new(),
    };
    let supervisor = Arc::new(tokio::sync::Mutex::new(supervisor));
    let files = watched_files(&config);
    supervisor.lock().await.apply(config.instances).await?;

    let watcher = reload::Watcher::start(shared.clone(), supervisor.clone(), files)?;
    tasks.spawn(watcher.run(shutdown.clone()));
    tasks.spawn(management::serve(listener, shared.clone(), shutdown.clone()));
    tasks.spawn(housekeeping(shared.clone(), shutdown.clone()));
    tracing::info!("management listener on http://{addr} (/health, /metrics, /plugins)");
    Ok(RunningService { addr, shutdown, tasks, shared, supervisor })
}

/// Where compiled plugins are kept, inside the data directory.
const PLUGIN_CACHE_DIR: &str = "plugin-cache";

/// `path` made absolute against the working directory, symlinks left alone.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The settings as the running service holds them: the plugin directory
/// absolute, so the watcher's paths and the configured ones compare equal.
fn running_settings(server: &ServerSettings) -> ServerSettings {
    ServerSettings { plugin_dir: absolute(&server.plugin_dir), ..server.clone() }
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

/// What applying a configuration changed, by instance id.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// The running instances, started and stopped as the configuration says.
pub(crate) struct Supervisor {
    shared: Arc<Shared>,
    clients: Clients,
    http: reqwest::Client,
    shutdown: CancellationToken,
    running: BTreeMap<String, RunningInstance>,
}

struct RunningInstance {
    configured: ConfiguredInstance,
    stop: CancellationToken,
    tasks: JoinSet<()>,
    /// The plugin slots its resources use, with the name it is listed under.
    users: Vec<(Arc<PluginSlot>, String)>,
}

impl RunningInstance {
    async fn stop(mut self) {
        self.stop.cancel();
        join_or_abort(&mut self.tasks).await;
        for (slot, user) in &self.users {
            slot.detach(user);
        }
    }
}

impl Supervisor {
    /// Makes the running instances those of `instances`. Every instance is
    /// checked before anything changes: one that cannot start rejects them all.
    async fn apply(&mut self, instances: Vec<ConfiguredInstance>) -> Result<Changes, StartError> {
        for configured in &instances {
            self.check(configured)?;
        }
        let mut changes = Changes::default();
        let mut wanted: BTreeMap<String, ConfiguredInstance> =
            instances.into_iter().map(|configured| (configured.id.clone(), configured)).collect();
        let ids: Vec<String> = self.running.keys().cloned().collect();
        for id in ids {
            match wanted.get(&id) {
                Some(configured) if *configured == self.running[&id].configured => {
                    wanted.remove(&id);
                }
                Some(_) => {
                    changes.changed.push(id.clone());
                    self.running.remove(&id).expect("listed").stop().await;
                }
                None => {
                    changes.removed.push(id.clone());
                    self.running.remove(&id).expect("listed").stop().await;
                }
            }
        }
        for (id, configured) in wanted {
            if !changes.changed.contains(&id) {
                changes.added.push(id.clone());
            }
            let running = self.start_instance(configured).await?;
            self.running.insert(id, running);
        }
        Ok(changes)
    }

    /// What would stop `configured` from starting.
    fn check(&mut self, configured: &ConfiguredInstance) -> Result<(), StartError> {
        let config = &configured.instance;
        if !config.events_enabled {
            return Ok(());
        }
        if config.callback_url.is_none() {
            return Err(StartError::Instance {
                instance: configured.id.clone(),
                message: "events are enabled but there is no callback URL".into(),
            });
        }
        self.clients
            .get(configured)
            .map(drop)
            .map_err(|e| StartError::Instance { instance: configured.id.clone(), message: e.to_string() })
    }

    async fn stop_all(&mut self) {
        for (_, running) in std::mem::take(&mut self.running) {
            running.stop().await;
        }
    }

    async fn start_instance(&mut self, configured: ConfiguredInstance) -> Result<RunningInstance, StartError> {
        let shared = &self.shared;
        let stop = self.shutdown.child_token();
        let mut running = RunningInstance { configured, stop: stop.clone(), tasks: JoinSet::new(), users: Vec::new() };
        let configured = &running.configured;
        let id = configured.id.clone();
        let config = &configured.instance;
        if !config.events_enabled {
            tracing::info!(instance = %id, "events are disabled for this instance (event.notification.enabled); not polling it");
            return Ok(running);
        }
        let callback_url = config.callback_url.clone().expect("checked");
        let (store, instance_id, name) = (shared.store.clone(), id.clone(), config.name.clone());
        let created = poll::blocking(move || store.instance_created_at(&instance_id, &name, Utc::now())).await?;
        let client = self
            .clients
            .get(configured)
            .map_err(|e| StartError::Instance { instance: id.clone(), message: e.to_string() })?;

        let outbox_ready = Arc::new(Notify::new());
        let handle = Arc::new(InstanceHandle {
            id: id.clone(),
            readers: config.resources.iter().map(|r| r.reader()).collect(),
            first_poll_from: configured.since.unwrap_or(created),
            outbox_ready: outbox_ready.clone(),
            config: configured.instance.clone(),
        });
        let interval = handle.config.refresh_interval;
        for (index, resource) in handle.config.resources.iter().enumerate() {
            let path = absolute(&plugin_path(&shared.settings.plugin_dir, configured, &resource.name));
            let slot = shared.plugins.slot(&path).await;
            let poller = ResourcePoller {
                instance: handle.clone(),
                resource: index,
                plugin: slot.clone(),
                client: client.clone(),
                shared: shared.clone(),
            };
            let user = format!("{id}/{}", resource.name);
            let sample = configured.sample_records.get(&resource.name).and_then(|json| poller.sample(json));
            slot.attach(&user, sample);
            running.users.push((slot.clone(), user));
            let span = tracing::info_span!("poll", instance = %id, resource = %resource.name, plugin = %slot.label());
            running.tasks.spawn(scheduler::run(poller, interval, stop.clone()).instrument(span));
        }

        let worker = Worker {
            destination: Destination {
                instance_id: id.clone(),
                callback_url,
                signature_key: handle.config.signature_key.clone(),
            },
            store: shared.store.clone(),
            http: self.http.clone(),
            settings: shared.settings.delivery.clone(),
            outbox_ready,
            observer: Arc::new(MetricsObserver(shared.metrics.clone())),
            shutdown: stop,
        };
        running.tasks.spawn(worker.run().instrument(tracing::info_span!("delivery", instance = %id)));
        Ok(running)
    }
}

/// One Autotask client per API user and server, shared by that user's instances.
struct Clients {
    zones: ZoneCache,
    metrics: Arc<Metrics>,
    by_user: HashMap<(String, String), AutotaskClient>,
}

impl Clients {
    fn new(metrics: Arc<Metrics>) -> Self {
        Clients { zones: ZoneCache::default(), metrics, by_user: HashMap::new() }
    }

    fn get(&mut self, configured: &ConfiguredInstance) -> Result<AutotaskClient, crate::source::SourceError> {
        let connection = &configured.instance.connection;
        let key = (connection.server_url.clone(), connection.credentials.username.clone());
        if let Some(client) = self.by_user.get(&key) {
            return Ok(client.clone());
        }
        let metrics = self.metrics.clone();
        let observer = ResponseObserver(Arc::new(move |entity: &str, status: u16| {
            metrics.autotask_requests.get_or_create(&AutotaskLabels { entity: entity.to_owned(), status }).inc();
        }));
        let options = ClientOptions { observer: Some(observer), ..ClientOptions::default() };
        let client = AutotaskClient::new(connection.clone(), options, self.zones.clone())?;
        self.by_user.insert(key, client.clone());
        Ok(client)
    }
}

/// The HTTP client for callbacks. Redirects are not followed: a signed message
/// goes only where the instance says.
fn delivery_client() -> reqwest::Client {
    crate::use_ring_for_tls();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("autotask-events/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the delivery HTTP client builds")
}

struct MetricsObserver(Arc<Metrics>);

impl DeliveryObserver for MetricsObserver {
    fn attempted(&self, message: &OutboxMessage, outcome: Outcome, _error: Option<&str>, _took: Duration) {
        let outcome = match outcome {
            Outcome::Delivered => DELIVERED,
            Outcome::Retry => RETRY,
            Outcome::DeadLetter => DEAD_LETTER,
        };
        let instance = message.instance_id.clone();
        if outcome == DELIVERED {
            let latency = (Utc::now() - message.created_at).to_std().unwrap_or_default();
            self.0
                .delivery_latency
                .get_or_create(&InstanceLabels { instance: instance.clone() })
                .observe(latency.as_secs_f64());
        }
        self.0.deliveries.get_or_create(&DeliveryLabels { instance, outcome }).inc();
    }
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
