//! The plugin playground: pick a resource, a new version of its plugin (a
//! stored version, a pasted script or an uploaded file) and records (recent
//! deliveries', the simulator's samples, or pasted JSON); see what each
//! version makes of them side by side and what changes; then activate it.
//!
//! A try is `POST /plugins/{name}/try` ([`Management::try_plugin`]); an
//! activation is `POST …/versions/{v}/activate`, or for new bytes the checked
//! upload `PUT /plugins/{name}` does, so the page can do nothing the API
//! would not. Plain forms: the try form is multipart for its file input.

mod choices;
mod drafts;
mod records;
mod render;
mod submitted;

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use engine::manage::{FieldProblem, ManageError, Management};
use serde::Deserialize;
use serde_json::{Value, json};

use super::multipart::{self, MAX_MULTIPART_BYTES};
use super::session::Session;
use super::{Console, Fields, error_page};
use crate::status::status_of;
use choices::{Chosen, may_activate, why_only_admins};
use drafts::Draft;
pub(super) use drafts::Drafts;
use records::{FieldError, PASTED_FIELD, RecordSource};
use render::{Activation, Tried, View, playground_page};
use submitted::{NewSource, TryForm};

/// `?resource=incidents`.
#[derive(Deserialize)]
pub struct ResourceQuery {
    resource: Option<String>,
}

/// `GET /console/playground?resource=…`: the form, for the resource chosen (else the first).
pub async fn page(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Query(query): Query<ResourceQuery>,
) -> Response {
    let resources = choices::resources(&console.management);
    let resource = query.resource.or_else(|| resources.first().cloned()).unwrap_or_default();
    show(&console, &session, &resources, &resource, None, None, StatusCode::OK).await
}

/// The page for `resource`, with a fresh form and maybe a notice at the top.
async fn show(
    console: &Console,
    session: &Session,
    resources: &[String],
    resource: &str,
    notice: Option<(String, bool)>,
    form: Option<TryForm>,
    status: StatusCode,
) -> Response {
    let chosen = match chosen(&console.management, resources, resource).await {
        Ok(chosen) => chosen,
        Err(error) => return error_page(session, status_of(&error), &error.to_string()),
    };
    let form = form.unwrap_or_else(|| {
        TryForm::new(resource, chosen.as_ref().is_some_and(|chosen| chosen.others().next().is_some()))
    });
    let view = View { resources, chosen: chosen.as_ref(), form: &form, errors: &[], tried: None, notice };
    playground_page(session, &view, status)
}

/// `resource`'s plugin; `None` when there are no resources at all.
async fn chosen(management: &Management, resources: &[String], resource: &str) -> Result<Option<Chosen>, ManageError> {
    if resources.is_empty() && resource.is_empty() {
        return Ok(None);
    }
    Chosen::of(management, resource).await.map(Some)
}

/// `POST /console/playground`: runs the try the form asks for and shows it under the form.
pub async fn try_versions(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_MULTIPART_BYTES).await else {
        let message = format!("the form is larger than {} MiB", MAX_MULTIPART_BYTES >> 20);
        return error_page(&session, StatusCode::PAYLOAD_TOO_LARGE, &message);
    };
    let fields = match multipart::parts(&parts.headers, bytes).await {
        Ok(fields) => fields,
        Err(message) => return error_page(&session, StatusCode::BAD_REQUEST, &message),
    };
    let resources = choices::resources(&console.management);
    let (form, refused) = TryForm::submitted(&fields);
    let chosen = match Chosen::of(&console.management, &form.resource).await {
        Ok(chosen) => chosen,
        Err(error) => return error_page(&session, status_of(&error), &error.to_string()),
    };
    let outcome = match refused {
        Some(error) => Err(vec![error]),
        None => run(&console, &session, &chosen, &form).await,
    };
    let (tried, errors, status) = match outcome {
        Ok(tried) => (Some(tried), Vec::new(), StatusCode::OK),
        Err(errors) => (None, errors, StatusCode::BAD_REQUEST),
    };
    let view = View {
        resources: &resources,
        chosen: Some(&chosen),
        form: &form,
        errors: &errors,
        tried: tried.as_ref(),
        notice: None,
    };
    playground_page(&session, &view, status)
}

/// The try the form asks for, or its problems, each at the form field it is about.
async fn run(console: &Console, session: &Session, chosen: &Chosen, form: &TryForm) -> Result<Tried, Vec<FieldError>> {
    let management = &console.management;
    let caller = &session.caller;
    let records = records::records(management, caller, &chosen.resource, form.records_source, &form.records_json)
        .await
        .map_err(|error| vec![error])?;
    let records = Value::Array(records);
    let at_field = |error: ManageError| placed(error, form);
    match form.new_source {
        NewSource::Version => {
            let version = form.version_number().map_err(|error| vec![error])?;
            let active = chosen.active().ok_or_else(|| {
                vec![(
                    "version",
                    format!("{} has no active stored version to compare a stored version with", chosen.plugin),
                )]
            })?;
            let body = json!({"records": records, "versions": [active.version, version]});
            let view = management.try_plugin(caller, &chosen.plugin, &body).await.map_err(at_field)?;
            let activation = if may_activate(caller) {
                Activation::Version { plugin: chosen.plugin.clone(), version }
            } else {
                Activation::NotAllowed
            };
            Ok(Tried { view, activation })
        }
        NewSource::Script | NewSource::File => {
            let (name, bytes) = form.new_bytes().map_err(|error| vec![error])?;
            let view = management
                .try_plugin_bytes(caller, &chosen.plugin, &records, &name, bytes.clone())
                .await
                .map_err(at_field)?;
            // Only an admin can activate it: only theirs are kept.
            let activation = if may_activate(caller) {
                let sha256 = console.drafts.keep(&caller.user, Draft { name: name.clone(), bytes });
                Activation::Draft { name, sha256 }
            } else {
                Activation::NotAllowed
            };
            Ok(Tried { view, activation })
        }
    }
}

/// A refused try's problems, at the form fields they are about: its
/// records, the new side's script or file, or its stored version.
fn placed(error: ManageError, form: &TryForm) -> Vec<FieldError> {
    let records_field = if form.records_source == RecordSource::Pasted { PASTED_FIELD } else { "records" };
    let new_field = match form.new_source {
        NewSource::Version => "version",
        NewSource::Script => "script",
        NewSource::File => "file",
    };
    error
        .field_problems()
        .into_iter()
        .map(|FieldProblem { field, message }| {
            let at = if field.starts_with("records") {
                records_field
            } else if field.starts_with("upload") || field == "versions" {
                new_field
            } else {
                "new"
            };
            (at, message)
        })
        .collect()
}

/// `POST /console/playground/activate`: activates the stored version, or
/// stores and activates the bytes just tried, then shows the page again with
/// the outcome and the new current version.
pub async fn activate(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    axum::Form(fields): Fields,
) -> Response {
    let value = |name: &str| fields.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
    let plugin = value("plugin").unwrap_or_default();
    let resource = plugin.rsplit_once('.').map_or(plugin.as_str(), |(stem, _)| stem).to_owned();
    let caller = &session.caller;
    let outcome = if !may_activate(caller) {
        Err((StatusCode::FORBIDDEN, why_only_admins(caller)))
    } else if let Some(sha256) = value("draft") {
        match console.drafts.find(&caller.user, &sha256) {
            None => Err((
                StatusCode::CONFLICT,
                "The script or file you tried is no longer kept (only your latest try is, for an hour, \
                 and not across a restart): try it again, then activate it."
                    .to_owned(),
            )),
            Some(draft) => match console.management.upload_plugin(caller, &draft.name, draft.bytes).await {
                Ok((version, created)) => {
                    console.drafts.forget(&caller.user);
                    let stored = if created { "Stored as" } else { "Already stored as" };
                    Ok(format!(
                        "{stored} {} version {} and activated: it serves as soon as the plugin directory's watcher swaps it in.",
                        version.name, version.version
                    ))
                }
                Err(error) => Err((status_of(&error), error.to_string())),
            },
        }
    } else {
        let version = value("version").unwrap_or_default();
        match console.management.activate_plugin_version(caller, &plugin, &version).await {
            Ok(version) => Ok(format!(
                "Activated {} version {}: it serves as soon as the plugin directory's watcher swaps it in.",
                version.name, version.version
            )),
            Err(error) => Err((status_of(&error), error.to_string())),
        }
    };
    let resources = choices::resources(&console.management);
    let (notice, status) = match outcome {
        Ok(text) => ((text, false), StatusCode::OK),
        Err((status, text)) => ((text, true), status),
    };
    show(&console, &session, &resources, &resource, Some(notice), None, status).await
}
