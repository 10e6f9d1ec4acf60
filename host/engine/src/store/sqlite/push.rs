//! Push state: the webhook registered in Autotask for each resource with push
//! on, and the callouts received and not yet turned into events.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::dates::format_instant;
use crate::store::{PushStore, StoreError};

/// The webhook the service registered for a resource.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredWebhook {
    /// `TicketWebhooks`, `CompanyWebhooks`, ...
    pub webhook_entity: String,
    pub webhook_id: i64,
    pub guid: String,
    /// Signs its callouts; never shown.
    pub secret: String,
    /// Where it calls out to.
    pub url: String,
}

/// Written without the secret, so that no log line or error can show it.
impl std::fmt::Debug for StoredWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredWebhook")
            .field("webhook_entity", &self.webhook_entity)
            .field("webhook_id", &self.webhook_id)
            .field("guid", &self.guid)
            .field("secret", &"***")
            .field("url", &self.url)
            .finish()
    }
}

/// A callout as received: enough to find the record it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCallout {
    /// The webhook's GUID and the callout's sequence number: the same callout
    /// delivered twice is stored once.
    pub key: String,
    /// `Create`, `Update` or `Delete`.
    pub action: String,
    pub object_id: String,
    /// When the change happened, as the callout says (RFC 3339).
    pub event_time: Option<String>,
    /// The callout's body as received.
    pub body: String,
}

/// A stored callout waiting to be turned into events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCallout {
    pub id: i64,
    pub callout: NewCallout,
}

impl PushStore for SqliteStore {
    /// The webhook registered for a resource, if one is.
    fn push_webhook(&self, instance_id: &str, resource: &str) -> Result<Option<StoredWebhook>, StoreError> {
        let connection = self.read();
        let webhook = connection
            .prepare_cached(
                "SELECT webhook_entity, webhook_id, guid, secret, url FROM push_webhooks
                 WHERE instance_id = ?1 AND resource = ?2",
            )?
            .query_row([instance_id, resource], |row| {
                Ok(StoredWebhook {
                    webhook_entity: row.get(0)?,
                    webhook_id: row.get(1)?,
                    guid: row.get(2)?,
                    secret: row.get(3)?,
                    url: row.get(4)?,
                })
            })
            .optional()?;
        Ok(webhook)
    }

    /// Records the webhook registered for a resource, replacing any earlier one.
    fn save_push_webhook(
        &self,
        instance_id: &str,
        resource: &str,
        webhook: &StoredWebhook,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.lock().execute(
            "INSERT INTO push_webhooks (instance_id, resource, webhook_entity, webhook_id, guid, secret, url, registered_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (instance_id, resource) DO UPDATE SET webhook_entity = excluded.webhook_entity,
                 webhook_id = excluded.webhook_id, guid = excluded.guid, secret = excluded.secret,
                 url = excluded.url, registered_at = excluded.registered_at",
            params![
                instance_id,
                resource,
                webhook.webhook_entity,
                webhook.webhook_id,
                webhook.guid,
                webhook.secret,
                webhook.url,
                format_instant(now)
            ],
        )?;
        Ok(())
    }

    /// Forgets a resource's webhook and the callouts it left unmapped (the
    /// webhook was deleted in Autotask: the resource is gone or push is off).
    fn forget_push_webhook(&self, instance_id: &str, resource: &str) -> Result<(), StoreError> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        transaction
            .execute("DELETE FROM push_webhooks WHERE instance_id = ?1 AND resource = ?2", [instance_id, resource])?;
        transaction
            .execute("DELETE FROM push_callouts WHERE instance_id = ?1 AND resource = ?2", [instance_id, resource])?;
        transaction.commit()?;
        Ok(())
    }

    /// Stores a callout; `false` when the same callout (its key) is already waiting.
    fn store_callout(
        &self,
        instance_id: &str,
        resource: &str,
        callout: &NewCallout,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let added = self.lock().prepare_cached(
            "INSERT OR IGNORE INTO push_callouts (instance_id, resource, callout_key, action, object_id, event_time, body, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            instance_id,
            resource,
            callout.key,
            callout.action,
            callout.object_id,
            callout.event_time,
            callout.body,
            format_instant(now)
        ])?;
        Ok(added == 1)
    }

    /// The oldest `limit` callouts of a resource waiting to be mapped, oldest first.
    fn pending_callouts(
        &self,
        instance_id: &str,
        resource: &str,
        limit: usize,
    ) -> Result<Vec<StoredCallout>, StoreError> {
        let connection = self.read();
        let mut statement = connection.prepare_cached(
            "SELECT id, callout_key, action, object_id, event_time, body FROM push_callouts
             WHERE instance_id = ?1 AND resource = ?2 ORDER BY id LIMIT ?3",
        )?;
        let rows = statement.query_map(params![instance_id, resource, limit as i64], |row| {
            Ok(StoredCallout {
                id: row.get(0)?,
                callout: NewCallout {
                    key: row.get(1)?,
                    action: row.get(2)?,
                    object_id: row.get(3)?,
                    event_time: row.get(4)?,
                    body: row.get(5)?,
                },
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
