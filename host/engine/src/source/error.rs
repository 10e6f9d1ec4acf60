//! What can go wrong talking to Autotask, typed so that callers can tell a
//! bad configuration from a passing outage, and worded so that an operator
//! knows which entity, which HTTP status and what Autotask itself said.
//! No variant carries a secret.

use std::time::Duration;

/// An Autotask request that failed for good (after any retries).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The server URL is not a URL the client can use.
    #[error("Autotask server URL `{url}`: {message}")]
    ServerUrl { url: String, message: String },
    /// Zone discovery does not know the user: a wrong user name, or an API user
    /// since deleted. A credentials problem, on the user name.
    #[error("Autotask does not know the API user `{username}`: zone lookup answered HTTP {status}: {message}")]
    ZoneLookup { username: String, status: u16, message: String },
    /// Autotask refused the credentials: 401, or its 500 for an unknown user or integration code.
    #[error("Autotask refused the credentials of user `{username}` on {entity} (HTTP {status}): {message}")]
    Unauthorized { username: String, entity: String, status: u16, message: String },
    /// Autotask answered with an error status.
    #[error("Autotask {entity} request failed (HTTP {status}): {message}")]
    Http { entity: String, status: u16, message: String },
    /// Autotask asks to wait longer than the client will (the hourly threshold is spent).
    #[error("Autotask {entity} request refused (HTTP 429) and retry is {}s away: {message}", retry_after.as_secs())]
    RateLimited { entity: String, retry_after: Duration, message: String },
    /// The server could not be reached, or did not answer in time.
    #[error("Autotask {entity} request could not complete: {message}")]
    Transport { entity: String, message: String },
    /// A page link points at another server; the client does not send credentials there.
    #[error("Autotask {entity} page link `{url}` is on another origin than the zone `{zone}`; not followed")]
    ForeignOrigin { entity: String, url: String, zone: String },
    /// Autotask answered 2xx with something that is not what the API documents.
    #[error("Autotask {entity} answer is malformed: {message}")]
    Malformed { entity: String, message: String },
    /// A query went past one of the client's limits (a page's size, the pages
    /// of one query, a page link seen before); it is stopped, not followed further.
    #[error("Autotask {entity} query stopped: {message}")]
    Limit { entity: String, message: String },
}

impl SourceError {
    /// The HTTP status Autotask answered with, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            SourceError::ZoneLookup { status, .. }
            | SourceError::Unauthorized { status, .. }
            | SourceError::Http { status, .. } => Some(*status),
            SourceError::RateLimited { .. } => Some(429),
            _ => None,
        }
    }
}

/// Autotask's own error text from an error body: `{"errors":[...]}`,
/// `{"Message":"..."}`, or the body itself when it is neither.
pub fn autotask_error_text(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        #[serde(default)]
        errors: Vec<serde_json::Value>,
        #[serde(default, rename = "Message", alias = "message")]
        message: Option<String>,
    }
    if let Ok(parsed) = serde_json::from_slice::<Errors>(body) {
        let texts: Vec<String> = parsed
            .errors
            .iter()
            .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_owned))
            .chain(parsed.message)
            .collect();
        if !texts.is_empty() {
            return texts.join("; ");
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(no error text)".into();
    }
    // An HTML error page can be long; the start says what it is.
    text.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_error_shapes_and_plain_bodies() {
        assert_eq!(autotask_error_text(br#"{"errors":["a","b"]}"#), "a; b");
        assert_eq!(
            autotask_error_text(br#"{"Message":"The requested resource does not support http method 'GET'."}"#),
            "The requested resource does not support http method 'GET'."
        );
        assert_eq!(autotask_error_text(b"Service Unavailable"), "Service Unavailable");
        assert_eq!(autotask_error_text(b""), "(no error text)");
    }
}
