//! Compiles plugin crates of this workspace to WebAssembly components from a
//! build script, the way wasmtime builds its test programs: a nested `cargo`
//! with its own target directory (so it never waits on the outer build's lock).
//!
//! That directory is `<target>/wasm-plugins`, one for every build script and
//! profile: `cargo clippy` and `cargo test` run the host's and the tests' build
//! scripts separately, and with a directory per script the guest dependencies
//! were compiled four times over in a clean CI run.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The target every plugin is built for.
pub const TARGET: &str = "wasm32-wasip2";

/// Builds `package` (a member of the workspace at `workspace_root`) for
/// `wasm32-wasip2` with the `plugin` profile and returns the component's path.
///
/// Panics with the build's own output on failure: build scripts have no better
/// way to report.
pub fn build_component(workspace_root: &Path, package: &str) -> PathBuf {
    ensure_target_installed();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR is set for build scripts"));
    let target_dir = shared_target_dir(&out_dir);
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());

    let mut command = Command::new(cargo);
    command
        .current_dir(workspace_root)
        .args(["build", "--quiet", "--package", package, "--target", TARGET])
        .args(["--profile", "plugin", "--target-dir"])
        .arg(&target_dir);
    // The outer build's flags and wrappers (clippy, coverage, host RUSTFLAGS) are
    // for the host target; they must not leak into the guest's build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        command.env_remove(var);
    }
    let status = command.status().unwrap_or_else(|e| panic!("could not run cargo to build the {package} plugin: {e}"));
    assert!(status.success(), "building the {package} plugin for {TARGET} failed");

    let file = format!("{}.wasm", package.replace('-', "_"));
    let artifact = target_dir.join(TARGET).join("plugin").join(file);
    assert!(artifact.exists(), "cargo built {package} but {} is missing", artifact.display());

    for watched in [workspace_root.join("sdk"), workspace_root.join("Cargo.lock"), workspace_root.join("Cargo.toml")] {
        println!("cargo:rerun-if-changed={}", watched.display());
    }
    artifact
}

/// `<target>/wasm-plugins`, from a build script's `OUT_DIR`
/// (`<target>/<profile>/build/<unit>/out`); `OUT_DIR/wasm-target` if it has another shape.
fn shared_target_dir(out_dir: &Path) -> PathBuf {
    let build = out_dir.ancestors().nth(2);
    match (build, out_dir.ancestors().nth(4)) {
        (Some(build), Some(target)) if build.file_name().is_some_and(|name| name == "build") => {
            target.join("wasm-plugins")
        }
        _ => out_dir.join("wasm-target"),
    }
}

/// Marks a crate directory so the build script reruns when its sources change.
pub fn rerun_if_changed(dir: &Path) {
    println!("cargo:rerun-if-changed={}", dir.display());
}

/// `rust-toolchain.toml` lists the target, but rustup adds listed targets only
/// on `rustup toolchain install`; a plain `cargo build` on a fresh machine would
/// then fail deep inside std. Add it here so `cargo build` works on a fresh clone.
fn ensure_target_installed() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed = sysroot.is_some_and(|root| root.join("lib/rustlib").join(TARGET).exists());
    if installed {
        return;
    }
    let toolchain = env::var("RUSTUP_TOOLCHAIN").ok();
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", TARGET]);
    if let Some(toolchain) = &toolchain {
        rustup.args(["--toolchain", toolchain]);
    }
    let ok = rustup.status().is_ok_and(|s| s.success());
    assert!(ok, "the {TARGET} target is missing and `rustup target add {TARGET}` failed; install it and build again");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_build_script_shares_one_directory_under_the_target() {
        let out = Path::new("/w/target/debug/build/autotask-events-0123/out");
        assert_eq!(shared_target_dir(out), Path::new("/w/target/wasm-plugins"));
        let release = Path::new("/w/target/release/build/autotask-events-tests-4567/out");
        assert_eq!(shared_target_dir(release), Path::new("/w/target/wasm-plugins"));
        assert_eq!(shared_target_dir(Path::new("/tmp/out")), Path::new("/tmp/out/wasm-target"));
    }
}
