//! An Autotask PSA REST API simulator, faithful to the real API's shapes,
//! paging, limits and errors, for tests and demos that cannot reach Autotask.
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! let sim = autotask_sim::Simulator::start(autotask_sim::SimConfig::default()).await?;
//! println!("zone lookup starts at {}", sim.url());
//! # Ok(()) }
//! ```
//!
//! Besides the Autotask endpoints under `/atservicesrest/`, it serves a
//! test-control API under `/sim/` (create, change and delete records, inject
//! faults, read request statistics and the webhook log); see docs/autotask.md.
//!
//! Webhooks registered through the API (`TicketWebhooks`, ...) hear the changes
//! the control API and churn make, and call out as Autotask's do.

// Request helpers return the finished error `Response` (128 bytes) as their `Err`:
// it is the answer the handler sends, on a cold path, so boxing it buys nothing.
#![allow(clippy::result_large_err)]

mod api;
pub mod callouts;
mod changes;
mod churn;
mod control;
pub mod entity;
pub mod filter;
pub mod query;
pub mod sample;
pub mod store;
pub mod traffic;
mod webhook_api;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, patch, post};
use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use callouts::{WebhookLogEntry, WebhookTiming};
pub use entity::Entity;
pub use store::{Population, Store};
pub use traffic::{CalloutStats, Faults, Stats};

/// How the simulator is set up.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The seed of the generated data.
    pub seed: u64,
    pub tickets: usize,
    pub companies: usize,
    pub contacts: usize,
    /// Changes the simulator makes to its own data each minute (0: none).
    pub churn_per_minute: f64,
    /// The API user the simulator accepts (`UserName` header, zone lookup).
    pub user: String,
    /// The accepted `Secret` header.
    pub secret: String,
    /// The accepted `ApiIntegrationCode` header.
    pub integration_code: String,
    /// Requests allowed per rolling hour.
    pub threshold: usize,
    /// Requests allowed in flight per entity.
    pub concurrent_per_entity: usize,
    /// Latency added past 50 % and 75 % of the threshold.
    pub threshold_latency: [Duration; 2],
    /// Generated records were created and changed before this instant (default: start-up).
    pub epoch: Option<DateTime<Utc>>,
    /// How webhook callouts are timed (default: Autotask's timings).
    pub webhooks: WebhookTiming,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: 1,
            tickets: 500,
            companies: 50,
            contacts: 200,
            churn_per_minute: 0.0,
            user: "sim@example.com".into(),
            secret: "sim-secret".into(),
            integration_code: "SIMCODE".into(),
            threshold: 10_000,
            concurrent_per_entity: 3,
            threshold_latency: [Duration::from_millis(500), Duration::from_millis(1000)],
            epoch: None,
            webhooks: WebhookTiming::default(),
        }
    }
}

/// Locks are taken store first, then webhooks: a change tells the webhooks
/// while it holds the store.
struct Inner {
    config: SimConfig,
    addr: SocketAddr,
    store: Mutex<Store>,
    webhooks: Mutex<webhooks::Registry>,
    callouts: callouts::Callouts,
    traffic: traffic::Traffic,
}

/// The state every handler shares.
#[derive(Clone)]
pub(crate) struct Shared(Arc<Inner>);

impl std::ops::Deref for Shared {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn webhooks(&self) -> MutexGuard<'_, webhooks::Registry> {
        self.webhooks.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The store, locked for changes the webhooks hear of.
    fn changes(&self) -> changes::Changes<'_> {
        changes::Changes::new(self)
    }

    fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn faults(&self) -> Faults {
        self.traffic.faults()
    }
}

/// A running simulator; it stops when dropped.
pub struct Simulator {
    shared: Shared,
    server: JoinHandle<()>,
    churn: Option<JoinHandle<()>>,
}

impl Simulator {
    /// Generates the data and starts serving on `config.listen`.
    pub async fn start(config: SimConfig) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let population = Population {
            seed: config.seed,
            tickets: config.tickets,
            companies: config.companies,
            contacts: config.contacts,
            epoch: config.epoch.unwrap_or_else(Utc::now),
        };
        let limits = traffic::Limits {
            threshold: config.threshold,
            concurrent_per_entity: config.concurrent_per_entity,
            threshold_latency: config.threshold_latency,
        };
        let inner = Inner {
            traffic: traffic::Traffic::new(limits, config.seed),
            store: Mutex::new(Store::generate(&population)),
            webhooks: Mutex::new(webhooks::Registry::new(config.seed)),
            callouts: callouts::Callouts::new(),
            addr,
            config,
        };
        let shared = Shared(Arc::new(inner));
        let app = Router::new()
            .route("/sim/stats", get(control::stats).delete(control::reset_stats))
            .route("/sim/faults", get(control::faults).post(control::set_faults))
            .route("/sim/webhooks/log", get(control::webhook_log))
            .route("/sim/{entity}", post(control::create))
            .route("/sim/{entity}/{id}", patch(control::patch).delete(control::delete))
            .fallback(api::serve)
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!("the simulator stopped serving: {error}");
            }
        });
        let churn_per_minute = shared.config.churn_per_minute;
        let churn = (churn_per_minute > 0.0).then(|| tokio::spawn(churn::run(shared.clone(), churn_per_minute)));
        Ok(Simulator { shared, server, churn })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// Its base URL (`http://127.0.0.1:PORT`): where zone discovery starts.
    pub fn url(&self) -> String {
        self.shared.base_url()
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    /// Request counts so far (as `GET /sim/stats`).
    pub fn stats(&self) -> Stats {
        self.shared.traffic.stats()
    }

    /// Forgets the request counts (as `DELETE /sim/stats`).
    pub fn reset_stats(&self) {
        self.shared.traffic.reset_stats();
    }

    /// Replaces the injected faults (as `POST /sim/faults`).
    pub fn set_faults(&self, faults: Faults) {
        self.shared.traffic.set_faults(faults);
    }

    /// The webhook error log, oldest first (as `GET /sim/webhooks/log`):
    /// callouts given up on and webhooks deactivated.
    pub fn webhook_log(&self) -> Vec<WebhookLogEntry> {
        self.shared.callouts.log()
    }

    /// Runs `change` on the data. Unlike the control API, such changes call
    /// out to no webhook.
    pub fn with_store<T>(&self, change: impl FnOnce(&mut Store) -> T) -> T {
        change(&mut self.shared.store())
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.server.abort();
        self.shared.callouts.stop();
        if let Some(churn) = &self.churn {
            churn.abort();
        }
    }
}
