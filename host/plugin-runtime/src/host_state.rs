//! What one plugin instance may reach on the host: a WASI context that grants
//! nothing, captured stdout/stderr, the `log` import, and a memory limiter.

use std::sync::Arc;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// Longest log message kept from a plugin; longer ones are cut.
const MAX_LOG_MESSAGE: usize = 8 * 1024;

/// The per-batch state of one plugin instance. A fresh one is made for every batch.
pub(crate) struct HostState {
    plugin: Arc<str>,
    wasi: WasiCtx,
    table: ResourceTable,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
    memory_limit: usize,
    /// Set when the plugin asked for more memory than its limit, so a trap that
    /// follows is reported as the memory limit rather than a bare trap.
    pub(crate) memory_limit_hit: bool,
    /// The largest linear memory the instance grew to (granted), in bytes.
    pub(crate) peak_memory: usize,
    /// How much of stdout and stderr is already in the log: an instance that
    /// maps several batches is flushed after each, and says each line once.
    flushed: [usize; 2],
}

impl HostState {
    pub(crate) fn new(plugin: Arc<str>, memory_limit: usize, output_bytes: usize) -> Self {
        let stdout = MemoryOutputPipe::new(output_bytes);
        let stderr = MemoryOutputPipe::new(output_bytes);
        // No preopened directories, no environment, no arguments, no network, no stdin:
        // a plugin maps data it is given and nothing else.
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        HostState {
            plugin,
            wasi,
            table: ResourceTable::new(),
            stdout,
            stderr,
            memory_limit,
            memory_limit_hit: false,
            peak_memory: 0,
            flushed: [0; 2],
        }
    }

    /// Sends what the plugin printed since the last flush to the host's log, a
    /// line an event: stdout at INFO, stderr at WARN (where exceptions and panics go).
    pub(crate) fn flush_output_to_log(&mut self) {
        for (index, (stream, pipe)) in [("stdout", &self.stdout), ("stderr", &self.stderr)].into_iter().enumerate() {
            let bytes = pipe.contents();
            let new = bytes.get(self.flushed[index]..).unwrap_or_default();
            self.flushed[index] = bytes.len();
            for line in String::from_utf8_lossy(new).lines().filter(|l| !l.trim().is_empty()) {
                if stream == "stderr" {
                    tracing::warn!(plugin = %self.plugin, stream, "{line}");
                } else {
                    tracing::info!(plugin = %self.plugin, stream, "{line}");
                }
            }
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// The levels a plugin's `log` import takes, in every interface version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl HostState {
    /// A plugin's `log` call: a line in the host's log, tagged with the plugin.
    pub(crate) fn log(&mut self, level: LogLevel, message: &str) {
        let plugin = &*self.plugin;
        let message = cut(message, MAX_LOG_MESSAGE);
        match level {
            LogLevel::Trace => tracing::trace!(plugin, "{message}"),
            LogLevel::Debug => tracing::debug!(plugin, "{message}"),
            LogLevel::Info => tracing::info!(plugin, "{message}"),
            LogLevel::Warn => tracing::warn!(plugin, "{message}"),
            LogLevel::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

impl ResourceLimiter for HostState {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = desired <= self.memory_limit;
        self.memory_limit_hit |= !allowed;
        if allowed {
            self.peak_memory = self.peak_memory.max(desired);
        }
        Ok(allowed)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // Tables hold function references; a million is far beyond any real plugin.
        Ok(desired <= 1_000_000)
    }
}

fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
