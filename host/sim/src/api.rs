//! The Autotask REST API under `/atservicesrest`: zone lookup, queries, counts,
//! single records, field information and thresholds, with Autotask's
//! authentication, limits and error shapes.
//!
//! Routing is by hand rather than by axum's router because Autotask's paths
//! are case-insensitive (`/v1.0/tickets/query` works) and because a wrong
//! method must get ASP.NET's 405 text, which clients see in practice.
//!
//! Where the real API's behaviour comes from (public docs, published clients'
//! fixtures and issue threads) is noted beside each rule, and tabulated in
//! `docs/autotask.md` with the test that holds the simulator to it.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use std::collections::BTreeMap;

use crate::entity::{DataType, Entity, Schema};
use crate::query::{self, PagingToken};
use crate::traffic::Refusal;
use crate::webhook_api;
use crate::webhooks::{self, Kind, Part};
use crate::{Shared, filter::FilterError};

/// What a query runs over: an entity's records, or a webhook entity's webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Records(Entity),
    Webhooks(Kind),
}

impl Table {
    /// The name in URLs (`Tickets`, `TicketWebhooks`).
    fn name(self) -> &'static str {
        match self {
            Table::Records(entity) => entity.name(),
            Table::Webhooks(kind) => kind.name(),
        }
    }

    fn schema(self) -> Schema {
        match self {
            Table::Records(entity) => entity.into(),
            Table::Webhooks(kind) => kind.schema(),
        }
    }
}

/// Runs `read` on the records of `table`, locked meanwhile.
fn with_table<T>(shared: &Shared, table: Table, read: impl FnOnce(&BTreeMap<i64, Value>) -> T) -> T {
    match table {
        Table::Records(entity) => read(shared.store().table(entity)),
        Table::Webhooks(kind) => read(shared.webhooks().table(kind)),
    }
}

/// What a request under `/atservicesrest/v1.0/` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Threshold,
    Query(Table),
    Count(Table),
    NextPage(Table),
    PrevPage(Table),
    EntityInformation(Entity),
    Fields(Entity),
    UserDefinedFields(Entity),
    Record(Entity, i64),
    /// Webhooks, their fields and excluded resources (see `webhook_api.rs`).
    Webhook(webhook_api::Request),
}

impl Endpoint {
    /// What thread limiting counts this request against: its entity (a
    /// webhook entity for webhooks), or `ThresholdInformation`, which is an
    /// endpoint of its own and is limited too (Autotask's thread-limiting docs
    /// exempt only zone lookup).
    fn thread_pool(self) -> &'static str {
        match self {
            Endpoint::Threshold => "ThresholdInformation",
            Endpoint::Query(t) | Endpoint::Count(t) | Endpoint::NextPage(t) | Endpoint::PrevPage(t) => t.name(),
            Endpoint::EntityInformation(e)
            | Endpoint::Fields(e)
            | Endpoint::UserDefinedFields(e)
            | Endpoint::Record(e, _) => e.name(),
            Endpoint::Webhook(request) => request.thread_pool(),
        }
    }

    /// The name statistics are kept under.
    fn label(self, method: &Method) -> String {
        let path = match self {
            Endpoint::Threshold => "ThresholdInformation".to_owned(),
            Endpoint::Query(e) => format!("{}/query", e.name()),
            Endpoint::Count(e) => format!("{}/query/count", e.name()),
            Endpoint::NextPage(e) => format!("{}/query/next", e.name()),
            Endpoint::PrevPage(e) => format!("{}/query/prev", e.name()),
            Endpoint::EntityInformation(e) => format!("{}/entityInformation", e.name()),
            Endpoint::Fields(e) => format!("{}/entityInformation/fields", e.name()),
            Endpoint::UserDefinedFields(e) => format!("{}/entityInformation/userDefinedFields", e.name()),
            Endpoint::Record(e, _) => format!("{}/{{id}}", e.name()),
            Endpoint::Webhook(request) => request.path_label(),
        };
        format!("{method} {path}")
    }

    fn allows(self, method: &Method) -> bool {
        match self {
            // Page links are followed with the method that started the query:
            // GET for a query started by GET (its link carries `search`), POST otherwise.
            Endpoint::Query(_) | Endpoint::Count(_) | Endpoint::NextPage(_) | Endpoint::PrevPage(_) => {
                method == Method::GET || method == Method::POST
            }
            Endpoint::Threshold
            | Endpoint::EntityInformation(_)
            | Endpoint::Fields(_)
            | Endpoint::UserDefinedFields(_)
            | Endpoint::Record(..) => method == Method::GET,
            Endpoint::Webhook(request) => request.allows(method),
        }
    }
}

/// `{"errors": [text]}` with a status: Autotask's usual error shape.
pub(crate) fn errors(status: StatusCode, text: impl Into<String>) -> Response {
    (status, axum::Json(json!({"errors": [text.into()]}))).into_response()
}

/// `{"Message": text}` with a status: the ASP.NET shape some refusals take.
fn message(status: StatusCode, text: impl Into<String>) -> Response {
    (status, axum::Json(json!({"Message": text.into()}))).into_response()
}

fn method_not_allowed(method: &Method) -> Response {
    message(StatusCode::METHOD_NOT_ALLOWED, format!("The requested resource does not support http method '{method}'."))
}

/// ASP.NET's text when a query's body (or `search`) is missing or cannot be
/// read: the action's parameter is left null. Clients quote it from real
/// Autotask for a body-less POST.
fn null_parameter(name: &str) -> Response {
    errors(StatusCode::INTERNAL_SERVER_ERROR, format!("Value cannot be null.\r\nParameter name: {name}"))
}

fn not_found(uri: &Uri) -> Response {
    message(StatusCode::NOT_FOUND, format!("No HTTP resource was found that matches the request URI '{uri}'."))
}

/// Serves everything under `/atservicesrest/`.
pub async fn serve(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_matches('/');
    let segments: Vec<&str> = path.split('/').collect();
    let Some((root, rest)) = segments.split_first() else { return not_found(&uri) };
    if !root.eq_ignore_ascii_case("atservicesrest") {
        return not_found(&uri);
    }
    let lower: Vec<String> = rest.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    match lower.as_slice() {
        ["versioninformation"] => {
            shared.traffic.record("GET versioninformation", 200);
            return axum::Json(json!({"apiVersions": ["1.0"]})).into_response();
        }
        ["v1.0", "zoneinformation"] => return zone_information(&shared, &uri),
        _ => {}
    }
    let Some(endpoint) = route(&lower) else { return not_found(&uri) };
    let label = endpoint.label(&method);
    let response = api(&shared, endpoint, &method, &uri, &headers, &body).await;
    shared.traffic.record(&label, response.status().as_u16());
    response
}

fn route(segments: &[&str]) -> Option<Endpoint> {
    let ["v1.0", rest @ ..] = segments else { return None };
    if let ["thresholdinformation"] = rest {
        return Some(Endpoint::Threshold);
    }
    let (name, rest) = rest.split_first()?;
    let entity = match Entity::from_path(name) {
        Some(entity) => entity,
        None => return route_webhooks(name, rest),
    };
    let table = Table::Records(entity);
    Some(match rest {
        ["query"] => Endpoint::Query(table),
        ["query", "count"] => Endpoint::Count(table),
        ["query", "next"] => Endpoint::NextPage(table),
        ["query", "prev"] => Endpoint::PrevPage(table),
        ["entityinformation"] => Endpoint::EntityInformation(entity),
        ["entityinformation", "fields"] => Endpoint::Fields(entity),
        ["entityinformation", "userdefinedfields"] => Endpoint::UserDefinedFields(entity),
        [id] => Endpoint::Record(entity, id.parse().ok()?),
        _ => return None,
    })
}

/// The paths of the webhook entities (`TicketWebhooks`, `TicketWebhookFields`, ...).
fn route_webhooks(name: &str, rest: &[&str]) -> Option<Endpoint> {
    use webhook_api::Request;
    let (kind, part) = Kind::from_path(name)?;
    let table = Table::Webhooks(kind);
    let id = |segment: &str| segment.parse::<i64>().ok();
    Some(match (part, rest) {
        (_, ["entityinformation", "fields"]) => Endpoint::Webhook(Request::FieldInfo(kind, part)),
        (Part::Webhooks, []) => Endpoint::Webhook(Request::Collection(kind)),
        (Part::Webhooks, ["query"]) => Endpoint::Query(table),
        (Part::Webhooks, ["query", "count"]) => Endpoint::Count(table),
        (Part::Webhooks, ["query", "next"]) => Endpoint::NextPage(table),
        (Part::Webhooks, ["query", "prev"]) => Endpoint::PrevPage(table),
        (Part::Webhooks, [webhook]) => Endpoint::Webhook(Request::Item(kind, id(webhook)?)),
        (Part::Webhooks, [webhook, child]) => {
            Endpoint::Webhook(Request::Children(kind, id(webhook)?, Part::child_from_path(child)?))
        }
        (Part::Webhooks, [webhook, child, child_id]) => {
            Endpoint::Webhook(Request::Child(kind, id(webhook)?, Part::child_from_path(child)?, id(child_id)?))
        }
        _ => return None,
    })
}

fn zone_information(shared: &Shared, uri: &Uri) -> Response {
    let user = uri
        .query()
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k.eq_ignore_ascii_case("user")))
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let response = if user.eq_ignore_ascii_case(&shared.config.user) {
        let base = shared.base_url();
        axum::Json(json!({
            "zoneName": "Simulator",
            "url": format!("{base}/atservicesrest/"),
            "webUrl": format!("{base}/"),
            "ci": 1,
        }))
        .into_response()
    } else {
        errors(StatusCode::INTERNAL_SERVER_ERROR, "Zone information could not be determined")
    };
    shared.traffic.record("GET zoneInformation", response.status().as_u16());
    response
}

/// Autotask's answers to bad credentials: no or wrong secret → 401; an unknown
/// user or a bad integration code → 500, not 401 (apigrate/autotask-restapi
/// issue 19 reports all three). `IntegrationCode is invalid.` is the real text;
/// the real text for an unknown user is not known, so the simulator answers
/// ASP.NET's generic one and clients must not depend on it.
fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<(), Response> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let (user, secret, code) = (header("UserName"), header("Secret"), header("ApiIntegrationCode"));
    let denied = || message(StatusCode::UNAUTHORIZED, "Authorization has been denied for this request.");
    if user.is_empty() || secret.is_empty() {
        return Err(denied());
    }
    if !user.eq_ignore_ascii_case(&shared.config.user) {
        return Err(message(StatusCode::INTERNAL_SERVER_ERROR, "An error has occurred."));
    }
    if secret != shared.config.secret {
        return Err(denied());
    }
    if code != shared.config.integration_code {
        return Err(errors(StatusCode::INTERNAL_SERVER_ERROR, "IntegrationCode is invalid."));
    }
    Ok(())
}

async fn api(
    shared: &Shared,
    endpoint: Endpoint,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    if !endpoint.allows(method) {
        return method_not_allowed(method);
    }
    let paging = matches!(endpoint, Endpoint::NextPage(_) | Endpoint::PrevPage(_));
    if paging && method == Method::GET && search(uri).is_none() {
        // The link of a query started by POST has no `search`: real Autotask
        // answers GET on it with 405, and POST with the same body works.
        return method_not_allowed(method);
    }
    if let Err(response) = authenticate(shared, headers) {
        return response;
    }
    let admission = match shared.traffic.admit(endpoint.thread_pool(), endpoint != Endpoint::Threshold) {
        Ok(admission) => admission,
        Err(Refusal::TooMany { message, retry_after }) => {
            let mut response = errors(StatusCode::TOO_MANY_REQUESTS, message);
            if let Some(seconds) = retry_after {
                response.headers_mut().insert(header::RETRY_AFTER, seconds.into());
            }
            return response;
        }
        Err(Refusal::ServerError(text)) => return errors(StatusCode::INTERNAL_SERVER_ERROR, text),
    };
    if !admission.delay.is_zero() {
        tokio::time::sleep(admission.delay).await;
    }
    // The slot is held until the answer is built, so overlapping requests count as in flight.
    let response = answer(shared, endpoint, method, uri, body);
    drop(admission.slot);
    response
}

fn answer(shared: &Shared, endpoint: Endpoint, method: &Method, uri: &Uri, body: &Bytes) -> Response {
    match endpoint {
        Endpoint::Threshold => axum::Json(json!({
            "externalRequestThreshold": shared.traffic.limits().threshold,
            "requestThresholdTimeframe": 60,
            "currentTimeframeRequestCount": shared.traffic.timeframe_request_count(),
        }))
        .into_response(),
        Endpoint::EntityInformation(entity) => axum::Json(entity_information(entity)).into_response(),
        Endpoint::Fields(entity) => axum::Json(fields(entity)).into_response(),
        Endpoint::UserDefinedFields(entity) => axum::Json(user_defined_fields(entity)).into_response(),
        Endpoint::Record(entity, id) => {
            let item = shared.store().table(entity).get(&id).cloned().unwrap_or(Value::Null);
            axum::Json(json!({"item": item})).into_response()
        }
        Endpoint::Webhook(request) => webhook_api::answer(shared, request, method, body),
        Endpoint::Query(table) | Endpoint::Count(table) => {
            let query = match parsed_query(shared, table, method, uri, body) {
                Ok(query) => query,
                Err(response) => return response,
            };
            if let Endpoint::Count(_) = endpoint {
                let count = with_table(shared, table, |records| query::count(records, &query));
                return axum::Json(json!({"queryCount": count})).into_response();
            }
            // The page borrows the records: it is written out before the lock is let go.
            let search = search_to_carry(method, uri);
            with_table(shared, table, |records| {
                let page = query::page(records, &query, 0, None);
                page_response(shared, table, &query, page, search.as_deref())
            })
        }
        Endpoint::NextPage(table) | Endpoint::PrevPage(table) => {
            let Some(token) = uri.query().and_then(PagingToken::from_query_string) else {
                return errors(StatusCode::BAD_REQUEST, "The paging parameter is missing or malformed.");
            };
            let query = match parsed_query(shared, table, method, uri, body) {
                Ok(query) => query,
                Err(response) => return response,
            };
            if query.fingerprint != token.query || query.page_size != token.page_size {
                return errors(
                    StatusCode::BAD_REQUEST,
                    "The paging request must be sent with the same body as the original query.",
                );
            }
            let prev_after_id = if let Endpoint::NextPage(_) = endpoint { token.prev_after_id } else { None };
            let search = search_to_carry(method, uri);
            with_table(shared, table, |records| {
                let page = query::page(records, &query, token.after_id, prev_after_id);
                page_response(shared, table, &query, page, search.as_deref())
            })
        }
    }
}

/// The `search` parameter of a request's URL, decoded.
fn search(uri: &Uri) -> Option<String> {
    uri.query()
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k.eq_ignore_ascii_case("search")))
        .map(|(_, v)| v.into_owned())
}

/// The `search` a GET-started query's page links must carry, so they can be
/// followed with GET as real Autotask's are; POST-started links carry none.
fn search_to_carry(method: &Method, uri: &Uri) -> Option<String> {
    if method == Method::GET { search(uri) } else { None }
}

/// A query's body (the JSON posted, or a GET's `search`), parsed, with the
/// operators Autotask would drop counted in the statistics.
fn parsed_query(
    shared: &Shared,
    table: Table,
    method: &Method,
    uri: &Uri,
    body: &Bytes,
) -> Result<query::Query, Response> {
    let body = if method == Method::POST {
        parse_json(body).ok_or_else(|| null_parameter("queryModel"))?
    } else {
        search(uri).and_then(|search| parse_json(search.as_bytes())).ok_or_else(|| null_parameter("search"))?
    };
    let query = query::parse(table.schema(), &body)
        .map_err(|FilterError(text)| errors(StatusCode::INTERNAL_SERVER_ERROR, text))?;
    for operator in &query.ignored_operators {
        shared.traffic.record_ignored_operator(operator);
    }
    Ok(query)
}

/// A JSON object as Autotask's Json.NET reads it: single-quoted strings are
/// accepted (a `search` written `{'filter':[...]}` works against the real
/// API). Anything else unreadable, or not an object, is no body at all.
pub(crate) fn parse_json(body: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(body).ok()?;
    let value: Value = serde_json::from_str(text).ok().or_else(|| serde_json::from_str(&double_quoted(text)?).ok())?;
    value.is_object().then_some(value)
}

/// `text` with its single-quoted strings rewritten double-quoted; `None` when
/// a string is left open.
fn double_quoted(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        let quote = match c {
            '"' | '\'' => c,
            other => {
                out.push(other);
                continue;
            }
        };
        out.push('"');
        loop {
            match chars.next()? {
                '\\' => match chars.next()? {
                    '\'' => out.push('\''),
                    escaped => {
                        out.push('\\');
                        out.push(escaped);
                    }
                },
                c if c == quote => break,
                '"' => out.push_str("\\\""),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    Some(out)
}

fn page_response(
    shared: &Shared,
    table: Table,
    query: &query::Query,
    page: query::Page,
    search: Option<&str>,
) -> Response {
    let origin = shared.faults().next_page_origin.unwrap_or_else(|| shared.base_url());
    let base = shared.base_url();
    // A GET-started query's links embed its `search`, as real Autotask's do
    // (`...query/next?paging={...}&search={...}`).
    let search =
        search.map(|search| form_urlencoded::Serializer::new(String::new()).append_pair("search", search).finish());
    let url = |kind: &str, token: &PagingToken, origin: &str| {
        let mut url = format!("{origin}/atservicesrest/v1.0/{}/query/{kind}?{}", table.name(), token.to_query_string());
        if let Some(search) = &search {
            url.push('&');
            url.push_str(search);
        }
        url
    };
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Details {
        count: usize,
        request_count: usize,
        prev_page_url: Option<String>,
        next_page_url: Option<String>,
    }
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Body<'a> {
        items: &'a [std::borrow::Cow<'a, Value>],
        page_details: Details,
    }
    let body = Body {
        items: &page.items,
        page_details: Details {
            count: page.items.len(),
            request_count: query.page_size,
            prev_page_url: page.prev.as_ref().map(|token| url("prev", token, &base)),
            next_page_url: page.next.as_ref().map(|token| url("next", token, &origin)),
        },
    };
    let bytes = serde_json::to_vec(&body).expect("a page serializes");
    ([(axum::http::header::CONTENT_TYPE, "application/json; charset=utf-8")], bytes).into_response()
}

/// `entityInformation/fields`: every field with its type, picklists included;
/// `isSupportedWebhookField` marks the fields webhooks can subscribe to.
fn fields(entity: Entity) -> Value {
    let fields: Vec<Value> = entity
        .fields()
        .iter()
        .map(|(name, data_type)| {
            let picklist = entity.picklist(name).map(|values| {
                let values = values.iter().enumerate();
                values
                    .map(|(order, (value, label))| picklist_value(&value.to_string(), label, order, order == 0))
                    .collect()
            });
            describe_field(FieldInfo {
                name,
                data_type: *data_type,
                required: *name == "id" || entity.required_fields().contains(name),
                read_only: *name == "id"
                    || entity.created_fields().contains(name)
                    || entity.updated_fields().contains(name),
                picklist,
                webhook_field: webhooks::field_id(entity, name).is_some(),
            })
        })
        .collect();
    json!({"fields": fields})
}

/// One field as `entityInformation/fields` describes it.
pub(crate) struct FieldInfo<'a> {
    pub name: &'a str,
    pub data_type: DataType,
    pub required: bool,
    pub read_only: bool,
    /// Its `picklistValues` (see [`picklist_value`]), when it is a picklist.
    pub picklist: Option<Vec<Value>>,
    /// `isSupportedWebhookField`.
    pub webhook_field: bool,
}

/// A field of `entityInformation/fields`, in Autotask's shape.
pub(crate) fn describe_field(field: FieldInfo) -> Value {
    json!({
        "name": field.name,
        "dataType": field.data_type.name(),
        "length": if field.data_type == DataType::String { 8000 } else { 0 },
        "isRequired": field.required,
        "isReadOnly": field.read_only,
        "isQueryable": true,
        "isReference": field.name.ends_with("ID") && field.name != "id",
        "referenceEntityType": "",
        "isPickList": field.picklist.is_some(),
        "picklistValues": field.picklist.map_or(Value::Null, Value::Array),
        "picklistParentValueField": "",
        "isSupportedWebhookField": field.webhook_field,
    })
}

/// One entry of a field's `picklistValues`.
pub(crate) fn picklist_value(value: &str, label: &str, order: usize, default: bool) -> Value {
    json!({
        "value": value, "label": label, "isDefaultValue": default,
        "sortOrder": order, "parentValue": "", "isActive": true, "isSystem": true,
    })
}

/// `entityInformation`: what the API lets the user do with the entity, in the
/// shape of the real answer (`{"info": {...}}`, from Autotask's Swagger model
/// `EntityInformationResultModel`). The simulator is read-only for clients, but
/// reports the real entity's capabilities, which clients check before writing.
fn entity_information(entity: Entity) -> Value {
    let deletable = matches!(entity, Entity::TicketNotes);
    let writable = !matches!(entity, Entity::DeletedTicketLogs);
    let access = |allowed: bool| if allowed { "All" } else { "None" };
    json!({"info": {
        "name": entity.singular(),
        "canCreate": writable,
        "canDelete": deletable,
        "canQuery": true,
        "canUpdate": writable,
        "userAccessForCreate": access(writable),
        "userAccessForDelete": access(deletable),
        "userAccessForQuery": "All",
        "userAccessForUpdate": access(writable),
        "hasUserDefinedFields": entity.has_user_defined_fields(),
        "supportsWebhookCallouts": entity.supports_webhooks(),
    }})
}

/// `entityInformation/userDefinedFields`: the definitions of the user-defined
/// fields the entity's records carry, in the shape of `entityInformation/fields`
/// (webhooks can subscribe to each: see `{X}WebhookUdfFields`).
fn user_defined_fields(entity: Entity) -> Value {
    let names: &[&str] = if entity.has_user_defined_fields() { &crate::sample::USER_DEFINED_FIELD_NAMES } else { &[] };
    let fields: Vec<Value> = names
        .iter()
        .map(|name| {
            json!({
                "name": name, "label": name, "dataType": "string", "length": 8000,
                "isRequired": false, "isReadOnly": false, "isQueryable": true, "isReference": false,
                "referenceEntityType": "", "isPickList": false, "picklistValues": Value::Null,
                "picklistParentValueField": "", "isSupportedWebhookField": entity.supports_webhooks(),
            })
        })
        .collect();
    json!({"fields": fields})
}
