//! One plugin over a list of raw records, record by record in the answer, as a
//! poll maps them: in batches, and when a batch fails as a whole (a trap, the
//! time or memory limit) each of its records again alone, so only the records
//! that cause it fail.

use std::sync::Arc;

use plugin_runtime::{Context, Event, Plugin, PluginError, RawRecord, RecordResult};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::MappingSetup;

/// The largest batch handed to a plugin in one call, as in the service.
pub const BATCH_SIZE: usize = 500;

/// After this many records in a row ran out of time alone, the plugin is taken
/// to run out of time on every record, and the rest fail without being tried:
/// a plugin that loops forever would otherwise cost the time limit per record.
const TIMEOUTS_BEFORE_GIVING_UP: usize = 3;

/// What a plugin made of one record.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordRun {
    /// The record's place in the input, from 0.
    pub index: usize,
    /// The record's id, when it could be read.
    pub object_id: Option<String>,
    /// Its events (as [`event_json`] writes them), or why it could not be read or mapped.
    pub outcome: Result<Vec<Value>, String>,
}

/// Reads `records` with `setup` and maps them with `plugin` and `ctx`: one
/// [`RecordRun`] per record, in the input's order. A record that cannot be
/// read (no id, a date in another format) fails alone, without the plugin.
pub async fn run_plugin(
    plugin: &Arc<Plugin>,
    setup: &MappingSetup,
    ctx: &Context,
    records: &[Box<RawValue>],
) -> Result<Vec<RecordRun>, super::BadDateFormat> {
    let reader = setup.reader()?;
    let mut runs: Vec<RecordRun> = Vec::with_capacity(records.len());
    let mut ready: Vec<(usize, RawRecord)> = Vec::new();
    for (index, record) in records.iter().enumerate() {
        match reader.read(record.get(), setup.previous_poll) {
            Ok(raw) => {
                runs.push(RecordRun { index, object_id: Some(raw.object_id.clone()), outcome: Ok(Vec::new()) });
                ready.push((index, raw));
            }
            Err(e) => runs.push(RecordRun { index, object_id: None, outcome: Err(e.to_string()) }),
        }
    }
    for batch in ready.chunks(BATCH_SIZE) {
        let (indices, raws): (Vec<usize>, Vec<RawRecord>) = batch.iter().cloned().unzip();
        let results = transform(plugin, ctx, raws).await;
        for (index, result) in indices.into_iter().zip(results) {
            runs[index].outcome = result.map(|events| events.iter().map(event_json).collect());
        }
    }
    Ok(runs)
}

/// Maps a batch as a poll does: when it fails as a whole, each record is tried
/// alone, so that only the records that make the plugin fail are errors.
async fn transform(plugin: &Arc<Plugin>, ctx: &Context, records: Vec<RawRecord>) -> Vec<RecordResult> {
    let count = records.len();
    let error = match plugin.transform(ctx.clone(), records.clone()).await {
        Ok(results) => return results,
        Err(error) if count == 1 => return vec![Err(error.to_string())],
        Err(error) => error,
    };
    tracing::warn!("a batch of {count} records failed as a whole, mapping them one by one: {error}");
    let mut results = Vec::with_capacity(count);
    let mut timeouts_in_a_row = 0;
    for record in records {
        if timeouts_in_a_row >= TIMEOUTS_BEFORE_GIVING_UP {
            results
                .push(Err(format!("not tried alone: the plugin ran out of time on every record before it ({error})")));
            continue;
        }
        let result = match plugin.transform(ctx.clone(), vec![record]).await {
            Ok(mut one) => one.pop().unwrap_or_else(|| Err("the plugin returned no result".into())),
            Err(error) => {
                if matches!(error, PluginError::Timeout { .. }) {
                    timeouts_in_a_row += 1;
                }
                Err(error.to_string())
            }
        };
        if result.is_ok() {
            timeouts_in_a_row = 0;
        }
        results.push(result);
    }
    results
}

/// An event as `plugin check` prints it and the API answers it: the Cloud
/// Elements event type's name and the payload as JSON, not as text.
pub fn event_json(event: &Event) -> Value {
    json!({
        "eventType": event.event_type.cloud_elements_name(),
        "objectId": event.object_id,
        "objectType": event.object_type,
        "eventDate": event.event_date,
        // The runtime checked the payload is JSON.
        "payload": serde_json::from_str::<Value>(&event.payload).unwrap_or(Value::Null),
    })
}
