//! A Cloud Elements instance body, read into what the service needs: the
//! Autotask connection, where and how to deliver events, and each resource's
//! poll configuration, every part checked.
//!
//! The body is the one Cloud Elements users already send to `POST /instances`
//! (`element.key`, `configuration`, `tags`, `name`). Resources come from
//! `event.poller.configuration` (an object, or the same as a JSON string) or
//! the older `event.poller.urls` lines.

use std::path::Path;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::{Map, Value};

use super::problems::Collector;
use super::rules::{
    InstanceRules, MAX_DELAY_SECONDS, MAX_FIELD_CHARS, MAX_NAME_CHARS, MAX_PATTERN_CHARS, MAX_TAG_CHARS, MAX_TAGS,
    MAX_VALUE_CHARS, finite_number, too_long, type_name,
};
use super::secrets;
use crate::dates::{AUTOTASK_DATE_PATTERN, DateFormat};
use crate::records::{DateField, RecordReader};
use crate::source::credentials::{Connection, ConnectionError};
use crate::source::hub::autotask_query;
use crate::source::template::UrlTemplate;
use plugin_runtime::{DatesConfiguration, PollConfiguration};

/// Cloud Elements' default refresh interval, in minutes.
pub const DEFAULT_REFRESH_MINUTES: u64 = 15;

/// How events are posted to the callback URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventFormat {
    /// The Cloud Elements polling message (the default).
    CloudElements,
    /// CloudEvents 1.0 structured JSON.
    CloudEvents,
}

/// One instance, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceConfig {
    pub name: String,
    pub element_key: String,
    pub tags: Vec<String>,
    pub connection: Connection,
    /// Whether events are polled and delivered (`event.notification.enabled`).
    pub events_enabled: bool,
    pub callback_url: Option<String>,
    pub signature_key: Option<crate::source::Secret>,
    pub format: EventFormat,
    pub refresh_interval: Duration,
    /// How often resources with push on are polled while their webhook is
    /// active (`event.push.refresh_interval`): the poll is then the safety net.
    pub push_refresh_interval: Duration,
    pub resources: Vec<ResourceConfig>,
}

/// One polled resource, checked.
#[derive(Debug, Clone)]
pub struct ResourceConfig {
    pub name: String,
    /// The poll URL as configured, placeholders and all.
    pub url: String,
    pub template: UrlTemplate,
    /// The Autotask entity the URL addresses.
    pub entity: String,
    pub id_field: String,
    pub page_size: Option<u32>,
    /// Seconds taken off the last poll time when rendering the URL.
    pub poll_delay: Duration,
    /// How often the resource's deletion log is read (`deletionPollInterval`),
    /// for entities that have one; `None`: every fifth poll, at least every 5 minutes.
    pub deletion_poll_interval: Option<Duration>,
    pub filter_by_updated_date: bool,
    pub created_check_tolerance_seconds: u32,
    pub updated: Option<DateField>,
    pub created: Option<DateField>,
    /// Autotask pushes this resource's changes to the service (a webhook the
    /// service registers); polling goes on as the safety net.
    pub push: bool,
}

/// Resources are equal when configured the same (the template is read from `url`).
impl PartialEq for ResourceConfig {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.url == other.url
            && self.entity == other.entity
            && self.id_field == other.id_field
            && self.page_size == other.page_size
            && self.poll_delay == other.poll_delay
            && self.deletion_poll_interval == other.deletion_poll_interval
            && self.filter_by_updated_date == other.filter_by_updated_date
            && self.created_check_tolerance_seconds == other.created_check_tolerance_seconds
            && self.updated == other.updated
            && self.created == other.created
            && self.push == other.push
    }
}

impl ResourceConfig {
    /// Reads this resource's records as its `idField` and `datesConfiguration` say.
    pub fn reader(&self) -> RecordReader {
        RecordReader {
            id_field: self.id_field.clone(),
            created: self.created.clone(),
            updated: self.updated.clone(),
            created_check_tolerance: chrono::TimeDelta::seconds(self.created_check_tolerance_seconds.into()),
        }
    }

    /// The resource's poll configuration as plugins are told it.
    pub fn poll_configuration(&self) -> PollConfiguration {
        let field = |date: &Option<DateField>| date.as_ref().map(|d| d.field.clone());
        let format = |date: &Option<DateField>| date.as_ref().map(|d| d.format.pattern().to_owned());
        let zone = |date: &Option<DateField>| date.as_ref().and_then(|d| d.format.zone_name().map(str::to_owned));
        PollConfiguration {
            id_field: self.id_field.clone(),
            dates: DatesConfiguration {
                updated_date_field: field(&self.updated),
                updated_date_format: format(&self.updated),
                updated_date_timezone: zone(&self.updated),
                created_date_field: field(&self.created),
                created_date_format: format(&self.created),
                created_date_timezone: zone(&self.created),
            },
            created_check_tolerance_seconds: self.created_check_tolerance_seconds,
        }
    }
}

/// Where to read settings from and how to report problems.
pub struct Source<'a> {
    /// Relative `${file:...}` references resolve against this directory.
    pub base_dir: &'a Path,
    /// Problem keys start with this (`instance[2]`), or nothing for a body file.
    pub key_prefix: String,
    /// The host's integration code, for bodies without one.
    pub host_integration_code: Option<&'a str>,
    /// Whether `${env:...}` / `${file:...}` values are replaced (files yes, API bodies no).
    pub resolve_references: bool,
    /// The host's limits, egress policy and Autotask hosts.
    pub rules: &'a InstanceRules,
}

impl Source<'_> {
    fn key(&self, key: &str) -> String {
        if self.key_prefix.is_empty() { key.to_owned() } else { format!("{}.{key}", self.key_prefix) }
    }
}

/// Reads an instance body; every problem goes to `problems`, and `None` comes
/// back when there were any.
pub fn read_instance(body: &Value, source: &Source<'_>, problems: &mut Collector<'_>) -> Option<InstanceConfig> {
    let before = problems.problems.len();
    let Some(object) = body.as_object() else {
        problems.add(source.key(""), "an instance is a JSON object (`element`, `configuration`, `name`, `tags`)");
        return None;
    };
    let name = match object.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() => match too_long(name, MAX_NAME_CHARS) {
            Some(message) => {
                problems.add(source.key("name"), message);
                String::new()
            }
            None => name.trim().to_owned(),
        },
        None | Some(Value::Null | Value::String(_)) => {
            problems.add(source.key("name"), "missing: every instance needs a name");
            String::new()
        }
        Some(other) => {
            problems.add(source.key("name"), format!("must be text, not {}", type_name(other)));
            String::new()
        }
    };
    let element_key = object.get("element").and_then(|e| e.get("key")).and_then(Value::as_str).unwrap_or_default();
    let tags = read_tags(object.get("tags"), &source.key("tags"), problems);
    let Some(raw_configuration) = object.get("configuration").and_then(Value::as_object) else {
        problems.add(source.key("configuration"), "missing: the instance needs a `configuration` object");
        return None;
    };
    let configuration = if source.resolve_references {
        resolve_secrets(raw_configuration, source, problems)
    } else {
        raw_configuration.clone()
    };
    let config_key = |key: &str| source.key(&format!("configuration.\"{key}\""));
    for (key, value) in &configuration {
        // The resources' own parts are held to limits of their own.
        let resources = key == POLLER || key == "event.poller.urls";
        if let Some(message) = value.as_str().filter(|_| !resources).and_then(|text| too_long(text, MAX_VALUE_CHARS)) {
            problems.add(config_key(key), message);
        }
    }

    let connection = match connection(element_key, &configuration, source) {
        Ok(connection) => Some(connection),
        Err(ConnectionProblem::At(key, message)) => {
            problems.add(config_key(&key), message);
            None
        }
        Err(ConnectionProblem::Connection(error @ ConnectionError::UnknownElement(_))) => {
            problems.add(source.key("element.key"), error.to_string());
            None
        }
        Err(ConnectionProblem::Connection(error)) => {
            problems.add(source.key("configuration"), error.to_string());
            None
        }
    };
    let events_enabled = match configuration.get("event.notification.enabled") {
        None => false,
        Some(value) => flag(value).unwrap_or_else(|| {
            problems.add(config_key("event.notification.enabled"), format!("{value} is not true or false"));
            false
        }),
    };
    let callback_url = configuration.get("event.notification.callback.url").and_then(Value::as_str).map(str::trim);
    let callback_url = match callback_url {
        Some(url) if !url.is_empty() => match reqwest::Url::parse(url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => match source.rules.egress.check_url(&parsed) {
                Ok(()) => Some(url.to_owned()),
                Err(message) => {
                    problems.add(config_key("event.notification.callback.url"), message);
                    None
                }
            },
            Ok(parsed) => {
                problems.add(
                    config_key("event.notification.callback.url"),
                    format!("scheme `{}` is not http or https", parsed.scheme()),
                );
                None
            }
            Err(error) => {
                problems.add(config_key("event.notification.callback.url"), format!("`{url}` is not a URL ({error})"));
                None
            }
        },
        _ => {
            if events_enabled {
                problems
                    .add(config_key("event.notification.callback.url"), "missing: events are enabled but go nowhere");
            }
            None
        }
    };
    let signature_key = match configuration.get("event.notification.signature.key") {
        None | Some(Value::Null) => None,
        Some(Value::String(key)) if key.is_empty() => None,
        Some(Value::String(key)) => Some(crate::source::Secret::new(key.clone())),
        Some(other) => {
            // Ignoring it would send events unsigned while the key shows as set.
            let message = format!("must be text, not {} (quote it)", type_name(other));
            problems.add(config_key("event.notification.signature.key"), message);
            None
        }
    };
    let format = match configuration.get("event.notification.format").and_then(Value::as_str) {
        None | Some("cloudelements") => EventFormat::CloudElements,
        Some("cloudevents") => EventFormat::CloudEvents,
        Some(other) => {
            problems.add(
                config_key("event.notification.format"),
                format!("`{other}` is not `cloudelements` or `cloudevents`"),
            );
            EventFormat::CloudElements
        }
    };
    let refresh_interval = match configuration.get("event.poller.refresh_interval") {
        None => Duration::from_secs(DEFAULT_REFRESH_MINUTES * 60),
        Some(value) => match finite_number(value).map(|minutes| source.rules.refresh_interval(minutes)) {
            Some(Ok(interval)) => interval,
            Some(Err(message)) => {
                problems.add(config_key("event.poller.refresh_interval"), format!("{} {message}", short(value)));
                Duration::from_secs(DEFAULT_REFRESH_MINUTES * 60)
            }
            None => {
                problems.add(
                    config_key("event.poller.refresh_interval"),
                    format!("{} is not a positive number of minutes", short(value)),
                );
                Duration::from_secs(DEFAULT_REFRESH_MINUTES * 60)
            }
        },
    };

    let push_enabled = match configuration.get("event.push.enabled") {
        None | Some(Value::Null) => false,
        Some(value) => flag(value).unwrap_or_else(|| {
            problems.add(config_key("event.push.enabled"), format!("{value} is not true or false"));
            false
        }),
    };
    // Slower than the poll without push: the poll only catches what push dropped.
    let push_default = refresh_interval.max(Duration::from_secs(DEFAULT_REFRESH_MINUTES * 60));
    let push_refresh_interval = match configuration.get("event.push.refresh_interval") {
        None | Some(Value::Null) => push_default,
        Some(value) => match finite_number(value).map(|minutes| source.rules.refresh_interval(minutes)) {
            Some(Ok(interval)) => interval,
            Some(Err(message)) => {
                problems.add(config_key("event.push.refresh_interval"), format!("{} {message}", short(value)));
                push_default
            }
            None => {
                problems.add(
                    config_key("event.push.refresh_interval"),
                    format!("{} is not a positive number of minutes", short(value)),
                );
                push_default
            }
        },
    };

    let mut resources = Vec::new();
    match (configuration.get("event.poller.configuration"), configuration.get("event.poller.urls")) {
        (Some(poller), _) => {
            let key = config_key(POLLER);
            let poller = match poller {
                Value::String(text) => serde_json::from_str::<Value>(text).unwrap_or_else(|error| {
                    problems.add(&key, format!("not valid JSON: {error}"));
                    Value::Null
                }),
                other => other.clone(),
            };
            match poller.as_object() {
                Some(map) if map.len() > source.rules.max_resources => problems.add(
                    &key,
                    format!(
                        "{} resources: at most {} per instance (this host's limit)",
                        map.len(),
                        source.rules.max_resources
                    ),
                ),
                Some(map) => {
                    for (name, resource) in map {
                        let key = format!("{key}.{name}");
                        if let Some(resource) = read_resource(name, resource, &key, push_enabled, problems) {
                            resources.push(resource);
                        }
                    }
                }
                None if poller.is_null() => {}
                None => problems.add(&key, "must be an object of resources (`{\"incidents\": {\"url\": ...}}`)"),
            }
        }
        (None, Some(urls)) => {
            let key = config_key("event.poller.urls");
            if !urls.is_string() && !urls.is_null() {
                problems.add(&key, format!("must be text (one resource per line), not {}", type_name(urls)));
            }
            let text = urls.as_str().unwrap_or_default();
            let lines: Vec<(usize, &str)> =
                text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()).collect();
            if lines.len() > source.rules.max_resources {
                let message = format!(
                    "{} resources: at most {} per instance (this host's limit)",
                    lines.len(),
                    source.rules.max_resources
                );
                problems.add(&key, message);
            }
            for (line_number, line) in lines.into_iter().take(source.rules.max_resources) {
                let key = format!("{key} line {}", line_number + 1);
                let resource = legacy_resource(line);
                let name = resource.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
                if resources.iter().any(|known: &ResourceConfig| known.name == name) {
                    problems.add(&key, format!("resource `{name}` is given twice"));
                    continue;
                }
                if let Some(resource) = read_resource(&name, &resource, &key, push_enabled, problems) {
                    resources.push(resource);
                }
            }
        }
        (None, None) => {}
    }
    if events_enabled && resources.is_empty() && problems.problems.len() == before {
        problems.add(config_key(POLLER), "missing: events are enabled but no resource is polled");
    }
    if problems.problems.len() > before {
        return None;
    }
    Some(InstanceConfig {
        name,
        element_key: element_key.to_owned(),
        tags,
        connection: connection?,
        events_enabled,
        callback_url,
        signature_key,
        format,
        refresh_interval,
        push_refresh_interval,
        resources,
    })
}

/// The configuration with `${env:...}` / `${file:...}` values replaced.
fn resolve_secrets(
    configuration: &Map<String, Value>,
    source: &Source<'_>,
    problems: &mut Collector<'_>,
) -> Map<String, Value> {
    configuration
        .iter()
        .map(|(key, value)| {
            let resolved = match value {
                Value::String(text) => match secrets::resolve(text, source.base_dir) {
                    Ok(Some(secret)) => Value::String(secret),
                    Ok(None) => value.clone(),
                    Err(message) => {
                        problems.add(source.key(&format!("configuration.\"{key}\"")), message);
                        Value::Null
                    }
                },
                _ => value.clone(),
            };
            (key.clone(), resolved)
        })
        .collect()
}

/// `resource|url|filterByUpdatedDate|updatedField|updatedFormat|tz|createdField|createdFormat|tz`
/// as the object form of the same resource.
fn legacy_resource(line: &str) -> Value {
    let parts: Vec<&str> = line.trim().split('|').map(str::trim).collect();
    let part = |i: usize| parts.get(i).copied().filter(|p| !p.is_empty());
    let mut resource = serde_json::json!({"name": part(0).unwrap_or_default(), "url": part(1).unwrap_or_default()});
    if let Some(filter) = part(2) {
        resource["filterByUpdatedDate"] = Value::String(filter.into());
    }
    let mut dates = Map::new();
    for (index, key) in [
        (3, "updatedDateField"),
        (4, "updatedDateFormat"),
        (5, "updatedDateTimezone"),
        (6, "createdDateField"),
        (7, "createdDateFormat"),
        (8, "createdDateTimezone"),
    ] {
        if let Some(value) = part(index) {
            dates.insert(key.into(), Value::String(value.into()));
        }
    }
    resource["datesConfiguration"] = Value::Object(dates);
    resource
}

/// The created and updated fields Autotask entities use, for resources that do not say.
pub fn default_date_fields(entity: &str) -> Option<(&'static str, &'static str)> {
    Some(match entity {
        "Tickets" | "Companies" | "Contacts" => ("createDate", "lastActivityDate"),
        "TicketNotes" => ("createDateTime", "lastActivityDate"),
        "Projects" | "Tasks" => ("createDateTime", "lastActivityDateTime"),
        "TimeEntries" => ("createDateTime", "lastModifiedDateTime"),
        _ => return None,
    })
}

/// Reads one resource; `push_enabled` (`event.push.enabled`) turns push on
/// for it when its entity has webhooks, unless it says `"push": false`.
fn read_resource(
    name: &str,
    value: &Value,
    key: &str,
    push_enabled: bool,
    problems: &mut Collector<'_>,
) -> Option<ResourceConfig> {
    let before = problems.problems.len();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        problems
            .add(key, format!("resource name `{name}` must be letters, digits, `-` or `_` (it names the plugin file)"));
    }
    let Some(object) = value.as_object() else {
        problems.add(key, "a resource is an object with at least `url`");
        return None;
    };
    let text = |field: &str, max: usize, problems: &mut Collector<'_>| match object.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => match too_long(text, max) {
            Some(message) => {
                problems.add(format!("{key}.{field}"), message);
                None
            }
            None => Some(text.trim()).filter(|text| !text.is_empty()),
        },
        Some(other) => {
            problems.add(format!("{key}.{field}"), format!("must be text, not {}", type_name(other)));
            None
        }
    };
    let url = text("url", MAX_VALUE_CHARS, problems).unwrap_or_default().to_owned();
    let (template, entity) = if url.is_empty() {
        problems.add(format!("{key}.url"), "missing: the resource needs a poll URL");
        (None, String::new())
    } else {
        match UrlTemplate::new(&url) {
            Err(error) => {
                problems.add(format!("{key}.url"), error.to_string());
                (None, String::new())
            }
            Ok(template) => {
                // Render at a sample time to check the CEQL and the path now, not at the first poll.
                let sample = Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0).single().expect("a valid date");
                let rendered = template.render(sample, &simple_date_format::Zone::Utc);
                match autotask_query(&rendered) {
                    Ok(query) => (Some(template), query.entity),
                    Err(error) => {
                        problems.add(format!("{key}.url"), error.to_string());
                        (None, String::new())
                    }
                }
            }
        }
    };
    let id_field = text("idField", MAX_FIELD_CHARS, problems).unwrap_or("id").to_owned();
    let page_size = match object.get("pageSize") {
        None | Some(Value::Null) => None,
        Some(value) => match finite_number(value) {
            Some(n) if (1.0..=500.0).contains(&n) && n.fract() == 0.0 => Some(n as u32),
            _ => {
                problems.add(
                    format!("{key}.pageSize"),
                    format!("{value} is not a whole number from 1 to 500 (Autotask's page limit)"),
                );
                None
            }
        },
    };
    let seconds = |field: &str, problems: &mut Collector<'_>| match object.get(field) {
        None | Some(Value::Null) => 0.0,
        Some(value) => match finite_number(value) {
            Some(n) if (0.0..=MAX_DELAY_SECONDS).contains(&n) => n,
            _ => {
                let message = format!("{} is not a number of seconds from 0 to {MAX_DELAY_SECONDS}", short(value));
                problems.add(format!("{key}.{field}"), message);
                0.0
            }
        },
    };
    let poll_delay = Duration::from_secs_f64(seconds("pollDelay", problems));
    let deletion_poll_interval = match object.get("deletionPollInterval") {
        None | Some(Value::Null) => None,
        Some(_) => Some(Duration::from_secs_f64(seconds("deletionPollInterval", problems))),
    };
    let created_check_tolerance_seconds = match object.get("createdCheckTolerance") {
        None => 1,
        Some(_) => seconds("createdCheckTolerance", problems) as u32,
    };
    let filter_by_updated_date = match object.get("filterByUpdatedDate") {
        None => true,
        Some(value) => flag(value).unwrap_or_else(|| {
            problems.add(format!("{key}.filterByUpdatedDate"), format!("{value} is not true or false"));
            true
        }),
    };
    let webhooks = crate::source::webhooks::webhook_entity(&entity).is_some();
    let push = match object.get("push") {
        None | Some(Value::Null) => push_enabled && webhooks,
        Some(value) => match flag(value) {
            Some(true) if !webhooks && !entity.is_empty() => {
                let message = format!(
                    "{entity} has no Autotask webhooks (Tickets, TicketNotes, Companies, Contacts and \
                     ConfigurationItems do): it can only be polled"
                );
                problems.add(format!("{key}.push"), message);
                false
            }
            Some(push) => push,
            None => {
                problems.add(format!("{key}.push"), format!("{value} is not true or false"));
                false
            }
        },
    };
    let dates = read_dates(object.get("datesConfiguration"), &format!("{key}.datesConfiguration"), problems);
    let defaults = default_date_fields(&entity);
    let date_field = |which: &str, default: Option<&str>, problems: &mut Collector<'_>| {
        let field_key = format!("{which}DateField");
        let field = dates.get(&field_key).and_then(Value::as_str).filter(|s| !s.is_empty()).or(default)?;
        let pattern = dates.get(&format!("{which}DateFormat")).and_then(Value::as_str).unwrap_or(AUTOTASK_DATE_PATTERN);
        let zone = dates.get(&format!("{which}DateTimezone")).and_then(Value::as_str).filter(|s| !s.is_empty());
        match DateFormat::new(pattern, zone) {
            Ok(format) => Some(DateField { field: field.to_owned(), format }),
            Err(error) => {
                problems.add(format!("{key}.datesConfiguration.{which}DateFormat"), error.to_string());
                None
            }
        }
    };
    let updated = date_field("updated", defaults.map(|d| d.1), problems);
    let created = date_field("created", defaults.map(|d| d.0), problems);
    if updated.is_none() && !entity.is_empty() && problems.problems.len() == before {
        problems.add(
            format!("{key}.datesConfiguration.updatedDateField"),
            format!("missing: {entity} has no known change field, so say which field records its last change"),
        );
    }
    if problems.problems.len() > before {
        return None;
    }
    Some(ResourceConfig {
        name: name.to_owned(),
        url,
        template: template?,
        entity,
        id_field,
        page_size,
        poll_delay,
        deletion_poll_interval,
        filter_by_updated_date,
        created_check_tolerance_seconds,
        updated,
        created,
        push,
    })
}

/// A boolean, also written as a string (Cloud Elements bodies often quote them).
fn flag(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// The poller configuration key of a Cloud Elements body.
const POLLER: &str = "event.poller.configuration";

/// Why the connection settings cannot be read: a problem at one
/// configuration key, or one the connection reader reports.
enum ConnectionProblem {
    At(String, String),
    Connection(ConnectionError),
}

/// The Autotask connection of a configuration. The host's integration code
/// fills in a missing one only for an Autotask host: it is the operator's
/// credential, not to be sent where an API caller points. The server URL
/// must be one the egress policy allows.
fn connection(
    element_key: &str,
    configuration: &Map<String, Value>,
    source: &Source<'_>,
) -> Result<Connection, ConnectionProblem> {
    let prefix = crate::source::credentials::key_prefix(element_key).map_err(ConnectionProblem::Connection)?;
    let server_key = format!("{prefix}.server.url");
    let server_url = configuration.get(&server_key).and_then(Value::as_str).unwrap_or_default().trim();
    if let Ok(url) = reqwest::Url::parse(server_url) {
        source.rules.egress.check_url(&url).map_err(|message| ConnectionProblem::At(server_key.clone(), message))?;
    }
    match Connection::from_configuration(element_key, configuration, None) {
        Err(ConnectionError::MissingIntegrationCode { key }) if source.host_integration_code.is_some() => {
            if !source.rules.autotask_hosts.trusts_text(server_url) {
                let message = format!(
                    "missing: the host's integration code is only sent to Autotask (https://*.autotask.net) and \
                     the hosts in [server] allowed_autotask_hosts, and `{server_key}` is neither; give the instance \
                     its own `{key}`"
                );
                return Err(ConnectionProblem::At(key, message));
            }
            Connection::from_configuration(element_key, configuration, source.host_integration_code)
        }
        other => other,
    }
    .map_err(ConnectionProblem::Connection)
}

/// An instance's tags: text, at most [`MAX_TAGS`] of at most [`MAX_TAG_CHARS`] characters.
fn read_tags(value: Option<&Value>, key: &str, problems: &mut Collector<'_>) -> Vec<String> {
    let tags = match value {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(tags)) => tags,
        Some(other) => {
            problems.add(key, format!("must be an array of text, not {}", type_name(other)));
            return Vec::new();
        }
    };
    if tags.len() > MAX_TAGS {
        problems.add(key, format!("{} tags: at most {MAX_TAGS}", tags.len()));
        return Vec::new();
    }
    let mut read = Vec::new();
    for (index, tag) in tags.iter().enumerate() {
        match tag.as_str().map(|text| (text, too_long(text, MAX_TAG_CHARS))) {
            Some((text, None)) => read.push(text.to_owned()),
            Some((_, Some(message))) => problems.add(format!("{key}[{index}]"), message),
            None => problems.add(format!("{key}[{index}]"), format!("must be text, not {}", type_name(tag))),
        }
    }
    read
}

/// A resource's `datesConfiguration`: an object of text values (field names,
/// patterns, time zones), each of bounded length.
fn read_dates(value: Option<&Value>, key: &str, problems: &mut Collector<'_>) -> Map<String, Value> {
    let dates = match value {
        None | Some(Value::Null) => return Map::new(),
        Some(Value::Object(dates)) => dates,
        Some(other) => {
            problems.add(key, format!("must be an object (`updatedDateField`, ...), not {}", type_name(other)));
            return Map::new();
        }
    };
    let mut read = Map::new();
    for (name, value) in dates {
        let max = if name.ends_with("Format") { MAX_PATTERN_CHARS } else { MAX_FIELD_CHARS };
        let problem = match value {
            Value::Null => None,
            Value::String(text) => too_long(text, max),
            other => Some(format!("must be text, not {}", type_name(other))),
        };
        match problem {
            // Left out, so nothing reads a value already refused.
            Some(message) => problems.add(format!("{key}.{name}"), message),
            None => {
                read.insert(name.clone(), value.clone());
            }
        }
    }
    read
}

/// A value as a problem quotes it: at most 40 characters of it.
fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(40) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}
