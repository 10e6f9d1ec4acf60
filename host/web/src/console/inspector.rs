//! The event inspector's pages: an instance's messages searched by object id,
//! event type, resource, status and time; one message whole (each event's
//! payload beside its raw record, the headers, every attempt with its answer,
//! the body as posted); and redelivery of one message or of what a search
//! found. Redeliveries are forms (CSRF-checked posts), answered with a
//! redirect so a reload does not send them again.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use engine::manage::views::MessageView;
use engine::manage::{AttemptView, EventFilter, MessageDetail};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::instances::instance_view;
use super::layout::{Page, csrf_field, date, notice, or_dash, page, short_version, table_head};
use super::session::Session;
use super::{Console, Fields, error_page};
use crate::status::status_of;

/// How many messages a search shows (and a filtered redelivery sends at most).
const SHOWN: usize = 100;

/// The search form's fields, as the query string carries them.
#[derive(Debug, Default, Deserialize)]
pub struct SearchForm {
    #[serde(default, rename = "objectId")]
    object_id: String,
    #[serde(default, rename = "eventType")]
    event_type: String,
    #[serde(default)]
    resource: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    /// How many a redelivery just sent (shown once, after its redirect).
    #[serde(default)]
    redelivered: Option<usize>,
}

impl SearchForm {
    /// The engine's filter. A browser's `datetime-local` field has no zone: it is read as UTC.
    fn filter(&self) -> EventFilter {
        let text = |value: &str| Some(value.trim().to_owned()).filter(|value| !value.is_empty());
        let instant = |value: &str| text(value).map(|value| as_utc(&value));
        EventFilter {
            status: text(&self.status),
            object_id: text(&self.object_id),
            event_type: text(&self.event_type),
            resource: text(&self.resource),
            from: instant(&self.from),
            to: instant(&self.to),
        }
    }

    /// The same search as a query string, to come back to it.
    fn query(&self) -> String {
        let pairs = [
            ("objectId", &self.object_id),
            ("eventType", &self.event_type),
            ("resource", &self.resource),
            ("status", &self.status),
            ("from", &self.from),
            ("to", &self.to),
        ];
        let given: Vec<(&str, &String)> = pairs.into_iter().filter(|(_, value)| !value.is_empty()).collect();
        serde_urlencoded::to_string(given).unwrap_or_default()
    }
}

/// `2024-06-01T12:00` (a `datetime-local` field) as `2024-06-01T12:00:00Z`; anything else as typed.
fn as_utc(value: &str) -> String {
    let local = value.len() == 16 && value.as_bytes().get(10) == Some(&b'T') && !value.contains(['Z', '+']);
    if local { format!("{value}:00Z") } else { value.to_owned() }
}

pub async fn search(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Query(form): Query<SearchForm>,
) -> Response {
    let view = match instance_view(&console, &session, &id).await {
        Ok(view) => view,
        Err(page) => return page,
    };
    let found = console.management.search_events(&id, &session.caller, &form.filter(), SHOWN).await;
    let name = or_dash(view.name.as_deref());
    let base = format!("/console/instances/{id}");
    let status = found.as_ref().err().map_or(StatusCode::OK, status_of);
    let body = html! {
        p .breadcrumbs { a href="/console/instances" { "Instances" } " / " a href=(base) { (name) } " / events" }
        h1 { "Events of " (name) }
        @if let Some(count) = form.redelivered {
            (notice(&format!("{count} message(s) queued for redelivery; they go before newer ones."), false))
        }
        (search_form(&base, &form))
        @match &found {
            Ok(messages) => {
                (results(&base, messages))
                @if !messages.is_empty() && !form.filter().is_empty() {
                    form method="post" action={(base) "/events/redeliver?" (form.query())} .inline {
                        (csrf_field(&session))
                        button type="submit" .secondary {
                            "Redeliver these " (messages.len()) " message" @if messages.len() != 1 { "s" }
                        }
                    }
                }
            }
            Err(error) => (notice(&error.to_string(), true)),
        }
    };
    (status, page(Page { title: &format!("Events of {name}"), session: Some(&session), current: "", body }))
        .into_response()
}

fn search_form(base: &str, form: &SearchForm) -> Markup {
    let statuses = [("", "any"), ("delivered", "delivered"), ("pending", "pending"), ("failed", "failed")];
    html! {
        form method="get" action={(base) "/events"} .search role="search" aria-label="Search events" {
            div .field {
                label for="object-id" { "Object id" }
                input #object-id name="objectId" value=(form.object_id) inputmode="numeric";
            }
            div .field {
                label for="event-type" { "Event type" }
                input #event-type name="eventType" value=(form.event_type) list="event-types";
                datalist #event-types { option value="CREATED"; option value="UPDATED"; option value="DELETED"; }
            }
            div .field {
                label for="resource" { "Resource" }
                input #resource name="resource" value=(form.resource);
            }
            div .field {
                label for="status" { "Status" }
                select #status name="status" {
                    @for (value, label) in statuses {
                        option value=(value) selected[form.status == value] { (label) }
                    }
                }
            }
            div .field {
                label for="from" { "From (UTC)" }
                input #from name="from" type="datetime-local" value=(form.from);
            }
            div .field {
                label for="to" { "To (UTC)" }
                input #to name="to" type="datetime-local" value=(form.to);
            }
            button type="submit" { "Search" }
        }
    }
}

fn results(base: &str, messages: &[MessageView]) -> Markup {
    html! {
        @if messages.is_empty() {
            p #no-events { "No message matches." }
        } @else {
            div .table-wrap {
                table #found-events {
                    (table_head("Messages found, newest first", &["Created", "Message", "Resource", "Events", "Status", "Attempts", "Plugin"]))
                    tbody {
                        @for message in messages {
                            tr data-status=(message.status.as_str()) data-message=(message.id) {
                                td { (date(Some(&message.created_date))) }
                                td { a href={(base) "/events/" (message.id)} { code { (message.id.get(..8).unwrap_or(&message.id)) "…" } } }
                                td { (message.resource) }
                                td { ul .plain {
                                    @for event in &message.events {
                                        li { (or_dash(event.event_type.as_deref())) " " (or_dash(event.object_id.as_deref())) }
                                    }
                                } }
                                td { span class={"badge " (status_class(message.status.as_str()))} { (message.status.as_str()) } }
                                td { (message.attempts) }
                                td { code { (short_version(message.plugin_version.as_deref())) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn status_class(status: &str) -> &'static str {
    match status {
        "delivered" => "ok",
        "retrying" => "warn",
        "failed" => "bad",
        _ => "muted",
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct DetailQuery {
    #[serde(default)]
    redelivered: bool,
}

pub async fn detail(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path((id, message_id)): Path<(String, String)>,
    Query(query): Query<DetailQuery>,
) -> Response {
    let view = match instance_view(&console, &session, &id).await {
        Ok(view) => view,
        Err(page) => return page,
    };
    let detail = match console.management.event_detail(&id, &session.caller, &message_id).await {
        Ok(detail) => detail,
        Err(error) => return error_page(&session, status_of(&error), &error.to_string()),
    };
    let name = or_dash(view.name.as_deref());
    let base = format!("/console/instances/{id}");
    let body = html! {
        p .breadcrumbs {
            a href="/console/instances" { "Instances" } " / " a href=(base) { (name) } " / "
            a href={(base) "/events"} { "events" } " / " (message_id)
        }
        h1 { "Message " code { (message_id) } }
        @if query.redelivered {
            (notice("Queued for redelivery: it goes before newer messages. Reload to see the new attempt.", false))
        }
        (message_facts(&detail))
        form method="post" action={(base) "/events/" (message_id) "/redeliver"} .inline {
            (csrf_field(&session))
            button type="submit" #redeliver { "Redeliver" }
        }
        h2 { "Attempts" }
        (attempts_table(&detail.delivery_attempts))
        h2 { "Headers" }
        (headers_table(&detail.headers))
        h2 { "Events" }
        (events(&detail))
        details .body {
            summary { "The body as posted" }
            pre { code { (pretty(&detail.body)) } }
        }
    };
    page(Page { title: &format!("Message {message_id}"), session: Some(&session), current: "", body }).into_response()
}

fn message_facts(detail: &MessageDetail) -> Markup {
    let summary = &detail.summary;
    html! {
        dl .facts {
            dt { "Status" } dd { span class={"badge " (status_class(summary.status.as_str()))} #message-status { (summary.status.as_str()) } }
            dt { "Resource" } dd { (summary.resource) }
            dt { "Created" } dd { (date(Some(&summary.created_date))) }
            dt { "Delivered" } dd { (date(summary.delivered_date.as_deref())) }
            dt { "Plugin version" } dd { code #plugin-version { (or_dash(summary.plugin_version.as_deref())) } }
            dt { "Last error" } dd { (or_dash(summary.last_error.as_deref())) }
        }
    }
}

fn attempts_table(attempts: &[AttemptView]) -> Markup {
    html! {
        @if attempts.is_empty() {
            p #no-attempts { "Not attempted yet." }
        } @else {
            div .table-wrap {
                table #attempts {
                    (table_head("Delivery attempts, oldest first", &["#", "When", "HTTP status", "Latency", "Host", "Answer (first KB)"]))
                    tbody {
                        @for (number, attempt) in attempts.iter().enumerate() {
                            tr data-delivered=(attempt.delivered) {
                                td { (number + 1) }
                                td { (date(Some(&attempt.date))) }
                                td {
                                    @match attempt.status {
                                        Some(status) => span class={"badge " (if attempt.delivered { "ok" } else { "bad" })} { (status) },
                                        None => span .badge .bad { "no answer" },
                                    }
                                    @if let Some(error) = &attempt.error { br; span .reason { (error) } }
                                }
                                td { (format!("{:.1}", attempt.latency_ms)) " ms" }
                                td { (or_dash(attempt.host.as_deref())) }
                                td { @if attempt.answer.is_empty() { "—" } @else { pre .answer { (attempt.answer) } } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn headers_table(headers: &Value) -> Markup {
    let Some(headers) = headers.as_object().filter(|headers| !headers.is_empty()) else {
        return html! { p { "Sent with the first attempt." } };
    };
    html! {
        div .table-wrap {
            table #headers {
                (table_head("Request headers of the latest attempt", &["Header", "Value"]))
                tbody {
                    @for (name, value) in headers {
                        tr { th scope="row" { code { (name) } } td { code { (value.as_str().unwrap_or_default()) } } }
                    }
                }
            }
        }
    }
}

/// Each event's payload beside the raw record it was made from.
fn events(detail: &MessageDetail) -> Markup {
    html! {
        @for event in &detail.inspected_events {
            section .event aria-label={"Event " (or_dash(event.event_type.as_deref())) " " (or_dash(event.object_id.as_deref()))} {
                h3 { (or_dash(event.event_type.as_deref())) " " (or_dash(event.object_type.as_deref())) " " (or_dash(event.object_id.as_deref())) }
                p .reason { "event " code { (or_dash(event.event_id.as_deref())) } ", " (date(event.event_date.as_deref())) }
                div .side-by-side {
                    div { h4 { "Payload" } pre .payload { code { (pretty(&event.payload)) } } }
                    div {
                        h4 { "Raw record" }
                        @match &event.raw {
                            Some(raw) => pre .raw { code { (pretty(raw)) } },
                            None => p { "Not in the message." },
                        }
                    }
                }
            }
        }
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

pub async fn redeliver_one(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path((id, message_id)): Path<(String, String)>,
    _: Fields,
) -> Response {
    match console.management.redeliver_event(&id, &session.caller, &message_id).await {
        Ok(_) => Redirect::to(&format!("/console/instances/{id}/events/{message_id}?redelivered=true")).into_response(),
        Err(error) => error_page(&session, status_of(&error), &error.to_string()),
    }
}

pub async fn redeliver(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Query(form): Query<SearchForm>,
    _: Fields,
) -> Response {
    match console.management.redeliver_events(&id, &session.caller, &form.filter(), SHOWN).await {
        Ok(done) => {
            let query = form.query();
            let count = done.redelivered.len();
            Redirect::to(&format!("/console/instances/{id}/events?{query}&redelivered={count}")).into_response()
        }
        Err(error) => error_page(&session, status_of(&error), &error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_browsers_local_date_time_is_read_as_utc() {
        assert_eq!(as_utc("2024-06-01T12:00"), "2024-06-01T12:00:00Z");
        assert_eq!(as_utc("2024-06-01T12:00:00+02:00"), "2024-06-01T12:00:00+02:00");
        let form = SearchForm { object_id: "7".into(), from: "2024-06-01T12:00".into(), ..SearchForm::default() };
        assert_eq!(form.query(), "objectId=7&from=2024-06-01T12%3A00");
        assert_eq!(form.filter().from.as_deref(), Some("2024-06-01T12:00:00Z"));
    }
}
