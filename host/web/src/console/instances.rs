//! The instances list and an instance's page, with its actions: poll now
//! (and its dry run, `dry_run.rs`), retry failed, disable, enable and delete.
//! Each action is the service layer's call, the one the API makes too.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{Markup, html};
use serde::Deserialize;

use engine::manage::views::{
    DeliveryHealth, DeliveryNow, InstanceView, LastPollView, MessageStatus, MessageView, PushView, ResourceState,
    ResourceView, Resources,
};
use engine::manage::{Caller, ManageError, OutboxPolicy};
use engine::service::progress::thousands;

use super::layout::{
    Page, count, csrf_field, date, instant, notice, or_dash, page, post_button, short_version, table_head,
};
use super::session::Session;
use super::{Console, Fields, error_page, instance_charts};
use crate::status::status_of;

/// How often the list and an instance's activity refresh themselves.
const REFRESH: &str = "every 5s";

/// One instance as the list shows it.
struct Row {
    view: InstanceView,
    /// Its resources, or why they cannot be shown.
    resources: Result<Resources, String>,
    /// Its events of the last 24 hours and its last delivery error.
    delivery: DeliveryHealth,
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
    fn resources(&self) -> &[ResourceView] {
        self.resources.as_ref().map(|answer| answer.resources.as_slice()).unwrap_or_default()
    }

    fn health(&self) -> Health {
        let view = &self.view;
        if view.disabled {
            return Health::Disabled;
        }
        if let Some(problem) = &view.problem {
            return Health::Failing(format!("the stored configuration does not read: {problem}"));
        }
        if !view.valid {
            return Health::Failing("Autotask refused the credentials".into());
        }
        if !view.events_enabled {
            return Health::EventsOff;
        }
        if let Err(error) = &self.resources {
            return Health::Failing(error.clone());
        }
        for resource in self.resources() {
            if let Some(Err(error)) = resource.last_poll.as_ref().map(|poll| &poll.result) {
                return Health::Failing(format!("{}: {error}", resource.name));
            }
        }
        if let Some(error) = &self.delivery.last_error {
            return Health::Failing(format!("delivery: {error}"));
        }
        if let Some(waiting) = self.resources().iter().find(|r| r.status == ResourceState::WaitingForPlugin) {
            return Health::Waiting(format!("{}: {}", waiting.name, or_dash(waiting.plugin.waiting_reason.as_deref())));
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

/// The instances the signed-in user may see, with their resources and delivery.
async fn rows_data(console: &Console, caller: &Caller) -> Result<Vec<Row>, ManageError> {
    let management = &console.management;
    let mut rows = Vec::new();
    for view in management.list(caller).await? {
        let id = view.id.to_string();
        let resources = management.resources(&id, caller).await.map_err(|error| error.to_string());
        let delivery = management.delivery_health(&id).await?;
        rows.push(Row { view, resources, delivery });
    }
    Ok(rows)
}

pub async fn list(State(console): State<Arc<Console>>, Extension(session): Extension<Session>) -> Response {
    let rows = match rows_data(&console, &session.caller).await {
        Ok(rows) => rows,
        Err(error) => return error_page(&session, status_of(&error), &error.to_string()),
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
pub async fn rows(State(console): State<Arc<Console>>, Extension(session): Extension<Session>) -> Response {
    match rows_data(&console, &session.caller).await {
        Ok(rows) => instances_table(&rows).into_response(),
        Err(error) => (status_of(&error), error.to_string()).into_response(),
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
    let view = &row.view;
    let id = view.id.to_string();
    let resources = row.resources();
    // The most recent last poll and the soonest next poll over the resources.
    let last = resources.iter().filter_map(|r| r.last_poll.as_ref()).max_by_key(|poll| poll.started);
    let next = resources.iter().filter_map(|r| r.next_poll).min();
    let records: u64 = resources
        .iter()
        .filter_map(|r| r.last_poll.as_ref().and_then(|poll| poll.result.as_ref().ok()))
        .map(|summary| summary.records as u64)
        .sum();
    html! {
        tr data-instance=(id) {
            th scope="row" {
                a href={"/console/instances/" (id)} { (or_dash(view.name.as_deref())) }
                @if view.read_only { " " span .badge .muted title="from the configuration file" { "file" } }
            }
            td data-label="Element" { (or_dash(view.element_key.as_deref())) }
            td data-label="Tags" { (view.tags.join(", ")) }
            td data-label="Resources" { (resources.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ")) }
            td .last-poll data-label="Last poll" {
                @match last {
                    Some(poll) => {
                        (instant(Some(poll.started))) br;
                        @if poll.result.is_ok() { (count(Some(records), "record")) } @else { span .bad-text { "error" } }
                    }
                    None => "—",
                }
            }
            td data-label="Next poll" { (instant(next)) }
            td .counts data-label="Events, 24 h" {
                span title="delivered" { (row.delivery.counts.delivered) " delivered" } br;
                span title="pending" { (row.delivery.counts.pending) " pending" } br;
                span title="failed" class=[(row.delivery.counts.failed > 0).then_some("bad-text")] { (row.delivery.counts.failed) " failed" }
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

pub(super) async fn detail_page(
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
    let activity = match activity_section(console, &session.caller, id).await {
        Ok(activity) => activity,
        Err(error) => return error_page(session, status_of(&error), &error.to_string()),
    };
    // Not refreshed with the activity: a chart redrawn every few seconds
    // would close its table and move under a reader's eyes.
    let charts = match console.management.instance_metrics(id, &session.caller, None).await {
        Ok(metrics) => instance_charts::section(&metrics),
        Err(error) => return error_page(session, status_of(&error), &error.to_string()),
    };
    let name = or_dash(view.name.as_deref());
    let writable = !view.read_only;
    let base = format!("/console/instances/{id}");
    let settings = &view.settings;
    let body = html! {
        p .breadcrumbs { a href="/console/instances" { "Instances" } " / " (name) }
        div .title-row {
            h1 { (name) }
            span .badge .muted { "id " (id) }
            @if view.disabled { span .badge .muted { "disabled" } }
            @if !writable { span .badge .muted title="change it in the configuration file" { "from the configuration file" } }
        }
        @if let Some(shown) = shown { (shown) }
        (actions(session, &base, writable, view.disabled))
        dl .facts {
            dt { "Element" } dd { (or_dash(view.element_key.as_deref())) }
            dt { "Events" } dd { @if view.events_enabled { "on, to " (or_dash(non_empty(&settings.callback_url))) } @else { "off" } }
            dt { "Interval" } dd { (or_dash(non_empty(&settings.refresh_interval))) " min" }
            dt { "Tags" } dd { (view.tags.join(", ")) }
            dt { "Created" } dd { (instant(Some(view.created))) }
        }
        (activity)
        (charts)
    };
    (status, page(Page { title: &name, session: Some(session), current: "", body })).into_response()
}

/// An instance's buttons: poll now, a dry run of it, retry, and for
/// instances of the API edit, disable or enable, and delete.
fn actions(session: &Session, base: &str, writable: bool, disabled: bool) -> Markup {
    html! {
        div .actions {
            (post_button(session, &format!("{base}/poll"), "Poll now", ""))
            (post_button(session, &format!("{base}/dry-run"), "Dry run", "secondary"))
            // Here rather than in the refreshed events table, so a refresh never takes the focus away.
            (post_button(session, &format!("{base}/retry"), "Retry failed", "secondary"))
            a .button .secondary href={(base) "/events"} { "Inspect events" }
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
    }
}

/// `text`, unless it is empty.
fn non_empty(text: &str) -> Option<&str> {
    Some(text).filter(|text| !text.is_empty())
}

/// Instance `id`, or the error page to show instead.
pub(super) async fn instance_view(console: &Console, session: &Session, id: &str) -> Result<InstanceView, Response> {
    console
        .management
        .get(id, &session.caller)
        .await
        .map_err(|error| error_page(session, status_of(&error), &error.to_string()))
}

/// The resources and recent events of an instance, refreshed by htmx.
pub async fn activity(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    match activity_section(&console, &session.caller, &id).await {
        Ok(section) => section.into_response(),
        Err(error) => (status_of(&error), error.to_string()).into_response(),
    }
}

/// How many of an instance's latest messages its page shows.
const RECENT_EVENTS: usize = 25;

async fn activity_section(console: &Console, caller: &Caller, id: &str) -> Result<Markup, ManageError> {
    let management = &console.management;
    let resources = management.resources(id, caller).await;
    let events = management.events(id, caller, None, RECENT_EVENTS).await?;
    let delivery = management.delivery_now(id).await?;
    Ok(html! {
        div #activity hx-get={"/console/instances/" (id) "/activity"} hx-trigger=(REFRESH) hx-swap="outerHTML" {
            h2 { "Resources" }
            @match &resources {
                Ok(answer) => {
                    @for resource in &answer.resources { (poll_progress(resource)) }
                    (resources_table(&answer.resources))
                }
                Err(error) => p .error { (error.to_string()) },
            }
            (delivery_now(&delivery))
            h2 { "Recent events" }
            (events_table(id, &events))
        }
    })
}

fn resources_table(resources: &[ResourceView]) -> Markup {
    html! {
        div .table-wrap {
            table #resources {
                (table_head("Resources", &["Resource", "Entity", "Status", "Plugin version", "Watermark", "Last poll", "Next poll", "Push"]))
                tbody {
                    @for resource in resources {
                        tr data-resource=(resource.name) {
                            th scope="row" { (resource.name) br; code .url { (resource.url) } }
                            td { (resource.entity) }
                            td { (resource.status.as_str())
                                @if let Some(reason) = &resource.plugin.waiting_reason { br; span .reason { (reason) } } }
                            td { code title=(or_dash(resource.plugin.version.as_deref())) {
                                (short_version(resource.plugin.version.as_deref())) } }
                            td { (instant(resource.watermark)) }
                            td .last-poll { (last_poll(resource.last_poll.as_ref())) }
                            td { (instant(resource.next_poll)) }
                            td .push { (push(resource.push.as_ref())) }
                        }
                    }
                }
            }
        }
    }
}

/// A running poll's progress bar, labelled with what it counts ("page 12 ·
/// 5,800 of 20,000 records · about 3 min left"); without a total (not a
/// backfill) the bar has no value, which browsers show as busy. Refreshed
/// with the rest of the activity section.
fn poll_progress(resource: &ResourceView) -> Markup {
    let Some(progress) = &resource.progress else {
        return html! {};
    };
    let poll = &progress.poll;
    let text = poll.text();
    let id = format!("progress-{}", resource.name);
    html! {
        div .poll-progress data-resource=(resource.name) {
            label for=(id) { "Polling " strong { (resource.name) } ": " span .progress-text { (text) } }
            @match poll.records_total {
                Some(total) => progress id=(id) max=(total.max(1)) value=(poll.records_read.min(total)) { (text) },
                None => progress id=(id) { (text) },
            }
            p .reason {
                (thousands(poll.records_mapped)) " mapped · " (thousands(poll.messages_stored)) " messages stored · "
                (thousands(progress.messages_delivered)) " delivered since the poll began"
            }
        }
    }
}

/// The instance's delivery right now: what waits, and how fast it goes out.
fn delivery_now(delivery: &DeliveryNow) -> Markup {
    html! {
        p #delivery-now {
            "Delivery: " (thousands(delivery.pending)) " " (if delivery.pending == 1 { "message" } else { "messages" })
            " pending · " (thousands(delivery.delivered_last_minute)) " delivered in the last minute"
        }
    }
}

/// A resource's push: off, or how its webhook is doing and what it received.
fn push(push: Option<&PushView>) -> Markup {
    let Some(push) = push else {
        return html! { "off" };
    };
    html! {
        @if push.active { "active" } @else { span .bad-text { "not active" } }
        @if let Some(problem) = &push.problem { br; span .reason { (problem) } }
        br; "last callout " (instant(push.last_callout))
        br; (count(Some(push.callouts_verified), "callout")) " taken, " (push.callouts_rejected) " refused"
        br; (push.push_gap) " found only by polling"
    }
}

fn last_poll(poll: Option<&LastPollView>) -> Markup {
    let Some(poll) = poll else {
        return html! { "—" };
    };
    html! {
        (instant(Some(poll.started))) br;
        @match &poll.result {
            // Milliseconds as the API writes them (`12.0`).
            Ok(summary) => {
                (count(Some(summary.records as u64), "record")) ", " (count(Some(summary.events as u64), "event")) ", " (format!("{:?}", poll.took_ms)) " ms"
            }
            Err(error) => span .bad-text { (error) },
        }
    }
}

fn events_table(id: &str, events: &[MessageView]) -> Markup {
    html! {
        @if events.is_empty() {
            p #no-events { "No events yet." }
        } @else {
            div .table-wrap {
                table #events {
                    (table_head("Recent events, newest first", &["Created", "Resource", "Events", "Status", "Attempts", "Last error", "Delivered"]))
                    tbody {
                        @for message in events {
                            tr data-status=(message.status.as_str()) {
                                td { a href={"/console/instances/" (id) "/events/" (message.id)} title="Inspect this message" {
                                    (date(Some(&message.created_date))) } }
                                td { (message.resource) }
                                td { ul .plain {
                                    @for event in &message.events {
                                        li { (or_dash(event.event_type.as_deref())) " " (or_dash(event.object_type.as_deref())) " " (or_dash(event.object_id.as_deref())) }
                                    }
                                } }
                                td { span class={"badge " (status_class(message.status))} { (message.status.as_str()) } }
                                td { (message.attempts) }
                                td { (or_dash(message.last_error.as_deref())) }
                                td { (date(message.delivered_date.as_deref())) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn status_class(status: MessageStatus) -> &'static str {
    match status {
        MessageStatus::Delivered => "ok",
        MessageStatus::Retrying => "warn",
        MessageStatus::Failed => "bad",
        MessageStatus::Pending => "muted",
    }
}

pub async fn poll(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    _: Fields,
) -> Response {
    let (shown, status) = match console.management.poll_now(&id, &session.caller, None).await {
        Ok(polled) => {
            let failed: Vec<String> = polled
                .resources
                .iter()
                .filter_map(|r| r.result.as_ref().err().map(|error| format!("{}: {error}", r.name)))
                .collect();
            if failed.is_empty() {
                let summaries = polled.resources.iter().filter_map(|r| r.result.as_ref().ok());
                let (records, events) =
                    summaries.fold((0, 0), |(records, events), s| (records + s.records, events + s.events));
                (notice(&format!("Polled: {records} records, {events} events."), false), StatusCode::OK)
            } else {
                (notice(&format!("The poll failed: {}", failed.join("; ")), true), StatusCode::OK)
            }
        }
        Err(error) => (notice(&error.to_string(), true), status_of(&error)),
    };
    detail_page(&console, &session, &id, Some(shown), status).await
}

pub async fn retry(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    _: Fields,
) -> Response {
    match console.management.retry(&id, &session.caller).await {
        Ok(_) => Redirect::to(&format!("/console/instances/{id}?notice=retried")).into_response(),
        Err(error) => refused(&console, &session, &id, &error).await,
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
    match console.management.set_disabled(&id, &session.caller, disabled).await {
        Ok(_) => {
            let done = if disabled { "disabled" } else { "enabled" };
            Redirect::to(&format!("/console/instances/{id}?notice={done}")).into_response()
        }
        Err(error) => refused(&console, &session, &id, &error).await,
    }
}

/// The instance's page with why an action was refused at the top.
async fn refused(console: &Console, session: &Session, id: &str, error: &ManageError) -> Response {
    detail_page(console, session, id, Some(notice(&error.to_string(), true)), status_of(error)).await
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
    let name = or_dash(view.name.as_deref());
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
    let outbox = fields.iter().find(|(key, _)| key == "outbox").map(|(_, value)| value.as_str());
    let deleted = match OutboxPolicy::parse(outbox) {
        Ok(outbox) => console.management.delete(&id, &session.caller, outbox).await,
        Err(error) => Err(error),
    };
    match deleted {
        Ok(deleted) => {
            tracing::debug!(instance = %id, delivered = deleted.delivered, dropped = deleted.dropped, "deleted from the console");
            Redirect::to("/console/instances").into_response()
        }
        Err(error) => refused(&console, &session, &id, &error).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(active: bool, problem: Option<&str>) -> PushView {
        PushView {
            active,
            webhook_url: Some("https://events.example.com/hooks/autotask/acme/incidents".into()),
            webhook_id: Some(12),
            problem: problem.map(str::to_owned),
            last_check: None,
            last_callout: None,
            callouts_received: 4,
            callouts_verified: 3,
            callouts_rejected: 1,
            changes_pushed: 3,
            push_gap: 2,
            reactivations: 0,
            poll_interval_seconds: 900.0,
        }
    }

    #[test]
    fn the_dry_run_button_sits_next_to_poll_now_and_posts_with_the_csrf_token() {
        let session = Session {
            csrf: "csrf-token".into(),
            caller: Caller { user: "admin".into(), admin: true, element_token: None },
        };
        let html = actions(&session, "/console/instances/acme", false, false).into_string();
        let poll = html.find(r#"action="/console/instances/acme/poll""#).expect("poll now");
        let dry_run = html.find(r#"action="/console/instances/acme/dry-run""#).expect("the dry run's form");
        assert!(poll < dry_run, "after Poll now: {html}");
        let form = &html[dry_run..];
        let form = &form[..form.find("</form>").unwrap()];
        assert!(form.contains(r#"value="csrf-token""#) && form.contains(">Dry run</button>"), "{form}");
    }

    #[test]
    fn a_running_poll_shows_an_accessible_progress_bar_with_its_counts_in_words() {
        use engine::manage::views::{ProgressView, ResourcePlugin};
        use engine::service::progress::PollProgress;
        let poll = PollProgress {
            pages_read: 12,
            records_read: 5_800,
            records_total: Some(20_000),
            records_mapped: 5_700,
            messages_stored: 57,
            started: chrono::Utc::now(),
            eta_seconds: Some(170),
        };
        let mut resource = ResourceView {
            name: "incidents".into(),
            entity: "Tickets".into(),
            url: String::new(),
            status: ResourceState::Polling,
            plugin: ResourcePlugin { path: "incidents.wasm".into(), version: None, waiting_reason: None },
            watermark: None,
            last_poll: None,
            next_poll: None,
            push: None,
            polled_elsewhere: None,
            progress: Some(ProgressView { poll: poll.clone(), messages_pending: 7, messages_delivered: 50 }),
        };
        let html = poll_progress(&resource).into_string();
        assert!(html.contains(r#"<label for="progress-incidents">"#), "labelled: {html}");
        assert!(html.contains(r#"<progress id="progress-incidents" max="20000" value="5800">"#), "{html}");
        assert!(html.contains("page 12 · 5,800 of 20,000 records · about 3 min left"), "{html}");
        assert!(html.contains("50 delivered since the poll began"), "{html}");
        // Not a backfill: no total, so a bar without a value (busy) and no estimate.
        let unknown = PollProgress { records_total: None, eta_seconds: None, ..poll };
        resource.progress = Some(ProgressView { poll: unknown, messages_pending: 0, messages_delivered: 0 });
        let html = poll_progress(&resource).into_string();
        assert!(html.contains(r#"<progress id="progress-incidents">"#) && !html.contains("left"), "{html}");
        resource.progress = None;
        assert_eq!(poll_progress(&resource).into_string(), "", "nothing between polls");
        let delivery = delivery_now(&DeliveryNow { pending: 1, delivered_last_minute: 1_200 }).into_string();
        assert!(delivery.contains("1 message pending · 1,200 delivered in the last minute"), "{delivery}");
    }

    #[test]
    fn the_push_column_says_whether_push_works_what_it_took_and_what_only_polling_found() {
        assert_eq!(push(None).into_string(), "off");
        let active = push(Some(&view(true, None))).into_string();
        for expected in ["active", "3 callouts taken, 1 refused", "2 found only by polling"] {
            assert!(active.contains(expected), "`{expected}` in {active}");
        }
        let broken = push(Some(&view(false, Some("`[server] public_url` is not set")))).into_string();
        assert!(broken.contains("not active") && broken.contains("public_url"), "{broken}");
    }
}
