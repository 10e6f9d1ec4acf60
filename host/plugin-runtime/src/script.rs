//! Script plugins: a `.js` or `.py` file mapped by the runner component of its
//! language. A runner is a component built once by the project (from
//! `host/script-runners/`) and shipped inside the binary; it is compiled once
//! per installation (then loaded from the artifact cache in milliseconds) and
//! each batch instantiates it and hands it the script through `load`. So a
//! changed script goes live without any compile at all.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use wasmtime::component::InstancePre;

use crate::host_state::HostState;
use crate::interface::Interface;

/// The languages a script plugin can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScriptLanguage {
    JavaScript,
    Python,
}

impl ScriptLanguage {
    /// Every script language, in the order the docs list them.
    pub const ALL: [ScriptLanguage; 2] = [ScriptLanguage::JavaScript, ScriptLanguage::Python];

    /// The language of a script file, by its extension (`.js`, `.py`).
    pub fn of_path(path: &Path) -> Option<Self> {
        let extension = path.extension()?.to_str()?;
        Self::ALL.into_iter().find(|language| language.extension() == extension)
    }

    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            ScriptLanguage::JavaScript => "js",
            ScriptLanguage::Python => "py",
        }
    }

    /// The language's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            ScriptLanguage::JavaScript => "JavaScript",
            ScriptLanguage::Python => "Python",
        }
    }

    /// The SHA-256 of [`runner`](Self::runner), computed once.
    pub fn runner_version(self) -> &'static str {
        static VERSIONS: [OnceLock<String>; 2] = [OnceLock::new(), OnceLock::new()];
        VERSIONS[self as usize].get_or_init(|| crate::version_of(self.runner()))
    }

    /// The runner component that maps with scripts of this language.
    pub fn runner(self) -> &'static [u8] {
        match self {
            ScriptLanguage::JavaScript => include_bytes!("../../script-runners/javascript.wasm"),
            ScriptLanguage::Python => include_bytes!("../../script-runners/python.wasm"),
        }
    }
}

/// A compiled runner, ready to be instantiated for any script of its language.
pub(crate) struct Runner {
    /// The SHA-256 of the runner component.
    pub(crate) version: String,
    pub(crate) pre: InstancePre<HostState>,
    pub(crate) exports: Arc<dyn Interface>,
}

/// The script a runner instance is given before every batch.
pub(crate) struct Script {
    pub(crate) file_name: Arc<str>,
    pub(crate) source: Arc<str>,
}
