//! The service configuration: a TOML file with server settings and instances.
//! An instance is written inline in TOML or as the path of a Cloud Elements
//! instance JSON body; either way it is read by [`instance::read_instance`].
//!
//! ```toml
//! [server]
//! listen = "127.0.0.1:8090"
//! data_dir = "data"
//! plugin_dir = "plugins"
//! integration_code = "${env:AUTOTASK_INTEGRATION_CODE}"
//!
//! [[instance]]
//! file = "acme.json"            # a Cloud Elements instance body
//! refresh_interval_seconds = 30 # overrides event.poller.refresh_interval
//! ```

pub mod instance;
pub mod problems;
pub mod rules;
pub mod secrets;
pub mod telemetry;

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

pub use crate::source::Secret;
pub use instance::{EventFormat, InstanceConfig, ResourceConfig, default_date_fields};
pub use problems::{Problem, Problems};
pub use rules::InstanceRules;
pub use telemetry::TelemetrySettings;

use problems::Collector;

/// Server settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    /// The management listener (health, metrics, API).
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub plugin_dir: PathBuf,
    /// Where compiled plugins (and the script runners) are kept between
    /// starts; `None` is `<data_dir>/plugin-cache`. Several services may share one.
    pub compile_cache_dir: Option<PathBuf>,
    /// Caught-late records: each poll reads this far before the watermark.
    pub overlap: Duration,
    pub delivery: DeliverySettings,
    pub limits: plugin_runtime::Limits,
    /// Records per plugin call.
    pub batch_size: usize,
    /// The integration code for instances whose body has none.
    pub integration_code: Option<Secret>,
    /// Serve the management listener over TLS with these PEM files.
    pub tls: Option<TlsFiles>,
    pub api: ApiSettings,
    /// Limits on instances, where they may send, and which hosts are Autotask.
    pub rules: InstanceRules,
    /// Where Autotask reaches this service (`[server] public_url`): the base of
    /// the webhook URLs registered for resources with push on.
    pub public_url: Option<String>,
    /// `[store] url`: a PostgreSQL database for the state, password included;
    /// `None` keeps it in the SQLite file in `data_dir`.
    pub store_url: Option<Secret>,
    /// `[fleet]`: this host is one of several sharing the PostgreSQL store.
    pub fleet: Option<crate::service::fleet::FleetSettings>,
    /// `[telemetry]`: where traces go; `None` sends none.
    pub telemetry: Option<TelemetrySettings>,
}

/// A certificate chain and its private key, PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

/// The management API (`[api]`): its users, the organization's secret and
/// where it is mounted. The users and secrets are read again when the
/// configuration file changes; the prefix needs a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSettings {
    /// `Authorization: User <a user's secret>, Organization <organization secret>`;
    /// without users and the organization secret the API refuses every call.
    pub users: Vec<ApiUser>,
    pub organization_secret: Option<Secret>,
    /// The path the API is under, as Cloud Elements' own (`/elements/api-v2`).
    pub prefix: String,
}

/// One user of the API (`[[api.users]]`, or `user_secret` as [`LEGACY_USER`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiUser {
    /// Owns the instances this user creates; never a secret, so it may be logged.
    pub name: String,
    pub secret: Secret,
    /// An organization admin sees and changes every instance, not only their own.
    pub admin: bool,
}

/// The user `[api] user_secret` (or its environment variable) stands for: an
/// organization admin, the owner of instances created before there were users.
pub const LEGACY_USER: &str = "admin";

impl ApiSettings {
    /// Whether the API takes calls: an organization secret and at least one user.
    pub fn is_open(&self) -> bool {
        self.organization_secret.is_some() && !self.users.is_empty()
    }

    /// The user named `name`, if there is one.
    pub fn user(&self, name: &str) -> Option<&ApiUser> {
        self.users.iter().find(|user| user.name == name)
    }
}

/// Cloud Elements' base path.
pub const DEFAULT_API_PREFIX: &str = "/elements/api-v2";

/// Where the API secrets come from when `[api]` does not give them.
pub const USER_SECRET_ENV: &str = "AUTOTASK_EVENTS_USER_SECRET";
pub const ORGANIZATION_SECRET_ENV: &str = "AUTOTASK_EVENTS_ORGANIZATION_SECRET";

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings { users: Vec::new(), organization_secret: None, prefix: DEFAULT_API_PREFIX.into() }
    }
}

impl ServerSettings {
    /// The settings of a configuration without a `[server]` table, rooted at `base`.
    pub fn defaults(base: &Path) -> Self {
        ServerSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8090)),
            data_dir: base.join("data"),
            plugin_dir: base.join("plugins"),
            compile_cache_dir: None,
            overlap: Duration::from_secs(60),
            delivery: DeliverySettings::default(),
            limits: plugin_runtime::Limits::default(),
            batch_size: 500,
            integration_code: None,
            tls: None,
            api: ApiSettings::default(),
            rules: InstanceRules::default(),
            public_url: None,
            store_url: None,
            fleet: None,
            telemetry: None,
        }
    }
}

/// How events are posted to callbacks (`[delivery]`).
#[derive(Debug, Clone, PartialEq)]
pub struct DeliverySettings {
    /// Events per message (Cloud Elements sends at most 10).
    pub max_events_per_message: usize,
    /// How long a callback may take to answer.
    pub timeout: Duration,
    /// Retries after the first attempt before a message is dead-lettered.
    pub retries: u32,
    /// The wait before the first retry; each later wait is `retry_multiplier` times longer.
    pub first_retry: Duration,
    pub retry_multiplier: f64,
}

impl Default for DeliverySettings {
    /// Cloud Elements' schedule: 9 retries at 4^n seconds (4 s up to about 73 h).
    fn default() -> Self {
        DeliverySettings {
            max_events_per_message: 10,
            timeout: Duration::from_secs(30),
            retries: 9,
            first_retry: Duration::from_secs(4),
            retry_multiplier: 4.0,
        }
    }
}

impl DeliverySettings {
    /// The wait before retry number `retry` (1-based), before jitter.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = self.retry_multiplier.max(1.0).powi(retry.saturating_sub(1).min(64) as i32);
        self.first_retry.mul_f64(factor.min(1e9))
    }
}

/// One configured instance with the host's own settings for it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfiguredInstance {
    /// A stable id: `id` if given, else the name made URL-safe.
    pub id: String,
    /// Poll from here on the first run, instead of the instance's creation.
    pub since: Option<DateTime<Utc>>,
    /// Plugin files by resource, overriding `<plugin_dir>/<resource>.wasm`.
    pub plugins: BTreeMap<String, PathBuf>,
    /// A raw record of a resource (JSON text, checked readable), that a new
    /// version of the resource's plugin must map before it replaces the old.
    pub sample_records: BTreeMap<String, String>,
    /// Shared, not copied: a host of thousands of instances keeps each one's
    /// configuration once, however many parts of the service hold it.
    pub instance: Arc<InstanceConfig>,
    /// Not polled nor delivered, but kept (an API instance disabled by PATCH).
    pub disabled: bool,
    /// The API user who may see and use it besides the organization admins:
    /// `owner` of an `[[instance]]` table; none for API instances (the store keeps theirs).
    pub owner: Option<String>,
    /// The body as written, secret references unresolved: what the API shows.
    pub body: Arc<Value>,
}

/// The whole configuration, checked.
#[derive(Debug)]
pub struct ServiceConfig {
    pub server: ServerSettings,
    pub instances: Vec<ConfiguredInstance>,
    /// Every file the configuration was read from: the file itself, instance
    /// bodies and sample records. A change to any of them reloads it.
    pub files: Vec<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    delivery: RawDelivery,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    api: RawApi,
    #[serde(default)]
    egress: RawEgress,
    #[serde(default)]
    store: RawStore,
    fleet: Option<RawFleet>,
    #[serde(default)]
    telemetry: telemetry::RawTelemetry,
    #[serde(default)]
    instance: Vec<RawInstance>,
}

/// `[store]`: where the state is kept, when not in the SQLite file.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStore {
    /// `postgres://user@host:port/database`; may itself be a `${env:}`/`${file:}` reference.
    url: Option<String>,
    /// The database password, usually a `${env:}`/`${file:}` reference.
    password: Option<String>,
}

/// `[fleet]`: this host's name and the leases' time to live.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFleet {
    host: Option<String>,
    lease_ttl_seconds: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEgress {
    /// Ranges requests may reach besides the public internet: `loopback`, `private`, `link-local`.
    #[serde(default)]
    allow: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawApi {
    user_secret: Option<String>,
    organization_secret: Option<String>,
    prefix: Option<String>,
    #[serde(default)]
    users: Vec<RawUser>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    #[serde(default)]
    name: String,
    secret: Option<String>,
    #[serde(default)]
    admin: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDelivery {
    max_events_per_message: Option<usize>,
    timeout_seconds: Option<f64>,
    retries: Option<u32>,
    first_retry_seconds: Option<f64>,
    retry_multiplier: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    plugin_batch_seconds: Option<f64>,
    plugin_memory_mib: Option<usize>,
    plugin_output_mib: Option<usize>,
    batch_size: Option<usize>,
    min_refresh_interval_seconds: Option<f64>,
    max_refresh_interval_seconds: Option<f64>,
    max_resources_per_instance: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    plugin_dir: Option<PathBuf>,
    compile_cache_dir: Option<PathBuf>,
    integration_code: Option<String>,
    overlap_seconds: Option<u64>,
    tls_certificate: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    #[serde(default)]
    allowed_autotask_hosts: Vec<String>,
    public_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstance {
    /// A Cloud Elements instance body file.
    file: Option<PathBuf>,
    id: Option<String>,
    /// The API user it belongs to, besides the organization admins.
    owner: Option<String>,
    /// RFC 3339, quoted or as a TOML date-time.
    since: Option<toml::Value>,
    refresh_interval_seconds: Option<f64>,
    push_refresh_interval_seconds: Option<f64>,
    #[serde(default)]
    plugins: BTreeMap<String, PathBuf>,
    #[serde(default)]
    sample_records: BTreeMap<String, PathBuf>,
    // The inline body, as in a Cloud Elements instance.
    name: Option<String>,
    element: Option<toml::Value>,
    configuration: Option<toml::Value>,
    tags: Option<toml::Value>,
}

/// Reads and checks a configuration file; every problem is reported, each with its file and key.
pub fn load(path: &Path) -> Result<ServiceConfig, Problems> {
    let mut found = Vec::new();
    let mut problems = Collector { file: path, problems: &mut found };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            problems.add("", format!("cannot read the configuration: {error}"));
            return Err(Problems(found));
        }
    };
    let raw: RawFile = match toml::from_str(&text) {
        Ok(raw) => raw,
        Err(error) => {
            problems.add("", error.to_string().trim_end().replace('\n', " "));
            return Err(Problems(found));
        }
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let defaults = ServerSettings::defaults(base);
    let host_code = match raw.server.integration_code.as_deref().map(|code| secrets::resolve(code, base)) {
        None => std::env::var(crate::source::credentials::INTEGRATION_CODE_ENV).ok(),
        Some(Ok(Some(code))) => Some(code),
        Some(Ok(None)) => raw.server.integration_code.clone(),
        Some(Err(message)) => {
            problems.add("server.integration_code", message);
            None
        }
    };
    let tls = read_tls(&raw.server, base, &mut problems);
    let rules = read_rules(&raw, defaults.rules.clone(), &mut problems);
    let raw_api_files = api_secret_files(&raw.api, base);
    let server = ServerSettings {
        listen: raw.server.listen.unwrap_or(defaults.listen),
        data_dir: raw.server.data_dir.map_or(defaults.data_dir, |dir| base.join(dir)),
        plugin_dir: raw.server.plugin_dir.map_or(defaults.plugin_dir, |dir| base.join(dir)),
        compile_cache_dir: raw.server.compile_cache_dir.map(|dir| base.join(dir)),
        overlap: raw.server.overlap_seconds.map_or(defaults.overlap, Duration::from_secs),
        delivery: read_delivery(&raw.delivery, defaults.delivery, &mut problems),
        limits: read_limits(&raw.limits, defaults.limits, &mut problems),
        batch_size: match raw.limits.batch_size {
            Some(0) => {
                problems.add("limits.batch_size", "must be at least 1");
                defaults.batch_size
            }
            size => size.unwrap_or(defaults.batch_size),
        },
        integration_code: host_code.clone().map(Secret::new),
        tls,
        rules,
        api: read_api(raw.api, base, &mut problems),
        public_url: read_public_url(raw.server.public_url.as_deref(), &mut problems),
        store_url: read_store(&raw.store, base, &mut problems),
        fleet: None,
        telemetry: telemetry::read_telemetry(&raw.telemetry, &mut problems),
    };
    let server = ServerSettings {
        fleet: read_fleet(
            raw.fleet.as_ref(),
            server.store_url.is_some() || raw.store.url.is_some(),
            &server,
            base,
            &mut problems,
        ),
        ..server
    };

    let mut instances = Vec::new();
    let mut ids = HashSet::new();
    let mut files = vec![path.to_path_buf()];
    // The API's secret files: a secret rotated by rewriting its file takes effect as an edit here does.
    files.extend(raw_api_files);
    for (index, raw) in raw.instance.into_iter().enumerate() {
        let key = format!("instance[{index}]");
        files.extend(raw.file.iter().map(|file| base.join(file)));
        files.extend(raw.sample_records.values().map(|file| base.join(file)));
        let owner = read_owner(raw.owner.clone(), &key, &server.api, &mut problems);
        let Some(configured) = read_configured(raw, &key, base, host_code.as_deref(), &server.rules, &mut problems)
        else {
            continue;
        };
        let configured = ConfiguredInstance { owner, ..configured };
        if !ids.insert(configured.id.clone()) {
            problems.add(format!("{key}.id"), format!("`{}` is the id of another instance too", configured.id));
            continue;
        }
        instances.push(configured);
    }
    if found.is_empty() { Ok(ServiceConfig { server, instances, files }) } else { Err(Problems(found)) }
}

/// `[store]`: the PostgreSQL URL with its password set in it. Problems name
/// the key, never the value (it may hold the password).
fn read_store(raw: &RawStore, base: &Path, problems: &mut Collector<'_>) -> Option<Secret> {
    let resolve = |key: &str, text: &str, problems: &mut Collector<'_>| match secrets::resolve(text, base) {
        Ok(Some(value)) => Some(value),
        Ok(None) => Some(text.to_owned()),
        Err(message) => {
            problems.add(format!("store.{key}"), message);
            None
        }
    };
    let url = resolve("url", raw.url.as_deref()?, problems)?;
    let password = match raw.password.as_deref() {
        Some(text) => Some(resolve("password", text, problems)?),
        None => None,
    };
    let mut parsed = match reqwest::Url::parse(url.trim()) {
        Ok(parsed) if matches!(parsed.scheme(), "postgres" | "postgresql") && parsed.has_host() => parsed,
        _ => {
            problems.add("store.url", "must be a PostgreSQL URL: postgres://user@host:port/database");
            return None;
        }
    };
    if let Some(password) = password
        && parsed.set_password(Some(&password)).is_err()
    {
        problems.add("store.password", "cannot be set in `store.url` (does it name a user?)");
        return None;
    }
    Some(Secret::new(parsed.to_string()))
}

/// The leases' time to live unless `[fleet] lease_ttl_seconds` says: a dead
/// host's work waits this long (and a round) before another host takes it.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(10);

/// `[fleet]`: needs the PostgreSQL store (a SQLite file cannot be shared).
/// The host's name defaults to the machine's name and the listener's port.
fn read_fleet(
    raw: Option<&RawFleet>,
    has_store: bool,
    server: &ServerSettings,
    base: &Path,
    problems: &mut Collector<'_>,
) -> Option<crate::service::fleet::FleetSettings> {
    let raw = raw?;
    if !has_store {
        problems.add("fleet", "fleet mode shares the state in PostgreSQL: set `[store] url` too");
        return None;
    }
    // One file for every host: the name may come from the environment (`${env:FLEET_HOST}`).
    let host = match raw.host.as_deref().map(|text| secrets::resolve(text, base)) {
        Some(Ok(Some(value))) => Some(value),
        Some(Ok(None)) => raw.host.clone(),
        Some(Err(message)) => {
            problems.add("fleet.host", message);
            return None;
        }
        None => None,
    };
    let host = match host.as_deref().map(str::trim) {
        Some(host) if !host.is_empty() && host.len() <= 100 && !host.chars().any(char::is_control) => host.to_owned(),
        Some(_) => {
            problems.add("fleet.host", "must be a name of 1 to 100 printable characters");
            return None;
        }
        None if server.listen.port() == 0 => {
            problems.add(
                "fleet.host",
                "name this host: with `listen` on port 0 the default name (machine:port) is not unique",
            );
            return None;
        }
        None => default_host_name(server.listen.port()),
    };
    let lease_ttl = match raw.lease_ttl_seconds {
        None => DEFAULT_LEASE_TTL,
        Some(seconds) if (1.0..=600.0).contains(&seconds) => Duration::from_secs_f64(seconds),
        Some(seconds) => {
            problems.add("fleet.lease_ttl_seconds", format!("{seconds} is out of range: 1 to 600 seconds"));
            return None;
        }
    };
    Some(crate::service::fleet::FleetSettings { host, lease_ttl })
}

/// `machine:port`: unique among hosts on different machines, and among those
/// sharing one machine on different ports.
fn default_host_name(port: u16) -> String {
    let machine = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "host".into());
    format!("{machine}:{port}")
}

/// `[server] public_url`: an http(s) URL without query, kept without a trailing `/`.
fn read_public_url(url: Option<&str>, problems: &mut Collector<'_>) -> Option<String> {
    let url = url?.trim();
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.query().is_none() => {
            Some(url.trim_end_matches('/').to_owned())
        }
        Ok(_) => {
            problems.add("server.public_url", format!("`{url}` must be an http or https URL without a query"));
            None
        }
        Err(error) => {
            problems.add("server.public_url", format!("`{url}` is not a URL ({error})"));
            None
        }
    }
}

/// The limits on instances, the egress policy and the Autotask hosts.
fn read_rules(raw: &RawFile, defaults: InstanceRules, problems: &mut Collector<'_>) -> InstanceRules {
    let mut ranges = Vec::new();
    for name in &raw.egress.allow {
        match crate::egress::Range::parse(name) {
            Some(range) => ranges.push(range),
            None => problems.add("egress.allow", format!("`{name}` is not `loopback`, `private` or `link-local`")),
        }
    }
    for host in &raw.server.allowed_autotask_hosts {
        if host.trim().is_empty() || host.contains(['/', '?', '#', '@', ' ']) {
            problems.add("server.allowed_autotask_hosts", format!("`{host}` is not a host or host:port"));
        }
    }
    let interval = |value: Option<f64>, key: &str, default: Duration, problems: &mut Collector<'_>| {
        seconds(value, key, problems).unwrap_or(default)
    };
    let rules = InstanceRules {
        egress: crate::egress::Egress::allowing(ranges),
        autotask_hosts: crate::egress::AutotaskHosts::with(raw.server.allowed_autotask_hosts.iter().cloned()),
        min_refresh_interval: interval(
            raw.limits.min_refresh_interval_seconds,
            "limits.min_refresh_interval_seconds",
            defaults.min_refresh_interval,
            problems,
        ),
        max_refresh_interval: interval(
            raw.limits.max_refresh_interval_seconds,
            "limits.max_refresh_interval_seconds",
            defaults.max_refresh_interval,
            problems,
        ),
        max_resources: match raw.limits.max_resources_per_instance {
            Some(0) => {
                problems.add("limits.max_resources_per_instance", "must be at least 1");
                defaults.max_resources
            }
            max => max.unwrap_or(defaults.max_resources),
        },
    };
    if rules.min_refresh_interval > rules.max_refresh_interval {
        problems.add("limits.min_refresh_interval_seconds", "is more than `max_refresh_interval_seconds`");
    }
    rules
}

/// The listener's certificate and key: both or neither, and both readable.
fn read_tls(raw: &RawServer, base: &Path, problems: &mut Collector<'_>) -> Option<TlsFiles> {
    match (&raw.tls_certificate, &raw.tls_key) {
        (None, None) => None,
        (Some(certificate), Some(key)) => {
            let files = TlsFiles { certificate: base.join(certificate), key: base.join(key) };
            for (key, path) in [("server.tls_certificate", &files.certificate), ("server.tls_key", &files.key)] {
                if let Err(error) = std::fs::metadata(path) {
                    problems.add(key, format!("cannot read `{}`: {error}", path.display()));
                }
            }
            Some(files)
        }
        (Some(_), None) => {
            problems.add("server.tls_key", "missing: `tls_certificate` needs its private key");
            None
        }
        (None, Some(_)) => {
            problems.add("server.tls_certificate", "missing: `tls_key` needs its certificate");
            None
        }
    }
}

/// The API's users and organization secret (from `[api]`, else the
/// environment) and its prefix.
fn read_api(raw: RawApi, base: &Path, problems: &mut Collector<'_>) -> ApiSettings {
    let user_secret = read_secret(raw.user_secret, "api.user_secret", Some(USER_SECRET_ENV), base, problems);
    let organization_secret =
        read_secret(raw.organization_secret, "api.organization_secret", Some(ORGANIZATION_SECRET_ENV), base, problems);
    let mut users: Vec<ApiUser> =
        user_secret.map(|secret| ApiUser { name: LEGACY_USER.to_owned(), secret, admin: true }).into_iter().collect();
    let had_legacy = !users.is_empty();
    let listed = raw.users.len();
    for (index, raw) in raw.users.into_iter().enumerate() {
        if let Some(user) = read_user(raw, &format!("api.users[{index}]"), &users, base, problems) {
            users.push(user);
        }
    }
    if listed > 0 && organization_secret.is_none() {
        problems.add("api.users", "users need `api.organization_secret` (or AUTOTASK_EVENTS_ORGANIZATION_SECRET)");
    } else if listed == 0 && had_legacy != organization_secret.is_some() {
        problems.add("api", "give both `user_secret` and `organization_secret`, or neither (the API is then closed)");
    }
    let prefix = match raw.prefix {
        None => DEFAULT_API_PREFIX.to_owned(),
        Some(prefix) => {
            let trimmed = prefix.trim_end_matches('/');
            if !prefix.starts_with('/') || trimmed.contains(['?', '#', ' ']) {
                problems.add("api.prefix", format!("`{prefix}` is not a path starting with `/`"));
            }
            trimmed.to_owned()
        }
    };
    ApiSettings { users, organization_secret, prefix }
}

/// The files `[api]`'s secrets are read from (`${file:...}` references).
fn api_secret_files(raw: &RawApi, base: &Path) -> Vec<PathBuf> {
    let written = [&raw.user_secret, &raw.organization_secret].into_iter().flatten();
    let users = raw.users.iter().filter_map(|user| user.secret.as_ref());
    written.chain(users).filter_map(|text| secrets::referenced_file(text, base)).collect()
}

/// A secret of `[api]`: as written, a `${env:...}`/`${file:...}` reference,
/// or from `env` when the key is not given; at least 16 characters.
fn read_secret(
    value: Option<String>,
    key: &str,
    env: Option<&str>,
    base: &Path,
    problems: &mut Collector<'_>,
) -> Option<Secret> {
    let text = match value {
        None => std::env::var(env?).ok().filter(|value| !value.is_empty())?,
        Some(text) => match secrets::resolve(&text, base) {
            Ok(Some(value)) => value,
            Ok(None) => text,
            Err(message) => {
                problems.add(key, message);
                return None;
            }
        },
    };
    if text.len() < 16 {
        problems.add(key, "too short: use at least 16 characters (e.g. `openssl rand -hex 24`)");
        return None;
    }
    Some(Secret::new(text))
}

/// One `[[api.users]]` table, checked against the users before it: names and
/// secrets must differ, or a secret would not tell who is calling.
fn read_user(
    raw: RawUser,
    key: &str,
    before: &[ApiUser],
    base: &Path,
    problems: &mut Collector<'_>,
) -> Option<ApiUser> {
    let name = raw.name.trim().to_owned();
    let mut fine = true;
    if name.is_empty() || name.chars().any(char::is_control) {
        problems.add(format!("{key}.name"), "missing or empty: every user needs a name (it owns their instances)");
        fine = false;
    } else if before.iter().any(|user| user.name == name) {
        let why = if name == LEGACY_USER { " (the name `api.user_secret` stands for)" } else { "" };
        problems.add(format!("{key}.name"), format!("`{name}` is the name of another user too{why}"));
        fine = false;
    }
    let Some(text) = raw.secret else {
        problems.add(format!("{key}.secret"), format!("missing: user `{name}` needs a secret"));
        return None;
    };
    let secret = read_secret(Some(text), &format!("{key}.secret"), None, base, problems)?;
    if let Some(other) = before.iter().find(|user| user.secret == secret) {
        problems.add(
            format!("{key}.secret"),
            format!("user `{name}` has the same secret as user `{}`: every user needs their own", other.name),
        );
        fine = false;
    }
    fine.then_some(ApiUser { name, secret, admin: raw.admin })
}

/// The `owner` of an `[[instance]]`: one of the API's users.
fn read_owner(owner: Option<String>, key: &str, api: &ApiSettings, problems: &mut Collector<'_>) -> Option<String> {
    let owner = owner?;
    if api.user(&owner).is_none() {
        problems.add(format!("{key}.owner"), format!("`{owner}` is not a user of the API (`[[api.users]]`)"));
        return None;
    }
    Some(owner)
}

/// A positive number of seconds from `value`, or a problem at `key`.
fn seconds(value: Option<f64>, key: &str, problems: &mut Collector<'_>) -> Option<Duration> {
    let seconds = value?;
    match Duration::try_from_secs_f64(seconds) {
        Ok(duration) if seconds > 0.0 => Some(duration),
        _ => {
            problems.add(key, "must be a positive number of seconds");
            None
        }
    }
}

fn read_delivery(raw: &RawDelivery, defaults: DeliverySettings, problems: &mut Collector<'_>) -> DeliverySettings {
    if raw.max_events_per_message == Some(0) {
        problems.add("delivery.max_events_per_message", "must be at least 1");
    }
    if raw.retry_multiplier.is_some_and(|m| !(1.0..=100.0).contains(&m)) {
        problems.add("delivery.retry_multiplier", "must be between 1 and 100");
    }
    DeliverySettings {
        max_events_per_message: raw.max_events_per_message.unwrap_or(defaults.max_events_per_message).max(1),
        timeout: seconds(raw.timeout_seconds, "delivery.timeout_seconds", problems).unwrap_or(defaults.timeout),
        retries: raw.retries.unwrap_or(defaults.retries),
        first_retry: seconds(raw.first_retry_seconds, "delivery.first_retry_seconds", problems)
            .unwrap_or(defaults.first_retry),
        retry_multiplier: raw.retry_multiplier.unwrap_or(defaults.retry_multiplier),
    }
}

fn read_limits(
    raw: &RawLimits,
    defaults: plugin_runtime::Limits,
    problems: &mut Collector<'_>,
) -> plugin_runtime::Limits {
    let mib = |value: Option<usize>, key: &str, default: usize, problems: &mut Collector<'_>| match value {
        Some(0) => {
            problems.add(key, "must be at least 1 MiB");
            default
        }
        Some(mib) => mib << 20,
        None => default,
    };
    plugin_runtime::Limits {
        batch_time: seconds(raw.plugin_batch_seconds, "limits.plugin_batch_seconds", problems)
            .unwrap_or(defaults.batch_time),
        memory_bytes: mib(raw.plugin_memory_mib, "limits.plugin_memory_mib", defaults.memory_bytes, problems),
        output_bytes: mib(raw.plugin_output_mib, "limits.plugin_output_mib", defaults.output_bytes, problems),
    }
}

fn read_configured(
    raw: RawInstance,
    key: &str,
    base: &Path,
    host_code: Option<&str>,
    rules: &InstanceRules,
    problems: &mut Collector<'_>,
) -> Option<ConfiguredInstance> {
    let inline = raw.name.is_some() || raw.element.is_some() || raw.configuration.is_some() || raw.tags.is_some();
    let (body, file, key_prefix) = match (&raw.file, inline) {
        (Some(_), true) => {
            problems
                .add(key, "give either `file` or an inline instance (`name`, `element`, `configuration`), not both");
            return None;
        }
        (Some(file), false) => {
            let path = base.join(file);
            let body = match std::fs::read_to_string(&path) {
                Ok(text) => serde_json::from_str::<Value>(&text).map_err(|e| format!("not valid JSON: {e}")),
                Err(error) => Err(format!("cannot read `{}`: {error}", path.display())),
            };
            match body {
                Ok(body) => (body, Some(path), String::new()),
                Err(message) => {
                    problems.add(format!("{key}.file"), message);
                    return None;
                }
            }
        }
        (None, _) => {
            let mut body = serde_json::Map::new();
            let to_json = |value: toml::Value| serde_json::to_value(value).unwrap_or(Value::Null);
            body.insert("name".into(), raw.name.clone().map(Value::String).unwrap_or(Value::Null));
            body.insert("element".into(), raw.element.map(to_json).unwrap_or(Value::Null));
            body.insert("configuration".into(), raw.configuration.map(to_json).unwrap_or(Value::Null));
            body.insert("tags".into(), raw.tags.map(to_json).unwrap_or(Value::Null));
            (Value::Object(body), None, key.to_owned())
        }
    };
    let file_base = file.as_deref().and_then(Path::parent).unwrap_or(base).to_path_buf();
    let source = instance::Source {
        base_dir: &file_base,
        key_prefix,
        host_integration_code: host_code,
        resolve_references: true,
        rules,
    };
    let instance = match &file {
        Some(file) => {
            let mut body_problems = Collector { file, problems: problems.problems };
            instance::read_instance(&body, &source, &mut body_problems)
        }
        None => instance::read_instance(&body, &source, problems),
    };
    let mut instance = instance?;
    if let Some(seconds) = raw.refresh_interval_seconds {
        match rules.refresh_interval_seconds(seconds) {
            Ok(interval) => instance.refresh_interval = interval,
            Err(message) => problems.add(format!("{key}.refresh_interval_seconds"), message),
        }
    }
    if let Some(seconds) = raw.push_refresh_interval_seconds {
        match rules.refresh_interval_seconds(seconds) {
            Ok(interval) => instance.push_refresh_interval = interval,
            Err(message) => problems.add(format!("{key}.push_refresh_interval_seconds"), message),
        }
    }
    let id = raw.id.unwrap_or_else(|| slug(&instance.name));
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        problems.add(format!("{key}.id"), format!("`{id}` must be letters, digits, `-` or `_`"));
        return None;
    }
    if id.chars().all(|c| c.is_ascii_digit()) {
        problems.add(
            format!("{key}.id"),
            format!("`{id}` is only digits: those ids belong to instances created through the API; add a letter"),
        );
        return None;
    }
    let since = match raw.since {
        None => None,
        Some(value) => {
            let text = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
            match crate::dates::parse_instant(&text) {
                Ok(instant) => Some(instant),
                Err(error) => {
                    problems.add(format!("{key}.since"), format!("`{text}` is not an RFC 3339 date-time ({error})"));
                    return None;
                }
            }
        }
    };
    let plugins = raw.plugins.into_iter().map(|(resource, path)| (resource, base.join(path))).collect();
    let mut sample_records = BTreeMap::new();
    for (resource, file) in raw.sample_records {
        let key = format!("{key}.sample_records.{resource}");
        match read_sample(&instance, &resource, &base.join(file)) {
            Ok(json) => {
                sample_records.insert(resource, json);
            }
            Err(message) => problems.add(key, message),
        }
    }
    Some(ConfiguredInstance {
        id,
        since,
        plugins,
        sample_records,
        instance: Arc::new(instance),
        disabled: false,
        owner: None,
        body: Arc::new(body),
    })
}

/// Where problems with an API body are reported: not a file, the request.
pub const API_BODY: &str = "the request body";

/// Reads an instance body posted to the API. Unlike a file's, its values are
/// taken as written: `${env:...}` and `${file:...}` would let an API caller
/// read the host's environment and files.
pub fn read_api_instance(
    id: String,
    body: &Value,
    disabled: bool,
    host_integration_code: Option<&str>,
    rules: &InstanceRules,
) -> Result<ConfiguredInstance, Problems> {
    let mut found = Vec::new();
    let mut problems = Collector { file: Path::new(API_BODY), problems: &mut found };
    let source = instance::Source {
        base_dir: Path::new("."),
        key_prefix: String::new(),
        host_integration_code,
        resolve_references: false,
        rules,
    };
    match instance::read_instance(body, &source, &mut problems) {
        Some(instance) => Ok(ConfiguredInstance {
            id,
            since: None,
            plugins: BTreeMap::new(),
            sample_records: BTreeMap::new(),
            instance: Arc::new(instance),
            disabled,
            owner: None,
            body: Arc::new(body.clone()),
        }),
        None => Err(Problems(found)),
    }
}

/// The text of a sample record of `resource`, checked to be a JSON object that
/// the resource's `idField` and `datesConfiguration` can read.
fn read_sample(instance: &InstanceConfig, resource: &str, path: &Path) -> Result<String, String> {
    let Some(config) = instance.resources.iter().find(|r| r.name == resource) else {
        return Err(format!("the instance has no resource `{resource}`"));
    };
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(_)) => {}
        Ok(_) => return Err(format!("`{}` is not one JSON object (one raw record)", path.display())),
        Err(error) => return Err(format!("`{}` is not valid JSON: {error}", path.display())),
    }
    config.reader().read(&text, Utc::now()).map_err(|e| format!("`{}`: {e}", path.display()))?;
    Ok(text)
}

/// `name` as an id: lowercase letters and digits, other runs become `-`.
pub fn slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests;
