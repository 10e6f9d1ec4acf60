//! How a refusal of the service layer is said over HTTP: the status the API
//! answers with and the console shows a page with.

use axum::http::StatusCode;
use engine::manage::ManageError;

/// The HTTP status that says what kind of refusal `error` is.
pub(crate) fn status_of(error: &ManageError) -> StatusCode {
    match error {
        ManageError::NotFound(_) => StatusCode::NOT_FOUND,
        ManageError::WrongToken(_) => StatusCode::UNAUTHORIZED,
        ManageError::ReadOnly(_) | ManageError::Forbidden(_) => StatusCode::FORBIDDEN,
        ManageError::Invalid(_) | ManageError::NotStarted(_) => StatusCode::BAD_REQUEST,
        ManageError::Conflict(_) => StatusCode::CONFLICT,
        ManageError::Upstream(_) => StatusCode::BAD_GATEWAY,
        ManageError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}
