//! The `autotask-events` command as a user runs it: one test binary for every
//! test that needs the built binary (`CARGO_BIN_EXE_autotask-events`).
//!
//! `languages` builds plugins with toolchains other than Rust and is opted in:
//! `cargo test -p autotask-events --test cli -- --ignored languages::`. `fleet`
//! runs three `serve` processes on one PostgreSQL server and is opted in too:
//! `AUTOTASK_EVENTS_TEST_POSTGRES=... cargo test -p autotask-events --test cli fleet -- --ignored --nocapture`.

mod changes;
mod commands;
mod demo;
mod fleet;
mod fleet_status;
mod languages;
mod plugin_diff;
mod poll_dry_run;
mod service_process;
mod traces;
