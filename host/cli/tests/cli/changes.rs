//! What the tests that kill `serve` share: a seeded generator, the changes they
//! make in the simulator, and the events those changes must become.

use engine::dates::parse_instant;
use serde_json::Value;

/// A small deterministic generator, seeded from the clock and printed, so a
/// failing run can be repeated with the seed.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// `name`'s value when set, else a seed from the clock.
pub fn seed(name: &str) -> u64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    })
}

/// One change made in the simulator, and the event it must produce.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Change {
    pub event_type: &'static str,
    pub object_id: String,
    /// The record's updated instant (creates and updates), in milliseconds.
    pub updated_ms: Option<i64>,
}

/// A record's `lastActivityDate`, in milliseconds.
pub fn updated_ms(record: &Value) -> Option<i64> {
    record["lastActivityDate"].as_str().and_then(|d| parse_instant(d).ok()).map(|d| d.timestamp_millis())
}

/// The change a delivered event stands for.
pub fn change_of(event: &Value) -> Change {
    let event_type = match event["eventType"].as_str().unwrap() {
        "CREATED" => "CREATED",
        "UPDATED" => "UPDATED",
        _ => "DELETED",
    };
    let updated_ms = if event_type == "DELETED" {
        None
    } else {
        parse_instant(event["eventDate"].as_str().unwrap()).ok().map(|d| d.timestamp_millis())
    };
    Change { event_type, object_id: event["objectId"].as_str().unwrap().to_owned(), updated_ms }
}
