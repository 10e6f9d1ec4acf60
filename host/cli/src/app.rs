//! The running service, assembled: the built-in plugin written into the plugin
//! directory, the engine started, and the management listener (API, console,
//! probes) serving the engine's typed service layer, over TLS when configured.
//! This is the only place the engine and the web side meet.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use builtin_plugin::{INCIDENTS_FILE_NAME, INCIDENTS_WASM};
use engine::config::ServiceConfig;
use engine::manage::Management;
use engine::service::metrics::Metrics;
use engine::service::plugins::{PluginStatus, Reload};
use engine::service::{Changes, Service};
use engine::store::Store;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Why the service could not start, or a new configuration was not applied.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Engine(#[from] engine::service::StartError),
    #[error("plugin directory {path}: {source}")]
    PluginDir { path: std::path::PathBuf, source: std::io::Error },
    #[error("management listener {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("{0}")]
    Tls(String),
}

/// A started service; [`RunningService::stop`] ends it cleanly.
pub struct RunningService {
    addr: SocketAddr,
    tls: bool,
    service: Service,
    listener: JoinHandle<()>,
    stop_listening: CancellationToken,
}

impl RunningService {
    /// Where the management listener is (useful when configured with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The listener's base URL: `https://` when it serves TLS.
    pub fn url(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.addr)
    }

    /// The typed service layer the API and the console call.
    pub fn management(&self) -> Management {
        self.service.management()
    }

    pub fn store(&self) -> &Arc<Store> {
        self.service.store()
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        self.service.metrics()
    }

    /// Every plugin file the service knows, as `GET /plugins` lists them.
    pub fn plugins(&self) -> Vec<PluginStatus> {
        self.service.plugins()
    }

    /// Every plugin file with a version serving, with that version (its
    /// description says which resource and entity it maps).
    pub fn loaded_plugins(&self) -> Vec<(std::path::PathBuf, Arc<plugin_runtime::Plugin>)> {
        self.service.loaded_plugins()
    }

    /// The latest plugin loads, rejections and removals, newest first.
    pub fn plugin_reloads(&self) -> Vec<Reload> {
        self.service.plugin_reloads()
    }

    /// Applies a new set of instances, as a changed configuration file does.
    pub async fn apply(&self, config: ServiceConfig) -> Result<Changes, StartError> {
        Ok(self.service.apply(config).await?)
    }

    /// Stops listening, then stops the engine: polls end, deliveries on the
    /// wire get a few seconds, and what was not delivered stays in the outbox.
    pub async fn stop(self) {
        self.stop_listening.cancel();
        let _ = self.listener.await;
        self.service.stop().await;
    }
}

/// Starts everything `config` describes. When `config.files` names the file it
/// came from, changes to it are applied while the service runs.
pub async fn start(config: ServiceConfig) -> Result<RunningService, StartError> {
    let plugin_dir = config.server.plugin_dir.clone();
    if install_builtin(&plugin_dir).map_err(|source| StartError::PluginDir { path: plugin_dir.clone(), source })? {
        tracing::info!("wrote the built-in incidents plugin to {}", plugin_dir.display());
    }
    let tls = match &config.server.tls {
        Some(files) => Some(web::tls::server_config(&files.certificate, &files.key).map_err(StartError::Tls)?),
        None => None,
    };
    let listen = config.server.listen;
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|source| StartError::Listen { addr: listen, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen { addr: listen, source })?;

    let service = engine::service::start(config).await?;
    let settings = service.settings();
    let router = web::router(service.management(), settings);
    let stop_listening = CancellationToken::new();
    let serving = tls.is_some();
    let listener = tokio::spawn(web::serve(listener, router, tls, stop_listening.clone()));
    let scheme = if serving { "https" } else { "http" };
    let api = &settings.api;
    let api_state = if api.is_open() { "" } else { ", closed: no [api] secrets configured" };
    tracing::info!(
        "management listener on {scheme}://{addr} (/health, /metrics, /plugins; API at {}{api_state})",
        if api.prefix.is_empty() { "/" } else { &api.prefix }
    );
    Ok(RunningService { addr, tls: serving, service, listener, stop_listening })
}

/// Writes the built-in `incidents.wasm` into `plugin_dir` unless an incidents
/// plugin is already there, a component or a script (a user's own incidents
/// plugin is never replaced, nor given a rival). Returns whether it wrote one.
pub fn install_builtin(plugin_dir: &Path) -> std::io::Result<bool> {
    std::fs::create_dir_all(plugin_dir)?;
    let path = plugin_dir.join(INCIDENTS_FILE_NAME);
    if engine::service::plugins::existing_plugin_file(&path.with_extension("")).is_some() {
        return Ok(false);
    }
    // Written beside and renamed into place: a reader never sees half a file.
    let partial = plugin_dir.join(format!(".{INCIDENTS_FILE_NAME}.partial"));
    std::fs::write(&partial, INCIDENTS_WASM)?;
    std::fs::rename(&partial, &path)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_plugin_is_written_only_where_no_incidents_plugin_is() {
        let dir = tempfile::tempdir().unwrap();
        assert!(install_builtin(dir.path()).unwrap(), "an empty directory gets it");
        assert!(!install_builtin(dir.path()).unwrap(), "never written over");

        // A script plugin for incidents is the user's: no component beside it to rival it.
        let scripted = tempfile::tempdir().unwrap();
        std::fs::write(scripted.path().join("incidents.js"), "exports.mapRecord = () => null;\n").unwrap();
        assert!(!install_builtin(scripted.path()).unwrap());
        assert!(!scripted.path().join(INCIDENTS_FILE_NAME).exists());
    }
}
