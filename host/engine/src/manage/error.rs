//! Why a management call was refused: one type for the API to answer with its
//! status and the console to show, each variant saying what kind of refusal it
//! is and the words to use.

use crate::config::Problems;
use crate::store::StoreError;

/// A problem with one field of a request, named by its JSON path
/// (`$.configuration['event.poller.refresh_interval']`, or `?limit` for a query parameter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

/// Why a management call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManageError {
    /// There is no such thing: `no instance `7``.
    #[error("no {0}")]
    NotFound(String),
    /// The caller's `Element` token is not the instance's.
    #[error("{0}")]
    WrongToken(String),
    /// The instance comes from the configuration file.
    #[error("{0}")]
    ReadOnly(String),
    /// The caller is known but may not do this (only organization admins may).
    #[error("{0}")]
    Forbidden(String),
    /// The request is wrong, field by field (at least one).
    #[error("{}", .0.first().map_or("invalid request", |problem| problem.message.as_str()))]
    Invalid(Vec<FieldProblem>),
    /// A checked instance could not start.
    #[error("{0}")]
    NotStarted(String),
    /// The instance's state does not allow it now (undelivered messages, not polled).
    #[error("{0}")]
    Conflict(String),
    /// Autotask could not be asked (it did not answer usably).
    #[error("{0}")]
    Upstream(String),
    /// The service itself failed (the state database); logged when made.
    #[error("{0}")]
    Internal(String),
}

impl ManageError {
    /// A problem with one field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ManageError::Invalid(vec![FieldProblem { field: field.into(), message: message.into() }])
    }

    /// Every problem of a body read as an instance, by JSON path.
    pub fn problems(problems: &Problems) -> Self {
        let listed: Vec<FieldProblem> = problems
            .0
            .iter()
            .map(|problem| FieldProblem { field: json_path(&problem.key), message: problem.message.clone() })
            .collect();
        if listed.is_empty() { ManageError::field("$", "invalid instance") } else { ManageError::Invalid(listed) }
    }

    /// A failure of the service itself: logged, and reported with the error's
    /// own text (which never holds a secret).
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!("management: {error}");
        ManageError::Internal(error.to_string())
    }

    /// The problems by field; a refusal that names no field is about the whole request (`$`).
    pub fn field_problems(&self) -> Vec<FieldProblem> {
        match self {
            ManageError::Invalid(problems) => problems.clone(),
            other => vec![FieldProblem { field: "$".into(), message: other.to_string() }],
        }
    }
}

impl From<StoreError> for ManageError {
    fn from(error: StoreError) -> Self {
        ManageError::internal(error)
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
