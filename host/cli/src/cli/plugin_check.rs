//! `autotask-events plugin check`: runs a plugin over records from a file, exactly
//! as the service would for one poll, and prints the events.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use clap::Args;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use engine::dates::{AUTOTASK_DATE_PATTERN, DateFormat, format_instant, parse_instant};
use engine::records::{DateField, RecordReader};
use plugin_runtime::{Context, DatesConfiguration, Event, Limits, PluginRuntime, PollConfiguration, RawRecord};

/// The largest batch handed to a plugin in one call, as in the service.
pub const BATCH_SIZE: usize = 500;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The plugin component (.wasm).
    pub plugin: PathBuf,
    /// Raw records: a JSON array, or an Autotask page `{"items": [...]}`; `-` reads stdin.
    #[arg(long)]
    pub records: PathBuf,
    /// The resource name: the events' object type.
    #[arg(long, default_value = "incidents")]
    pub resource: String,
    /// The field holding each record's id.
    #[arg(long, default_value = "id")]
    pub id_field: String,
    /// The field holding each record's created date.
    #[arg(long, default_value = "createDate")]
    pub created_field: String,
    /// Java SimpleDateFormat pattern of the created date.
    #[arg(long, default_value = AUTOTASK_DATE_PATTERN)]
    pub created_format: String,
    /// The field holding each record's updated date.
    #[arg(long, default_value = "lastActivityDate")]
    pub updated_field: String,
    /// Java SimpleDateFormat pattern of the updated date.
    #[arg(long, default_value = AUTOTASK_DATE_PATTERN)]
    pub updated_format: String,
    /// Seconds within which equal created and updated dates mean CREATED.
    #[arg(long, default_value_t = 1)]
    pub created_check_tolerance: u32,
    /// The previous poll's time (RFC 3339); default: 15 minutes before --now.
    #[arg(long)]
    pub previous_poll: Option<String>,
    /// This poll's time (RFC 3339); default: now.
    #[arg(long)]
    pub now: Option<String>,
    /// Time limit for one batch, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub batch_time_ms: u64,
    /// Memory limit of the plugin, in MiB.
    #[arg(long, default_value_t = 64)]
    pub memory_mib: usize,
}

/// Exit code when some records could not be mapped.
const SOME_RECORDS_FAILED: u8 = 1;
/// Exit code when the plugin could not be loaded or called, or the input is unusable.
const UNUSABLE: u8 = 2;

pub(super) fn run(args: &CheckArgs) -> ExitCode {
    match check(args) {
        Ok(report) => {
            println!("{}", serde_json::to_string_pretty(&report.json).expect("a Value always serializes"));
            ExitCode::from(if report.failed_records > 0 { SOME_RECORDS_FAILED } else { 0 })
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(UNUSABLE)
        }
    }
}

struct Report {
    json: Value,
    failed_records: usize,
}

fn check(args: &CheckArgs) -> Result<Report, String> {
    let now = instant_arg("--now", args.now.as_deref())?.unwrap_or_else(Utc::now);
    let previous_poll =
        instant_arg("--previous-poll", args.previous_poll.as_deref())?.unwrap_or(now - TimeDelta::minutes(15));
    let records = read_records(&args.records)?;

    let limits = Limits {
        batch_time: std::time::Duration::from_millis(args.batch_time_ms),
        memory_bytes: args.memory_mib << 20,
        ..Limits::default()
    };
    let runtime = PluginRuntime::new(limits).map_err(|e| e.to_string())?;
    let plugin = Arc::new(runtime.load_file(&args.plugin).map_err(|e| e.to_string())?);
    let tokio = tokio::runtime::Builder::new_current_thread().build().map_err(|e| e.to_string())?;

    let reader = record_reader(args)?;
    let mut events = Vec::new();
    let mut errors = Vec::new();
    let mut ready: Vec<(usize, RawRecord)> = Vec::new();
    for (index, record) in records.iter().enumerate() {
        match reader.read(record.get(), previous_poll) {
            Ok(raw) => ready.push((index, raw)),
            Err(e) => errors.push(json!({"index": index, "message": e.to_string()})),
        }
    }

    let ctx = context(args, previous_poll, now);
    for batch in ready.chunks(BATCH_SIZE) {
        let (indices, raws): (Vec<usize>, Vec<RawRecord>) = batch.iter().cloned().unzip();
        let results = tokio.block_on(plugin.transform(ctx.clone(), raws)).map_err(|e| e.to_string())?;
        for (index, result) in indices.into_iter().zip(results) {
            match result {
                Ok(mapped) => events.extend(mapped.iter().map(event_json)),
                Err(message) => errors.push(json!({"index": index, "message": message})),
            }
        }
    }
    errors.sort_by_key(|e| e["index"].as_u64());
    let failed_records = errors.len();
    Ok(Report { json: json!({"events": events, "errors": errors}), failed_records })
}

fn instant_arg(flag: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, String> {
    value
        .map(|text| parse_instant(text).map_err(|e| format!("{flag} `{text}` is not an RFC 3339 date: {e}")))
        .transpose()
}

fn read_records(path: &Path) -> Result<Vec<Box<RawValue>>, String> {
    let text = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map(|_| text)
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|e| format!("cannot read records from {}: {e}", path.display()))?;

    // Untagged enums cannot hold raw values, so try each shape in turn.
    #[derive(Deserialize)]
    struct Page {
        items: Vec<Box<RawValue>>,
    }
    serde_json::from_str::<Vec<Box<RawValue>>>(&text)
        .or_else(|_| serde_json::from_str::<Page>(&text).map(|page| page.items))
        .map_err(|_| {
            format!("{} is neither a JSON array of records nor an Autotask page {{\"items\": [...]}}", path.display())
        })
}

fn record_reader(args: &CheckArgs) -> Result<RecordReader, String> {
    let format = |flag: &str, pattern: &str| DateFormat::new(pattern, None).map_err(|e| format!("{flag}: {e}"));
    Ok(RecordReader {
        id_field: args.id_field.clone(),
        created: Some(DateField {
            field: args.created_field.clone(),
            format: format("--created-format", &args.created_format)?,
        }),
        updated: Some(DateField {
            field: args.updated_field.clone(),
            format: format("--updated-format", &args.updated_format)?,
        }),
        created_check_tolerance: TimeDelta::seconds(args.created_check_tolerance.into()),
    })
}

fn context(args: &CheckArgs, previous_poll: DateTime<Utc>, now: DateTime<Utc>) -> Context {
    Context {
        instance_id: "0".into(),
        instance_name: "plugin check".into(),
        element_key: "autotaskhelpdesk".into(),
        resource: args.resource.clone(),
        poll: PollConfiguration {
            id_field: args.id_field.clone(),
            dates: DatesConfiguration {
                updated_date_field: Some(args.updated_field.clone()),
                updated_date_format: Some(args.updated_format.clone()),
                updated_date_timezone: None,
                created_date_field: Some(args.created_field.clone()),
                created_date_format: Some(args.created_format.clone()),
                created_date_timezone: None,
            },
            created_check_tolerance_seconds: args.created_check_tolerance,
        },
        previous_poll: format_instant(previous_poll),
        this_poll: format_instant(now),
    }
}

fn event_json(event: &Event) -> Value {
    json!({
        "eventType": event.event_type.cloud_elements_name(),
        "objectId": event.object_id,
        "objectType": event.object_type,
        "eventDate": event.event_date,
        // The runtime checked the payload is JSON.
        "payload": serde_json::from_str::<Value>(&event.payload).unwrap_or(Value::Null),
    })
}
