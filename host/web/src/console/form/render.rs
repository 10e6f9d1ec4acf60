//! The form as HTML: every field labelled, with its hint and the errors the
//! API gave for its JSON path, and each resource's live URL preview.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use maud::{Markup, html};
use serde_json::json;

use super::values::{DATE_KEYS, InstanceForm, POLLER, ResourceForm, config_path, field_paths, prefix, resource_path};
use crate::console::layout::{Page, csrf_field, page};
use crate::console::session::Session;
use engine::manage::ManageError;
use engine::source::hub::autotask_query;
use engine::source::template::UrlTemplate;

/// Where the form is going.
pub(super) enum Mode<'a> {
    Create,
    Edit { id: &'a str },
}

/// Errors by the JSON path the API gave, placed at the field each names.
pub(super) struct Errors {
    at_field: BTreeMap<String, Vec<String>>,
    all: Vec<(String, String)>,
}

impl Errors {
    pub(super) fn none() -> Errors {
        Errors { at_field: BTreeMap::new(), all: Vec::new() }
    }

    /// Each error goes to the field whose path is the longest prefix of its own.
    pub(super) fn place(all: Vec<(String, String)>, form: &InstanceForm) -> Errors {
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

    /// The problems of a refused create or change, each at its field; a
    /// refusal naming no field goes to the whole form (`$`).
    pub(super) fn from_refusal(error: &ManageError, form: &InstanceForm) -> Errors {
        let all = error.field_problems().into_iter().map(|problem| (problem.field, problem.message)).collect();
        Errors::place(all, form)
    }

    fn at(&self, path: &str) -> &[String] {
        self.at_field.get(path).map(Vec::as_slice).unwrap_or_default()
    }
}

/// An element id for a JSON path: its words joined by `-`.
pub(super) fn field_id(path: &str) -> String {
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

pub(super) fn form_page(
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
pub(super) fn preview(url: &str) -> Markup {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::form::values::{InstanceForm, config_path, resource_path};

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
