//! The instances list and an instance's page, with its actions: poll now,
//! retry failed, disable, enable and delete. Each action is the API's handler.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use chrono::Utc;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::layout::{Page, count, csrf_field, date, notice, page, post_button, table_head, text};
use super::session::Session;
use super::{Console, Fields, error_page, no_token};
use crate::api::activity::{self, EventsQuery, PollQuery};
use crate::api::error::{ApiError, JsonBody};
use crate::api::instances::{self as api_instances, DeleteQuery};
use crate::service::poll::blocking;
use crate::store::EventCounts;

/// How often the list and an instance's activity refresh themselves.
const REFRESH: &str = "every 5s";

/// One instance as the list shows it.
struct Row {
    view: Value,
    /// `/resources`' answer, or why there is none.
    resources: Result<Value, String>,
    /// Events of the last 24 hours.
    counts: EventCounts,
    /// The last delivery error of a message not yet delivered.
    delivery_error: Option<String>,
}

/// What the status column says.
enum Health {
    Healthy,
    Disabled,
    EventsOff,
    Waiting(String),
    Failing(String),
}

impl Row {
    fn id(&self) -> String {
        text(&self.view["id"])
    }

    fn health(&self) -> Health {
        if self.view["disabled"] == true {
            return Health::Disabled;
        }
        if let Some(problem) = self.view["problem"].as_str() {
            return Health::Failing(format!("the stored configuration does not read: {problem}"));
        }
        if self.view["valid"] == false {
            return Health::Failing("Autotask refused the credentials".into());
        }
        if self.view["eventsEnabled"] == false {
            return Health::EventsOff;
        }
        let resources = match &self.resources {
            Ok(answer) => answer["resources"].as_array().cloned().unwrap_or_default(),
            Err(error) => return Health::Failing(error.clone()),
        };
        for resource in &resources {
            if resource["lastPoll"]["ok"] == false {
                return Health::Failing(format!(
                    "{}: {}",
                    text(&resource["name"]),
                    text(&resource["lastPoll"]["error"])
                ));
            }
        }
        if let Some(error) = &self.delivery_error {
            return Health::Failing(format!("delivery: {error}"));
        }
        if let Some(waiting) = resources.iter().find(|r| r["status"] == "waiting for its plugin") {
            return Health::Waiting(format!(
                "{}: {}",
                text(&waiting["name"]),
                text(&waiting["plugin"]["waitingReason"])
            ));
        }
        Health::Healthy
    }
}

fn health_badge(health: &Health) -> Markup {
    let (class, label, reason) = match health {
        Health::Healthy => ("ok", "healthy", None),
        Health::Disabled => ("muted", "disabled", None),
        Health::EventsOff => ("muted", "events off", None),
        Health::Waiting(reason) => ("warn", "waiting", Some(reason)),
        Health::Failing(reason) => ("bad", "failing", Some(reason)),
    };
    html! {
        span class={"badge " (class)} { (label) }
        @if let Some(reason) = reason { " " span .reason { (reason) } }
    }
}

async fn rows_data(console: &Console) -> Result<Vec<Row>, ApiError> {
    let api = &console.api;
    let axum::Json(list) = api_instances::list(State(api.clone())).await?;
    let mut rows = Vec::new();
    for view in list.as_array().cloned().unwrap_or_default() {
        let id = text(&view["id"]);
        let resources = activity::resources(State(api.clone()), Path(id.clone()), no_token())
            .await
            .map(|answer| answer.0)
            .map_err(|error| error.message);
        let (store, instance) = (api.shared.store.clone(), id.clone());
        let (counts, failed) = blocking(move || {
            let counts = store.event_counts_since(&instance, Utc::now() - chrono::Duration::hours(24))?;
            Ok((counts, store.failed_messages(&instance, 1)?))
        })
        .await?;
        let delivery_error = failed.into_iter().next().and_then(|message| message.last_error);
        rows.push(Row { view, resources, counts, delivery_error });
    }
    Ok(rows)
}

pub async fn list(State(console): State<Arc<Console>>, Extension(session): Extension<Session>) -> Response {
    let rows = match rows_data(&console).await {
        Ok(rows) => rows,
        Err(error) => return error_page(&session, error.status, &error.message),
    };
    let body = html! {
        div .title-row {
            h1 { "Instances" }
            a .button href="/console/instances/new" { "Create instance" }
        }
        (instances_table(&rows))
    };
    page(Page { title: "Instances", session: Some(&session), current: "instances", body }).into_response()
}

/// The table alone, which htmx fetches every few seconds.
pub async fn rows(State(console): State<Arc<Console>>) -> Response {
    match rows_data(&console).await {
        Ok(rows) => instances_table(&rows).into_response(),
        Err(error) => (error.status, error.message).into_response(),
    }
}

fn instances_table(rows: &[Row]) -> Markup {
    html! {
        div #instances .table-wrap hx-get="/console/instances/rows" hx-trigger=(REFRESH) hx-swap="outerHTML" {
            @if rows.is_empty() {
                p { "No instances yet. " a href="/console/instances/new" { "Create one" } "." }
            } @else {
                table .cards {
                    (table_head("Instances, refreshed every 5 seconds", &["Name", "Element", "Tags", "Resources", "Last poll", "Next poll", "Events, 24 h", "Status"]))
                    tbody {
                        @for row in rows { (instance_row(row)) }
                    }
                }
            }
        }
    }
}

fn instance_row(row: &Row) -> Markup {
    let id = row.id();
    let resources = row.resources.as_ref().ok().and_then(|answer| answer["resources"].as_array().cloned());
    let resources = resources.unwrap_or_default();
    // The most recent last poll and the soonest next poll over the resources.
    let last =
        resources.iter().map(|r| &r["lastPoll"]).filter(|p| !p.is_null()).max_by_key(|p| text(&p["startedDate"]));
    let next = resources.iter().map(|r| &r["nextPollDate"]).filter(|d| !d.is_null()).min_by_key(|d| text(d));
    let records: u64 = resources.iter().filter_map(|r| r["lastPoll"]["summary"]["records"].as_u64()).sum();
    html! {
        tr data-instance=(id) {
            th scope="row" {
                a href={"/console/instances/" (id)} { (text(&row.view["name"])) }
                @if row.view["readOnly"] == true { " " span .badge .muted title="from the configuration file" { "file" } }
            }
            td data-label="Element" { (text(&row.view["element"]["key"])) }
            td data-label="Tags" { (row.view["tags"].as_array().map(|tags| tags.iter().map(text).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }
            td data-label="Resources" { (resources.iter().map(|r| text(&r["name"])).collect::<Vec<_>>().join(", ")) }
            td .last-poll data-label="Last poll" {
                @match last {
                    Some(poll) => {
                        (date(&poll["startedDate"])) br;
                        @if poll["ok"] == true { (count(&records.into(), "record")) } @else { span .bad-text { "error" } }
                    }
                    None => "—",
                }
            }
            td data-label="Next poll" { (next.map(date).unwrap_or_else(|| html! { "—" })) }
            td .counts data-label="Events, 24 h" {
                span title="delivered" { (row.counts.delivered) " delivered" } br;
                span title="pending" { (row.counts.pending) " pending" } br;
                span title="failed" class=[(row.counts.failed > 0).then_some("bad-text")] { (row.counts.failed) " failed" }
            }
            td .status data-label="Status" { (health_badge(&row.health())) }
        }
    }
}

/// `?notice=` after an action, said in words.
#[derive(Deserialize)]
pub struct Notice {
    notice: Option<String>,
}

fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "created" => "Instance created; it is polling now.",
        "changed" => "Changes saved; they apply now.",
        "disabled" => "Instance disabled: it neither polls nor delivers.",
        "enabled" => "Instance enabled: it polls again.",
        "retried" => {
            "Failed messages are being delivered again; records the plugin failed are mapped again at the next poll."
        }
        _ => return None,
    })
}

pub async fn detail(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Query(query): Query<Notice>,
) -> Response {
    let shown = query.notice.as_deref().and_then(notice_text).map(|text| notice(text, false));
    detail_page(&console, &session, &id, shown, StatusCode::OK).await
}

async fn detail_page(
    console: &Console,
    session: &Session,
    id: &str,
    shown: Option<Markup>,
    status: StatusCode,
) -> Response {
    let view = match instance_view(console, session, id).await {
        Ok(view) => view,
        Err(page) => return page,
    };
    let activity = match activity_section(console, id).await {
        Ok(activity) => activity,
        Err(error) => return error_page(session, error.status, &error.message),
    };
    let name = text(&view["name"]);
    let writable = view["readOnly"] == false;
    let disabled = view["disabled"] == true;
    let base = format!("/console/instances/{id}");
    let body = html! {
        p .breadcrumbs { a href="/console/instances" { "Instances" } " / " (name) }
        div .title-row {
            h1 { (name) }
            span .badge .muted { "id " (id) }
            @if disabled { span .badge .muted { "disabled" } }
            @if !writable { span .badge .muted title="change it in the configuration file" { "from the configuration file" } }
        }
        @if let Some(shown) = shown { (shown) }
        div .actions {
            (post_button(session, &format!("{base}/poll"), "Poll now", ""))
            // Here rather than in the refreshed events table, so a refresh never takes the focus away.
            (post_button(session, &format!("{base}/retry"), "Retry failed", "secondary"))
            @if writable {
                a .button .secondary href={(base) "/edit"} { "Edit" }
                @if disabled {
                    (post_button(session, &format!("{base}/enable"), "Enable", "secondary"))
                } @else {
                    (post_button(session, &format!("{base}/disable"), "Disable", "secondary"))
                }
                a .button .danger href={(base) "/delete"} { "Delete…" }
            }
        }
        dl .facts {
            dt { "Element" } dd { (text(&view["element"]["key"])) }
            dt { "Events" } dd { @if view["eventsEnabled"] == true { "on, to " (text(&view["configuration"]["event.notification.callback.url"])) } @else { "off" } }
            dt { "Interval" } dd { (text(&view["configuration"]["event.poller.refresh_interval"])) " min" }
            dt { "Tags" } dd { (view["tags"].as_array().map(|tags| tags.iter().map(text).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }
            dt { "Created" } dd { (date(&view["createdDate"])) }
        }
        (activity)
    };
    (status, page(Page { title: &name, session: Some(session), current: "", body })).into_response()
}

/// `GET /instances/{id}`'s answer, or the error page to show instead.
pub(super) async fn instance_view(console: &Console, session: &Session, id: &str) -> Result<Value, Response> {
    match api_instances::get(State(console.api.clone()), Path(id.to_owned()), no_token()).await {
        Ok(view) => Ok(view.0),
        Err(error) => Err(error_page(session, error.status, &error.message)),
    }
}

/// The resources and recent events of an instance, refreshed by htmx.
pub async fn activity(State(console): State<Arc<Console>>, Path(id): Path<String>) -> Response {
    match activity_section(&console, &id).await {
        Ok(section) => section.into_response(),
        Err(error) => (error.status, error.message).into_response(),
    }
}

async fn activity_section(console: &Console, id: &str) -> Result<Markup, ApiError> {
    let api = &console.api;
    let resources =
        activity::resources(State(api.clone()), Path(id.to_owned()), no_token()).await.map(|answer| answer.0);
    let query = EventsQuery { status: None, limit: Some(25) };
    let axum::Json(events) =
        activity::events(State(api.clone()), Path(id.to_owned()), no_token(), Query(query)).await?;
    let events = events.as_array().cloned().unwrap_or_default();
    Ok(html! {
        div #activity hx-get={"/console/instances/" (id) "/activity"} hx-trigger=(REFRESH) hx-swap="outerHTML" {
            h2 { "Resources" }
            @match &resources {
                Ok(answer) => (resources_table(answer)),
                Err(error) => p .error { (error.message) },
            }
            h2 { "Recent events" }
            (events_table(&events))
        }
    })
}

fn resources_table(answer: &Value) -> Markup {
    let resources = answer["resources"].as_array().cloned().unwrap_or_default();
    html! {
        div .table-wrap {
            table #resources {
                (table_head("Resources", &["Resource", "Entity", "Status", "Plugin version", "Watermark", "Last poll", "Next poll"]))
                tbody {
                    @for resource in &resources {
                        tr data-resource=(text(&resource["name"])) {
                            th scope="row" { (text(&resource["name"])) br; code .url { (text(&resource["url"])) } }
                            td { (text(&resource["entity"])) }
                            td { (text(&resource["status"]))
                                @if let Some(reason) = resource["plugin"]["waitingReason"].as_str() { br; span .reason { (reason) } } }
                            td { code title=(text(&resource["plugin"]["version"])) {
                                (resource["plugin"]["version"].as_str().map(|v| &v[..v.len().min(12)]).unwrap_or("—")) } }
                            td { (date(&resource["watermark"])) }
                            td .last-poll { (last_poll(&resource["lastPoll"])) }
                            td { (date(&resource["nextPollDate"])) }
                        }
                    }
                }
            }
        }
    }
}

fn last_poll(poll: &Value) -> Markup {
    if poll.is_null() {
        return html! { "—" };
    }
    let summary = &poll["summary"];
    html! {
        (date(&poll["startedDate"])) br;
        @if poll["ok"] == true {
            (count(&summary["records"], "record")) ", " (count(&summary["events"], "event")) ", " (text(&poll["tookMs"])) " ms"
        } @else {
            span .bad-text { (text(&poll["error"])) }
        }
    }
}

fn events_table(events: &[Value]) -> Markup {
    html! {
        @if events.is_empty() {
            p #no-events { "No events yet." }
        } @else {
            div .table-wrap {
                table #events {
                    (table_head("Recent events, newest first", &["Created", "Resource", "Events", "Status", "Attempts", "Last error", "Delivered"]))
                    tbody {
                        @for message in events {
                            tr data-status=(text(&message["status"])) {
                                td { (date(&message["createdDate"])) }
                                td { (text(&message["resource"])) }
                                td { ul .plain {
                                    @for event in message["events"].as_array().cloned().unwrap_or_default() {
                                        li { (text(&event["eventType"])) " " (text(&event["objectType"])) " " (text(&event["objectId"])) }
                                    }
                                } }
                                td { span class={"badge " (status_class(&message["status"]))} { (text(&message["status"])) } }
                                td { (text(&message["attempts"])) }
                                td { (text(&message["lastError"])) }
                                td { (date(&message["deliveredDate"])) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn status_class(status: &Value) -> &'static str {
    match status.as_str() {
        Some("delivered") => "ok",
        Some("retrying") => "warn",
        Some("failed") => "bad",
        _ => "muted",
    }
}

pub async fn poll(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    _: Fields,
) -> Response {
    let answer =
        activity::poll(State(console.api.clone()), Path(id.clone()), no_token(), Query(PollQuery { resource: None }))
            .await;
    let (shown, status) = match answer {
        Ok(answer) => {
            let results = answer.0["resources"].as_array().cloned().unwrap_or_default();
            let failed: Vec<String> = results
                .iter()
                .filter(|r| r["ok"] == false)
                .map(|r| format!("{}: {}", text(&r["name"]), text(&r["error"])))
                .collect();
            if failed.is_empty() {
                let records: u64 = results.iter().filter_map(|r| r["summary"]["records"].as_u64()).sum();
                let events: u64 = results.iter().filter_map(|r| r["summary"]["events"].as_u64()).sum();
                (notice(&format!("Polled: {records} records, {events} events."), false), StatusCode::OK)
            } else {
                (notice(&format!("The poll failed: {}", failed.join("; ")), true), StatusCode::OK)
            }
        }
        Err(error) => (notice(&error.message, true), error.status),
    };
    detail_page(&console, &session, &id, Some(shown), status).await
}

pub async fn retry(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    _: Fields,
) -> Response {
    match activity::retry(State(console.api.clone()), Path(id.clone()), no_token()).await {
        Ok(_) => Redirect::to(&format!("/console/instances/{id}?notice=retried")).into_response(),
        Err(error) => detail_page(&console, &session, &id, Some(notice(&error.message, true)), error.status).await,
    }
}

pub async fn disable(state: State<Arc<Console>>, session: Extension<Session>, id: Path<String>, _: Fields) -> Response {
    set_disabled(state, session, id, true).await
}

pub async fn enable(state: State<Arc<Console>>, session: Extension<Session>, id: Path<String>, _: Fields) -> Response {
    set_disabled(state, session, id, false).await
}

async fn set_disabled(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    disabled: bool,
) -> Response {
    let patch = JsonBody(json!({ "disabled": disabled }));
    match api_instances::patch(State(console.api.clone()), Path(id.clone()), no_token(), patch).await {
        Ok(_) => {
            let done = if disabled { "disabled" } else { "enabled" };
            Redirect::to(&format!("/console/instances/{id}?notice={done}")).into_response()
        }
        Err(error) => detail_page(&console, &session, &id, Some(notice(&error.message, true)), error.status).await,
    }
}

pub async fn confirm_delete(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    let view = match instance_view(&console, &session, &id).await {
        Ok(view) => view,
        Err(page) => return page,
    };
    let name = text(&view["name"]);
    let body = html! {
        h1 { "Delete " (name) "?" }
        p { "Polling stops and the instance is removed with its watermarks and history. This cannot be undone." }
        form method="post" action={"/console/instances/" (id) "/delete"} .narrow {
            (csrf_field(&session))
            fieldset {
                legend { "Events not delivered yet" }
                div .choice {
                    input #outbox-flush type="radio" name="outbox" value="flush" checked;
                    label for="outbox-flush" { "Deliver them first (the instance stays if the callback refuses them)" }
                }
                div .choice {
                    input #outbox-drop type="radio" name="outbox" value="drop";
                    label for="outbox-drop" { "Drop them" }
                }
            }
            div .actions {
                button type="submit" .danger { "Delete " (name) }
                a .button .secondary href={"/console/instances/" (id)} { "Cancel" }
            }
        }
    };
    page(Page { title: &format!("Delete {name}"), session: Some(&session), current: "", body }).into_response()
}

pub async fn delete(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(fields): Fields,
) -> Response {
    let outbox = fields.iter().find(|(key, _)| key == "outbox").map(|(_, value)| value.clone());
    let query = Query(DeleteQuery { outbox });
    match api_instances::delete(State(console.api.clone()), Path(id.clone()), no_token(), query).await {
        Ok(answer) => {
            let answer = answer.0;
            tracing::debug!(instance = %id, "deleted from the console: {answer}");
            Redirect::to("/console/instances").into_response()
        }
        Err(error) => detail_page(&console, &session, &id, Some(notice(&error.message, true)), error.status).await,
    }
}
