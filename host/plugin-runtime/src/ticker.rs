//! Advances the engine's epoch on a fixed tick so running plugins can be stopped.
//!
//! Epoch interruption costs a load and compare at loop heads, far less than
//! fuel metering, and a deadline in ticks is all a batch time limit needs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::Engine;

/// How often the epoch advances: the granularity of batch time limits.
pub(crate) const TICK: Duration = Duration::from_millis(10);

/// A thread that increments the epoch every [`TICK`] until dropped.
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub(crate) fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn({
                let engine = engine.clone();
                let stop = stop.clone();
                move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(TICK);
                        engine.increment_epoch();
                    }
                }
            })
            .expect("spawning the epoch ticker thread");
        EpochTicker { stop, thread: Some(thread) }
    }
}

/// The number of ticks that covers `limit`, plus one because a deadline may
/// start just before a tick.
pub(crate) fn ticks_for(limit: Duration) -> u64 {
    (limit.as_nanos().div_ceil(TICK.as_nanos()) as u64).max(1) + 1
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
