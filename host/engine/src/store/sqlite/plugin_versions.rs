//! Uploaded plugins and their versions in the SQLite file.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};

use super::SqliteStore;
use crate::dates::format_instant;
use crate::store::plugin_versions::{FROM, SUMMARY};
use crate::store::{ActivePlugin, PluginVersion, PluginVersions, StoreError, instant, plugin_resource};

impl PluginVersions for SqliteStore {
    fn save_plugin_version(
        &self,
        name: &str,
        bytes: &[u8],
        sha256: &str,
        uploaded_by: &str,
        now: DateTime<Utc>,
    ) -> Result<(PluginVersion, bool), StoreError> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let existing: Option<i64> = transaction
            .query_row("SELECT version FROM plugin_versions WHERE name = ?1 AND sha256 = ?2", [name, sha256], |row| {
                row.get(0)
            })
            .optional()?;
        let version = match existing {
            Some(version) => version,
            None => {
                let next: i64 = transaction.query_row(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM plugin_versions WHERE name = ?1",
                    [name],
                    |row| row.get(0),
                )?;
                transaction.execute(
                    "INSERT INTO plugin_versions (name, version, sha256, size, bytes, uploaded_at, uploaded_by)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![name, next, sha256, bytes.len() as i64, bytes, format_instant(now), uploaded_by],
                )?;
                next
            }
        };
        activate(&transaction, name, version, now)?;
        let saved = summary_on(&transaction, name, version)?.ok_or_else(|| missing(name, version))?;
        transaction.commit()?;
        Ok((saved, existing.is_none()))
    }

    fn activate_plugin_version(
        &self,
        name: &str,
        version: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<PluginVersion>, StoreError> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        if summary_on(&transaction, name, version)?.is_none() {
            return Ok(None);
        }
        activate(&transaction, name, version, now)?;
        let activated = summary_on(&transaction, name, version)?;
        transaction.commit()?;
        Ok(activated)
    }

    fn plugin_versions(&self, name: &str) -> Result<Vec<PluginVersion>, StoreError> {
        let connection = self.read();
        let mut statement =
            connection.prepare_cached(&format!("SELECT {SUMMARY} {FROM} WHERE v.name = ?1 ORDER BY v.version DESC"))?;
        let rows = statement.query_map([name], read_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(summary).collect()
    }

    fn active_plugins(&self) -> Result<Vec<ActivePlugin>, StoreError> {
        let connection = self.read();
        let mut statement = connection.prepare_cached(
            "SELECT a.name, a.version, v.sha256 FROM active_plugins a
             JOIN plugin_versions v ON v.name = a.name AND v.version = a.version ORDER BY a.resource",
        )?;
        let rows = statement
            .query_map([], |row| Ok(ActivePlugin { name: row.get(0)?, version: row.get(1)?, sha256: row.get(2)? }))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn plugin_bytes(&self, name: &str, version: i64) -> Result<Option<Vec<u8>>, StoreError> {
        let connection = self.read();
        let bytes = connection
            .query_row(
                "SELECT bytes FROM plugin_versions WHERE name = ?1 AND version = ?2",
                params![name, version],
                |row| row.get(0),
            )
            .optional()?;
        Ok(bytes)
    }
}

/// Makes `name` `version` the plugin of its resource.
fn activate(transaction: &Transaction<'_>, name: &str, version: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
    transaction.execute(
        "INSERT INTO active_plugins (resource, name, version, activated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (resource) DO UPDATE SET name = excluded.name, version = excluded.version,
                                               activated_at = excluded.activated_at",
        params![plugin_resource(name), name, version, format_instant(now)],
    )?;
    Ok(())
}

fn summary_on(transaction: &Transaction<'_>, name: &str, version: i64) -> Result<Option<PluginVersion>, StoreError> {
    let row = transaction
        .query_row(
            &format!("SELECT {SUMMARY} {FROM} WHERE v.name = ?1 AND v.version = ?2"),
            params![name, version],
            read_row,
        )
        .optional()?;
    row.map(summary).transpose()
}

/// A version the transaction just wrote and cannot read back.
fn missing(name: &str, version: i64) -> StoreError {
    StoreError::Corrupt { what: "plugin version", value: format!("{name} {version}") }
}

type Row = (String, i64, String, i64, String, String, bool);

fn read_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?))
}

fn summary((name, version, sha256, size, uploaded_at, uploaded_by, active): Row) -> Result<PluginVersion, StoreError> {
    Ok(PluginVersion {
        name,
        version,
        sha256,
        size: size as u64,
        uploaded_at: instant("plugin upload time", uploaded_at)?,
        uploaded_by,
        active,
    })
}
