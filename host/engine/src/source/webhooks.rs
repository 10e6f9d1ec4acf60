//! Autotask's REST webhooks, as the service uses them: find, create, check,
//! reactivate and delete the webhook of one resource, and read which fields a
//! webhook can subscribe to.
//!
//! A webhook is an entity of its own (`TicketWebhooks`, `CompanyWebhooks`, ...)
//! with child collections: `Fields` (which changes call out) and
//! `ExcludedResources`. Creating one is a POST answered with its `itemId`;
//! it calls out once it is active and has at least one subscribed field
//! (`isReady`). The IDs of the fields it can subscribe to are the picklist of
//! `fieldID` in `{Entity}WebhookFields/entityInformation/fields`.

use reqwest::Method;
use serde_json::{Value, json};

use super::filter::{Filter, Op, QueryBody};
use super::{AutotaskClient, SourceError};

/// The webhook entities of the Autotask entities that have webhooks:
/// (entity, webhook entity, webhook field entity, callout `EntityType`).
const WEBHOOK_ENTITIES: [(&str, &str, &str, &str); 5] = [
    ("Tickets", "TicketWebhooks", "TicketWebhookFields", "Ticket"),
    ("TicketNotes", "TicketNoteWebhooks", "TicketNoteWebhookFields", "TicketNote"),
    ("Companies", "CompanyWebhooks", "CompanyWebhookFields", "Company"),
    ("Contacts", "ContactWebhooks", "ContactWebhookFields", "Contact"),
    ("ConfigurationItems", "ConfigurationItemWebhooks", "ConfigurationItemWebhookFields", "ConfigurationItem"),
];

/// The webhook entity of an Autotask entity (`Tickets` → `TicketWebhooks`),
/// when Autotask offers webhooks for it.
pub fn webhook_entity(entity: &str) -> Option<&'static str> {
    WEBHOOK_ENTITIES.iter().find(|(name, ..)| name.eq_ignore_ascii_case(entity)).map(|(_, webhooks, ..)| *webhooks)
}

/// The `EntityType` callouts of an entity's webhooks carry (`Tickets` → `Ticket`).
pub fn callout_entity_type(entity: &str) -> Option<&'static str> {
    WEBHOOK_ENTITIES.iter().find(|(name, ..)| name.eq_ignore_ascii_case(entity)).map(|(.., singular)| *singular)
}

fn field_entity(webhooks: &str) -> &'static str {
    WEBHOOK_ENTITIES.iter().find(|(_, name, ..)| *name == webhooks).map_or("", |(_, _, fields, _)| *fields)
}

/// A webhook as Autotask describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub guid: String,
    pub is_active: bool,
    pub is_ready: bool,
}

impl Webhook {
    fn read(webhooks: &str, item: &Value) -> Result<Webhook, SourceError> {
        let field = |name: &str| {
            item.as_object().and_then(|object| object.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)))
        };
        let text = |name: &str| field(name).and_then(|(_, v)| v.as_str()).unwrap_or_default().to_owned();
        let flag = |name: &str| field(name).and_then(|(_, v)| v.as_bool()).unwrap_or(false);
        let id = field("id").and_then(|(_, v)| v.as_i64()).ok_or_else(|| SourceError::Malformed {
            entity: webhooks.into(),
            message: "a webhook without an integer `id`".into(),
        })?;
        Ok(Webhook {
            id,
            name: text("name"),
            url: text("webhookUrl"),
            guid: text("webhookGUID"),
            is_active: flag("isActive"),
            is_ready: flag("isReady"),
        })
    }
}

/// What a new webhook is created with.
pub struct NewWebhook<'a> {
    pub name: &'a str,
    pub url: &'a str,
    pub deactivation_url: &'a str,
    pub secret: &'a str,
}

impl AutotaskClient {
    /// Webhook `id` of `webhooks`, or `None` when Autotask has none by that id.
    pub async fn webhook(&self, webhooks: &str, id: i64) -> Result<Option<Webhook>, SourceError> {
        let answer = self.call_json(webhooks, Method::GET, &format!("{webhooks}/{id}"), None).await;
        let answer = match answer {
            Err(SourceError::Http { status: 404, .. }) => return Ok(None),
            other => other?,
        };
        match answer.get("item") {
            None | Some(Value::Null) => Ok(None),
            Some(item) => Webhook::read(webhooks, item).map(Some),
        }
    }

    /// The webhooks of `webhooks` that call out to `url`.
    pub async fn webhooks_calling(&self, webhooks: &str, url: &str) -> Result<Vec<Webhook>, SourceError> {
        let body = QueryBody::new(vec![Filter::condition(Op::Eq, "webhookUrl", url)]);
        let found = self.query_all(webhooks, &body).await?;
        found
            .records
            .iter()
            .map(|raw| {
                let item: Value = serde_json::from_str(raw.get())
                    .map_err(|e| SourceError::Malformed { entity: webhooks.into(), message: e.to_string() })?;
                Webhook::read(webhooks, &item)
            })
            .collect()
    }

    /// Creates an active webhook subscribed to creates, updates and deletes;
    /// its id. It calls out once a field is subscribed ([`Self::subscribe_fields`]).
    pub async fn create_webhook(&self, webhooks: &str, new: &NewWebhook<'_>) -> Result<i64, SourceError> {
        let body = json!({
            "IsActive": true,
            "Name": new.name,
            "WebhookUrl": new.url,
            "DeactivationUrl": new.deactivation_url,
            "SecretKey": new.secret,
            "IsSubscribedToCreateEvents": true,
            "IsSubscribedToUpdateEvents": true,
            "IsSubscribedToDeleteEvents": true,
            "SendThresholdExceededNotification": false,
        });
        let answer = self.call_json(webhooks, Method::POST, webhooks, Some(&body)).await?;
        item_id(webhooks, &answer)
    }

    /// Changes some of a webhook's fields (Autotask's PATCH: the body names the id).
    pub async fn patch_webhook(&self, webhooks: &str, id: i64, mut fields: Value) -> Result<(), SourceError> {
        fields["id"] = json!(id);
        self.call_json(webhooks, Method::PATCH, webhooks, Some(&fields)).await.map(drop)
    }

    /// Deletes a webhook; one Autotask no longer has is already deleted.
    pub async fn delete_webhook(&self, webhooks: &str, id: i64) -> Result<(), SourceError> {
        match self.call_json(webhooks, Method::DELETE, &format!("{webhooks}/{id}"), None).await {
            Ok(_) | Err(SourceError::Http { status: 404, .. }) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// The IDs of every field a webhook of `webhooks` can subscribe to.
    pub async fn webhook_field_ids(&self, webhooks: &str) -> Result<Vec<i64>, SourceError> {
        let fields = field_entity(webhooks);
        let path = format!("{fields}/entityInformation/fields");
        let answer = self.call_json(fields, Method::GET, &path, None).await?;
        let field_id = answer["fields"]
            .as_array()
            .and_then(|all| {
                all.iter().find(|field| field["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case("fieldID")))
            })
            .ok_or_else(|| SourceError::Malformed { entity: fields.into(), message: "no `fieldID` field".into() })?;
        let ids = field_id["picklistValues"]
            .as_array()
            .map(|values| {
                values
                    .iter()
                    .filter_map(|value| match &value["value"] {
                        Value::String(text) => text.parse().ok(),
                        other => other.as_i64(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(ids)
    }

    /// Subscribes webhook `id` to changes of each of `field_ids`.
    pub async fn subscribe_fields(&self, webhooks: &str, id: i64, field_ids: &[i64]) -> Result<(), SourceError> {
        let path = format!("{webhooks}/{id}/Fields");
        for field_id in field_ids {
            let body = json!({"FieldID": field_id, "IsSubscribedField": true, "IsDisplayAlwaysField": false});
            self.call_json(webhooks, Method::POST, &path, Some(&body)).await?;
        }
        Ok(())
    }
}

/// The `itemId` of a create's answer.
fn item_id(entity: &str, answer: &Value) -> Result<i64, SourceError> {
    answer
        .as_object()
        .and_then(|object| object.iter().find(|(key, _)| key.eq_ignore_ascii_case("itemId")))
        .and_then(|(_, id)| id.as_i64())
        .ok_or_else(|| SourceError::Malformed { entity: entity.into(), message: "an answer without `itemId`".into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_with_webhooks_are_found_case_insensitively() {
        assert_eq!(webhook_entity("Tickets"), Some("TicketWebhooks"));
        assert_eq!(webhook_entity("companies"), Some("CompanyWebhooks"));
        assert_eq!(webhook_entity("DeletedTicketLogs"), None);
        assert_eq!(callout_entity_type("Contacts"), Some("Contact"));
        assert_eq!(field_entity("TicketNoteWebhooks"), "TicketNoteWebhookFields");
    }

    #[test]
    fn a_webhook_is_read_whatever_the_case_of_its_fields() {
        let item = json!({"ID": 7, "name": "n", "WebhookUrl": "https://x/h", "webhookGUID": "g", "isActive": true, "IsReady": false});
        let webhook = Webhook::read("TicketWebhooks", &item).unwrap();
        assert_eq!(
            webhook,
            Webhook {
                id: 7,
                name: "n".into(),
                url: "https://x/h".into(),
                guid: "g".into(),
                is_active: true,
                is_ready: false
            }
        );
        assert!(Webhook::read("TicketWebhooks", &json!({"name": "no id"})).is_err());
    }
}
