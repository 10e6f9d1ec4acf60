//! Reading and writing the dates in records.
//!
//! Resources name their date formats as Java SimpleDateFormat patterns
//! (Cloud Elements' `datesConfiguration`). [`DateFormat`] is where such a
//! pattern is applied; today it reads ISO-8601 text whatever the pattern, which
//! is what Autotask returns (`2022-12-07T09:15:45.2Z`, 0–3 fraction digits).

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};

/// A date format from a resource's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateFormat {
    pattern: String,
}

/// Why a date could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{text}` is not a date in the format `{pattern}`")]
pub struct DateError {
    text: String,
    pattern: String,
}

/// The format Autotask returns its dates in.
pub const AUTOTASK_DATE_PATTERN: &str = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'";

impl DateFormat {
    /// A format for `pattern`, a Java SimpleDateFormat pattern.
    pub fn new(pattern: &str) -> Self {
        DateFormat { pattern: pattern.to_string() }
    }

    /// The pattern as configured.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Reads `text` as an instant. Text without an offset is taken as UTC.
    pub fn parse(&self, text: &str) -> Result<DateTime<Utc>, DateError> {
        if let Ok(with_offset) = DateTime::parse_from_rfc3339(text) {
            return Ok(with_offset.with_timezone(&Utc));
        }
        NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
            .map(|naive| naive.and_utc())
            .map_err(|_| DateError { text: text.to_string(), pattern: self.pattern.clone() })
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

    #[test]
    fn reads_autotask_dates_with_zero_to_three_fraction_digits() {
        let format = DateFormat::new(AUTOTASK_DATE_PATTERN);
        for (text, expected) in [
            ("2022-12-07T09:15:45Z", "2022-12-07T09:15:45.000Z"),
            ("2022-12-07T09:15:45.2Z", "2022-12-07T09:15:45.200Z"),
            ("2022-12-07T09:15:45.21Z", "2022-12-07T09:15:45.210Z"),
            ("2022-12-07T09:15:45.407Z", "2022-12-07T09:15:45.407Z"),
            ("2022-12-07T10:15:45.407+01:00", "2022-12-07T09:15:45.407Z"),
            ("2022-12-07T09:15:45.5", "2022-12-07T09:15:45.500Z"),
        ] {
            assert_eq!(format_instant(format.parse(text).unwrap()), expected, "{text}");
        }
    }

    #[test]
    fn names_the_text_and_the_pattern_when_it_cannot_read_a_date() {
        let error = DateFormat::new("yyyy-MM-dd").parse("yesterday").unwrap_err();
        assert_eq!(error.to_string(), "`yesterday` is not a date in the format `yyyy-MM-dd`");
    }
}
