//! Realistic Autotask Ticket records from a fixed seed, for examples, tests and
//! benchmarks: the same seed always gives the same records.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};

/// A small deterministic generator (SplitMix64): the records for a seed must
/// not change when a dependency is upgraded, so no external RNG is used.
pub struct Seeded(u64);

impl Seeded {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Seeded(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One element of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const WORDS: &[&str] = &[
    "printer",
    "email",
    "VPN",
    "laptop",
    "outlook",
    "password",
    "reset",
    "server",
    "backup",
    "failed",
    "slow",
    "network",
    "firewall",
    "licence",
    "onboarding",
    "new",
    "user",
    "Teams",
    "SharePoint",
    "disk",
    "full",
    "certificate",
    "expired",
    "Wi-Fi",
    "drops",
    "invoice",
    "portal",
    "MFA",
    "locked",
    "café",
    "Zürich",
    "naïve",
    "日本語",
    "emoji 🚀",
    "quote \"x\"",
    "back\\slash",
    "tab\there",
];

/// Autotask writes dates in UTC with `Z` and 0–3 fraction digits.
pub fn autotask_date(instant: DateTime<Utc>, fraction_digits: u32) -> String {
    let base = instant.format("%Y-%m-%dT%H:%M:%S").to_string();
    let millis = instant.timestamp_subsec_millis();
    match fraction_digits {
        0 => format!("{base}Z"),
        1 => format!("{base}.{}Z", millis / 100),
        2 => format!("{base}.{:02}Z", millis / 10),
        _ => format!("{base}.{millis:03}Z"),
    }
}

/// Between `min` and `min + spread - 1` random words.
fn words(rng: &mut Seeded, min: u64, spread: u64) -> String {
    let count = min + rng.below(spread);
    (0..count).map(|_| *rng.pick(WORDS)).collect::<Vec<_>>().join(" ")
}

/// A number in `base..base + spread`, or null one time in four.
fn maybe_number(rng: &mut Seeded, base: u64, spread: u64) -> Value {
    if rng.chance(25) { Value::Null } else { json!(base + rng.below(spread)) }
}

fn date_around(rng: &mut Seeded, base: DateTime<Utc>, spread_minutes: i64) -> DateTime<Utc> {
    base + Duration::milliseconds(rng.below((spread_minutes * 60_000) as u64) as i64)
}

/// `count` Tickets with ids from `first_id`, created in the days before
/// `updated_before` and last active shortly before it. About 1–2 KB each, with
/// nulls, missing fields, unicode and user-defined fields.
pub fn tickets(seed: u64, first_id: u64, count: usize, updated_before: DateTime<Utc>) -> Vec<Value> {
    let mut rng = Seeded::new(seed);
    (0..count as u64).map(|i| ticket(&mut rng, first_id + i, updated_before)).collect()
}

fn ticket(rng: &mut Seeded, id: u64, updated_before: DateTime<Utc>) -> Value {
    let created = date_around(rng, updated_before - Duration::days(30), 30 * 24 * 60);
    let updated = if rng.chance(20) {
        created
    } else {
        date_around(rng, created, (updated_before - created).num_minutes().max(1))
    };
    let digits = |rng: &mut Seeded| rng.below(4) as u32;
    let completed = rng.chance(30).then(|| autotask_date(updated, 0));
    let mut ticket = json!({
        "id": id,
        "ticketNumber": format!("T{}.{:04}", created.format("%Y%m%d"), id % 10_000),
        "title": words(rng, 3, 6),
        "description": words(rng, 40, 120),
        "status": rng.pick(&[1, 5, 8, 10, 12, 13]),
        "priority": rng.pick(&[1, 2, 3, 4]),
        "issueType": maybe_number(rng, 1, 20),
        "subIssueType": maybe_number(rng, 1, 200),
        "ticketType": rng.pick(&[1, 2, 3, 4, 5]),
        "source": rng.pick(&[-1, 1, 2, 4, 6]),
        "queueID": rng.pick(&[5, 8, 29683354, 29682833]),
        "companyID": rng.below(500),
        "contactID": maybe_number(rng, 1, 3000),
        "assignedResourceID": maybe_number(rng, 29_682_000, 80),
        "createDate": autotask_date(created, digits(rng)),
        "lastActivityDate": autotask_date(updated, digits(rng)),
        "lastTrackedModificationDateTime": autotask_date(updated, digits(rng)),
        "dueDateTime": autotask_date(created + Duration::days(3), 0),
        "completedDate": completed,
        "resolvedDateTime": if rng.chance(30) { json!(autotask_date(updated, 2)) } else { Value::Null },
        "serviceLevelAgreementID": maybe_number(rng, 1, 5),
        "billingCodeID": maybe_number(rng, 29_682_800, 20),
        "estimatedHours": (rng.below(80) as f64) / 4.0,
        "hoursToBeScheduled": 0.0,
        "creatorResourceID": 29_682_885,
        "creatorType": 1,
        "organizationalLevelAssociationID": maybe_number(rng, 0, 10),
        "userDefinedFields": user_defined_fields(rng),
    });
    if rng.chance(10) {
        // Autotask omits fields the integration user cannot see.
        let object = ticket.as_object_mut().expect("a ticket is an object");
        object.remove("contactID");
        object.remove("userDefinedFields");
    }
    ticket
}

fn user_defined_fields(rng: &mut Seeded) -> Value {
    const NAMES: [&str; 5] = ["Region", "Asset tag", "Customer PO", "Escalated", "Notes"];
    let count = rng.below(NAMES.len() as u64 + 1) as usize;
    NAMES[..count]
        .iter()
        .map(|name| {
            let value = if rng.chance(25) { Value::Null } else { json!(words(rng, 1, 3)) };
            json!({"name": name, "value": value})
        })
        .collect()
}

/// A fixed instant for reproducible samples: 2024-06-01T12:00:00Z.
pub fn sample_epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0).single().expect("a valid date")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_tickets_and_sizes_are_realistic() {
        let a = tickets(7, 1000, 200, sample_epoch());
        let b = tickets(7, 1000, 200, sample_epoch());
        assert_eq!(a, b);
        assert_ne!(a, tickets(8, 1000, 200, sample_epoch()));
        let mean = a.iter().map(|t| t.to_string().len()).sum::<usize>() / a.len();
        assert!((700..=2500).contains(&mean), "mean record size {mean} bytes");
        assert!(a.iter().any(|t| t.get("contactID").is_none()));
        assert!(a.iter().any(|t| t["assignedResourceID"].is_null()));
        assert!(a.iter().all(|t| t["id"].as_u64().is_some()));
    }
}
