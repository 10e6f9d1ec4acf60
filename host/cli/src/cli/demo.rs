//! `autotask-events demo`: the whole product on loopback in one command. It
//! starts the Autotask simulator with churn, a callback receiver that checks
//! every signature, and the service with one instance polling incidents (the
//! built-in plugin) and contacts (a copy of it), then prints each event the
//! receiver gets as one line until Ctrl-C or `--for`.

use std::net::SocketAddr;
use std::path::Path;
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

use crate::app;
use builtin_plugin::INCIDENTS_WASM;
use engine::config::instance::{Source, read_instance};
use engine::config::problems::Collector;
use engine::config::{
    ApiUser, ConfiguredInstance, DEFAULT_API_PREFIX, InstanceRules, LEGACY_USER, Secret, ServerSettings, ServiceConfig,
};
use engine::delivery::signature::{SIGNATURE_HEADER, verify};
use engine::egress::{AutotaskHosts, Egress, Range};

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
    /// The plugin directory, watched while the demo runs: drop a new
    /// `incidents.wasm` or `contacts.wasm` in to change a mapping live.
    /// A temporary directory when absent.
    #[arg(long)]
    pub plugin_dir: Option<std::path::PathBuf>,
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

    let mut settings = ServerSettings { listen: loopback, ..ServerSettings::defaults(work.path()) };
    let api_secrets = demo_api_secrets(work.path())?;
    settings.api.users = vec![ApiUser { name: LEGACY_USER.into(), secret: Secret::new(api_secrets.user), admin: true }];
    settings.api.organization_secret = Some(Secret::new(api_secrets.organization));
    settings.integration_code = Some(Secret::new(simulator.config().integration_code.clone()));
    settings.rules = demo_rules(&simulator);
    if let Some(dir) = &args.plugin_dir {
        settings.plugin_dir = std::path::absolute(dir)?;
    }
    // The contacts resource maps through a copy of the incidents plugin: any
    // plugin file named after a resource serves it.
    std::fs::create_dir_all(&settings.plugin_dir)?;
    let contacts = settings.plugin_dir.join("contacts.wasm");
    if !contacts.exists() {
        std::fs::write(contacts, INCIDENTS_WASM)?;
    }
    let plugin_dir = settings.plugin_dir.clone();
    let instance = demo_instance(&simulator, receiver, args.interval, work.path(), &settings.rules)?;
    let running = app::start(ServiceConfig { server: settings, instances: vec![instance], files: Vec::new() }).await?;

    println!("autotask-events demo");
    println!("  Autotask simulator  {} ({} changes a minute)", simulator.url(), args.churn);
    println!("  callback receiver   http://{receiver}/events (checks every Elements-Webhook-Signature)");
    println!("  service             http://{0}/metrics, http://{0}/plugins", running.addr());
    println!("  plugins             {} (watched: a new .wasm here changes the mapping live)", plugin_dir.display());
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
    println!("  polling incidents and contacts every {}s; events appear below. Ctrl-C stops.", args.interval);
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

/// The instance, written as the Cloud Elements body a user would post.
fn demo_instance(
    simulator: &Simulator,
    receiver: SocketAddr,
    interval: f64,
    base: &Path,
    rules: &InstanceRules,
) -> anyhow::Result<ConfiguredInstance> {
    let sim = simulator.config();
    let updated = |field: &str| {
        json!({"updatedDateField": field, "updatedDateFormat": "yyyy-MM-dd'T'HH:mm:ss'Z'",
               "createdDateField": "createDate", "createdDateFormat": "yyyy-MM-dd'T'HH:mm:ss'Z'"})
    };
    let body = json!({
        "element": {"key": "autotaskhelpdesk"},
        "name": "Demo",
        "tags": ["demo"],
        "configuration": {
            "helpdesk.autotask.username": sim.user,
            "helpdesk.autotask.password": sim.secret,
            "helpdesk.autotask.integration.code": sim.integration_code,
            "helpdesk.autotask.server.url": simulator.url(),
            "event.notification.enabled": true,
            "event.notification.callback.url": format!("http://{receiver}/events"),
            "event.notification.signature.key": DEMO_SIGNATURE_KEY,
            "event.poller.configuration": {
                "incidents": {
                    "url": "/hubs/helpdesk/incidents?where=lastActivityDate>='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'",
                    "idField": "id",
                    "datesConfiguration": updated("lastActivityDate"),
                },
                "contacts": {
                    "url": "/hubs/helpdesk/contacts?where=lastActivityDate>='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'",
                    "idField": "id",
                    "datesConfiguration": updated("lastActivityDate"),
                },
            },
        },
    });
    let mut found = Vec::new();
    let demo_file = base.join("demo-instance.json");
    let source = Source {
        base_dir: base,
        key_prefix: String::new(),
        host_integration_code: None,
        resolve_references: false,
        rules,
    };
    let instance = read_instance(&body, &source, &mut Collector { file: &demo_file, problems: &mut found });
    let Some(mut instance) = instance else {
        anyhow::bail!("the demo instance is invalid: {}", engine::config::Problems(found));
    };
    instance.refresh_interval = Duration::from_secs_f64(interval);
    Ok(ConfiguredInstance {
        id: "demo".into(),
        since: None,
        plugins: Default::default(),
        sample_records: Default::default(),
        instance,
        disabled: false,
        owner: None,
        body,
    })
}

/// A callback endpoint that verifies signatures and prints each event.
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
}
