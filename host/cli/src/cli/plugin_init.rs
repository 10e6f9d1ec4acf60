//! `autotask-events plugin init DIR`: writes the built-in plugin where the service looks for plugins.

use std::process::ExitCode;

use super::InitArgs;
use builtin_plugin::{INCIDENTS_FILE_NAME, INCIDENTS_WASM};

pub(super) fn run(args: &InitArgs) -> ExitCode {
    let target = args.dir.join(INCIDENTS_FILE_NAME);
    if target.exists() && !args.force {
        eprintln!("error: {} already exists; pass --force to replace it", target.display());
        return ExitCode::FAILURE;
    }
    let written = std::fs::create_dir_all(&args.dir).and_then(|()| std::fs::write(&target, INCIDENTS_WASM));
    match written {
        Ok(()) => {
            println!("{}", target.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", target.display());
            ExitCode::FAILURE
        }
    }
}
