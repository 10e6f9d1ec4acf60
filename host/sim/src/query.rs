//! Query bodies and paging, as `POST /v1.0/{Entity}/query` takes and answers them.
//!
//! Results come ordered by id, at most `MaxRecords` (≤ 500) a page. A page's
//! `nextPageUrl` carries a paging token: where the next page starts and a
//! fingerprint of the body, so the next page is only served for the same body.
//! A query started by `GET .../query?search=...` is paged by GET as well: its
//! page links carry the `search` too (see `api.rs`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::entity::Schema;
use crate::filter::{self, Condition, FilterError, get_ignore_case};

/// The most records a page can hold, and the default page size.
pub const MAX_PAGE_SIZE: usize = 500;

/// A parsed query body.
#[derive(Debug)]
pub struct Query {
    pub page_size: usize,
    /// The fields to return, canonically named; all fields when `None`.
    pub include_fields: Option<Vec<&'static str>>,
    /// Whether records carry `userDefinedFields`, which a projection keeps as `[]`.
    pub user_defined_fields: bool,
    pub condition: Condition,
    /// Unknown operators whose clauses were dropped, as Autotask drops them.
    pub ignored_operators: Vec<String>,
    /// Identifies the body, so paging can insist on the same one.
    pub fingerprint: String,
}

/// Parses a query body (property names case-insensitive) for the records of
/// `schema` (an [`Entity`](crate::Entity) or a webhook entity).
pub fn parse(schema: impl Into<Schema>, body: &Value) -> Result<Query, FilterError> {
    let schema = schema.into();
    let Value::Object(object) = body else {
        return Err(FilterError("The query body must be a JSON object with a 'filter' array.".into()));
    };
    let page_size = match get_ignore_case(object, "MaxRecords") {
        None | Some(Value::Null) => MAX_PAGE_SIZE,
        Some(value) => match value.as_u64() {
            Some(n @ 1..=500) => n as usize,
            // Autotask's own text names its internal parameter, not `MaxRecords`.
            _ => return Err(FilterError("maxCountOfRecordsToReturn must be between 1 and 500".into())),
        },
    };
    let include_fields = match get_ignore_case(object, "IncludeFields") {
        None | Some(Value::Null) => None,
        Some(Value::Array(names)) if names.is_empty() => None,
        Some(Value::Array(names)) => {
            let mut fields = vec!["id"];
            for name in names {
                let name = name.as_str().unwrap_or_default();
                let (field, _) = schema
                    .field(name)
                    .ok_or_else(|| FilterError(format!("Unable to find {name} in the {} Entity.", schema.singular)))?;
                if !fields.contains(&field) {
                    fields.push(field);
                }
            }
            Some(fields)
        }
        Some(other) => return Err(FilterError(format!("IncludeFields must be an array of field names, not {other}"))),
    };
    let filters = get_ignore_case(object, "filter").unwrap_or(&Value::Null);
    let filter::Parsed { condition, ignored_operators } = filter::parse_filters(schema, filters)?;
    Ok(Query {
        page_size,
        include_fields,
        user_defined_fields: schema.user_defined_fields,
        condition,
        ignored_operators,
        fingerprint: fingerprint(body),
    })
}

fn fingerprint(body: &Value) -> String {
    let mut hasher = DefaultHasher::new();
    body.to_string().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// Where a page starts, carried in `nextPageUrl` / `prevPageUrl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PagingToken {
    #[serde(rename = "pageSize")]
    pub page_size: usize,
    /// The page holds matching records with ids above this one.
    #[serde(rename = "afterId")]
    pub after_id: i64,
    /// The fingerprint of the body that started the paging.
    pub query: String,
    /// Where the page before this one started, when it is known (a page reached
    /// by its predecessor's next link), so its prev link needs no backward scan.
    #[serde(rename = "prevAfterId", default, skip_serializing_if = "Option::is_none")]
    pub prev_after_id: Option<i64>,
}

impl PagingToken {
    /// The token as the `paging` query parameter of a page URL.
    pub fn to_query_string(&self) -> String {
        let json = serde_json::to_string(self).expect("a token serializes");
        form_urlencoded::Serializer::new(String::new()).append_pair("paging", &json).finish()
    }

    /// The token in a page URL's query string, if it has a well-formed one.
    pub fn from_query_string(query: &str) -> Option<PagingToken> {
        form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key.eq_ignore_ascii_case("paging"))
            .and_then(|(_, value)| serde_json::from_str(&value).ok())
    }
}

/// One page of results, borrowing the records from the store.
#[derive(Debug)]
pub struct Page<'a> {
    pub items: Vec<Cow<'a, Value>>,
    /// Where the next page starts, when there is one.
    pub next: Option<PagingToken>,
    /// Where the previous page starts, when there is one.
    pub prev: Option<PagingToken>,
}

/// The page of `query`'s results with ids above `after_id`; `prev_after_id` is
/// where the previous page started, when the caller knows it.
pub fn page<'a>(table: &'a BTreeMap<i64, Value>, query: &Query, after_id: i64, prev_after_id: Option<i64>) -> Page<'a> {
    let matches = |record: &&Value| record.as_object().is_some_and(|object| query.condition.matches(object));
    let mut found: Vec<(i64, &Value)> = table
        .range(after_id.saturating_add(1)..)
        .map(|(id, record)| (*id, record))
        .filter(|(_, record)| matches(record))
        .take(query.page_size + 1)
        .collect();
    let token = |after_id, prev_after_id| PagingToken {
        page_size: query.page_size,
        after_id,
        query: query.fingerprint.clone(),
        prev_after_id,
    };
    let next = if found.len() > query.page_size {
        found.truncate(query.page_size);
        found.last().map(|(id, _)| token(*id, Some(after_id)))
    } else {
        None
    };
    let prev = if let Some(prev_after_id) = prev_after_id {
        Some(token(prev_after_id, None))
    } else if after_id > 0 {
        let earlier: Vec<i64> = table
            .range(..=after_id)
            .rev()
            .filter(|(_, record)| matches(record))
            .take(query.page_size)
            .map(|(id, _)| *id)
            .collect();
        earlier.last().map(|first| token(first - 1, None))
    } else {
        None
    };
    let items = found.into_iter().map(|(_, record)| project(record, query)).collect();
    Page { items, next, prev }
}

/// How many records match `query`.
pub fn count(table: &BTreeMap<i64, Value>, query: &Query) -> usize {
    table.values().filter(|record| record.as_object().is_some_and(|object| query.condition.matches(object))).count()
}

/// The fields `IncludeFields` asked for. Autotask keeps the `userDefinedFields`
/// key in a projection, empty, so a client reading it always finds a list.
fn project<'a>(record: &'a Value, query: &Query) -> Cow<'a, Value> {
    let Some(fields) = &query.include_fields else { return Cow::Borrowed(record) };
    let mut object: Map<String, Value> =
        fields.iter().map(|field| ((*field).to_owned(), record.get(*field).cloned().unwrap_or(Value::Null))).collect();
    if query.user_defined_fields {
        object.insert("userDefinedFields".to_owned(), Value::Array(Vec::new()));
    }
    Cow::Owned(Value::Object(object))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Entity;
    use serde_json::json;

    fn table(n: i64) -> BTreeMap<i64, Value> {
        (1..=n).map(|id| (id, json!({"id": id, "status": if id % 2 == 0 { 1 } else { 5 }, "title": "t"}))).collect()
    }

    fn query(body: Value) -> Query {
        parse(Entity::Tickets, &body).unwrap()
    }

    #[test]
    fn pages_follow_ids_and_link_both_ways() {
        let table = table(25);
        let query = query(json!({"MaxRecords": 5, "filter": [{"op": "eq", "field": "status", "value": 1}]}));
        let first = page(&table, &query, 0, None);
        let ids = |page: &Page| page.items.iter().map(|r| r["id"].as_i64().unwrap()).collect::<Vec<_>>();
        assert_eq!(ids(&first), [2, 4, 6, 8, 10]);
        assert!(first.prev.is_none());
        let next = first.next.unwrap();
        assert_eq!(next.after_id, 10);
        let second = page(&table, &query, next.after_id, next.prev_after_id);
        assert_eq!(ids(&second), [12, 14, 16, 18, 20]);
        let prev = second.prev.clone().unwrap();
        let back = page(&table, &query, prev.after_id, prev.prev_after_id);
        assert_eq!(ids(&back), [2, 4, 6, 8, 10]);
        // The same page reached without knowing its predecessor links back alike.
        let scanned = page(&table, &query, next.after_id, None).prev.unwrap();
        assert_eq!(ids(&page(&table, &query, scanned.after_id, None)), [2, 4, 6, 8, 10]);
        let next = second.next.unwrap();
        let third = page(&table, &query, next.after_id, next.prev_after_id);
        assert_eq!(ids(&third), [22, 24]);
        assert!(third.next.is_none(), "the last page has no next page");
        assert_eq!(count(&table, &query), 12);
    }

    #[test]
    fn bodies_use_autotask_defaults_and_limits() {
        let filter = json!([{"op": "exist", "field": "id"}]);
        assert_eq!(query(json!({"filter": filter})).page_size, 500);
        assert_eq!(query(json!({"maxrecords": 20, "Filter": filter})).page_size, 20);
        let error = parse(Entity::Tickets, &json!({"MaxRecords": 501, "filter": filter})).unwrap_err();
        assert_eq!(error.0, "maxCountOfRecordsToReturn must be between 1 and 500");
        let error = parse(Entity::Tickets, &json!({"IncludeFields": ["nope"], "filter": filter})).unwrap_err();
        assert_eq!(error.0, "Unable to find nope in the Ticket Entity.");
    }

    #[test]
    fn include_fields_project_and_keep_the_id() {
        let query = query(json!({"includefields": ["STATUS"], "filter": [{"op": "exist", "field": "id"}]}));
        let table = table(2);
        let page = page(&table, &query, 0, None);
        assert_eq!(*page.items[0], json!({"id": 1, "status": 5, "userDefinedFields": []}));
    }

    #[test]
    fn tokens_round_trip_through_a_query_string_and_fingerprint_the_body() {
        let token = PagingToken { page_size: 500, after_id: 1234, query: "abc".into(), prev_after_id: Some(7) };
        let text = token.to_query_string();
        assert!(text.starts_with("paging=%7B"), "{text}");
        assert_eq!(PagingToken::from_query_string(&text), Some(token));
        let a = query(json!({"filter": [{"op": "gt", "field": "id", "value": 1}]}));
        let b = query(json!({"filter": [{"op": "gt", "field": "id", "value": 2}]}));
        assert_ne!(a.fingerprint, b.fingerprint);
    }
}
