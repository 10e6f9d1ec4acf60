//! The frame every console page shares, and small pieces of markup the pages reuse.

use chrono::{DateTime, Utc};
use engine::manage::views::format_date;
use maud::{DOCTYPE, Markup, html};

use super::session::{CSRF_FIELD, Session};

pub struct Page<'a> {
    pub title: &'a str,
    /// `None` on the sign-in page: no navigation, no CSRF header.
    pub session: Option<&'a Session>,
    /// The navigation entry to mark as the current page.
    pub current: &'a str,
    pub body: Markup,
}

const NAVIGATION: [(&str, &str, &str); 4] = [
    ("instances", "/console/instances", "Instances"),
    ("new", "/console/instances/new", "Create instance"),
    ("plugins", "/console/plugins", "Plugins"),
    ("playground", "/console/playground", "Playground"),
];

pub fn page(page: Page<'_>) -> Markup {
    // htmx sends this header with every request it makes, so its POSTs carry the token.
    let htmx_headers = page.session.map(|session| serde_json::json!({"X-CSRF-Token": session.csrf}).to_string());
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // htmx would add an inline <style> for its indicators, which the CSP refuses; none are used.
                meta name="htmx-config" content=r#"{"includeIndicatorStyles":false}"#;
                title { (page.title) " · autotask-events" }
                link rel="stylesheet" href="/console/static/console.css";
                script src="/console/static/htmx.min.js" defer {}
            }
            body hx-headers=[htmx_headers] {
                a .skip href="#main" { "Skip to content" }
                header {
                    span .brand { "autotask-events" }
                    @if let Some(session) = page.session {
                        nav aria-label="Main" {
                            ul {
                                @for (key, href, label) in NAVIGATION {
                                    li {
                                        a href=(href) aria-current=[(key == page.current).then_some("page")] { (label) }
                                    }
                                }
                            }
                        }
                        form method="post" action="/console/sign-out" .sign-out {
                            (csrf_field(session))
                            button type="submit" .link { "Sign out" }
                        }
                    }
                }
                main #main { (page.body) }
                footer {
                    a href="/console/api" { "API (OpenAPI)" }
                }
            }
        }
    }
}

/// The hidden field every form carries.
pub fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(session.csrf); }
}

/// A button that posts to `action` (with the CSRF token), without JavaScript.
pub fn post_button(session: &Session, action: &str, label: &str, class: &str) -> Markup {
    html! {
        form method="post" action=(action) .inline {
            (csrf_field(session))
            button type="submit" class=(class) { (label) }
        }
    }
}

/// A table's caption (for screen readers) and its column headers.
pub fn table_head(caption: &str, columns: &[&str]) -> Markup {
    html! {
        caption .visually-hidden { (caption) }
        thead { tr { @for column in columns { th scope="col" { (column) } } } }
    }
}

/// A value as text, or a dash when there is none.
pub fn or_dash(value: Option<&str>) -> String {
    value.unwrap_or("—").to_owned()
}

/// `1 record`, `2 records`.
pub fn count(value: Option<u64>, noun: &str) -> String {
    match value {
        Some(1) => format!("1 {noun}"),
        Some(number) => format!("{number} {noun}s"),
        None => format!("— {noun}s"),
    }
}

/// A date (`2026-11-27T14:02:11.412Z`) shortened for a table, in a `<time>`
/// element carrying the full value.
pub fn date(value: Option<&str>) -> Markup {
    match value {
        Some(full) => {
            let shown = full.get(..19).unwrap_or(full).replace('T', " ");
            html! { time datetime=(full) title=(full) { (shown) " UTC" } }
        }
        None => html! { "—" },
    }
}

/// An instant, as [`date`] shows it.
pub fn instant(value: Option<DateTime<Utc>>) -> Markup {
    date(value.map(format_date).as_deref())
}

/// The first 12 hex digits of a plugin version, or a dash.
pub fn short_version(version: Option<&str>) -> String {
    version.map(|v| v[..v.len().min(12)].to_owned()).unwrap_or_else(|| "—".into())
}

/// A notice at the top of a page: `role=status` for news, `role=alert` for errors.
pub fn notice(text: &str, error: bool) -> Markup {
    html! {
        @if error {
            p .notice .error role="alert" { (text) }
        } @else {
            p .notice role="status" { (text) }
        }
    }
}
