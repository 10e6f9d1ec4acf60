//! The built-in incidents plugin, compiled by `build.rs` and shipped inside the binary.

/// `incidents.wasm`: the component built from `plugins/incidents`.
pub const INCIDENTS_WASM: &[u8] = include_bytes!(env!("INCIDENTS_PLUGIN_WASM"));

/// The file name the built-in plugin is written under.
pub const INCIDENTS_FILE_NAME: &str = "incidents.wasm";
