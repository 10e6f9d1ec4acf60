//! Every plugin file with its version, status, last error, calls and mean call
//! time, and the latest reloads: the API's `/plugins` and `/plugins/reloads`.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde_json::Value;

use super::Console;
use super::layout::{Page, date, page, table_head, text};
use super::session::Session;
use crate::api::activity;

pub async fn page_handler(State(console): State<Arc<Console>>, Extension(session): Extension<Session>) -> Response {
    let axum::Json(plugins) = activity::plugins(State(console.api.clone())).await;
    let axum::Json(reloads) = activity::reloads(State(console.api.clone())).await;
    let plugins = plugins.as_array().cloned().unwrap_or_default();
    let reloads = reloads.as_array().cloned().unwrap_or_default();
    let body = html! {
        h1 { "Plugins" }
        p { "Drop a new " code { ".wasm" } " file into the plugin directory to replace a plugin: it is loaded, checked and swapped in without a restart." }
        div .table-wrap hx-get="/console/plugins" hx-select="#plugin-tables" hx-target="this" hx-trigger="every 5s" {
            div #plugin-tables {
                table #plugins {
                    (table_head("Plugin files", &["File", "Version", "Status", "Last error", "Calls", "Mean call", "Used by"]))
                    tbody {
                        @for plugin in &plugins {
                            tr data-plugin=(text(&plugin["name"])) {
                                th scope="row" { (text(&plugin["name"])) br; code .url { (text(&plugin["path"])) } }
                                td { code title=(text(&plugin["version"])) { (short(&plugin["version"])) } br; (date(&plugin["loadedAt"])) }
                                td { span class={"badge " (status_class(&plugin["status"]))} { (text(&plugin["status"])) } }
                                td { (text(&plugin["error"])) }
                                td { (text(&plugin["calls"])) @if plugin["errors"].as_u64().unwrap_or(0) > 0 { " (" (text(&plugin["errors"])) " failed)" } }
                                td { (format!("{:.2} ms", plugin["meanCallMs"].as_f64().unwrap_or(0.0))) }
                                td { (plugin["resources"].as_array().map(|r| r.iter().map(text).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }
                            }
                        }
                    }
                }
                h2 { "Reload history" }
                @if reloads.is_empty() {
                    p { "No reloads since the service started." }
                } @else {
                    table #reloads {
                        (table_head("Reloads, newest first", &["When", "File", "Outcome", "Version", "Detail"]))
                        tbody {
                            @for reload in &reloads {
                                tr {
                                    td { (date(&reload["date"])) }
                                    td { (text(&reload["plugin"])) }
                                    td { span class={"badge " (outcome_class(&reload["outcome"]))} { (text(&reload["outcome"])) } }
                                    td { code { (short(&reload["version"])) } }
                                    td { (text(&reload["detail"])) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page(Page { title: "Plugins", session: Some(&session), current: "plugins", body }).into_response()
}

fn short(version: &Value) -> String {
    version.as_str().map(|v| v[..v.len().min(12)].to_owned()).unwrap_or_else(|| "—".into())
}

fn status_class(status: &Value) -> &'static str {
    match status.as_str() {
        Some("active") => "ok",
        Some("failed") => "bad",
        Some("loading") => "muted",
        _ => "warn",
    }
}

fn outcome_class(outcome: &Value) -> &'static str {
    match outcome.as_str() {
        Some("loaded" | "restored") => "ok",
        Some("rejected") => "bad",
        _ => "warn",
    }
}
