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
/// The calling build script reruns when a file the guest build read changes
/// (from its dependency file), or the lock file, the toolchain or the
/// workspace's profiles do.
///
/// Panics with the build's own output on failure: build scripts have no better
/// way to report.
pub fn build_component(workspace_root: &Path, package: &str) -> PathBuf {
    require_target_installed();
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

    let stem = package.replace('-', "_");
    let artifacts = target_dir.join(TARGET).join("plugin");
    let artifact = artifacts.join(format!("{stem}.wasm"));
    assert!(artifact.exists(), "cargo built {package} but {} is missing", artifact.display());

    let dep_info = artifacts.join(format!("{stem}.d"));
    let sources = std::fs::read_to_string(&dep_info).unwrap_or_else(|e| {
        panic!("cargo built {package} but its dependency file {} is unreadable: {e}", dep_info.display())
    });
    for source in dependencies(&sources).iter().filter(|source| source.starts_with(workspace_root)) {
        println!("cargo:rerun-if-changed={}", source.display());
    }
    for file in ["Cargo.lock", "Cargo.toml", "rust-toolchain.toml"] {
        println!("cargo:rerun-if-changed={}", workspace_root.join(file).display());
    }
    artifact
}

/// The files a Makefile-style dependency file (`target: a b\ c`) names.
fn dependencies(dep_info: &str) -> Vec<PathBuf> {
    let Some((_, sources)) = dep_info.lines().next().and_then(|line| line.split_once(": ")) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    let mut current = String::new();
    let mut chars = sources.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            ' ' => files.extend((!current.is_empty()).then(|| PathBuf::from(std::mem::take(&mut current)))),
            c => current.push(c),
        }
    }
    files.extend((!current.is_empty()).then(|| PathBuf::from(current)));
    files
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

/// Fails with what to do when the toolchain has no `wasm32-wasip2` standard
/// library. `rust-toolchain.toml` lists the target, and `rustup toolchain
/// install` (or any rustup that installs the pinned toolchain) adds it; a
/// build script does not install things.
fn require_target_installed() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed = sysroot.is_some_and(|root| root.join("lib/rustlib").join(TARGET).exists());
    assert!(
        installed,
        "the {TARGET} target is not installed for this toolchain; the built-in plugin is compiled to it. \
         Run `rustup target add {TARGET}` (or `rustup toolchain install`, which adds the targets rust-toolchain.toml lists), \
         then build again"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_files_a_dependency_file_names() {
        let dep_info = "/w/target/x.wasm: /w/plugins/a/src/lib.rs /w/sdk/wit/plugin@0.1.0/plugin.wit /w/odd\\ name.rs\n\n/w/plugins/a/src/lib.rs:\n";
        assert_eq!(
            dependencies(dep_info),
            [
                PathBuf::from("/w/plugins/a/src/lib.rs"),
                PathBuf::from("/w/sdk/wit/plugin@0.1.0/plugin.wit"),
                PathBuf::from("/w/odd name.rs")
            ]
        );
        assert!(dependencies("").is_empty());
    }

    #[test]
    fn every_build_script_shares_one_directory_under_the_target() {
        let out = Path::new("/w/target/debug/build/autotask-events-0123/out");
        assert_eq!(shared_target_dir(out), Path::new("/w/target/wasm-plugins"));
        let release = Path::new("/w/target/release/build/autotask-events-tests-4567/out");
        assert_eq!(shared_target_dir(release), Path::new("/w/target/wasm-plugins"));
        assert_eq!(shared_target_dir(Path::new("/tmp/out")), Path::new("/tmp/out/wasm-target"));
    }
}
