//! The create and edit form, in the order of the Cloud Elements UI: Autotask
//! credentials (with a connection test), events, the resources to poll (with a
//! live preview of each URL and the Autotask query it becomes), then the name.
//! A submitted form becomes the same JSON body `POST /instances` takes, and
//! goes to the API's own handler; its errors come back by JSON path and are
//! shown next to the field they name.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use chrono::Utc;
use maud::{Markup, html};
use serde_json::{Map, Value, json};

use super::layout::{Page, csrf_field, page, text};
use super::session::Session;
use super::{Console, Fields, error_page, no_token};
use crate::api::body::merge_patch;
use crate::api::error::{ApiError, JsonBody};
use crate::api::instances::{self as api_instances, check_credentials};
use crate::api::{configured, stored_body};
use crate::service::poll::blocking;
use crate::source::hub::autotask_query;
use crate::source::template::UrlTemplate;

/// The resources offered by default: name, label, hub path, created-date field.
const DEFAULT_RESOURCES: [(&str, &str, &str, &str); 4] = [
    ("incidents", "Tickets (incidents)", "/hubs/helpdesk/incidents", "createDate"),
    ("accounts", "Companies (accounts)", "/hubs/crm/accounts", "createDate"),
    ("contacts", "Contacts", "/hubs/crm/contacts", "createDate"),
    ("comments", "Ticket notes (comments)", "/hubs/helpdesk/comments", "createDateTime"),
];
/// Autotask's dates, as the default `datesConfiguration` reads them.
const DATE_FORMAT: &str = "yyyy-MM-dd'T'HH:mm:ss'Z'";
const DEFAULT_SERVER_URL: &str = "https://webservices.autotask.net";
const DEFAULT_INTERVAL: &str = "15";
const POLLER: &str = "event.poller.configuration";

/// The form's values, as shown and as submitted.
#[derive(Debug, Clone, Default)]
struct InstanceForm {
    element: String,
    username: String,
    /// Secrets are never shown; empty while editing means "keep".
    password: String,
    integration_code: String,
    server_url: String,
    events_enabled: bool,
    callback_url: String,
    signature_key: String,
    interval: String,
    resources: Vec<ResourceForm>,
    name: String,
    tags: String,
}

#[derive(Debug, Clone, Default)]
struct ResourceForm {
    name: String,
    label: String,
    checked: bool,
    url: String,
    id_field: String,
    /// `updatedDateField`, `updatedDateFormat`, `createdDateField`, `createdDateFormat`.
    dates: [String; 4],
}

const DATE_KEYS: [(&str, &str); 4] = [
    ("updatedDateField", "Updated date field"),
    ("updatedDateFormat", "Updated date format"),
    ("createdDateField", "Created date field"),
    ("createdDateFormat", "Created date format"),
];

impl ResourceForm {
    /// A resource with Cloud Elements-style defaults: poll what changed since the last poll.
    fn default_for(name: &str) -> ResourceForm {
        let known = DEFAULT_RESOURCES.iter().find(|(known, ..)| *known == name);
        match known {
            Some((name, label, hub, created)) => ResourceForm {
                name: (*name).into(),
                label: (*label).into(),
                checked: *name == "incidents",
                url: format!("{hub}?where=lastActivityDate>='${{date:yyyy-MM-dd'T'HH:mm:ssZ}}'"),
                id_field: "id".into(),
                dates: ["lastActivityDate".into(), DATE_FORMAT.into(), (*created).into(), DATE_FORMAT.into()],
            },
            // A plugin file with no default: the user says what to poll.
            None => ResourceForm {
                name: name.into(),
                label: format!("{name} (plugin file)"),
                id_field: "id".into(),
                ..ResourceForm::default()
            },
        }
    }

    fn from_configuration(name: &str, value: &Value) -> ResourceForm {
        let dates = &value["datesConfiguration"];
        ResourceForm {
            checked: true,
            url: value["url"].as_str().unwrap_or_default().into(),
            id_field: value["idField"].as_str().unwrap_or("id").into(),
            dates: DATE_KEYS.map(|(key, _)| dates[key].as_str().unwrap_or_default().to_owned()),
            ..ResourceForm::default_for(name)
        }
    }
}

impl InstanceForm {
    fn new(plugin_names: &[String]) -> InstanceForm {
        InstanceForm {
            element: "autotaskcrm".into(),
            server_url: DEFAULT_SERVER_URL.into(),
            events_enabled: true,
            interval: DEFAULT_INTERVAL.into(),
            resources: resource_names(plugin_names, []).iter().map(|name| ResourceForm::default_for(name)).collect(),
            ..InstanceForm::default()
        }
    }

    /// The form for an instance as `GET /instances/{id}` shows it (secrets masked, so left empty).
    fn from_view(view: &Value, plugin_names: &[String]) -> InstanceForm {
        let element = text(&view["element"]["key"]);
        let prefix = prefix(&element);
        let configuration = &view["configuration"];
        let value = |key: &str| configuration[key].as_str().unwrap_or_default().to_owned();
        let polled = configuration[POLLER].as_object().cloned().unwrap_or_default();
        let resources = resource_names(plugin_names, polled.keys().cloned())
            .iter()
            .map(|name| match polled.get(name) {
                Some(value) => ResourceForm::from_configuration(name, value),
                None => ResourceForm { checked: false, ..ResourceForm::default_for(name) },
            })
            .collect();
        InstanceForm {
            username: value(&format!("{prefix}.username")),
            server_url: value(&format!("{prefix}.server.url")),
            events_enabled: matches!(&configuration["event.notification.enabled"], Value::Bool(true))
                || configuration["event.notification.enabled"] == "true",
            callback_url: value("event.notification.callback.url"),
            interval: text(&configuration["event.poller.refresh_interval"]).replace('—', ""),
            resources,
            name: text(&view["name"]),
            tags: view["tags"]
                .as_array()
                .map(|tags| tags.iter().map(text).collect::<Vec<_>>().join(", "))
                .unwrap_or_default(),
            element,
            ..InstanceForm::default()
        }
    }

    /// The form as the browser sent it.
    fn submitted(fields: &[(String, String)], plugin_names: &[String]) -> InstanceForm {
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
    fn body(&self, editing: bool) -> Value {
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

/// `crm.autotask` or `helpdesk.autotask`.
fn prefix(element: &str) -> &'static str {
    if element == "autotaskhelpdesk" { "helpdesk.autotask" } else { "crm.autotask" }
}

/// The defaults, then each plugin file's resource, then any others, once each.
fn resource_names(plugin_names: &[String], others: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut names: Vec<String> = DEFAULT_RESOURCES.iter().map(|(name, ..)| (*name).to_owned()).collect();
    for name in plugin_names.iter().cloned().chain(others) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// The resources a plugin file in the plugin directory exists for (`contacts.wasm` → `contacts`).
fn plugin_resources(console: &Console) -> Vec<String> {
    let dir = &console.api.shared.settings.plugin_dir;
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| crate::service::plugins::is_plugin_file(path))
        .filter_map(|path| path.file_stem().map(|stem| stem.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names
}

/// Where the form is going.
enum Mode<'a> {
    Create,
    Edit { id: &'a str },
}

/// Errors by the JSON path the API gave, placed at the field each names.
struct Errors {
    at_field: BTreeMap<String, Vec<String>>,
    all: Vec<(String, String)>,
}

impl Errors {
    fn none() -> Errors {
        Errors { at_field: BTreeMap::new(), all: Vec::new() }
    }

    /// Each error goes to the field whose path is the longest prefix of its own.
    fn place(all: Vec<(String, String)>, form: &InstanceForm) -> Errors {
        let fields = field_paths(form);
        let mut at_field: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (path, message) in &all {
            let owner = fields
                .iter()
                .filter(|field| {
                    path == *field
                        || path.strip_prefix(field.as_str()).is_some_and(|rest| rest.starts_with(['.', ' ', '[']))
                })
                .max_by_key(|field| field.len());
            if let Some(owner) = owner {
                at_field.entry(owner.clone()).or_default().push(message.clone());
            }
        }
        Errors { at_field, all }
    }

    fn from_api(error: &ApiError, form: &InstanceForm) -> Errors {
        let all = if error.problems.is_empty() {
            vec![(error.field.clone().unwrap_or_else(|| "$".into()), error.message.clone())]
        } else {
            error.problems.clone()
        };
        Errors::place(all, form)
    }

    fn at(&self, path: &str) -> &[String] {
        self.at_field.get(path).map(Vec::as_slice).unwrap_or_default()
    }
}

fn config_path(key: &str) -> String {
    format!("$.configuration['{key}']")
}

fn resource_path(resource: &str, key: &str) -> String {
    format!("{}.{resource}.{key}", config_path(POLLER))
}

/// The JSON path of every field of the form.
fn field_paths(form: &InstanceForm) -> Vec<String> {
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

/// An element id for a JSON path: its words joined by `-`.
fn field_id(path: &str) -> String {
    let words: Vec<&str> = path.split(|c: char| !c.is_ascii_alphanumeric()).filter(|word| !word.is_empty()).collect();
    format!("field-{}", words.join("-"))
}

/// One labelled input with its hint and errors, wired up for screen readers.
struct Field<'a> {
    label: &'a str,
    name: String,
    path: String,
    value: &'a str,
    kind: &'static str,
    hint: Option<&'a str>,
    required: bool,
    /// Shown under the input (the URL preview).
    after: Option<Markup>,
}

impl<'a> Field<'a> {
    /// A text input for `path`, named `name` in the form.
    fn new(label: &'a str, name: impl Into<String>, path: String, value: &'a str) -> Self {
        Field { label, name: name.into(), path, value, kind: "text", hint: None, required: false, after: None }
    }

    fn kind(self, kind: &'static str) -> Self {
        Field { kind, ..self }
    }

    fn hint(self, hint: impl Into<Option<&'a str>>) -> Self {
        Field { hint: hint.into(), ..self }
    }

    fn required(self, required: bool) -> Self {
        Field { required, ..self }
    }

    fn after(self, markup: Markup) -> Self {
        Field { after: Some(markup), ..self }
    }

    fn render(&self, errors: &Errors) -> Markup {
        let id = field_id(&self.path);
        let messages = errors.at(&self.path);
        let hint_id = format!("{id}-hint");
        let error_id = format!("{id}-error");
        let described: Vec<&str> =
            [self.hint.map(|_| hint_id.as_str()), (!messages.is_empty()).then_some(error_id.as_str())]
                .into_iter()
                .flatten()
                .collect();
        html! {
            div .field .invalid[!messages.is_empty()] {
                label for=(id) { (self.label) }
                @if let Some(hint) = self.hint { span .hint #(hint_id) { (hint) } }
                @if !messages.is_empty() {
                    span .field-error #(error_id) { @for message in messages { (message) br; } }
                }
                // A secret is never sent back to the browser, not even the one just typed.
                input #(id) type=(self.kind) name=(self.name.as_str()) value=(if self.kind == "password" { "" } else { self.value })
                    required[self.required]
                    autocomplete="off" spellcheck="false"
                    aria-invalid=[(!messages.is_empty()).then_some("true")]
                    aria-describedby=[(!described.is_empty()).then(|| described.join(" "))]
                    data-path=(self.path);
                @if let Some(after) = &self.after { (after) }
            }
        }
    }
}

fn form_page(
    session: &Session,
    form: &InstanceForm,
    mode: Mode<'_>,
    errors: &Errors,
    connection: Option<Markup>,
    status: StatusCode,
) -> Response {
    let prefix = prefix(&form.element);
    let editing = matches!(mode, Mode::Edit { .. });
    let (title, action, submit) = match mode {
        Mode::Create => ("Create instance".to_owned(), "/console/instances".to_owned(), "Create instance"),
        Mode::Edit { id } => (format!("Edit {}", form.name), format!("/console/instances/{id}"), "Save changes"),
    };
    let secret_hint = editing.then_some("Leave empty to keep the stored value.");
    let instance_id = match mode {
        Mode::Edit { id } => Some(id),
        Mode::Create => None,
    };
    let enabled_path = config_path("event.notification.enabled");
    let credential = |suffix: &str| config_path(&format!("{prefix}.{suffix}"));
    let code_hint = if editing {
        "Leave empty to keep the stored value (or the host's)."
    } else {
        "Leave empty to use the host's [server] integration_code."
    };
    let body = html! {
        h1 { (title) }
        @if !errors.all.is_empty() {
            div .error-summary role="alert" aria-labelledby="error-summary-title" tabindex="-1" {
                h2 #error-summary-title { "There is a problem" }
                ul {
                    @for (path, message) in &errors.all {
                        li { a href={"#" (field_id(path))} { (message) } }
                    }
                }
            }
        }
        form method="post" action=(action) #instance-form novalidate {
            (csrf_field(session))
            @if let Some(id) = instance_id { input type="hidden" name="instance" value=(id); }
            fieldset #credentials {
                legend { "1. Autotask credentials" }
                div .field {
                    label for="field-element" { "Element" }
                    @if editing {
                        input type="hidden" name="element" value=(form.element);
                    }
                    select #field-element name="element" disabled[editing] {
                        option value="autotaskcrm" selected[form.element == "autotaskcrm"] { "Autotask CRM (autotaskcrm)" }
                        option value="autotaskhelpdesk" selected[form.element == "autotaskhelpdesk"] { "Autotask Helpdesk (autotaskhelpdesk)" }
                    }
                }
                (Field::new("API username", "username", credential("username"), &form.username)
                    .kind("email").hint("The API user's email address.").required(true).render(errors))
                (Field::new("API secret", "password", credential("password"), "")
                    .kind("password").hint(secret_hint).required(!editing).render(errors))
                (Field::new("Integration code", "integration_code", credential("integration.code"), "")
                    .kind("password").hint(code_hint).render(errors))
                (Field::new("Server URL", "server_url", credential("server.url"), &form.server_url)
                    .kind("url").hint("Where the zone lookup starts.").required(true).render(errors))
                div .actions {
                    button type="submit" .secondary formaction="/console/test-connection" formnovalidate
                        hx-post="/console/test-connection" hx-include="#instance-form" hx-target="#connection-result" hx-swap="innerHTML" {
                        "Test connection"
                    }
                    output #connection-result aria-live="polite" { @if let Some(connection) = connection { (connection) } }
                }
            }
            fieldset #events {
                legend { "2. Events" }
                div .choice {
                    input #(field_id(&enabled_path)) type="checkbox" name="events_enabled" value="true" checked[form.events_enabled];
                    label for=(field_id(&enabled_path)) { "Events enabled" }
                }
                (Field::new("Callback URL", "callback_url", config_path("event.notification.callback.url"), &form.callback_url)
                    .kind("url").hint("Each event batch is POSTed here, signed.").render(errors))
                (Field::new("Signature key", "signature_key", config_path("event.notification.signature.key"), "")
                    .kind("password").hint(secret_hint.unwrap_or("Signs each delivery (Elements-Webhook-Signature).")).render(errors))
                (Field::new("Polling interval (minutes)", "interval", config_path("event.poller.refresh_interval"), &form.interval)
                    .required(true).render(errors))
            }
            fieldset #resources {
                legend { "3. Resources to poll" }
                @for message in errors.at(&config_path(POLLER)) { p .field-error { (message) } }
                @for resource in &form.resources { (resource_fields(resource, errors)) }
            }
            fieldset #naming {
                legend { "4. Instance" }
                (Field::new("Name", "name", "$.name".into(), &form.name).required(true).render(errors))
                (Field::new("Tags", "tags", "$.tags".into(), &form.tags).hint("Separated by commas.").render(errors))
            }
            div .actions {
                button type="submit" { (submit) }
                a .button .secondary href=(instance_id.map(|id| format!("/console/instances/{id}")).unwrap_or_else(|| "/console/instances".into())) { "Cancel" }
            }
        }
    };
    let current = if editing { "" } else { "new" };
    (status, page(Page { title: &title, session: Some(session), current, body })).into_response()
}

fn resource_fields(resource: &ResourceForm, errors: &Errors) -> Markup {
    let name = &resource.name;
    let checkbox = format!("resource-{name}");
    let preview_id = format!("preview-{name}");
    let url_path = resource_path(name, "url");
    let preview_output = html! {
        output #(preview_id) .preview aria-live="polite" for=(field_id(&url_path)) { (preview(&resource.url)) }
    };
    html! {
        div .resource data-resource=(name) {
            div .choice {
                input #(checkbox) type="checkbox" name="resource" value=(name) checked[resource.checked];
                label for=(checkbox) { (resource.label) }
            }
            details open[resource.checked || errors.at_field.keys().any(|path| path.contains(&format!(".{name}.")))] {
                summary { "Poll configuration of " (name) }
                div .url-field
                    hx-post="/console/preview" hx-trigger="input changed delay:300ms from:find input" hx-target=(format!("#{preview_id}"))
                    hx-include="this" hx-vals=(json!({"resource": name}).to_string()) {
                    (Field::new("URL template", format!("{name}.url"), url_path.clone(), &resource.url)
                        .hint("${date:pattern} is the last poll time, in Java SimpleDateFormat.")
                        .required(resource.checked).after(preview_output).render(errors))
                }
                (Field::new("idField", format!("{name}.idField"), resource_path(name, "idField"), &resource.id_field).render(errors))
                div .dates {
                    @for ((key, label), value) in DATE_KEYS.iter().zip(&resource.dates) {
                        (Field::new(label, format!("{name}.{key}"), resource_path(name, &format!("datesConfiguration.{key}")), value).render(errors))
                    }
                }
            }
        }
    }
}

/// The URL rendered for a poll now, and the Autotask query it becomes; or why it cannot be.
fn preview(url: &str) -> Markup {
    if url.is_empty() {
        return html! { span .hint { "Enter a URL template to see the query." } };
    }
    let template = match UrlTemplate::new(url) {
        Ok(template) => template,
        Err(error) => return html! { span .field-error { (error.to_string()) } },
    };
    let rendered = template.render(Utc::now(), &simple_date_format::Zone::Utc);
    match autotask_query(&rendered) {
        Ok(query) => {
            let body = serde_json::to_string(&query.body).unwrap_or_default();
            html! {
                span .preview-label { "Polls now as " } code .rendered { (rendered) } br;
                span .preview-label { "Autotask query: " } code .query { "POST /v1.0/" (query.entity) "/query " (body) }
            }
        }
        Err(error) => html! { span .field-error { (error.to_string()) } },
    }
}

pub async fn new(State(console): State<Arc<Console>>, Extension(session): Extension<Session>) -> Response {
    let form = InstanceForm::new(&plugin_resources(&console));
    form_page(&session, &form, Mode::Create, &Errors::none(), None, StatusCode::OK)
}

pub async fn create(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Form(fields): Fields,
) -> Response {
    let form = InstanceForm::submitted(&fields, &plugin_resources(&console));
    match api_instances::create(State(console.api.clone()), JsonBody(form.body(false))).await {
        Ok(created) => {
            let id = text(&created.0["id"]);
            Redirect::to(&format!("/console/instances/{id}?notice=created")).into_response()
        }
        Err(error) => {
            let status = error.status;
            form_page(&session, &form, Mode::Create, &Errors::from_api(&error, &form), None, status)
        }
    }
}

pub async fn edit(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    let view = match super::instances::instance_view(&console, &session, &id).await {
        Ok(view) => view,
        Err(page) => return page,
    };
    if view["readOnly"] == true {
        let message = format!("instance `{id}` comes from the configuration file; change it in the file");
        return error_page(&session, StatusCode::FORBIDDEN, &message);
    }
    let form = InstanceForm::from_view(&view, &plugin_resources(&console));
    form_page(&session, &form, Mode::Edit { id: &id }, &Errors::none(), None, StatusCode::OK)
}

pub async fn update(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(fields): Fields,
) -> Response {
    let form = InstanceForm::submitted(&fields, &plugin_resources(&console));
    let patch = JsonBody(form.body(true));
    match api_instances::patch(State(console.api.clone()), Path(id.clone()), no_token(), patch).await {
        Ok(_) => Redirect::to(&format!("/console/instances/{id}?notice=changed")).into_response(),
        Err(error) => {
            let status = error.status;
            form_page(&session, &form, Mode::Edit { id: &id }, &Errors::from_api(&error, &form), None, status)
        }
    }
}

/// Asks Autotask whether it takes the credentials in the form, as `POST
/// /instances` will. While editing, empty secrets are the stored ones.
pub async fn test_connection(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
    Form(fields): Fields,
) -> Response {
    let form = InstanceForm::submitted(&fields, &[]);
    let instance = fields.iter().find(|(key, _)| key == "instance").map(|(_, value)| value.clone());
    let result = connection_result(&console, &form, instance.as_deref()).await;
    let shown = match &result {
        Ok(()) => html! { span .ok-text role="status" { "Connected: Autotask accepted the credentials." } },
        Err(message) => html! { span .field-error role="alert" { (message) } },
    };
    if headers.contains_key("hx-request") {
        return shown.into_response();
    }
    // Without JavaScript the whole form comes back, with the result in place.
    let mode = match &instance {
        Some(id) => Mode::Edit { id },
        None => Mode::Create,
    };
    let form =
        InstanceForm { resources: InstanceForm::submitted(&fields, &plugin_resources(&console)).resources, ..form };
    form_page(&session, &form, mode, &Errors::none(), Some(shown), StatusCode::OK)
}

async fn connection_result(console: &Console, form: &InstanceForm, instance: Option<&str>) -> Result<(), String> {
    let credentials_only =
        InstanceForm { events_enabled: false, resources: Vec::new(), name: "connection test".into(), ..form.clone() };
    let mut body = credentials_only.body(false);
    if let Some(number) = instance.and_then(|id| id.parse::<i64>().ok()) {
        // The stored secrets fill in what the form leaves empty.
        let store = console.api.shared.store.clone();
        let stored = blocking(move || store.api_instance(number)).await.map_err(|error| error.to_string())?;
        if let Some(stored) = stored {
            let mut merged = stored_body(&stored);
            merged["configuration"][POLLER] = json!({});
            merged["configuration"]["event.notification.enabled"] = json!(false);
            merge_patch(&mut merged, &body);
            body = merged;
        }
    }
    let checked = configured(&console.api.shared, "connection-test", &body, false).map_err(|problems| {
        problems.0.first().map(|problem| format!("{}: {}", problem.key, problem.message)).unwrap_or_default()
    })?;
    check_credentials(&checked).await.map_err(|error| error.message)
}

/// The preview of one resource's URL template, for htmx.
pub async fn preview_fragment(Form(fields): Fields) -> Response {
    let value = |name: &str| fields.iter().find(|(key, _)| key == name).map(|(_, v)| v.as_str()).unwrap_or_default();
    let resource = value("resource");
    preview(value(&format!("{resource}.url"))).into_response()
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

    #[test]
    fn errors_land_on_the_field_their_path_names() {
        let form = InstanceForm::new(&["projects".into()]);
        let url = resource_path("incidents", "url");
        let errors = Errors::place(
            vec![
                (url.clone(), "bad template".into()),
                (format!("{} (line 2)", config_path("event.poller.refresh_interval")), "bad".into()),
                ("$.element.key".into(), "unknown element".into()),
                ("$.nowhere".into(), "listed at the top only".into()),
            ],
            &form,
        );
        assert_eq!(errors.at(&url), ["bad template"]);
        assert_eq!(errors.at(&config_path("event.poller.refresh_interval")), ["bad"]);
        assert_eq!(errors.at("$.element"), ["unknown element"]);
        assert_eq!(errors.all.len(), 4);
        assert!(form.resources.iter().any(|r| r.name == "projects"), "plugin files are offered");
    }

    #[test]
    fn field_ids_are_plain() {
        assert_eq!(
            field_id("$.configuration['event.poller.configuration'].incidents.url"),
            "field-configuration-event-poller-configuration-incidents-url"
        );
    }

    #[test]
    fn the_preview_shows_the_autotask_query_or_the_error() {
        let shown = preview("/hubs/helpdesk/incidents?where=id>5").into_string();
        assert!(shown.contains("POST /v1.0/Tickets/query"), "{shown}");
        let shown = preview("/hubs/helpdesk/incidents?where=${date:yyyy-MM-dd").into_string();
        assert!(shown.contains("field-error") && shown.contains("character"), "{shown}");
    }
}
