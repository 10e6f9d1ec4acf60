//! The C plugin's build helper: the two steps of `build` that need the component model.
//!
//! ```text
//! plugin-c-tools bindings WIT_DIR WORLD OUT_DIR   # = wit-bindgen c --world WORLD --out-dir OUT_DIR WIT_DIR
//! plugin-c-tools component CORE.wasm OUT.wasm     # = wasm-tools component new CORE.wasm --adapt wasi_snapshot_preview1=<reactor adapter> -o OUT.wasm
//! ```
//!
//! It links the same library crates those CLIs are made of, so the output is the same,
//! and carries the WASI preview1 reactor adapter of the host's wasmtime major version
//! inside it, so the build needs no adapter file.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use wit_bindgen_core::Files;
use wit_bindgen_core::wit_parser::Resolve;
use wit_component::ComponentEncoder;

const USAGE: &str =
    "usage: plugin-c-tools bindings WIT_DIR WORLD OUT_DIR\n       plugin-c-tools component CORE.wasm OUT.wasm";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let outcome = match args.as_slice() {
        ["bindings", wit, world, out] => bindings(Path::new(wit), world, Path::new(out)),
        ["component", core, out] => component(Path::new(core), Path::new(out)),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("plugin-c-tools: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Writes the C bindings of `world` (a `.h`, a `.c` and the `_component_type.o` that
/// carries the world's types into the core module) into `out`.
fn bindings(wit: &Path, world: &str, out: &Path) -> Result<()> {
    let mut resolve = Resolve::default();
    let (package, _) = resolve.push_path(wit).with_context(|| format!("reading the WIT in {}", wit.display()))?;
    let world = resolve.select_world(&[package], Some(world))?;
    let mut files = Files::default();
    wit_bindgen_c::Opts::default().build().generate(&mut resolve, world, &mut files)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for (name, contents) in files.iter() {
        let path = out.join(name);
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Wraps a `wasm32-wasi` (preview1) reactor module into a component; the adapter turns
/// its preview1 imports (malloc's memory, abort) into WASI preview2 ones.
fn component(core: &Path, out: &Path) -> Result<()> {
    let module = std::fs::read(core).with_context(|| format!("reading {}", core.display()))?;
    if !module.starts_with(b"\0asm") {
        bail!("{} is not a WebAssembly module", core.display());
    }
    let adapter = wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER;
    let component = ComponentEncoder::default()
        .module(&module)?
        .adapter("wasi_snapshot_preview1", adapter)?
        .validate(true)
        .encode()
        .with_context(|| format!("making a component of {}", core.display()))?;
    std::fs::write(out, component).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}
