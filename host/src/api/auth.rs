//! Who may call the API: `Authorization: User <user secret>, Organization
//! <organization secret>`, as Cloud Elements asks, and for calls about one
//! instance optionally `, Element <instance token>` too. Secrets are compared
//! by their SHA-256 in constant time, so neither their content nor their
//! length shows in the answer time; no part of the header is ever logged.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Api;
use super::error::ApiError;
use crate::config::ApiSettings;

/// The `Element` token a caller presented, for the instance handlers to check.
#[derive(Debug, Clone, Default)]
pub struct ElementToken(pub Option<String>);

/// The parts of an `Authorization` header.
#[derive(Debug, Default, PartialEq, Eq)]
struct Presented<'a> {
    user: Option<&'a str>,
    organization: Option<&'a str>,
    element: Option<&'a str>,
}

/// Reads `User x, Organization y, Element z` (any order, names in any case).
fn parse(header: &str) -> Presented<'_> {
    let mut presented = Presented::default();
    for part in header.split(',') {
        let Some((name, value)) = part.trim().split_once(char::is_whitespace) else { continue };
        let value = Some(value.trim()).filter(|value| !value.is_empty());
        match name.to_ascii_lowercase().as_str() {
            "user" => presented.user = value,
            "organization" => presented.organization = value,
            "element" => presented.element = value,
            _ => {}
        }
    }
    presented
}

/// Whether `presented` is `expected`, in time that depends on neither.
pub fn same_secret(presented: &str, expected: &str) -> bool {
    let presented = Sha256::digest(presented.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    presented.ct_eq(&expected).into()
}

/// What a caller is told while no secrets are configured.
pub const CLOSED: &str = concat!(
    "the management API is closed: no secrets are configured (set [api] user_secret and organization_secret, or ",
    "AUTOTASK_EVENTS_USER_SECRET and AUTOTASK_EVENTS_ORGANIZATION_SECRET)"
);

/// Whether `user` and `organization` are the configured secrets; `None` when
/// none are configured. Both comparisons always run, so a right user secret
/// does not answer faster.
pub fn secrets_match(settings: &ApiSettings, user: &str, organization: &str) -> Option<bool> {
    let (Some(user_secret), Some(organization_secret)) = (&settings.user_secret, &settings.organization_secret) else {
        return None;
    };
    let user_ok = same_secret(user, user_secret.expose());
    let organization_ok = same_secret(organization, organization_secret.expose());
    Some(user_ok & organization_ok)
}

/// Lets the request through when it carries the API's secrets; answers 401 otherwise.
pub async fn require(State(api): State<Arc<Api>>, mut request: Request, next: Next) -> Response {
    let header = request.headers().get(header::AUTHORIZATION).and_then(|value| value.to_str().ok()).unwrap_or("");
    let presented = parse(header);
    let Some(matches) =
        secrets_match(&api.shared.settings.api, presented.user.unwrap_or(""), presented.organization.unwrap_or(""))
    else {
        return refuse(CLOSED.into());
    };
    if !matches {
        tracing::warn!(
            method = %request.method(), path = %request.uri().path(),
            "refused a management API call: missing or wrong User/Organization credentials"
        );
        return refuse("missing or wrong credentials: send `Authorization: User <user secret>, Organization <organization secret>`".into());
    }
    let element = ElementToken(presented.element.map(str::to_owned));
    request.extensions_mut().insert(element);
    next.run(request).await
}

fn refuse(message: String) -> Response {
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("User, Organization"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ORGANIZATION_SECRET_ENV, USER_SECRET_ENV};

    #[test]
    fn reads_the_cloud_elements_header_in_any_order() {
        let presented = parse("User abc, Organization def, Element ghi");
        assert_eq!(presented, Presented { user: Some("abc"), organization: Some("def"), element: Some("ghi") });
        let presented = parse("organization def,user  abc");
        assert_eq!(presented, Presented { user: Some("abc"), organization: Some("def"), element: None });
        assert_eq!(parse("Bearer xyz"), Presented::default());
        assert_eq!(parse("User , Organization"), Presented::default());
    }

    #[test]
    fn the_closed_message_names_the_variables() {
        assert!(CLOSED.contains(USER_SECRET_ENV) && CLOSED.contains(ORGANIZATION_SECRET_ENV));
    }

    #[test]
    fn compares_whole_secrets_only() {
        assert!(same_secret("s3cret-value", "s3cret-value"));
        assert!(!same_secret("s3cret-valu", "s3cret-value"));
        assert!(!same_secret("", "s3cret-value"));
    }
}
