//! Time zones as Java's `TimeZone.getTimeZone` names them, and the offset rules
//! `SimpleDateFormat` applies to them.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::{OffsetComponents, Tz};
use thiserror::Error;

use crate::names;

/// A time zone as Java's `TimeZone.getTimeZone` accepts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// Java's `UTC` zone (prints `UTC` / `Coordinated Universal Time` for `z` / `zzzz`).
    Utc,
    /// A custom offset zone such as `GMT-08:00` (prints `GMT-08:00` for `z`).
    Fixed(FixedOffset),
    /// A tz database zone (`Europe/Paris`), printed with Java's display names.
    Named(Tz),
}

/// A zone name that [`Zone::parse`] does not recognise; carries the name so callers can report it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "unknown time zone {name:?}: expected an IANA name (Europe/Paris), UTC, GMT, GMT+8, GMT-08:00, \
     an offset (-8:00, +0530) or a Java short ID (PST, EST, CET, IST, ...)"
)]
pub struct ZoneError {
    /// The name that was not recognised.
    pub name: String,
}

/// Java's three-letter zone IDs that are aliases of a tz database zone
/// (`sun.util.calendar.ZoneInfoFile.oldMappings`). `EST`, `MST` and `HST` are handled
/// separately ([`FIXED_SHORT_IDS`]); `CET`, `EET`, `MET`, `WET` are tz database zones themselves.
const SHORT_IDS: [(&str, Tz); 25] = [
    ("ACT", Tz::Australia__Darwin),
    ("AET", Tz::Australia__Sydney),
    ("AGT", Tz::America__Argentina__Buenos_Aires),
    ("ART", Tz::Africa__Cairo),
    ("AST", Tz::America__Anchorage),
    ("BET", Tz::America__Sao_Paulo),
    ("BST", Tz::Asia__Dhaka),
    ("CAT", Tz::Africa__Harare),
    ("CNT", Tz::America__St_Johns),
    ("CST", Tz::America__Chicago),
    ("CTT", Tz::Asia__Shanghai),
    ("EAT", Tz::Africa__Addis_Ababa),
    ("ECT", Tz::Europe__Paris),
    ("IET", Tz::America__Indiana__Indianapolis),
    ("IST", Tz::Asia__Kolkata),
    ("JST", Tz::Asia__Tokyo),
    ("MIT", Tz::Pacific__Apia),
    ("NET", Tz::Asia__Yerevan),
    ("NST", Tz::Pacific__Auckland),
    ("PLT", Tz::Asia__Karachi),
    ("PNT", Tz::America__Phoenix),
    ("PRT", Tz::America__Puerto_Rico),
    ("PST", Tz::America__Los_Angeles),
    ("SST", Tz::Pacific__Guadalcanal),
    ("VST", Tz::Asia__Ho_Chi_Minh),
];

/// Java's fixed-offset three-letter IDs, in hours.
const FIXED_SHORT_IDS: [(&str, i32); 3] = [("EST", -5), ("MST", -7), ("HST", -10)];

impl Zone {
    /// IANA names (`Europe/Paris`), `UTC`/`GMT`, `GMT+8`/`GMT-08:00`, offsets like `-8:00`, `+0530`,
    /// and Java's three-letter IDs (`PST` → America/Los_Angeles, `EST` → -05:00 fixed, ...).
    ///
    /// Names are case-sensitive, as in Java. Unlike Java, which silently falls back to GMT for
    /// a name it does not know (including `PDT`), an unknown name is an error.
    pub fn parse(name: &str) -> Result<Zone, ZoneError> {
        let unknown = || ZoneError { name: name.to_string() };
        if name == "UTC" {
            return Ok(Zone::Utc);
        }
        if let Some(rest) = name.strip_prefix("GMT")
            && !rest.is_empty()
        {
            return custom_offset(rest).map(fixed).ok_or_else(unknown);
        }
        if name.starts_with(['+', '-']) {
            return custom_offset(name).map(fixed).ok_or_else(unknown);
        }
        if let Some((_, tz)) = SHORT_IDS.iter().find(|(id, _)| *id == name) {
            return Ok(Zone::Named(*tz));
        }
        // Java's EST, MST and HST are fixed offsets. chrono-tz's zones of those names are
        // links to America/Panama, America/Phoenix and Pacific/Honolulu, whose offsets differ
        // before 1968, so use fixed offsets (their `z` prints `GMT-05:00` where Java prints `EST`).
        if let Some((_, hours)) = FIXED_SHORT_IDS.iter().find(|(id, _)| *id == name) {
            return Ok(fixed(hours * 3600));
        }
        name.parse::<Tz>().map(Zone::Named).map_err(|_| unknown())
    }

    /// The zone's total offset from UTC at `utc` and whether daylight saving time is in effect
    /// (Java's `ZONE_OFFSET + DST_OFFSET` and `DST_OFFSET != 0`).
    pub(crate) fn offset_at(&self, utc: NaiveDateTime) -> (i32, bool) {
        match self {
            Zone::Utc => (0, false),
            Zone::Fixed(offset) => (offset.local_minus_utc(), false),
            Zone::Named(tz) => {
                let offset = tz.offset_from_utc_datetime(&utc);
                (offset.fix().local_minus_utc(), !offset.dst_offset().is_zero())
            }
        }
    }

    /// The offset Java applies to a wall-clock time in this zone: in an overlap (clocks set
    /// back) the offset after the transition, in a gap (clocks set forward) the offset before
    /// it. Both are the smaller candidate, i.e. the later instant (`ZoneInfo.getOffsetsByWall`).
    pub(crate) fn offset_for_local(&self, local: NaiveDateTime) -> i32 {
        match self {
            Zone::Utc => 0,
            Zone::Fixed(offset) => offset.local_minus_utc(),
            Zone::Named(tz) => java_wall_offset(*tz, local).fix().local_minus_utc(),
        }
    }

    /// The standard (non-DST) offset in effect at a wall-clock time (Java's raw `ZONE_OFFSET`).
    pub(crate) fn standard_offset_for_local(&self, local: NaiveDateTime) -> i32 {
        match self {
            Zone::Named(tz) => seconds(java_wall_offset(*tz, local).base_utc_offset()),
            _ => self.offset_for_local(local),
        }
    }

    /// Java's `TimeZone.getDSTSavings()`: the daylight saving amount of the zone's current
    /// rules (0 for zones that no longer observe DST). Approximated from 2025's offsets.
    pub(crate) fn dst_savings(&self) -> i32 {
        let Zone::Named(tz) = self else { return 0 };
        [1, 7]
            .into_iter()
            .map(|month| {
                let noon = NaiveDate::from_ymd_opt(2025, month, 15).and_then(|d| d.and_hms_opt(12, 0, 0));
                seconds(tz.offset_from_utc_datetime(&noon.expect("valid date")).dst_offset())
            })
            .find(|dst| *dst != 0)
            .unwrap_or(0)
    }

    /// The Java zone ID whose display names this zone uses (none for custom offsets).
    pub(crate) fn java_id(&self) -> Option<&'static str> {
        match self {
            Zone::Utc => Some("UTC"),
            Zone::Fixed(_) => None,
            Zone::Named(tz) => Some(tz.name()),
        }
    }

    /// What `z` (short) or `zzzz` (long) prints at instant `utc`.
    pub(crate) fn display_name(&self, utc: DateTime<Utc>, long: bool) -> String {
        let (offset, daylight) = self.offset_at(utc.naive_utc());
        match self.java_id().and_then(names::zone_names) {
            Some(row) => row.display(daylight, long).to_string(),
            // Custom zones (and zones Java does not know) print as `GMT-08:00`.
            None => gmt_offset_name(offset),
        }
    }
}

/// `GMT+05:30`, the name Java gives custom offset zones.
pub(crate) fn gmt_offset_name(offset_seconds: i32) -> String {
    let sign = if offset_seconds < 0 { '-' } else { '+' };
    let minutes = offset_seconds.abs() / 60;
    format!("GMT{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

fn seconds(duration: Duration) -> i32 {
    i32::try_from(duration.num_seconds()).expect("zone offsets fit in i32")
}

fn fixed(offset_seconds: i32) -> Zone {
    Zone::Fixed(FixedOffset::east_opt(offset_seconds).expect("offsets are below 24 hours"))
}

/// Java's custom zone syntax after `GMT` (`TimeZone.parseCustomTimeZone`): a sign, then `h`,
/// `hh`, `hmm`, `hhmm`, `h:mm` or `hh:mm`, hours at most 23 and minutes at most 59.
fn custom_offset(text: &str) -> Option<i32> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'+' => (false, &text[1..]),
        b'-' => (true, &text[1..]),
        _ => return None,
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (hours, minutes): (i32, i32) = match digits.split_once(':') {
        Some((h, m)) if all_digits(h) && h.len() <= 2 && all_digits(m) && m.len() == 2 => {
            (h.parse().ok()?, m.parse().ok()?)
        }
        Some(_) => return None,
        None if all_digits(digits) && digits.len() <= 2 => (digits.parse().ok()?, 0),
        None if all_digits(digits) && digits.len() <= 4 => {
            let n: i32 = digits.parse().ok()?;
            (n / 100, n % 100)
        }
        None => return None,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    let seconds = (hours * 60 + minutes) * 60;
    Some(if negative { -seconds } else { seconds })
}

/// The zone offset Java picks for a wall-clock time (see [`Zone::offset_for_local`]).
fn java_wall_offset(tz: Tz, local: NaiveDateTime) -> <Tz as TimeZone>::Offset {
    let smaller = |a: <Tz as TimeZone>::Offset, b: <Tz as TimeZone>::Offset| {
        if b.fix().local_minus_utc() < a.fix().local_minus_utc() { b } else { a }
    };
    match tz.offset_from_local_datetime(&local) {
        chrono::LocalResult::Single(offset) => offset,
        chrono::LocalResult::Ambiguous(a, b) => smaller(a, b),
        chrono::LocalResult::None => {
            // A gap: the offsets a day either side are the ones before and after it
            // (no zone changes its offset twice within two days).
            let day = Duration::days(1);
            smaller(tz.offset_from_utc_datetime(&(local - day)), tz.offset_from_utc_datetime(&(local + day)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset(zone: &Zone) -> i32 {
        match zone {
            Zone::Fixed(o) => o.local_minus_utc(),
            other => panic!("expected a fixed zone, got {other:?}"),
        }
    }

    #[test]
    fn parses_java_style_names() {
        assert_eq!(Zone::parse("PST").unwrap(), Zone::Named(Tz::America__Los_Angeles));
        assert_eq!(Zone::parse("IST").unwrap(), Zone::Named(Tz::Asia__Kolkata));
        assert_eq!(Zone::parse("Europe/Paris").unwrap(), Zone::Named(Tz::Europe__Paris));
        assert_eq!(Zone::parse("CET").unwrap(), Zone::Named(Tz::CET));
        assert_eq!(Zone::parse("UTC").unwrap(), Zone::Utc);
        assert_eq!(Zone::parse("GMT").unwrap(), Zone::Named(Tz::GMT));
        assert_eq!(offset(&Zone::parse("-8:00").unwrap()), -8 * 3600);
        assert_eq!(offset(&Zone::parse("+05:30").unwrap()), 5 * 3600 + 1800);
        assert_eq!(offset(&Zone::parse("+0530").unwrap()), 5 * 3600 + 1800);
        assert_eq!(offset(&Zone::parse("GMT+8").unwrap()), 8 * 3600);
        assert_eq!(offset(&Zone::parse("GMT-08:00").unwrap()), -8 * 3600);
        assert_eq!(offset(&Zone::parse("GMT+0").unwrap()), 0);
    }

    #[test]
    fn unknown_names_are_errors_naming_them() {
        for name in ["Mars/Olympus_Mons", "PDT", "GMT+24", "+5:3", "utc", ""] {
            let err = Zone::parse(name).unwrap_err();
            assert_eq!(err.name, name);
            assert!(err.to_string().contains(&format!("{name:?}")), "{err}");
        }
    }

    #[test]
    fn java_fixed_short_ids_are_fixed() {
        assert_eq!(offset(&Zone::parse("EST").unwrap()), -5 * 3600);
        assert_eq!(offset(&Zone::parse("MST").unwrap()), -7 * 3600);
        assert_eq!(offset(&Zone::parse("HST").unwrap()), -10 * 3600);
    }

    #[test]
    fn wall_clock_offsets_follow_java() {
        let la = Zone::parse("America/Los_Angeles").unwrap();
        let local = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        // Gap: 02:30 does not exist; Java uses PST, giving 03:30 PDT.
        assert_eq!(la.offset_for_local(local("2023-03-12 02:30")), -8 * 3600);
        // Overlap: 01:30 happens twice; Java picks the second (PST).
        assert_eq!(la.offset_for_local(local("2023-11-05 01:30")), -8 * 3600);
        assert_eq!(la.offset_for_local(local("2023-07-01 12:00")), -7 * 3600);
        assert_eq!(la.standard_offset_for_local(local("2023-07-01 12:00")), -8 * 3600);
        assert_eq!(la.dst_savings(), 3600);
        assert_eq!(Zone::parse("Asia/Kolkata").unwrap().dst_savings(), 0);
    }
}
