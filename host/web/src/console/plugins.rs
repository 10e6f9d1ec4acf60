//! Every plugin file with its version, status, last error, calls and mean call
//! time, and the latest reloads: what the API's `/plugins` and `/plugins/reloads` list.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use engine::service::plugins::Status;
use maud::html;

use super::layout::{Page, date, or_dash, page, short_version, table_head};
use super::session::Session;
use super::{Console, error_page, plugin_charts};
use crate::status::status_of;

pub async fn page_handler(State(console): State<Arc<Console>>, Extension(session): Extension<Session>) -> Response {
    let plugins = console.management.plugins();
    let reloads = console.management.plugin_reloads();
    let charts = match console.management.plugin_metrics(None) {
        Ok(metrics) => plugin_charts::section(&metrics),
        Err(error) => return error_page(&session, status_of(&error), &error.to_string()),
    };
    let body = html! {
        h1 { "Plugins" }
        p { "Drop a new " code { ".wasm" } " file into the plugin directory to replace a plugin: it is loaded, checked and swapped in without a restart." }
        p { "To see what a new version would change before it serves, and activate it, use the " a href="/console/playground" { "plugin playground" } "." }
        div .table-wrap hx-get="/console/plugins" hx-select="#plugin-tables" hx-target="this" hx-trigger="every 5s" {
            div #plugin-tables {
                table #plugins {
                    (table_head("Plugin files", &["File", "Version", "Status", "Last error", "Calls", "Mean call", "Used by"]))
                    tbody {
                        @for plugin in &plugins {
                            tr data-plugin=(plugin.name) {
                                th scope="row" { (plugin.name) br; code .url { (plugin.path) } }
                                td { code title=(or_dash(plugin.version.as_deref())) { (short_version(plugin.version.as_deref())) } br; (date(plugin.loaded_at.as_deref())) }
                                td { span class={"badge " (status_class(plugin.status))} { (plugin.status.as_str()) } }
                                td { (or_dash(plugin.error.as_deref())) }
                                td { (plugin.calls) @if plugin.errors > 0 { " (" (plugin.errors) " failed)" } }
                                td { (format!("{:.2} ms", plugin.mean_call_ms)) }
                                td { (plugin.resources.join(", ")) }
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
                                    td { (date(Some(&reload.date))) }
                                    td { (reload.plugin) }
                                    td { span class={"badge " (outcome_class(reload.outcome))} { (reload.outcome) } }
                                    td { code { (short_version(reload.version.as_deref())) } }
                                    td { (or_dash(reload.detail.as_deref())) }
                                }
                            }
                        }
                    }
                }
            }
        }
        // Outside the refreshed tables: a chart redrawn every few seconds would close its table.
        (charts)
    };
    page(Page { title: "Plugins", session: Some(&session), current: "plugins", body }).into_response()
}

fn status_class(status: Status) -> &'static str {
    match status {
        Status::Active => "ok",
        Status::Failed => "bad",
        Status::Loading => "muted",
        Status::Removed | Status::Missing => "warn",
    }
}

fn outcome_class(outcome: &str) -> &'static str {
    match outcome {
        "loaded" | "restored" => "ok",
        "rejected" => "bad",
        _ => "warn",
    }
}
