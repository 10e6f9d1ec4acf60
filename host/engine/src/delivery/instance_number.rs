//! The number a delivered message carries as `instanceId` and `instance_id`.
//!
//! Cloud Elements sends its instance id as a JSON number, and receivers written
//! for it parse one. The service knows instances by text: an API instance by
//! its store number in decimal (`"1"`, `"2"`, ...), a configuration file
//! instance by a name such as `"acme"` (never only digits: the configuration
//! refuses those, they are the API's). So the number follows from the text:
//!
//! - an API instance's is its id, the number the management API answers with;
//! - a file instance's is `2^52 + (SHA-256(id)[0..8] as a big-endian u64 mod 2^52)`:
//!   the same id always gets the same number, on every host and after every
//!   upgrade, it is below 2^53 so JavaScript reads it exactly, and it is at least
//!   2^52, a count of API instances no store reaches, so the two never meet.

use sha2::{Digest, Sha256};

/// Where file instances' numbers start: 2^52.
pub const FILE_NUMBERS_START: u64 = 1 << 52;

/// The largest integer a JavaScript number holds exactly: 2^53 - 1.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// The number messages of instance `id` carry.
pub fn instance_number(id: &str) -> u64 {
    api_number(id).unwrap_or_else(|| file_number(id))
}

/// An API instance's number: its id is the store's number in decimal.
fn api_number(id: &str) -> Option<u64> {
    let all_digits = !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit());
    // Past 2^52 it would meet file numbers (and past 2^53 JavaScript's precision):
    // no store counts that far, but a number there is derived like a file's.
    all_digits.then(|| id.parse::<u64>().ok()).flatten().filter(|number| *number < FILE_NUMBERS_START)
}

/// A file instance's number, derived from its text id as the module says.
pub fn file_number(id: &str) -> u64 {
    let digest = Sha256::digest(id.as_bytes());
    let first_eight: [u8; 8] = digest[..8].try_into().expect("SHA-256 has 32 bytes");
    FILE_NUMBERS_START + u64::from_be_bytes(first_eight) % FILE_NUMBERS_START
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_instance_is_delivered_with_its_own_number() {
        assert_eq!(instance_number("1"), 1);
        assert_eq!(instance_number("42"), 42);
    }

    #[test]
    fn a_file_instance_number_is_the_documented_formula_and_stable() {
        // Worked out apart from this code (Python's hashlib), as the docs give it:
        // (1 << 52) + int.from_bytes(sha256(id).digest()[:8], "big") % (1 << 52)
        assert_eq!(instance_number("acme"), 7_656_644_771_137_696);
        assert_eq!(instance_number("from-file"), 6_514_901_300_518_951);
        assert_eq!(instance_number("acme"), instance_number("acme"));
        assert_ne!(instance_number("acme"), instance_number("acme-2"));
    }

    #[test]
    fn file_numbers_are_safe_javascript_integers_apart_from_api_numbers() {
        for id in ["acme", "a", "demo", "from-file", "with_since", "x-1", "Z9"] {
            let number = instance_number(id);
            assert!((FILE_NUMBERS_START..=MAX_SAFE_INTEGER).contains(&number), "{id}: {number}");
            // A double holds it exactly: what a JavaScript receiver's JSON.parse gives.
            assert_eq!(number as f64 as u64, number, "{id}");
        }
    }

    #[test]
    fn digits_too_large_for_an_api_number_are_derived_like_a_file_id() {
        let huge = FILE_NUMBERS_START.to_string();
        assert_eq!(instance_number(&huge), file_number(&huge));
        assert_eq!(instance_number("99999999999999999999999"), file_number("99999999999999999999999"));
        assert_eq!(instance_number(""), file_number(""));
    }
}
