//! The autotask-events engine: everything between an instance's configuration
//! and its callback, without the web side. The pipeline reads by its stages:
//! [`source`] reads changed records from Autotask, [`records`] reads what the
//! resource's configuration says about each one, the plugin runtime maps them
//! into events, [`store`] keeps them in the outbox with the watermark, and
//! [`delivery`] posts them, signed, to the callback; [`service`] runs it all
//! for every instance (in a fleet, under the [`lease`]s it holds), and [`manage`] is the typed service layer the
//! management API and the console call.

pub mod capped;
pub mod config;
pub mod dates;
pub mod delivery;
pub mod egress;
pub mod lease;
pub mod manage;
pub mod random;
pub mod records;
pub mod service;
pub mod source;
pub mod store;
pub mod telemetry;
pub mod tryout;

/// Makes ring the TLS provider of every HTTP client: reqwest is built without
/// a default one. Installing it again (another client) is harmless.
pub fn use_ring_for_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
