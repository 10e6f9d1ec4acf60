//! Java `SimpleDateFormat` patterns: format and parse with Java's semantics.
//!
//! Cloud Elements style configuration describes dates with `java.text.SimpleDateFormat`
//! patterns: poll URL templates such as `${date:yyyy-MM-dd'T'HH:mm:ssZ}`, and
//! `datesConfiguration` patterns such as `yyyy-MM-dd'T'HH:mm:ss'Z'` for reading record dates.
//! This crate compiles such a pattern once ([`Pattern::new`]) and then formats and parses
//! exactly as `new SimpleDateFormat(pattern, Locale.US)` with `setTimeZone(zone)` does on
//! Java 17 (Gregorian calendar, US English names, weeks starting on Sunday with week 1 being
//! the week of January 1st).
//!
//! ```
//! use simple_date_format::{Pattern, Zone};
//!
//! let pattern = Pattern::new("yyyy-MM-dd'T'HH:mm:ssZ").unwrap();
//! let paris = Zone::parse("Europe/Paris").unwrap();
//! let instant = "2023-07-01T10:00:00Z".parse().unwrap();
//! assert_eq!(pattern.format(instant, &paris), "2023-07-01T12:00:00+0200");
//! assert_eq!(pattern.parse("2023-07-01T12:00:00+0200", &paris).unwrap(), instant);
//! ```
//!
//! Every letter Java defines is supported: `G y Y M L w W D d F E u a H k K h m s S z Z X`.
//! Note that `S` is a number of milliseconds, not a fraction (`S` prints `7` for 7 ms and
//! parses `.2` as 2 ms), exactly as in Java. The behaviour is pinned by tables generated
//! with real Java (`testdata/`), which the tests check row by row.
//!
//! # Differences from Java
//!
//! * **Fractional seconds the pattern does not mention (Autotask).** Autotask returns
//!   timestamps such as `2022-12-07T09:15:45.2Z` and `2022-12-07T09:15:52.407Z` for the
//!   pattern `yyyy-MM-dd'T'HH:mm:ss'Z'`, which Java rejects. When the seconds field `s` is
//!   directly followed by a literal that does not start with `.` (or ends the pattern) and the
//!   text has `.` and 1 to 3 digits there, [`Pattern::parse`] reads them as a *fraction* of a
//!   second: `.2` is 200 ms, `.21` is 210 ms, `.407` is 407 ms (`.4071` is an error). An
//!   explicit `S` field keeps Java's meaning (`ss.SSS` reads `.2` as 2 ms).
//!
//!   ```
//!   use simple_date_format::{Pattern, Zone};
//!
//!   let pattern = Pattern::new("yyyy-MM-dd'T'HH:mm:ss'Z'").unwrap();
//!   let at = pattern.parse("2022-12-07T09:15:45.2Z", &Zone::Utc).unwrap();
//!   assert_eq!(at.to_rfc3339(), "2022-12-07T09:15:45.200+00:00");
//!   ```
//! * **Strict parsing.** Parsing behaves like Java's `setLenient(false)`: out-of-range values
//!   (`2023-13-01`, `2023-02-29`) and fields that contradict each other (`Thu` for a
//!   Wednesday) are errors, where Java's default lenient mode rolls them over. The one
//!   exception is a wall-clock time inside a DST gap (`02:30` on a spring-forward day), which
//!   is moved forward as lenient Java does (`03:30` daylight time) instead of being rejected.
//!   In a repeated hour, as in Java, the later (standard time) instant is chosen.
//! * **The whole text must match.** Java's `parse(String)` ignores trailing text; here it is
//!   an error. Numbers are unsigned (Java would accept `-5`).
//! * **Zone names** (`z`) come from a table generated from Java 17 (`src/zone_names.tsv`).
//!   Whether daylight time is in effect comes from chrono-tz; zones with "negative DST" in
//!   the tz database (Europe/Dublin, Africa/Casablanca) may name standard and daylight time
//!   differently from Java. When parsing a zone name Java also tries the JVM's default zone;
//!   here only the formatting zone and then all zones in Java's order are tried.
//! * **[`Zone::parse`]** rejects names Java does not know (Java silently uses GMT, e.g. for
//!   `PDT`) and also accepts bare offsets (`-8:00`, `+0530`), which Java only accepts after `GMT`.
//!   Java's fixed-offset IDs `EST`, `MST`, `HST` become [`Zone::Fixed`] offsets, so `z` prints
//!   `GMT-05:00` for them where Java prints `EST`.
//! * **Two-digit years** use Java's window (80 years before now to 20 after), based on the
//!   current time in UTC rather than in the JVM's default zone.

mod calendar;
mod format;
mod names;
mod parse;
mod pattern;
mod zone;

use chrono::{DateTime, Utc};

pub use parse::ParseError;
pub use pattern::PatternError;
pub use zone::{Zone, ZoneError};

/// A compiled SimpleDateFormat pattern, so templates are checked once and reused for many dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    tokens: Vec<pattern::Token>,
}

impl Pattern {
    /// Compiles a SimpleDateFormat pattern.
    ///
    /// Fails, naming the position, on an ASCII letter Java does not define, an unterminated
    /// quote, or `X` repeated more than three times.
    pub fn new(pattern: &str) -> Result<Pattern, PatternError> {
        Ok(Pattern { source: pattern.to_string(), tokens: pattern::compile(pattern)? })
    }

    /// The pattern as written, for messages and round-tripping configuration.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Formats `instant` as seen in time zone `zone` (exactly what Java prints).
    pub fn format(&self, instant: DateTime<Utc>, zone: &Zone) -> String {
        format::format(&self.tokens, instant, zone)
    }

    /// Reads `text` written in this pattern; fields the pattern lacks default as Java does
    /// (1970-01-01T00:00:00 in `zone`); the whole text must be consumed.
    ///
    /// A zone in the text (`Z`, `X`, `z` fields) takes precedence over `zone`.
    pub fn parse(&self, text: &str, zone: &Zone) -> Result<DateTime<Utc>, ParseError> {
        parse::parse(&self.tokens, &self.source, text, zone, Utc::now())
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for Pattern {
    type Err = PatternError;

    fn from_str(pattern: &str) -> Result<Pattern, PatternError> {
        Pattern::new(pattern)
    }
}
