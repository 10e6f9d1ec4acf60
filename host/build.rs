//! Compiles the built-in incidents plugin to a component so the binary can embed it.

use std::path::Path;

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let workspace_root = Path::new(&manifest_dir).parent().expect("host/ sits in the workspace root");
    guest_build::rerun_if_changed(&workspace_root.join("plugins/incidents"));
    let component = guest_build::build_component(workspace_root, "incidents-plugin");
    println!("cargo:rustc-env=INCIDENTS_PLUGIN_WASM={}", component.display());
}
