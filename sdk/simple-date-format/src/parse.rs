//! Parsing, following `SimpleDateFormat.parse` with `setLenient(false)` and Java's calendar
//! field resolution (`Calendar.selectFields`, `GregorianCalendar.getFixedDate`).

use chrono::{DateTime, Datelike, Days, Duration, Months, NaiveDate, NaiveTime, Utc};
use thiserror::Error;

use crate::calendar::{Fields, days_from_sunday};
use crate::names::{self, AM_PM, ERAS, MONTHS, SHORT_MONTHS, SHORT_WEEKDAYS, WEEKDAYS};
use crate::pattern::{Letter, Token};
use crate::zone::Zone;

/// Why a text does not match a pattern: the text, the pattern, where matching stopped and what
/// was expected there.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("cannot parse {text:?} with pattern {pattern:?}: at position {position}, expected {expected}")]
pub struct ParseError {
    /// The text being parsed.
    pub text: String,
    /// The pattern it was parsed with.
    pub pattern: String,
    /// 0-based character position in `text` where matching stopped.
    pub position: usize,
    /// What the pattern needed at that position (and what was found).
    pub expected: String,
}

/// Java calendar fields a pattern can set (`u` sets the day of week).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Era,
    Year,
    WeekYear,
    Month,
    WeekOfYear,
    WeekOfMonth,
    DayOfMonth,
    DayOfYear,
    DayOfWeek,
    DayOfWeekInMonth,
    AmPm,
    Hour,
    HourOfDay,
    Minute,
    Second,
    Millisecond,
}

const FIELD_COUNT: usize = 16;

impl Field {
    /// Java's non-lenient range (`getMinimum`..`getMaximum`; years capped where chrono ends)
    /// and a description for messages.
    fn range(self) -> (i64, i64, &'static str) {
        match self {
            Field::Era => (0, 1, "an era"),
            Field::Year => (1, 200_000, "a year"),
            Field::WeekYear => (1, 200_000, "a week year"),
            Field::Month => (0, 11, "a month"),
            Field::WeekOfYear => (1, 53, "a week of year"),
            Field::WeekOfMonth => (0, 6, "a week of month"),
            Field::DayOfMonth => (1, 31, "a day of month"),
            Field::DayOfYear => (1, 366, "a day of year"),
            Field::DayOfWeek => (1, 7, "a day of week"),
            Field::DayOfWeekInMonth => (1, 6, "a day of week in month"),
            Field::AmPm => (0, 1, "AM or PM"),
            Field::Hour => (0, 11, "an hour"),
            Field::HourOfDay => (0, 23, "an hour of day"),
            Field::Minute => (0, 59, "a minute"),
            Field::Second => (0, 59, "a second"),
            Field::Millisecond => (0, 999, "a millisecond"),
        }
    }

    /// The field's value for a resolved local date-time, for the consistency check.
    fn of(self, f: &Fields) -> i64 {
        match self {
            Field::Era => f.era,
            Field::Year => f.year,
            Field::WeekYear => f.week_year,
            Field::Month => f.month,
            Field::WeekOfYear => f.week_of_year,
            Field::WeekOfMonth => f.week_of_month,
            Field::DayOfMonth => f.day_of_month,
            Field::DayOfYear => f.day_of_year,
            Field::DayOfWeek => f.day_of_week,
            Field::DayOfWeekInMonth => f.day_of_week_in_month,
            Field::AmPm => f.hour_of_day / 12,
            Field::Hour => f.hour_of_day % 12,
            Field::HourOfDay => f.hour_of_day,
            Field::Minute => f.minute,
            Field::Second => f.second,
            Field::Millisecond => f.millisecond,
        }
    }
}

/// A value read from the text, stamped with the order it was read in: when fields conflict,
/// Java's calendar uses the most recently set ones.
#[derive(Debug, Clone, Copy)]
struct Value {
    value: i64,
    stamp: u32,
    /// Where in the text it was read, and which pattern field read it, for error messages.
    position: usize,
    letter: Letter,
    count: usize,
}

/// The zone information a `z`/`Z`/`X` field read.
#[derive(Debug, Clone, Copy)]
enum ParsedZone {
    /// An explicit offset (`-0800`, `GMT+05:30`, `Z`), in seconds.
    Offset(i32),
    /// A zone name: local time is read in that zone, with its standard offset plus `dst`
    /// seconds when Java pins the DST amount (`PST` means standard time even in July).
    Named { zone: Zone, dst: Option<i32> },
}

/// Java's `CalendarBuilder`: the fields read so far.
#[derive(Debug, Clone, Default)]
struct Builder {
    fields: [Option<Value>; FIELD_COUNT],
    next_stamp: u32,
    zone: Option<ParsedZone>,
    /// A two-digit year equal to the century window's start year (Java's `ambiguousYear`).
    ambiguous_year: bool,
}

impl Builder {
    fn set(&mut self, field: Field, value: i64, position: usize, letter: Letter, count: usize) {
        self.next_stamp += 1;
        self.fields[field as usize] = Some(Value { value, stamp: self.next_stamp, position, letter, count });
    }

    fn get(&self, field: Field) -> Option<i64> {
        self.fields[field as usize].map(|v| v.value)
    }

    /// The field's stamp, 0 when unset (Java's `UNSET`).
    fn stamp(&self, field: Field) -> u32 {
        self.fields[field as usize].map_or(0, |v| v.stamp)
    }
}

/// Parses `text` with the compiled `tokens`; `now` anchors Java's two-digit-year window
/// (80 years before now to 20 years after).
pub(crate) fn parse(
    tokens: &[Token],
    pattern: &str,
    text: &str,
    zone: &Zone,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, ParseError> {
    let parser = Parser { chars: text.chars().collect(), text, pattern, zone };
    let century_start = now.checked_sub_months(Months::new(80 * 12)).expect("now is a modern date");
    let mut builder = Builder::default();
    let mut pos = 0;
    for (index, token) in tokens.iter().enumerate() {
        let next = tokens.get(index + 1);
        match token {
            Token::Literal(literal) => pos = parser.literal(pos, literal)?,
            Token::Field { letter, count } => {
                // Java's "adjacent numeric fields" rule: a field followed by a numeric field
                // reads exactly `count` characters.
                let obey_count = matches!(next, Some(Token::Field { letter, count }) if letter.is_numeric(*count));
                pos = parser.field(*letter, *count, pos, obey_count, century_start, &mut builder)?;
                if *letter == Letter::Second {
                    pos = parser.implicit_fraction(pos, next, &mut builder);
                }
            }
        }
    }
    if pos < parser.chars.len() {
        return Err(parser.error(pos, format!("end of text, found {}", parser.found(pos))));
    }
    let mut instant = parser.resolve(&builder)?;
    if builder.ambiguous_year && instant < century_start {
        // Java's two-digit year window: "yy" equal to the window's start year may mean either
        // century; if the first guess is before the window, it is the later century.
        for field in [Field::Year, Field::WeekYear] {
            if let Some(v) = builder.fields[field as usize].as_mut() {
                v.value += 100;
            }
        }
        instant = parser.resolve(&builder)?;
    }
    Ok(instant)
}

struct Parser<'a> {
    chars: Vec<char>,
    text: &'a str,
    pattern: &'a str,
    zone: &'a Zone,
}

impl Parser<'_> {
    fn error(&self, position: usize, expected: impl Into<String>) -> ParseError {
        ParseError {
            text: self.text.to_string(),
            pattern: self.pattern.to_string(),
            position,
            expected: expected.into(),
        }
    }

    /// A short quote of the text at `pos`, for messages.
    fn found(&self, pos: usize) -> String {
        if pos >= self.chars.len() {
            return "end of text".to_string();
        }
        let snippet: String = self.chars[pos..].iter().take(12).collect();
        format!("{snippet:?}")
    }

    fn literal(&self, mut pos: usize, literal: &str) -> Result<usize, ParseError> {
        for expected in literal.chars() {
            if self.chars.get(pos) != Some(&expected) {
                return Err(self.error(pos, format!("{literal:?} (literal text), found {}", self.found(pos))));
            }
            pos += 1;
        }
        Ok(pos)
    }

    /// Reads one field starting at `start` (Java's `subParse`); returns where it ended.
    fn field(
        &self,
        letter: Letter,
        count: usize,
        start: usize,
        obey_count: bool,
        century_start: DateTime<Utc>,
        b: &mut Builder,
    ) -> Result<usize, ParseError> {
        let source = || letter.as_char().to_string().repeat(count);
        // Java skips spaces and tabs before a field.
        let mut pos = start;
        while matches!(self.chars.get(pos), Some(' ' | '\t')) {
            pos += 1;
        }
        if letter.is_numeric(count) {
            return self.numeric(letter, count, start, pos, obey_count, century_start, b);
        }
        let named = |names: &[&[&str]], what: &str, field: Field, base: i64, b: &mut Builder| {
            for list in names {
                if let Some((index, len)) = names::match_longest(&self.chars, start, list) {
                    b.set(field, index as i64 + base, start, letter, count);
                    return Ok(start + len);
                }
            }
            Err(self.error(start, format!("{what} for '{}', found {}", source(), self.found(start))))
        };
        match letter {
            Letter::Era => named(&[&ERAS], "an era (AD or BC)", Field::Era, 0, b),
            Letter::Month | Letter::MonthStandalone => {
                named(&[&MONTHS, &SHORT_MONTHS], "a month name", Field::Month, 0, b)
            }
            Letter::DayName => named(&[&WEEKDAYS, &SHORT_WEEKDAYS], "a day name", Field::DayOfWeek, 1, b),
            Letter::AmPm => named(&[&AM_PM], "AM or PM", Field::AmPm, 0, b),
            Letter::ZoneName | Letter::ZoneRfc822 => self.zone_field(pos, &source(), b),
            Letter::ZoneIso => {
                let sign = match self.chars.get(pos) {
                    Some('Z') => {
                        b.zone = Some(ParsedZone::Offset(0));
                        return Ok(pos + 1);
                    }
                    Some('+') => 1,
                    Some('-') => -1,
                    _ => 0,
                };
                let shape = ["-08", "-0800", "-08:00"][count - 1];
                let expected =
                    || format!("an ISO 8601 offset (Z or {shape}) for '{}', found {}", source(), self.found(pos));
                if sign == 0 {
                    return Err(self.error(pos, expected()));
                }
                let (offset, end) =
                    self.numeric_zone(pos + 1, count, count == 3).ok_or_else(|| self.error(pos, expected()))?;
                b.zone = Some(ParsedZone::Offset(sign * offset));
                Ok(end)
            }
            _ => unreachable!("numeric fields are handled above"),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn numeric(
        &self,
        letter: Letter,
        count: usize,
        start: usize,
        pos: usize,
        obey_count: bool,
        century_start: DateTime<Utc>,
        b: &mut Builder,
    ) -> Result<usize, ParseError> {
        let source = letter.as_char().to_string().repeat(count);
        let limit = if obey_count { start + count } else { self.chars.len() };
        let mut end = pos;
        let mut value: i64 = 0;
        while end < limit.min(self.chars.len()) && end - pos < 12 {
            let Some(digit) = self.chars[end].to_digit(10) else { break };
            value = value * 10 + i64::from(digit);
            end += 1;
        }
        if end == pos || (obey_count && limit > self.chars.len()) {
            let how_many = if obey_count { format!("{count} digits") } else { "digits".to_string() };
            return Err(self.error(pos, format!("{how_many} for '{source}', found {}", self.found(pos))));
        }
        let out_of_range = |what: &str, min: i64, max: i64| {
            self.error(pos, format!("{what} between {min} and {max} for '{source}', found {value}"))
        };
        match letter {
            Letter::Year | Letter::WeekYear => {
                let mut year = value;
                if count <= 2 && end - pos == 2 {
                    // Two-digit years fall in the 100 years starting 80 years ago.
                    let start_year = i64::from(century_start.year());
                    let ambiguous = start_year % 100;
                    b.ambiguous_year = year == ambiguous;
                    year += start_year / 100 * 100 + if year < ambiguous { 100 } else { 0 };
                }
                let field = if letter == Letter::Year { Field::Year } else { Field::WeekYear };
                b.set(field, year, pos, letter, count);
            }
            Letter::Month | Letter::MonthStandalone => b.set(Field::Month, value - 1, pos, letter, count),
            Letter::HourOfDay1 => {
                if !(1..=24).contains(&value) {
                    return Err(out_of_range("an hour", 1, 24));
                }
                b.set(Field::HourOfDay, value % 24, pos, letter, count);
            }
            Letter::Hour1 => {
                if !(1..=12).contains(&value) {
                    return Err(out_of_range("an hour", 1, 12));
                }
                b.set(Field::Hour, value % 12, pos, letter, count);
            }
            Letter::DayNumber => {
                if !(1..=7).contains(&value) {
                    return Err(out_of_range("a day number", 1, 7));
                }
                // ISO numbering (Monday = 1) to Java's (Sunday = 1).
                b.set(Field::DayOfWeek, value % 7 + 1, pos, letter, count);
            }
            _ => {
                let field = match letter {
                    Letter::WeekOfYear => Field::WeekOfYear,
                    Letter::WeekOfMonth => Field::WeekOfMonth,
                    Letter::DayOfYear => Field::DayOfYear,
                    Letter::DayOfMonth => Field::DayOfMonth,
                    Letter::DayOfWeekInMonth => Field::DayOfWeekInMonth,
                    Letter::HourOfDay0 => Field::HourOfDay,
                    Letter::Hour0 => Field::Hour,
                    Letter::Minute => Field::Minute,
                    Letter::Second => Field::Second,
                    Letter::Millisecond => Field::Millisecond,
                    _ => unreachable!("{letter:?} is not numeric"),
                };
                b.set(field, value, pos, letter, count);
            }
        }
        Ok(end)
    }

    /// `z` and `Z` (Java parses both the same way): `-0800`, `GMT`, `GMT-08:00`, or a zone name.
    fn zone_field(&self, pos: usize, source: &str, b: &mut Builder) -> Result<usize, ParseError> {
        let expected =
            || format!("a time zone (-0800, GMT-08:00 or a zone name) for '{source}', found {}", self.found(pos));
        let sign_at = |p: usize| match self.chars.get(p) {
            Some('+') => 1,
            Some('-') => -1,
            _ => 0,
        };
        let sign = sign_at(pos);
        if sign != 0 {
            let (offset, end) = self.numeric_zone(pos + 1, 0, false).ok_or_else(|| self.error(pos, expected()))?;
            b.zone = Some(ParsedZone::Offset(sign * offset));
            return Ok(end);
        }
        if names::starts_with_ignore_case(&self.chars, pos, "GMT") {
            let after = pos + 3;
            let sign = sign_at(after);
            if sign == 0 {
                b.zone = Some(ParsedZone::Offset(0));
                return Ok(after);
            }
            let (offset, end) = self.numeric_zone(after + 1, 0, true).ok_or_else(|| self.error(pos, expected()))?;
            b.zone = Some(ParsedZone::Offset(sign * offset));
            return Ok(end);
        }
        self.zone_name(pos, b).ok_or_else(|| self.error(pos, expected()))
    }

    /// Java's `subParseNumericZone`, after the sign: `hh`, `hhmm` or `hh:mm` (`h:mm` after
    /// `GMT`), depending on the count (`X`) and whether a colon is required.
    fn numeric_zone(&self, start: usize, count: usize, colon: bool) -> Option<(i32, usize)> {
        let digit = |p: usize| self.chars.get(p).and_then(|c| c.to_digit(10)).map(|d| d as i32);
        let mut pos = start;
        let mut hours = digit(pos)?;
        pos += 1;
        match digit(pos) {
            Some(d) => {
                hours = hours * 10 + d;
                pos += 1;
            }
            // One hour digit is only allowed in `GMT+h:mm`.
            None if count > 0 || !colon => return None,
            None => {}
        }
        if hours > 23 {
            return None;
        }
        let mut minutes = 0;
        if count != 1 {
            if colon {
                if self.chars.get(pos) != Some(&':') {
                    return None;
                }
                pos += 1;
            }
            minutes = digit(pos)? * 10 + digit(pos + 1)?;
            pos += 2;
            if minutes > 59 {
                return None;
            }
        }
        Some(((hours * 60 + minutes) * 60, pos))
    }

    /// Java's `subParseZoneString`: the formatting zone's own names first, then every zone's
    /// names in Java's order; within a zone long standard, short standard, long daylight,
    /// short daylight, first match wins.
    fn zone_name(&self, pos: usize, b: &mut Builder) -> Option<usize> {
        let own = self.zone.java_id().and_then(names::zone_names);
        for row in own.into_iter().chain(names::all_zone_names()) {
            let Some(index) = row.names.iter().position(|name| names::starts_with_ignore_case(&self.chars, pos, name))
            else {
                continue;
            };
            let zone = if Some(row.id) == self.zone.java_id() {
                *self.zone
            } else {
                match Zone::parse(row.id) {
                    Ok(zone) => zone,
                    // A Java ID chrono-tz does not know: keep looking.
                    Err(_) => continue,
                }
            };
            let name = row.names[index];
            let daylight = index >= 2;
            // When standard and daylight names are the same, or the zone has no DST any more,
            // Java lets the zone's rules decide; otherwise the name pins standard or DST time.
            let same_name = !daylight && name.eq_ignore_ascii_case(row.names[index + 2]);
            let dst = if daylight { zone.dst_savings() } else { 0 };
            let pinned = !(same_name || (daylight && dst == 0));
            b.zone = Some(ParsedZone::Named { zone, dst: pinned.then_some(dst) });
            return Some(pos + name.chars().count());
        }
        None
    }

    /// The Autotask extension: after `s` followed by a literal not starting with `.` (or by
    /// the end), accept `.` and 1-3 digits as a fraction of a second.
    fn implicit_fraction(&self, pos: usize, next: Option<&Token>, b: &mut Builder) -> usize {
        let applies = match next {
            None => true,
            Some(Token::Literal(literal)) => !literal.starts_with('.'),
            Some(Token::Field { .. }) => false,
        };
        if !applies || self.chars.get(pos) != Some(&'.') {
            return pos;
        }
        let digits: Vec<u32> = self.chars[pos + 1..].iter().take(3).map_while(|c| c.to_digit(10)).collect();
        if digits.is_empty() {
            return pos;
        }
        // ".2" is 200 ms, ".21" 210 ms, ".407" 407 ms.
        let millis = digits.iter().chain([0, 0].iter()).take(3).fold(0, |acc, d| acc * 10 + i64::from(*d));
        b.set(Field::Millisecond, millis, pos, Letter::Second, 1);
        pos + 1 + digits.len()
    }

    /// Turns the fields into an instant: Java's field resolution, then (as non-lenient Java)
    /// rejects values out of range or contradicting the resolved date.
    fn resolve(&self, b: &Builder) -> Result<DateTime<Utc>, ParseError> {
        for v in b.fields.iter().enumerate().filter_map(|(i, v)| v.map(|v| (i, v))) {
            let (index, v) = v;
            let field = ALL_FIELDS[index];
            let (min, max, what) = field.range();
            if !(min..=max).contains(&v.value) {
                let shown = if matches!(field, Field::Month) { v.value + 1 } else { v.value };
                let (min, max) = if matches!(field, Field::Month) { (min + 1, max + 1) } else { (min, max) };
                let source = v.letter.as_char().to_string().repeat(v.count);
                return Err(
                    self.error(v.position, format!("{what} between {min} and {max} for '{source}', found {shown}"))
                );
            }
        }
        // Java uses the week date when the week year was read after the year (or alone).
        let week_date = b.get(Field::WeekYear).is_some() && b.stamp(Field::WeekYear) > b.stamp(Field::Year);
        let date = if week_date { week_date_of(b) } else { calendar_date_of(b) }
            .ok_or_else(|| self.error(0, "a date within chrono's range"))?;
        let local = date.and_time(time_of_day(b));

        let fields = Fields::of(local);
        for (index, v) in b.fields.iter().enumerate() {
            let Some(v) = v else { continue };
            let field = ALL_FIELDS[index];
            // Java's setWeekDate overwrites these, so it never compares them.
            if week_date && matches!(field, Field::Era | Field::Year | Field::Month | Field::DayOfMonth) {
                continue;
            }
            let actual = field.of(&fields);
            if actual != v.value {
                let source = v.letter.as_char().to_string().repeat(v.count);
                return Err(self.error(
                    v.position,
                    format!(
                        "'{source}' to agree with the other fields: it says {}, they give {} ({local})",
                        v.value, actual
                    ),
                ));
            }
        }

        let offset = match b.zone {
            None => self.zone.offset_for_local(local),
            Some(ParsedZone::Offset(offset)) => offset,
            Some(ParsedZone::Named { zone, dst: None }) => zone.offset_for_local(local),
            Some(ParsedZone::Named { zone, dst: Some(dst) }) => zone.standard_offset_for_local(local) + dst,
        };
        Ok((local - Duration::seconds(i64::from(offset))).and_utc())
    }
}

const ALL_FIELDS: [Field; FIELD_COUNT] = [
    Field::Era,
    Field::Year,
    Field::WeekYear,
    Field::Month,
    Field::WeekOfYear,
    Field::WeekOfMonth,
    Field::DayOfMonth,
    Field::DayOfYear,
    Field::DayOfWeek,
    Field::DayOfWeekInMonth,
    Field::AmPm,
    Field::Hour,
    Field::HourOfDay,
    Field::Minute,
    Field::Second,
    Field::Millisecond,
];

/// The date with weekday `dow` (1 = Sunday) on or before `date`.
fn on_or_before(date: NaiveDate, dow: i64) -> NaiveDate {
    date - Days::new((days_from_sunday(date) - (dow - 1)).rem_euclid(7) as u64)
}

fn add_days(date: NaiveDate, days: i64) -> Option<NaiveDate> {
    date.checked_add_signed(Duration::days(days))
}

/// The first day (Sunday) of week 1 of `year`: the week containing January 1st.
fn first_week_start(year: i32) -> Option<NaiveDate> {
    let jan1 = NaiveDate::from_ymd_opt(year, 1, 1)?;
    Some(on_or_before(jan1, 1))
}

/// Java's `setWeekDate(weekYear, weekOfYear, dayOfWeek)`, defaults week 1 and Sunday.
fn week_date_of(b: &Builder) -> Option<NaiveDate> {
    let week_year = i32::try_from(b.get(Field::WeekYear)?).ok()?;
    let week = b.get(Field::WeekOfYear).unwrap_or(1);
    let dow = b.get(Field::DayOfWeek).unwrap_or(1);
    add_days(first_week_start(week_year)?, (dow - 1) + 7 * (week - 1))
}

/// Java's `Calendar.selectFields` + `GregorianCalendar.getFixedDate`: of the field groups
/// that can name a day (month+day, month+week+weekday, month+weekday-in-month, day of year,
/// week of year+weekday), the one set most recently wins; missing fields default to
/// 1970, January, the 1st, Sunday.
fn calendar_date_of(b: &Builder) -> Option<NaiveDate> {
    let mut year = b.get(Field::Year).unwrap_or(1970);
    if b.get(Field::Era) == Some(0) {
        year = 1 - year;
    }
    let year = i32::try_from(year).ok()?;
    let stamp = |f| b.stamp(f);
    // Both set, or UNSET (Java's aggregateStamp).
    let both = |x: u32, y: u32| if x == 0 || y == 0 { 0 } else { x.max(y) };
    let dow_stamp = stamp(Field::DayOfWeek);
    let mut dom_stamp = stamp(Field::DayOfMonth);
    let mut wom_stamp = both(stamp(Field::WeekOfMonth), dow_stamp);
    let mut dowim_stamp = both(stamp(Field::DayOfWeekInMonth), dow_stamp);
    let doy_stamp = stamp(Field::DayOfYear);
    let mut woy_stamp = both(stamp(Field::WeekOfYear), dow_stamp);
    let mut best = dom_stamp.max(wom_stamp).max(dowim_stamp).max(doy_stamp).max(woy_stamp);
    if best == 0 {
        // No complete group: a week field alone, or a weekday alone (as weekday-in-month 1).
        wom_stamp = stamp(Field::WeekOfMonth);
        dowim_stamp = stamp(Field::DayOfWeekInMonth).max(dow_stamp);
        woy_stamp = stamp(Field::WeekOfYear);
        best = wom_stamp.max(dowim_stamp).max(woy_stamp);
        if best == 0 {
            dom_stamp = stamp(Field::Month);
            best = dom_stamp;
        }
    }
    let dow = b.get(Field::DayOfWeek);
    let month_based = best == dom_stamp
        || (best == wom_stamp && stamp(Field::WeekOfMonth) >= stamp(Field::WeekOfYear))
        || (best == dowim_stamp && stamp(Field::DayOfWeekInMonth) >= stamp(Field::WeekOfYear));
    if month_based {
        let month = u32::try_from(b.get(Field::Month).unwrap_or(0) + 1).ok()?;
        let first = NaiveDate::from_ymd_opt(year, month, 1)?;
        let use_week_of_month = if best == dom_stamp {
            return add_days(first, b.get(Field::DayOfMonth).unwrap_or(1) - 1);
        } else if wom_stamp == dowim_stamp {
            stamp(Field::WeekOfMonth) >= stamp(Field::DayOfWeekInMonth)
        } else {
            best == wom_stamp
        };
        if use_week_of_month {
            let mut week_start = on_or_before(add_days(first, 6)?, 1);
            // Minimal days in the first week is 1: the week containing the 1st is week 1.
            if (week_start - first).num_days() >= 1 {
                week_start = add_days(week_start, -7)?;
            }
            if let Some(dow) = dow {
                week_start = on_or_before(add_days(week_start, 6)?, dow);
            }
            add_days(week_start, 7 * (b.get(Field::WeekOfMonth).unwrap_or(0) - 1))
        } else {
            let dowim = b.get(Field::DayOfWeekInMonth).unwrap_or(1);
            Some(on_or_before(add_days(first, 7 * dowim - 1)?, dow.unwrap_or(1)))
        }
    } else if best == doy_stamp {
        add_days(NaiveDate::from_ymd_opt(year, 1, 1)?, b.get(Field::DayOfYear)? - 1)
    } else {
        let jan1 = NaiveDate::from_ymd_opt(year, 1, 1)?;
        let mut week_start = on_or_before(add_days(jan1, 6)?, 1);
        if (week_start - jan1).num_days() >= 1 {
            week_start = add_days(week_start, -7)?;
        }
        if let Some(dow) = dow.filter(|&d| d != 1) {
            week_start = on_or_before(add_days(week_start, 6)?, dow);
        }
        add_days(week_start, 7 * (b.get(Field::WeekOfYear).unwrap_or(1) - 1))
    }
}

/// Java's time-of-day resolution: `H`/`k` or `h`/`K` with `a`, whichever was read last.
fn time_of_day(b: &Builder) -> NaiveTime {
    let stamp = |f| b.stamp(f);
    let hour_of_day_stamp = stamp(Field::HourOfDay);
    let hour_stamp =
        if stamp(Field::Hour) == 0 || stamp(Field::AmPm) == 0 { 0 } else { stamp(Field::Hour).max(stamp(Field::AmPm)) };
    let mut best = hour_stamp.max(hour_of_day_stamp);
    if best == 0 {
        best = stamp(Field::Hour).max(stamp(Field::AmPm));
    }
    let hour = if best == 0 {
        0
    } else if best == hour_of_day_stamp {
        b.get(Field::HourOfDay).unwrap_or(0)
    } else {
        b.get(Field::Hour).unwrap_or(0) + 12 * b.get(Field::AmPm).unwrap_or(0)
    };
    let get = |f| b.get(f).unwrap_or(0) as u32;
    NaiveTime::from_hms_milli_opt(hour as u32, get(Field::Minute), get(Field::Second), get(Field::Millisecond))
        .expect("fields were range-checked")
}

#[cfg(test)]
mod tests {
    use crate::{Pattern, Zone};
    use chrono::{DateTime, Utc};

    fn parse(pattern: &str, text: &str) -> Result<DateTime<Utc>, crate::ParseError> {
        Pattern::new(pattern).unwrap().parse(text, &Zone::Utc)
    }

    fn instant(iso: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(iso).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn autotask_fraction_of_second() {
        let pattern = "yyyy-MM-dd'T'HH:mm:ss'Z'";
        assert_eq!(parse(pattern, "2022-12-07T09:15:45Z").unwrap(), instant("2022-12-07T09:15:45Z"));
        assert_eq!(parse(pattern, "2022-12-07T09:15:45.2Z").unwrap(), instant("2022-12-07T09:15:45.200Z"));
        assert_eq!(parse(pattern, "2022-12-07T09:15:45.21Z").unwrap(), instant("2022-12-07T09:15:45.210Z"));
        assert_eq!(parse(pattern, "2022-12-07T09:15:52.407Z").unwrap(), instant("2022-12-07T09:15:52.407Z"));
        let err = parse(pattern, "2022-12-07T09:15:45.4071Z").unwrap_err();
        assert_eq!(err.position, 23, "{err}");
        // At the end of the pattern too.
        assert_eq!(parse("HH:mm:ss", "09:15:45.5").unwrap(), instant("1970-01-01T09:15:45.500Z"));
        // An explicit `S` keeps Java's meaning: the digits are a count of milliseconds.
        assert_eq!(parse("HH:mm:ss.SSS", "09:15:45.2").unwrap(), instant("1970-01-01T09:15:45.002Z"));
    }

    #[test]
    fn errors_name_text_pattern_position_and_expectation() {
        let err = parse("yyyy-MM-dd'T'HH:mm", "2022-12-07 09:15").unwrap_err();
        assert_eq!(err.position, 10);
        assert_eq!(
            err.to_string(),
            "cannot parse \"2022-12-07 09:15\" with pattern \"yyyy-MM-dd'T'HH:mm\": at position 10, \
             expected \"T\" (literal text), found \" 09:15\""
        );
        let err = parse("yyyy-MM-dd", "2022-13-07").unwrap_err();
        assert_eq!(err.position, 5);
        assert!(err.expected.contains("a month between 1 and 12 for 'MM', found 13"), "{err}");
        let err = parse("yyyy-MM-dd", "2022-12-07 junk").unwrap_err();
        assert_eq!(err.position, 10);
        assert!(err.expected.starts_with("end of text"), "{err}");
        let err = parse("EEE yyyy-MM-dd", "Thu 2022-12-07").unwrap_err();
        assert!(err.expected.contains("'EEE' to agree"), "{err}");
        let err = parse("MMM d", "Foo 1").unwrap_err();
        assert!(err.expected.contains("a month name for 'MMM'"), "{err}");
    }

    #[test]
    fn two_digit_years_use_javas_window() {
        // Window for "now" = 2026-11-27: 1946-11-27 to 2046-11-27.
        let now = instant("2026-11-27T00:00:00Z");
        let at = |text: &str| {
            let tokens = crate::pattern::compile("yy-MM-dd").unwrap();
            super::parse(&tokens, "yy-MM-dd", text, &Zone::Utc, now).unwrap()
        };
        assert_eq!(at("45-01-02"), instant("2045-01-02T00:00:00Z"));
        assert_eq!(at("47-01-02"), instant("1947-01-02T00:00:00Z"));
        // "46" is the window's start year: 1946 if that is inside the window, else 2046.
        assert_eq!(at("46-12-01"), instant("1946-12-01T00:00:00Z"));
        assert_eq!(at("46-01-02"), instant("2046-01-02T00:00:00Z"));
    }

    #[test]
    fn adjacent_numeric_fields_read_their_count() {
        assert_eq!(parse("yyyyMMddHHmm", "202212070915").unwrap(), instant("2022-12-07T09:15:00Z"));
        // The last field is not followed by a number, so it reads what is there.
        assert_eq!(parse("yyyyMMdd", "2022127").unwrap(), instant("2022-12-07T00:00:00Z"));
        assert_eq!(parse("yyyyMMdd", "202212").unwrap_err().position, 6);
    }
}
