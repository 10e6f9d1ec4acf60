//! The form's values: what it offers by default, what an instance's settings
//! fill in, what the browser sent, and the Cloud Elements body they stand for.

use engine::config::default_date_fields;
use engine::manage::views::{InstanceView, ResourceSettings};
use engine::source::credentials::key_prefix;
use serde_json::{Map, Value, json};

/// The resources offered by default: name, label, hub path, Autotask entity.
pub(super) const DEFAULT_RESOURCES: [(&str, &str, &str, &str); 4] = [
    ("incidents", "Tickets (incidents)", "/hubs/helpdesk/incidents", "Tickets"),
    ("accounts", "Companies (accounts)", "/hubs/crm/accounts", "Companies"),
    ("contacts", "Contacts", "/hubs/crm/contacts", "Contacts"),
    ("comments", "Ticket notes (comments)", "/hubs/helpdesk/comments", "TicketNotes"),
];
/// Autotask's dates, as the default `datesConfiguration` reads them.
pub(super) const DATE_FORMAT: &str = "yyyy-MM-dd'T'HH:mm:ss'Z'";
pub(super) const DEFAULT_SERVER_URL: &str = "https://webservices.autotask.net";
pub(super) const DEFAULT_INTERVAL: &str = "15";
pub(super) const POLLER: &str = "event.poller.configuration";

/// The form's values, as shown and as submitted.
#[derive(Debug, Clone, Default)]
pub(super) struct InstanceForm {
    pub(super) element: String,
    pub(super) username: String,
    /// Secrets are never shown; empty while editing means "keep".
    pub(super) password: String,
    pub(super) integration_code: String,
    pub(super) server_url: String,
    pub(super) events_enabled: bool,
    pub(super) callback_url: String,
    pub(super) signature_key: String,
    pub(super) interval: String,
    pub(super) resources: Vec<ResourceForm>,
    pub(super) name: String,
    pub(super) tags: String,
}

#[derive(Debug, Clone, Default)]
pub(super) struct ResourceForm {
    pub(super) name: String,
    pub(super) label: String,
    pub(super) checked: bool,
    pub(super) url: String,
    pub(super) id_field: String,
    /// `updatedDateField`, `updatedDateFormat`, `createdDateField`, `createdDateFormat`.
    pub(super) dates: [String; 4],
}

pub(super) const DATE_KEYS: [(&str, &str); 4] = [
    ("updatedDateField", "Updated date field"),
    ("updatedDateFormat", "Updated date format"),
    ("createdDateField", "Created date field"),
    ("createdDateFormat", "Created date format"),
];

impl ResourceForm {
    /// A resource with Cloud Elements-style defaults: poll what changed since the last poll.
    pub(super) fn default_for(name: &str) -> ResourceForm {
        let known = DEFAULT_RESOURCES.iter().find(|(known, ..)| *known == name);
        match known {
            Some((name, label, hub, entity)) => {
                let (created, updated) = default_date_fields(entity).expect("every default entity has date fields");
                ResourceForm {
                    name: (*name).into(),
                    label: (*label).into(),
                    checked: *name == "incidents",
                    url: format!("{hub}?where={updated}>='${{date:yyyy-MM-dd'T'HH:mm:ssZ}}'"),
                    id_field: "id".into(),
                    dates: [updated.into(), DATE_FORMAT.into(), created.into(), DATE_FORMAT.into()],
                }
            }
            // A plugin file with no default: the user says what to poll.
            None => ResourceForm {
                name: name.into(),
                label: format!("{name} (plugin file)"),
                id_field: "id".into(),
                ..ResourceForm::default()
            },
        }
    }

    pub(super) fn from_settings(settings: &ResourceSettings) -> ResourceForm {
        ResourceForm {
            checked: true,
            url: settings.url.clone(),
            id_field: settings.id_field.clone(),
            dates: [
                settings.updated_date_field.clone(),
                settings.updated_date_format.clone(),
                settings.created_date_field.clone(),
                settings.created_date_format.clone(),
            ],
            ..ResourceForm::default_for(&settings.name)
        }
    }
}

impl InstanceForm {
    pub(super) fn new(plugin_names: &[String]) -> InstanceForm {
        InstanceForm {
            element: "autotaskcrm".into(),
            server_url: DEFAULT_SERVER_URL.into(),
            events_enabled: true,
            interval: DEFAULT_INTERVAL.into(),
            resources: resource_names(plugin_names, []).iter().map(|name| ResourceForm::default_for(name)).collect(),
            ..InstanceForm::default()
        }
    }

    /// The form for an instance as the service layer shows it (secrets are
    /// never shown, so they are left empty).
    pub(super) fn from_view(view: &InstanceView, plugin_names: &[String]) -> InstanceForm {
        let settings = &view.settings;
        let polled = |name: &str| settings.resources.iter().find(|resource| resource.name == name);
        let resources = resource_names(plugin_names, settings.resources.iter().map(|resource| resource.name.clone()))
            .iter()
            .map(|name| match polled(name) {
                Some(resource) => ResourceForm::from_settings(resource),
                None => ResourceForm { checked: false, ..ResourceForm::default_for(name) },
            })
            .collect();
        InstanceForm {
            element: view.element_key.clone().unwrap_or_default(),
            username: settings.username.clone(),
            server_url: settings.server_url.clone(),
            events_enabled: view.events_enabled,
            callback_url: settings.callback_url.clone(),
            interval: settings.refresh_interval.clone(),
            resources,
            name: view.name.clone().unwrap_or_default(),
            tags: view.tags.join(", "),
            ..InstanceForm::default()
        }
    }

    /// The form as the browser sent it.
    pub(super) fn submitted(fields: &[(String, String)], plugin_names: &[String]) -> InstanceForm {
        let value = |name: &str| fields.iter().find(|(key, _)| key == name).map(|(_, v)| v.trim().to_owned());
        let text = |name: &str| value(name).unwrap_or_default();
        let checked: Vec<&str> = fields.iter().filter(|(key, _)| key == "resource").map(|(_, v)| v.as_str()).collect();
        let posted = fields.iter().filter_map(|(key, _)| key.strip_suffix(".url")).map(str::to_owned);
        let resources = resource_names(plugin_names, posted)
            .iter()
            .map(|name| ResourceForm {
                checked: checked.contains(&name.as_str()),
                url: text(&format!("{name}.url")),
                id_field: text(&format!("{name}.idField")),
                dates: DATE_KEYS.map(|(key, _)| text(&format!("{name}.{key}"))),
                ..ResourceForm::default_for(name)
            })
            .collect();
        InstanceForm {
            element: value("element").unwrap_or_else(|| "autotaskcrm".into()),
            username: text("username"),
            password: text("password"),
            integration_code: text("integration_code"),
            server_url: text("server_url"),
            events_enabled: value("events_enabled").is_some(),
            callback_url: text("callback_url"),
            signature_key: text("signature_key"),
            interval: text("interval"),
            resources,
            name: text("name"),
            tags: text("tags"),
        }
    }

    /// The Cloud Elements body this form stands for. Creating, empty fields are
    /// left out (the API says what is missing); editing, it is a merge patch:
    /// empty secrets are left out (kept), other emptied fields and unticked
    /// resources are `null` (removed).
    pub(super) fn body(&self, editing: bool) -> Value {
        let prefix = prefix(&self.element);
        let mut configuration = Map::new();
        let mut put = |key: String, value: &str, secret: bool| {
            if !value.is_empty() {
                configuration.insert(key, Value::String(value.into()));
            } else if editing && !secret {
                configuration.insert(key, Value::Null);
            }
        };
        put(format!("{prefix}.username"), &self.username, false);
        put(format!("{prefix}.password"), &self.password, true);
        put(format!("{prefix}.integration.code"), &self.integration_code, true);
        put(format!("{prefix}.server.url"), &self.server_url, false);
        put("event.notification.callback.url".into(), &self.callback_url, false);
        put("event.notification.signature.key".into(), &self.signature_key, true);
        put("event.poller.refresh_interval".into(), &self.interval, false);
        configuration.insert("event.notification.enabled".into(), Value::Bool(self.events_enabled));
        let mut poller = Map::new();
        for resource in &self.resources {
            if !resource.checked {
                if editing {
                    poller.insert(resource.name.clone(), Value::Null);
                }
                continue;
            }
            let mut dates = Map::new();
            for ((key, _), value) in DATE_KEYS.iter().zip(&resource.dates) {
                if !value.is_empty() {
                    dates.insert((*key).into(), Value::String(value.clone()));
                } else if editing {
                    dates.insert((*key).into(), Value::Null);
                }
            }
            poller.insert(
                resource.name.clone(),
                json!({"url": resource.url, "idField": resource.id_field, "datesConfiguration": dates}),
            );
        }
        configuration.insert(POLLER.into(), Value::Object(poller));
        let tags: Vec<&str> = self.tags.split(',').map(str::trim).filter(|tag| !tag.is_empty()).collect();
        json!({
            "element": {"key": self.element},
            "name": self.name,
            "tags": tags,
            "configuration": configuration,
        })
    }
}

/// `crm.autotask` or `helpdesk.autotask`; the form only offers those two elements.
pub(super) fn prefix(element: &str) -> &'static str {
    key_prefix(element).unwrap_or("crm.autotask")
}

/// The defaults, then each plugin file's resource, then any others, once each.
pub(super) fn resource_names(plugin_names: &[String], others: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut names: Vec<String> = DEFAULT_RESOURCES.iter().map(|(name, ..)| (*name).to_owned()).collect();
    for name in plugin_names.iter().cloned().chain(others) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

pub(super) fn config_path(key: &str) -> String {
    format!("$.configuration['{key}']")
}

pub(super) fn resource_path(resource: &str, key: &str) -> String {
    format!("{}.{resource}.{key}", config_path(POLLER))
}

/// The JSON path of every field of the form.
pub(super) fn field_paths(form: &InstanceForm) -> Vec<String> {
    let prefix = prefix(&form.element);
    let mut paths = vec!["$.name".into(), "$.tags".into(), "$.element".into(), config_path(POLLER)];
    for key in ["username", "password", "integration.code", "server.url"] {
        paths.push(config_path(&format!("{prefix}.{key}")));
    }
    for key in [
        "event.notification.enabled",
        "event.notification.callback.url",
        "event.notification.signature.key",
        "event.poller.refresh_interval",
    ] {
        paths.push(config_path(key));
    }
    for resource in &form.resources {
        paths.push(format!("{}.{}", config_path(POLLER), resource.name));
        paths.push(resource_path(&resource.name, "url"));
        paths.push(resource_path(&resource.name, "idField"));
        for (key, _) in DATE_KEYS {
            paths.push(resource_path(&resource.name, &format!("datesConfiguration.{key}")));
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(fields: &[(&str, &str)]) -> Vec<(String, String)> {
        fields.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
    }

    #[test]
    fn a_submitted_form_is_the_cloud_elements_body() {
        let fields = pairs(&[
            ("element", "autotaskcrm"),
            ("username", "api@example.com"),
            ("password", "pw"),
            ("server_url", "https://ww2.autotask.net"),
            ("events_enabled", "true"),
            ("callback_url", "https://app.example.com/hook"),
            ("interval", "5"),
            ("resource", "contacts"),
            ("incidents.url", "/hubs/helpdesk/incidents"),
            ("contacts.url", "/hubs/crm/contacts?where=id>0"),
            ("contacts.idField", "id"),
            ("contacts.updatedDateField", "lastActivityDate"),
            ("name", "Mine"),
            ("tags", "a, b,,"),
        ]);
        let body = InstanceForm::submitted(&fields, &[]).body(false);
        assert_eq!(body["element"]["key"], "autotaskcrm");
        assert_eq!(body["tags"], json!(["a", "b"]));
        let configuration = &body["configuration"];
        assert_eq!(configuration["crm.autotask.password"], "pw");
        assert!(configuration.get("crm.autotask.integration.code").is_none(), "left to the host's");
        assert_eq!(configuration["event.notification.enabled"], true);
        assert_eq!(configuration["event.poller.refresh_interval"], "5");
        let poller = configuration[POLLER].as_object().unwrap();
        assert_eq!(poller.keys().collect::<Vec<_>>(), ["contacts"], "only ticked resources");
        assert_eq!(poller["contacts"]["datesConfiguration"], json!({"updatedDateField": "lastActivityDate"}));
    }

    #[test]
    fn an_edit_keeps_empty_secrets_and_removes_unticked_resources() {
        let fields = pairs(&[("element", "autotaskhelpdesk"), ("username", "u"), ("incidents.url", "/x")]);
        let body = InstanceForm::submitted(&fields, &[]).body(true);
        let configuration = &body["configuration"];
        assert!(configuration.get("helpdesk.autotask.password").is_none(), "kept as stored");
        assert_eq!(configuration["event.notification.callback.url"], Value::Null);
        assert_eq!(configuration[POLLER]["incidents"], Value::Null);
    }
}
