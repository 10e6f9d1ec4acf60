//! autotask-events: polls Autotask PSA and turns changed records into
//! standardized, signed Cloud Elements style events through WebAssembly
//! mapping plugins.
//!
//! This crate is the top of the stack: the command line ([`cli`]) and the
//! one place that assembles the running service ([`app`]): the engine
//! (`autotask-events-engine`), its management listener with the API and the
//! console (`autotask-events-web`), and the built-in plugin's bytes.

pub mod app;
pub mod cli;
pub mod logging;
