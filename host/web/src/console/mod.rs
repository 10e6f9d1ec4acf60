//! The web console: server-rendered pages at `/` for what the management API
//! does — list, create, change, poll (or dry-run), retry and delete instances, inspect
//! and redeliver their events, watch plugins and try new versions of them (the
//! playground) — for people who would rather click than `curl`.
//!
//! Every page calls the engine's service layer ([`Management`]), as the API
//! does, and renders its typed answers, so the console cannot do or show
//! anything the API would not. It works without JavaScript; htmx (vendored,
//! served from here) adds live refresh, the connection test and the URL
//! preview. Sign-in uses the API's User and Organization secrets (see [`session`]).

mod charts;
mod dry_run;
mod form;
mod headers;
mod inspector;
mod instance_charts;
mod instances;
mod layout;
mod multipart;
mod playground;
mod plugin_charts;
mod plugins;
mod session;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use engine::manage::Management;
use engine::manage::body::{new_token, same_secret};
use maud::{Markup, html};
use serde::Deserialize;

use crate::secrets::{CLOSED, Check, authenticate};
use layout::{Page, page};
use session::{CSRF_FIELD, SESSION_COOKIE, SIGN_IN_COOKIE};
use session::{Session, Sessions, cookie, set_cookie};

/// htmx 2.0.11 (Zero-Clause BSD), as published on npm.
const HTMX: &str = include_str!("static/htmx.min.js");
const STYLESHEET: &str = include_str!("static/console.css");

/// What the pages share. The API's users and secrets, which sign a person
/// in, are read from [`Management::api_settings`] on every request, as reloaded.
pub struct Console {
    management: Management,
    sessions: Sessions,
    /// Scripts and files tried in the playground, kept for their activation.
    drafts: playground::Drafts,
    /// Served over TLS: cookies get `Secure`.
    secure: bool,
}

/// The console's routes: `/`, `/console/...`; `secure` when served over TLS.
pub fn router(management: Management, secure: bool) -> Router {
    let console =
        Arc::new(Console { management, sessions: Sessions::default(), drafts: playground::Drafts::default(), secure });
    let pages = Router::new()
        .route("/console/instances", get(instances::list).post(form::create))
        .route("/console/instances/rows", get(instances::rows))
        .route("/console/instances/new", get(form::new))
        .route("/console/instances/{id}", get(instances::detail).post(form::update))
        .route("/console/instances/{id}/activity", get(instances::activity))
        .route("/console/instances/{id}/events", get(inspector::search))
        .route("/console/instances/{id}/events/redeliver", post(inspector::redeliver))
        .route("/console/instances/{id}/events/{message}", get(inspector::detail))
        .route("/console/instances/{id}/events/{message}/redeliver", post(inspector::redeliver_one))
        .route("/console/instances/{id}/edit", get(form::edit))
        .route("/console/instances/{id}/poll", post(instances::poll))
        .route("/console/instances/{id}/dry-run", post(dry_run::dry_run))
        .route("/console/instances/{id}/retry", post(instances::retry))
        .route("/console/instances/{id}/disable", post(instances::disable))
        .route("/console/instances/{id}/enable", post(instances::enable))
        .route("/console/instances/{id}/delete", get(instances::confirm_delete).post(instances::delete))
        .route("/console/test-connection", post(form::test_connection))
        .route("/console/preview", post(form::preview_fragment))
        .route("/console/plugins", get(plugins::page_handler))
        .route("/console/playground", get(playground::page).post(playground::try_versions))
        .route("/console/playground/activate", post(playground::activate))
        .route("/console/sign-out", post(sign_out))
        .layer(axum::middleware::from_fn_with_state(console.clone(), session::require));
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/instances") }))
        .route("/console", get(|| async { Redirect::to("/console/instances") }))
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/api", get(api_document))
        .route("/console/static/htmx.min.js", get(|| async { asset("text/javascript", HTMX) }))
        .route("/console/static/console.css", get(|| async { asset("text/css", STYLESHEET) }))
        .merge(pages)
        .layer(axum::middleware::from_fn(headers::secure))
        .with_state(console)
}

pub use headers::SECURITY_HEADERS;

/// The management API's OpenAPI document, under the API's prefix (read as
/// configured), for the footer's link; open, as the document is.
async fn api_document(State(console): State<Arc<Console>>) -> Redirect {
    Redirect::to(&format!("{}/openapi.json", console.management.api_settings().prefix))
}

/// A static file; like every console answer it gets `Cache-Control: no-store` (see [`headers`]).
fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// The sign-in form, with a double-submit token in a cookie and a hidden field.
async fn sign_in_page(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    sign_in_form(&console, &headers, StatusCode::OK, None)
}

/// The browser's token is kept while it has one, so two tabs (or a page the
/// browser loads twice) do not outdate each other's form.
fn sign_in_form(console: &Console, headers: &HeaderMap, status: StatusCode, error: Option<&str>) -> Response {
    let token = match cookie(headers, SIGN_IN_COOKIE) {
        Some(token)
            if token.len() == 43 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            token.to_owned()
        }
        _ => new_token(),
    };
    let closed = !console.management.api_settings().is_open();
    let body = html! {
        h1 { "Sign in" }
        @if closed {
            p .error role="alert" { (CLOSED) ". The console uses the same secrets." }
        }
        p { "Use the management API's User and Organization secrets." }
        @if let Some(error) = error {
            p .error #sign-in-error role="alert" { (error) }
        }
        form method="post" action="/console/sign-in" .narrow {
            input type="hidden" name=(CSRF_FIELD) value=(token);
            div .field {
                label for="user-secret" { "User secret" }
                input #user-secret type="password" name="user_secret" autocomplete="current-password" required
                    aria-describedby=[error.map(|_| "sign-in-error")];
            }
            div .field {
                label for="organization-secret" { "Organization secret" }
                input #organization-secret type="password" name="organization_secret" autocomplete="off" required;
            }
            button type="submit" { "Sign in" }
        }
    };
    let mut response = (status, page(Page { title: "Sign in", session: None, current: "", body })).into_response();
    response.headers_mut().append(header::SET_COOKIE, set_cookie(SIGN_IN_COOKIE, &token, console.secure, None));
    response
}

#[derive(Deserialize)]
struct SignIn {
    #[serde(default)]
    user_secret: String,
    #[serde(default)]
    organization_secret: String,
    #[serde(default)]
    csrf: String,
}

async fn sign_in(State(console): State<Arc<Console>>, headers: HeaderMap, Form(form): Form<SignIn>) -> Response {
    let expected = cookie(&headers, SIGN_IN_COOKIE).unwrap_or("");
    if expected.is_empty() || !same_secret(&form.csrf, expected) {
        let error = Some("The form was out of date; please sign in again.");
        return sign_in_form(&console, &headers, StatusCode::FORBIDDEN, error);
    }
    let settings = console.management.api_settings();
    match authenticate(&settings, &form.user_secret, &form.organization_secret) {
        Check::User(user) => {
            let id = console.sessions.start(&settings, user);
            tracing::info!(user = %user.name, "signed in to the console");
            let mut response = Redirect::to("/console/instances").into_response();
            let headers = response.headers_mut();
            headers.append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, &id, console.secure, None));
            headers.append(
                header::SET_COOKIE,
                set_cookie(SIGN_IN_COOKIE, "", console.secure, Some(std::time::Duration::ZERO)),
            );
            response
        }
        Check::Refused => {
            tracing::warn!("refused a console sign-in: wrong User/Organization secrets");
            sign_in_form(
                &console,
                &headers,
                StatusCode::UNAUTHORIZED,
                Some("Those are not the User and Organization secrets."),
            )
        }
        Check::Closed => {
            let error = Some("The console is closed until secrets are set.");
            sign_in_form(&console, &headers, StatusCode::UNAUTHORIZED, error)
        }
    }
}

async fn sign_out(State(console): State<Arc<Console>>, request: Request) -> Response {
    if let Some(id) = cookie(request.headers(), SESSION_COOKIE) {
        console.sessions.end(id);
    }
    let mut response = Redirect::to("/console/sign-in").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", console.secure, Some(std::time::Duration::ZERO)));
    response
}

/// A page with an error of the service layer: its message, in the layout.
fn error_page(session: &Session, status: StatusCode, message: &str) -> Response {
    let body: Markup = html! {
        h1 { "Something went wrong" }
        p .error role="alert" { (message) }
        p { a href="/console/instances" { "Back to the instances" } }
    };
    (status, page(Page { title: "Error", session: Some(session), current: "", body })).into_response()
}

/// A submitted form's fields, in order, repeated names and all.
type Fields = Form<Vec<(String, String)>>;
