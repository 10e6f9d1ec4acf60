//! `POST /plugins/{name}/try`: what a version of a plugin would make of some
//! records, beside another version, before it serves. Two stored versions, the
//! active version and the file serving, or bytes not stored yet against the
//! active version: each is compiled with the service's runtime (its compile
//! cache and limits) off the polling path, both run over the same records with
//! the same context, and the answer is the comparison `plugin diff` prints.
//! Nothing is stored and nothing is swapped, so any API user may try.

use std::sync::Arc;

use base64::Engine as _;
use chrono::Utc;
use plugin_runtime::Plugin;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::plugins::plugin_file_name;
use super::{Caller, ManageError, Management};
use crate::service::poll::blocking;
use crate::store::plugin_resource;
use crate::tryout::{self, Diff, MappingSetup};

/// The most records one call may try: enough to see a mapping's cases, few
/// enough that a call costs about one poll's batch.
pub const MAX_TRY_RECORDS: usize = 500;

/// What a call compares.
#[derive(Debug, PartialEq)]
enum Compare {
    /// Two stored versions: old, new.
    Versions(i64, i64),
    /// Bytes not stored yet (as the file `name`, sent in `field`) against the active version.
    Upload { name: String, bytes: Vec<u8>, field: &'static str },
    /// The active stored version against the file serving the resource.
    ActiveAndServing,
}

#[derive(Debug)]
struct TryRequest {
    records: Vec<Box<RawValue>>,
    compare: Compare,
}

/// One side of a comparison.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrySide {
    /// The plugin file: `incidents.js`.
    pub name: String,
    /// The stored version, when it is one.
    pub version: Option<i64>,
    /// `version` (stored), `serving` (the plugin directory's file) or `upload` (this call's bytes).
    #[schema(value_type = String)]
    pub source: &'static str,
    /// The plugin's version, as `GET /plugins` shows it.
    pub sha256: String,
}

/// The answer: the two sides, the comparison, and each side's outcome per record.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginTryView {
    pub old: TrySide,
    pub new: TrySide,
    #[serde(flatten)]
    pub diff: Diff,
    /// Per record: `{"index", "objectId", "old": {"events": […]} | {"error": "…"}, "new": …}`.
    pub results: Vec<Value>,
}

struct Loaded {
    side: TrySide,
    plugin: Arc<Plugin>,
}

impl Management {
    /// Runs two versions of plugin `name` over the records of `body` and
    /// compares them (see the module's doc). Bad input is refused naming its
    /// field; an unknown plugin or version is `NotFound`.
    pub async fn try_plugin(&self, caller: &Caller, name: &str, body: &Value) -> Result<PluginTryView, ManageError> {
        let name = plugin_file_name(name, None)?;
        let request = parse(&name, body)?;
        self.compare(caller, &name, request).await
    }

    /// [`Management::try_plugin`] with bytes not stored yet, as the plugin file
    /// `file`, against the active version: a body's `upload` as it was sent,
    /// without the base64 a JSON body needs. Its problems name `upload.name`
    /// and `upload.content`.
    pub async fn try_plugin_bytes(
        &self,
        caller: &Caller,
        name: &str,
        records: &Value,
        file: &str,
        bytes: Vec<u8>,
    ) -> Result<PluginTryView, ManageError> {
        let name = plugin_file_name(name, None)?;
        let records = self::records(Some(records))?;
        let compare = upload_bytes(&name, file, bytes, "upload.content")?;
        self.compare(caller, &name, TryRequest { records, compare }).await
    }

    async fn compare(&self, caller: &Caller, name: &str, request: TryRequest) -> Result<PluginTryView, ManageError> {
        let name = name.to_owned();
        let (old, new) = match request.compare {
            Compare::Versions(old, new) => (self.stored(&name, old).await?, self.stored(&name, new).await?),
            Compare::Upload { name: file, bytes, field } => {
                let old = match self.active(&name).await? {
                    Some(version) => self.stored(&name, version).await?,
                    None => self.serving(&name)?,
                };
                (old, self.uploaded(&file, bytes, field).await?)
            }
            Compare::ActiveAndServing => {
                let active = self.active(&name).await?.ok_or_else(|| {
                    ManageError::NotFound(format!("active version of plugin {name}: give `versions` or `upload`"))
                })?;
                (self.stored(&name, active).await?, self.serving(&name)?)
            }
        };

        let description = old.plugin.description().or(new.plugin.description());
        let mut setup = MappingSetup::described(description, Utc::now());
        plugin_resource(&name).clone_into(&mut setup.resource);
        let ctx = setup.context("plugin try");
        let run = |plugin: Arc<Plugin>| {
            let (setup, ctx, records) = (&setup, &ctx, &request.records);
            async move {
                tryout::run_plugin(&plugin, setup, ctx, records)
                    .await
                    .map_err(|bad| ManageError::internal(format!("a default date format: {}", bad.message)))
            }
        };
        let old_runs = run(old.plugin.clone()).await?;
        let new_runs = run(new.plugin.clone()).await?;
        let diff = tryout::diff(&old_runs, &new_runs);
        let (tried, against) = (describe(&new.side), describe(&old.side));
        let (changed, failed) = (diff.changed.len(), diff.failed.len());
        tracing::info!(
            user = %caller.user, plugin = %name,
            "tried plugin {name}: {tried} against {against}, {} records, {} identical, {changed} changed, {failed} failed",
            diff.records, diff.identical
        );
        Ok(PluginTryView { results: tryout::side_by_side(&old_runs, &new_runs), old: old.side, new: new.side, diff })
    }

    /// The active stored version of `name`, if one is.
    async fn active(&self, name: &str) -> Result<Option<i64>, ManageError> {
        let store = self.shared().store.clone();
        let owned = name.to_owned();
        let versions = blocking(move || store.plugin_versions(&owned)).await?;
        Ok(versions.into_iter().find(|version| version.active).map(|version| version.version))
    }

    /// Stored version `version` of `name`, compiled.
    async fn stored(&self, name: &str, version: i64) -> Result<Loaded, ManageError> {
        let store = self.shared().store.clone();
        let owned = name.to_owned();
        let bytes = blocking(move || store.plugin_bytes(&owned, version))
            .await?
            .ok_or_else(|| ManageError::NotFound(format!("version {version} of plugin {name}")))?;
        let plugin = self.shared().plugins.load_to_try(name, bytes).await.map_err(|error| {
            ManageError::field("versions", format!("version {version} of plugin {name} does not load: {error}"))
        })?;
        let side = TrySide { name: name.to_owned(), version: Some(version), source: "version", sha256: sha(&plugin) };
        Ok(Loaded { side, plugin })
    }

    /// The plugin serving `name`'s resource from the plugin directory.
    fn serving(&self, name: &str) -> Result<Loaded, ManageError> {
        let resource = plugin_resource(name);
        let (file, plugin) =
            self.shared().plugins.serving(resource).ok_or_else(|| {
                ManageError::NotFound(format!("plugin serving resource `{resource}` (no file loaded)"))
            })?;
        Ok(Loaded { side: TrySide { name: file, version: None, source: "serving", sha256: sha(&plugin) }, plugin })
    }

    /// This call's bytes, compiled as the file `name`; `field` is where they came in.
    async fn uploaded(&self, name: &str, bytes: Vec<u8>, field: &'static str) -> Result<Loaded, ManageError> {
        let plugin = self
            .shared()
            .plugins
            .load_to_try(name, bytes)
            .await
            .map_err(|error| ManageError::field(field, format!("{name} does not load: {error}")))?;
        Ok(Loaded {
            side: TrySide { name: name.to_owned(), version: None, source: "upload", sha256: sha(&plugin) },
            plugin,
        })
    }
}

fn sha(plugin: &Plugin) -> String {
    plugin.version().to_owned()
}

/// `incidents.js version 2`, `incidents.js (serving)`, for the log.
fn describe(side: &TrySide) -> String {
    match side.version {
        Some(version) => format!("{} version {version}", side.name),
        None => format!("{} ({})", side.name, side.source),
    }
}

/// Reads a try body, naming the first field that is wrong.
fn parse(name: &str, body: &Value) -> Result<TryRequest, ManageError> {
    let body = body.as_object().ok_or_else(|| {
        ManageError::field("$", "the body is not a JSON object: send {\"records\": [...], \"versions\": [1, 2]}")
    })?;
    if let Some(unknown) = body.keys().find(|key| !["records", "versions", "upload"].contains(&key.as_str())) {
        return Err(ManageError::field(
            unknown.clone(),
            format!("`{unknown}` is not a field of a try: `records`, and `versions` or `upload`"),
        ));
    }
    let records = records(body.get("records"))?;
    let compare = match (body.get("versions"), body.get("upload")) {
        (Some(_), Some(_)) => {
            return Err(ManageError::field("upload", "give `versions` or `upload`, not both"));
        }
        (Some(versions), None) => versions_field(versions)?,
        (None, Some(upload)) => upload_field(name, upload)?,
        (None, None) => Compare::ActiveAndServing,
    };
    Ok(TryRequest { records, compare })
}

fn records(value: Option<&Value>) -> Result<Vec<Box<RawValue>>, ManageError> {
    let records = value.and_then(Value::as_array).ok_or_else(|| {
        ManageError::field("records", "`records` must be a JSON array of raw Autotask records (objects)")
    })?;
    if records.is_empty() || records.len() > MAX_TRY_RECORDS {
        return Err(ManageError::field(
            "records",
            format!("`records` holds {} records: give 1 to {MAX_TRY_RECORDS}", records.len()),
        ));
    }
    records
        .iter()
        .enumerate()
        .map(|(index, record)| {
            if !record.is_object() {
                return Err(ManageError::field(format!("records[{index}]"), "a record is a JSON object"));
            }
            Ok(serde_json::value::to_raw_value(record).expect("a Value always serializes"))
        })
        .collect()
}

fn versions_field(value: &Value) -> Result<Compare, ManageError> {
    let numbers: Option<Vec<i64>> = value
        .as_array()
        .filter(|versions| versions.len() == 2)
        .and_then(|versions| versions.iter().map(|v| v.as_i64().filter(|n| *n >= 1)).collect());
    match numbers.as_deref() {
        Some(&[old, new]) => Ok(Compare::Versions(old, new)),
        _ => Err(ManageError::field(
            "versions",
            format!("`versions` must be two stored version numbers, old then new (`[1, 2]`), not {value}"),
        )),
    }
}

fn upload_field(name: &str, value: &Value) -> Result<Compare, ManageError> {
    let upload: &Map<String, Value> = value.as_object().ok_or_else(|| {
        ManageError::field(
            "upload",
            "`upload` must be {\"name\": \"incidents.js\", \"content\": \"…\"} (or \"contentBase64\")",
        )
    })?;
    let file = upload.get("name").and_then(Value::as_str).ok_or_else(|| {
        ManageError::field("upload.name", "`upload.name` must be the plugin's file name (`incidents.js`)")
    })?;
    let (bytes, field) = match (upload.get("content"), upload.get("contentBase64")) {
        (Some(Value::String(text)), None) => (text.as_bytes().to_vec(), "upload.content"),
        (None, Some(Value::String(encoded))) => (
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|error| ManageError::field("upload.contentBase64", format!("not base64: {error}")))?,
            "upload.contentBase64",
        ),
        _ => {
            return Err(ManageError::field(
                "upload.content",
                "give the plugin as text in `upload.content` (a script) \
                 or as base64 in `upload.contentBase64` (a .wasm)",
            ));
        }
    };
    upload_bytes(name, file, bytes, field)
}

/// Bytes sent in `field` as the plugin file `file`, to try as plugin `name`.
fn upload_bytes(name: &str, file: &str, bytes: Vec<u8>, field: &'static str) -> Result<Compare, ManageError> {
    if bytes.is_empty() {
        return Err(ManageError::field(field, format!("the content of {file} is empty")));
    }
    let file =
        plugin_file_name(file, Some(&bytes)).map_err(|error| ManageError::field("upload.name", error.to_string()))?;
    if plugin_resource(&file) != plugin_resource(name) {
        return Err(ManageError::field(
            "upload.name",
            format!("`{file}` is not a plugin of resource `{}` (the plugin tried is {name})", plugin_resource(name)),
        ));
    }
    Ok(Compare::Upload { name: file, bytes, field })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn refused(body: Value) -> String {
        match parse("incidents.js", &body) {
            Err(ManageError::Invalid(problems)) => problems[0].field.clone(),
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn a_try_body_names_what_it_compares() {
        let records = json!([{"id": 1}]);
        let parsed = parse("incidents.js", &json!({"records": records, "versions": [1, 2]})).unwrap();
        assert_eq!((parsed.records.len(), parsed.compare), (1, Compare::Versions(1, 2)));
        let parsed = parse("incidents.js", &json!({"records": records})).unwrap();
        assert_eq!(parsed.compare, Compare::ActiveAndServing);
        let upload = json!({"records": records, "upload": {"name": "incidents.js", "content": "exports.x = 1"}});
        let parsed = parse("incidents.js", &upload).unwrap();
        assert_eq!(
            parsed.compare,
            Compare::Upload { name: "incidents.js".into(), bytes: b"exports.x = 1".to_vec(), field: "upload.content" }
        );
        let wasm = json!({"records": records, "upload": {"name": "incidents", "contentBase64": "AGFzbQ=="}});
        let parsed = parse("incidents.js", &wasm).unwrap();
        assert_eq!(
            parsed.compare,
            Compare::Upload { name: "incidents.wasm".into(), bytes: b"\0asm".to_vec(), field: "upload.contentBase64" }
        );
    }

    #[test]
    fn a_bad_try_body_is_refused_naming_the_field() {
        let records = json!([{"id": 1}]);
        assert_eq!(refused(json!([])), "$");
        assert_eq!(refused(json!({"versions": [1, 2]})), "records");
        assert_eq!(refused(json!({"records": {"id": 1}})), "records");
        assert_eq!(refused(json!({"records": []})), "records");
        assert_eq!(refused(json!({"records": [{"id": 1}, 7]})), "records[1]");
        for versions in [json!([1]), json!([1, 2, 3]), json!("1,2"), json!([0, 1]), json!([1, "2"])] {
            assert_eq!(refused(json!({"records": records, "versions": versions})), "versions", "{versions}");
        }
        assert_eq!(refused(json!({"records": records, "version": [1, 2]})), "version");
        assert_eq!(refused(json!({"records": records, "upload": "x"})), "upload");
        assert_eq!(refused(json!({"records": records, "upload": {"content": "x"}})), "upload.name");
        assert_eq!(refused(json!({"records": records, "upload": {"name": "../x.js", "content": "x"}})), "upload.name");
        assert_eq!(
            refused(json!({"records": records, "upload": {"name": "contacts.js", "content": "x"}})),
            "upload.name"
        );
        assert_eq!(refused(json!({"records": records, "upload": {"name": "incidents.js"}})), "upload.content");
        let both = json!({"records": records, "versions": [1, 2], "upload": {"name": "incidents.js", "content": "x"}});
        assert_eq!(refused(both), "upload");
        let bad = json!({"records": records, "upload": {"name": "incidents.wasm", "contentBase64": "%%"}});
        assert_eq!(refused(bad), "upload.contentBase64");
    }
}
