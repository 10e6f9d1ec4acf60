//! Plugins uploaded through the API: checked as a dropped file is, stored as a
//! version in the state database, made active, and written into the plugin
//! directory, where the watcher swaps it in. Plugins serve every instance, so
//! uploading and activating are for organization admins; any user may list
//! the versions.

use chrono::Utc;

use super::views::PluginVersionView;
use super::{Caller, ManageError, Management};
use crate::service::poll::blocking;
use crate::service::uploads::sync_uploaded_plugins;

/// The extensions an uploaded plugin's name may have: a component or a script.
const EXTENSIONS: [&str; 3] = ["wasm", "js", "py"];

/// How every WebAssembly binary, a component too, starts.
const WASM_MAGIC: &[u8] = b"\0asm";

/// The plugin file `name` names (`incidents.js`): a resource name (letters,
/// digits, `-` and `_`) and `.wasm`, `.js` or `.py`. A bare `incidents` is
/// `incidents.wasm` when `bytes` is WebAssembly (`None` when they are not
/// known: then it must be a component's name already uploaded).
pub(super) fn plugin_file_name(name: &str, bytes: Option<&[u8]>) -> Result<String, ManageError> {
    let (stem, extension) = match name.rsplit_once('.') {
        Some((stem, extension)) => (stem, Some(extension)),
        None => (name, None),
    };
    let fine = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if stem.is_empty() || !stem.chars().all(fine) {
        return Err(ManageError::field(
            "name",
            format!(
                "`{name}` is not a plugin name: a resource name of letters, digits, `-` and `_`, then `.wasm`, `.js` or `.py` (`incidents.js`)"
            ),
        ));
    }
    match extension {
        Some(extension) if EXTENSIONS.contains(&extension) => Ok(name.to_owned()),
        Some(extension) => Err(ManageError::field(
            "name",
            format!(
                "`{name}`: `.{extension}` is not a plugin's extension: `.wasm` (a component), `.js` or `.py` (a script)"
            ),
        )),
        None if bytes.is_none_or(|bytes| bytes.starts_with(WASM_MAGIC)) => Ok(format!("{name}.wasm")),
        None => Err(ManageError::field(
            "name",
            format!(
                "`{name}` has no extension and the body is not WebAssembly (it does not start with `\\0asm`): \
                 name a script `{name}.js` or `{name}.py`"
            ),
        )),
    }
}

/// Refuses callers who are not organization admins.
fn require_admin(caller: &Caller, what: &str) -> Result<(), ManageError> {
    if caller.admin {
        return Ok(());
    }
    tracing::warn!(user = %caller.user, "refused: {what} needs an organization admin");
    Err(ManageError::Forbidden(format!(
        "only an organization admin may {what}: plugins map the events of every instance (user `{}` is not one)",
        caller.user
    )))
}

impl Management {
    /// Checks `bytes` as the plugin file `name` (compiled and tried as a file
    /// dropped in the plugin directory is), stores it as a new version (or
    /// finds the version with the same bytes), makes it active and writes it
    /// into the plugin directory. Returns the version and whether it is new.
    /// A plugin that fails the check is refused and nothing changes.
    pub async fn upload_plugin(
        &self,
        caller: &Caller,
        name: &str,
        bytes: Vec<u8>,
    ) -> Result<(PluginVersionView, bool), ManageError> {
        require_admin(caller, "upload a plugin")?;
        let name = plugin_file_name(name, Some(&bytes))?;
        if bytes.is_empty() {
            return Err(ManageError::field("$", format!("the body is empty: send the bytes of {name}")));
        }
        let sha256 = plugin_runtime::version_of(&bytes);
        if let Err(error) = self.shared().plugins.check_upload(&name, bytes.clone()).await {
            tracing::warn!(user = %caller.user, plugin = %name, sha256 = %sha256, "refused an uploaded plugin: {error}");
            return Err(ManageError::field(
                "$",
                format!("plugin {name} was not stored, the version serving stays: {error}"),
            ));
        }
        let store = self.shared().store.clone();
        let (stored_name, user, sha) = (name.clone(), caller.user.clone(), sha256.clone());
        let (saved, created) =
            blocking(move || store.save_plugin_version(&stored_name, &bytes, &sha, &user, Utc::now())).await?;
        tracing::info!(
            user = %caller.user, plugin = %name, version = saved.version, sha256 = %saved.sha256, size = saved.size,
            "{} plugin {name} version {} (active)",
            if created { "uploaded" } else { "uploaded again, re-activating" },
            saved.version
        );
        self.write_active().await?;
        Ok((saved.into(), created))
    }

    /// Every version of plugin `name`, newest first.
    pub async fn plugin_versions(&self, name: &str) -> Result<Vec<PluginVersionView>, ManageError> {
        let name = plugin_file_name(name, None)?;
        let store = self.shared().store.clone();
        let versions = blocking(move || store.plugin_versions(&name)).await?;
        Ok(versions.into_iter().map(PluginVersionView::from).collect())
    }

    /// Makes version `version` (its decimal text) of plugin `name` the one its
    /// resource is mapped with, and writes it into the plugin directory: a
    /// rollback, or a roll forward.
    pub async fn activate_plugin_version(
        &self,
        caller: &Caller,
        name: &str,
        version: &str,
    ) -> Result<PluginVersionView, ManageError> {
        require_admin(caller, "activate a plugin version")?;
        let name = plugin_file_name(name, None)?;
        let number =
            version.parse::<i64>().ok().filter(|number| *number >= 1).ok_or_else(|| {
                ManageError::field("version", format!("`{version}` is not a version number (1, 2, 3…)"))
            })?;
        let store = self.shared().store.clone();
        let stored_name = name.clone();
        let activated = blocking(move || store.activate_plugin_version(&stored_name, number, Utc::now()))
            .await?
            .ok_or_else(|| ManageError::NotFound(format!("version {number} of plugin {name}")))?;
        tracing::info!(
            user = %caller.user, plugin = %name, version = number, sha256 = %activated.sha256,
            "activated plugin {name} version {number}"
        );
        self.write_active().await?;
        Ok(activated.into())
    }

    /// Writes the active versions into the plugin directory now, rather than at the next sync.
    async fn write_active(&self) -> Result<(), ManageError> {
        sync_uploaded_plugins(self.shared()).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused_field(result: Result<String, ManageError>) -> String {
        match result {
            Err(ManageError::Invalid(problems)) => problems[0].field.clone(),
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn plugin_names_are_a_resource_and_a_plugin_extension() {
        assert_eq!(plugin_file_name("incidents.js", Some(b"exports")).unwrap(), "incidents.js");
        assert_eq!(plugin_file_name("contact-notes_2.py", Some(b"def")).unwrap(), "contact-notes_2.py");
        assert_eq!(plugin_file_name("incidents", Some(b"\0asm\x0d\0\x01\0")).unwrap(), "incidents.wasm");
        assert_eq!(plugin_file_name("incidents", None).unwrap(), "incidents.wasm");
        for bad in ["../incidents.js", "a/b.js", "in cidents.js", ".js", "incidents.txt", "in.cidents.js", ""] {
            assert_eq!(refused_field(plugin_file_name(bad, Some(b"exports"))), "name", "{bad}");
        }
        let bare = plugin_file_name("incidents", Some(b"exports.mapRecord")).unwrap_err().to_string();
        assert!(bare.contains("`incidents.js`") && bare.contains("\\0asm"), "{bare}");
    }
}
