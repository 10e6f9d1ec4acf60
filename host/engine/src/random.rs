//! Randomness for jitter: no generator crate needed, the standard library's
//! randomly keyed hasher is unpredictable enough to spread retries and polls.

use std::hash::{BuildHasher, RandomState};
use std::time::Instant;

/// A number in [0, 1).
pub fn unit() -> f64 {
    let bits = RandomState::new().hash_one(Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}
