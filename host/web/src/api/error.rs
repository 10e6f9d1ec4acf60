//! The API's one error type, answered as `{"message": ..., "field": ...}`:
//! the service layer's refusals with their HTTP status, and the JSON body
//! extractor that turns bad bodies into such errors.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use utoipa::openapi::{RefOr, Schema};

use engine::manage::ManageError;

use crate::status::status_of;

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
}

/// A refusal of the service layer, with the status that says what kind it is.
impl From<ManageError> for ApiError {
    fn from(error: ManageError) -> Self {
        let status = status_of(&error);
        match error {
            ManageError::Invalid(problems) => {
                let listed: Vec<(String, String)> =
                    problems.into_iter().map(|problem| (problem.field, problem.message)).collect();
                let (field, message) =
                    listed.first().cloned().unwrap_or_else(|| ("$".into(), "invalid request".into()));
                ApiError { problems: listed, ..ApiError::field(field, message) }
            }
            other => ApiError::new(status, other.to_string()),
        }
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

// The JSON an `ApiError` answers with (its `IntoResponse` above), which the
// API's OpenAPI document shows as `ApiError`.
/// Why a call was refused.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Only its schema is used.
struct ApiErrorJson {
    /// What is wrong, in words.
    message: String,
    /// The body's JSON path (`$.configuration['event.poller.refresh_interval']`), the query
    /// parameter (`?limit`) or the path segment (`name`) at fault, when one is.
    #[schema(nullable = false)]
    field: Option<String>,
    /// Every problem, when there are several (the first is `field` and `message`).
    #[schema(nullable = false)]
    problems: Option<Vec<Problem>>,
}

/// One problem of a body.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Only its schema is used.
struct Problem {
    field: String,
    message: String,
}

impl utoipa::PartialSchema for ApiError {
    fn schema() -> RefOr<Schema> {
        <ApiErrorJson as utoipa::PartialSchema>::schema()
    }
}

impl utoipa::ToSchema for ApiError {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <ApiErrorJson as utoipa::ToSchema>::schemas(schemas);
    }
}

/// A query string. A parameter that does not read (`?limit=ten`) is a 400
/// naming it (`"field": "?limit"`), in the API's JSON like every refusal.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(query) = Query::<T>::from_request_parts(parts, state).await.map_err(|rejection| {
            // axum says `Failed to deserialize query string: limit: invalid digit found in string`.
            let text = rejection.body_text();
            let detail = text.split_once(": ").map_or(text.as_str(), |(_, detail)| detail);
            match detail.split_once(": ") {
                Some((parameter, problem)) if !parameter.contains(' ') => {
                    ApiError::field(format!("?{parameter}"), format!("`{parameter}` {problem}"))
                }
                _ => ApiError::field("?", format!("the query string does not read: {detail}")),
            }
        })?;
        Ok(ApiQuery(query))
    }
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
