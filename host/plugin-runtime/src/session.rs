//! One poll's batches mapped on one instance.
//!
//! A fresh instance per batch costs its instantiation and, when it is dropped,
//! the reset of every page of linear memory it touched (tens of microseconds
//! for an empty batch, a `memset` of megabytes after a large one). The
//! batches of one poll belong to one instance's one resource, mapped one
//! after the other, so a [`PollSession`] maps them on one instance and pays
//! that once per poll.
//!
//! What stays isolated: a session is never shared, so nothing reaches another
//! poll, another resource or another instance; an instance that failed a batch
//! (trap, memory limit, malformed answer) is dropped, never reused; and a batch
//! that fails on an instance that already mapped earlier batches is mapped
//! again on a fresh instance, so whatever those batches left behind (memory the
//! plugin kept, output it printed) cannot fail a batch that maps on its own.
//!
//! An instance kept between batches holds a slot of the runtime's pool and its
//! resident memory while the poll reads its next page; at most
//! [`MAX_KEPT_INSTANCES`] are kept at once, and a session that finds them all
//! taken maps each batch on a fresh instance, as without a session.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use wasmtime::Store;
use wasmtime::component::Instance;

use crate::host_state::HostState;
use crate::{Context, Plugin, PluginError, RawRecord, RecordResult, ticker};

/// Maps the batches of one poll, in order, on one instance of `plugin`.
/// Dropped at the end of the poll, which drops the instance.
pub struct PollSession {
    plugin: Arc<Plugin>,
    live: Option<Live>,
}

/// The instance a session maps on, and how many batches it has mapped.
struct Live {
    store: Store<HostState>,
    instance: Instance,
    batches: u32,
    /// Held while the instance is kept between batches.
    kept: Option<KeptPermit>,
}

/// How many instances sessions may keep between batches, across every plugin
/// of a runtime: a fraction of the pool
/// ([`MAX_CONCURRENT_BATCHES`](crate::MAX_CONCURRENT_BATCHES)), so batches
/// always find a free slot, and a bound on the memory kept resident.
pub const MAX_KEPT_INSTANCES: usize = 32;

/// The number of instances kept between batches, shared by a runtime's plugins.
pub(crate) struct KeptInstances {
    count: AtomicUsize,
    max: usize,
}

impl KeptInstances {
    pub(crate) fn new(max: usize) -> Self {
        KeptInstances { count: AtomicUsize::new(0), max }
    }

    /// A permit to keep one instance, if fewer than the maximum are kept.
    fn try_keep(self: &Arc<Self>) -> Option<KeptPermit> {
        self.count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |count| (count < self.max).then_some(count + 1))
            .ok()
            .map(|_| KeptPermit(self.clone()))
    }
}

/// One kept instance; given back when the instance is dropped.
struct KeptPermit(Arc<KeptInstances>);

impl Drop for KeptPermit {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Plugin {
    /// A session mapping one poll's batches on one instance (see [`PollSession`]).
    pub fn session(self: &Arc<Self>) -> PollSession {
        PollSession { plugin: self.clone(), live: None }
    }
}

impl PollSession {
    /// The plugin (the version) this session maps with.
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }

    /// How many batches the current instance has mapped: 0 before the first
    /// batch and after a failed one (whose instance was dropped).
    pub fn batches_on_instance(&self) -> u32 {
        self.live.as_ref().map_or(0, |live| live.batches)
    }

    /// Maps a batch on the blocking pool, off the async reactor.
    pub async fn transform(
        &mut self,
        ctx: Context,
        records: impl Into<Arc<[RawRecord]>>,
    ) -> Result<Vec<RecordResult>, PluginError> {
        let records = records.into();
        let mut moved = PollSession { plugin: self.plugin.clone(), live: self.live.take() };
        let name = self.plugin.name.to_string();
        let (moved, outcome) = tokio::task::spawn_blocking(move || {
            let outcome = moved.transform_blocking(&ctx, &records);
            (moved, outcome)
        })
        .await
        .map_err(|e| PluginError::Runtime { plugin: name, reason: e.to_string() })?;
        self.live = moved.live;
        outcome
    }

    /// Maps a batch on this thread: one result per record, in order, exactly
    /// as [`Plugin::transform_blocking`] would on a fresh instance.
    pub fn transform_blocking(
        &mut self,
        ctx: &Context,
        records: &[RawRecord],
    ) -> Result<Vec<RecordResult>, PluginError> {
        let reused = self.live.is_some();
        match self.map_on_live(ctx, records) {
            Ok(results) => Ok(results),
            // Out of time already: mapping again would double the wait.
            Err(error @ PluginError::Timeout { .. }) => Err(error),
            // Only a fresh instance's failure is the batch's own.
            Err(_) if reused => self.map_on_live(ctx, records),
            Err(error) => Err(error),
        }
    }

    /// Maps `records` on the live instance (started if there is none); the
    /// instance is dropped if the batch fails.
    fn map_on_live(&mut self, ctx: &Context, records: &[RawRecord]) -> Result<Vec<RecordResult>, PluginError> {
        let plugin = &*self.plugin;
        let mut live = match self.live.take() {
            Some(live) => live,
            None => {
                let mut store = plugin.new_store();
                let started = plugin.start(&mut store);
                if started.is_err() {
                    store.data_mut().flush_output_to_log();
                }
                Live { instance: started?, store, batches: 0, kept: None }
            }
        };
        // Every batch gets the whole time limit, counted from its own start,
        // and a memory limit hit is this batch's only if this batch hit it.
        live.store.set_epoch_deadline(ticker::ticks_for(plugin.limits.batch_time));
        live.store.data_mut().memory_limit_hit = false;
        let outcome = plugin
            .exports
            .transform(&mut live.store, &live.instance, ctx, records)
            .map_err(|e| plugin.call_error(e, live.store.data()));
        live.store.data_mut().flush_output_to_log();
        plugin.peak_memory.fetch_max(live.store.data().peak_memory, Ordering::Relaxed);
        let mut results = outcome?;
        plugin.check_results(&mut results, records.len())?;
        live.batches += 1;
        if live.kept.is_none() {
            live.kept = plugin.kept.try_keep();
        }
        // Without a permit the instance is dropped here, as a fresh one would be.
        if live.kept.is_some() {
            self.live = Some(live);
        }
        Ok(results)
    }
}
