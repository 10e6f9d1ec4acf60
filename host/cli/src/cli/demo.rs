//! `autotask-events demo`: the whole product on loopback in one command. It
//! starts the Autotask simulator with churn, a callback receiver that checks
//! every signature, and the service with one instance polling the resources
//! of `--resources` (incidents and contacts unless told: the built-in plugin,
//! and copies of it for the others), then prints each event the receiver gets
//! as one line until Ctrl-C or `--for`.
//!
//! While it runs, a plugin that loads from the plugin directory for a resource
//! the instance does not poll yet adds that resource to the instance: a known
//! resource name (incidents, accounts, contacts, notes) says which entity to
//! poll, else the plugin's own description does. The demo reads what the
//! service's plugin registry loaded, so any kind of plugin file it loads counts.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use autotask_sim::{SimConfig, Simulator};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use clap::Args;
use serde_json::{Value, json};

use crate::app::{self, RunningService};
use builtin_plugin::INCIDENTS_WASM;
use engine::config::instance::{Source, read_instance};
use engine::config::problems::Collector;
use engine::config::{
    ApiUser, ConfiguredInstance, DEFAULT_API_PREFIX, InstanceRules, LEGACY_USER, Secret, ServerSettings, ServiceConfig,
};
use engine::delivery::signature::{SIGNATURE_HEADER, verify};
use engine::egress::{AutotaskHosts, Egress, Range};
use engine::service::plugins::is_plugin_file;
use plugin_runtime::Description;

/// The demo's signature key: a demo value, printed so users can see it checked.
const DEMO_SIGNATURE_KEY: &str = "demo-signature-key";

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Stop after this long (`30s`, `2m`); runs until Ctrl-C when absent.
    #[arg(long = "for", value_parser = humantime::parse_duration)]
    pub run_for: Option<Duration>,
    /// Seconds between polls of each resource.
    #[arg(long, default_value_t = 3.0)]
    pub interval: f64,
    /// Changes the simulator makes each minute.
    #[arg(long, default_value_t = 60.0)]
    pub churn: f64,
    /// The plugin directory, watched while the demo runs: replace a plugin
    /// to change its mapping live, or drop in a plugin for a resource the demo
    /// does not poll yet and it starts polling that resource.
    /// A temporary directory when absent.
    #[arg(long)]
    pub plugin_dir: Option<std::path::PathBuf>,
    /// The resources to poll, comma-separated: incidents (Tickets), accounts
    /// (Companies), contacts (Contacts), notes (TicketNotes). A resource
    /// without a plugin file gets a copy of the built-in plugin.
    #[arg(long, value_delimiter = ',', default_value = "incidents,contacts")]
    pub resources: Vec<String>,
    /// Turns push on: the simulator calls the service out on every change (its
    /// webhooks), so events arrive within a second, and polls become the
    /// safety net, every minute.
    #[arg(long)]
    pub push: bool,
}

/// The resources the demo knows by name: `(resource, entity, poll URL path,
/// created date field)`; all are read by `id` and changed by `lastActivityDate`.
const KNOWN_RESOURCES: [(&str, &str, &str, &str); 4] = [
    ("incidents", "Tickets", "/hubs/helpdesk/incidents", "createDate"),
    ("accounts", "Companies", "/hubs/helpdesk/accounts", "createDate"),
    ("contacts", "Contacts", "/hubs/helpdesk/contacts", "createDate"),
    ("notes", "TicketNotes", "/hubs/helpdesk/comments", "createDateTime"),
];

/// The format of every Autotask date.
const AUTOTASK_DATE_FORMAT: &str = "yyyy-MM-dd'T'HH:mm:ss'Z'";

/// How the demo's instance polls one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoResource {
    pub name: String,
    pub entity: String,
    /// The poll URL's path: a hub path, or `/{Entity}`.
    pub path: String,
    pub id_field: String,
    pub created_date_field: Option<String>,
    pub updated_date_field: String,
}

impl DemoResource {
    /// A resource the demo knows by name.
    pub fn known(name: &str) -> Option<DemoResource> {
        let (name, entity, path, created) = KNOWN_RESOURCES.iter().find(|(known, ..)| *known == name)?;
        Some(DemoResource {
            name: (*name).into(),
            entity: (*entity).into(),
            path: (*path).into(),
            id_field: "id".into(),
            created_date_field: Some((*created).into()),
            updated_date_field: "lastActivityDate".into(),
        })
    }

    /// How to poll `name`, for which a plugin that describes itself with
    /// `description` (if it does) was loaded: the plugin's description when it
    /// describes `name`, else the demo's own table, else the entity the plugin
    /// describes (a copy of a plugin under another name maps what it maps).
    pub fn for_plugin(name: &str, description: Option<&Description>) -> Result<DemoResource, String> {
        let described = |description: &Description| {
            let updated = description.updated_date_field.clone().ok_or_else(|| {
                format!(
                    "it describes entity {} without an updated date field, so the demo cannot ask for its changes",
                    description.entity
                )
            })?;
            let path = KNOWN_RESOURCES
                .iter()
                .find(|(.., entity, _, _)| entity.eq_ignore_ascii_case(&description.entity))
                .map_or_else(|| format!("/{}", description.entity), |(_, _, path, _)| (*path).to_owned());
            Ok(DemoResource {
                name: name.into(),
                entity: description.entity.clone(),
                path,
                id_field: description.id_field.clone(),
                created_date_field: description.created_date_field.clone(),
                updated_date_field: updated,
            })
        };
        match description {
            Some(description) if description.resource == name => described(description),
            _ => match (DemoResource::known(name), description) {
                (Some(known), _) => Ok(known),
                (None, Some(description)) => described(description),
                (None, None) => Err(format!(
                    "the demo does not know resource `{name}` (it knows {}) and the plugin does not describe which \
                     Autotask entity it maps",
                    known_names()
                )),
            },
        }
    }

    /// The resource's poll configuration, as a Cloud Elements body holds it.
    fn poll_configuration(&self) -> Value {
        let mut dates = json!({
            "updatedDateField": self.updated_date_field,
            "updatedDateFormat": AUTOTASK_DATE_FORMAT,
        });
        if let Some(created) = &self.created_date_field {
            dates["createdDateField"] = json!(created);
            dates["createdDateFormat"] = json!(AUTOTASK_DATE_FORMAT);
        }
        json!({
            "url": format!("{}?where={}>='${{gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}}'", self.path, self.updated_date_field),
            "idField": self.id_field,
            "datesConfiguration": dates,
        })
    }
}

fn known_names() -> String {
    KNOWN_RESOURCES.iter().map(|(name, ..)| *name).collect::<Vec<_>>().join(", ")
}

/// The resources of `--resources`, each once, in order; an unknown one is an error.
fn requested_resources(names: &[String]) -> anyhow::Result<Vec<DemoResource>> {
    let mut resources: Vec<DemoResource> = Vec::new();
    for name in names.iter().map(|name| name.trim()).filter(|name| !name.is_empty()) {
        let Some(resource) = DemoResource::known(name) else {
            anyhow::bail!(
                "--resources: unknown resource `{name}`; the demo knows {} (for another one, drop a plugin that \
                 describes its entity into the plugin directory while the demo runs)",
                known_names()
            );
        };
        if !resources.contains(&resource) {
            resources.push(resource);
        }
    }
    if resources.is_empty() {
        anyhow::bail!("--resources: name at least one resource ({})", known_names());
    }
    Ok(resources)
}

/// Whether `dir` holds a plugin file (of any kind the service loads) for `resource`.
fn has_plugin_file(dir: &Path, resource: &str) -> std::io::Result<bool> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if is_plugin_file(&path) && path.file_stem().is_some_and(|stem| stem == resource) {
            return Ok(true);
        }
    }
    Ok(false)
}

pub fn run(args: &DemoArgs) -> ExitCode {
    if !(args.interval > 0.0 && args.interval.is_finite()) {
        eprintln!("error: --interval must be a positive number of seconds");
        return ExitCode::FAILURE;
    }
    super::block_on(async {
        match demo(args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        }
    })
}

async fn demo(args: &DemoArgs) -> anyhow::Result<()> {
    let resources = requested_resources(&args.resources)?;
    let work = tempfile::Builder::new().prefix("autotask-events-demo-").tempdir()?;
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));

    let simulator = Simulator::start(SimConfig {
        listen: loopback,
        churn_per_minute: args.churn,
        tickets: 200,
        contacts: 100,
        ..SimConfig::default()
    })
    .await?;
    let received = Arc::new(AtomicUsize::new(0));
    let receiver = start_receiver(received.clone()).await?;

    // Push needs the listener's address before it starts: the webhooks' URLs are under it.
    let listen = if args.push { free_loopback_port()? } else { loopback };
    let mut settings = ServerSettings { listen, ..ServerSettings::defaults(work.path()) };
    if args.push {
        settings.public_url = Some(format!("http://{listen}"));
    }
    let api_secrets = demo_api_secrets(work.path())?;
    settings.api.users = vec![ApiUser { name: LEGACY_USER.into(), secret: Secret::new(api_secrets.user), admin: true }];
    settings.api.organization_secret = Some(Secret::new(api_secrets.organization));
    settings.integration_code = Some(Secret::new(simulator.config().integration_code.clone()));
    settings.rules = demo_rules(&simulator);
    if let Some(dir) = &args.plugin_dir {
        settings.plugin_dir = std::path::absolute(dir)?;
    }
    // Resources other than incidents map through a copy of the built-in
    // plugin unless the directory has a plugin for them: any plugin file named
    // after a resource serves it, with the resource's poll configuration.
    std::fs::create_dir_all(&settings.plugin_dir)?;
    for resource in &resources {
        if resource.name != "incidents" && !has_plugin_file(&settings.plugin_dir, &resource.name)? {
            std::fs::write(settings.plugin_dir.join(format!("{}.wasm", resource.name)), INCIDENTS_WASM)?;
        }
    }
    let plugin_dir = settings.plugin_dir.clone();
    let demo =
        Demo { simulator: &simulator, receiver, interval: args.interval, push: args.push, base: work.path(), settings };
    let instance = demo.instance(&resources)?;
    let running =
        app::start(ServiceConfig { server: demo.settings.clone(), instances: vec![instance], files: Vec::new() })
            .await?;
    // Plugins loaded at the start are what the demo began with; those that load later may add resources.
    let mut following = Following {
        resources,
        handled: running
            .loaded_plugins()
            .into_iter()
            .map(|(path, plugin)| (path, plugin.version().to_owned()))
            .collect(),
        plugin_dir: plugin_dir.clone(),
    };

    println!("autotask-events demo");
    println!("  Autotask simulator  {} ({} changes a minute)", simulator.url(), args.churn);
    println!("  callback receiver   http://{receiver}/events (checks every Elements-Webhook-Signature)");
    println!("  service             http://{0}/metrics, http://{0}/plugins", running.addr());
    println!("  plugins             {} (watched)", plugin_dir.display());
    println!("                      drop a plugin for a new resource here and the demo starts polling it;");
    println!("                      replace one to change its mapping live");
    println!(
        "  management API      curl -H \"Authorization: User $(cat {}), Organization $(cat {})\" http://{}{}/instances",
        api_secrets.user_file.display(),
        api_secrets.organization_file.display(),
        running.addr(),
        DEFAULT_API_PREFIX
    );
    println!(
        "  web console         http://{}/ (sign in with the secrets in {} and {})",
        running.addr(),
        api_secrets.user_file.display(),
        api_secrets.organization_file.display()
    );
    if args.push {
        println!(
            "  push                the simulator calls out to http://{}/hooks/autotask/demo/<resource> on every change;",
            running.addr()
        );
        println!("                      events arrive within a second, and polls are the safety net");
        println!(
            "  polling {} every {}s while push is active, every {}s otherwise; events appear below. Ctrl-C stops.",
            following.describe(),
            PUSH_DEMO_POLL.as_secs(),
            args.interval
        );
    } else {
        println!("  polling {} every {}s; events appear below. Ctrl-C stops.", following.describe(), args.interval);
    }
    println!();

    let until = async {
        match args.run_for {
            Some(duration) => tokio::time::sleep(duration).await,
            None => super::serve::stop_signal().await,
        }
    };
    tokio::select! {
        () = until => {}
        () = super::serve::stop_signal() => {}
        () = following.run(&demo, &running) => {}
    }
    running.stop().await;
    drop(simulator);
    println!("\n{} event(s) received, every signature valid.", received.load(Ordering::Relaxed));
    Ok(())
}

/// The demo's management API secrets: random, and written to files (readable
/// by their owner only) that the printed `curl` reads, so they are never printed.
struct DemoSecrets {
    user: String,
    organization: String,
    user_file: std::path::PathBuf,
    organization_file: std::path::PathBuf,
}

fn demo_api_secrets(dir: &Path) -> std::io::Result<DemoSecrets> {
    let write = |name: &str, secret: &str| -> std::io::Result<std::path::PathBuf> {
        let path = dir.join(name);
        std::fs::write(&path, secret)?;
        #[cfg(unix)]
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        Ok(path)
    };
    let (user, organization) = (engine::manage::body::new_token(), engine::manage::body::new_token());
    Ok(DemoSecrets {
        user_file: write("api-user-secret", &user)?,
        organization_file: write("api-organization-secret", &organization)?,
        user,
        organization,
    })
}

/// What the demo host allows: everything runs on loopback (the simulator, the
/// receiver), the simulator stands for Autotask, and polls may be a second apart.
fn demo_rules(simulator: &Simulator) -> InstanceRules {
    let sim_host = simulator.url().trim_start_matches("http://").trim_end_matches('/').to_owned();
    InstanceRules {
        egress: Egress::allowing([Range::Loopback]),
        autotask_hosts: AutotaskHosts::with([sim_host]),
        min_refresh_interval: Duration::from_secs(1),
        ..InstanceRules::default()
    }
}

/// What the demo's instance is made from.
struct Demo<'a> {
    simulator: &'a Simulator,
    receiver: SocketAddr,
    interval: f64,
    /// Resources with webhooks get push (`--push`).
    push: bool,
    base: &'a Path,
    settings: ServerSettings,
}

impl Demo<'_> {
    /// The instance polling `resources`, written as the Cloud Elements body a user would post.
    fn instance(&self, resources: &[DemoResource]) -> anyhow::Result<ConfiguredInstance> {
        let sim = self.simulator.config();
        let polled: serde_json::Map<String, Value> =
            resources.iter().map(|resource| (resource.name.clone(), resource.poll_configuration())).collect();
        let body = json!({
            "element": {"key": "autotaskhelpdesk"},
            "name": "Demo",
            "tags": ["demo"],
            "configuration": {
                "helpdesk.autotask.username": sim.user,
                "helpdesk.autotask.password": sim.secret,
                "helpdesk.autotask.integration.code": sim.integration_code,
                "helpdesk.autotask.server.url": self.simulator.url(),
                "event.notification.enabled": true,
                "event.notification.callback.url": format!("http://{}/events", self.receiver),
                "event.notification.signature.key": DEMO_SIGNATURE_KEY,
                "event.poller.configuration": polled,
                "event.push.enabled": self.push,
            },
        });
        let mut found = Vec::new();
        let demo_file = self.base.join("demo-instance.json");
        let source = Source {
            base_dir: self.base,
            key_prefix: String::new(),
            host_integration_code: None,
            resolve_references: false,
            rules: &self.settings.rules,
        };
        let instance = read_instance(&body, &source, &mut Collector { file: &demo_file, problems: &mut found });
        let Some(mut instance) = instance else {
            anyhow::bail!("the demo instance is invalid: {}", engine::config::Problems(found));
        };
        instance.refresh_interval = Duration::from_secs_f64(self.interval);
        instance.push_refresh_interval = PUSH_DEMO_POLL;
        Ok(ConfiguredInstance {
            id: "demo".into(),
            since: None,
            plugins: Default::default(),
            sample_records: Default::default(),
            instance: std::sync::Arc::new(instance),
            disabled: false,
            owner: None,
            body: std::sync::Arc::new(body),
        })
    }
}

/// How often the demo looks at which plugins the service loaded.
const PLUGIN_CHECK: Duration = Duration::from_millis(250);

/// The demo's resources, growing as plugins for new ones load.
struct Following {
    resources: Vec<DemoResource>,
    /// Each plugin file already looked at, with the version looked at.
    handled: HashMap<PathBuf, String>,
    plugin_dir: PathBuf,
}

impl Following {
    /// `incidents (Tickets), contacts (Contacts)`.
    fn describe(&self) -> String {
        let names: Vec<String> =
            self.resources.iter().map(|resource| format!("{} ({})", resource.name, resource.entity)).collect();
        names.join(", ")
    }

    /// Adds a resource for each plugin that loads for one the instance does
    /// not poll yet, until the demo stops.
    async fn run(&mut self, demo: &Demo<'_>, running: &RunningService) {
        loop {
            tokio::time::sleep(PLUGIN_CHECK).await;
            for (path, plugin) in running.loaded_plugins() {
                if self.handled.get(&path).is_some_and(|version| version == plugin.version()) {
                    continue;
                }
                self.handled.insert(path.clone(), plugin.version().to_owned());
                if path.parent() != Some(self.plugin_dir.as_path()) {
                    continue;
                }
                let Some(name) = path.file_stem().map(|stem| stem.to_string_lossy().into_owned()) else { continue };
                if self.resources.iter().any(|resource| resource.name == name) {
                    continue;
                }
                let label = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
                match DemoResource::for_plugin(&name, plugin.description()) {
                    Ok(resource) => self.add(demo, running, &label, resource).await,
                    Err(why) => {
                        tracing::warn!(plugin = %label, "the demo does not poll resource `{name}`: {why}");
                        println!("!! plugin {label} loaded, but the demo does not poll `{name}`: {why}");
                    }
                }
            }
        }
    }

    async fn add(&mut self, demo: &Demo<'_>, running: &RunningService, label: &str, resource: DemoResource) {
        let entity = resource.entity.clone();
        let name = resource.name.clone();
        self.resources.push(resource);
        let applied = match demo.instance(&self.resources) {
            Ok(instance) => running
                .apply(ServiceConfig { server: demo.settings.clone(), instances: vec![instance], files: Vec::new() })
                .await
                .map_err(anyhow::Error::from),
            Err(error) => Err(error),
        };
        match applied {
            Ok(_) => println!(
                "plugin {label} loaded: now polling {name} ({entity}) too (its first poll reads back to the demo's start)"
            ),
            Err(error) => {
                self.resources.pop();
                tracing::warn!(plugin = %label, "the demo could not add resource `{name}`: {error}");
                println!("!! plugin {label} loaded, but the demo could not add resource `{name}`: {error}");
            }
        }
    }
}

/// A callback endpoint that verifies signatures and prints each event.
/// How often the demo polls while push is active: the safety net, not the source of events.
const PUSH_DEMO_POLL: Duration = Duration::from_secs(60);

/// A loopback address with a port free now, for a listener whose address must
/// be known before it starts.
fn free_loopback_port() -> std::io::Result<SocketAddr> {
    std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?.local_addr()
}

async fn start_receiver(received: Arc<AtomicUsize>) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let router = Router::new().route("/events", post(receive)).with_state(received);
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(addr)
}

async fn receive(State(received): State<Arc<AtomicUsize>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !verify(DEMO_SIGNATURE_KEY.as_bytes(), &body, signature) {
        println!("!! a message with a missing or wrong signature was refused");
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let message = &message["message"];
    for event in message["events"].as_array().into_iter().flatten() {
        received.fetch_add(1, Ordering::Relaxed);
        println!("{}", event_line(message, event));
    }
    StatusCode::OK
}

/// `12:00:03  Demo  UPDATED  incidents  #1234  Printer on fire (status 5)`.
pub fn event_line(message: &Value, event: &Value) -> String {
    let text = |value: &Value| value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string());
    let time = chrono::Utc::now().format("%H:%M:%S");
    format!(
        "{time}  {}  {:<7}  {:<9}  #{:<6}  {}",
        text(&message["instanceName"]),
        text(&event["eventType"]),
        text(&event["objectType"]),
        text(&event["objectId"]),
        summary(&event["payload"]),
    )
}

/// A few words about the object: a person's name (and job title), or a
/// ticket's title (and status), or a company's name.
fn summary(payload: &Value) -> String {
    let extra = &payload["extra"];
    let field = |name: &str| payload[name].as_str().or_else(|| extra[name].as_str()).map(str::to_owned);
    let person = format!("{} {}", field("firstName").unwrap_or_default(), field("lastName").unwrap_or_default());
    let person = person.trim();
    if !person.is_empty() {
        return match field("title") {
            Some(title) => format!("{person} ({title})"),
            None => person.to_owned(),
        };
    }
    let name = field("title")
        .or_else(|| field("companyName"))
        .or_else(|| field("name"))
        .or_else(|| field("ticketTitle"))
        .unwrap_or_else(|| "(no title)".into());
    match &payload["status"] {
        Value::Null => name,
        status => format!("{name} (status {status})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_name_people_tickets_and_companies() {
        let contact = json!({"id": "7", "extra": {"firstName": "Ada", "lastName": "Lovelace", "title": "CTO"}});
        assert_eq!(summary(&contact), "Ada Lovelace (CTO)");
        assert_eq!(summary(&json!({"title": "VPN drops", "status": 5})), "VPN drops (status 5)");
        assert_eq!(summary(&json!({"extra": {"companyName": "Acme"}})), "Acme");
        assert_eq!(summary(&json!({"extra": {"ticketTitle": "Gone"}})), "Gone");
    }

    fn description(resource: &str, entity: &str, updated: Option<&str>) -> Description {
        Description {
            resource: resource.into(),
            entity: entity.into(),
            id_field: "id".into(),
            created_date_field: Some("createDate".into()),
            updated_date_field: updated.map(str::to_owned),
        }
    }

    #[test]
    fn known_resources_poll_their_entity_with_its_fields() {
        let accounts = DemoResource::known("accounts").unwrap();
        assert_eq!((accounts.entity.as_str(), accounts.path.as_str()), ("Companies", "/hubs/helpdesk/accounts"));
        let notes = DemoResource::known("notes").unwrap();
        assert_eq!(notes.created_date_field.as_deref(), Some("createDateTime"));
        assert_eq!(
            notes.poll_configuration()["url"],
            "/hubs/helpdesk/comments?where=lastActivityDate>='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'"
        );
        assert!(DemoResource::known("tickets").is_none());
    }

    #[test]
    fn a_loaded_plugin_is_polled_by_its_description_or_its_known_name() {
        // It describes this resource: its description decides, even for a known name.
        let own = description("accounts", "Companies", Some("lastTrackedModifiedDateTime"));
        let polled = DemoResource::for_plugin("accounts", Some(&own)).unwrap();
        assert_eq!(polled.updated_date_field, "lastTrackedModifiedDateTime");
        // A copy of the incidents plugin named after a known resource: the name decides.
        let incidents = description("incidents", "Tickets", Some("lastActivityDate"));
        assert_eq!(DemoResource::for_plugin("contacts", Some(&incidents)).unwrap().entity, "Contacts");
        // An unknown name: the entity the plugin describes.
        let copy = DemoResource::for_plugin("escalations", Some(&incidents)).unwrap();
        assert_eq!((copy.name.as_str(), copy.entity.as_str()), ("escalations", "Tickets"));
        assert_eq!(copy.path, "/hubs/helpdesk/incidents");
        let projects = description("projects", "Projects", Some("lastActivityDateTime"));
        assert_eq!(DemoResource::for_plugin("projects", Some(&projects)).unwrap().path, "/Projects");
        // Neither: a clear reason.
        let unknown = DemoResource::for_plugin("widgets", None).unwrap_err();
        assert!(unknown.contains("`widgets`") && unknown.contains("does not describe"), "{unknown}");
        let dateless = DemoResource::for_plugin("projects", Some(&description("projects", "Projects", None)));
        assert!(dateless.unwrap_err().contains("without an updated date field"));
    }

    #[test]
    fn resources_are_checked_and_deduplicated() {
        let names = |list: &str| list.split(',').map(str::to_owned).collect::<Vec<_>>();
        let resources = requested_resources(&names("incidents,accounts,incidents")).unwrap();
        assert_eq!(resources.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["incidents", "accounts"]);
        let error = requested_resources(&names("incidents,tickets")).unwrap_err().to_string();
        assert!(error.contains("unknown resource `tickets`"), "{error}");
    }
}
