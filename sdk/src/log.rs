//! Logging through the host: lines land in the host's log tagged with the plugin's name.
//!
//! Plugins have no stdout of their own worth reading; use these instead.

use crate::bindings::autotask_events::plugin::log::{Level, log};

/// Logs at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs at info level.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs at error level.
pub fn error(message: &str) {
    log(Level::Error, message);
}
