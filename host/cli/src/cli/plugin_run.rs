//! What `plugin check` and `plugin diff` share: the options that say how
//! records are read and the plugin is run, loading a plugin into the
//! service's compile cache, reading the records file, and running a plugin
//! over the records (`engine::tryout`, as the API's `try` runs it).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use clap::Args;
use serde::Deserialize;
use serde_json::value::RawValue;

use engine::dates::{AUTOTASK_DATE_PATTERN, parse_instant};
use engine::service::{PLUGIN_CACHE_DIR, compile_cache_dir};
use engine::tryout::{self, DateSide, MappingSetup, RecordRun};
use plugin_runtime::{Description, Limits, Plugin, PluginRuntime};

/// How records are read and a plugin is run: the same for every plugin a command runs.
#[derive(Debug, Args)]
pub struct RunArgs {
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

/// The runtime the flags ask for: their limits, their compile cache.
pub(super) fn runtime(args: &RunArgs) -> Result<PluginRuntime, String> {
    let limits = Limits {
        batch_time: std::time::Duration::from_millis(args.batch_time_ms),
        memory_bytes: args.memory_mib << 20,
        ..Limits::default()
    };
    match cache_dir(args)? {
        Some(dir) => PluginRuntime::with_artifact_cache(limits, dir),
        None => PluginRuntime::new(limits),
    }
    .map_err(|e| e.to_string())
}

/// Loads the plugin file `path`; what was compiled is in the cache for the
/// next command, or the service, before this process ends.
pub(super) fn load(runtime: &PluginRuntime, path: &Path) -> Result<Arc<Plugin>, String> {
    let loaded = runtime.load_file(path);
    runtime.wait_for_cache_writes();
    loaded.map(Arc::new).map_err(|e| e.to_string())
}

/// The compile cache directory the flags ask for, if any.
fn cache_dir(args: &RunArgs) -> Result<Option<PathBuf>, String> {
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

/// The setup the flags ask for: each flag, else what the plugin describes,
/// else Autotask's usual names.
pub(super) fn setup(args: &RunArgs, description: Option<&Description>) -> Result<MappingSetup, String> {
    let now = instant_arg("--now", args.now.as_deref())?.unwrap_or_else(Utc::now);
    let previous_poll =
        instant_arg("--previous-poll", args.previous_poll.as_deref())?.unwrap_or(now - TimeDelta::minutes(15));
    let mut setup = MappingSetup::described(description, now);
    let flag = |value: &Option<String>, own: &mut String| {
        if let Some(value) = value {
            own.clone_from(value);
        }
    };
    flag(&args.resource, &mut setup.resource);
    flag(&args.id_field, &mut setup.id_field);
    flag(&args.created_field, &mut setup.created_field);
    flag(&args.updated_field, &mut setup.updated_field);
    setup.created_format.clone_from(&args.created_format);
    setup.updated_format.clone_from(&args.updated_format);
    setup.created_check_tolerance = args.created_check_tolerance;
    setup.previous_poll = previous_poll;
    Ok(setup)
}

/// Runs `plugin` over `records` as one poll would, on a runtime of its own.
pub(super) fn run(
    plugin: &Arc<Plugin>,
    setup: &MappingSetup,
    records: &[Box<RawValue>],
    instance_name: &str,
) -> Result<Vec<RecordRun>, String> {
    let tokio = tokio::runtime::Builder::new_current_thread().build().map_err(|e| e.to_string())?;
    let ctx = setup.context(instance_name);
    tokio.block_on(tryout::run_plugin(plugin, setup, &ctx, records)).map_err(|bad| {
        let flag = match bad.date {
            DateSide::Created => "--created-format",
            DateSide::Updated => "--updated-format",
        };
        format!("{flag}: {}", bad.message)
    })
}

fn instant_arg(flag: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, String> {
    value
        .map(|text| parse_instant(text).map_err(|e| format!("{flag} `{text}` is not an RFC 3339 date: {e}")))
        .transpose()
}

/// The records of `path` (`-`: stdin): a JSON array, or an Autotask page.
pub(super) fn read_records(path: &Path) -> Result<Vec<Box<RawValue>>, String> {
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
