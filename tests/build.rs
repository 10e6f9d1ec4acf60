//! Builds the test plugins that the end-to-end tests load as real components.

use std::path::Path;

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let workspace_root = Path::new(&manifest_dir).parent().expect("tests/ sits in the workspace root");
    guest_build::rerun_if_changed(&Path::new(&manifest_dir).join("plugins/misbehaving"));
    let component = guest_build::build_component(workspace_root, "misbehaving-plugin");
    println!("cargo:rustc-env=MISBEHAVING_PLUGIN_WASM={}", component.display());
}
