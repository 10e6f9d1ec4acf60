//! The running instances: started, stopped and restarted as the
//! configuration file and the management API change them. Instances come
//! from two places, the file and the API's store; the running set is always
//! both, so a file reload never touches API instances and the other way round.
//!
//! Changes are made one at a time (the supervisor sits behind an async mutex),
//! but nobody waits for that lock just to look: after every change the
//! supervisor publishes a [`Snapshot`] that readers load without locking.
//! Nor does a change wait under the lock for an instance to stop (a delivery
//! on the wire may take seconds to finish): a stopped instance is told to stop
//! and finishes in the background, and whatever replaces it starts its work
//! only once it has ([`Retired`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use chrono::Utc;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::metrics::{AutotaskLabels, DEAD_LETTER, DELIVERED, DeliveryLabels, InstanceLabels, Metrics, RETRY};
use super::plugins::{PluginRegistry, PluginSlot, plugin_path};
use super::poll::{self, ResourcePoller};
use super::push::{self, PushState};
use super::scheduler::{self, ResourceHandle};
use super::{InstanceHandle, Shared, StartError, absolute, join_or_abort};
use crate::config::{ConfiguredInstance, InstanceRules};
use crate::delivery::worker::{DeliveryObserver, Destination, Outcome, Worker};
use crate::egress::Egress;
use crate::source::credentials::CredentialKey;
use crate::source::{AutotaskClient, ClientOptions, ResponseObserver, ZoneCache};
use crate::store::OutboxMessage;
use crate::store::leases::{delivery_lease_key, poll_lease_key};

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

/// The running instances, started and stopped as the configuration and the API say.
pub(crate) struct Supervisor {
    shared: Arc<Shared>,
    clients: Clients,
    http: reqwest::Client,
    shutdown: CancellationToken,
    /// The configuration file's instances, and the API's, by id.
    from_file: Vec<ConfiguredInstance>,
    from_api: BTreeMap<String, ConfiguredInstance>,
    running: BTreeMap<String, RunningInstance>,
    /// Instances told to stop, by id, until they have.
    retiring: HashMap<String, Retired>,
    /// What readers see: published after every change.
    published: Arc<ArcSwap<Snapshot>>,
}

/// The instances as the last change left them, for readers that must not wait
/// for a change in progress (listing instances, a resource's status, a poll now).
#[derive(Default)]
pub(crate) struct Snapshot {
    /// The configuration file's instances, in file order.
    pub(crate) file_instances: Vec<ConfiguredInstance>,
    /// The API's instances, running or kept disabled, by id.
    pub(crate) api_instances: BTreeMap<String, ConfiguredInstance>,
    /// The polled resources of each running instance, by instance id.
    pub(crate) resources: BTreeMap<String, Vec<ResourceHandle>>,
}

impl Snapshot {
    /// The running resources of instance `id` (none when it is not polled).
    pub(crate) fn resources(&self, id: &str) -> &[ResourceHandle] {
        self.resources.get(id).map(Vec::as_slice).unwrap_or_default()
    }
}

struct RunningInstance {
    configured: ConfiguredInstance,
    stop: CancellationToken,
    tasks: JoinSet<()>,
    /// The plugin slots its resources use, with the name it is listed under.
    users: Vec<(Arc<PluginSlot>, String)>,
    /// Each polled resource's status and poll-now channel.
    resources: Vec<ResourceHandle>,
}

impl RunningInstance {
    /// Stops its tasks and lets go of its plugin slots (freeing those nothing else uses).
    async fn stop(mut self, plugins: &PluginRegistry) {
        self.stop.cancel();
        join_or_abort(&mut self.tasks).await;
        for (slot, user) in &self.users {
            slot.detach(user);
            plugins.release(slot);
        }
    }

    /// Tells the instance to stop and lets it finish in the background. Its
    /// plugin users are detached now, before a successor attaches under the
    /// same names; an instance stopped for good (`removed`) loses its metric
    /// series once it has finished.
    fn retire(mut self, shared: Arc<Shared>, removed: bool) -> Retired {
        let retired = Retired(CancellationToken::new());
        self.stop.cancel();
        for (slot, user) in std::mem::take(&mut self.users) {
            slot.detach(&user);
            shared.plugins.release(&slot);
        }
        let done = retired.0.clone();
        tokio::spawn(async move {
            let id = self.configured.id.clone();
            let names: Vec<String> =
                self.configured.instance.resources.iter().map(|resource| resource.name.clone()).collect();
            self.stop(&shared.plugins).await;
            if removed {
                shared.metrics.forget_instance(&id, &names);
                shared.history.forget_instance(&id);
            }
            done.cancel();
        });
        retired
    }
}

/// Whether a stopped instance has finished its work (its last poll, the
/// delivery on the wire).
#[derive(Clone)]
pub(crate) struct Retired(CancellationToken);

impl Retired {
    /// Waits until the instance has finished.
    pub(crate) async fn finished(&self) {
        self.0.cancelled().await;
    }

    fn is_finished(&self) -> bool {
        self.0.is_cancelled()
    }
}

/// Runs `work` once `predecessor` has finished, unless `stop` comes first.
async fn after(predecessor: Option<Retired>, stop: CancellationToken, work: impl Future<Output = ()>) {
    if let Some(predecessor) = predecessor {
        tokio::select! {
            () = predecessor.finished() => {}
            () = stop.cancelled() => return,
        }
    }
    work.await;
}

impl Supervisor {
    pub(super) fn new(shared: Arc<Shared>, shutdown: CancellationToken) -> Self {
        Supervisor {
            clients: Clients::new(shared.metrics.clone(), shared.settings.rules.clone()),
            http: delivery_client(&shared.settings.rules.egress),
            shared,
            shutdown,
            from_file: Vec::new(),
            from_api: BTreeMap::new(),
            running: BTreeMap::new(),
            retiring: HashMap::new(),
            published: Arc::default(),
        }
    }

    /// Where the supervisor publishes its [`Snapshot`] after every change.
    pub(crate) fn snapshot(&self) -> Arc<ArcSwap<Snapshot>> {
        self.published.clone()
    }

    /// Publishes what is running now, whether the change that ends here
    /// succeeded or stopped half way.
    fn publish(&self) {
        let resources = self.running.iter().map(|(id, running)| (id.clone(), running.resources.clone())).collect();
        self.published.store(Arc::new(Snapshot {
            file_instances: self.from_file.clone(),
            api_instances: self.from_api.clone(),
            resources,
        }));
    }

    /// Makes the file's instances `instances`; the API's stay as they are.
    pub(crate) async fn apply_file(&mut self, instances: Vec<ConfiguredInstance>) -> Result<Changes, StartError> {
        let wanted = instances.iter().cloned().chain(self.from_api.values().cloned()).collect();
        let changes = self.reconcile(wanted).await;
        if changes.is_ok() {
            self.from_file = instances;
        }
        self.publish();
        changes
    }

    /// Adds, replaces (`Some`) or removes (`None`) API instance `id`.
    pub(crate) async fn apply_api(
        &mut self,
        id: &str,
        instance: Option<ConfiguredInstance>,
    ) -> Result<Changes, StartError> {
        let mut from_api = self.from_api.clone();
        match instance {
            Some(instance) => from_api.insert(id.to_owned(), instance),
            None => from_api.remove(id),
        };
        let wanted = self.from_file.iter().cloned().chain(from_api.values().cloned()).collect();
        let changes = self.reconcile(wanted).await;
        if changes.is_ok() {
            self.from_api = from_api;
        }
        self.publish();
        changes
    }

    /// Makes the running instances those of `instances`. Every instance is
    /// checked before anything changes: one that cannot start rejects them all.
    async fn reconcile(&mut self, instances: Vec<ConfiguredInstance>) -> Result<Changes, StartError> {
        for configured in &instances {
            self.check(configured)?;
        }
        let mut changes = Changes::default();
        let mut wanted: BTreeMap<String, ConfiguredInstance> =
            instances.into_iter().map(|configured| (configured.id.clone(), configured)).collect();
        let ids: Vec<String> = self.running.keys().cloned().collect();
        let mut push_ended = Vec::new();
        for id in ids {
            match wanted.get(&id) {
                Some(configured) if *configured == self.running[&id].configured => {
                    wanted.remove(&id);
                }
                Some(configured) => {
                    changes.changed.push(id.clone());
                    push_ended.push((
                        self.running[&id].configured.clone(),
                        ended_push(&self.running[&id].configured, Some(configured)),
                    ));
                    self.retire(&id, false);
                }
                None => {
                    changes.removed.push(id.clone());
                    push_ended
                        .push((self.running[&id].configured.clone(), ended_push(&self.running[&id].configured, None)));
                    self.retire(&id, true);
                }
            }
        }
        for (old, resources) in push_ended.into_iter().filter(|(_, resources)| !resources.is_empty()) {
            self.delete_webhooks(&old, resources);
        }
        for (id, configured) in wanted {
            if !changes.changed.contains(&id) {
                changes.added.push(id.clone());
            }
            let running = self.start_instance(configured).await?;
            self.running.insert(id, running);
        }
        self.clients.retain(self.running.values().map(|running| &running.configured));
        Ok(changes)
    }

    /// Deletes the Autotask webhooks of `configured`'s `resources` in the
    /// background, with the instance's own credentials (it may be gone by then).
    fn delete_webhooks(&mut self, configured: &ConfiguredInstance, resources: Vec<String>) {
        let client = match self.clients.get(configured) {
            Ok(client) => client.for_instance(&configured.id),
            Err(error) => {
                tracing::warn!(instance = %configured.id, "cannot delete the push webhooks: {error}");
                return;
            }
        };
        let (store, id) = (self.shared.store.clone(), configured.id.clone());
        tokio::spawn(async move {
            for resource in resources {
                push::unregister(&client, &store, &id, &resource).await;
            }
        });
    }

    /// Tells running instance `id` to stop, without waiting for it.
    fn retire(&mut self, id: &str, removed: bool) {
        self.retiring.retain(|_, retired| !retired.is_finished());
        let retired = self.running.remove(id).expect("listed").retire(self.shared.clone(), removed);
        self.retiring.insert(id.to_owned(), retired);
    }

    /// Instance `id`'s stopped predecessor, while it may still be finishing.
    /// Await it outside the supervisor's lock.
    pub(crate) fn retired(&self, id: &str) -> Option<Retired> {
        self.retiring.get(id).filter(|retired| !retired.is_finished()).cloned()
    }

    /// What would stop `configured` from starting.
    fn check(&mut self, configured: &ConfiguredInstance) -> Result<(), StartError> {
        let config = &configured.instance;
        if !config.events_enabled || configured.disabled {
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

    /// A worker for `configured`'s outbox, to deliver its pending messages
    /// once with [`Worker::flush`] (outside the supervisor's lock: it is
    /// network I/O). `None` when the instance has no callback URL.
    pub(crate) fn flusher(&self, configured: &ConfiguredInstance) -> Option<Worker> {
        // Checked to be a URL when the configuration was read.
        let callback_url = configured.instance.callback_url.as_deref()?.parse().ok()?;
        Some(Worker {
            destination: Destination {
                instance_id: configured.id.clone(),
                callback_url,
                signature_key: configured.instance.signature_key.clone(),
            },
            store: self.shared.store.clone(),
            http: self.http.clone(),
            settings: self.shared.settings.delivery.clone(),
            outbox_ready: Arc::new(Notify::new()),
            observer: Arc::new(MetricsObserver(self.shared.metrics.clone())),
            shutdown: self.shutdown.child_token(),
            // In a fleet, only the host delivering the instance may flush it.
            lease: self.shared.lease(delivery_lease_key(&configured.id), &configured.id),
        })
    }

    pub(super) async fn stop_all(&mut self) {
        for (_, running) in std::mem::take(&mut self.running) {
            running.stop(&self.shared.plugins).await;
        }
        for (_, retired) in std::mem::take(&mut self.retiring) {
            retired.finished().await;
        }
        self.publish();
    }

    async fn start_instance(&mut self, configured: ConfiguredInstance) -> Result<RunningInstance, StartError> {
        let shared = &self.shared;
        let stop = self.shutdown.child_token();
        let mut running = RunningInstance {
            configured,
            stop: stop.clone(),
            tasks: JoinSet::new(),
            users: Vec::new(),
            resources: Vec::new(),
        };
        let configured = &running.configured;
        let id = configured.id.clone();
        // What the instance replaces may still finish a poll or a delivery.
        let predecessor = self.retired(&id);
        let config = &configured.instance;
        if configured.disabled {
            tracing::info!(instance = %id, "the instance is disabled; not polling it");
            return Ok(running);
        }
        if !config.events_enabled {
            tracing::info!(instance = %id, "events are disabled for this instance (event.notification.enabled); not polling it");
            return Ok(running);
        }
        let callback_url = config.callback_url.as_deref().expect("checked").parse().map_err(|e| {
            StartError::Instance { instance: id.clone(), message: format!("the callback URL is not a URL: {e}") }
        })?;
        let (store, instance_id, name) = (shared.store.clone(), id.clone(), config.name.clone());
        let created = poll::blocking(move || store.instance_created_at(&instance_id, &name, Utc::now())).await?;
        let client = self
            .clients
            .get(configured)
            .map_err(|e| StartError::Instance { instance: id.clone(), message: e.to_string() })?;

        let outbox_ready = Arc::new(Notify::new());
        shared.outbox_wakers.register(&id, &outbox_ready);
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
            let push = resource
                .push
                .then(|| {
                    PushState::new(
                        &id,
                        &resource.name,
                        &resource.entity,
                        shared.settings.public_url.as_deref(),
                        shared.metrics.clone(),
                    )
                })
                .flatten()
                .map(Arc::new);
            let poller = ResourcePoller {
                instance: handle.clone(),
                resource: index,
                plugin: slot.clone(),
                client: client.for_instance(&id),
                shared: shared.clone(),
                push: push.clone(),
                lease: shared.lease(poll_lease_key(&id, &resource.name), &id),
                progress: Default::default(),
            };
            let user = format!("{id}/{}", resource.name);
            let sample = configured.sample_records.get(&resource.name).and_then(|json| poller.sample(json));
            slot.attach(&user, sample);
            running.users.push((slot.clone(), user));
            let span = tracing::info_span!("poll", instance = %id, resource = %resource.name, plugin = %slot.label());
            let poller = Arc::new(poller);
            let lease = poller.lease.clone();
            let (control, handle) = scheduler::control(&resource.name, slot.clone(), push, lease, poller.clone());
            running.resources.push(handle);
            let poll_loop = scheduler::run(poller, interval, control, stop.clone());
            running.tasks.spawn(after(predecessor.clone(), stop.clone(), poll_loop).instrument(span));
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
            lease: shared.lease(delivery_lease_key(&id), &id),
        };
        let deliveries = after(predecessor, worker.shutdown.clone(), worker.run());
        running.tasks.spawn(deliveries.instrument(tracing::info_span!("delivery", instance = %id)));
        Ok(running)
    }
}

/// The resources of `old` whose push ends when it becomes `new` (`None`:
/// removed): gone, no longer polled, or with push turned off.
fn ended_push(old: &ConfiguredInstance, new: Option<&ConfiguredInstance>) -> Vec<String> {
    let runs = |configured: &ConfiguredInstance| configured.instance.events_enabled && !configured.disabled;
    let pushed = |configured: &ConfiguredInstance, name: &str| {
        runs(configured) && configured.instance.resources.iter().any(|resource| resource.name == name && resource.push)
    };
    old.instance
        .resources
        .iter()
        .filter(|resource| resource.push && runs(old))
        .filter(|resource| !new.is_some_and(|new| pushed(new, &resource.name)))
        .map(|resource| resource.name.clone())
        .collect()
}

/// One Autotask client per credential (server, user, secret and integration
/// code), shared by the instances that use it: a changed secret gets a new
/// client at once, and no instance ever polls with another's secret.
///
/// The clients share one HTTP client (connection pool, TLS setup, resolver):
/// their options are the host's, the same for all, and a credential travels in
/// each request's headers, not in the connection. Ten thousand instances would
/// otherwise hold ten thousand pools and TLS configurations.
struct Clients {
    zones: ZoneCache,
    metrics: Arc<Metrics>,
    rules: InstanceRules,
    by_credential: HashMap<CredentialKey, AutotaskClient>,
    /// Built with the first client.
    http: Option<reqwest::Client>,
}

impl Clients {
    fn new(metrics: Arc<Metrics>, rules: InstanceRules) -> Self {
        Clients { zones: ZoneCache::default(), metrics, rules, by_credential: HashMap::new(), http: None }
    }

    fn get(&mut self, configured: &ConfiguredInstance) -> Result<AutotaskClient, crate::source::SourceError> {
        let connection = &configured.instance.connection;
        let key = connection.key();
        if let Some(client) = self.by_credential.get(&key) {
            return Ok(client.clone());
        }
        let metrics = self.metrics.clone();
        let observer = ResponseObserver(Arc::new(move |entity: &str, status: u16| {
            metrics.autotask_requests.get_or_create(&AutotaskLabels { entity: entity.to_owned(), status }).inc();
        }));
        let options = ClientOptions { observer: Some(observer), ..client_options(&self.rules) };
        let http = match &self.http {
            Some(http) => http.clone(),
            None => {
                let http = AutotaskClient::http_client(&options).map_err(|e| {
                    crate::source::SourceError::ServerUrl { url: connection.server_url.clone(), message: e.to_string() }
                })?;
                self.http.insert(http).clone()
            }
        };
        let options = ClientOptions { http: Some(http), ..options };
        let client = AutotaskClient::new(connection.clone(), options, self.zones.clone())?;
        self.by_credential.insert(key, client.clone());
        Ok(client)
    }

    /// Drops the clients and zone answers no running instance uses any more
    /// (a changed secret, a deleted instance).
    fn retain<'a>(&mut self, running: impl Iterator<Item = &'a ConfiguredInstance>) {
        let used: HashSet<CredentialKey> = running.map(|configured| configured.instance.connection.key()).collect();
        self.by_credential.retain(|key, _| used.contains(key));
        self.zones.retain(&used);
    }
}

/// The Autotask client options of this host: its egress policy and Autotask hosts.
pub(crate) fn client_options(rules: &InstanceRules) -> ClientOptions {
    ClientOptions {
        egress: Some(rules.egress.clone()),
        autotask_hosts: Some(rules.autotask_hosts.clone()),
        ..ClientOptions::default()
    }
}

/// The HTTP client for callbacks. Redirects are not followed: a signed message
/// goes only where the instance says, and only to addresses the egress policy allows.
fn delivery_client(egress: &Egress) -> reqwest::Client {
    crate::use_ring_for_tls();
    reqwest::Client::builder()
        .dns_resolver(egress.resolver())
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
