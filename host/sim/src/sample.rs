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

/// One Ticket with id `id`, as [`tickets`] makes them.
pub fn ticket(rng: &mut Seeded, id: u64, updated_before: DateTime<Utc>) -> Value {
    let (created, updated) = created_and_updated(rng, updated_before);
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

const FIRST_NAMES: &[&str] = &["Ada", "Grace", "Linus", "Margaret", "José", "Zoë", "Søren", "Amélie", "Kenji", "Priya"];
const LAST_NAMES: &[&str] =
    &["Lovelace", "Hopper", "Torvalds", "Hamilton", "Núñez", "O'Brien", "Kierkegaard", "Poulain"];
const COMPANY_WORDS: &[&str] =
    &["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Tyrell", "Müller & Söhne"];
const CITIES: &[&str] = &["Boston", "Zürich", "London", "Austin", "Lyon", "Osaka"];

/// `count` Companies with ids from `first_id`, created and last active before `updated_before`.
pub fn companies(seed: u64, first_id: u64, count: usize, updated_before: DateTime<Utc>) -> Vec<Value> {
    let mut rng = Seeded::new(seed ^ 0xC0);
    (0..count as u64)
        .map(|i| {
            let id = first_id + i;
            let (created, updated) = created_and_updated(&mut rng, updated_before);
            let name = format!("{} {}", rng.pick(COMPANY_WORDS), rng.pick(&["Ltd", "Inc", "GmbH", "LLC", "SA"]));
            json!({
                "id": id,
                "companyName": name,
                "companyNumber": format!("C{id:05}"),
                "companyType": rng.pick(&[1, 2, 3]),
                "classification": maybe_number(&mut rng, 1, 4),
                "phone": format!("+1 555 {:04}", rng.below(10_000)),
                "webAddress": format!("https://example-{id}.com"),
                "address1": format!("{} Main Street", 1 + rng.below(400)),
                "city": rng.pick(CITIES),
                "state": Value::Null,
                "postalCode": format!("{:05}", rng.below(100_000)),
                "countryID": rng.pick(&[237, 62, 184]),
                "isActive": !rng.chance(10),
                "ownerResourceID": 29_682_885,
                "parentCompanyID": Value::Null,
                "createDate": autotask_date(created, rng.below(4) as u32),
                "lastActivityDate": autotask_date(updated, rng.below(4) as u32),
                "lastTrackedModifiedDateTime": autotask_date(updated, rng.below(4) as u32),
                "userDefinedFields": user_defined_fields(&mut rng),
            })
        })
        .collect()
}

/// `count` Contacts with ids from `first_id`, spread over `company_count` companies.
pub fn contacts(
    seed: u64,
    first_id: u64,
    count: usize,
    company_count: u64,
    updated_before: DateTime<Utc>,
) -> Vec<Value> {
    let mut rng = Seeded::new(seed ^ 0xC1);
    (0..count as u64)
        .map(|i| {
            let (created, updated) = created_and_updated(&mut rng, updated_before);
            let first = *rng.pick(FIRST_NAMES);
            let last = *rng.pick(LAST_NAMES);
            json!({
                "id": first_id + i,
                "companyID": 1 + rng.below(company_count),
                "firstName": first,
                "lastName": last,
                "title": rng.pick(&["CTO", "Office manager", "Accountant", ""]),
                "emailAddress": format!("{}.{}@example.com", first.to_lowercase(), first_id + i),
                "phone": format!("+1 555 {:04}", rng.below(10_000)),
                "mobilePhone": Value::Null,
                "isActive": 1,
                "primaryContact": rng.chance(20),
                "createDate": autotask_date(created, rng.below(4) as u32),
                "lastActivityDate": autotask_date(updated, rng.below(4) as u32),
                "lastModifiedDate": autotask_date(updated, rng.below(4) as u32),
                "userDefinedFields": user_defined_fields(&mut rng),
            })
        })
        .collect()
}

/// `count` TicketNotes with ids from `first_id`, on tickets `1..=ticket_count`.
pub fn ticket_notes(
    seed: u64,
    first_id: u64,
    count: usize,
    ticket_count: u64,
    updated_before: DateTime<Utc>,
) -> Vec<Value> {
    let mut rng = Seeded::new(seed ^ 0xC2);
    (0..count as u64)
        .map(|i| {
            let (created, updated) = created_and_updated(&mut rng, updated_before);
            json!({
                "id": first_id + i,
                "ticketID": 1 + rng.below(ticket_count),
                "title": words(&mut rng, 2, 4),
                "description": words(&mut rng, 10, 40),
                "noteType": rng.pick(&[1, 2, 3]),
                "publish": rng.pick(&[1, 2]),
                "creatorResourceID": 29_682_885,
                "createDateTime": autotask_date(created, rng.below(4) as u32),
                "lastActivityDate": autotask_date(updated, rng.below(4) as u32),
            })
        })
        .collect()
}

/// A record's creation in the month before `updated_before`, and its last change since.
fn created_and_updated(rng: &mut Seeded, updated_before: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let created = date_around(rng, updated_before - Duration::days(30), 30 * 24 * 60);
    let updated = if rng.chance(20) {
        created
    } else {
        date_around(rng, created, (updated_before - created).num_minutes().max(1))
    };
    (created, updated)
}

/// `instant` as Autotask writes a date it just stored: milliseconds with the
/// trailing zeros dropped (`.2Z`, `.25Z`, `.257Z`, or none at all).
pub fn autotask_date_trimmed(instant: DateTime<Utc>) -> String {
    let base = instant.format("%Y-%m-%dT%H:%M:%S").to_string();
    let fraction = format!("{:03}", instant.timestamp_subsec_millis());
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() { format!("{base}Z") } else { format!("{base}.{fraction}Z") }
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

    #[test]
    fn trimmed_dates_drop_trailing_zeros_as_autotask_does() {
        let at = |ms| sample_epoch() + Duration::milliseconds(ms);
        assert_eq!(autotask_date_trimmed(at(0)), "2024-06-01T12:00:00Z");
        assert_eq!(autotask_date_trimmed(at(200)), "2024-06-01T12:00:00.2Z");
        assert_eq!(autotask_date_trimmed(at(250)), "2024-06-01T12:00:00.25Z");
        assert_eq!(autotask_date_trimmed(at(257)), "2024-06-01T12:00:00.257Z");
    }

    #[test]
    fn other_entities_are_deterministic_and_carry_their_change_fields() {
        let companies = companies(1, 1, 20, sample_epoch());
        assert_eq!(companies, super::companies(1, 1, 20, sample_epoch()));
        assert!(companies.iter().all(|c| c["lastActivityDate"].is_string() && c["createDate"].is_string()));
        let contacts = contacts(1, 1, 20, 20, sample_epoch());
        assert!(contacts.iter().all(|c| (1..=20).contains(&c["companyID"].as_u64().unwrap())));
        let notes = ticket_notes(1, 1, 20, 5, sample_epoch());
        assert!(
            notes.iter().all(|n| n["createDateTime"].is_string() && (1..=5).contains(&n["ticketID"].as_u64().unwrap()))
        );
    }
}
