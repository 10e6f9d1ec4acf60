//! Java `GregorianCalendar` fields of a local date-time, with the US locale's week rules
//! (weeks start on Sunday; week 1 is the week containing January 1st).

use chrono::{Datelike, Days, NaiveDate, NaiveDateTime, Timelike};

/// The calendar fields a pattern can print or parse, as Java numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fields {
    /// 0 = BC, 1 = AD.
    pub era: i64,
    /// Year of era (always positive).
    pub year: i64,
    /// The year the week (`w`) belongs to.
    pub week_year: i64,
    /// 0 = January.
    pub month: i64,
    pub week_of_year: i64,
    pub week_of_month: i64,
    pub day_of_year: i64,
    pub day_of_month: i64,
    pub day_of_week_in_month: i64,
    /// 1 = Sunday ... 7 = Saturday.
    pub day_of_week: i64,
    /// 0-23.
    pub hour_of_day: i64,
    pub minute: i64,
    pub second: i64,
    pub millisecond: i64,
}

impl Fields {
    /// Computes every field of `local`.
    pub(crate) fn of(local: NaiveDateTime) -> Fields {
        let date = local.date();
        let proleptic_year = i64::from(date.year());
        let (week_year, week_of_year) = week_of_year(date);
        let first_of_month = date.with_day(1).expect("day 1 exists");
        let day_of_month = i64::from(date.day());
        Fields {
            era: if proleptic_year > 0 { 1 } else { 0 },
            year: if proleptic_year > 0 { proleptic_year } else { 1 - proleptic_year },
            week_year,
            month: i64::from(date.month0()),
            week_of_year,
            week_of_month: (day_of_month - 1 + days_from_sunday(first_of_month)) / 7 + 1,
            day_of_year: i64::from(date.ordinal()),
            day_of_month,
            day_of_week_in_month: (day_of_month - 1) / 7 + 1,
            day_of_week: days_from_sunday(date) + 1,
            hour_of_day: i64::from(local.hour()),
            minute: i64::from(local.minute()),
            second: i64::from(local.second()),
            millisecond: i64::from(local.nanosecond() / 1_000_000).min(999),
        }
    }

    /// ISO day number for `u`: 1 = Monday ... 7 = Sunday.
    pub(crate) fn iso_day_of_week(&self) -> i64 {
        if self.day_of_week == 1 { 7 } else { self.day_of_week - 1 }
    }
}

/// 0 for Sunday ... 6 for Saturday.
pub(crate) fn days_from_sunday(date: NaiveDate) -> i64 {
    i64::from(date.weekday().num_days_from_sunday())
}

/// The Sunday starting the week `date` is in.
pub(crate) fn week_start(date: NaiveDate) -> NaiveDate {
    date - Days::new(days_from_sunday(date) as u64)
}

/// Week-year and week number: week 1 is the Sunday-to-Saturday week containing January 1st,
/// so the last days of December can already be week 1 of the next year.
fn week_of_year(date: NaiveDate) -> (i64, i64) {
    let year = date.year();
    if let Some(next_new_year) = NaiveDate::from_ymd_opt(year + 1, 1, 1)
        && date >= week_start(next_new_year)
    {
        return (i64::from(year) + 1, 1);
    }
    let first_week = week_start(NaiveDate::from_ymd_opt(year, 1, 1).expect("January 1st exists"));
    (i64::from(year), (date - first_week).num_days() / 7 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(y: i32, m: u32, d: u32) -> Fields {
        Fields::of(NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(0, 0, 0).unwrap())
    }

    #[test]
    fn us_week_rules() {
        // 2016-12-31 is a Saturday in week 53; 2017-01-01 (Sunday) starts week 1.
        assert_eq!((fields(2016, 12, 31).week_year, fields(2016, 12, 31).week_of_year), (2016, 53));
        assert_eq!((fields(2017, 1, 1).week_year, fields(2017, 1, 1).week_of_year), (2017, 1));
        // 2023-12-31 is a Sunday in the week containing 2024-01-01.
        assert_eq!((fields(2023, 12, 31).week_year, fields(2023, 12, 31).week_of_year), (2024, 1));
        assert_eq!(fields(2024, 2, 29).week_of_month, 5);
        assert_eq!(fields(2024, 2, 29).day_of_week_in_month, 5);
        assert_eq!(fields(2024, 2, 29).iso_day_of_week(), 4);
    }
}
