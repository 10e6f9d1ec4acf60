//! Progress bars for long commands, on a terminal only: drawn on stderr when
//! it is a terminal and the output is not `--json`, so piped output and
//! scripts never see escape codes. What a bar shows comes from the engine's
//! progress ([`PollProgress`]): the same words as the console's.

use std::future::Future;
use std::io::IsTerminal;
use std::time::Duration;

use engine::service::progress::{PollProgress, ProgressCell, thousands};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a bar looks at the progress again.
const TICK: Duration = Duration::from_millis(150);

/// Whether to draw bars: stderr is a terminal, and the output is for people.
pub fn wanted(json: bool) -> bool {
    !json && std::io::stderr().is_terminal()
}

/// What a poll's bar shows: its length (the records to read, when counted),
/// where it is, and the words after it.
#[derive(Debug, PartialEq, Eq)]
pub struct PollBar {
    pub length: Option<u64>,
    pub position: u64,
    pub message: String,
}

impl PollBar {
    pub fn of(progress: &PollProgress) -> PollBar {
        PollBar {
            length: progress.records_total,
            // Records added since the count would run the bar past its end.
            position: progress.records_total.map_or(progress.records_read, |total| progress.records_read.min(total)),
            message: format!("{} · {} mapped", progress.text(), thousands(progress.records_mapped)),
        }
    }
}

fn bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(spinner_style());
    bar
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {prefix} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix} [{bar:30}] {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// Runs `work` (a dry run writing its progress to `progress`), drawing its
/// bar meanwhile; the bar is cleared when the work is done.
pub async fn follow_poll<T>(prefix: &str, progress: &ProgressCell, work: impl Future<Output = T>) -> T {
    let bar = bar();
    bar.set_prefix(prefix.to_owned());
    bar.set_message("starting");
    let drawing = async {
        // A spinner until a poll is counted; each resource of the dry run starts again.
        let mut length = None;
        loop {
            if let Some(progress) = progress.snapshot() {
                let shown = PollBar::of(&progress);
                if shown.length != length {
                    length = shown.length;
                    match length {
                        Some(length) => {
                            bar.set_style(bar_style());
                            bar.set_length(length);
                        }
                        None => {
                            bar.set_style(spinner_style());
                            bar.unset_length();
                        }
                    }
                }
                bar.set_position(shown.position);
                bar.set_message(shown.message);
            }
            bar.tick();
            tokio::time::sleep(TICK).await;
        }
    };
    let done = tokio::select! {
        done = work => done,
        () = drawing => unreachable!("the drawing loop never ends"),
    };
    bar.finish_and_clear();
    done
}

/// A bar of `total` messages, moved with [`ProgressBar::set_position`].
pub fn messages(total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("[{bar:30}] {pos} of {len} messages delivered {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(read: u64, total: Option<u64>, eta: Option<u64>) -> PollProgress {
        PollProgress {
            pages_read: 3,
            records_read: read,
            records_total: total,
            records_mapped: 1_400,
            messages_stored: 0,
            started: chrono::Utc::now(),
            eta_seconds: eta,
        }
    }

    #[test]
    fn a_counted_poll_is_a_bar_of_its_records_with_the_time_left() {
        let shown = PollBar::of(&progress(1_500, Some(6_000), Some(90)));
        assert_eq!(shown.length, Some(6_000));
        assert_eq!(shown.position, 1_500);
        assert_eq!(shown.message, "page 3 · 1,500 of 6,000 records · about 2 min left · 1,400 mapped");
    }

    #[test]
    fn an_uncounted_poll_is_a_spinner_and_a_bar_never_runs_past_its_end() {
        let shown = PollBar::of(&progress(1_500, None, None));
        assert_eq!((shown.length, shown.position), (None, 1_500));
        assert_eq!(shown.message, "page 3 · 1,500 records · 1,400 mapped");
        let grown = PollBar::of(&progress(6_100, Some(6_000), Some(0)));
        assert_eq!(grown.position, 6_000, "records added since the count");
    }
}
