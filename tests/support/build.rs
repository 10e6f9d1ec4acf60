//! Builds the test plugins that the end-to-end tests load as real components.

use std::path::Path;

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let workspace_root = Path::new(&manifest_dir).ancestors().nth(2).expect("tests/support sits two levels down");
    let component = guest_build::build_component(workspace_root, "misbehaving-plugin");
    println!("cargo:rustc-env=MISBEHAVING_PLUGIN_WASM={}", component.display());
    let component = guest_build::build_component(workspace_root, "interface-0-1-0-plugin");
    println!("cargo:rustc-env=INTERFACE_0_1_0_PLUGIN_WASM={}", component.display());
}
