//! The released versions of the plugin interface (`autotask-events:plugin@x.y.z`,
//! one WIT folder each under `sdk/wit/`), and which one a component implements.
//!
//! A released version is never edited: a breaking change adds a version beside
//! it. Each version is one module here, with its generated bindings and their
//! conversions into the host's own types ([`crate::types`]); the rest of the
//! host never sees a generated type. A component's version is read from the
//! name of its `mapper` export, so plugins built against any listed version
//! keep loading. Adding a version is a new module and a line in [`VERSIONS`].

mod v0_1_0;
mod v0_2_0;

use wasmtime::Store;
use wasmtime::component::{Component, Instance, InstancePre, Linker};

use crate::host_state::HostState;
use crate::types::{Context, Description, RawRecord, RecordResult};

/// Every interface version this host loads, oldest first.
const VERSIONS: &[Version] = &[v0_1_0::VERSION, v0_2_0::VERSION];

/// One released interface version.
pub(crate) struct Version {
    /// `0.2.0`.
    pub(crate) number: &'static str,
    /// The export that makes a component a plugin of this version.
    pub(crate) mapper_export: &'static str,
    /// Adds what plugins of this version import (their `log`).
    add_to_linker: fn(&mut Linker<HostState>) -> wasmtime::Result<()>,
    /// Finds the version's exports in a pre-instantiated component.
    bind: fn(&InstancePre<HostState>) -> wasmtime::Result<Box<dyn Interface>>,
}

/// A component's exports, called through the host's types whatever version it implements.
pub(crate) trait Interface: Send + Sync {
    /// The interface version, `0.1.0` or `0.2.0`.
    fn version(&self) -> &'static str;

    /// Proves the exports of a fresh instance have this version's types.
    fn check(&self, store: &mut Store<HostState>, instance: &Instance) -> wasmtime::Result<()>;

    /// Whether the component is a script runner (exports `script`, 0.2.0 on).
    fn runs_scripts(&self) -> bool {
        false
    }

    /// Hands a script runner's fresh instance its script; `None` when the
    /// component is no runner. The inner error is the script's own.
    fn load_script(
        &self,
        _store: &mut Store<HostState>,
        _instance: &Instance,
        _file_name: &str,
        _source: &str,
    ) -> Option<wasmtime::Result<Result<(), String>>> {
        None
    }

    /// What the plugin says about itself; `None` when it does not export `describe`.
    fn describe(&self, store: &mut Store<HostState>, instance: &Instance) -> Option<wasmtime::Result<Description>>;

    /// Maps a batch: one result per record, in order.
    fn transform(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
        ctx: &Context,
        records: &[RawRecord],
    ) -> wasmtime::Result<Vec<RecordResult>>;
}

/// Links what plugins of every version may import.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    VERSIONS.iter().try_for_each(|version| (version.add_to_linker)(linker))
}

/// The version `component` implements, by the name of its `mapper` export.
pub(crate) fn version_of(component: &Component, engine: &wasmtime::Engine) -> Result<&'static Version, String> {
    let exports: Vec<String> = component.component_type().exports(engine).map(|(name, _)| name.to_owned()).collect();
    find_version(exports.iter().map(String::as_str))
}

/// The version whose `mapper` export is among `exports`; or what is wrong.
fn find_version<'a>(mut exports: impl Iterator<Item = &'a str>) -> Result<&'static Version, String> {
    const MAPPER: &str = "autotask-events:plugin/mapper@";
    let mut unknown = None;
    for name in exports.by_ref() {
        if let Some(version) = VERSIONS.iter().find(|version| version.mapper_export == name) {
            return Ok(version);
        }
        if let Some(number) = name.strip_prefix(MAPPER) {
            unknown = Some(number.to_owned());
        }
    }
    let known: Vec<String> = VERSIONS.iter().map(|version| format!("`{}`", version.mapper_export)).collect();
    Err(match unknown {
        Some(number) => format!(
            "it implements autotask-events:plugin@{number}, which this host does not know (it loads {})",
            VERSIONS.iter().map(|version| version.number).collect::<Vec<_>>().join(", ")
        ),
        None => format!("it does not export {} with a `transform` function", known.join(" or ")),
    })
}

/// `version`'s exports in `pre`.
pub(crate) fn bind(version: &Version, pre: &InstancePre<HostState>) -> wasmtime::Result<Box<dyn Interface>> {
    (version.bind)(pre)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_component_s_version_is_read_from_its_mapper_export() {
        let exports =
            ["wasi:cli/run@0.2.0", "autotask-events:plugin/describe@0.1.0", "autotask-events:plugin/mapper@0.1.0"];
        assert_eq!(find_version(exports.into_iter()).map(|v| v.number), Ok("0.1.0"));
        let newer = ["autotask-events:plugin/script@0.2.0", "autotask-events:plugin/mapper@0.2.0"];
        assert_eq!(find_version(newer.into_iter()).map(|v| v.number), Ok("0.2.0"));
    }

    #[test]
    fn an_unknown_or_missing_version_is_named() {
        let newer = find_version(["autotask-events:plugin/mapper@9.0.0"].into_iter()).err().unwrap();
        assert_eq!(
            newer,
            "it implements autotask-events:plugin@9.0.0, which this host does not know (it loads 0.1.0, 0.2.0)"
        );
        let none = find_version(["wasi:cli/run@0.2.0"].into_iter()).err().unwrap();
        assert_eq!(
            none,
            "it does not export `autotask-events:plugin/mapper@0.1.0` or `autotask-events:plugin/mapper@0.2.0` with a `transform` function"
        );
    }
}
