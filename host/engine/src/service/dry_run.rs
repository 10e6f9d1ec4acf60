//! A dry run: what the next poll of a resource would deliver, found by the
//! poll itself ([`ResourcePoller::dry_run`]) with its commits kept instead of
//! written. The watermark, the outbox, the seen and failed records and the
//! push callouts stay as they are, so the next real poll reads the same window
//! and delivers what the dry run showed (plus whatever changed since).
//!
//! It runs inside the service (the management API, the console) on the
//! resource's own poller, or on its own from the configuration file and the
//! state database ([`dry_run_offline`], the `poll --dry-run` command), with
//! no service running. Neither needs a fleet lease: nothing is written.

use std::sync::Arc;

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use plugin_runtime::PluginRuntime;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::metrics::Metrics;
use super::plugins::{PluginRegistry, plugin_path, short_version};
use super::poll::{PollSummary, ResourcePoller, blocking};
use super::progress::ProgressCell;
use super::{InstanceHandle, Shared, absolute, compile_cache_dir, open_store, running_settings};
use crate::config::{ConfiguredInstance, ServiceConfig};
use crate::dates::format_instant;
use crate::source::AutotaskClient;
use crate::source::hub::AutotaskQuery;
use crate::source::zone::ZoneCache;
use crate::store::{FailedRecord, NewMessage, PollCommit};

/// What a dry run collects while the poll runs: what it read and what its
/// commits would have written.
#[derive(Default)]
pub(crate) struct DryRun {
    url: String,
    query: Option<QueryView>,
    pages: Vec<PageRead>,
    messages: Vec<NewMessage>,
    failed: Vec<FailedRecord>,
    watermark: Option<DateTime<Utc>>,
    deletions_watermark: Option<DateTime<Utc>>,
}

impl DryRun {
    /// Notes the rendered poll URL and the Autotask query it became.
    pub(crate) fn reading(self, url: &str, query: &AutotaskQuery) -> Self {
        let body = serde_json::to_value(&query.body).unwrap_or(Value::Null);
        DryRun { url: url.to_owned(), query: Some(QueryView { entity: query.entity.clone(), body }), ..self }
    }

    /// Notes a page of `records` read from `entity`.
    pub(crate) fn page_read(&mut self, entity: &str, records: usize) {
        self.pages.push(PageRead { entity: entity.to_owned(), records });
    }

    /// Keeps what a commit would have written.
    pub(crate) fn would_commit(&mut self, commit: PollCommit) {
        self.messages.extend(commit.messages);
        self.failed.extend(commit.failed);
        self.watermark = commit.watermark.or(self.watermark);
        self.deletions_watermark = commit.deletions_watermark.or(self.deletions_watermark);
    }

    /// The report of the finished dry run whose summary is `summary`.
    pub(crate) fn report(self, summary: PollSummary) -> DryRunReport {
        let messages: Vec<WouldPost> = self.messages.into_iter().map(WouldPost::from).collect();
        DryRunReport {
            url: self.url,
            query: self.query.unwrap_or_default(),
            from: summary.from,
            until: summary.until,
            pages: self.pages,
            records: summary.records,
            already_seen: summary.already_seen,
            deleted: summary.deleted,
            events: messages.iter().map(|message| message.events.len()).sum(),
            messages,
            failed: self
                .failed
                .into_iter()
                .map(|failed| WouldFail { object_id: failed.object_id, error: failed.error })
                .collect(),
            plugin_versions: summary.plugin_versions,
            watermark: self.watermark.map(format_instant),
            deletions_watermark: self.deletions_watermark.map(format_instant),
            requests: summary.requests,
        }
    }
}

/// What the next poll of one resource would do, found without writing anything.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DryRunReport {
    /// The poll URL rendered from the watermark.
    pub url: String,
    /// The Autotask query the URL became.
    pub query: QueryView,
    /// The window read: from the watermark (less the overlap) to now.
    pub from: String,
    pub until: String,
    /// Each page read, in order (the records' pages, then the deletion log's when it was due).
    pub pages: Vec<PageRead>,
    pub records: usize,
    /// Records dropped because an earlier poll already turned them into events.
    pub already_seen: usize,
    /// Rows of the deletion log read.
    pub deleted: usize,
    /// Events in all messages.
    pub events: usize,
    /// The messages that would be posted to the callback, in order, with their exact bodies.
    pub messages: Vec<WouldPost>,
    /// Records the plugin (or the record reader) would have failed.
    pub failed: Vec<WouldFail>,
    /// The plugin versions (short) that mapped the records.
    pub plugin_versions: Vec<String>,
    /// The watermark the poll would have set.
    pub watermark: Option<String>,
    /// The deletion log's watermark it would have set, when the log was due.
    pub deletions_watermark: Option<String>,
    /// HTTP requests sent to Autotask.
    pub requests: u64,
}

/// An Autotask query: `POST /v1.0/{entity}/query` with `body`.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct QueryView {
    pub entity: String,
    pub body: Value,
}

/// A page read from Autotask.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PageRead {
    pub entity: String,
    pub records: usize,
}

/// A message a real poll would post.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WouldPost {
    pub message_id: String,
    pub plugin_version: Option<String>,
    pub events: Vec<WouldDeliver>,
    /// The exact body that would be posted (and signed).
    #[schema(value_type = serde_json::Value)]
    pub body: Box<RawValue>,
}

impl From<NewMessage> for WouldPost {
    fn from(message: NewMessage) -> Self {
        let body = RawValue::from_string(message.body)
            .unwrap_or_else(|_| RawValue::from_string("null".into()).expect("null is JSON"));
        WouldPost {
            message_id: message.message_id,
            plugin_version: message.plugin_version.as_deref().map(|version| short_version(version).to_owned()),
            events: events_in(body.get()),
            body,
        }
    }
}

/// One event of a message.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WouldDeliver {
    pub event_type: String,
    pub object_type: String,
    pub object_id: String,
    pub event_date: String,
    /// The plugin's payload of the event.
    pub payload: Value,
}

/// A record that would fail.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WouldFail {
    pub object_id: Option<String>,
    pub error: String,
}

/// The events of a message body: a Cloud Elements message's `events`, or a
/// CloudEvents batch read as the same fields.
fn events_in(body: &str) -> Vec<WouldDeliver> {
    let Ok(parsed) = serde_json::from_str::<Value>(body) else { return Vec::new() };
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    if let Some(events) = parsed["message"]["events"].as_array() {
        return events
            .iter()
            .map(|event| WouldDeliver {
                event_type: text(&event["eventType"]),
                object_type: text(&event["objectType"]),
                object_id: text(&event["objectId"]),
                event_date: text(&event["eventDate"]),
                payload: event["payload"].clone(),
            })
            .collect();
    }
    parsed
        .as_array()
        .into_iter()
        .flatten()
        .map(|event| WouldDeliver {
            event_type: text(&event["data"]["eventType"]),
            object_type: text(&event["data"]["objectType"]),
            object_id: text(&event["subject"]),
            event_date: text(&event["time"]),
            payload: event["data"]["payload"].clone(),
        })
        .collect()
}

/// What a dry run of an instance found, resource by resource.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DryRunView {
    pub instance_id: String,
    /// Always true: says that nothing was stored nor sent.
    pub dry_run: bool,
    pub resources: Vec<ResourceDryRun>,
}

/// One resource's dry run: `"ok": true` and the report's fields, or `"ok": false` and why.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceDryRun {
    pub name: String,
    pub ok: bool,
    #[serde(flatten)]
    pub report: Option<DryRunReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `{"name", "ok": true, ...the report's fields}` (`ResourceDryRunDone`) or
/// `{"name", "ok": false, "error"}` (`ResourceDryRunFailed`), as `Serialize` writes
/// it (a flattened `Option` is not a shape the derive can say). The two are named
/// schemas, not inline ones: client generators make a type of each.
impl utoipa::PartialSchema for ResourceDryRun {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new().item(Ref::from_schema_name(DRY_RUN_DONE)).item(Ref::from_schema_name(DRY_RUN_FAILED)).into()
    }
}

const DRY_RUN_DONE: &str = "ResourceDryRunDone";
const DRY_RUN_FAILED: &str = "ResourceDryRunFailed";

impl ToSchema for ResourceDryRun {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        let name = || ObjectBuilder::new().schema_type(Type::String);
        let ok = |value: bool| ObjectBuilder::new().schema_type(Type::Boolean).enum_values(Some([value]));
        let done = AllOfBuilder::new()
            .item(Ref::from_schema_name(DryRunReport::name()))
            .item(
                ObjectBuilder::new().property("name", name()).property("ok", ok(true)).required("name").required("ok"),
            )
            .description(Some("A resource's dry run: what a poll now would read and deliver"));
        let failed = ObjectBuilder::new()
            .property("name", name())
            .property("ok", ok(false))
            .property(
                "error",
                ObjectBuilder::new().schema_type(Type::String).description(Some("why the dry run failed")),
            )
            .required("name")
            .required("ok")
            .required("error")
            .description(Some("A resource whose dry run failed, and why"));
        schemas.push((DRY_RUN_DONE.into(), done.into()));
        schemas.push((DRY_RUN_FAILED.into(), failed.into()));
        schemas.push((DryRunReport::name().into_owned(), DryRunReport::schema()));
        <DryRunReport as ToSchema>::schemas(schemas);
    }
}

impl ResourceDryRun {
    pub fn new(name: &str, result: Result<DryRunReport, String>) -> Self {
        let name = name.to_owned();
        match result {
            Ok(report) => ResourceDryRun { name, ok: true, report: Some(report), error: None },
            Err(error) => ResourceDryRun { name, ok: false, report: None, error: Some(error) },
        }
    }
}

/// Why a dry run without the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum DryRunError {
    #[error("no instance `{0}` in the configuration file or the state database")]
    NoInstance(String),
    #[error("instance `{instance}` has no resource `{resource}` (it has: {known})")]
    NoResource { instance: String, resource: String, known: String },
    #[error("instance `{instance}` does not read: {problems}")]
    Unreadable { instance: String, problems: String },
    #[error("no state database at {0} (has the service run with this configuration?)")]
    NoState(std::path::PathBuf),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("the plugin runtime: {0}")]
    Plugin(#[from] plugin_runtime::PluginError),
    #[error("instance `{instance}`: the Autotask client: {message}")]
    Client { instance: String, message: String },
}

/// Dry-runs instance `id`'s resources (or only `resource`) with no service
/// running: the instance from the configuration file, or one created through
/// the API from the state database, the watermarks and seen keys from the
/// state database, the plugins from the plugin directory. Nothing is written
/// to the state database; the SQLite file must exist (a dry run does not create it).
pub async fn dry_run_offline(
    config: ServiceConfig,
    id: &str,
    resource: Option<&str>,
) -> Result<DryRunView, DryRunError> {
    dry_run_offline_watched(config, id, resource, &ProgressCell::default()).await
}

/// [`dry_run_offline`], showing each resource's progress in `progress` as it
/// runs (the resources run one after the other; `progress` is empty between them).
pub async fn dry_run_offline_watched(
    config: ServiceConfig,
    id: &str,
    resource: Option<&str>,
    progress: &ProgressCell,
) -> Result<DryRunView, DryRunError> {
    let settings = running_settings(&config.server);
    if settings.store_url.is_none() {
        let path = settings.data_dir.join(super::STATE_FILE);
        if !path.exists() {
            return Err(DryRunError::NoState(path));
        }
    }
    let store = Arc::new(open_store(&settings).await?);
    let metrics = Arc::new(Metrics::new());
    let runtime = Arc::new(PluginRuntime::with_artifact_cache(settings.limits, compile_cache_dir(&settings))?);
    let shutdown = CancellationToken::new();
    let plugins = PluginRegistry::new(runtime, settings.plugin_dir.clone(), metrics.clone(), shutdown.clone());
    let shared = Arc::new(Shared {
        store,
        metrics,
        api: ArcSwap::from_pointee(settings.api.clone()),
        settings,
        plugins,
        changing: Default::default(),
        outbox_wakers: Default::default(),
        first_polls: Default::default(),
        // No lease is needed to write nothing.
        fleet: None,
        history: Default::default(),
    });
    let outcome = run_offline(&shared, config.instances, id, resource, progress).await;
    // Ends the plugin slots' reload loops.
    shutdown.cancel();
    outcome
}

async fn run_offline(
    shared: &Arc<Shared>,
    file_instances: Vec<ConfiguredInstance>,
    id: &str,
    resource: Option<&str>,
    progress: &ProgressCell,
) -> Result<DryRunView, DryRunError> {
    let configured = match file_instances.into_iter().find(|configured| configured.id == id) {
        Some(configured) => configured,
        None => {
            let store = shared.store.clone();
            let stored = blocking(move || store.api_instances()).await?;
            let stored = stored
                .into_iter()
                .find(|stored| stored.id.to_string() == id)
                .ok_or_else(|| DryRunError::NoInstance(id.to_owned()))?;
            shared.configured_stored(&stored).map_err(|problems| DryRunError::Unreadable {
                instance: id.to_owned(),
                problems: problems.to_string(),
            })?
        }
    };
    let config = configured.instance.clone();
    let names: Vec<&str> = config.resources.iter().map(|resource| resource.name.as_str()).collect();
    if let Some(resource) = resource.filter(|resource| !names.contains(resource)) {
        return Err(DryRunError::NoResource {
            instance: id.to_owned(),
            resource: resource.to_owned(),
            known: names.join(", "),
        });
    }
    // Where the first poll reads from, read (never recorded) from the state database.
    let store = shared.store.clone();
    let created = blocking(move || store.instances_created_at()).await?.remove(id);
    let client_error = |message: String| DryRunError::Client { instance: id.to_owned(), message };
    let options = super::client_options(&shared.settings.rules);
    let client = AutotaskClient::new(config.connection.clone(), options, ZoneCache::default())
        .map_err(|e| client_error(e.to_string()))?;
    let handle = Arc::new(InstanceHandle {
        id: id.to_owned(),
        readers: config.resources.iter().map(|r| r.reader()).collect(),
        first_poll_from: configured.since.or(created).unwrap_or_else(Utc::now),
        outbox_ready: Arc::new(Notify::new()),
        config: config.clone(),
    });
    let mut resources = Vec::new();
    for (index, each) in config.resources.iter().enumerate() {
        if resource.is_some_and(|resource| resource != each.name) {
            continue;
        }
        let path = absolute(&plugin_path(&shared.settings.plugin_dir, &configured, &each.name));
        let poller = ResourcePoller {
            instance: handle.clone(),
            resource: index,
            plugin: shared.plugins.slot(&path).await,
            client: client.for_instance(id),
            shared: shared.clone(),
            push: None,
            lease: crate::lease::Lease::solo(),
            progress: ProgressCell::default(),
        };
        let report = poller.dry_run_watched(progress).await.map_err(|error| error.to_string());
        resources.push(ResourceDryRun::new(&each.name, report));
    }
    Ok(DryRunView { instance_id: id.to_owned(), dry_run: true, resources })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_cloud_elements_message_and_a_cloudevents_batch_list_the_same_events() {
        let payload = json!({"title": "Printer on fire"});
        let elements = json!({"message": {"events": [{
            "eventType": "UPDATED", "objectType": "incidents", "objectId": "85",
            "eventDate": "2026-12-01T14:03:02Z", "payload": payload}]}});
        let cloudevents = json!([{
            "type": "com.autotask.incidents.updated", "subject": "85", "time": "2026-12-01T14:03:02Z",
            "data": {"eventType": "UPDATED", "objectType": "incidents", "objectId": "85", "payload": payload}}]);
        for body in [elements, cloudevents] {
            let events = events_in(&body.to_string());
            assert_eq!(events.len(), 1, "{body}");
            let event = &events[0];
            assert_eq!(
                (event.event_type.as_str(), event.object_type.as_str(), event.object_id.as_str()),
                ("UPDATED", "incidents", "85")
            );
            assert_eq!((event.event_date.as_str(), &event.payload), ("2026-12-01T14:03:02Z", &payload));
        }
    }

    #[test]
    fn a_message_keeps_its_exact_body_and_a_report_counts_its_events() {
        let body =
            r#"{"message":{"events":[{"eventType":"CREATED","objectId":"1"},{"eventType":"DELETED","objectId":"2"}]}}"#;
        let mut dry_run = DryRun::default();
        dry_run.page_read("Tickets", 2);
        let message = NewMessage {
            message_id: "m".into(),
            body: body.into(),
            event_count: 2,
            plugin_version: None,
            keys: Default::default(),
        };
        let watermark = Utc::now();
        dry_run.would_commit(PollCommit { messages: vec![message], ..PollCommit::default() });
        dry_run.would_commit(PollCommit { watermark: Some(watermark), ..PollCommit::default() });
        let report = dry_run.report(PollSummary { records: 2, ..PollSummary::default() });
        assert_eq!(report.messages[0].body.get(), body, "byte for byte");
        assert_eq!((report.events, report.records, report.pages.len()), (2, 2, 1));
        assert_eq!(report.watermark, Some(format_instant(watermark)));
        let json = serde_json::to_value(ResourceDryRun::new("incidents", Ok(report))).unwrap();
        assert_eq!((json["name"].clone(), json["ok"].clone()), (json!("incidents"), json!(true)));
        assert_eq!(json["messages"][0]["body"]["message"]["events"][1]["eventType"], "DELETED", "{json}");
        assert!(json.get("error").is_none(), "{json}");
        let failed = serde_json::to_value(ResourceDryRun::new("contacts", Err("no plugin".into()))).unwrap();
        assert_eq!(failed, json!({"name": "contacts", "ok": false, "error": "no plugin"}));
    }
}
