//! How much time and memory one batch may take in a plugin.

use std::time::Duration;

/// Limits applied to every batch call; a batch that exceeds one fails alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall time for one batch: instantiation plus the call.
    pub batch_time: Duration,
    /// Linear memory of one plugin instance, in bytes.
    pub memory_bytes: usize,
    /// Bytes of stdout, and of stderr, kept from one batch for the log.
    pub output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { batch_time: Duration::from_secs(2), memory_bytes: 64 << 20, output_bytes: 1 << 20 }
    }
}
