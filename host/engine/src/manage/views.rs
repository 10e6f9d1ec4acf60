//! What the management calls answer, as Rust types. The API serializes them
//! (to the JSON Cloud Elements users know: the field names and shapes here are
//! the API's); the console renders their fields.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Map, Value};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type};

use crate::service::poll::PollSummary;
use crate::service::progress::PollProgress;
use crate::service::scheduler::PollResult;
use crate::store::EventCounts;

/// A dry run's answer (built in [`crate::service::dry_run`], where the poll keeps it).
pub use crate::service::dry_run::{
    DryRunReport, DryRunView, PageRead, QueryView, ResourceDryRun, WouldDeliver, WouldFail, WouldPost,
};

/// Dates as Cloud Elements writes them: ISO 8601, UTC, milliseconds.
pub fn format_date(instant: DateTime<Utc>) -> String {
    instant.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// An instance's id: a number for instances created through the API, the
/// file's text id for configuration file instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceId {
    Api(i64),
    File(String),
}

impl std::fmt::Display for InstanceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InstanceId::Api(number) => write!(f, "{number}"),
            InstanceId::File(id) => f.write_str(id),
        }
    }
}

impl InstanceId {
    /// The number its delivered messages carry as `instanceId`: an API instance's
    /// own, a file instance's derived from its text id. Read from the same text
    /// the messages are built from, so the two cannot differ.
    pub fn delivered_number(&self) -> u64 {
        crate::delivery::instance_number::instance_number(&self.to_string())
    }
}

impl Serialize for InstanceId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            InstanceId::Api(number) => serializer.serialize_i64(*number),
            InstanceId::File(id) => serializer.serialize_str(id),
        }
    }
}

/// An instance as Cloud Elements shows one, with what this service adds.
#[derive(Debug, Clone)]
pub struct InstanceView {
    pub id: InstanceId,
    pub name: Option<String>,
    pub element_key: Option<String>,
    pub tags: Vec<String>,
    pub events_enabled: bool,
    /// Autotask took the credentials at the last poll (and the stored body reads).
    pub valid: bool,
    pub disabled: bool,
    /// The body's `configuration`, every secret shown as `********`.
    pub configuration: Map<String, Value>,
    pub created: DateTime<Utc>,
    /// API instances only.
    pub token: Option<String>,
    pub updated: Option<DateTime<Utc>>,
    /// From the configuration file: changed there, not here.
    pub read_only: bool,
    /// Why the stored body no longer reads, if it does not.
    pub problem: Option<String>,
    /// Resources waiting for their plugin file (after a create or a change).
    pub warnings: Vec<Warning>,
    /// The settings a person edits, read from `configuration`.
    pub settings: InstanceSettings,
}

/// Something about an instance that works, but not yet as intended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Warning {
    pub field: String,
    pub message: String,
}

impl Serialize for InstanceView {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("id", &self.id)?;
        // So a file instance's messages, which carry a number, can be told apart by it.
        map.serialize_entry("instanceNumber", &self.id.delivered_number())?;
        map.serialize_entry("name", &self.name)?;
        map.serialize_entry("element", &ElementKey { key: &self.element_key })?;
        map.serialize_entry("tags", &self.tags)?;
        map.serialize_entry("eventsEnabled", &self.events_enabled)?;
        map.serialize_entry("valid", &self.valid)?;
        map.serialize_entry("disabled", &self.disabled)?;
        map.serialize_entry("configuration", &self.configuration)?;
        map.serialize_entry("createdDate", &format_date(self.created))?;
        if let Some(token) = &self.token {
            map.serialize_entry("token", token)?;
        }
        if let Some(updated) = self.updated {
            map.serialize_entry("updatedDate", &format_date(updated))?;
        }
        map.serialize_entry("readOnly", &self.read_only)?;
        if let Some(problem) = &self.problem {
            map.serialize_entry("problem", problem)?;
        }
        if !self.warnings.is_empty() {
            map.serialize_entry("warnings", &self.warnings)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct ElementKey<'a> {
    key: &'a Option<String>,
}

// The JSON an `InstanceView` is written as (its `Serialize` above, field for
// field), which the API's OpenAPI document shows as `InstanceView`.
/// An instance as Cloud Elements shows one, with what this service adds.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)] // Only its schema is used.
struct InstanceJson {
    id: InstanceId,
    /// The number the instance's messages carry as `instanceId`.
    instance_number: u64,
    name: Option<String>,
    #[schema(inline)]
    element: ElementJson,
    tags: Vec<String>,
    events_enabled: bool,
    /// Autotask took the credentials at the last poll.
    valid: bool,
    /// Kept without polling or delivering.
    disabled: bool,
    /// The body's `configuration`, every secret shown as `********`.
    #[schema(value_type = Object)]
    configuration: Map<String, Value>,
    #[schema(format = DateTime)]
    created_date: String,
    /// API instances only: the `Element` token for calls about it.
    #[schema(nullable = false)]
    token: Option<String>,
    /// API instances only.
    #[schema(nullable = false, format = DateTime)]
    updated_date: Option<String>,
    /// From the configuration file: changed there, not here.
    read_only: bool,
    /// Why the stored body no longer reads, if it does not.
    #[schema(nullable = false)]
    problem: Option<String>,
    /// Resources waiting for their plugin file (after a create or a change).
    #[schema(nullable = false)]
    warnings: Option<Vec<Warning>>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Only its schema is used.
struct ElementJson {
    key: Option<String>,
}

impl utoipa::PartialSchema for InstanceView {
    fn schema() -> RefOr<Schema> {
        InstanceJson::schema()
    }
}

impl utoipa::ToSchema for InstanceView {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <InstanceJson as utoipa::ToSchema>::schemas(schemas);
    }
}

impl utoipa::PartialSchema for InstanceId {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                    .description(Some("an instance created through the API")),
            )
            .item(
                ObjectBuilder::new().schema_type(Type::String).description(Some("a configuration file instance's id")),
            )
            .into()
    }
}

impl utoipa::ToSchema for InstanceId {}

/// An instance's settings as a person edits them; secrets are never here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceSettings {
    pub username: String,
    pub server_url: String,
    pub callback_url: String,
    /// `event.poller.refresh_interval`, in minutes, as written.
    pub refresh_interval: String,
    pub resources: Vec<ResourceSettings>,
}

/// One entry of `event.poller.configuration`, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceSettings {
    pub name: String,
    pub url: String,
    pub id_field: String,
    pub updated_date_field: String,
    pub updated_date_format: String,
    pub created_date_field: String,
    pub created_date_format: String,
}

/// What deleting an instance did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Deleted {
    pub id: i64,
    pub deleted: bool,
    /// Messages delivered before it went (`outbox=flush`).
    pub delivered: usize,
    /// Messages dropped with it (`outbox=drop`).
    pub dropped: u64,
}

/// What a retry put back on its way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Retried {
    /// Dead letters back in the outbox.
    pub dead_lettered: usize,
    /// Retries that were waiting for their time, due now.
    pub retrying: usize,
    /// Records the plugin failed, mapped again by the next poll.
    pub failed_records: usize,
}

/// What a poll now did, resource by resource.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Polled {
    pub instance_id: String,
    pub resources: Vec<ResourcePolled>,
}

/// One resource's poll: its summary, or why it stored nothing.
#[derive(Debug, Clone)]
pub struct ResourcePolled {
    pub name: String,
    pub result: PollResult,
}

// The JSON a `ResourcePolled` is written as.
/// One resource's poll: `ok` and its `summary`, or `ok: false` and the `error`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Only its schema is used.
struct ResourcePolledJson {
    name: String,
    ok: bool,
    /// When `ok`.
    #[schema(nullable = false)]
    summary: Option<PollSummary>,
    /// Why the poll stored nothing, when not `ok`.
    #[schema(nullable = false)]
    error: Option<String>,
}

impl utoipa::PartialSchema for ResourcePolled {
    fn schema() -> RefOr<Schema> {
        ResourcePolledJson::schema()
    }
}

impl utoipa::ToSchema for ResourcePolled {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <ResourcePolledJson as utoipa::ToSchema>::schemas(schemas);
    }
}

impl Serialize for ResourcePolled {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("name", &self.name)?;
        serialize_result(&mut map, &self.result)?;
        map.end()
    }
}

/// `"ok": true, "summary": {...}` or `"ok": false, "error": "..."`.
fn serialize_result<M: SerializeMap>(map: &mut M, result: &Result<PollSummary, String>) -> Result<(), M::Error> {
    match result {
        Ok(summary) => {
            map.serialize_entry("ok", &true)?;
            map.serialize_entry("summary", summary)
        }
        Err(error) => {
            map.serialize_entry("ok", &false)?;
            map.serialize_entry("error", error)
        }
    }
}

/// An instance's resources and how each is doing.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    pub instance_id: String,
    pub resources: Vec<ResourceView>,
}

/// Where a resource's polling stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceState {
    NotPolled,
    WaitingForPlugin,
    Polling,
    Scheduled,
    /// In a fleet, another host holds the resource's poll lease.
    PolledElsewhere,
}

impl ResourceState {
    /// The words the API and the console use.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceState::NotPolled => "not polled",
            ResourceState::WaitingForPlugin => "waiting for its plugin",
            ResourceState::Polling => "polling",
            ResourceState::Scheduled => "scheduled",
            ResourceState::PolledElsewhere => "polled by another host",
        }
    }
}

impl ResourceState {
    const ALL: [ResourceState; 5] = [
        ResourceState::NotPolled,
        ResourceState::WaitingForPlugin,
        ResourceState::Polling,
        ResourceState::Scheduled,
        ResourceState::PolledElsewhere,
    ];
}

/// The words of [`ResourceState::as_str`], every one.
impl utoipa::PartialSchema for ResourceState {
    fn schema() -> RefOr<Schema> {
        text_enum(ResourceState::ALL.map(ResourceState::as_str))
    }
}

impl utoipa::ToSchema for ResourceState {}

/// A string that is one of `words`.
fn text_enum<const N: usize>(words: [&'static str; N]) -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(words)).into()
}

impl Serialize for ResourceState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One resource: its plugin, watermark, last and next poll.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceView {
    pub name: String,
    pub entity: String,
    pub url: String,
    pub status: ResourceState,
    pub plugin: ResourcePlugin,
    #[serde(serialize_with = "optional_date")]
    pub watermark: Option<DateTime<Utc>>,
    pub last_poll: Option<LastPollView>,
    #[serde(rename = "nextPollDate", serialize_with = "optional_date")]
    pub next_poll: Option<DateTime<Utc>>,
    /// Autotask's push of this resource's changes, when it has push on.
    pub push: Option<PushView>,
    /// In a fleet, while another host polls it: which (its last poll is that host's to show).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub polled_elsewhere: Option<String>,
    /// While a poll runs: how far it is, and how delivery keeps up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<ProgressView>,
}

/// A running poll's progress, with the instance's delivery since it began.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProgressView {
    #[serde(flatten)]
    pub poll: PollProgress,
    /// The instance's messages waiting for delivery now (every resource's).
    pub messages_pending: u64,
    /// The instance's messages delivered since the poll began.
    pub messages_delivered: u64,
}

/// How an instance's delivery is going right now, for the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryNow {
    /// Messages waiting for delivery (retrying ones too, not dead-lettered ones).
    pub pending: u64,
    /// Messages delivered in the last minute.
    pub delivered_last_minute: u64,
}

/// How a resource's push is doing.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushView {
    /// The webhook is registered and was active at the last check.
    pub active: bool,
    /// Where Autotask calls out to (`None` until `[server] public_url` is set).
    pub webhook_url: Option<String>,
    /// The webhook's id in Autotask, once registered.
    pub webhook_id: Option<i64>,
    /// Why push is not working, while it is not.
    pub problem: Option<String>,
    #[serde(rename = "lastCheckDate", serialize_with = "optional_date")]
    pub last_check: Option<DateTime<Utc>>,
    #[serde(rename = "lastCalloutDate", serialize_with = "optional_date")]
    pub last_callout: Option<DateTime<Utc>>,
    pub callouts_received: u64,
    pub callouts_verified: u64,
    pub callouts_rejected: u64,
    /// Changes turned into events from callouts.
    pub changes_pushed: u64,
    /// Changes a poll found that push had not delivered.
    pub push_gap: u64,
    /// Times the service found the webhook deactivated and reactivated it.
    pub reactivations: u64,
    /// How often the resource is polled now: slower while push is active.
    pub poll_interval_seconds: f64,
}

/// The plugin file a resource uses, and the version serving.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourcePlugin {
    #[schema(value_type = String)]
    pub path: PathBuf,
    pub version: Option<String>,
    /// Why the resource waits, while it does.
    pub waiting_reason: Option<String>,
}

/// A resource's last poll.
#[derive(Debug, Clone)]
pub struct LastPollView {
    pub started: DateTime<Utc>,
    /// Milliseconds, rounded.
    pub took_ms: f64,
    pub result: PollResult,
}

// The JSON a `LastPollView` is written as.
/// A resource's last poll: `ok` and its `summary`, or `ok: false` and the `error`.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)] // Only its schema is used.
struct LastPollJson {
    ok: bool,
    /// When `ok`.
    #[schema(nullable = false)]
    summary: Option<PollSummary>,
    /// Why the poll stored nothing, when not `ok`.
    #[schema(nullable = false)]
    error: Option<String>,
    #[schema(format = DateTime)]
    started_date: String,
    /// Milliseconds, rounded.
    took_ms: f64,
}

impl utoipa::PartialSchema for LastPollView {
    fn schema() -> RefOr<Schema> {
        LastPollJson::schema()
    }
}

impl utoipa::ToSchema for LastPollView {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <LastPollJson as utoipa::ToSchema>::schemas(schemas);
    }
}

impl Serialize for LastPollView {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        serialize_result(&mut map, &self.result)?;
        map.serialize_entry("startedDate", &format_date(self.started))?;
        map.serialize_entry("tookMs", &self.took_ms)?;
        map.end()
    }
}

fn optional_date<S: Serializer>(date: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
    match date {
        Some(date) => serializer.serialize_str(&format_date(*date)),
        None => serializer.serialize_none(),
    }
}

/// A message with its delivery history and the events in it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    /// The message's `Elements-Webhook-Id`.
    pub id: String,
    pub resource: String,
    pub status: MessageStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_date: String,
    pub delivered_date: Option<String>,
    /// The short version of the plugin that mapped its events.
    pub plugin_version: Option<String>,
    pub event_count: usize,
    pub events: Vec<EventSummary>,
}

/// Where a message's delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageStatus {
    Delivered,
    /// Not attempted yet.
    Pending,
    /// Failed, with a retry scheduled.
    Retrying,
    /// Dead-lettered.
    Failed,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Delivered => "delivered",
            MessageStatus::Pending => "pending",
            MessageStatus::Retrying => "retrying",
            MessageStatus::Failed => "failed",
        }
    }
}

/// The words of [`MessageStatus::as_str`], every one.
impl utoipa::PartialSchema for MessageStatus {
    fn schema() -> RefOr<Schema> {
        text_enum(
            [MessageStatus::Delivered, MessageStatus::Pending, MessageStatus::Retrying, MessageStatus::Failed]
                .map(MessageStatus::as_str),
        )
    }
}

impl utoipa::ToSchema for MessageStatus {}

impl Serialize for MessageStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One event of a message, as the message carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventSummary {
    pub event_type: Option<String>,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub event_date: Option<String>,
}

/// How an instance's deliveries have gone lately, for the console's list.
#[derive(Debug, Clone, Default)]
pub struct DeliveryHealth {
    /// Events of the last 24 hours.
    pub counts: EventCounts,
    /// The last error of a message not yet delivered.
    pub last_error: Option<String>,
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    #[test]
    fn an_instance_serializes_as_cloud_elements_shows_it() {
        let created = Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0).single().unwrap();
        let view = InstanceView {
            id: InstanceId::Api(7),
            name: Some("Acme".into()),
            element_key: Some("autotaskcrm".into()),
            tags: vec!["prod".into()],
            events_enabled: true,
            valid: true,
            disabled: false,
            configuration: json!({"crm.autotask.password": "********"}).as_object().unwrap().clone(),
            created,
            token: Some("t0k".into()),
            updated: Some(created),
            read_only: false,
            problem: None,
            warnings: Vec::new(),
            settings: InstanceSettings::default(),
        };
        assert_eq!(
            serde_json::to_value(&view).unwrap(),
            json!({"id": 7, "instanceNumber": 7, "name": "Acme", "element": {"key": "autotaskcrm"}, "tags": ["prod"],
                   "eventsEnabled": true, "valid": true, "disabled": false,
                   "configuration": {"crm.autotask.password": "********"},
                   "createdDate": "2024-06-01T12:00:00.000Z", "token": "t0k",
                   "updatedDate": "2024-06-01T12:00:00.000Z", "readOnly": false})
        );
        let file =
            InstanceView { id: InstanceId::File("acme".into()), token: None, updated: None, read_only: true, ..view };
        let shown = serde_json::to_value(&file).unwrap();
        assert_eq!(shown["id"], "acme");
        assert_eq!(shown["instanceNumber"], 7_656_644_771_137_696_u64, "the number its messages carry");
        assert!(shown.get("token").is_none() && shown.get("updatedDate").is_none());
    }

    #[test]
    fn a_last_poll_says_ok_or_its_error() {
        let started = Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0).single().unwrap();
        let failed = LastPollView { started, took_ms: 12.0, result: Err("HTTP 500".into()) };
        assert_eq!(
            serde_json::to_value(&failed).unwrap(),
            json!({"ok": false, "error": "HTTP 500", "startedDate": "2024-06-01T12:00:00.000Z", "tookMs": 12.0})
        );
        let polled = ResourcePolled { name: "incidents".into(), result: Ok(PollSummary::default()) };
        let shown = serde_json::to_value(&polled).unwrap();
        assert_eq!((shown["name"].as_str(), shown["ok"].as_bool()), (Some("incidents"), Some(true)));
        assert_eq!(shown["summary"]["records"], 0);
        assert_eq!(shown["summary"]["requests"], 0, "what the poll cost in Autotask requests is shown");
    }
}

/// A fleet host's leases, as `/health` shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetLeases {
    pub host: String,
    pub lease_ttl: std::time::Duration,
    pub leases: Vec<crate::service::fleet::HeldLease>,
}

/// A stored version of an uploaded plugin, without its bytes: what an upload,
/// an activation and `GET /plugins/{name}/versions` answer with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginVersionView {
    /// The plugin file name: `incidents.js`.
    pub name: String,
    pub version: i64,
    pub sha256: String,
    pub size: u64,
    pub uploaded_at: String,
    pub uploaded_by: String,
    /// Whether its resource is mapped with this version.
    pub active: bool,
}

impl From<crate::store::PluginVersion> for PluginVersionView {
    fn from(stored: crate::store::PluginVersion) -> Self {
        PluginVersionView {
            name: stored.name,
            version: stored.version,
            sha256: stored.sha256,
            size: stored.size,
            uploaded_at: format_date(stored.uploaded_at),
            uploaded_by: stored.uploaded_by,
            active: stored.active,
        }
    }
}
