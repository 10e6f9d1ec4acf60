//! Runs mapping plugins: WebAssembly components implementing the
//! `autotask-events:plugin` world, in any of its released versions. This is
//! the only crate that uses wasmtime; what goes in and out of a plugin is in
//! the host's own types ([`Context`], [`RawRecord`], [`Event`], ...).
//!
//! One [`PluginRuntime`] holds the engine. A [`Plugin`] is compiled and
//! pre-instantiated once when loaded; every batch then gets a fresh, short-lived
//! store and instance, so nothing a plugin does in one batch (leaked memory, a
//! trap half way) can reach the next, and a fresh instance costs microseconds.

mod cache;
mod error;
mod host_state;
mod interface;
mod limits;
pub mod priority;
mod script;
mod session;
mod ticker;
mod types;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};

pub use error::PluginError;
pub use limits::Limits;
pub use script::ScriptLanguage;
use session::KeptInstances;
pub use session::{MAX_KEPT_INSTANCES, PollSession};
pub use types::{
    Context, DatesConfiguration, Description, Event, EventType, MAX_CUSTOM_EVENT_TYPE_CHARS, PollConfiguration,
    RawRecord, RecordResult,
};

use cache::{ArtifactCache, FunctionCache};
use host_state::HostState;
use interface::Interface;
use script::{Runner, Script};
use ticker::EpochTicker;

/// How much compiled code the in-memory function cache holds before starting over.
const FUNCTION_CACHE_BYTES: usize = 512 << 20;

/// A record to try a plugin on before it replaces another, with the context it came in.
#[derive(Debug, Clone)]
pub struct Sample {
    pub ctx: Context,
    pub record: RawRecord,
}

/// Compiles, links and runs plugins with shared limits.
pub struct PluginRuntime {
    engine: Engine,
    linker: Linker<HostState>,
    limits: Limits,
    ticker: Arc<EpochTicker>,
    kept: Arc<KeptInstances>,
    artifacts: Option<Arc<ArtifactCache>>,
    /// Each language's runner, compiled the first time a script needs it.
    runners: Mutex<HashMap<ScriptLanguage, Arc<Runner>>>,
}

impl PluginRuntime {
    /// A runtime whose plugins run under `limits`.
    pub fn new(limits: Limits) -> Result<Self, PluginError> {
        Self::build(limits, None)
    }

    /// A runtime that also keeps compiled plugins in `dir`, so a file loaded
    /// before (by this process or an earlier one) loads without compiling.
    pub fn with_artifact_cache(limits: Limits, dir: PathBuf) -> Result<Self, PluginError> {
        Self::build(limits, Some(dir))
    }

    fn build(limits: Limits, artifact_dir: Option<PathBuf>) -> Result<Self, PluginError> {
        let fail = |e: wasmtime::Error| PluginError::Runtime { plugin: "(runtime)".into(), reason: e.to_string() };
        priority::lower_compile_pool();
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling(&limits)));
        config.enable_incremental_compilation(Arc::new(FunctionCache::new(FUNCTION_CACHE_BYTES))).map_err(fail)?;
        let engine = Engine::new(&config).map_err(fail)?;
        let artifacts = artifact_dir.map(|dir| Arc::new(ArtifactCache::new(dir, &engine)));

        let mut linker = Linker::new(&engine);
        // Rust-std and Python guests import WASI even when they use none of it; it
        // is linked so they load, and each store's context grants nothing.
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(fail)?;
        interface::add_to_linker(&mut linker).map_err(fail)?;

        let ticker = Arc::new(EpochTicker::start(&engine));
        let kept = Arc::new(KeptInstances::new(MAX_KEPT_INSTANCES));
        Ok(PluginRuntime { engine, linker, limits, ticker, kept, artifacts, runners: Mutex::default() })
    }

    /// Waits until the compiled plugins being written to the artifact cache are
    /// written: a short-lived process calls it before it exits, so the next one
    /// finds them.
    pub fn wait_for_cache_writes(&self) {
        if let Some(cache) = &self.artifacts {
            cache.wait_for_writes();
        }
    }

    /// The limits every batch runs under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Loads the plugin in `path`: a component, or a script (`.js`, `.py`). The
    /// file is read whole (never mapped: it may be overwritten while in use),
    /// and the plugin is named after it in logs and errors.
    pub fn load_file(&self, path: &Path) -> Result<Plugin, PluginError> {
        self.load_file_checked(path, &[])
    }

    /// [`load_file`](Self::load_file), then each sample must map (see
    /// [`load_checked`](Self::load_checked)).
    pub fn load_file_checked(&self, path: &Path, samples: &[Sample]) -> Result<Plugin, PluginError> {
        let bytes = std::fs::read(path).map_err(|source| PluginError::Read { path: path.to_path_buf(), source })?;
        self.load_source(path, &bytes, samples)
    }

    /// Loads `bytes`, read from `path`: a script when the path ends in `.js` or
    /// `.py`, else a component. The plugin is named after the path.
    pub fn load_source(&self, path: &Path, bytes: &[u8], samples: &[Sample]) -> Result<Plugin, PluginError> {
        let name = path.display().to_string();
        match ScriptLanguage::of_path(path) {
            Some(language) => {
                let file_name = path.file_name().map_or_else(|| name.clone(), |n| n.to_string_lossy().into_owned());
                self.load_script(&name, &file_name, language, bytes, samples)
            }
            None => self.load_checked(&name, bytes, samples),
        }
    }

    /// Loads a script plugin: `source` (the file's bytes, UTF-8) mapped by
    /// `language`'s runner. Nothing is compiled but the runner, once per
    /// installation; `file_name` is what the script's errors name.
    pub fn load_script(
        &self,
        name: &str,
        file_name: &str,
        language: ScriptLanguage,
        source: &[u8],
        samples: &[Sample],
    ) -> Result<Plugin, PluginError> {
        let runner = self.runner(language, language.runner(), language.runner_version())?;
        self.load_script_on(runner, name, file_name, source, samples)
    }

    /// [`load_script`](Self::load_script) with a runner other than the one
    /// shipped, e.g. one just rebuilt from its sources to compare.
    pub fn load_script_with_runner(
        &self,
        name: &str,
        file_name: &str,
        language: ScriptLanguage,
        runner: &[u8],
        source: &[u8],
        samples: &[Sample],
    ) -> Result<Plugin, PluginError> {
        let runner = self.runner(language, runner, &version_of(runner))?;
        self.load_script_on(runner, name, file_name, source, samples)
    }

    fn load_script_on(
        &self,
        runner: Arc<Runner>,
        name: &str,
        file_name: &str,
        source: &[u8],
        samples: &[Sample],
    ) -> Result<Plugin, PluginError> {
        let source = std::str::from_utf8(source).map_err(|e| PluginError::Script {
            plugin: name.into(),
            reason: format!("{file_name} is not UTF-8 text (byte {})", e.valid_up_to()),
        })?;
        let version = script_version(&runner.version, source.as_bytes());
        let mut plugin = Plugin {
            name: name.into(),
            version: version.into(),
            engine: self.engine.clone(),
            pre: runner.pre.clone(),
            exports: runner.exports.clone(),
            script: Some(Script { file_name: file_name.into(), source: source.into() }),
            limits: self.limits,
            description: None,
            peak_memory: AtomicUsize::new(0),
            kept: self.kept.clone(),
            _ticker: self.ticker.clone(),
        };
        plugin.description = plugin.self_test(samples)?;
        Ok(plugin)
    }

    /// `language`'s runner, compiled (or read from the artifact cache) the first time.
    fn runner(&self, language: ScriptLanguage, bytes: &[u8], version: &str) -> Result<Arc<Runner>, PluginError> {
        // Held while compiling, so two scripts arriving together compile the runner once.
        let mut runners = self.runners.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(runner) = runners.get(&language).filter(|runner| runner.version == version) {
            return Ok(runner.clone());
        }
        let name = format!("the {} runner", language.name());
        // Services in one process (tests, benchmarks) share their cache
        // directory: one compiles the runner and writes it, and the others
        // wait and then load it from there.
        static COMPILING: Mutex<()> = Mutex::new(());
        let _compiling = COMPILING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = format!("{}{version}", cache::RUNNER_PREFIX);
        let component = match self.artifacts.as_ref().and_then(|cache| cache.get(&self.engine, &key)) {
            Some(component) => component,
            None => {
                let component = Component::new(&self.engine, bytes)
                    .map_err(|e| PluginError::Runtime { plugin: name.clone(), reason: e.root_cause().to_string() })?;
                if let Some(cache) = &self.artifacts {
                    cache.put(&key, &component);
                }
                component
            }
        };
        let pre = self.linker.instantiate_pre(&component).map_err(|e| PluginError::Runtime {
            plugin: name.clone(),
            reason: format!("it cannot be linked: {}", e.root_cause()),
        })?;
        let broken = |reason: String| PluginError::Runtime { plugin: name.clone(), reason };
        let interface = interface::version_of(&component, &self.engine).map_err(broken)?;
        let exports = interface::bind(interface, &pre).map_err(|e| broken(e.root_cause().to_string()))?;
        if !exports.runs_scripts() {
            return Err(broken("it does not export the `script` interface".into()));
        }
        let runner = Arc::new(Runner { version: version.to_owned(), pre, exports: exports.into() });
        runners.insert(language, runner.clone());
        Ok(runner)
    }

    /// Loads a plugin from its bytes: compiles it, checks it implements the world,
    /// asks it to describe itself and runs it once on an empty batch.
    pub fn load_bytes(&self, name: &str, bytes: &[u8]) -> Result<Plugin, PluginError> {
        self.load_checked(name, bytes, &[])
    }

    /// Like [`load_bytes`](Self::load_bytes), and then maps each sample record,
    /// which must map without error: the check a new version of a plugin
    /// passes before it replaces the one in use.
    pub fn load_checked(&self, name: &str, bytes: &[u8], samples: &[Sample]) -> Result<Plugin, PluginError> {
        if !bytes.starts_with(b"\0asm") {
            let reason = if bytes.is_empty() {
                "the file is empty".to_owned()
            } else {
                "the file does not start with the WebAssembly magic bytes (\\0asm)".to_owned()
            };
            return Err(PluginError::NotAComponent { plugin: name.into(), reason });
        }
        let version = version_of(bytes);
        let component = self.compile(name, &version, bytes)?;
        let pre = self.linker.instantiate_pre(&component).map_err(|e| PluginError::WrongWorld {
            plugin: name.into(),
            missing: format!("it needs an import the host does not offer ({})", e.root_cause()),
        })?;
        let wrong_world = |missing: String| PluginError::WrongWorld { plugin: name.into(), missing };
        let interface = interface::version_of(&component, &self.engine).map_err(wrong_world)?;
        let exports = interface::bind(interface, &pre).map_err(|_| {
            wrong_world(format!("it does not export `{}` with a `transform` function", interface.mapper_export))
        })?;

        let mut plugin = Plugin {
            name: name.into(),
            version: version.into(),
            engine: self.engine.clone(),
            pre,
            exports: exports.into(),
            script: None,
            limits: self.limits,
            description: None,
            peak_memory: AtomicUsize::new(0),
            kept: self.kept.clone(),
            _ticker: self.ticker.clone(),
        };
        plugin.description = plugin.self_test(samples)?;
        Ok(plugin)
    }

    /// The compiled component: from the artifact cache, or compiled (and cached).
    fn compile(&self, name: &str, version: &str, bytes: &[u8]) -> Result<Component, PluginError> {
        if let Some(component) = self.artifacts.as_ref().and_then(|cache| cache.get(&self.engine, version)) {
            return Ok(component);
        }
        let component = Component::new(&self.engine, bytes)
            .map_err(|e| PluginError::NotAComponent { plugin: name.into(), reason: e.root_cause().to_string() })?;
        if let Some(cache) = &self.artifacts {
            // Off the load's path: a JavaScript plugin's artifact is 30+ MB to
            // serialize and write, and the new version should serve first.
            cache.put_in_background(version, &component);
        }
        Ok(component)
    }
}

/// A plugin's version: the SHA-256 of its file, in hex.
pub fn version_of(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The version of the plugin in the file `path` holding `bytes`, as
/// [`Plugin::version`] will say it once loaded: for a script, its runner's
/// version and its source together, so a new runner is a new version too.
pub fn version_of_file(path: &Path, bytes: &[u8]) -> String {
    match ScriptLanguage::of_path(path) {
        Some(language) => script_version(language.runner_version(), bytes),
        None => version_of(bytes),
    }
}

/// The version of a script run by the runner of version `runner_version`.
fn script_version(runner_version: &str, source: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(runner_version.as_bytes());
    hasher.update(b"\n");
    hasher.update(source);
    hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect()
}

/// How many plugin instances may be alive at once across all plugins: the most
/// batches that can run in parallel.
pub const MAX_CONCURRENT_BATCHES: u32 = 128;

/// Instances come from a pool of pre-reserved slots rather than fresh mappings:
/// a batch's instance then costs no mmap/munmap, and its memory pages stay
/// resident between batches (cleared, not faulted in again), which is most of
/// the fixed cost of a fresh instance per batch.
fn pooling(limits: &Limits) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(MAX_CONCURRENT_BATCHES)
        // Components built by componentize-js/-py hold a dozen core instances or more.
        .total_core_instances(MAX_CONCURRENT_BATCHES * 16)
        .total_memories(MAX_CONCURRENT_BATCHES * 4)
        .total_tables(MAX_CONCURRENT_BATCHES * 8)
        .max_tables_per_module(4)
        // Interpreters compiled to wasm (CPython, SpiderMonkey) have large function tables.
        .table_elements(200_000)
        .max_memory_size(limits.memory_bytes)
        .linear_memory_keep_resident(16 << 20)
        .table_keep_resident(1 << 20);
    pool
}

/// A loaded plugin, ready to map batches from any thread.
pub struct Plugin {
    name: Arc<str>,
    version: Arc<str>,
    engine: Engine,
    pre: InstancePre<HostState>,
    /// The component's exports, through the bindings of the interface version it implements.
    exports: Arc<dyn Interface>,
    /// For a script plugin: the script its runner is given on every instance.
    script: Option<Script>,
    limits: Limits,
    description: Option<Description>,
    /// The most linear memory one batch's instance grew to so far, in bytes.
    peak_memory: AtomicUsize,
    /// The runtime's count of instances kept between the batches of a poll.
    kept: Arc<KeptInstances>,
    // Keeps the epoch advancing for as long as any plugin may run.
    _ticker: Arc<EpochTicker>,
}

impl Plugin {
    /// The name used in logs and errors: the file it was loaded from.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The SHA-256 of the plugin's bytes (for a script, of its runner's
    /// version and its source), in hex.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The version of the plugin interface it implements (`0.1.0`), read from its exports.
    pub fn interface_version(&self) -> &'static str {
        self.exports.version()
    }

    /// Whether the plugin is a script, mapped by its language's runner.
    pub fn is_script(&self) -> bool {
        self.script.is_some()
    }

    /// What the plugin said about itself, if it exports `describe`.
    pub fn description(&self) -> Option<&Description> {
        self.description.as_ref()
    }

    /// The most linear memory one batch's instance has grown to so far, in
    /// bytes: what a language runtime costs per instance, against the limit.
    pub fn peak_memory_bytes(&self) -> usize {
        self.peak_memory.load(Ordering::Relaxed)
    }

    /// Maps a batch on the blocking pool, off the async reactor.
    pub fn transform(
        self: &Arc<Self>,
        ctx: Context,
        records: impl Into<Arc<[RawRecord]>>,
    ) -> impl Future<Output = Result<Vec<RecordResult>, PluginError>> + Send + 'static {
        let plugin = self.clone();
        let records = records.into();
        async move {
            let name = plugin.name.to_string();
            tokio::task::spawn_blocking(move || plugin.transform_blocking(&ctx, &records))
                .await
                .unwrap_or_else(|e| Err(PluginError::Runtime { plugin: name, reason: e.to_string() }))
        }
    }

    /// Maps a batch on this thread: one result per record, in order.
    ///
    /// A trap, the time or memory limit, or a malformed answer fails the whole
    /// batch; a record the plugin rejects fails only itself.
    pub fn transform_blocking(&self, ctx: &Context, records: &[RawRecord]) -> Result<Vec<RecordResult>, PluginError> {
        let mut store = self.new_store();
        let outcome = self.start(&mut store).and_then(|instance| {
            self.exports.transform(&mut store, &instance, ctx, records).map_err(|e| self.call_error(e, store.data()))
        });
        store.data_mut().flush_output_to_log();
        self.peak_memory.fetch_max(store.data().peak_memory, Ordering::Relaxed);
        let mut results = outcome?;
        self.check_results(&mut results, records.len())?;
        Ok(results)
    }

    /// A fresh instance, given its script if the plugin is one.
    fn start(&self, store: &mut Store<HostState>) -> Result<wasmtime::component::Instance, PluginError> {
        let instance = self.pre.instantiate(&mut *store).map_err(|e| self.call_error(e, store.data()))?;
        let Some(script) = &self.script else { return Ok(instance) };
        match self.exports.load_script(store, &instance, &script.file_name, &script.source) {
            Some(Ok(Ok(()))) => Ok(instance),
            Some(Ok(Err(reason))) => Err(PluginError::Script { plugin: self.name.to_string(), reason }),
            Some(Err(e)) => Err(self.call_error(e, store.data())),
            None => Err(PluginError::WrongWorld {
                plugin: self.name.to_string(),
                missing: "its runner does not export the `script` interface".into(),
            }),
        }
    }

    /// Instantiates once to prove the exports have the right types, reads the
    /// description, maps an empty batch and then each sample record.
    fn self_test(&self, samples: &[Sample]) -> Result<Option<Description>, PluginError> {
        let wrong_world = |e: wasmtime::Error| PluginError::WrongWorld {
            plugin: self.name.to_string(),
            missing: format!("its exports do not match the world: {}", e.root_cause()),
        };
        let mut store = self.new_store();
        let started = self.start(&mut store);
        store.data_mut().flush_output_to_log();
        let instance = started?;
        self.exports.check(&mut store, &instance).map_err(wrong_world)?;
        let description = match self.exports.describe(&mut store, &instance) {
            Some(described) => Some(described.map_err(|e| self.call_error(e, store.data()))?),
            None => None,
        };
        store.data_mut().flush_output_to_log();
        // A script has been given its source on this instance already: its
        // empty batch runs here rather than on a second instance.
        if self.script.is_some() {
            let empty = self.exports.transform(&mut store, &instance, &empty_context(), &[]);
            store.data_mut().flush_output_to_log();
            let mut results = empty.map_err(|e| self.call_error(e, store.data()))?;
            self.check_results(&mut results, 0)?;
        } else {
            self.transform_blocking(&empty_context(), &[])?;
        }
        for sample in samples {
            let results = self.transform_blocking(&sample.ctx, std::slice::from_ref(&sample.record))?;
            if let Some(Err(reason)) = results.into_iter().next() {
                return Err(PluginError::SampleRejected {
                    plugin: self.name.to_string(),
                    object_id: sample.record.object_id.clone(),
                    reason,
                });
            }
        }
        Ok(description)
    }

    fn new_store(&self) -> Store<HostState> {
        let state = HostState::new(self.name.clone(), self.limits.memory_bytes, self.limits.output_bytes);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| state);
        store.set_epoch_deadline(ticker::ticks_for(self.limits.batch_time));
        store.epoch_deadline_trap();
        store
    }

    fn call_error(&self, error: wasmtime::Error, state: &HostState) -> PluginError {
        let plugin = self.name.to_string();
        if state.memory_limit_hit {
            return PluginError::MemoryLimit { plugin, limit_mib: self.limits.memory_bytes >> 20 };
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => PluginError::Timeout { plugin, limit: self.limits.batch_time },
            Some(trap) => PluginError::Trap { plugin, reason: trap_reason(trap, &error) },
            None => PluginError::Trap { plugin, reason: error.root_cause().to_string() },
        }
    }

    /// A plugin's answer is trusted no further than its shape: one result per
    /// record, and every event with an id, an RFC 3339 date and a JSON payload.
    /// A custom event type with a name no receiver could rely on fails only its record.
    fn check_results(&self, results: &mut [RecordResult], expected: usize) -> Result<(), PluginError> {
        let malformed = |reason: String| PluginError::MalformedResult { plugin: self.name.to_string(), reason };
        if results.len() != expected {
            return Err(malformed(format!("{} results for {expected} records", results.len())));
        }
        for result in results.iter_mut() {
            let bad_name = result.iter().flatten().find_map(|event| match &event.event_type {
                EventType::Custom(name) => EventType::check_custom(name).err(),
                _ => None,
            });
            if let Some(reason) = bad_name {
                *result = Err(reason);
            }
        }
        for (index, events) in results.iter().enumerate() {
            for event in events.iter().flatten() {
                if event.object_id.is_empty() {
                    return Err(malformed(format!("record {index}: an event has an empty object-id")));
                }
                if chrono::DateTime::parse_from_rfc3339(&event.event_date).is_err() {
                    return Err(malformed(format!(
                        "record {index}: event-date `{}` is not an RFC 3339 date",
                        event.event_date
                    )));
                }
                if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&event.payload) {
                    return Err(malformed(format!("record {index}: the event payload is not JSON ({e})")));
                }
            }
        }
        Ok(())
    }
}

fn trap_reason(trap: &Trap, error: &wasmtime::Error) -> String {
    // Panicking Rust guests trap with `unreachable`; the message they printed went to
    // stderr, which is in the log just before this error.
    let detail = error.to_string();
    if detail.is_empty() || detail == trap.to_string() { trap.to_string() } else { format!("{trap} ({detail})") }
}

/// The context for the load-time self test: an empty batch of no instance.
fn empty_context() -> Context {
    Context {
        instance_id: String::new(),
        instance_name: String::new(),
        element_key: String::new(),
        resource: String::new(),
        poll: PollConfiguration {
            id_field: "id".into(),
            dates: DatesConfiguration {
                updated_date_field: None,
                updated_date_format: None,
                updated_date_timezone: None,
                created_date_field: None,
                created_date_format: None,
                created_date_timezone: None,
            },
            created_check_tolerance_seconds: 0,
        },
        previous_poll: "1970-01-01T00:00:00.000Z".into(),
        this_poll: "1970-01-01T00:00:00.000Z".into(),
    }
}
