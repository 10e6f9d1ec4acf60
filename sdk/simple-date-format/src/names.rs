//! US English names, as Java's `DateFormatSymbols`/`TimeZone.getDisplayName` give them for `Locale.US`.

use std::collections::HashMap;
use std::sync::OnceLock;

/// `MMMM` / `LLLL`.
pub(crate) const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `MMM` / `LLL`.
pub(crate) const SHORT_MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// `EEEE`, indexed by Java's DAY_OF_WEEK - 1 (Sunday first).
pub(crate) const WEEKDAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/// `E` to `EEE`, indexed like [`WEEKDAYS`].
pub(crate) const SHORT_WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// `a`, any count.
pub(crate) const AM_PM: [&str; 2] = ["AM", "PM"];

/// `G`, any count: index 0 is BC, 1 is AD (Java's ERA values).
pub(crate) const ERAS: [&str; 2] = ["BC", "AD"];

/// Java's display names for one zone ID, in `DateFormatSymbols.getZoneStrings()` column order.
#[derive(Debug)]
pub(crate) struct ZoneNames {
    /// The Java zone ID (`America/Los_Angeles`, `UTC`, `EST`).
    pub id: &'static str,
    /// Long standard, short standard, long daylight, short daylight: the order Java tries
    /// them when parsing.
    pub names: [&'static str; 4],
}

impl ZoneNames {
    /// The name `z` (short) or `zzzz` (long) prints.
    pub(crate) fn display(&self, daylight: bool, long: bool) -> &'static str {
        match (daylight, long) {
            (false, true) => self.names[0],
            (false, false) => self.names[1],
            (true, true) => self.names[2],
            (true, false) => self.names[3],
        }
    }
}

/// Generated from Java 17 by `testdata/Generate.java zones`; chrono-tz has no display names,
/// and Java's (CLDR-based) names differ from tzdata abbreviations for many zones.
const ZONE_NAMES_TSV: &str = include_str!("zone_names.tsv");

struct ZoneTable {
    rows: Vec<ZoneNames>,
    by_id: HashMap<&'static str, usize>,
}

fn table() -> &'static ZoneTable {
    static TABLE: OnceLock<ZoneTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let rows: Vec<ZoneNames> = ZONE_NAMES_TSV
            .lines()
            .filter(|line| !line.is_empty())
            .map(|line| {
                let mut cells = line.split('\t');
                let mut next = || cells.next().expect("zone_names.tsv rows have five cells");
                ZoneNames { id: next(), names: [next(), next(), next(), next()] }
            })
            .collect();
        let mut by_id = HashMap::with_capacity(rows.len());
        for (index, row) in rows.iter().enumerate() {
            by_id.entry(row.id).or_insert(index);
        }
        ZoneTable { rows, by_id }
    })
}

/// Java's names for the zone with this ID, if Java knows it.
pub(crate) fn zone_names(id: &str) -> Option<&'static ZoneNames> {
    let table = table();
    table.by_id.get(id).map(|&index| &table.rows[index])
}

/// Every zone's names in the order Java searches them when parsing a zone name.
pub(crate) fn all_zone_names() -> &'static [ZoneNames] {
    &table().rows
}

/// Finds the longest name in `names` that `text` starts with at `pos`, ignoring case
/// (Java's `matchString`). Returns the name's index and its length in chars.
pub(crate) fn match_longest(text: &[char], pos: usize, names: &[&str]) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    for (index, name) in names.iter().enumerate() {
        let len = name.chars().count();
        if best.is_none_or(|(_, best_len)| len > best_len) && starts_with_ignore_case(text, pos, name) {
            best = Some((index, len));
        }
    }
    best
}

/// Java's `regionMatches(true, ...)` for the names we have (all ASCII).
pub(crate) fn starts_with_ignore_case(text: &[char], pos: usize, name: &str) -> bool {
    let mut i = pos;
    for expected in name.chars() {
        match text.get(i) {
            Some(c) if c.to_lowercase().eq(expected.to_lowercase()) => i += 1,
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_table_has_javas_names() {
        let la = zone_names("America/Los_Angeles").unwrap();
        assert_eq!(la.display(false, false), "PST");
        assert_eq!(la.display(true, true), "Pacific Daylight Time");
        assert_eq!(zone_names("UTC").unwrap().display(false, false), "UTC");
        assert!(zone_names("Nowhere/Special").is_none());
    }

    #[test]
    fn longest_match_ignores_case() {
        let text: Vec<char> = "mayday".chars().collect();
        assert_eq!(match_longest(&text, 0, &MONTHS), Some((4, 3)));
        let text: Vec<char> = "SEPTEMBER".chars().collect();
        assert_eq!(match_longest(&text, 0, &MONTHS), Some((8, 9)));
        assert_eq!(match_longest(&text, 1, &MONTHS), None);
    }
}
