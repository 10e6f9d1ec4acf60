//! The running service: a scheduler task per (instance, resource), a delivery
//! worker per instance, and the management listener (`/health`, `/metrics`),
//! all sharing one state store, one plugin runtime and one Autotask client
//! per API user (Autotask's limits are per integration user).

pub mod management;
pub mod metrics;
pub mod plugins;
pub mod poll;
pub mod scheduler;

use std::collections::HashMap;
use std::net::SocketAddr;
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
use plugins::{PluginSet, install_builtin, plugin_label, plugin_path};
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

/// Why the service could not start.
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
}

/// A started service; [`RunningService::stop`] ends it cleanly.
pub struct RunningService {
    addr: SocketAddr,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
    shared: Arc<Shared>,
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

    /// Stops polling, lets deliveries on the wire finish briefly, and waits
    /// for every task. Nothing is lost: what was not delivered stays in the outbox.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        let all = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(STOP_TIMEOUT, all).await.is_err() {
            tracing::warn!("some tasks did not stop in time; abandoning them (their work is still in the outbox)");
            self.tasks.abort_all();
        }
    }
}

/// Starts everything `config` describes.
pub async fn start(config: ServiceConfig) -> Result<RunningService, StartError> {
    let settings = config.server.clone();
    std::fs::create_dir_all(&settings.data_dir)
        .map_err(|source| StartError::DataDir { path: settings.data_dir.clone(), source })?;
    if install_builtin(&settings.plugin_dir)
        .map_err(|source| StartError::PluginDir { path: settings.plugin_dir.clone(), source })?
    {
        tracing::info!("wrote the built-in incidents plugin to {}", settings.plugin_dir.display());
    }
    let store = Arc::new(Store::open(&settings.data_dir.join(STATE_FILE))?);
    let metrics = Arc::new(Metrics::new());
    let runtime = Arc::new(PluginRuntime::new(settings.limits)?);
    let plugin_set = Arc::new(PluginSet::new(runtime));
    let shared = Arc::new(Shared { store, metrics, settings });
    let shutdown = CancellationToken::new();
    let mut tasks = JoinSet::new();

    let listener = tokio::net::TcpListener::bind(shared.settings.listen)
        .await
        .map_err(|source| StartError::Listen { addr: shared.settings.listen, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen { addr: shared.settings.listen, source })?;
    tasks.spawn(management::serve(listener, shared.clone(), shutdown.clone()));
    tasks.spawn(housekeeping(shared.clone(), shutdown.clone()));

    let http = delivery_client();
    let mut clients = Clients::new(shared.metrics.clone());
    for configured in config.instances {
        start_instance(configured, &shared, &plugin_set, &mut clients, &http, &shutdown, &mut tasks).await?;
    }
    tracing::info!("management listener on http://{addr} (/health, /metrics)");
    Ok(RunningService { addr, shutdown, tasks, shared })
}

async fn start_instance(
    configured: ConfiguredInstance,
    shared: &Arc<Shared>,
    plugin_set: &Arc<PluginSet>,
    clients: &mut Clients,
    http: &reqwest::Client,
    shutdown: &CancellationToken,
    tasks: &mut JoinSet<()>,
) -> Result<(), StartError> {
    let id = configured.id.clone();
    let config = &configured.instance;
    if !config.events_enabled {
        tracing::info!(instance = %id, "events are disabled for this instance (event.notification.enabled); not polling it");
        return Ok(());
    }
    let Some(callback_url) = config.callback_url.clone() else {
        return Err(StartError::Instance {
            instance: id,
            message: "events are enabled but there is no callback URL".into(),
        });
    };
    let (store, instance_id, name) = (shared.store.clone(), id.clone(), config.name.clone());
    let created = poll::blocking(move || store.instance_created_at(&instance_id, &name, Utc::now())).await?;
    let client =
        clients.get(&configured).map_err(|e| StartError::Instance { instance: id.clone(), message: e.to_string() })?;

    // Each resource's plugin, loaded once per file (on the blocking pool: it compiles).
    let mut plugins = Vec::new();
    for resource in &config.resources {
        let path = plugin_path(&shared.settings.plugin_dir, &configured, &resource.name);
        let set = plugin_set.clone();
        let load_path = path.clone();
        let plugin = tokio::task::spawn_blocking(move || set.get(&load_path)).await.expect("no panic");
        plugins.push((path, plugin));
    }

    let outbox_ready = Arc::new(Notify::new());
    let handle = Arc::new(InstanceHandle {
        id: id.clone(),
        readers: config.resources.iter().map(|r| r.reader()).collect(),
        first_poll_from: configured.since.unwrap_or(created),
        outbox_ready: outbox_ready.clone(),
        config: configured.instance,
    });
    let interval = handle.config.refresh_interval;
    for (index, (path, plugin)) in plugins.into_iter().enumerate() {
        let resource = handle.config.resources[index].name.clone();
        let label = plugin_label(&path);
        let plugin = match plugin {
            Ok(plugin) => plugin,
            Err(error) => {
                tracing::error!(instance = %id, resource = %resource, plugin = %label, "not polled: {error}");
                continue;
            }
        };
        let span = tracing::info_span!("poll", instance = %id, resource = %resource, plugin = %label);
        let poller = ResourcePoller {
            instance: handle.clone(),
            resource: index,
            plugin,
            plugin_label: label,
            client: client.clone(),
            shared: shared.clone(),
        };
        tasks.spawn(scheduler::run(poller, interval, shutdown.clone()).instrument(span));
    }

    let worker = Worker {
        destination: Destination {
            instance_id: id.clone(),
            callback_url,
            signature_key: handle.config.signature_key.clone(),
        },
        store: shared.store.clone(),
        http: http.clone(),
        settings: shared.settings.delivery.clone(),
        outbox_ready,
        observer: Arc::new(MetricsObserver(shared.metrics.clone())),
        shutdown: shutdown.clone(),
    };
    tasks.spawn(worker.run().instrument(tracing::info_span!("delivery", instance = %id)));
    Ok(())
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
    let _ = rustls::crypto::ring::default_provider().install_default();
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
