//! When to try an Autotask request again, and how long to wait first.
//!
//! The status decides first: 429, 408 and 502–504, timeouts and refused
//! connections are retried with exponential backoff and full jitter, never
//! sooner than `Retry-After`; other 4xx never are. Autotask also answers 500 to
//! requests that can never succeed (an unknown field, a bad integration code),
//! and 500 is otherwise its answer to a passing fault, so for 500 alone the
//! text decides: the texts below are real Autotask's, each recorded from a
//! published client's fixture, an issue thread or Autotask's docs, matched on
//! the stable part only. An unknown 500 is retried; an unknown *user* is found
//! by asking zone lookup again (see `client.rs`), not by its wording.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// How many times and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The first backoff; each retry doubles it.
    pub base: Duration,
    /// The longest backoff between two attempts.
    pub cap: Duration,
    /// A `Retry-After` longer than this is not waited for: the request fails as rate-limited
    /// and the next poll tries again.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (attempt counts from 1): a random
    /// share of `base · 2^(attempt-1)` up to `cap` (full jitter), and never less
    /// than `retry_after`. `random` is uniform in [0, 1).
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>, random: f64) -> Duration {
        let exponential = self.base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16)).min(self.cap);
        let jittered = exponential.mul_f64(random.clamp(0.0, 1.0));
        jittered.max(retry_after.unwrap_or_default())
    }
}

/// Whether an answer with this status and Autotask error text may succeed if sent again.
pub fn is_transient(status: StatusCode, text: &str) -> bool {
    match status {
        StatusCode::TOO_MANY_REQUESTS
        | StatusCode::REQUEST_TIMEOUT
        | StatusCode::BAD_GATEWAY
        | StatusCode::SERVICE_UNAVAILABLE
        | StatusCode::GATEWAY_TIMEOUT => true,
        StatusCode::INTERNAL_SERVER_ERROR => !is_permanent_500(text),
        _ => false,
    }
}

/// The stable parts of real Autotask 500 texts that mean "this request is
/// wrong", lower-cased, with where each was seen.
const PERMANENT_500_TEXTS: &[&str] = &[
    // A bad integration code: `IntegrationCode is invalid.` (apigrate/autotask-restapi
    // issue 19; MattParr/python-atws issue 64).
    "integrationcode is invalid",
    // An unknown user at zone lookup: `Zone information could not be determined`
    // (KelvinTegelaar/AutotaskAPI issue 17).
    "zone information could not be determined",
    // An unknown field: `Unable to find projectID in the TimeEntry Entity`
    // (WYRE-AI/autotask-mcp pull request 282).
    "unable to find ",
    // `MaxRecords` out of range: `maxCountOfRecordsToReturn must be between 1 and 500`.
    "maxcountofrecordstoreturn must be between",
    // A body-less or unreadable query body: ASP.NET's `Value cannot be null. Parameter name: queryModel`.
    "parameter name: querymodel",
    // More than 500 OR conditions: `Invalid query syntax. Queries are limited to 500 or
    // fewer 'OR' conditions.` (Autotask's API docs).
    "invalid query syntax",
];

fn is_permanent_500(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    PERMANENT_500_TEXTS.iter().any(|permanent| text.contains(permanent))
}

/// Whether a 500 says the credentials are wrong: Autotask answers a bad
/// integration code with 500, not 401. (An unknown user gets a 500 whose
/// wording is not known; the client asks zone lookup instead.)
pub fn is_credentials_500(text: &str) -> bool {
    text.to_ascii_lowercase().contains("integrationcode is invalid")
}

/// The `Retry-After` header in seconds (the HTTP-date form is read too).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = date.signed_duration_since(chrono::Utc::now()).to_std().unwrap_or_default();
    Some(wait)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_honours_retry_after() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(1, None, 0.999_999).as_millis(), 499);
        assert_eq!(policy.backoff(3, None, 0.5), Duration::from_secs(1));
        assert_eq!(policy.backoff(30, None, 1.0), Duration::from_secs(30), "capped");
        assert_eq!(policy.backoff(1, Some(Duration::from_secs(5)), 0.5), Duration::from_secs(5));
        assert_eq!(policy.backoff(1, None, 0.0), Duration::ZERO, "full jitter can retry at once");
    }

    #[test]
    fn tells_transient_from_permanent_answers() {
        assert!(is_transient(StatusCode::TOO_MANY_REQUESTS, ""));
        assert!(is_transient(StatusCode::SERVICE_UNAVAILABLE, ""));
        assert!(is_transient(StatusCode::INTERNAL_SERVER_ERROR, "An unexpected error occurred"));
        assert!(!is_transient(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Unable to find lastActivityDat in the Ticket Entity."
        ));
        assert!(!is_transient(StatusCode::INTERNAL_SERVER_ERROR, "IntegrationCode is invalid."));
        assert!(!is_transient(
            StatusCode::INTERNAL_SERVER_ERROR,
            "maxCountOfRecordsToReturn must be between 1 and 500"
        ));
        assert!(!is_transient(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Value cannot be null.\r\nParameter name: queryModel"
        ));
        assert!(!is_transient(StatusCode::INTERNAL_SERVER_ERROR, "Zone information could not be determined"));
        assert!(is_transient(StatusCode::INTERNAL_SERVER_ERROR, "An error has occurred."), "ASP.NET's generic 500");
        assert!(is_transient(StatusCode::TOO_MANY_REQUESTS, "API thread threshold of 3 threads has been exceeded"));
        assert!(is_transient(StatusCode::REQUEST_TIMEOUT, ""));
        assert!(is_credentials_500("IntegrationCode is invalid."));
        assert!(!is_credentials_500("An error has occurred."));
        assert!(!is_transient(StatusCode::UNAUTHORIZED, ""));
        assert!(!is_transient(StatusCode::METHOD_NOT_ALLOWED, ""));
    }

    #[test]
    fn reads_retry_after_in_both_forms() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        let later = (chrono::Utc::now() + chrono::TimeDelta::seconds(30)).to_rfc2822();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        let wait = retry_after(&headers).unwrap();
        assert!((Duration::from_secs(28)..=Duration::from_secs(30)).contains(&wait), "{wait:?}");
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }
}
