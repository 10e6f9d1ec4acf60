//! The create and edit form, in the order of the Cloud Elements UI: Autotask
//! credentials (with a connection test), events, the resources to poll (with a
//! live preview of each URL and the Autotask query it becomes), then the name.
//! A submitted form becomes the same JSON body `POST /instances` takes, and
//! goes to the same call of the service layer; its errors come back by JSON
//! path and are shown next to the field they name.

mod render;
mod values;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::html;

use super::session::Session;
use super::{Console, Fields, error_page};
use crate::status::status_of;
use render::{Errors, Mode, form_page, preview};
use values::InstanceForm;

/// The resources a plugin file in the plugin directory exists for
/// (`contacts.wasm` → `contacts`).
fn plugin_resources(console: &Console) -> Vec<String> {
    console.management.plugin_directory_resources()
}

/// The Autotask entity a resource offered by default polls (`incidents` → `Tickets`).
pub(super) fn default_entity(resource: &str) -> Option<&'static str> {
    values::DEFAULT_RESOURCES.iter().find(|(name, ..)| *name == resource).map(|(.., entity)| *entity)
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
    match console.management.create(&session.caller, &form.body(false)).await {
        Ok(created) => Redirect::to(&format!("/console/instances/{}?notice=created", created.id)).into_response(),
        Err(error) => {
            let status = status_of(&error);
            form_page(&session, &form, Mode::Create, &Errors::from_refusal(&error, &form), None, status)
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
    if view.read_only {
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
    match console.management.patch(&id, &session.caller, &form.body(true)).await {
        Ok(_) => Redirect::to(&format!("/console/instances/{id}?notice=changed")).into_response(),
        Err(error) => {
            let status = status_of(&error);
            form_page(&session, &form, Mode::Edit { id: &id }, &Errors::from_refusal(&error, &form), None, status)
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
    let form = InstanceForm::submitted(&fields, &plugin_resources(&console));
    let instance = fields.iter().find(|(key, _)| key == "instance").map(|(_, value)| value.clone());
    let result = connection_result(&console, &session, &form, instance.as_deref()).await;
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
    form_page(&session, &form, mode, &Errors::none(), Some(shown), StatusCode::OK)
}

async fn connection_result(
    console: &Console,
    session: &Session,
    form: &InstanceForm,
    instance: Option<&str>,
) -> Result<(), String> {
    let credentials_only =
        InstanceForm { events_enabled: false, resources: Vec::new(), name: "connection test".into(), ..form.clone() };
    console.management.test_connection(&session.caller, &credentials_only.body(false), instance).await
}

/// The preview of one resource's URL template, for htmx.
pub async fn preview_fragment(Form(fields): Fields) -> Response {
    let value = |name: &str| fields.iter().find(|(key, _)| key == name).map(|(_, v)| v.as_str()).unwrap_or_default();
    let resource = value("resource");
    preview(value(&format!("{resource}.url"))).into_response()
}
