//! autotask-events: polls Autotask PSA and turns changed records into
//! standardized, signed Cloud Elements style events through WebAssembly
//! mapping plugins.
//!
//! The pipeline reads by its stages: raw records arrive from Autotask,
//! records, [`records`] reads what the resource's configuration says about each
//! one, and [`plugin`] runs the resource's mapping component over a batch.

pub mod api;
pub mod builtin;
pub mod cli;
pub mod config;
pub mod console;
pub mod dates;
pub mod delivery;
pub mod plugin;
pub mod random;
pub mod records;
pub mod service;
pub use autotask_sim::sample;
pub mod source;
pub mod store;

/// Makes ring the TLS provider of every HTTP client: reqwest is built without
/// a default one. Installing it again (another client) is harmless.
pub(crate) fn use_ring_for_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
