//! The REST endpoints of the webhook entities: create, read, update and delete
//! webhooks (`POST|PATCH /v1.0/TicketWebhooks`, `GET|PATCH|DELETE
//! .../TicketWebhooks/{id}`), their child collections (`.../{id}/Fields`,
//! `UdfFields`, `ExcludedResources`) and the field lists that number the
//! fields a webhook can subscribe to (`TicketWebhookFields/entityInformation/fields`).
//! Queries over webhooks are served by `api.rs` with the entities' machinery.
//!
//! Bodies are read as Autotask reads them: property names case-insensitive,
//! unknown properties ignored, a bad value refused with 500 and
//! `{"errors":[...]}` naming the property.

use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::Shared;
use crate::api::{FieldInfo, describe_field, errors, parse_json, picklist_value};
use crate::callouts;
use crate::filter::get_ignore_case;
use crate::store::USER_RESOURCE_ID;
use crate::webhooks::{FieldChoice, Kind, Part, Settings};

/// A request to a webhook entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// `POST` creates, `PATCH` updates the webhook whose `id` the body holds.
    Collection(Kind),
    /// `GET`, `PATCH` or `DELETE` one webhook.
    Item(Kind, i64),
    /// `GET` or `POST` a webhook's child collection.
    Children(Kind, i64, Part),
    /// `GET` or `DELETE` one child item.
    Child(Kind, i64, Part, i64),
    /// `GET .../{X}Webhook{Part}/entityInformation/fields`.
    FieldInfo(Kind, Part),
}

impl Request {
    /// Thread limiting counts webhook requests against the webhook entity named first in the path.
    pub fn thread_pool(self) -> &'static str {
        match self {
            Request::FieldInfo(kind, part) => kind.entity_name(part),
            Request::Collection(kind)
            | Request::Item(kind, _)
            | Request::Children(kind, ..)
            | Request::Child(kind, ..) => kind.name(),
        }
    }

    /// The path statistics are kept under (`TicketWebhooks/{id}/Fields`).
    pub fn path_label(self) -> String {
        match self {
            Request::Collection(kind) => kind.name().to_owned(),
            Request::Item(kind, _) => format!("{}/{{id}}", kind.name()),
            Request::Children(kind, _, part) => format!("{}/{{id}}/{}", kind.name(), part.child_name()),
            Request::Child(kind, _, part, _) => {
                format!("{}/{{id}}/{}/{{id}}", kind.name(), part.child_name())
            }
            Request::FieldInfo(kind, part) => format!("{}/entityInformation/fields", kind.entity_name(part)),
        }
    }

    pub fn allows(self, method: &Method) -> bool {
        let allowed: &[Method] = match self {
            Request::Collection(_) => &[Method::POST, Method::PATCH],
            Request::Item(..) => &[Method::GET, Method::PATCH, Method::DELETE],
            Request::Children(..) => &[Method::GET, Method::POST],
            Request::Child(..) => &[Method::GET, Method::DELETE],
            Request::FieldInfo(..) => &[Method::GET],
        };
        allowed.contains(method)
    }
}

/// Answers an admitted request (its method already allowed).
pub fn answer(shared: &Shared, request: Request, method: &Method, body: &Bytes) -> Response {
    let result = match (request, method.clone()) {
        (Request::Collection(kind), Method::POST) => create(shared, kind, body),
        (Request::Collection(kind), _) => update(shared, kind, None, body),
        (Request::Item(kind, id), Method::GET) => {
            let item = shared.webhooks().table(kind).get(&id).cloned().unwrap_or(Value::Null);
            Ok(json!({"item": item}))
        }
        (Request::Item(kind, id), Method::PATCH) => update(shared, kind, Some(id), body),
        (Request::Item(kind, id), _) => delete(shared, kind, id),
        (Request::Children(kind, id, part), Method::GET) => children(shared, kind, id, part),
        (Request::Children(kind, id, part), _) => add_child(shared, kind, id, part, body),
        (Request::Child(kind, id, part, child_id), Method::GET) => child(shared, kind, id, part, child_id),
        (Request::Child(kind, id, part, child), _) => remove_child(shared, kind, id, part, child),
        (Request::FieldInfo(kind, part), _) => Ok(field_info(kind, part)),
    };
    match result {
        Ok(body) => axum::Json(body).into_response(),
        Err(response) => response,
    }
}

fn refused(text: impl Into<String>) -> Response {
    errors(StatusCode::INTERNAL_SERVER_ERROR, text)
}

fn no_webhook(kind: Kind, id: i64) -> Response {
    errors(StatusCode::NOT_FOUND, format!("No {} with id {id} was found.", kind.singular()))
}

fn object(body: &Bytes) -> Result<Map<String, Value>, Response> {
    match parse_json(body) {
        Some(Value::Object(object)) => Ok(object),
        _ => Err(refused("The request body must be a JSON object.")),
    }
}

/// `POST {X}Webhooks`: registers a webhook; `{"itemId": id}`.
fn create(shared: &Shared, kind: Kind, body: &Bytes) -> Result<Value, Response> {
    let object = object(body)?;
    let mut settings = Settings::default();
    apply(&mut settings, &object).map_err(refused)?;
    for (name, value) in
        [("Name", &settings.name), ("WebhookUrl", &settings.url), ("DeactivationUrl", &settings.deactivation_url)]
    {
        if value.is_empty() {
            return Err(refused(format!("{name} is required.")));
        }
    }
    let id = shared.webhooks().create(kind, settings, USER_RESOURCE_ID);
    Ok(json!({"itemId": id}))
}

/// `PATCH {X}Webhooks` (the id in the body) or `PATCH {X}Webhooks/{id}`:
/// changes the fields given. `IsActive: true` reactivates the webhook and
/// forgets its failures; `IsActive: false` drops its pending callouts.
fn update(shared: &Shared, kind: Kind, path_id: Option<i64>, body: &Bytes) -> Result<Value, Response> {
    let object = object(body)?;
    let id = match (path_id, get_ignore_case(&object, "id")) {
        (Some(id), _) => id,
        (None, Some(id)) => id.as_i64().ok_or_else(|| refused(format!("id must be an integer, not {id}.")))?,
        (None, None) => return Err(refused(format!("id is required to update a {}.", kind.singular()))),
    };
    let mut registry = shared.webhooks();
    let mut settings = registry.get(kind, id).ok_or_else(|| no_webhook(kind, id))?.settings.clone();
    apply(&mut settings, &object).map_err(refused)?;
    let reactivated = settings.active && matches!(get_ignore_case(&object, "IsActive"), Some(Value::Bool(true)));
    let dropped = registry.change(kind, id, |hook| {
        let was_active = hook.settings.active;
        hook.settings = settings;
        if reactivated {
            hook.consecutive_failures = 0;
        }
        if was_active && !hook.settings.active {
            callouts::abandon_pending(hook, "dropped: the webhook was made inactive")
        } else {
            Vec::new()
        }
    });
    drop(registry);
    callouts::record_dropped(shared, dropped.unwrap_or_default());
    Ok(json!({"itemId": id}))
}

/// `DELETE {X}Webhooks/{id}`: removes it, its children and its pending callouts.
fn delete(shared: &Shared, kind: Kind, id: i64) -> Result<Value, Response> {
    shared.webhooks().remove(kind, id).ok_or_else(|| no_webhook(kind, id))?;
    Ok(json!({"itemId": id}))
}

/// Writes the properties `object` holds into `settings`; the text names the bad one.
fn apply(settings: &mut Settings, object: &Map<String, Value>) -> Result<(), String> {
    for (name, flag) in [
        ("IsActive", &mut settings.active),
        ("IsSubscribedToCreateEvents", &mut settings.on_create),
        ("IsSubscribedToUpdateEvents", &mut settings.on_update),
        ("IsSubscribedToDeleteEvents", &mut settings.on_delete),
        ("SendThresholdExceededNotification", &mut settings.threshold_notification),
    ] {
        if let Some(value) = boolean(object, name)? {
            *flag = value;
        }
    }
    if let Some(name) = text(object, "Name", 50)? {
        settings.name = name.filter(|name| !name.trim().is_empty()).ok_or("Name is required.")?;
    }
    for (name, url) in [("WebhookUrl", &mut settings.url), ("DeactivationUrl", &mut settings.deactivation_url)] {
        if let Some(value) = text(object, name, 500)? {
            *url = http_url(name, value)?;
        }
    }
    if let Some(secret) = text(object, "SecretKey", 64)? {
        settings.secret = secret.filter(|secret| !secret.is_empty());
    }
    if let Some(email) = text(object, "NotificationEmailAddress", 150)? {
        settings.email = email;
    }
    Ok(())
}

fn boolean(object: &Map<String, Value>, name: &str) -> Result<Option<bool>, String> {
    match get_ignore_case(object, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(value)) => Ok(Some(*value)),
        Some(other) => Err(format!("{name} must be true or false, not {other}.")),
    }
}

/// A text property: absent (`None`), null (`Some(None)`) or a string within `max` characters.
fn text(object: &Map<String, Value>, name: &str, max: usize) -> Result<Option<Option<String>>, String> {
    match get_ignore_case(object, name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(text)) if text.chars().count() > max => {
            Err(format!("{name} is longer than its limit of {max} characters."))
        }
        Some(Value::String(text)) => Ok(Some(Some(text.clone()))),
        Some(other) => Err(format!("{name} must be a string, not {other}.")),
    }
}

fn http_url(name: &str, value: Option<String>) -> Result<String, String> {
    let value = value.filter(|value| !value.trim().is_empty()).ok_or_else(|| format!("{name} is required."))?;
    match reqwest::Url::parse(&value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(value),
        _ => Err(format!("{name} must be an absolute http or https URL, not '{value}'.")),
    }
}

fn integer(object: &Map<String, Value>, name: &str) -> Result<i64, String> {
    match get_ignore_case(object, name) {
        None | Some(Value::Null) => Err(format!("{name} is required.")),
        Some(value) => value.as_i64().ok_or_else(|| format!("{name} must be an integer, not {value}.")),
    }
}

/// `GET {X}Webhooks/{id}/{Part}`: every item, as one page of a query.
fn children(shared: &Shared, kind: Kind, id: i64, part: Part) -> Result<Value, Response> {
    let registry = shared.webhooks();
    let items = registry.get(kind, id).ok_or_else(|| no_webhook(kind, id))?.children(part);
    let count = items.len();
    Ok(json!({
        "items": items,
        "pageDetails": {"count": count, "requestCount": count.max(1), "prevPageUrl": null, "nextPageUrl": null},
    }))
}

/// `GET {X}Webhooks/{id}/{Part}/{childId}`: `{"item": ...}`, null when there is none.
fn child(shared: &Shared, kind: Kind, id: i64, part: Part, child: i64) -> Result<Value, Response> {
    let registry = shared.webhooks();
    let items = registry.get(kind, id).ok_or_else(|| no_webhook(kind, id))?.children(part);
    let item = items.into_iter().find(|item| item["id"] == child).unwrap_or(Value::Null);
    Ok(json!({"item": item}))
}

/// `POST {X}Webhooks/{id}/{Part}`: adds a field, UDF field or excluded resource.
fn add_child(shared: &Shared, kind: Kind, id: i64, part: Part, body: &Bytes) -> Result<Value, Response> {
    let object = object(body)?;
    let mut registry = shared.webhooks();
    let hook = registry.get(kind, id).ok_or_else(|| no_webhook(kind, id))?;
    let field_choice = |name: &str, known: &[(i64, &str)], taken: Vec<i64>| {
        let field_id = integer(&object, name)?;
        if !known.iter().any(|(known, _)| *known == field_id) {
            let list = kind.entity_name(part);
            return Err(format!(
                "{name} {field_id} is not a webhook field of {}: {list}/entityInformation/fields lists them.",
                kind.entity_type()
            ));
        }
        if taken.contains(&field_id) {
            return Err(format!("{name} {field_id} is already on {} {id}.", kind.singular()));
        }
        let subscribed = boolean(&object, "IsSubscribedField")?.unwrap_or(false);
        let display_always = boolean(&object, "IsDisplayAlwaysField")?.unwrap_or(false);
        Ok(FieldChoice { field_id, subscribed, display_always })
    };
    enum Item {
        Field(FieldChoice),
        Udf(FieldChoice),
        Excluded(i64),
    }
    let item = match part {
        Part::Fields => {
            let taken = hook.fields.values().map(|choice| choice.field_id).collect();
            field_choice("FieldID", &kind.webhook_fields(), taken).map(Item::Field)
        }
        Part::UdfFields => {
            let taken = hook.udf_fields.values().map(|choice| choice.field_id).collect();
            field_choice("UdfFieldID", &kind.udf_fields(), taken).map(Item::Udf)
        }
        Part::ExcludedResources | Part::Webhooks => integer(&object, "ResourceID").and_then(|resource| {
            if hook.excluded.values().any(|excluded| *excluded == resource) {
                Err(format!("ResourceID {resource} is already excluded from {} {id}.", kind.singular()))
            } else {
                Ok(Item::Excluded(resource))
            }
        }),
    }
    .map_err(refused)?;
    let child_id = registry.next_child_id();
    registry.change(kind, id, |hook| match item {
        Item::Field(choice) => hook.fields.insert(child_id, choice).map(drop),
        Item::Udf(choice) => hook.udf_fields.insert(child_id, choice).map(drop),
        Item::Excluded(resource) => hook.excluded.insert(child_id, resource).map(drop),
    });
    Ok(json!({"itemId": child_id}))
}

/// `DELETE {X}Webhooks/{id}/{Part}/{childId}`.
fn remove_child(shared: &Shared, kind: Kind, id: i64, part: Part, child: i64) -> Result<Value, Response> {
    let removed = shared.webhooks().change(kind, id, |hook| match part {
        Part::Fields => hook.fields.remove(&child).is_some(),
        Part::UdfFields => hook.udf_fields.remove(&child).is_some(),
        Part::ExcludedResources | Part::Webhooks => hook.excluded.remove(&child).is_some(),
    });
    match removed {
        None => Err(no_webhook(kind, id)),
        Some(false) => Err(errors(
            StatusCode::NOT_FOUND,
            format!("No {} with id {child} was found on {} {id}.", kind.entity_name(part), kind.singular()),
        )),
        Some(true) => Ok(json!({"itemId": child})),
    }
}

/// `GET {X}Webhook{Part}/entityInformation/fields`. On `{X}WebhookFields`,
/// `fieldID` is a picklist of the target entity's supported webhook fields
/// (value: the id, label: the field's name); on `{X}WebhookUdfFields`,
/// `udfFieldID` lists its user-defined fields. That is how a client finds the
/// ids to subscribe to.
fn field_info(kind: Kind, part: Part) -> Value {
    let fields: Vec<Value> = part
        .fields()
        .iter()
        .map(|(name, data_type)| {
            let choices = match *name {
                "fieldID" => Some(kind.webhook_fields()),
                "udfFieldID" => Some(kind.udf_fields()),
                _ => None,
            };
            let picklist = choices.map(|choices| {
                let choices = choices.iter().enumerate();
                choices.map(|(order, (id, label))| picklist_value(&id.to_string(), label, order, false)).collect()
            });
            describe_field(FieldInfo {
                name,
                data_type: *data_type,
                required: *name == "id" || part.required_fields().contains(name),
                read_only: part.read_only_fields().contains(name),
                picklist,
                webhook_field: false,
            })
        })
        .collect();
    json!({"fields": fields})
}
