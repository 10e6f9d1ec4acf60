//! Formatting, following `SimpleDateFormat.subFormat` for `Locale.US`.

use chrono::{DateTime, Duration, Utc};

use crate::calendar::Fields;
use crate::names::{AM_PM, ERAS, MONTHS, SHORT_MONTHS, SHORT_WEEKDAYS, WEEKDAYS};
use crate::pattern::{Letter, Token};
use crate::zone::Zone;

/// Writes `instant`, seen in `zone`, in the form `tokens` describe.
pub(crate) fn format(tokens: &[Token], instant: DateTime<Utc>, zone: &Zone) -> String {
    let (offset, _) = zone.offset_at(instant.naive_utc());
    let fields = Fields::of(instant.naive_utc() + Duration::seconds(i64::from(offset)));
    let mut out = String::new();
    for token in tokens {
        match token {
            Token::Literal(text) => out.push_str(text),
            Token::Field { letter, count } => format_field(&mut out, *letter, *count, &fields, offset, instant, zone),
        }
    }
    out
}

fn format_field(
    out: &mut String,
    letter: Letter,
    count: usize,
    fields: &Fields,
    offset: i32,
    instant: DateTime<Utc>,
    zone: &Zone,
) {
    // Java pads numbers with zeros to the letter count, and never truncates except `yy`.
    let number = |out: &mut String, value: i64| out.push_str(&format!("{value:0count$}"));
    match letter {
        Letter::Era => out.push_str(ERAS[fields.era as usize]),
        Letter::Year | Letter::WeekYear => {
            let year = if letter == Letter::Year { fields.year } else { fields.week_year };
            if count == 2 {
                out.push_str(&format!("{:02}", year % 100));
            } else {
                number(out, year);
            }
        }
        Letter::Month | Letter::MonthStandalone => match count {
            1 | 2 => number(out, fields.month + 1),
            3 => out.push_str(SHORT_MONTHS[fields.month as usize]),
            _ => out.push_str(MONTHS[fields.month as usize]),
        },
        Letter::DayName => {
            let names = if count >= 4 { &WEEKDAYS } else { &SHORT_WEEKDAYS };
            out.push_str(names[fields.day_of_week as usize - 1]);
        }
        Letter::AmPm => out.push_str(AM_PM[(fields.hour_of_day / 12) as usize]),
        Letter::WeekOfYear => number(out, fields.week_of_year),
        Letter::WeekOfMonth => number(out, fields.week_of_month),
        Letter::DayOfYear => number(out, fields.day_of_year),
        Letter::DayOfMonth => number(out, fields.day_of_month),
        Letter::DayOfWeekInMonth => number(out, fields.day_of_week_in_month),
        Letter::DayNumber => number(out, fields.iso_day_of_week()),
        Letter::HourOfDay0 => number(out, fields.hour_of_day),
        Letter::HourOfDay1 => number(out, if fields.hour_of_day == 0 { 24 } else { fields.hour_of_day }),
        Letter::Hour0 => number(out, fields.hour_of_day % 12),
        Letter::Hour1 => number(out, if fields.hour_of_day % 12 == 0 { 12 } else { fields.hour_of_day % 12 }),
        Letter::Minute => number(out, fields.minute),
        Letter::Second => number(out, fields.second),
        Letter::Millisecond => number(out, fields.millisecond),
        Letter::ZoneName => out.push_str(&zone.display_name(instant, count >= 4)),
        Letter::ZoneRfc822 => {
            // `-0800` whatever the count.
            let minutes = offset / 60;
            let sign = if minutes < 0 { '-' } else { '+' };
            out.push_str(&format!("{sign}{:02}{:02}", minutes.abs() / 60, minutes.abs() % 60));
        }
        Letter::ZoneIso => {
            let minutes = offset / 60;
            if minutes == 0 {
                out.push('Z');
                return;
            }
            let sign = if minutes < 0 { '-' } else { '+' };
            out.push_str(&format!("{sign}{:02}", minutes.abs() / 60));
            // `X` drops the minutes entirely (India prints `+05`), as Java does.
            match count {
                1 => {}
                2 => out.push_str(&format!("{:02}", minutes.abs() % 60)),
                _ => out.push_str(&format!(":{:02}", minutes.abs() % 60)),
            }
        }
    }
}
