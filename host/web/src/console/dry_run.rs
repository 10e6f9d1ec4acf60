//! "Dry run" on an instance's page: what a poll now would deliver, shown
//! above the page (events per resource as a table, the exact message bodies
//! in a `<details>`), with nothing stored or sent. A form post like "Poll
//! now", so it needs no script.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};

use engine::manage::views::{DryRunReport, DryRunView};

use super::instances::detail_page;
use super::layout::{count, notice, or_dash, table_head};
use super::session::Session;
use super::{Console, Fields};
use crate::status::status_of;

pub async fn dry_run(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    _: Fields,
) -> Response {
    let (shown, status) = match console.management.dry_run(&id, &session.caller, None).await {
        Ok(view) => (report(&view), StatusCode::OK),
        Err(error) => (notice(&error.to_string(), true), status_of(&error)),
    };
    detail_page(&console, &session, &id, Some(shown), status).await
}

/// The dry run's report: per resource, what was read and the events that would be delivered.
pub(super) fn report(view: &DryRunView) -> Markup {
    html! {
        section .dry-run aria-label="Dry run" {
            p .notice role="status" {
                "Dry run: what a poll now would deliver. Nothing was stored and nothing was sent; the watermark did not move."
            }
            @for resource in &view.resources {
                h3 { (resource.name) }
                @match &resource.report {
                    Some(report) => (resource_report(&resource.name, report)),
                    None => p .notice .error role="alert" { "The dry run failed: " (or_dash(resource.error.as_deref())) },
                }
            }
        }
    }
}

fn resource_report(name: &str, report: &DryRunReport) -> Markup {
    let bodies: Vec<serde_json::Value> = report
        .messages
        .iter()
        .map(|message| serde_json::from_str(message.body.get()).unwrap_or(serde_json::Value::Null))
        .collect();
    let pretty = serde_json::to_string_pretty(&bodies).unwrap_or_default();
    html! {
        dl .facts {
            dt { "URL" } dd { code { (report.url) } }
            dt { "Query" } dd { code { "POST " (report.query.entity) "/query " (report.query.body) } }
            dt { "Window" } dd { (report.from) " to " (report.until) }
            dt { "Read" } dd {
                (count(Some(report.pages.len() as u64), "page")) ", "
                (count(Some(report.records as u64), "record")) ", "
                (report.already_seen) " already seen"
            }
            dt { "Watermark" } dd { "would move to " (or_dash(report.watermark.as_deref())) }
            dt { "Plugin" } dd { (report.plugin_versions.join(", ")) }
        }
        @if report.events == 0 {
            p { "No events: a poll now would deliver nothing for " (name) "." }
        } @else {
            table {
                (table_head(&format!("Events a poll of {name} would deliver"), &["Message", "Event", "Object type", "Object id", "Date"]))
                tbody {
                    @for (number, message) in report.messages.iter().enumerate() {
                        @for event in &message.events {
                            tr {
                                td { (number + 1) }
                                td { (event.event_type) }
                                td { (event.object_type) }
                                td { (event.object_id) }
                                td { (event.event_date) }
                            }
                        }
                    }
                }
            }
            details {
                summary { "The " (count(Some(report.messages.len() as u64), "message")) " that would be posted" }
                pre { code { (pretty) } }
            }
        }
        @if !report.failed.is_empty() {
            p .notice .error { (count(Some(report.failed.len() as u64), "record")) " would fail:" }
            ul { @for failed in &report.failed { li { "#" (or_dash(failed.object_id.as_deref())) ": " (failed.error) } } }
        }
    }
}

#[cfg(test)]
mod tests {
    use engine::manage::views::{PageRead, QueryView, ResourceDryRun, WouldDeliver, WouldFail, WouldPost};
    use serde_json::json;
    use serde_json::value::RawValue;

    use super::*;

    fn view() -> DryRunView {
        let body = json!({"message": {"events": [{"eventType": "UPDATED", "objectId": "85", "payload": {"title": "<b>x</b>"}}]}});
        let report = DryRunReport {
            url: "/hubs/helpdesk/incidents?where=lastActivityDate>='2026-12-01T14:02:11Z'".into(),
            query: QueryView { entity: "Tickets".into(), body: json!({"filter": []}) },
            from: "2026-12-01T14:02:11.000Z".into(),
            until: "2026-12-01T14:03:20.412Z".into(),
            pages: vec![PageRead { entity: "Tickets".into(), records: 3 }],
            records: 3,
            already_seen: 2,
            deleted: 0,
            events: 1,
            messages: vec![WouldPost {
                message_id: "m1".into(),
                plugin_version: Some("9f2c41aa07e3".into()),
                events: vec![WouldDeliver {
                    event_type: "UPDATED".into(),
                    object_type: "incidents".into(),
                    object_id: "85".into(),
                    event_date: "2026-12-01T14:03:02Z".into(),
                    payload: json!({"title": "<b>x</b>"}),
                }],
                body: RawValue::from_string(body.to_string()).unwrap(),
            }],
            failed: vec![WouldFail { object_id: Some("7".into()), error: "no title".into() }],
            plugin_versions: vec!["9f2c41aa07e3".into()],
            watermark: Some("2026-12-01T14:03:20.412Z".into()),
            deletions_watermark: None,
            requests: 1,
        };
        DryRunView {
            instance_id: "acme".into(),
            dry_run: true,
            resources: vec![
                ResourceDryRun::new("incidents", Ok(report)),
                ResourceDryRun::new("contacts", Err("no plugin for resource `contacts`".into())),
            ],
        }
    }

    #[test]
    fn the_report_shows_each_resources_events_as_a_table_and_the_bodies_in_a_disclosure() {
        let html = report(&view()).into_string();
        assert!(html.contains("Nothing was stored and nothing was sent"), "{html}");
        let row = "<tr><td>1</td><td>UPDATED</td><td>incidents</td><td>85</td><td>2026-12-01T14:03:02Z</td></tr>";
        assert!(html.contains(row), "the event's row: {html}");
        assert!(html.contains("<details><summary>The 1 message that would be posted</summary><pre><code>"), "{html}");
        // The pretty body, escaped: a payload cannot inject markup.
        assert!(
            html.contains("&quot;objectId&quot;: &quot;85&quot;") && html.contains("&lt;b&gt;x&lt;/b&gt;"),
            "{html}"
        );
        assert!(!html.contains("<b>x</b>"), "{html}");
        assert!(
            html.contains("POST Tickets/query") && html.contains("would move to 2026-12-01T14:03:20.412Z"),
            "{html}"
        );
        assert!(html.contains("#7: no title"), "the failed record: {html}");
        assert!(html.contains("<h3>contacts</h3>") && html.contains("The dry run failed: no plugin"), "{html}");
    }

    #[test]
    fn a_quiet_dry_run_says_nothing_would_be_delivered() {
        let mut view = view();
        let report = view.resources[0].report.as_mut().unwrap();
        report.messages.clear();
        report.events = 0;
        let html = super::report(&view).into_string();
        assert!(html.contains("No events: a poll now would deliver nothing for incidents."), "{html}");
        assert!(!html.contains("<details>"), "{html}");
    }
}
