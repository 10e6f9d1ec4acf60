//! Instances created through the management API, as the SQLite backend keeps them.

use ::postgres::Row;
use chrono::{DateTime, Utc};

use super::PgStore;
use super::leases::notify;
use crate::dates::format_instant;
use crate::store::leases::INSTANCES_CHANGED;
use crate::store::{ApiInstances, StoreError, StoredInstance, instant};

const COLUMNS: &str = "id, token, body, disabled, created_at, updated_at, owner";

impl ApiInstances for PgStore {
    /// `RETURNING id` where SQLite reads `last_insert_rowid()`.
    fn insert_api_instance(
        &self,
        owner: &str,
        token: &str,
        body: &str,
        disabled: bool,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut connection = self.lock()?;
        let mut transaction = connection.transaction()?;
        let row = transaction.query_one(
            "INSERT INTO api_instances (token, body, disabled, created_at, updated_at, owner)
             VALUES ($1, $2, $3, $4, $4, $5) RETURNING id",
            &[&token, &body, &disabled, &format_instant(now), &owner],
        )?;
        // The other hosts of a fleet start it too (and contend for its leases).
        notify(&mut transaction, INSTANCES_CHANGED)?;
        transaction.commit()?;
        Ok(row.get(0))
    }

    fn update_api_instance(&self, id: i64, body: &str, disabled: bool, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut connection = self.lock()?;
        let mut transaction = connection.transaction()?;
        let changed = transaction.execute(
            "UPDATE api_instances SET body = $2, disabled = $3, updated_at = $4 WHERE id = $1",
            &[&id, &body, &disabled, &format_instant(now)],
        )?;
        notify(&mut transaction, INSTANCES_CHANGED)?;
        transaction.commit()?;
        Ok(changed == 1)
    }

    fn api_instances(&self) -> Result<Vec<StoredInstance>, StoreError> {
        let rows = self.read()?.query(&format!("SELECT {COLUMNS} FROM api_instances ORDER BY id"), &[])?;
        rows.iter().map(stored).collect()
    }

    fn api_instance(&self, id: i64) -> Result<Option<StoredInstance>, StoreError> {
        let row = self.read()?.query_opt(&format!("SELECT {COLUMNS} FROM api_instances WHERE id = $1"), &[&id])?;
        row.as_ref().map(stored).transpose()
    }

    fn delete_api_instance(&self, id: i64) -> Result<bool, StoreError> {
        let mut connection = self.lock()?;
        let mut transaction = connection.transaction()?;
        let existed = transaction.execute("DELETE FROM api_instances WHERE id = $1", &[&id])? == 1;
        let instance_id = id.to_string();
        transaction.execute(
            "DELETE FROM message_bodies WHERE seq IN (SELECT seq FROM outbox WHERE instance_id = $1)",
            &[&instance_id],
        )?;
        for table in ["delivery_attempts", "outbox", "watermarks", "seen_records", "failed_records", "instances"] {
            let key = if table == "instances" { "id" } else { "instance_id" };
            transaction.execute(&format!("DELETE FROM {table} WHERE {key} = $1"), &[&instance_id])?;
        }
        transaction.execute(
            "DELETE FROM leases WHERE key = $1 OR key LIKE $2",
            &[&crate::store::leases::delivery_lease_key(&instance_id), &format!("poll:{instance_id}/%")],
        )?;
        notify(&mut transaction, INSTANCES_CHANGED)?;
        transaction.commit()?;
        Ok(existed)
    }
}

fn stored(row: &Row) -> Result<StoredInstance, StoreError> {
    Ok(StoredInstance {
        id: row.get(0),
        token: row.get(1),
        body: row.get(2),
        disabled: row.get(3),
        created_at: instant("instance creation time", row.get(4))?,
        updated_at: instant("instance change time", row.get(5))?,
        owner: row.get(6),
    })
}
