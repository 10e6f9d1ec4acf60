//! When each resource's first poll is due. A resource starting on its own
//! polls at once (after a little jitter); resources starting together (a host
//! of thousands starting, a configuration file adding many instances) take
//! turns, [`FIRST_POLLS_PER_SECOND`] a second, instead of all being due in the
//! same two seconds. Their later polls keep the phase the first set, so one
//! round of polls stays spread over the interval as the first was.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many first polls may be due in one second, host-wide. A quiet poll
/// costs well under a millisecond of CPU, so this uses a tenth of a core
/// or less while many start together; a host of 10,000 instances × 3
/// resources is through its first round in 150 s, half a 5-minute interval.
pub(crate) const FIRST_POLLS_PER_SECOND: u32 = 200;

/// The host's queue of first polls.
pub(crate) struct FirstPolls {
    gap: Duration,
    /// When the next first poll may be due, at the earliest.
    next_free: Mutex<Option<Instant>>,
}

impl Default for FirstPolls {
    fn default() -> Self {
        FirstPolls { gap: Duration::from_secs(1) / FIRST_POLLS_PER_SECOND, next_free: Mutex::new(None) }
    }
}

impl FirstPolls {
    /// When a first poll wanted at `wanted` is due: then, or after the first
    /// polls already given a time, one gap apart.
    pub(crate) fn due(&self, wanted: Instant) -> Instant {
        let mut next_free = self.next_free.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let due = next_free.map_or(wanted, |free| free.max(wanted));
        *next_free = Some(due + self.gap);
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_first_poll_is_due_when_wanted_and_many_take_turns() {
        let polls = FirstPolls::default();
        let now = Instant::now();
        assert_eq!(polls.due(now), now, "a lone first poll is not held back");
        let gap = Duration::from_secs(1) / FIRST_POLLS_PER_SECOND;
        let dues: Vec<Instant> = (0..1000).map(|_| polls.due(now)).collect();
        for (turn, due) in dues.iter().enumerate() {
            assert_eq!(*due, now + gap * (turn as u32 + 1), "turn {turn}");
        }
        // A resource added later, once the queue has drained, polls at once again.
        let later = now + Duration::from_secs(60);
        assert_eq!(polls.due(later), later);
    }
}
