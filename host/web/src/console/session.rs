//! Who is signed in to the console, and that a form really came from one of
//! its pages.
//!
//! Signing in with the API's User and Organization secrets starts a session
//! of that user: a random id in an `HttpOnly`, `SameSite=Strict` cookie
//! (`Secure` over TLS), kept in memory only, so a restart signs everyone out.
//! Every request checks the user's secrets as configured now: a session whose
//! user is gone, or whose secrets were rotated, ends. Every session
//! has its own CSRF token, which each form carries in a hidden field and each
//! htmx request in the `X-CSRF-Token` header; a `POST` without it is refused.
//! The sign-in form, before there is a session, uses a double-submit cookie.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};

use super::Console;
use super::multipart::{self, MAX_MULTIPART_BYTES, is_multipart};
use crate::secrets::credentials_digest;
use engine::config::{ApiSettings, ApiUser};
use engine::manage::Caller;
use engine::manage::body::{new_token, same_secret};
use subtle::ConstantTimeEq;

/// The session cookie.
pub const SESSION_COOKIE: &str = "autotask_events_session";
/// The sign-in form's double-submit cookie.
pub const SIGN_IN_COOKIE: &str = "autotask_events_sign_in";
/// The form field and header carrying the CSRF token.
pub const CSRF_FIELD: &str = "csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A session ends after this long without a request.
const IDLE_LIMIT: Duration = Duration::from_secs(8 * 3600);
/// Forms are read whole to find their token; none of the console's is near this.
const MAX_FORM_BYTES: usize = 1 << 20;

/// A signed-in browser, as the pages see it.
#[derive(Debug, Clone)]
pub struct Session {
    pub csrf: String,
    /// Who signed in, with their rights as configured now.
    pub caller: Caller,
}

/// The sessions in memory, by the SHA-256 of their id (so a lookup's timing
/// says nothing about the ids themselves).
#[derive(Default)]
pub struct Sessions {
    by_digest: Mutex<HashMap<[u8; 32], Entry>>,
}

struct Entry {
    csrf: String,
    /// The user's name, and a digest of the secrets they signed in with
    /// (see [`credentials_digest`]); never the secrets themselves.
    user: String,
    credentials: [u8; 32],
    last_used: Instant,
}

impl Sessions {
    /// Starts a session of `user`, signed in with `settings`' secrets; returns its id, for the cookie.
    pub fn start(&self, settings: &ApiSettings, user: &ApiUser) -> String {
        let id = new_token();
        let mut sessions = self.lock();
        sessions.retain(|_, entry| entry.last_used.elapsed() < IDLE_LIMIT);
        let entry = Entry {
            csrf: new_token(),
            user: user.name.clone(),
            credentials: credentials_digest(settings, user),
            last_used: Instant::now(),
        };
        sessions.insert(digest(&id), entry);
        id
    }

    /// The live session with this id, if any, while its user's secrets are
    /// still those of `settings`; using it keeps it alive. A session whose
    /// user's secrets were rotated (or who was removed) ends here.
    pub fn find(&self, id: &str, settings: &ApiSettings) -> Option<Session> {
        let mut sessions = self.lock();
        let key = digest(id);
        let entry = sessions.get_mut(&key)?;
        let user = settings.user(&entry.user).filter(|user| {
            let now = credentials_digest(settings, user);
            bool::from(now.ct_eq(&entry.credentials)) && settings.is_open()
        });
        let Some(user) = user.filter(|_| entry.last_used.elapsed() < IDLE_LIMIT) else {
            sessions.remove(&key);
            return None;
        };
        entry.last_used = Instant::now();
        Some(Session { csrf: entry.csrf.clone(), caller: Caller::of(user) })
    }

    pub fn end(&self, id: &str) {
        self.lock().remove(&digest(id));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        self.by_digest.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// The value of cookie `name` in a request, if it sent one.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A `Set-Cookie` value for the console: whole site, not readable by scripts,
/// never sent by other sites; `Secure` when served over TLS.
pub fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<Duration>) -> HeaderValue {
    let mut text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if secure {
        text.push_str("; Secure");
    }
    if let Some(age) = max_age {
        text.push_str(&format!("; Max-Age={}", age.as_secs()));
    }
    HeaderValue::from_str(&text).expect("cookie values are base64url")
}

/// Lets a request through to the console's pages only with a live session,
/// and a `POST` only with that session's CSRF token. Without a session, a
/// page load goes to the sign-in page and an htmx request is told to.
pub async fn require(State(console): State<Arc<Console>>, request: Request, next: Next) -> Response {
    let settings = console.management.api_settings();
    let found = cookie(request.headers(), SESSION_COOKIE).and_then(|id| console.sessions.find(id, &settings));
    let Some(session) = found else {
        return sign_in_first(&request);
    };
    let mut request = if request.method() == Method::GET || request.method() == Method::HEAD {
        request
    } else {
        match with_csrf_checked(request, &session.csrf).await {
            Ok(request) => request,
            Err(refused) => return refused,
        }
    };
    request.extensions_mut().insert(session);
    next.run(request).await
}

fn sign_in_first(request: &Request) -> Response {
    let target = "/console/sign-in";
    if request.headers().contains_key("hx-request") {
        // htmx follows `HX-Redirect` with a full page load.
        return (StatusCode::UNAUTHORIZED, [("hx-redirect", target)]).into_response();
    }
    if request.method() == Method::GET {
        return Redirect::to(target).into_response();
    }
    (StatusCode::UNAUTHORIZED, "sign in to the console first").into_response()
}

/// The request, when its header or form field carries `expected`; 403 otherwise.
async fn with_csrf_checked(request: Request, expected: &str) -> Result<Request, Response> {
    let what = format!("{} {}", request.method(), request.uri().path());
    let refused = || {
        tracing::warn!(request = %what, "refused a console form without its CSRF token");
        (
            StatusCode::FORBIDDEN,
            "this form is out of date or did not come from the console; reload the page and try again",
        )
            .into_response()
    };
    if let Some(token) = request.headers().get(CSRF_HEADER).and_then(|value| value.to_str().ok()) {
        return if same_secret(token, expected) { Ok(request) } else { Err(refused()) };
    }
    let multipart = is_multipart(request.headers());
    // A form that uploads a plugin may be as large as the plugin.
    let limit = if multipart { MAX_MULTIPART_BYTES } else { MAX_FORM_BYTES };
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "the form is too large").into_response())?;
    let presented = if multipart {
        multipart::parts(&parts.headers, bytes.clone())
            .await
            .ok()
            .and_then(|fields| fields.into_iter().find(|field| field.name == CSRF_FIELD))
            .map(|field| field.text())
    } else {
        form_urlencoded_value(&bytes, CSRF_FIELD)
    };
    let request = Request::from_parts(parts, Body::from(bytes));
    match presented {
        Some(token) if same_secret(&token, expected) => Ok(request),
        _ => Err(refused()),
    }
}

/// The first value of `name` in a URL-encoded form.
pub fn form_urlencoded_value(bytes: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(bytes)
        .ok()?
        .into_iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    use engine::config::Secret;

    fn settings(alice_secret: &str) -> ApiSettings {
        ApiSettings {
            users: vec![ApiUser { name: "alice".into(), secret: Secret::new(alice_secret), admin: false }],
            organization_secret: Some(Secret::new("organization-secret-0123")),
            ..ApiSettings::default()
        }
    }

    #[test]
    fn sessions_are_found_by_id_and_end() {
        let sessions = Sessions::default();
        let settings = settings("alice-secret-0123456789");
        let id = sessions.start(&settings, &settings.users[0]);
        let session = sessions.find(&id, &settings).expect("a live session");
        assert_eq!(session.csrf.len(), 43, "32 random bytes, base64url");
        assert_eq!((session.caller.user.as_str(), session.caller.admin), ("alice", false));
        assert!(sessions.find("not-a-session", &settings).is_none());
        sessions.end(&id);
        assert!(sessions.find(&id, &settings).is_none());
    }

    #[test]
    fn a_session_ends_when_its_user_s_secret_is_rotated_away() {
        let sessions = Sessions::default();
        let before = settings("alice-secret-0123456789");
        let id = sessions.start(&before, &before.users[0]);
        assert!(sessions.find(&id, &settings("alice-rotated-0123456789")).is_none());
        assert!(sessions.find(&id, &before).is_none(), "ended, not only refused once");
        let gone = sessions.start(&before, &before.users[0]);
        assert!(sessions.find(&gone, &ApiSettings { users: Vec::new(), ..before.clone() }).is_none());
    }

    #[test]
    fn reads_cookies_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; autotask_events_session=xyz; b=2"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&headers, "c"), None);
    }

    #[test]
    fn cookies_are_http_only_and_same_site_strict() {
        let value = set_cookie(SESSION_COOKIE, "abc", true, None);
        assert_eq!(value, "autotask_events_session=abc; Path=/; HttpOnly; SameSite=Strict; Secure");
        let value = set_cookie(SESSION_COOKIE, "", false, Some(Duration::ZERO));
        assert_eq!(value, "autotask_events_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    }
}
