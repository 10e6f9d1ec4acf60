//! The create and edit form, in the order of the Cloud Elements UI: Autotask
//! credentials (with a connection test), events, the resources to poll (with a
//! live preview of each URL and the Autotask query it becomes), then the name.
//! A submitted form becomes the same JSON body `POST /instances` takes, and
//! goes to the API's own handler; its errors come back by JSON path and are
//! shown next to the field they name.

mod render;
mod values;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::html;
use serde_json::json;

use super::layout::text;
use super::session::Session;
use super::{Console, Fields, error_page, no_token};
use crate::api::body::merge_patch;
use crate::api::error::JsonBody;
use crate::api::instances::{self as api_instances, check_credentials};
use crate::api::{configured, stored_body};
use crate::service::plugins::Status;
use crate::service::poll::blocking;
use render::{Errors, Mode, form_page, preview};
use values::{InstanceForm, POLLER};

/// The resources a plugin file in the plugin directory exists for
/// (`contacts.wasm` → `contacts`), as the plugin registry knows them.
fn plugin_resources(console: &Console) -> Vec<String> {
    let dir = console.api.shared.settings.plugin_dir.as_path();
    let mut names: Vec<String> = console
        .api
        .shared
        .plugins
        .list()
        .into_iter()
        .filter(|plugin| !matches!(plugin.status, Status::Missing | Status::Removed))
        .map(|plugin| std::path::PathBuf::from(plugin.path))
        .filter(|path| path.parent() == Some(dir))
        .filter_map(|path| path.file_stem().map(|stem| stem.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names
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
    let form = InstanceForm::submitted(&fields, &plugin_resources(&console));
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
