//! The test-control API under `/sim/`: change records as a user in Autotask
//! would (webhooks hear of it), inject faults, and read what the simulator saw.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::Shared;
use crate::entity::Entity;
use crate::store::USER_RESOURCE_ID;
use crate::traffic::Faults;

fn error(status: StatusCode, text: String) -> Response {
    (status, Json(json!({"errors": [text]}))).into_response()
}

fn entity(name: &str) -> Result<Entity, Response> {
    Entity::from_path(name).ok_or_else(|| {
        let known: Vec<&str> = Entity::ALL.iter().map(|e| e.name()).collect();
        error(StatusCode::NOT_FOUND, format!("unknown entity '{name}'; the simulator serves {}", known.join(", ")))
    })
}

fn fields(body: &[u8]) -> Result<Map<String, Value>, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(other) => {
            Err(error(StatusCode::BAD_REQUEST, format!("the body must be a JSON object of fields, not {other}")))
        }
        Err(e) => Err(error(StatusCode::BAD_REQUEST, format!("the body is not valid JSON: {e}"))),
    }
}

/// The query of a change: who makes it.
#[derive(serde::Deserialize)]
pub struct ChangeQuery {
    /// The resource making the change (callouts' `PersonID`, checked against
    /// webhooks' excluded resources); the API user's by default.
    person: Option<i64>,
}

/// `POST /sim/{Entity}[?person=ID]`: creates a record from the fields given, filling in the rest.
pub async fn create(
    State(shared): State<Shared>,
    Path(name): Path<String>,
    Query(query): Query<ChangeQuery>,
    body: axum::body::Bytes,
) -> Response {
    let (entity, fields) = match entity(&name).and_then(|e| Ok((e, fields(&body)?))) {
        Ok(parsed) => parsed,
        Err(response) => return response,
    };
    let person = query.person.unwrap_or(USER_RESOURCE_ID);
    let record = shared.changes().create(entity, fields, person, Utc::now());
    (StatusCode::CREATED, Json(record)).into_response()
}

/// The query of `PATCH /sim/{Entity}/{id}`.
#[derive(serde::Deserialize)]
pub struct PatchQuery {
    /// The change's date, when it is not now: a change Autotask commits late
    /// carries a date from before it can be read.
    at: Option<String>,
    /// As [`ChangeQuery::person`].
    person: Option<i64>,
}

/// `PATCH /sim/{Entity}/{id}[?at=RFC 3339][&person=ID]`: merges fields into a
/// record and bumps its change dates to now, or to `at`.
pub async fn patch(
    State(shared): State<Shared>,
    Path((name, id)): Path<(String, i64)>,
    Query(query): Query<PatchQuery>,
    body: axum::body::Bytes,
) -> Response {
    let (entity, fields) = match entity(&name).and_then(|e| Ok((e, fields(&body)?))) {
        Ok(parsed) => parsed,
        Err(response) => return response,
    };
    let at = match query.at.as_deref().map(DateTime::parse_from_rfc3339) {
        None => Utc::now(),
        Some(Ok(at)) => at.with_timezone(&Utc),
        Some(Err(e)) => return error(StatusCode::BAD_REQUEST, format!("`at` is not an RFC 3339 date-time: {e}")),
    };
    let person = query.person.unwrap_or(USER_RESOURCE_ID);
    match shared.changes().patch(entity, id, fields, person, at) {
        Some(record) => Json(record).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no {} with id {id}", entity.singular())),
    }
}

/// `DELETE /sim/{Entity}/{id}[?person=ID]`: deletes a record (a Ticket leaves a DeletedTicketLogs row).
pub async fn delete(
    State(shared): State<Shared>,
    Path((name, id)): Path<(String, i64)>,
    Query(query): Query<ChangeQuery>,
) -> Response {
    let entity = match entity(&name) {
        Ok(entity) => entity,
        Err(response) => return response,
    };
    let person = query.person.unwrap_or(USER_RESOURCE_ID);
    if shared.changes().delete(entity, id, person, Utc::now()) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        error(StatusCode::NOT_FOUND, format!("no {} with id {id}", entity.singular()))
    }
}

/// `POST /sim/faults`: replaces the injected faults (`{}` clears them).
pub async fn set_faults(State(shared): State<Shared>, body: axum::body::Bytes) -> Response {
    let body = if body.iter().all(u8::is_ascii_whitespace) { &b"{}"[..] } else { &body[..] };
    match serde_json::from_slice::<Faults>(body) {
        Ok(faults) => {
            shared.traffic.set_faults(faults.clone());
            Json(faults).into_response()
        }
        Err(e) => error(StatusCode::BAD_REQUEST, format!("bad faults: {e}")),
    }
}

/// `GET /sim/faults`: the faults still pending.
pub async fn faults(State(shared): State<Shared>) -> Response {
    Json(shared.traffic.faults()).into_response()
}

/// `GET /sim/webhooks/log`: callouts given up on and webhooks deactivated, oldest first.
pub async fn webhook_log(State(shared): State<Shared>) -> Response {
    Json(shared.callouts.log()).into_response()
}

/// `GET /sim/stats`: request counts by endpoint and status, and the most requests in flight.
pub async fn stats(State(shared): State<Shared>) -> Response {
    Json(shared.traffic.stats()).into_response()
}

/// `DELETE /sim/stats`: starts the counts again.
pub async fn reset_stats(State(shared): State<Shared>) -> Response {
    shared.traffic.reset_stats();
    StatusCode::NO_CONTENT.into_response()
}
