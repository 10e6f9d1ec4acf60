//! Uploaded plugins and their versions, as the SQLite backend keeps them. The
//! transactions that change which version is active also notify the channel
//! `autotask_events` with `plugins`: the other hosts of the fleet hear of it
//! when the transaction commits, and write the version into their plugin directory.

use ::postgres::{Row, Transaction};
use chrono::{DateTime, Utc};

use super::PgStore;
use crate::dates::format_instant;
use crate::store::plugin_versions::{FROM, SUMMARY};
use crate::store::{ActivePlugin, PluginVersion, PluginVersions, StoreError, instant, plugin_resource};

impl PluginVersions for PgStore {
    /// Takes the table's lock first: two hosts saving a version of one name at
    /// once would otherwise both number theirs the next one (SQLite has one writer).
    fn save_plugin_version(
        &self,
        name: &str,
        bytes: &[u8],
        sha256: &str,
        uploaded_by: &str,
        now: DateTime<Utc>,
    ) -> Result<(PluginVersion, bool), StoreError> {
        let mut connection = self.lock()?;
        let mut transaction = connection.transaction()?;
        transaction.batch_execute("LOCK TABLE plugin_versions IN EXCLUSIVE MODE")?;
        let existing: Option<i64> = transaction
            .query_opt("SELECT version FROM plugin_versions WHERE name = $1 AND sha256 = $2", &[&name, &sha256])?
            .map(|row| row.get(0));
        let version = match existing {
            Some(version) => version,
            None => {
                let next: i64 = transaction
                    .query_one("SELECT COALESCE(MAX(version), 0) + 1 FROM plugin_versions WHERE name = $1", &[&name])?
                    .get(0);
                transaction.execute(
                    "INSERT INTO plugin_versions (name, version, sha256, size, bytes, uploaded_at, uploaded_by)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    &[&name, &next, &sha256, &(bytes.len() as i64), &bytes, &format_instant(now), &uploaded_by],
                )?;
                next
            }
        };
        activate(&mut transaction, name, version, now)?;
        let saved = summary_on(&mut transaction, name, version)?
            .ok_or_else(|| StoreError::Corrupt { what: "plugin version", value: format!("{name} {version}") })?;
        transaction.commit()?;
        Ok((saved, existing.is_none()))
    }

    fn activate_plugin_version(
        &self,
        name: &str,
        version: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<PluginVersion>, StoreError> {
        let mut connection = self.lock()?;
        let mut transaction = connection.transaction()?;
        if summary_on(&mut transaction, name, version)?.is_none() {
            return Ok(None);
        }
        activate(&mut transaction, name, version, now)?;
        let activated = summary_on(&mut transaction, name, version)?;
        transaction.commit()?;
        Ok(activated)
    }

    fn plugin_versions(&self, name: &str) -> Result<Vec<PluginVersion>, StoreError> {
        let rows = self
            .read()?
            .query(&format!("SELECT {SUMMARY} {FROM} WHERE v.name = $1 ORDER BY v.version DESC"), &[&name])?;
        rows.iter().map(summary).collect()
    }

    fn active_plugins(&self) -> Result<Vec<ActivePlugin>, StoreError> {
        let rows = self.read()?.query(
            "SELECT a.name, a.version, v.sha256 FROM active_plugins a
             JOIN plugin_versions v ON v.name = a.name AND v.version = a.version ORDER BY a.resource",
            &[],
        )?;
        Ok(rows.iter().map(|row| ActivePlugin { name: row.get(0), version: row.get(1), sha256: row.get(2) }).collect())
    }

    fn plugin_bytes(&self, name: &str, version: i64) -> Result<Option<Vec<u8>>, StoreError> {
        let row = self
            .read()?
            .query_opt("SELECT bytes FROM plugin_versions WHERE name = $1 AND version = $2", &[&name, &version])?;
        Ok(row.map(|row| row.get(0)))
    }
}

/// Makes `name` `version` the plugin of its resource, and tells the fleet on commit.
fn activate(transaction: &mut Transaction<'_>, name: &str, version: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
    transaction.execute(
        "INSERT INTO active_plugins (resource, name, version, activated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (resource) DO UPDATE SET name = excluded.name, version = excluded.version,
                                               activated_at = excluded.activated_at",
        &[&plugin_resource(name), &name, &version, &format_instant(now)],
    )?;
    super::leases::notify(transaction, "plugins")?;
    Ok(())
}

fn summary_on(
    transaction: &mut Transaction<'_>,
    name: &str,
    version: i64,
) -> Result<Option<PluginVersion>, StoreError> {
    let row = transaction
        .query_opt(&format!("SELECT {SUMMARY} {FROM} WHERE v.name = $1 AND v.version = $2"), &[&name, &version])?;
    row.as_ref().map(summary).transpose()
}

fn summary(row: &Row) -> Result<PluginVersion, StoreError> {
    Ok(PluginVersion {
        name: row.get(0),
        version: row.get(1),
        sha256: row.get(2),
        size: row.get::<_, i64>(3) as u64,
        uploaded_at: instant("plugin upload time", row.get(4))?,
        uploaded_by: row.get(5),
        active: row.get(6),
    })
}
