//! Running the service in end-to-end tests: configuration files written the
//! way a user writes them, and changes made through the simulator's `/sim/` API.

use std::path::{Path, PathBuf};

use autotask_sim::Simulator;
use serde_json::{Value, json};

/// The default incidents poll configuration, as Cloud Elements writes it.
pub fn incidents_resource() -> Value {
    resource("/hubs/helpdesk/incidents")
}

/// A poll configuration for `hub_path` with Autotask's usual dates.
pub fn resource(hub_path: &str) -> Value {
    json!({
        "url": format!("{hub_path}?where=lastActivityDate>='${{gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}}'"),
        "idField": "id",
        "datesConfiguration": {
            "updatedDateField": "lastActivityDate", "updatedDateFormat": "yyyy-MM-dd'T'HH:mm:ss'Z'",
            "createdDateField": "createDate", "createdDateFormat": "yyyy-MM-dd'T'HH:mm:ss'Z'"
        }
    })
}

/// One `[[instance]]` table polling `resources` (name → poll configuration)
/// against `sim` and delivering to `callback`. `configuration` adds or
/// overrides configuration keys; `extra` is more TOML lines for the table.
pub fn instance_toml(
    id: &str,
    sim: &Simulator,
    callback: &str,
    resources: Value,
    configuration: Value,
    extra: &str,
) -> String {
    let sim_config = sim.config();
    let mut keys = json!({
        "helpdesk.autotask.username": sim_config.user,
        "helpdesk.autotask.password": sim_config.secret,
        "helpdesk.autotask.integration.code": sim_config.integration_code,
        "helpdesk.autotask.server.url": sim.url(),
        "event.notification.enabled": true,
        "event.notification.callback.url": callback,
        "event.poller.configuration": resources.to_string(),
    });
    if let (Some(keys), Value::Object(more)) = (keys.as_object_mut(), configuration) {
        keys.extend(more);
    }
    let mut lines = format!(
        "[[instance]]\nid = \"{id}\"\nname = \"{id} instance\"\nelement = {{ key = \"autotaskhelpdesk\" }}\ntags = [\"test\"]\n{extra}\n[instance.configuration]\n"
    );
    for (key, value) in keys.as_object().expect("an object") {
        lines.push_str(&format!("{} = {}\n", toml_string(key), toml_value(value)));
    }
    lines
}

fn toml_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string serializes")
}

fn toml_value(value: &Value) -> String {
    match value {
        Value::String(text) => toml_string(text),
        other => other.to_string(),
    }
}

/// The `[egress]` and `[limits]` tables of a test host: loopback addresses
/// allowed (every test's traffic stays there) and polls as often as a test likes.
pub const LOOPBACK_RULES: &str =
    "[egress]\nallow = [\"loopback\"]\n\n[limits]\nmin_refresh_interval_seconds = 0.001\n\n";

/// Writes `service.toml` in `dir`: fast polling and fast retries unless
/// `settings` (more TOML, e.g. a `[delivery]` table) says otherwise.
pub fn write_config(dir: &Path, settings: &str, instances: &[String]) -> PathBuf {
    let path = dir.join("service.toml");
    // Everything a test runs is on loopback, and tests poll fast.
    let mut text = String::from(LOOPBACK_RULES);
    text.push_str(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"data\"\nplugin_dir = \"plugins\"\noverlap_seconds = 5\n",
    );
    // Compiled plugins and script runners are shared by every test's service:
    // the runners compile once per build, not once per test.
    text.push_str(&format!("compile_cache_dir = {}\n\n", toml_string(TEST_COMPILE_CACHE)));
    text.push_str(settings);
    text.push('\n');
    for instance in instances {
        text.push_str(instance);
        text.push('\n');
    }
    std::fs::write(&path, text).expect("the config is written");
    path
}

/// The compile cache every test service shares (under the build's `target/`).
pub const TEST_COMPILE_CACHE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/test-compile-cache");

/// The `[delivery]` table tests use: quick retries, a short timeout.
pub const FAST_DELIVERY: &str =
    "[delivery]\nfirst_retry_seconds = 0.05\nretry_multiplier = 2\nretries = 30\ntimeout_seconds = 1\n";

/// Changes records through the simulator's control API, as a user of the
/// simulator would (`/sim/{Entity}`).
pub struct SimControl {
    http: reqwest::Client,
    base: String,
}

impl SimControl {
    pub fn new(sim: &Simulator) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        SimControl { http: reqwest::Client::new(), base: format!("{}/sim", sim.url()) }
    }

    /// Creates a record; returns its id.
    pub async fn create(&self, entity: &str, fields: Value) -> i64 {
        let record: Value = self.send(self.http.post(format!("{}/{entity}", self.base)).json(&fields)).await;
        record["id"].as_i64().expect("the created record has an id")
    }

    pub async fn patch(&self, entity: &str, id: i64, fields: Value) {
        let _: Value = self.send(self.http.patch(format!("{}/{entity}/{id}", self.base)).json(&fields)).await;
    }

    pub async fn delete(&self, entity: &str, id: i64) {
        let response = self.http.delete(format!("{}/{entity}/{id}", self.base)).send().await.expect("sim answers");
        assert!(response.status().is_success(), "deleting {entity} {id}: {}", response.status());
    }

    /// Sets the simulator's faults (`errorRate`, `force429`, ...); `{}` clears them.
    pub async fn faults(&self, faults: Value) {
        let _: Value = self.send(self.http.post(format!("{}/faults", self.base)).json(&faults)).await;
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Value {
        let response = request.send().await.expect("the simulator answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        assert!(status.is_success(), "simulator control call failed: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}
