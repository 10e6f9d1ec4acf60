//! From a Cloud Elements poll URL to the Autotask REST query it stands for.
//!
//! Cloud Elements resources name what to poll by hub path
//! (`/hubs/helpdesk/incidents`) and narrow it with a CEQL `where` clause; the
//! Autotask REST API wants an entity (`Tickets`) and a JSON filter, sent as
//! `POST /v1.0/{Entity}/query`. This module maps the path and hands the clause to
//! [`super::ceql`].
//!
//! | poll URL path | Autotask entity |
//! |---|---|
//! | `/hubs/helpdesk/incidents` | `Tickets` |
//! | `/hubs/helpdesk/incidents/{id}/comments` | `TicketNotes`, with `ticketID eq {id}` added |
//! | `/hubs/helpdesk/comments` | `TicketNotes` (all notes: how a poller follows every ticket's comments) |
//! | `/hubs/helpdesk/accounts`, `/hubs/crm/accounts` | `Companies` |
//! | `/hubs/helpdesk/contacts`, `/hubs/crm/contacts` | `Contacts` |
//! | `/{Entity}`: one segment starting with an uppercase letter (`/Projects`) | that entity |
//!
//! One trailing `/` on the path is allowed. Of the query parameters only `where`
//! is used; `orderBy` is accepted and ignored, because Autotask returns query
//! results in id order whatever is asked (and pages by id); anything else
//! (`pageSize`, ...) is an error rather than silently dropped. A URL with no
//! `where` (or only the comments path's `ticketID`) still needs a filter, as
//! Autotask rejects an empty one: it gets `{"op":"exist","field":"id"}`, which
//! every record meets.

use serde::{Deserialize, Serialize};

use super::ceql::parse_where;
use super::filter::{Filter, Op, QueryBody};

/// An Autotask REST query: `POST /v1.0/{entity}/query` with `body`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutotaskQuery {
    /// The Autotask entity, plural as in its REST URL (`Tickets`).
    pub entity: String,
    /// The query body.
    pub body: QueryBody,
}

/// A poll URL that cannot become an Autotask query, with where and why.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("poll URL `{url}`, at character {position}: {message}")]
pub struct QueryError {
    pub url: String,
    /// 0-based character position in the URL.
    pub position: usize,
    pub message: String,
}

/// Hub paths that map to one entity as they are.
const HUBS: [(&str, &str); 6] = [
    ("/hubs/helpdesk/incidents", "Tickets"),
    ("/hubs/helpdesk/comments", "TicketNotes"),
    ("/hubs/helpdesk/accounts", "Companies"),
    ("/hubs/crm/accounts", "Companies"),
    ("/hubs/helpdesk/contacts", "Contacts"),
    ("/hubs/crm/contacts", "Contacts"),
];

const COMMENTS_PREFIX: &str = "/hubs/helpdesk/incidents/";
const COMMENTS_SUFFIX: &str = "/comments";

/// The Autotask query a rendered poll URL (placeholders already filled in) stands for.
pub fn autotask_query(url: &str) -> Result<AutotaskQuery, QueryError> {
    let error = |position: usize, message: String| QueryError { url: url.to_string(), position, message };
    let (path, query) = url.split_once('?').map_or((url, None), |(path, query)| (path, Some(query)));
    let (entity, mut filter) = entity(path).map_err(|(position, message)| error(position, message))?;

    let mut clause_seen = false;
    let mut unknown = Vec::new();
    let query_start = path.chars().count() + 1;
    for (offset, parameter) in query.map(parameters).unwrap_or_default() {
        let position = query_start + offset;
        let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
        match name {
            "where" if clause_seen => return Err(error(position, "`where` is given twice".into())),
            "where" => {
                clause_seen = true;
                let value_start = position + "where=".len();
                let clause = parse_where(value).map_err(|e| error(value_start + e.position, e.message))?;
                filter.extend(clause);
            }
            "orderBy" => {}
            _ => unknown.push((position, name)),
        }
    }
    if let Some(&(position, _)) = unknown.first() {
        let names: Vec<String> = unknown.iter().map(|(_, name)| format!("`{name}`")).collect();
        return Err(error(
            position,
            format!(
                "unsupported query parameter {}: only `where` is used (`orderBy` is ignored: Autotask returns \
                 records in id order)",
                names.join(", ")
            ),
        ));
    }
    if filter.is_empty() {
        filter.push(Filter::presence(Op::Exist, "id"));
    }
    Ok(AutotaskQuery { entity, body: QueryBody::new(filter) })
}

/// The entity for a path and the filters the path itself implies, or the
/// position and message of why there is none.
fn entity(path: &str) -> Result<(String, Vec<Filter>), (usize, String)> {
    let path = path.strip_suffix('/').filter(|p| !p.is_empty()).unwrap_or(path);
    if let Some(&(_, entity)) = HUBS.iter().find(|(hub, _)| *hub == path) {
        return Ok((entity.to_string(), Vec::new()));
    }
    if let Some(id) = path.strip_prefix(COMMENTS_PREFIX).and_then(|rest| rest.strip_suffix(COMMENTS_SUFFIX)) {
        let ticket = id.bytes().all(|b| b.is_ascii_digit()).then(|| id.parse::<u64>().ok()).flatten();
        return match ticket {
            Some(ticket) => Ok(("TicketNotes".into(), vec![Filter::condition(Op::Eq, "ticketID", ticket)])),
            None => Err((
                COMMENTS_PREFIX.len(),
                format!("`{id}` in `{COMMENTS_PREFIX}{{id}}{COMMENTS_SUFFIX}` is not a ticket id (a number)"),
            )),
        };
    }
    if let Some(name) = path.strip_prefix('/')
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Ok((name.to_string(), Vec::new()));
    }
    let known: Vec<String> = HUBS
        .iter()
        .map(|(hub, _)| format!("`{hub}`"))
        .chain([format!("`{COMMENTS_PREFIX}{{id}}{COMMENTS_SUFFIX}`")])
        .collect();
    Err((
        0,
        format!(
            "unknown hub path `{path}` (known: {}, or `/{{Entity}}` for an Autotask entity such as `/Projects`)",
            known.join(", ")
        ),
    ))
}

/// The `&`-separated parameters of a query string with their character offsets;
/// an `&` inside a single-quoted CEQL string does not separate.
fn parameters(query: &str) -> Vec<(usize, &str)> {
    let mut parameters = Vec::new();
    let mut quoted = false;
    let (mut start_byte, mut start_char) = (0, 0);
    for (index, (byte, c)) in query.char_indices().chain([(query.len(), '&')]).enumerate() {
        match c {
            '\'' => quoted = !quoted,
            '&' if !quoted || byte == query.len() => {
                if byte > start_byte {
                    parameters.push((start_char, &query[start_byte..byte]));
                }
                (start_byte, start_char) = (byte + 1, index + 1);
            }
            _ => {}
        }
    }
    parameters
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn query(url: &str) -> AutotaskQuery {
        autotask_query(url).unwrap_or_else(|e| panic!("{e}"))
    }

    fn filter(url: &str) -> Value {
        serde_json::to_value(query(url).body.filter).unwrap()
    }

    #[test]
    fn maps_every_hub_path() {
        for (path, entity) in [
            ("/hubs/helpdesk/incidents", "Tickets"),
            ("/hubs/helpdesk/comments", "TicketNotes"),
            ("/hubs/helpdesk/accounts", "Companies"),
            ("/hubs/crm/accounts", "Companies"),
            ("/hubs/helpdesk/contacts", "Contacts"),
            ("/hubs/crm/contacts", "Contacts"),
            ("/hubs/helpdesk/incidents/", "Tickets"),
            ("/Projects", "Projects"),
            ("/TimeEntries", "TimeEntries"),
            ("/Tickets", "Tickets"),
        ] {
            let query = query(&format!("{path}?where=lastActivityDate>='2024-06-01T12:34:56+0000'"));
            assert_eq!(query.entity, entity, "{path}");
            assert_eq!(
                serde_json::to_value(&query.body.filter).unwrap(),
                json!([{"op": "gte", "field": "lastActivityDate", "value": "2024-06-01T12:34:56Z"}]),
                "{path}"
            );
        }
    }

    #[test]
    fn a_tickets_comments_are_its_notes() {
        let query = query("/hubs/helpdesk/incidents/42/comments?where=lastActivityDate>='2024-06-01T12:34:56Z'");
        assert_eq!(query.entity, "TicketNotes");
        assert_eq!(
            serde_json::to_value(&query.body.filter).unwrap(),
            json!([
                {"op": "eq", "field": "ticketID", "value": 42},
                {"op": "gte", "field": "lastActivityDate", "value": "2024-06-01T12:34:56Z"},
            ])
        );
        assert_eq!(
            filter("/hubs/helpdesk/incidents/42/comments"),
            json!([{"op": "eq", "field": "ticketID", "value": 42}])
        );

        let error = autotask_query("/hubs/helpdesk/incidents/abc/comments").unwrap_err();
        assert_eq!(error.position, 25);
        assert_eq!(error.message, "`abc` in `/hubs/helpdesk/incidents/{id}/comments` is not a ticket id (a number)");
        assert_eq!(autotask_query("/hubs/helpdesk/incidents//comments").unwrap_err().position, 25);
    }

    #[test]
    fn serializes_as_entity_and_body() {
        let query = query("/hubs/helpdesk/incidents?where=lastActivityDate>='2024-06-01T12:34:56+0000'");
        assert_eq!(
            serde_json::to_string(&query).unwrap(),
            r#"{"entity":"Tickets","body":{"filter":[{"op":"gte","field":"lastActivityDate","value":"2024-06-01T12:34:56Z"}]}}"#
        );
        let back: AutotaskQuery = serde_json::from_str(&serde_json::to_string(&query).unwrap()).unwrap();
        assert_eq!(back, query);
    }

    #[test]
    fn without_a_where_clause_every_record_matches() {
        for url in ["/hubs/helpdesk/comments", "/Projects?", "/Projects?orderBy=id"] {
            assert_eq!(filter(url), json!([{"op": "exist", "field": "id"}]), "{url}");
        }
    }

    #[test]
    fn only_where_is_used_and_order_by_is_ignored() {
        assert_eq!(
            filter("/hubs/helpdesk/incidents?orderBy=id&where=status=1&"),
            json!([{"op": "eq", "field": "status", "value": 1}])
        );
        assert_eq!(
            filter("/Companies?where=companyName='A&B'"),
            json!([{"op": "eq", "field": "companyName", "value": "A&B"}])
        );

        let error = autotask_query("/hubs/helpdesk/incidents?where=id>0&pageSize=5&foo").unwrap_err();
        assert_eq!(error.position, 36);
        assert_eq!(
            error.message,
            "unsupported query parameter `pageSize`, `foo`: only `where` is used (`orderBy` is ignored: Autotask \
             returns records in id order)"
        );
        let error = autotask_query("/Tickets?where=id>0&where=id<9").unwrap_err();
        assert_eq!((error.position, error.message.as_str()), (20, "`where` is given twice"));
    }

    #[test]
    fn clause_errors_are_placed_in_the_whole_url() {
        let url = "/hubs/helpdesk/incidents?where=lastActivityDate>='2024-06-01T12:34:56+0000''";
        let error = autotask_query(url).unwrap_err();
        assert_eq!(error.position, 49);
        assert_eq!(
            error.to_string(),
            format!(
                "poll URL `{url}`, at character 49: unterminated string: this `'` is never closed (a quote inside a \
                 string is written `''`)"
            )
        );
        assert_eq!(autotask_query("/Tickets?orderBy=id&where=status == 1").unwrap_err().position, 33);
        assert_eq!(autotask_query("/Tickets?where=(status = 1").unwrap_err().position, 15);
        assert_eq!(autotask_query("/Tickets?where=status = 1 title").unwrap_err().position, 26);
        assert_eq!(autotask_query("/Tickets?where=title='été' and x ~ 1").unwrap_err().position, 33, "in characters");
        assert_eq!(autotask_query("/Tickets?where=%20%20x ~ 1").unwrap_err().position, 23, "as encoded");
        let error = autotask_query("/Tickets?where=").unwrap_err();
        assert_eq!((error.position, error.message.as_str()), (15, "the where clause is empty"));
    }

    #[test]
    fn unknown_hub_paths_list_the_known_ones() {
        for url in ["/hubs/helpdesk/tickets?where=id>0", "/projects", "/Time-Entries", "/Tickets/5", "/", ""] {
            let error = autotask_query(url).unwrap_err();
            assert_eq!(error.position, 0, "{url}");
            assert!(error.message.starts_with("unknown hub path"), "{url}: {}", error.message);
        }
        let error = autotask_query("/hubs/helpdesk/tickets?where=id>0").unwrap_err();
        assert_eq!(
            error.message,
            "unknown hub path `/hubs/helpdesk/tickets` (known: `/hubs/helpdesk/incidents`, `/hubs/helpdesk/comments`, \
             `/hubs/helpdesk/accounts`, `/hubs/crm/accounts`, `/hubs/helpdesk/contacts`, `/hubs/crm/contacts`, \
             `/hubs/helpdesk/incidents/{id}/comments`, or `/{Entity}` for an Autotask entity such as `/Projects`)"
        );
    }
}
