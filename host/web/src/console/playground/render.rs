//! The playground as HTML: the resource, the try form (every field labelled,
//! its error beside it), and a try's result: each record's events by both
//! versions side by side, what changed (marked `<del>`/`<ins>` and `-`/`+`,
//! never by colour alone), each version's failures, and the activation.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use engine::manage::views::PluginVersionView;
use engine::manage::{PluginTryView, TrySide};
use engine::tryout::{Diff, RecordChange};
use maud::{Markup, html};
use serde_json::Value;

use super::choices::{Chosen, why_only_admins};
use super::records::{FieldError, PASTED_FIELD, RECENT_RECORDS, RecordSource, SAMPLE_RECORDS};
use super::submitted::{LANGUAGES, NewSource, TryForm};
use crate::console::layout::{Page, count, csrf_field, date, notice, page, short_version};
use crate::console::session::Session;

/// What a try made, and how to activate its new side.
pub(super) struct Tried {
    pub(super) view: PluginTryView,
    pub(super) activation: Activation,
}

/// What "Activate this version" activates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Activation {
    /// A stored version of the plugin.
    Version { plugin: String, version: i64 },
    /// The bytes just tried, kept as the user's draft (admins only).
    Draft { name: String, sha256: String },
    /// Tried by a user who may not activate (nothing is kept): the button is disabled, saying why.
    NotAllowed,
}

/// Everything the page shows.
pub(super) struct View<'a> {
    pub(super) resources: &'a [String],
    pub(super) chosen: Option<&'a Chosen>,
    pub(super) form: &'a TryForm,
    pub(super) errors: &'a [FieldError],
    pub(super) tried: Option<&'a Tried>,
    /// A notice at the top: text, and whether it is an error.
    pub(super) notice: Option<(String, bool)>,
}

pub(super) fn playground_page(session: &Session, view: &View<'_>, status: StatusCode) -> Response {
    let body = html! {
        h1 { "Plugin playground" }
        @if let Some((text, error)) = &view.notice { (notice(text, *error)) }
        p {
            "Try a new version of a plugin on records before it serves: stored versions, a pasted script or a file, "
            "side by side with the version serving, and what changes. Nothing is stored or swapped until you activate it."
        }
        (resource_chooser(view.resources, view.form.resource.as_str()))
        @if view.resources.is_empty() {
            p { "No plugin is loaded: put a plugin file into the plugin directory, or upload one, first." }
        }
        @if let Some(chosen) = view.chosen {
            (current(chosen))
            (error_summary(view.errors))
            (try_form(session, chosen, view.form, view.errors))
            @if let Some(tried) = view.tried { (result(session, &tried.view, &tried.activation)) }
        }
    };
    (status, page(Page { title: "Plugin playground", session: Some(session), current: "playground", body }))
        .into_response()
}

/// A small GET form: the playground of another resource.
fn resource_chooser(resources: &[String], chosen: &str) -> Markup {
    html! {
        form method="get" action="/console/playground" .actions #resource-chooser {
            label for="resource" { "Resource" }
            select #resource name="resource" {
                @for resource in resources {
                    option value=(resource) selected[resource == chosen] { (resource) }
                }
            }
            button type="submit" .secondary { "Choose" }
        }
    }
}

/// The plugin serving the resource: the "current" side of every try.
fn current(chosen: &Chosen) -> Markup {
    html! {
        dl .facts #current {
            dt { "Plugin" } dd { code { (chosen.plugin) } }
            dt { "Current version" }
            dd {
                @match chosen.active() {
                    Some(active) => { "version " (active.version) ", uploaded by " (active.uploaded_by) " at " (date(Some(active.uploaded_at.as_str()))) }
                    None => { "the file in the plugin directory (never uploaded)" }
                }
                " · " code title=(chosen.current_sha256.as_deref().unwrap_or("—")) { (short_version(chosen.current_sha256.as_deref())) }
            }
        }
    }
}

fn error_summary(errors: &[FieldError]) -> Markup {
    html! {
        @if !errors.is_empty() {
            div .error-summary role="alert" aria-labelledby="error-summary-title" tabindex="-1" {
                h2 #error-summary-title { "There is a problem" }
                ul { @for (field, message) in errors { li { a href={"#" (element_id(field))} { (message) } } } }
            }
        }
    }
}

/// The element a form field's error points at.
fn element_id(field: &str) -> &'static str {
    match field {
        "version" => "version",
        "language" => "language",
        "script" => "script",
        "file" => "file",
        PASTED_FIELD => "records-json",
        "records" => "records-choice",
        _ => "new-choice",
    }
}

fn errors_at<'a>(errors: &'a [FieldError], field: &str) -> Vec<&'a str> {
    errors.iter().filter(|(at, _)| *at == field).map(|(_, message)| message.as_str()).collect()
}

/// A field's errors, with the id its input names in `aria-describedby`.
fn field_errors(errors: &[FieldError], field: &str) -> Markup {
    let messages = errors_at(errors, field);
    html! {
        @if !messages.is_empty() {
            span .field-error #(format!("{}-error", element_id(field))) { @for message in messages { (message) br; } }
        }
    }
}

fn described_by(errors: &[FieldError], field: &str) -> Option<String> {
    (!errors_at(errors, field).is_empty()).then(|| format!("{}-error", element_id(field)))
}

fn try_form(session: &Session, chosen: &Chosen, form: &TryForm, errors: &[FieldError]) -> Markup {
    let others: Vec<&PluginVersionView> = chosen.others().collect();
    let radio = |source: NewSource, label: &str| {
        let id = format!("new-{}", source.value());
        html! {
            div .choice {
                input #(id) type="radio" name="new" value=(source.value()) checked[form.new_source == source];
                label for=(id) { (label) }
            }
        }
    };
    let records_radio = |source: RecordSource, label: String| {
        let id = format!("records-{}", source.value());
        html! {
            div .choice {
                input #(id) type="radio" name="records" value=(source.value()) checked[form.records_source == source];
                label for=(id) { (label) }
            }
        }
    };
    html! {
        form method="post" action="/console/playground" enctype="multipart/form-data" #try-form novalidate {
            // First, so the token check finds it before a large file.
            (csrf_field(session))
            input type="hidden" name="resource" value=(chosen.resource);
            fieldset #new-choice {
                legend { "1. The new version, tried against the current one" }
                (field_errors(errors, "new"))
                (radio(NewSource::Version, "A stored version"))
                div .field .indented {
                    label for="version" { "Stored version" }
                    @if others.is_empty() {
                        span .hint #version-hint { "No other stored version of " (chosen.plugin) ": paste a script or upload a file." }
                    }
                    (field_errors(errors, "version"))
                    select #version name="version" aria-describedby=[described_by(errors, "version")] {
                        @for version in &others {
                            option value=(version.version) selected[form.version == version.version.to_string()] {
                                "version " (version.version) " — " (short_version(Some(version.sha256.as_str()))) ", uploaded by " (version.uploaded_by)
                            }
                        }
                    }
                }
                (radio(NewSource::Script, "A script, pasted here"))
                div .field .indented {
                    label for="language" { "Language" }
                    (field_errors(errors, "language"))
                    select #language name="language" {
                        @for (extension, label) in LANGUAGES {
                            option value=(extension) selected[form.language == extension] { (label) }
                        }
                    }
                }
                div .field .indented {
                    label for="script" { "Script" }
                    span .hint #script-hint { "The whole script, as the plugin file " (chosen.resource) ".js or .py would hold it." }
                    (field_errors(errors, "script"))
                    textarea #script name="script" rows="12" spellcheck="false"
                        aria-describedby=(described_by(errors, "script").map_or("script-hint".to_owned(), |error| format!("script-hint {error}"))) {
                        (form.script)
                    }
                }
                (radio(NewSource::File, "A file"))
                div .field .indented {
                    label for="file" { "File" }
                    span .hint #file-hint { "A .wasm component, or a .js or .py script, up to " ((crate::api::MAX_PLUGIN_BYTES) >> 20) " MiB; tried as " (chosen.resource) " with its extension." }
                    (field_errors(errors, "file"))
                    input #file type="file" name="file" accept=".wasm,.js,.py"
                        aria-describedby=(described_by(errors, "file").map_or("file-hint".to_owned(), |error| format!("file-hint {error}")));
                }
            }
            fieldset #records-choice {
                legend { "2. Records" }
                (field_errors(errors, "records"))
                (records_radio(RecordSource::Recent, format!("Recent records: the latest {RECENT_RECORDS} {} records delivered", chosen.resource)))
                (records_radio(RecordSource::Sample, format!("Sample records: {SAMPLE_RECORDS} from the simulator")))
                (records_radio(RecordSource::Pasted, "Records pasted here".to_owned()))
                div .field .indented {
                    label for="records-json" { "Records (JSON)" }
                    span .hint #records-json-hint { "A raw Autotask record (a JSON object) or an array of them, as a poll reads them." }
                    (field_errors(errors, PASTED_FIELD))
                    textarea #records-json name="records_json" rows="8" spellcheck="false"
                        aria-invalid=[described_by(errors, PASTED_FIELD).map(|_| "true")]
                        aria-describedby=(described_by(errors, PASTED_FIELD).map_or("records-json-hint".to_owned(), |error| format!("records-json-hint {error}"))) {
                        (form.records_json)
                    }
                }
            }
            div .actions { button type="submit" { "Try" } }
        }
    }
}

/// `incidents.js version 2`, `incidents.wasm (serving file)`, `incidents.js (not stored yet)`.
pub(super) fn side_label(side: &TrySide) -> String {
    match (side.version, side.source) {
        (Some(version), _) => format!("{} version {version}", side.name),
        (None, "serving") => format!("{} (serving file)", side.name),
        (None, _) => format!("{} (not stored yet)", side.name),
    }
}

fn result(session: &Session, view: &PluginTryView, activation: &Activation) -> Markup {
    let (old, new) = (side_label(&view.old), side_label(&view.new));
    let diff = &view.diff;
    html! {
        section #try-result aria-labelledby="try-result-title" {
            h2 #try-result-title { "Result" }
            p .notice role="status" #try-summary {
                (count(Some(diff.records as u64), "record")) " tried: " (diff.identical) " identical, " (diff.changed.len()) " changed, "
                (diff.failed.len()) " failing differently. Current: " (old) "; new: " (new) "."
            }
            h3 { "Events side by side" }
            div .table-wrap {
                table #side-by-side .side-by-side {
                    caption .visually-hidden { "Each record's events, by the current and the new version" }
                    thead { tr { th scope="col" { "Record" } th scope="col" { "Current: " (old) } th scope="col" { "New: " (new) } } }
                    tbody {
                        @for record in &view.results {
                            tr {
                                th scope="row" { (record_name(record["objectId"].as_str(), record["index"].as_u64().unwrap_or(0) as usize)) }
                                td .old { (outcome(&record["old"], record)) }
                                td .new { (outcome(&record["new"], record)) }
                            }
                        }
                    }
                }
            }
            h3 { "Differences, current to new" }
            (differences(diff))
            (activate(session, activation, &new))
        }
    }
}

/// `record #42`, or `record 3` (its place) when it has no id.
fn record_name(object_id: Option<&str>, index: usize) -> String {
    match object_id {
        Some(id) => format!("record #{id}"),
        None => format!("record {} (no id)", index + 1),
    }
}

/// One side's events for a record, or its error naming the record.
fn outcome(side: &Value, record: &Value) -> Markup {
    let name = record_name(record["objectId"].as_str(), record["index"].as_u64().unwrap_or(0) as usize);
    html! {
        @if let Some(error) = side["error"].as_str() {
            p .field-error { "Fails on " (name) ": " (error) }
        } @else {
            @let events = side["events"].as_array().map(Vec::as_slice).unwrap_or_default();
            @if events.is_empty() { p .hint { "No events" } }
            @for event in events { (event_markup(event)) }
        }
    }
}

fn event_markup(event: &Value) -> Markup {
    html! {
        div .event {
            strong { (event["eventType"].as_str().unwrap_or("?")) } " "
            code { (event["objectType"].as_str().unwrap_or("")) " " (event["objectId"].as_str().unwrap_or("")) }
            pre { code { (pretty(&event["payload"])) } }
        }
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

fn differences(diff: &Diff) -> Markup {
    html! {
        div #diff {
            @if diff.is_identical() {
                p #no-differences { "No differences: the new version makes exactly the events the current one makes of these records." }
            }
            @for change in &diff.changed { (record_change(change)) }
            @for failure in &diff.failed {
                div .record-change {
                    h4 { (record_name(failure.object_id.as_deref(), failure.index)) }
                    p {
                        "Current: " @match &failure.old { Some(error) => span .field-error { "fails: " (error) }, None => "maps it" }
                        br;
                        "New: " @match &failure.new { Some(error) => span .field-error { "fails: " (error) }, None => "maps it" }
                    }
                }
            }
        }
    }
}

fn record_change(change: &RecordChange) -> Markup {
    html! {
        div .record-change {
            h4 { (record_name(change.object_id.as_deref(), change.index)) }
            @for event in &change.removed {
                del .event-change {
                    span .marker { "− removed event " } (event_title(event))
                    pre { code { (pretty(event)) } }
                }
            }
            @for event in &change.added {
                ins .event-change {
                    span .marker { "+ added event " } (event_title(event))
                    pre { code { (pretty(event)) } }
                }
            }
            @for event in &change.changed {
                div .event-change {
                    span .marker { "Changed event " } (event_title(&event.before))
                    pre .diff { code { @for line in event.diff.lines() { (diff_line(line)) "\n" } } }
                }
            }
        }
    }
}

fn event_title(event: &Value) -> String {
    let text = |key: &str| event[key].as_str().unwrap_or("").to_owned();
    format!("{} {} {}", text("eventType"), text("objectType"), text("objectId"))
}

/// A line of a JSON diff: `-` removed, `+` added, else unchanged context.
fn diff_line(line: &str) -> Markup {
    html! {
        @match line.chars().next() {
            Some('-') => del { (line) },
            Some('+') => ins { (line) },
            _ => span { (line) },
        }
    }
}

fn activate(session: &Session, activation: &Activation, label: &str) -> Markup {
    html! {
        section #activate aria-labelledby="activate-title" {
            h3 #activate-title { "Activate this version" }
            @match activation {
                Activation::NotAllowed => {
                    button type="button" disabled aria-describedby="activate-why" { "Activate " (label) }
                    p .hint #activate-why { (why_only_admins(&session.caller)) }
                }
                _ => {
                    p .hint { "It is checked and swapped in as a file dropped into the plugin directory is: a version that fails to load is refused, and nothing changes." }
                    form method="post" action="/console/playground/activate" {
                        (csrf_field(session))
                        @match activation {
                            Activation::Version { plugin, version } => {
                                input type="hidden" name="plugin" value=(plugin);
                                input type="hidden" name="version" value=(version);
                            }
                            Activation::Draft { name, sha256 } => {
                                input type="hidden" name="plugin" value=(name);
                                input type="hidden" name="draft" value=(sha256);
                            }
                            Activation::NotAllowed => {}
                        }
                        button type="submit" { "Activate " (label) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use engine::tryout::{EventChange, RecordFailure};
    use serde_json::json;

    use super::*;

    #[test]
    fn changes_are_marked_with_del_and_ins_and_signs_not_colour_alone() {
        let event = |mapping: &str| json!({"eventType": "UPDATED", "objectType": "incidents", "objectId": "7", "payload": {"mapping": mapping}});
        let diff = Diff {
            records: 2,
            identical: 0,
            changed: vec![RecordChange {
                index: 0,
                object_id: Some("7".into()),
                removed: vec![event("gone")],
                added: vec![event("<b>new</b>")],
                changed: vec![EventChange {
                    before: event("v1"),
                    after: event("v2"),
                    diff: "   {\n-    \"mapping\": \"v1\"\n+    \"mapping\": \"v2\"\n".into(),
                }],
            }],
            failed: vec![RecordFailure { index: 1, object_id: None, old: None, new: Some("TypeError: x".into()) }],
        };
        let html = differences(&diff).into_string();
        assert!(html.contains("<del>-    &quot;mapping&quot;: &quot;v1&quot;</del>"), "{html}");
        assert!(html.contains("<ins>+    &quot;mapping&quot;: &quot;v2&quot;</ins>"), "{html}");
        assert!(html.contains("− removed event </span>UPDATED incidents 7"), "{html}");
        assert!(html.contains("+ added event </span>UPDATED incidents 7"), "{html}");
        assert!(html.contains("&lt;b&gt;new&lt;/b&gt;") && !html.contains("<b>new</b>"), "escaped: {html}");
        assert!(html.contains("<h4>record 2 (no id)</h4>") && html.contains("fails: TypeError: x"), "{html}");
        assert!(!html.contains("No differences"), "{html}");
    }

    #[test]
    fn a_failing_record_is_named_on_its_side() {
        let record = json!({"index": 0, "objectId": "42", "old": {"events": []}, "new": {"error": "boom"}});
        assert_eq!(
            outcome(&record["new"], &record).into_string(),
            r#"<p class="field-error">Fails on record #42: boom</p>"#
        );
        assert!(outcome(&record["old"], &record).into_string().contains("No events"));
    }
}
