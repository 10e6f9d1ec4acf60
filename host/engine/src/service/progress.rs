//! Live progress of a poll while it runs: pages and records read, records
//! mapped, messages stored, and, for a backfill, the total to read and an
//! estimate of the time left. The management API, the console and the CLI's
//! progress bar read it; the poll writes it after each page.
//!
//! The total is Autotask's `/query/count` for the poll's own query. Asking
//! costs a request, so only a backfill asks ([`is_backfill`]): an ordinary
//! poll reads a page or two and is over before anyone would look.
//!
//! The estimate is the records left over the rate of the last
//! [`RATE_WINDOW`], not the whole poll's average: Autotask slows down as its
//! hourly threshold fills, and a recent rate follows that.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// A poll is a backfill, and worth a count of what it will read, when its
/// window reaches back further than this many poll intervals...
pub const BACKFILL_INTERVALS: u32 = 10;
/// ...and further than this: a resource polled every minute is not
/// backfilling after a ten-minute pause.
pub const BACKFILL_AT_LEAST: Duration = Duration::from_secs(60 * 60);

/// The rate the estimate divides by is measured over about this long.
pub const RATE_WINDOW: Duration = Duration::from_secs(30);

/// Whether a window of `reach` (from its start to now) on a resource polled
/// every `interval` is a backfill: see [`BACKFILL_INTERVALS`].
pub fn is_backfill(reach: Duration, interval: Duration) -> bool {
    reach > (interval * BACKFILL_INTERVALS).max(BACKFILL_AT_LEAST)
}

/// Records read per second over the last [`RATE_WINDOW`]: samples of
/// (when, records read so far), the oldest kept just outside the window so
/// the rate always spans it once the poll has run that long.
#[derive(Debug, Default)]
struct RecentRate {
    samples: VecDeque<(Instant, u64)>,
}

impl RecentRate {
    fn record(&mut self, at: Instant, read: u64) {
        self.samples.push_back((at, read));
        while self.samples.len() > 2 && at.duration_since(self.samples[1].0) >= RATE_WINDOW {
            self.samples.pop_front();
        }
    }

    /// `None` until two samples are apart in time, or when nothing was read between them.
    fn per_second(&self) -> Option<f64> {
        let (&(first, first_read), &(last, last_read)) = (self.samples.front()?, self.samples.back()?);
        let seconds = last.duration_since(first).as_secs_f64();
        let read = last_read.saturating_sub(first_read) as f64;
        (seconds > 0.0 && read > 0.0).then(|| read / seconds)
    }
}

/// The seconds left to read `total` records with `read` done at `per_second`,
/// rounded up (a poll with a record left is not "0 s" from done).
pub fn eta_seconds(total: u64, read: u64, per_second: f64) -> Option<u64> {
    if !(per_second.is_finite() && per_second > 0.0) {
        return None;
    }
    let left = total.saturating_sub(read) as f64;
    Some((left / per_second).ceil() as u64)
}

/// A running poll's counts, as the poll keeps them.
#[derive(Debug)]
struct Running {
    started: DateTime<Utc>,
    pages_read: u64,
    records_read: u64,
    records_total: Option<u64>,
    records_mapped: u64,
    messages_stored: u64,
    rate: RecentRate,
}

/// What a poll has done so far, as the management API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PollProgress {
    pub pages_read: u64,
    /// Records of the resource's query read (deletion log rows are not counted).
    pub records_read: u64,
    /// How many the query matched when the poll began; only for a backfill.
    pub records_total: Option<u64>,
    /// Records turned into events (or failures): read ones not already seen.
    pub records_mapped: u64,
    /// Messages stored in the outbox, ready for delivery.
    pub messages_stored: u64,
    #[serde(rename = "startedDate", serialize_with = "date")]
    pub started: DateTime<Utc>,
    /// Seconds left at the recent rate; only when the total is known.
    pub eta_seconds: Option<u64>,
}

fn date<S: serde::Serializer>(date: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&crate::manage::views::format_date(*date))
}

impl PollProgress {
    /// "page 12 · 5,800 of 20,000 records · about 3 min left", or without the
    /// parts not known ("page 3 · 1,500 records").
    pub fn text(&self) -> String {
        let records = match self.records_total {
            Some(total) => format!("{} of {} records", thousands(self.records_read), thousands(total)),
            None => format!("{} records", thousands(self.records_read)),
        };
        let mut text = format!("page {} · {records}", self.pages_read);
        if let Some(eta) = self.eta_seconds {
            text.push_str(&format!(" · {}", time_left(eta)));
        }
        text
    }
}

/// `1234567` as "1,234,567".
pub fn thousands(number: u64) -> String {
    let digits = number.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// "about 3 min left": whole minutes past a minute (rounded up), seconds below.
pub fn time_left(seconds: u64) -> String {
    match seconds {
        0 => "almost done".into(),
        1..60 => format!("about {seconds} s left"),
        60..3600 => format!("about {} min left", seconds.div_ceil(60)),
        _ => format!("about {} h {} min left", seconds / 3600, (seconds % 3600).div_ceil(60).min(59)),
    }
}

/// Where a resource's poll shows its progress: empty between polls. Cheap
/// to clone; the poll writes it, readers take a snapshot.
#[derive(Debug, Clone, Default)]
pub struct ProgressCell(Arc<Mutex<Option<Running>>>);

impl ProgressCell {
    fn with(&self, change: impl FnOnce(&mut Option<Running>)) {
        change(&mut self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
    }

    /// A poll began at `started`: counts from zero.
    pub(crate) fn begin(&self, started: DateTime<Utc>) {
        let mut rate = RecentRate::default();
        rate.record(Instant::now(), 0);
        self.with(|running| {
            *running = Some(Running {
                started,
                pages_read: 0,
                records_read: 0,
                records_total: None,
                records_mapped: 0,
                messages_stored: 0,
                rate,
            })
        });
    }

    pub(crate) fn total(&self, total: u64) {
        self.with(|running| running.iter_mut().for_each(|running| running.records_total = Some(total)));
    }

    /// A page of the resource's query was read, with `records` in it (`None`: a deletion log's page).
    pub(crate) fn page_read(&self, records: Option<usize>) {
        self.with(|running| {
            if let Some(running) = running {
                running.pages_read += 1;
                if let Some(records) = records {
                    running.records_read += records as u64;
                    running.rate.record(Instant::now(), running.records_read);
                }
            }
        });
    }

    pub(crate) fn mapped(&self, records: usize) {
        self.with(|running| running.iter_mut().for_each(|running| running.records_mapped += records as u64));
    }

    pub(crate) fn stored(&self, messages: usize) {
        self.with(|running| running.iter_mut().for_each(|running| running.messages_stored += messages as u64));
    }

    /// The poll ended (done or not): nothing to show until the next.
    pub(crate) fn end(&self) {
        self.with(|running| *running = None);
    }

    /// The running poll's progress, if one runs.
    pub fn snapshot(&self) -> Option<PollProgress> {
        let running = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let running = running.as_ref()?;
        let eta = running
            .records_total
            .zip(running.rate.per_second())
            .and_then(|(total, rate)| eta_seconds(total, running.records_read, rate));
        Some(PollProgress {
            pages_read: running.pages_read,
            records_read: running.records_read,
            records_total: running.records_total,
            records_mapped: running.records_mapped,
            messages_stored: running.messages_stored,
            started: running.started,
            eta_seconds: eta,
        })
    }
}

/// Ends the progress when dropped, so a poll that fails or is stopped
/// mid-way does not leave it showing.
pub(crate) struct ProgressGuard<'a>(pub(crate) &'a ProgressCell);

impl Drop for ProgressGuard<'_> {
    fn drop(&mut self) {
        self.0.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backfill_reaches_back_ten_intervals_and_at_least_an_hour() {
        let minute = Duration::from_secs(60);
        assert!(!is_backfill(minute * 2, minute), "an ordinary poll");
        assert!(!is_backfill(minute * 30, minute), "ten intervals, but under an hour");
        assert!(is_backfill(minute * 61, minute));
        let hour = minute * 60;
        assert!(!is_backfill(hour * 9, hour), "nine intervals of an hour");
        assert!(is_backfill(hour * 11, hour));
    }

    #[test]
    fn the_eta_is_what_is_left_over_the_rate_rounded_up() {
        assert_eq!(eta_seconds(20_000, 5_800, 100.0), Some(142));
        assert_eq!(eta_seconds(20_000, 19_999, 100.0), Some(1), "a record left is not done");
        assert_eq!(eta_seconds(100, 120, 10.0), Some(0), "more read than counted (records added since)");
        assert_eq!(eta_seconds(100, 0, 0.0), None, "no rate, no estimate");
        assert_eq!(eta_seconds(100, 0, f64::NAN), None);
    }

    #[test]
    fn the_rate_follows_the_last_thirty_seconds_not_the_whole_poll() {
        let start = Instant::now();
        let mut rate = RecentRate::default();
        assert_eq!(rate.per_second(), None);
        rate.record(start, 0);
        assert_eq!(rate.per_second(), None, "one sample");
        // Fast at first: 1,000 records a second for 60 s...
        for second in 1..=60 {
            rate.record(start + Duration::from_secs(second), second * 1000);
        }
        assert_eq!(rate.per_second(), Some(1000.0));
        // ...then 100 a second: after 30 s more, the estimate sees only the slow part.
        for second in 61..=90 {
            rate.record(start + Duration::from_secs(second), 60_000 + (second - 60) * 100);
        }
        let per_second = rate.per_second().unwrap();
        assert!((per_second - 100.0).abs() < 1e-9, "{per_second}");
        assert!(rate.samples.len() <= 32, "old samples are dropped: {}", rate.samples.len());
    }

    #[test]
    fn progress_reads_as_pages_records_and_time_left() {
        let progress = PollProgress {
            pages_read: 12,
            records_read: 5_800,
            records_total: Some(20_000),
            records_mapped: 5_000,
            messages_stored: 50,
            started: Utc::now(),
            eta_seconds: Some(142),
        };
        assert_eq!(progress.text(), "page 12 · 5,800 of 20,000 records · about 3 min left");
        let unknown = PollProgress { records_total: None, eta_seconds: None, ..progress };
        assert_eq!(unknown.text(), "page 12 · 5,800 records");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(time_left(0), "almost done");
        assert_eq!(time_left(45), "about 45 s left");
        assert_eq!(time_left(60), "about 1 min left");
        assert_eq!(time_left(3 * 3600 + 61), "about 3 h 2 min left");
    }

    #[test]
    fn a_cell_counts_while_a_poll_runs_and_is_empty_after() {
        let cell = ProgressCell::default();
        assert_eq!(cell.snapshot(), None);
        {
            cell.begin(Utc::now());
            let _guard = ProgressGuard(&cell);
            cell.total(1000);
            cell.page_read(Some(100));
            cell.page_read(None);
            cell.mapped(90);
            cell.stored(3);
            let progress = cell.snapshot().unwrap();
            assert_eq!(
                (progress.pages_read, progress.records_read, progress.records_total),
                (2, 100, Some(1000)),
                "a deletion log page is a page, its rows not records"
            );
            assert_eq!((progress.records_mapped, progress.messages_stored), (90, 3));
            let json = serde_json::to_value(&progress).unwrap();
            for field in ["pagesRead", "recordsRead", "recordsTotal", "recordsMapped", "messagesStored", "startedDate"]
            {
                assert!(json.get(field).is_some(), "{field} in {json}");
            }
        }
        assert_eq!(cell.snapshot(), None, "the guard ended it");
    }
}
