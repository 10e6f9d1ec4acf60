//! Push state: the webhook registered for each resource and the callouts
//! waiting to be mapped, as the SQLite backend keeps them.

use chrono::{DateTime, Utc};

use super::PgStore;
use crate::dates::format_instant;
use crate::store::{NewCallout, PushStore, StoreError, StoredCallout, StoredWebhook};

impl PushStore for PgStore {
    fn push_webhook(&self, instance_id: &str, resource: &str) -> Result<Option<StoredWebhook>, StoreError> {
        let row = self.read()?.query_opt(
            "SELECT webhook_entity, webhook_id, guid, secret, url FROM push_webhooks
             WHERE instance_id = $1 AND resource = $2",
            &[&instance_id, &resource],
        )?;
        Ok(row.map(|row| StoredWebhook {
            webhook_entity: row.get(0),
            webhook_id: row.get(1),
            guid: row.get(2),
            secret: row.get(3),
            url: row.get(4),
        }))
    }

    fn save_push_webhook(
        &self,
        instance_id: &str,
        resource: &str,
        webhook: &StoredWebhook,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.lock()?.execute(
            "INSERT INTO push_webhooks (instance_id, resource, webhook_entity, webhook_id, guid, secret, url, registered_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (instance_id, resource) DO UPDATE SET webhook_entity = excluded.webhook_entity,
                 webhook_id = excluded.webhook_id, guid = excluded.guid, secret = excluded.secret,
                 url = excluded.url, registered_at = excluded.registered_at",
            &[
                &instance_id,
                &resource,
                &webhook.webhook_entity,
                &webhook.webhook_id,
                &webhook.guid,
                &webhook.secret,
                &webhook.url,
                &format_instant(now),
            ],
        )?;
        Ok(())
    }

    fn forget_push_webhook(&self, instance_id: &str, resource: &str) -> Result<(), StoreError> {
        let mut connection = self.lock()?;
        let mut transaction = connection.transaction()?;
        transaction.execute(
            "DELETE FROM push_webhooks WHERE instance_id = $1 AND resource = $2",
            &[&instance_id, &resource],
        )?;
        transaction.execute(
            "DELETE FROM push_callouts WHERE instance_id = $1 AND resource = $2",
            &[&instance_id, &resource],
        )?;
        transaction.commit()?;
        Ok(())
    }

    fn store_callout(
        &self,
        instance_id: &str,
        resource: &str,
        callout: &NewCallout,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut connection = self.lock()?;
        let mut transaction = connection.transaction()?;
        let added = transaction.execute(
            "INSERT INTO push_callouts (instance_id, resource, callout_key, action, object_id, event_time, body, received_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            &[
                &instance_id,
                &resource,
                &callout.key,
                &callout.action,
                &callout.object_id,
                &callout.event_time,
                &callout.body,
                &format_instant(now),
            ],
        )?;
        if added == 1 {
            // The host polling this resource may not be the one Autotask called.
            super::leases::notify(&mut transaction, &format!("callouts:{instance_id}/{resource}"))?;
        }
        transaction.commit()?;
        Ok(added == 1)
    }

    fn pending_callouts(
        &self,
        instance_id: &str,
        resource: &str,
        limit: usize,
    ) -> Result<Vec<StoredCallout>, StoreError> {
        let rows = self.read()?.query(
            "SELECT id, callout_key, action, object_id, event_time, body FROM push_callouts
             WHERE instance_id = $1 AND resource = $2 ORDER BY id LIMIT $3",
            &[&instance_id, &resource, &(limit as i64)],
        )?;
        Ok(rows
            .iter()
            .map(|row| StoredCallout {
                id: row.get(0),
                callout: NewCallout {
                    key: row.get(1),
                    action: row.get(2),
                    object_id: row.get(3),
                    event_time: row.get(4),
                    body: row.get(5),
                },
            })
            .collect())
    }
}
