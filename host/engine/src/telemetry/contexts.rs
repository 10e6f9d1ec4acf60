//! Which poll made each recent message: its span context by message id, for
//! the message's delivery spans. In memory and bounded: the latest
//! [`REMEMBERED`] messages. A message delivered after a restart, or after
//! that many newer ones, gets a trace of its own; for traces that is fine,
//! and it keeps the memory bounded.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, LazyLock, Mutex};

use opentelemetry::trace::SpanContext;

/// How many messages' polls are remembered.
pub const REMEMBERED: usize = 100_000;

static POLLS: LazyLock<Mutex<Remembered>> = LazyLock::new(|| Mutex::new(Remembered::new(REMEMBERED)));

/// Message ids and their polls' span contexts, oldest forgotten first.
struct Remembered {
    capacity: usize,
    polls: HashMap<Arc<str>, SpanContext>,
    /// Insertion order, for forgetting.
    order: VecDeque<Arc<str>>,
}

impl Remembered {
    fn new(capacity: usize) -> Self {
        Remembered { capacity, polls: HashMap::new(), order: VecDeque::new() }
    }

    fn insert(&mut self, message_id: &str, poll: &SpanContext) {
        let id: Arc<str> = message_id.into();
        if self.polls.insert(id.clone(), poll.clone()).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.polls.remove(&oldest);
            }
        }
    }
}

fn polls() -> std::sync::MutexGuard<'static, Remembered> {
    POLLS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(super) fn remember<'a>(message_ids: impl IntoIterator<Item = &'a str>, poll: &SpanContext) {
    let mut polls = polls();
    for id in message_ids {
        polls.insert(id, poll);
    }
}

pub(super) fn poll_of(message_id: &str) -> Option<SpanContext> {
    polls().polls.get(message_id).cloned()
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};

    use super::*;

    fn context(n: u8) -> SpanContext {
        SpanContext::new(
            TraceId::from_bytes([n; 16]),
            SpanId::from_bytes([n; 8]),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        )
    }

    #[test]
    fn the_oldest_messages_are_forgotten_past_the_capacity() {
        let mut remembered = Remembered::new(2);
        remembered.insert("a", &context(1));
        remembered.insert("b", &context(2));
        remembered.insert("a", &context(3));
        assert_eq!(remembered.polls["a"], context(3), "a message committed again keeps its place");
        remembered.insert("c", &context(4));
        assert!(!remembered.polls.contains_key("a"), "the oldest goes");
        assert_eq!((remembered.polls.len(), remembered.order.len()), (2, 2));
        assert_eq!(remembered.polls["c"], context(4));
    }
}
