//! A test plugin that misbehaves the way its context's resource name asks, so the
//! host's containment can be tested against a real component:
//!
//! - `trap`: panics (a trap) on every batch;
//! - `trap-on-poison`: panics (a trap) on a batch holding a record with a
//!   `"poison"` field, and maps every other batch;
//! - `spin`: loops forever;
//! - `grow`: allocates memory without bound;
//! - `escape`: tries to read `/etc/passwd`, the environment and the arguments;
//! - `bad-json`: returns an event whose payload is not JSON;
//! - `short`: returns fewer results than records;
//! - `chatty`: logs through the host and prints to stdout and stderr;
//! - `remember`: counts the batches its instance has mapped and says the count
//!   in every event's payload (`{"batches_seen":N}`), so a test sees whether
//!   two batches met on one instance;
//! - `hoard`: keeps 24 MiB more memory on every batch and never frees it, so
//!   its third batch on one instance exceeds a 64 MiB limit;
//! - anything else: behaves, one event per record carrying the record itself.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use autotask_events_sdk::{Context, Description, Event, Plugin, RawRecord, log};

/// Batches this instance has mapped (`remember`).
static BATCHES_SEEN: AtomicU32 = AtomicU32::new(0);

/// Memory kept across batches (`hoard`).
static HOARD: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

pub struct Misbehaving;

impl Plugin for Misbehaving {
    fn describe() -> Description {
        Description::new("misbehaving", "Tickets")
    }

    fn transform(ctx: &Context, records: &[RawRecord]) -> Vec<Result<Vec<Event>, String>> {
        match ctx.resource.as_str() {
            "trap" => panic!("deliberate trap"),
            "trap-on-poison" if records.iter().any(|record| record.json.contains("\"poison\"")) => {
                panic!("deliberate trap on a poisoned record")
            }
            "spin" => spin(),
            "grow" => grow(),
            "short" => Vec::new(),
            "remember" => {
                let seen = BATCHES_SEEN.fetch_add(1, Ordering::Relaxed) + 1;
                let payload = format!("{{\"batches_seen\":{seen}}}");
                records.iter().map(|record| Ok(vec![Event::from_record(ctx, record, payload.clone())])).collect()
            }
            "hoard" => {
                HOARD.lock().unwrap().push(vec![1u8; 24 << 20]);
                records.iter().map(|record| Self::map_record(ctx, record)).collect()
            }
            _ => records.iter().map(|record| Self::map_record(ctx, record)).collect(),
        }
    }

    fn map_record(ctx: &Context, record: &RawRecord) -> Result<Vec<Event>, String> {
        match ctx.resource.as_str() {
            "escape" => escape(),
            "bad-json" => Ok(vec![Event::from_record(ctx, record, "{not json".into())]),
            "chatty" => {
                log::info(&format!("mapping record {}", record.object_id));
                println!("stdout line for {}", record.object_id);
                eprintln!("stderr line for {}", record.object_id);
                Ok(vec![Event::from_record(ctx, record, record.json.clone())])
            }
            _ => Ok(vec![Event::from_record(ctx, record, record.json.clone())]),
        }
    }
}

fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

fn grow() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1u8; 1 << 20]);
        std::hint::black_box(&hoard);
    }
}

/// Reports whatever it managed to see; the host must make all of it come back empty.
fn escape() -> Result<Vec<Event>, String> {
    let file = std::fs::read_to_string("/etc/passwd");
    let env_count = std::env::vars().count();
    let arg_count = std::env::args().count();
    let dir = std::fs::read_dir("/").map(|d| d.count());
    Err(format!("file: {:?}; env vars: {env_count}; args: {arg_count}; root dir: {:?}", file.map(|s| s.len()), dir))
}

#[cfg(target_arch = "wasm32")]
autotask_events_sdk::export_plugin!(Misbehaving);
