//! What the simulator's HTTP tests share: a client, the API's URLs and
//! credentials, and answers read as (status, JSON).

use autotask_sim::Simulator;
use serde_json::Value;

/// reqwest is built without a default TLS provider (see the workspace manifest).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// The URL of `path` under the REST API's `v1.0/`.
pub fn api(sim: &Simulator, path: &str) -> String {
    format!("{}/atservicesrest/v1.0/{path}", sim.url())
}

/// `request` with the simulator's default API user's credentials.
pub fn authed(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    request.header("UserName", "sim@example.com").header("Secret", "sim-secret").header("ApiIntegrationCode", "SIMCODE")
}

/// An answer's status and JSON body (`null` when it has none).
pub async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}
