//! The limits an instance body is held to, wherever it comes from (the API or
//! the configuration file): every number finite and in range, every text of
//! bounded length, where requests may go ([`Egress`]) and which hosts are
//! Autotask ([`AutotaskHosts`]). A body past a limit is refused with a problem
//! naming the field, before anything runs or is sent.

use std::time::Duration;

use serde_json::Value;

use crate::egress::{AutotaskHosts, Egress};

/// The longest instance name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The most tags an instance may have, and the longest tag.
pub const MAX_TAGS: usize = 50;
pub const MAX_TAG_CHARS: usize = 100;
/// The longest configuration value (a URL, a user name, a secret), in characters.
pub const MAX_VALUE_CHARS: usize = 4096;
/// The longest field name (`idField`, a date field) and date pattern.
pub const MAX_FIELD_CHARS: usize = 100;
pub const MAX_PATTERN_CHARS: usize = 100;
/// The longest `pollDelay` and `createdCheckTolerance`: a day.
pub const MAX_DELAY_SECONDS: f64 = 86_400.0;

/// What the operator allows instances (`[server] allowed_autotask_hosts`,
/// `[egress]`, `[limits]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRules {
    pub egress: Egress,
    pub autotask_hosts: AutotaskHosts,
    /// The shortest refresh interval: shorter ones spend a tenant's Autotask
    /// request allowance (10,000 an hour) for nothing.
    pub min_refresh_interval: Duration,
    pub max_refresh_interval: Duration,
    /// The most resources one instance may poll.
    pub max_resources: usize,
}

impl Default for InstanceRules {
    /// Safe by default: no loopback, private or link-local addresses, only
    /// Autotask's own hosts, 5 s to 7 days between polls, 20 resources.
    fn default() -> Self {
        InstanceRules {
            egress: Egress::default(),
            autotask_hosts: AutotaskHosts::default(),
            min_refresh_interval: Duration::from_secs(5),
            max_refresh_interval: Duration::from_secs(7 * 24 * 3600),
            max_resources: 20,
        }
    }
}

impl InstanceRules {
    /// `minutes` as a refresh interval, or why it is not one.
    pub fn refresh_interval(&self, minutes: f64) -> Result<Duration, String> {
        let (min, max) = (self.min_refresh_interval.as_secs_f64(), self.max_refresh_interval.as_secs_f64());
        let seconds = minutes * 60.0;
        if !seconds.is_finite() || seconds < min || seconds > max {
            return Err(format!(
                "must be a number of minutes from {} to {} (this host's limits)",
                minutes_text(min),
                minutes_text(max)
            ));
        }
        Ok(Duration::from_secs_f64(seconds))
    }

    /// A file instance's `refresh_interval_seconds`, within the same limits.
    pub fn refresh_interval_seconds(&self, seconds: f64) -> Result<Duration, String> {
        self.refresh_interval(seconds / 60.0).map_err(|_| {
            format!(
                "must be a number of seconds from {} to {} (this host's limits)",
                self.min_refresh_interval.as_secs_f64(),
                self.max_refresh_interval.as_secs_f64()
            )
        })
    }
}

/// Minutes as short text (`0.0833…` shown as `0.083`).
fn minutes_text(seconds: f64) -> String {
    let minutes = seconds / 60.0;
    let text = format!("{minutes:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A finite number, also written as a string (`"15"`); `inf`, `NaN` and
/// anything else are not numbers here.
pub fn finite_number(value: &Value) -> Option<f64> {
    let number = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    number.filter(|n: &f64| n.is_finite())
}

/// A JSON value's type, as a problem message names it.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Why `text` is too long for a value of at most `max` characters, if it is.
pub fn too_long(text: &str, max: usize) -> Option<String> {
    let chars = text.chars().take(max + 1).count();
    (chars > max).then(|| format!("is too long: at most {max} characters"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn intervals_must_be_finite_and_within_the_limits() {
        let rules = InstanceRules::default();
        assert_eq!(rules.refresh_interval(15.0), Ok(Duration::from_secs(900)));
        assert_eq!(rules.refresh_interval(5.0 / 60.0), Ok(Duration::from_secs(5)));
        for minutes in [1e-12, 0.0, -1.0, f64::INFINITY, f64::NAN, 2.5e17, 1e300, 7.0 * 24.0 * 60.0 + 1.0] {
            let error = rules.refresh_interval(minutes).unwrap_err();
            assert_eq!(error, "must be a number of minutes from 0.083 to 10080 (this host's limits)", "{minutes}");
        }
    }

    #[test]
    fn numbers_are_finite() {
        assert_eq!(finite_number(&json!(1.5)), Some(1.5));
        assert_eq!(finite_number(&json!(" 15 ")), Some(15.0));
        for value in [json!("inf"), json!("-Infinity"), json!("NaN"), json!("1e400"), json!(true), json!(null)] {
            assert_eq!(finite_number(&value), None, "{value}");
        }
    }

    #[test]
    fn lengths_are_counted_in_characters_without_reading_past_the_limit() {
        assert_eq!(too_long("ééé", 3), None);
        assert_eq!(too_long("éééé", 3).as_deref(), Some("is too long: at most 3 characters"));
    }
}
