//! The API's one error type, answered as `{"message": ..., "field": ...}`,
//! and the JSON body extractor that turns bad bodies into such errors.

use axum::Json;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::config::Problems;

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Why a call was refused, and for a bad body, which field.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// A JSON path into the request body (`$.configuration['event.poller.refresh_interval']`).
    pub field: Option<String>,
    /// Every problem, when a body had more than one.
    pub problems: Vec<(String, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), field: None, problems: Vec::new() }
    }

    /// A 400 about one field of the body.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError { field: Some(field.into()), ..ApiError::new(StatusCode::BAD_REQUEST, message) }
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, format!("no {what}"))
    }

    /// A 400 listing every problem of a body; the first is `message` and `field`.
    pub fn problems(problems: &Problems) -> Self {
        let listed: Vec<(String, String)> =
            problems.0.iter().map(|problem| (json_path(&problem.key), problem.message.clone())).collect();
        let (field, message) = listed.first().cloned().unwrap_or_else(|| ("$".into(), "invalid instance".into()));
        ApiError { problems: listed, ..ApiError::field(field, message) }
    }

    /// A failure of the service itself: logged, and answered without detail
    /// beyond the error's own text (which never holds a secret).
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!("management API: {error}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        ApiError::internal(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "message": self.message });
        if let Some(field) = self.field {
            body["field"] = Value::String(field);
        }
        if self.problems.len() > 1 {
            body["problems"] =
                self.problems.into_iter().map(|(field, message)| json!({"field": field, "message": message})).collect();
        }
        (self.status, Json(body)).into_response()
    }
}

/// A configuration key path (`configuration."event.poller.configuration".incidents.url`)
/// as a JSON path into the body (`$.configuration['event.poller.configuration'].incidents.url`).
pub fn json_path(key: &str) -> String {
    let mut path = String::from("$");
    let mut rest = key;
    while !rest.is_empty() {
        // `configuration."event.poller.urls" line 2`: a line of a text value, said as such.
        if let Some(line) = rest.strip_prefix(' ') {
            path.push_str(&format!(" ({line})"));
            break;
        }
        rest = rest.strip_prefix('.').unwrap_or(rest);
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            path.push_str(&format!("['{}']", &quoted[..end]));
            rest = quoted.get(end + 1..).unwrap_or_default();
        } else {
            let end = rest.find(['.', '"']).unwrap_or(rest.len());
            path.push('.');
            path.push_str(&rest[..end]);
            rest = &rest[end..];
        }
    }
    path
}

/// A JSON request body: too large is 413, not JSON is 400 with the line and column.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the body is larger than {} MiB", MAX_BODY_BYTES >> 20),
                )
            } else {
                ApiError::new(rejection.status(), rejection.body_text())
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|error| ApiError::field("$", format!("the body is not valid JSON: {error}")))
    }
}

#[cfg(test)]
mod tests {
    use super::json_path;

    #[test]
    fn configuration_keys_become_json_paths() {
        assert_eq!(json_path(""), "$");
        assert_eq!(json_path("element.key"), "$.element.key");
        assert_eq!(
            json_path("configuration.\"event.poller.configuration\".incidents.url"),
            "$.configuration['event.poller.configuration'].incidents.url"
        );
        assert_eq!(
            json_path("configuration.\"event.poller.refresh_interval\""),
            "$.configuration['event.poller.refresh_interval']"
        );
        assert_eq!(
            json_path("configuration.\"event.poller.urls\" line 2.url"),
            "$.configuration['event.poller.urls'] (line 2.url)"
        );
    }
}
