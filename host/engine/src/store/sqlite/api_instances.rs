//! Instances created through the management API. They live in the state
//! database, so they survive restarts along with their watermarks and outbox.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::dates::format_instant;
use crate::store::{ApiInstances, StoreError, instant};

/// An instance as the API stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInstance {
    /// The number the API answers with; the service knows the instance by its decimal text.
    pub id: i64,
    /// The instance token (`Authorization: ..., Element <token>`).
    pub token: String,
    /// The Cloud Elements body, as posted and patched.
    pub body: String,
    pub disabled: bool,
    /// The name of the API user who created it.
    pub owner: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ApiInstances for SqliteStore {
    /// Stores a new instance and returns its id.
    fn insert_api_instance(
        &self,
        owner: &str,
        token: &str,
        body: &str,
        disabled: bool,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let connection = self.lock();
        connection.execute(
            "INSERT INTO api_instances (token, body, disabled, created_at, updated_at, owner) VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
            params![token, body, disabled, format_instant(now), owner],
        )?;
        Ok(connection.last_insert_rowid())
    }

    /// Replaces an instance's body and disabled flag. Returns whether it exists.
    fn update_api_instance(&self, id: i64, body: &str, disabled: bool, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let changed = self.lock().execute(
            "UPDATE api_instances SET body = ?2, disabled = ?3, updated_at = ?4 WHERE id = ?1",
            params![id, body, disabled, format_instant(now)],
        )?;
        Ok(changed == 1)
    }

    /// Every API instance, by id.
    fn api_instances(&self) -> Result<Vec<StoredInstance>, StoreError> {
        let connection = self.read();
        let mut statement = connection.prepare_cached(
            "SELECT id, token, body, disabled, created_at, updated_at, owner FROM api_instances ORDER BY id",
        )?;
        let rows = statement.query_map([], read_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(stored).collect()
    }

    /// One API instance.
    fn api_instance(&self, id: i64) -> Result<Option<StoredInstance>, StoreError> {
        let connection = self.read();
        let row = connection
            .query_row(
                "SELECT id, token, body, disabled, created_at, updated_at, owner FROM api_instances WHERE id = ?1",
                [id],
                read_row,
            )
            .optional()?;
        row.map(stored).transpose()
    }

    /// Removes an API instance and everything kept for it (watermarks, outbox,
    /// seen keys, failed records), in one transaction. Returns whether it existed.
    fn delete_api_instance(&self, id: i64) -> Result<bool, StoreError> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let existed = transaction.execute("DELETE FROM api_instances WHERE id = ?1", [id])? == 1;
        let instance_id = id.to_string();
        transaction.execute(
            "DELETE FROM message_bodies WHERE seq IN (SELECT seq FROM outbox WHERE instance_id = ?1)",
            [&instance_id],
        )?;
        for table in ["delivery_attempts", "outbox", "watermarks", "seen_records", "failed_records", "instances"] {
            let key = if table == "instances" { "id" } else { "instance_id" };
            transaction.execute(&format!("DELETE FROM {table} WHERE {key} = ?1"), [&instance_id])?;
        }
        transaction.commit()?;
        Ok(existed)
    }
}

type Row = (i64, String, String, bool, String, String, String);

fn read_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?))
}

fn stored((id, token, body, disabled, created_at, updated_at, owner): Row) -> Result<StoredInstance, StoreError> {
    Ok(StoredInstance {
        id,
        token,
        body,
        disabled,
        owner,
        created_at: instant("instance creation time", created_at)?,
        updated_at: instant("instance change time", updated_at)?,
    })
}
