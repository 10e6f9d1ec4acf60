//! The end-to-end tests: the running service, its API and console, the plugin
//! runtime and the Autotask client, against the simulator and real compiled
//! components, all over loopback HTTP. One binary, so a test run links once;
//! what the modules share is in this crate's library (`support/`).
//!
//! The service on a PostgreSQL store is opted in too (it needs a server):
//! `AUTOTASK_EVENTS_TEST_POSTGRES=postgres://... cargo test -p autotask-events-tests --test e2e -- --ignored postgres`
//! (`tests/run` starts a throwaway one).
//!
//! Three kinds of tests are opted in: the console's browser tests (they need Chromium),
//! `cargo test -p autotask-events-tests --test e2e -- --ignored console::`, the
//! simulator's conformance test with an independent Autotask client (it needs Node.js and
//! `npm ci` in `tests/conformance`),
//! `cargo test -p autotask-events-tests --test e2e -- --ignored conformance::`, and the
//! management API fuzzed by Schemathesis and driven through a generated client (they need
//! `AUTOTASK_EVENTS_SCHEMATHESIS` and `AUTOTASK_EVENTS_OPENAPI_PYTHON_CLIENT`),
//! `cargo test -p autotask-events-tests --test e2e -- --ignored openapi::`.

mod api;
mod api_budget;
mod autotask_client;
mod conformance;
mod console;
mod fleet;
mod hardening_runtime;
mod openapi;
mod plugin_runtime;
mod poll_session;
mod postgres_store;
mod progress;
mod push;
mod reload;
mod script_equivalence;
mod scripts;
mod service;
mod tenancy;

use std::path::Path;

use autotask_events::app::{self, RunningService};

/// Loads `path` as `serve` would and starts the service.
async fn start(path: &Path) -> RunningService {
    let config = engine::config::load(path).unwrap_or_else(|problems| panic!("config problems:\n{problems}"));
    app::start(config).await.expect("the service starts")
}
