//! The built-in incidents plugin, compiled from `plugins/incidents` by this
//! crate's build script (a nested `cargo build` for `wasm32-wasip2`) and
//! shipped inside the binary. Only the binary and the tests depend on this
//! crate, so the engine and the web side build without a wasm target.

/// `incidents.wasm`: the component built from `plugins/incidents`.
pub const INCIDENTS_WASM: &[u8] = include_bytes!(env!("INCIDENTS_PLUGIN_WASM"));

/// The file name the built-in plugin is written under.
pub const INCIDENTS_FILE_NAME: &str = "incidents.wasm";
