//! Makes loading a plugin fast when it, or most of it, was compiled before.
//!
//! Two caches, for the two ways a plugin comes back:
//!
//! - **Per function, in memory** (Cranelift's incremental cache): a JavaScript
//!   or Python plugin is a 10–20 MB interpreter plus a small script. When only
//!   the script changed, almost every function compiles to what it did last
//!   time, and those are taken from here instead of compiled again (~10 s of
//!   Cranelift on two cores otherwise).
//! - **Whole components, on disk**, keyed by the file's SHA-256 and the
//!   engine's settings: the same file loads again after a restart, or after
//!   switching back to an earlier version, in milliseconds.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use wasmtime::component::Component;
use wasmtime::{CacheStore, Engine};

/// Compiled functions by Cranelift's key. Past the limit it starts over: the
/// next reload of a large plugin is slow once, and memory stays bounded.
#[derive(Debug)]
pub(crate) struct FunctionCache {
    entries: Mutex<FunctionEntries>,
    limit_bytes: usize,
}

#[derive(Debug, Default)]
struct FunctionEntries {
    by_key: HashMap<Vec<u8>, Vec<u8>>,
    bytes: usize,
}

impl FunctionCache {
    pub(crate) fn new(limit_bytes: usize) -> Self {
        FunctionCache { entries: Mutex::default(), limit_bytes }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FunctionEntries> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        self.lock().by_key.get(key).map(|value| Cow::Owned(value.clone()))
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        let mut entries = self.lock();
        let size = key.len() + value.len();
        if entries.bytes + size > self.limit_bytes {
            entries.by_key.clear();
            entries.bytes = 0;
        }
        entries.bytes += size;
        if let Some(old) = entries.by_key.insert(key.to_vec(), value) {
            entries.bytes -= key.len() + old.len();
        }
        true
    }
}

/// How many compiled plugins the disk cache keeps (the most recently written).
const ARTIFACTS_KEPT: usize = 16;

/// The start of a script runner's key. Runners are not counted or pruned
/// with plugins: a service that saw many plugin versions must not compile
/// its runner again (a few seconds of every core) because of them.
pub(crate) const RUNNER_PREFIX: &str = "runner-";

/// Compiled components on disk, one file per (content, engine settings).
#[derive(Debug)]
pub(crate) struct ArtifactCache {
    dir: PathBuf,
    /// Different wasmtime versions or settings cannot share artifacts.
    engine_key: String,
    /// Writes started by [`put_in_background`](Self::put_in_background) and not yet waited for.
    writing: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl ArtifactCache {
    pub(crate) fn new(dir: PathBuf, engine: &Engine) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        ArtifactCache { dir, engine_key: format!("{:016x}", hasher.finish()), writing: Mutex::default() }
    }

    /// Stores `component` on a low-priority thread, off the load's path.
    pub(crate) fn put_in_background(self: &Arc<Self>, version: &str, component: &Component) {
        let (cache, component, version) = (self.clone(), component.clone(), version.to_owned());
        let handle = std::thread::spawn(move || {
            crate::priority::lower_this_thread();
            cache.put(&version, &component);
        });
        let mut writing = self.writing.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        writing.retain(|handle| !handle.is_finished());
        writing.push(handle);
    }

    /// Waits for the writes started so far: a process about to exit calls it
    /// so that what it compiled is there for the next one.
    pub(crate) fn wait_for_writes(&self) {
        let handles = std::mem::take(&mut *self.writing.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        for handle in handles {
            let _ = handle.join();
        }
    }

    fn path(&self, version: &str) -> PathBuf {
        self.dir.join(format!("{version}-{}.cwasm", self.engine_key))
    }

    /// The component compiled earlier from the bytes whose SHA-256 is `version`.
    /// An unreadable or stale artifact is removed and reported as a miss.
    pub(crate) fn get(&self, engine: &Engine, version: &str) -> Option<Component> {
        let path = self.path(version);
        // Read whole, never mapped: the file could be replaced while in use.
        let bytes = std::fs::read(&path).ok()?;
        // SAFETY: the cache directory is the service's own; its files are only
        // ever written by `put` from `Component::serialize` of this engine
        // configuration (the engine key is in the name), and wasmtime checks
        // the header and version before using the bytes.
        match unsafe { Component::deserialize(engine, &bytes) } {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::debug!("dropping unusable compiled plugin {}: {error}", path.display());
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores `component` for the next load of the same bytes. A failure only
    /// costs a compile later, so it is logged, not returned.
    pub(crate) fn put(&self, version: &str, component: &Component) {
        let stored = component.serialize().map_err(|e| e.to_string()).and_then(|bytes| {
            std::fs::create_dir_all(&self.dir).map_err(|e| e.to_string())?;
            let path = self.path(version);
            // Several services (or threads) may share the directory and write
            // the same artifact at once: each writes its own file, and the
            // renames replace one complete file with another.
            let writer = format!("{}-{:?}", std::process::id(), std::thread::current().id());
            let writer: String = writer.chars().filter(char::is_ascii_alphanumeric).collect();
            let partial = path.with_extension(format!("{writer}.partial"));
            std::fs::write(&partial, bytes).and_then(|()| std::fs::rename(&partial, &path)).map_err(|e| e.to_string())
        });
        match stored {
            Ok(()) => prune(&self.dir, ARTIFACTS_KEPT),
            Err(error) => tracing::warn!("could not cache a compiled plugin in {}: {error}", self.dir.display()),
        }
    }
}

/// Removes all but the `keep` newest `.cwasm` files of `dir`.
fn prune(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut artifacts: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "cwasm"))
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with(RUNNER_PREFIX))
        .filter_map(|entry| Some((entry.metadata().ok()?.modified().ok()?, entry.path())))
        .collect();
    artifacts.sort_by_key(|artifact| std::cmp::Reverse(artifact.0));
    for (_, path) in artifacts.into_iter().skip(keep) {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_cache_starts_over_past_its_limit() {
        let cache = FunctionCache::new(100);
        assert!(cache.insert(b"a", vec![0; 40]));
        assert!(cache.insert(b"b", vec![0; 40]));
        assert_eq!(cache.get(b"a").map(|v| v.len()), Some(40));
        // 81 + 41 > 100: everything goes, then c is in.
        assert!(cache.insert(b"c", vec![0; 40]));
        assert!(cache.get(b"a").is_none());
        assert!(cache.get(b"c").is_some());
        assert_eq!(cache.lock().bytes, 41);
    }

    #[test]
    fn prune_keeps_the_newest_artifacts() {
        let dir = tempfile::tempdir().unwrap();
        for n in 0..5u64 {
            let path = dir.path().join(format!("{n}.cwasm"));
            std::fs::write(&path, b"x").unwrap();
            let time = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000 + n);
            std::fs::File::options().write(true).open(&path).unwrap().set_modified(time).unwrap();
        }
        std::fs::write(dir.path().join("other.txt"), b"x").unwrap();
        std::fs::write(dir.path().join("runner-old.cwasm"), b"x").unwrap();
        prune(dir.path(), 2);
        let mut left: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, ["3.cwasm", "4.cwasm", "other.txt", "runner-old.cwasm"]);
    }
}
