//! `autotask-events plugin new NAME --lang rust|js|python|c`: writes a working
//! plugin project, the incidents mapping in that language, ready to build and
//! edit. The templates are the examples under `examples/plugins/` (and, for
//! Rust, the built-in plugin's own source), compiled into the binary, so what
//! a user scaffolds is exactly what CI builds and checks against the built-in
//! plugin. Every project gets the WIT package in `wit/`, so it builds anywhere.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

/// The languages with a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    Rust,
    #[value(alias = "javascript")]
    Js,
    Python,
    C,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The project's name (letters, digits, `-`, `_`); also the directory made, unless --dir.
    pub name: String,
    /// The language of the plugin.
    #[arg(long, value_enum)]
    pub lang: Lang,
    /// Where to write the project (default: ./NAME). Must not exist or be empty.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// The name every template's manifest carries, replaced by the project's.
const TEMPLATE_NAME: &str = "incidents-plugin";

/// The WIT package the component templates in other languages build against:
/// 0.1.0, which they need nothing newer than (and which keeps proving that
/// 0.1.0 components load).
const WIT: &str = include_str!("../../../../sdk/wit/plugin@0.1.0/plugin.wit");

/// The WIT package of the Rust SDK a Rust project carries.
const SDK_WIT: &str = include_str!("../../../../sdk/wit/plugin@0.2.0/plugin.wit");

/// `(path in the project, contents)` of each file of a language's template.
type Files = &'static [(&'static str, &'static str)];

const RUST: Files = &[
    ("Cargo.toml", include_str!("templates/rust/Cargo.toml")),
    ("build", include_str!("templates/rust/build")),
    ("README.md", include_str!("templates/rust/README.md")),
    (".gitignore", "target/\n*.wasm\n"),
    ("src/lib.rs", include_str!("../../../../plugins/incidents/src/lib.rs")),
    ("src/mapping.rs", include_str!("../../../../plugins/incidents/src/mapping.rs")),
    ("sdk/Cargo.toml", include_str!("templates/rust/sdk/Cargo.toml")),
    ("sdk/src/lib.rs", include_str!("../../../../sdk/src/lib.rs")),
    ("sdk/src/log.rs", include_str!("../../../../sdk/src/log.rs")),
    ("sdk/wit/plugin@0.2.0/plugin.wit", SDK_WIT),
];

const JAVASCRIPT: Files = &[
    ("package.json", include_str!("../../../../examples/plugins/javascript/package.json")),
    ("package-lock.json", include_str!("../../../../examples/plugins/javascript/package-lock.json")),
    ("build", include_str!("../../../../examples/plugins/javascript/build")),
    ("build.mjs", include_str!("../../../../examples/plugins/javascript/build.mjs")),
    ("src/plugin.js", include_str!("../../../../examples/plugins/javascript/src/plugin.js")),
    ("src/mapping.js", include_str!("../../../../examples/plugins/javascript/src/mapping.js")),
    ("src/raw-json.js", include_str!("../../../../examples/plugins/javascript/src/raw-json.js")),
    ("test/mapping.test.mjs", include_str!("../../../../examples/plugins/javascript/test/mapping.test.mjs")),
    ("test/raw-json.test.mjs", include_str!("../../../../examples/plugins/javascript/test/raw-json.test.mjs")),
    ("README.md", include_str!("../../../../examples/plugins/javascript/README.md")),
    (".gitignore", include_str!("../../../../examples/plugins/javascript/.gitignore")),
];
const PYTHON: Files = &[
    ("app.py", include_str!("../../../../examples/plugins/python/app.py")),
    ("mapping.py", include_str!("../../../../examples/plugins/python/mapping.py")),
    ("test_mapping.py", include_str!("../../../../examples/plugins/python/test_mapping.py")),
    ("requirements.txt", include_str!("../../../../examples/plugins/python/requirements.txt")),
    ("pyproject.toml", include_str!("../../../../examples/plugins/python/pyproject.toml")),
    ("build", include_str!("../../../../examples/plugins/python/build")),
    ("README.md", include_str!("../../../../examples/plugins/python/README.md")),
    (".gitignore", include_str!("../../../../examples/plugins/python/.gitignore")),
];
const C: Files = &[
    ("build", include_str!("../../../../examples/plugins/c/build")),
    ("README.md", include_str!("../../../../examples/plugins/c/README.md")),
    (".gitignore", include_str!("../../../../examples/plugins/c/.gitignore")),
    ("src/json.c", include_str!("../../../../examples/plugins/c/src/json.c")),
    ("src/json.h", include_str!("../../../../examples/plugins/c/src/json.h")),
    ("src/mapping.c", include_str!("../../../../examples/plugins/c/src/mapping.c")),
    ("src/mapping.h", include_str!("../../../../examples/plugins/c/src/mapping.h")),
    ("src/plugin.c", include_str!("../../../../examples/plugins/c/src/plugin.c")),
    ("tools/Cargo.toml", include_str!("../../../../examples/plugins/c/tools/Cargo.toml")),
    ("tools/Cargo.lock", include_str!("../../../../examples/plugins/c/tools/Cargo.lock")),
    ("tools/src/main.rs", include_str!("../../../../examples/plugins/c/tools/src/main.rs")),
];

fn files(lang: Lang) -> Files {
    match lang {
        Lang::Rust => RUST,
        Lang::Js => JAVASCRIPT,
        Lang::Python => PYTHON,
        Lang::C => C,
    }
}

pub(super) fn run(args: &NewArgs) -> ExitCode {
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(&args.name));
    match scaffold(&args.name, args.lang, &dir) {
        Ok(written) => {
            println!("wrote a {:?} plugin project in {} ({written} files)", args.lang, dir.display());
            println!("build it:  {}/build            (writes incidents.wasm)", dir.display());
            println!("try it:    autotask-events plugin check {}/incidents.wasm --records tickets.json", dir.display());
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Writes the project; returns how many files.
pub fn scaffold(name: &str, lang: Lang, dir: &Path) -> Result<usize, String> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(format!("`{name}` is not a project name: use letters, digits, `-` and `_`"));
    }
    if dir.read_dir().is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(format!("{} exists and is not empty; choose another --dir", dir.display()));
    }
    let mut written = 0;
    let wit = [("wit/plugin.wit", WIT)];
    let extra: &[(&str, &str)] = if lang == Lang::Rust { &[] } else { &wit };
    for (path, contents) in files(lang).iter().chain(extra) {
        let target = dir.join(path);
        let contents = contents.replace(TEMPLATE_NAME, name);
        let parent = target.parent().expect("a file in the project");
        std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        std::fs::write(&target, contents).map_err(|e| format!("cannot write {}: {e}", target.display()))?;
        if *path == "build" {
            make_executable(&target)?;
        }
        written += 1;
    }
    Ok(written)
}

fn make_executable(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("cannot make {} executable: {e}", path.display()))?;
    }
    Ok(())
}
