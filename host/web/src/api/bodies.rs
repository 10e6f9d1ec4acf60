//! What the API's request bodies look like, for its OpenAPI document only:
//! the handlers read their bodies as JSON and the engine checks them (naming
//! each field at fault), so these types are never deserialized. Their field
//! names are the keys those checks read. (`Serialize` only lets them use
//! serde's naming attributes, which the schemas follow.)

#![allow(dead_code)] // Only their schemas are used.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// A Cloud Elements instance body (`POST /instances`; `PATCH` takes any part
/// of it as a JSON merge patch). Fields other than these are ignored, so a
/// body read with `GET` can be sent back as it is.
#[derive(ToSchema, Serialize)]
#[schema(example = json!(crate::api::document::documented_instance_body()))]
pub struct InstanceBody {
    /// Shown in lists.
    name: Option<String>,
    element: Element,
    /// Labels, shown in lists.
    tags: Option<Vec<String>>,
    configuration: Configuration,
    /// `true` keeps the instance without polling or delivering.
    disabled: Option<bool>,
}

/// The Autotask element whose keys `configuration` holds.
#[derive(ToSchema, Serialize)]
pub struct Element {
    key: ElementKey,
}

#[derive(ToSchema, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ElementKey {
    /// Reads the `crm.autotask.*` keys.
    Autotaskcrm,
    /// Reads the `helpdesk.autotask.*` keys.
    Autotaskhelpdesk,
}

/// The instance's settings, as dotted keys. The `crm.autotask.*` keys are
/// element `autotaskcrm`'s; `autotaskhelpdesk` reads the same keys under
/// `helpdesk.autotask.*`. Other keys are kept and shown as sent.
#[derive(ToSchema, Serialize)]
pub struct Configuration {
    /// The Autotask API user.
    #[serde(rename = "crm.autotask.username")]
    username: Option<String>,
    /// The API user's secret; answers show it as `********`, and `********` sent back keeps it.
    #[serde(rename = "crm.autotask.password")]
    password: Option<String>,
    /// Autotask's server, or the zone's (found by zone discovery when it is Autotask's).
    #[serde(rename = "crm.autotask.server.url")]
    server_url: Option<String>,
    /// The Autotask integration code; the host's `[server] integration_code` when absent.
    #[serde(rename = "crm.autotask.integration.code")]
    integration_code: Option<String>,
    /// Whether events are delivered (`true` or `"true"`).
    #[serde(rename = "event.notification.enabled")]
    notification_enabled: Option<TextOrBool>,
    /// Where events are posted. Loopback, private and link-local addresses are refused
    /// unless the host's `[egress] allow` lists them.
    #[serde(rename = "event.notification.callback.url")]
    callback_url: Option<String>,
    /// The key messages are signed with (`Elements-Webhook-Signature`); shown as `********`.
    #[serde(rename = "event.notification.signature.key")]
    signature_key: Option<String>,
    /// `cloudelements` (the default) or `cloudevents`.
    #[serde(rename = "event.notification.format")]
    format: Option<String>,
    /// Minutes between polls, as text or a number (the host's limits apply).
    #[serde(rename = "event.poller.refresh_interval")]
    refresh_interval: Option<TextOrNumber>,
    /// Whether resources with Autotask webhooks are pushed as well as polled.
    #[serde(rename = "event.push.enabled")]
    push_enabled: Option<TextOrBool>,
    /// The resources polled, by name (at most 20).
    #[serde(rename = "event.poller.configuration")]
    resources: Option<std::collections::BTreeMap<String, PolledResource>>,
}

/// One resource polled: a Cloud Elements poller entry.
#[derive(ToSchema, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolledResource {
    /// The hub path and CEQL `where`, with `${date:...}` or `${gmtDate:...}` for the watermark.
    url: String,
    /// The records' id field (`id` unless given).
    id_field: Option<String>,
    dates_configuration: Option<DatesConfiguration>,
    /// Seconds to wait before reading changes (0 to 86400).
    poll_delay: Option<f64>,
    /// Records per page (1 to 500).
    page_size: Option<u32>,
    /// Seconds between reads of the deletion log.
    deletion_poll_interval: Option<f64>,
    /// Seconds a record's creation may differ from its change and still count as created.
    created_check_tolerance: Option<f64>,
    /// Whether the query is narrowed by the change date (`true` unless given).
    filter_by_updated_date: Option<bool>,
    /// Whether the resource's changes are also pushed by an Autotask webhook.
    push: Option<bool>,
}

/// Which record fields hold the dates, and how they are written (Java's `SimpleDateFormat`).
#[derive(ToSchema, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DatesConfiguration {
    updated_date_field: Option<String>,
    updated_date_format: Option<String>,
    updated_date_timezone: Option<String>,
    created_date_field: Option<String>,
    created_date_format: Option<String>,
    created_date_timezone: Option<String>,
}

/// `true`, `false`, or the same as text.
#[derive(ToSchema, Serialize)]
#[serde(untagged)]
pub enum TextOrBool {
    Flag(bool),
    Text(String),
}

/// A number, or a number written as text.
#[derive(ToSchema, Serialize)]
#[serde(untagged)]
pub enum TextOrNumber {
    Number(f64),
    Text(String),
}

/// `POST /plugins/{name}/try`: records, and which two versions to compare.
/// With neither `versions` nor `upload`: the active stored version against
/// the file serving the resource.
#[derive(ToSchema, Serialize)]
#[schema(example = json!({"versions": [1, 2], "records": [{"id": 42, "title": "VPN", "createDate": "2024-06-01T09:20:00Z", "lastActivityDate": "2024-06-01T09:20:00Z"}]}))]
pub struct TryBody {
    /// Raw records as a poll reads them from Autotask (1 to 500 objects).
    #[schema(value_type = Vec<Object>, min_items = 1, max_items = 500)]
    records: Vec<Value>,
    /// Two stored versions: old, new.
    #[schema(min_items = 2, max_items = 2)]
    versions: Option<Vec<i64>>,
    /// Bytes not stored yet, compared with the active version.
    upload: Option<TryUpload>,
}

/// A plugin sent with a try: a script as text, or a component in base64.
#[derive(ToSchema, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TryUpload {
    /// The plugin file name: `incidents.js`, `incidents.py`, `incidents.wasm`.
    name: String,
    /// A script's text.
    content: Option<String>,
    /// A component's bytes, base64.
    content_base64: Option<String>,
}
