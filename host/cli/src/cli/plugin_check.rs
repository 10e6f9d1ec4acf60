//! `autotask-events plugin check`: runs a plugin over records from a file, exactly
//! as the service would for one poll, and prints the events.
//!
//! As in a poll, a batch that fails as a whole (a trap, the time or memory
//! limit) is mapped again record by record, so only the records that cause it
//! fail. Compiled components are kept in the service's on-disk cache
//! (`DATA_DIR/plugin-cache`), so checking the same file again, or the service
//! loading it after a check, does not compile it again.

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
use engine::service::{PLUGIN_CACHE_DIR, compile_cache_dir};
use plugin_runtime::{
    Context, DatesConfiguration, Event, Limits, Plugin, PluginError, PluginRuntime, PollConfiguration, RawRecord,
    RecordResult,
};

/// The largest batch handed to a plugin in one call, as in the service.
pub const BATCH_SIZE: usize = 500;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The plugin: a component (.wasm) or a script plugin (.js, .py).
    pub plugin: PathBuf,
    /// Raw records: a JSON array, or an Autotask page `{"items": [...]}`; `-` reads stdin.
    #[arg(long)]
    pub records: PathBuf,
    /// The resource name: the events' object type [default: the plugin's own (describe), else incidents].
    #[arg(long)]
    pub resource: Option<String>,
    /// The field holding each record's id [default: the plugin's own (describe), else id].
    #[arg(long)]
    pub id_field: Option<String>,
    /// The field holding each record's created date [default: the plugin's own (describe), else createDate].
    #[arg(long)]
    pub created_field: Option<String>,
    /// Java SimpleDateFormat pattern of the created date.
    #[arg(long, default_value = AUTOTASK_DATE_PATTERN)]
    pub created_format: String,
    /// The field holding each record's updated date [default: the plugin's own (describe), else lastActivityDate].
    #[arg(long)]
    pub updated_field: Option<String>,
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
    /// Where compiled plugins are cached [default: the service's: `data/plugin-cache` here,
    /// or the compile cache of --config].
    #[arg(long, conflicts_with_all = ["config", "no_cache"])]
    pub cache_dir: Option<PathBuf>,
    /// Use the compile cache of this service configuration (`compile_cache_dir`, else DATA_DIR/plugin-cache).
    #[arg(long, conflicts_with = "no_cache")]
    pub config: Option<PathBuf>,
    /// Compile the plugin without reading or writing a compile cache.
    #[arg(long)]
    pub no_cache: bool,
}

/// The defaults of the record fields and resource, for a plugin that does not describe itself.
const DEFAULT_RESOURCE: &str = "incidents";
const DEFAULT_ID_FIELD: &str = "id";
const DEFAULT_CREATED_FIELD: &str = "createDate";
const DEFAULT_UPDATED_FIELD: &str = "lastActivityDate";

/// After this many records in a row ran out of time alone, the plugin is taken
/// to run out of time on every record, and the rest fail without being tried.
const TIMEOUTS_BEFORE_GIVING_UP: usize = 3;

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

/// The record fields and resource a check uses: the flags, else what the plugin
/// describes, else Autotask's usual names.
struct Fields {
    resource: String,
    id: String,
    created: String,
    updated: String,
}

impl Fields {
    fn of(args: &CheckArgs, plugin: &Plugin) -> Fields {
        let described = plugin.description();
        let pick = |flag: &Option<String>, own: Option<&str>, default: &str| {
            flag.clone().or_else(|| own.map(str::to_owned)).unwrap_or_else(|| default.to_owned())
        };
        Fields {
            resource: pick(&args.resource, described.map(|d| d.resource.as_str()), DEFAULT_RESOURCE),
            id: pick(&args.id_field, described.map(|d| d.id_field.as_str()), DEFAULT_ID_FIELD),
            created: pick(
                &args.created_field,
                described.and_then(|d| d.created_date_field.as_deref()),
                DEFAULT_CREATED_FIELD,
            ),
            updated: pick(
                &args.updated_field,
                described.and_then(|d| d.updated_date_field.as_deref()),
                DEFAULT_UPDATED_FIELD,
            ),
        }
    }
}

/// The compile cache directory the flags ask for, if any.
fn cache_dir(args: &CheckArgs) -> Result<Option<PathBuf>, String> {
    if args.no_cache {
        return Ok(None);
    }
    if let Some(dir) = &args.cache_dir {
        return Ok(Some(dir.clone()));
    }
    match &args.config {
        Some(path) => {
            let config = engine::config::load(path).map_err(|problems| {
                let problems: Vec<String> = problems.0.iter().map(ToString::to_string).collect();
                format!("--config {}: {}", path.display(), problems.join("; "))
            })?;
            Ok(Some(compile_cache_dir(&config.server)))
        }
        // Where `serve` keeps it for a configuration here with the default `data_dir`.
        None => Ok(Some(PathBuf::from("data").join(PLUGIN_CACHE_DIR))),
    }
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
    let runtime = match cache_dir(args)? {
        Some(dir) => PluginRuntime::with_artifact_cache(limits, dir),
        None => PluginRuntime::new(limits),
    }
    .map_err(|e| e.to_string())?;
    let loaded = runtime.load_file(&args.plugin);
    // What was compiled is cached for the next check, or the service, before this process ends.
    runtime.wait_for_cache_writes();
    let plugin = Arc::new(loaded.map_err(|e| e.to_string())?);
    let tokio = tokio::runtime::Builder::new_current_thread().build().map_err(|e| e.to_string())?;

    let fields = Fields::of(args, &plugin);
    let reader = record_reader(args, &fields)?;
    let mut events = Vec::new();
    let mut errors = Vec::new();
    let mut ready: Vec<(usize, RawRecord)> = Vec::new();
    for (index, record) in records.iter().enumerate() {
        match reader.read(record.get(), previous_poll) {
            Ok(raw) => ready.push((index, raw)),
            Err(e) => errors.push(json!({"index": index, "message": e.to_string()})),
        }
    }

    let ctx = context(args, &fields, previous_poll, now);
    for batch in ready.chunks(BATCH_SIZE) {
        let (indices, raws): (Vec<usize>, Vec<RawRecord>) = batch.iter().cloned().unzip();
        let results = tokio.block_on(transform(&plugin, &ctx, raws));
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

fn record_reader(args: &CheckArgs, fields: &Fields) -> Result<RecordReader, String> {
    let format = |flag: &str, pattern: &str| DateFormat::new(pattern, None).map_err(|e| format!("{flag}: {e}"));
    Ok(RecordReader {
        id_field: fields.id.clone(),
        created: Some(DateField {
            field: fields.created.clone(),
            format: format("--created-format", &args.created_format)?,
        }),
        updated: Some(DateField {
            field: fields.updated.clone(),
            format: format("--updated-format", &args.updated_format)?,
        }),
        created_check_tolerance: TimeDelta::seconds(args.created_check_tolerance.into()),
    })
}

fn context(args: &CheckArgs, fields: &Fields, previous_poll: DateTime<Utc>, now: DateTime<Utc>) -> Context {
    Context {
        instance_id: "0".into(),
        instance_name: "plugin check".into(),
        element_key: "autotaskhelpdesk".into(),
        resource: fields.resource.clone(),
        poll: PollConfiguration {
            id_field: fields.id.clone(),
            dates: DatesConfiguration {
                updated_date_field: Some(fields.updated.clone()),
                updated_date_format: Some(args.updated_format.clone()),
                updated_date_timezone: None,
                created_date_field: Some(fields.created.clone()),
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
