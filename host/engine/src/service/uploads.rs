//! Uploaded plugins into the plugin directory. The state database holds every
//! uploaded version and which one each resource is mapped with; this writes
//! the active ones into `{plugin_dir}/{name}`, where the watcher loads them
//! through the same checked swap as a file dropped there. Every host of a
//! fleet runs it against the one database, so each serves the active versions:
//! at startup (before the plugin directory is scanned), after an upload or an
//! activation on this host, when the database tells of one on another host,
//! and every [`SYNC_EVERY`] as a backstop.
//!
//! Once a resource has an uploaded plugin, the database is where it lives: a
//! file written over it by hand is replaced by the active version at the next sync.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Shared;
use super::plugins::{candidate_files, is_plugin_file};
use crate::store::{ActivePlugin, StoreError, off_thread};

/// How often the plugin directory is compared with the active versions when
/// nothing asked for it: one query each time.
pub(crate) const SYNC_EVERY: Duration = Duration::from_secs(30);

/// One sync at a time: two would write the same files.
static SYNCING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Writes the active version of every uploaded plugin whose file in the plugin
/// directory is missing or holds other bytes, and removes the files of its
/// resource with another extension (the registry maps a resource with the one
/// plugin file it has). Returns how many files it wrote. A file that cannot
/// be written is logged and tried again at the next sync.
pub(crate) async fn sync_uploaded_plugins(shared: &Shared) -> Result<usize, StoreError> {
    let _one_at_a_time = SYNCING.lock().await;
    let store = shared.store.clone();
    let active = off_thread(move || store.active_plugins()).await?;
    let mut written = 0;
    for plugin in active {
        let dir = shared.settings.plugin_dir.clone();
        let current = {
            let (dir, plugin) = (dir.clone(), plugin.clone());
            off_thread(move || on_disk(&dir, &plugin)).await
        };
        if current {
            continue;
        }
        let store = shared.store.clone();
        let (name, version) = (plugin.name.clone(), plugin.version);
        let Some(bytes) = off_thread(move || store.plugin_bytes(&name, version)).await? else {
            // Activated elsewhere in between: the next sync writes that one.
            continue;
        };
        let wrote = {
            let (dir, name) = (dir.clone(), plugin.name.clone());
            off_thread(move || write_plugin(&dir, &name, &bytes)).await
        };
        match wrote {
            Ok(path) => {
                written += 1;
                tracing::info!(
                    plugin = %plugin.name,
                    version = plugin.version,
                    sha256 = %plugin.sha256,
                    "wrote uploaded plugin {} version {} to {}",
                    plugin.name,
                    plugin.version,
                    path.display()
                );
            }
            Err(error) => tracing::error!(
                plugin = %plugin.name,
                "cannot write uploaded plugin {} version {} into {}: {error}; tried again in {} s",
                plugin.name,
                plugin.version,
                dir.display(),
                SYNC_EVERY.as_secs()
            ),
        }
    }
    Ok(written)
}

/// Syncs every [`SYNC_EVERY`] until `shutdown`: a missed notification or a
/// failed write costs at most that long.
pub(super) async fn run(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(SYNC_EVERY);
    every.tick().await;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = shutdown.cancelled() => return,
        }
        if let Err(error) = sync_uploaded_plugins(&shared).await {
            tracing::warn!("cannot compare the plugin directory with the uploaded plugins: {error}");
        }
    }
}

/// Whether `{dir}/{name}` holds the active version and no rival file of its
/// resource is there (a rival is removed here: it must not stay beside it).
fn on_disk(dir: &Path, plugin: &ActivePlugin) -> bool {
    let path = dir.join(&plugin.name);
    let same = std::fs::read(&path).is_ok_and(|bytes| plugin_runtime::version_of(&bytes) == plugin.sha256);
    same && remove_rivals(dir, &plugin.name).is_ok()
}

/// Writes `bytes` as `{dir}/{name}` atomically: into a hidden file beside it
/// (which the watcher ignores), synced, then renamed over it, so the watcher
/// never loads half a plugin. The resource's files with another extension
/// are removed first, so the registry never sees two plugins for it.
fn write_plugin(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let path = dir.join(name);
    let partial = dir.join(format!(".{name}.upload-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
    debug_assert!(!is_plugin_file(&partial), "the watcher must not load a partial upload");
    let written = (|| {
        use std::io::Write;
        let mut file = std::fs::File::create(&partial)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(error) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(error);
    }
    remove_rivals(dir, name)?;
    std::fs::rename(&partial, &path).inspect_err(|_| {
        let _ = std::fs::remove_file(&partial);
    })?;
    Ok(path)
}

/// Removes the plugin files of `name`'s resource other than `name` itself.
fn remove_rivals(dir: &Path, name: &str) -> std::io::Result<()> {
    let key = dir.join(crate::store::plugin_resource(name));
    for candidate in candidate_files(&key) {
        if candidate.file_name().is_some_and(|file| file != name) {
            match std::fs::remove_file(&candidate) {
                Ok(()) => {
                    tracing::info!("removed {}: an uploaded plugin of its resource replaces it", candidate.display())
                }
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(error),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_plugin_replaces_its_resources_other_files_and_leaves_no_partial() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("incidents.wasm"), b"\0asm").unwrap();
        std::fs::write(dir.path().join("contacts.wasm"), b"\0asm").unwrap();
        let path = write_plugin(dir.path(), "incidents.js", b"exports.mapRecord = () => 1;").unwrap();
        assert_eq!(path, dir.path().join("incidents.js"));
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["contacts.wasm", "incidents.js"]);
        assert_eq!(std::fs::read(&path).unwrap(), b"exports.mapRecord = () => 1;");
        let active = ActivePlugin {
            name: "incidents.js".into(),
            version: 1,
            sha256: plugin_runtime::version_of(b"exports.mapRecord = () => 1;"),
        };
        assert!(on_disk(dir.path(), &active));
        assert!(!on_disk(dir.path(), &ActivePlugin { sha256: "other".into(), ..active }));
    }
}
