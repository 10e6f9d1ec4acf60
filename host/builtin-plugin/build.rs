//! Compiles the built-in incidents plugin (`plugins/incidents`) to a component
//! so the binary can embed it. Reruns only when a file that build read changes.

use std::path::Path;

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let workspace_root = Path::new(&manifest_dir).ancestors().nth(2).expect("host/builtin-plugin sits two levels down");
    let component = guest_build::build_component(workspace_root, "incidents-plugin");
    println!("cargo:rustc-env=INCIDENTS_PLUGIN_WASM={}", component.display());
}
