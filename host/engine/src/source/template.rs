//! Cloud Elements poll URL templates: `${date:PATTERN}` and friends, replaced by
//! the time a poll reads changes from.
//!
//! | placeholder | replaced by |
//! |---|---|
//! | `${date:PATTERN}` | the instant in the configured zone (UTC unless set), as a Java SimpleDateFormat pattern |
//! | `${gmtDate:PATTERN}` | the instant in UTC |
//! | `${dateTimeZone:ZONE:PATTERN}` | the instant in ZONE: an IANA name, a Java short ID (`PST`) or an offset (`-8:00`) |
//! | `${epoch}`, `${epoch:s}`, `${epoch:us}` | milliseconds, seconds, microseconds since 1970 |

use chrono::{DateTime, Utc};
use std::sync::Arc;

use simple_date_format::{Pattern, Zone};

/// A poll URL with its placeholders found and checked, ready to render at any instant.
#[derive(Debug, Clone)]
pub struct UrlTemplate {
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Literal(String),
    Date { pattern: Arc<Pattern>, zone: Option<Zone> },
    Epoch(EpochUnit),
}

#[derive(Debug, Clone, Copy)]
enum EpochUnit {
    Seconds,
    Millis,
    Micros,
}

/// A placeholder that cannot be used, with where it is.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("poll URL `{url}`, at character {position}: {message}")]
pub struct TemplateError {
    pub url: String,
    /// 0-based character position of the placeholder's `$`.
    pub position: usize,
    pub message: String,
}

impl UrlTemplate {
    /// Finds and checks every placeholder in `url`.
    pub fn new(url: &str) -> Result<Self, TemplateError> {
        let error = |position: usize, message: String| TemplateError { url: url.to_string(), position, message };
        let mut parts = Vec::new();
        let mut rest = url;
        let mut offset = 0;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_string()));
            }
            let body_start = start + 2;
            let body_len = placeholder_end(&rest[body_start..])
                .ok_or_else(|| error(char_position(url, offset + start), "`${` is never closed by `}`".into()))?;
            let body = &rest[body_start..body_start + body_len];
            let part = placeholder(body).map_err(|message| error(char_position(url, offset + start), message))?;
            parts.push(part);
            let consumed = body_start + body_len + 1;
            offset += consumed;
            rest = &rest[consumed..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(UrlTemplate { parts })
    }

    /// The URL at `instant`; `${date:...}` uses `zone`.
    pub fn render(&self, instant: DateTime<Utc>, zone: &Zone) -> String {
        let mut url = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => url.push_str(text),
                Part::Date { pattern, zone: own } => {
                    url.push_str(&pattern.format(instant, own.as_ref().unwrap_or(zone)))
                }
                Part::Epoch(EpochUnit::Seconds) => url.push_str(&instant.timestamp().to_string()),
                Part::Epoch(EpochUnit::Millis) => url.push_str(&instant.timestamp_millis().to_string()),
                Part::Epoch(EpochUnit::Micros) => url.push_str(&instant.timestamp_micros().to_string()),
            }
        }
        url
    }
}

/// Length of a placeholder's body up to its closing `}`; a `}` inside a quoted
/// pattern literal (`'}'`) does not close it.
fn placeholder_end(text: &str) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '}' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

fn placeholder(body: &str) -> Result<Part, String> {
    let (kind, argument) = body.split_once(':').map_or((body, None), |(k, a)| (k, Some(a)));
    let pattern = |text: &str| crate::dates::shared_pattern(text).map_err(|e| format!("`${{{body}}}`: {e}"));
    match (kind, argument) {
        ("date", Some(p)) => Ok(Part::Date { pattern: pattern(p)?, zone: None }),
        ("gmtDate", Some(p)) => Ok(Part::Date { pattern: pattern(p)?, zone: Some(Zone::Utc) }),
        ("dateTimeZone", Some(rest)) => {
            let (zone, p) = split_zone(rest).ok_or_else(|| {
                format!("`${{{body}}}` needs a known time zone and a pattern: `${{dateTimeZone:ZONE:PATTERN}}`")
            })?;
            Ok(Part::Date { pattern: pattern(p)?, zone: Some(zone) })
        }
        ("epoch", None) => Ok(Part::Epoch(EpochUnit::Millis)),
        ("epoch", Some("s")) => Ok(Part::Epoch(EpochUnit::Seconds)),
        ("epoch", Some("ms")) => Ok(Part::Epoch(EpochUnit::Millis)),
        ("epoch", Some("us")) => Ok(Part::Epoch(EpochUnit::Micros)),
        ("epoch", Some(unit)) => Err(format!("`${{{body}}}`: unknown epoch unit `{unit}` (use s, ms or us)")),
        ("date" | "gmtDate", None) => Err(format!("`${{{body}}}` needs a pattern: `${{{kind}:PATTERN}}`")),
        _ => Err(format!("unknown placeholder `${{{body}}}` (known: date, gmtDate, dateTimeZone, epoch)")),
    }
}

/// The longest zone name [`split_zone`] tries: IANA names stay under 32
/// characters and offsets (`GMT-08:00`) under 10.
const MAX_ZONE_LEN: usize = 64;

/// Splits `ZONE:PATTERN`, where the zone may itself hold colons (`-8:00`): the
/// longest prefix that is a zone wins. Only prefixes up to [`MAX_ZONE_LEN`] are
/// tried, so a body of many colons costs linear time, not one zone lookup
/// (itself linear) per colon.
fn split_zone(text: &str) -> Option<(Zone, &str)> {
    let mut head_len = text.len().min(MAX_ZONE_LEN + 1);
    while !text.is_char_boundary(head_len) {
        head_len -= 1;
    }
    text[..head_len]
        .match_indices(':')
        .rev()
        .filter_map(|(i, _)| Some((Zone::parse(&text[..i]).ok()?, &text[i + 1..])))
        .find(|(_, pattern)| !pattern.is_empty())
}

fn char_position(text: &str, byte_offset: usize) -> usize {
    text[..byte_offset].chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dates::parse_instant;

    fn render(url: &str, at: &str) -> String {
        UrlTemplate::new(url).unwrap().render(parse_instant(at).unwrap(), &Zone::Utc)
    }

    #[test]
    fn renders_the_cloud_elements_autotask_default() {
        assert_eq!(
            render(
                "/hubs/helpdesk/incidents?where=lastActivityDate>='${date:yyyy-MM-dd'T'HH:mm:ssZ}'",
                "2024-06-01T12:34:56.789Z"
            ),
            "/hubs/helpdesk/incidents?where=lastActivityDate>='2024-06-01T12:34:56+0000'"
        );
    }

    #[test]
    fn renders_every_kind_of_placeholder() {
        let at = "2024-01-15T08:00:00.123456Z";
        assert_eq!(render("${gmtDate:yyyy-MM-dd HH:mm}", at), "2024-01-15 08:00");
        assert_eq!(render("${dateTimeZone:PST:yyyy-MM-dd HH:mm z}", at), "2024-01-15 00:00 PST");
        assert_eq!(render("${dateTimeZone:-8:00:HH:mm XXX}", at), "00:00 -08:00");
        assert_eq!(render("${dateTimeZone:Europe/Paris:HH:mm}", at), "09:00");
        assert_eq!(render("${epoch}|${epoch:s}|${epoch:us}", at), "1705305600123|1705305600|1705305600123456");
        assert_eq!(render("a=${date:''yyyy''}&b=${date:'}'}", at), "a='2024'&b=}");
    }

    #[test]
    fn date_uses_the_configured_zone() {
        let template = UrlTemplate::new("${date:HH:mm}").unwrap();
        let tokyo = Zone::parse("Asia/Tokyo").unwrap();
        assert_eq!(template.render(parse_instant("2024-01-15T08:00:00Z").unwrap(), &tokyo), "17:00");
    }

    #[test]
    fn names_the_url_the_position_and_the_problem() {
        let url = "/hubs/helpdesk/incidents?where=lastActivityDate>='${date:yyyy-MM-dd'T'HH:mm:ssZ}''";
        assert!(UrlTemplate::new(url).is_ok(), "a stray quote after the placeholder is for the CEQL parser to report");

        let error = UrlTemplate::new("/x?w=${date:yyyy-MM-dd'T}").unwrap_err();
        assert_eq!(error.position, 5);
        assert!(error.message.contains("never closed"), "{}", error.message);

        let error = UrlTemplate::new("/x?w=${date:yyyy-qq}").unwrap_err();
        assert!(error.to_string().starts_with("poll URL `/x?w=${date:yyyy-qq}`, at character 5: `${date:yyyy-qq}`:"));
        assert!(error.message.contains('q'), "{}", error.message);

        let error = UrlTemplate::new("/x?a=1&w=${now:yyyy}").unwrap_err();
        assert_eq!(error.position, 9);
        assert_eq!(error.message, "unknown placeholder `${now:yyyy}` (known: date, gmtDate, dateTimeZone, epoch)");

        assert!(UrlTemplate::new("${dateTimeZone:Mars/Olympus:yyyy}").unwrap_err().message.contains("known time zone"));
        assert!(UrlTemplate::new("${epoch:ns}").unwrap_err().message.contains("unknown epoch unit `ns`"));
    }

    /// A zone is looked for only in the first characters: 400 KB of colons took
    /// 74 s when every colon was tried as the end of the zone.
    #[test]
    fn a_body_of_many_colons_is_read_in_linear_time() {
        let colons = ":".repeat(400_000);
        let started = std::time::Instant::now();
        let error = UrlTemplate::new(&format!("/x?w=${{dateTimeZone:{colons}}}")).unwrap_err();
        assert_eq!(error.position, 5);
        assert!(error.message.contains("needs a known time zone"), "{}", &error.message[..200]);

        let unclosed = "${dateTimeZone:".repeat(400_000 / 15);
        assert!(UrlTemplate::new(&unclosed).unwrap_err().message.contains("never closed"));

        // A valid zone followed by a long pattern of colons is still found.
        let template = UrlTemplate::new(&format!("${{dateTimeZone:-8:00:HH{colons}}}")).unwrap();
        let rendered = template.render(parse_instant("2024-01-15T08:00:00Z").unwrap(), &Zone::Utc);
        assert_eq!(rendered, format!("00{colons}"));
        // Generous: the quadratic parser took over a minute; linear takes milliseconds.
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "took {:?}", started.elapsed());
    }
}
