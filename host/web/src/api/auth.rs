//! Who may call the API: `Authorization: User <user secret>, Organization
//! <organization secret>`, as Cloud Elements asks, and for calls about one
//! instance optionally `, Element <instance token>` too. The User secret
//! names the user (see [`crate::secrets::authenticate`]), checked against the
//! users as configured at the time of the call. Secrets are compared by their
//! SHA-256 in constant time, so neither their content nor their length shows
//! in the answer time; no part of the header is ever logged.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use engine::manage::Caller;

use super::Api;
use super::error::ApiError;
use crate::secrets::{CLOSED, Check, authenticate};

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

/// Lets the request through when it carries the API's secrets; answers 401 otherwise.
pub(super) async fn require(State(api): State<Api>, mut request: Request, next: Next) -> Response {
    let header = request.headers().get(header::AUTHORIZATION).and_then(|value| value.to_str().ok()).unwrap_or("");
    let presented = parse(header);
    let settings = api.management.api_settings();
    let user = match authenticate(&settings, presented.user.unwrap_or(""), presented.organization.unwrap_or("")) {
        Check::User(user) => user,
        Check::Closed => return refuse(CLOSED.into()),
        Check::Refused => {
            tracing::warn!(
                method = %request.method(), path = %request.uri().path(),
                "refused a management API call: missing or wrong User/Organization credentials"
            );
            return refuse("missing or wrong credentials: send `Authorization: User <user secret>, Organization <organization secret>`".into());
        }
    };
    let caller = Caller { element_token: presented.element.map(str::to_owned), ..Caller::of(user) };
    request.extensions_mut().insert(caller);
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

    #[test]
    fn reads_the_cloud_elements_header_in_any_order() {
        let presented = parse("User abc, Organization def, Element ghi");
        assert_eq!(presented, Presented { user: Some("abc"), organization: Some("def"), element: Some("ghi") });
        let presented = parse("organization def,user  abc");
        assert_eq!(presented, Presented { user: Some("abc"), organization: Some("def"), element: None });
        assert_eq!(parse("Bearer xyz"), Presented::default());
        assert_eq!(parse("User , Organization"), Presented::default());
    }
}
