//! Reading and writing the dates in records.
//!
//! Resources name their date formats as Java SimpleDateFormat patterns
//! (Cloud Elements' `datesConfiguration`), read here with Java's own rules by
//! the `simple-date-format` crate. One deliberate leniency: Autotask writes 0–3
//! fraction digits (`2022-12-07T09:15:45.2Z`) that a pattern such as
//! `yyyy-MM-dd'T'HH:mm:ss'Z'` does not mention; where the seconds are followed by
//! a literal, such a fraction is accepted. (An explicit `SSS` keeps Java's
//! meaning: a count of milliseconds, so `.2` would be 2 ms.)

use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use simple_date_format::{Pattern, Zone};

/// A date format from a resource's configuration: a pattern and the zone that
/// dates without an offset are in.
#[derive(Debug, Clone)]
pub struct DateFormat {
    pattern: Arc<Pattern>,
    zone: Zone,
    zone_name: Option<String>,
}

/// Formats are equal when configured the same: the same pattern text and zone name.
impl PartialEq for DateFormat {
    fn eq(&self, other: &Self) -> bool {
        self.pattern() == other.pattern() && self.zone_name == other.zone_name
    }
}

/// `text` compiled, shared with every format and template that uses the same
/// text: a host of 10,000 instances configures a handful of distinct patterns
/// some 90,000 times, and a compiled pattern is a few hundred bytes.
pub(crate) fn shared_pattern(text: &str) -> Result<Arc<Pattern>, simple_date_format::PatternError> {
    static PATTERNS: LazyLock<Mutex<HashMap<String, Weak<Pattern>>>> = LazyLock::new(Mutex::default);
    let mut patterns = PATTERNS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(pattern) = patterns.get(text).and_then(Weak::upgrade) {
        return Ok(pattern);
    }
    let pattern = Arc::new(Pattern::new(text)?);
    // Patterns no configuration uses any more are forgotten now and then.
    if patterns.len() >= 256 {
        patterns.retain(|_, pattern| pattern.strong_count() > 0);
    }
    patterns.insert(text.to_owned(), Arc::downgrade(&pattern));
    Ok(pattern)
}

/// Why a configured date format cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DateFormatError {
    #[error("date format `{pattern}`: {source}")]
    Pattern { pattern: String, source: simple_date_format::PatternError },
    #[error("time zone `{zone}`: {source}")]
    Zone { zone: String, source: simple_date_format::ZoneError },
}

/// Why a date could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DateError(#[from] simple_date_format::ParseError);

/// The format Autotask returns its dates in, as Cloud Elements configures it;
/// 0–3 fraction digits after the seconds are accepted.
pub const AUTOTASK_DATE_PATTERN: &str = "yyyy-MM-dd'T'HH:mm:ss'Z'";

impl DateFormat {
    /// A format for `pattern` (Java SimpleDateFormat) whose zone-less dates are in
    /// `zone` (an IANA name, a Java short ID or an offset; UTC when `None`).
    pub fn new(pattern: &str, zone: Option<&str>) -> Result<Self, DateFormatError> {
        let pattern = shared_pattern(pattern)
            .map_err(|source| DateFormatError::Pattern { pattern: pattern.to_string(), source })?;
        let zone_name = zone.map(str::to_owned);
        let zone = match zone {
            Some(name) => {
                Zone::parse(name).map_err(|source| DateFormatError::Zone { zone: name.to_string(), source })?
            }
            None => Zone::Utc,
        };
        Ok(DateFormat { pattern, zone, zone_name })
    }

    /// The pattern as configured.
    pub fn pattern(&self) -> &str {
        self.pattern.as_str()
    }

    /// The zone as configured, if one was.
    pub fn zone_name(&self) -> Option<&str> {
        self.zone_name.as_deref()
    }

    /// Reads `text` as an instant.
    pub fn parse(&self, text: &str) -> Result<DateTime<Utc>, DateError> {
        Ok(self.pattern.parse(text, &self.zone)?)
    }
}

/// The one way instants are written for plugins and receivers: RFC 3339, UTC,
/// milliseconds, `Z` (`2024-01-01T00:00:30.407Z`).
pub fn format_instant(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Reads an RFC 3339 instant given on the command line or by a plugin.
pub fn parse_instant(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pattern: &str, zone: Option<&str>, text: &str) -> String {
        format_instant(DateFormat::new(pattern, zone).unwrap().parse(text).unwrap())
    }

    #[test]
    fn reads_autotask_dates_with_zero_to_three_fraction_digits() {
        for (text, expected) in [
            ("2022-12-07T09:15:45Z", "2022-12-07T09:15:45.000Z"),
            ("2022-12-07T09:15:45.2Z", "2022-12-07T09:15:45.200Z"),
            ("2022-12-07T09:15:45.21Z", "2022-12-07T09:15:45.210Z"),
            ("2022-12-07T09:15:45.407Z", "2022-12-07T09:15:45.407Z"),
        ] {
            assert_eq!(read(AUTOTASK_DATE_PATTERN, None, text), expected, "{text}");
        }
    }

    #[test]
    fn reads_other_patterns_in_their_zone() {
        assert_eq!(read("dd/MM/yyyy HH:mm", Some("Europe/Paris"), "07/12/2022 10:15"), "2022-12-07T09:15:00.000Z");
        assert_eq!(read("yyyy-MM-dd'T'HH:mm:ssXXX", None, "2022-12-07T10:15:45+01:00"), "2022-12-07T09:15:45.000Z");
        assert_eq!(read("yyyy-MM-dd HH:mm:ss", Some("-8:00"), "2022-12-07 01:15:45"), "2022-12-07T09:15:45.000Z");
    }

    #[test]
    fn names_the_problem() {
        let error = DateFormat::new(AUTOTASK_DATE_PATTERN, None).unwrap().parse("yesterday").unwrap_err();
        assert!(error.to_string().contains("yesterday"), "{error}");
        let error = DateFormat::new("yyyy-qq", None).unwrap_err();
        assert_eq!(error.to_string(), "date format `yyyy-qq`: unsupported pattern letter 'q' at position 5");
        let error = DateFormat::new("yyyy", Some("Mars/Olympus")).unwrap_err();
        assert!(error.to_string().starts_with("time zone `Mars/Olympus`"), "{error}");
    }
}
