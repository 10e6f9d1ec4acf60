//! The event inspector's reads, as the SQLite backend answers them.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, summary_row};
use crate::dates::format_instant;
use crate::store::inspect::{
    ATTEMPT_COLUMNS, DeliveryMinute, Inspector, MessageSearch, SUMMARY_COLUMNS, StoredAttempt, delivery_minutes_sql,
};
use crate::store::{MessageSummary, StoreError};

impl Inspector for SqliteStore {
    fn search_messages(
        &self,
        instance_id: &str,
        search: &MessageSearch,
        limit: usize,
    ) -> Result<Vec<MessageSummary>, StoreError> {
        let connection = self.read();
        // `instr` finds `|id|` exactly, where LIKE would need its wildcards escaped.
        let mut statement = connection.prepare_cached(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM outbox
             WHERE instance_id = ?1
               AND (?2 IS NULL OR resource = ?2)
               AND (?3 IS NULL OR instr(object_ids, '|' || ?3 || '|') > 0)
               AND (?4 IS NULL OR instr(event_types, '|' || ?4 || '|') > 0)
               AND (?5 IS NULL OR created_at >= ?5)
               AND (?6 IS NULL OR created_at < ?6)
               AND (?7 IS NULL OR (?7 = 'delivered' AND state = 'delivered')
                    OR (?7 = 'pending' AND state = 'pending')
                    OR (?7 = 'failed' AND (state = 'dead' OR (state = 'pending' AND last_error IS NOT NULL))))
             ORDER BY seq DESC LIMIT ?8"
        ))?;
        let rows = statement
            .query_map(
                params![
                    instance_id,
                    search.resource,
                    search.object_id,
                    search.event_type,
                    search.from.map(format_instant),
                    search.to.map(format_instant),
                    search.status.map(|status| status.as_str()),
                    limit as i64
                ],
                summary_row,
            )?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn message_by_id(&self, instance_id: &str, message_id: &str) -> Result<Option<MessageSummary>, StoreError> {
        let row = self
            .read()
            .query_row(
                &format!("SELECT {SUMMARY_COLUMNS} FROM outbox WHERE instance_id = ?1 AND message_id = ?2"),
                [instance_id, message_id],
                summary_row,
            )
            .optional()?;
        Ok(row)
    }

    fn attempts(&self, seq: i64) -> Result<Vec<StoredAttempt>, StoreError> {
        let connection = self.read();
        let mut statement = connection
            .prepare_cached(&format!("SELECT {ATTEMPT_COLUMNS} FROM delivery_attempts WHERE seq = ?1 ORDER BY id"))?;
        let rows = statement
            .query_map([seq], |row| {
                Ok(StoredAttempt {
                    at: row.get(0)?,
                    status: row.get::<_, Option<i64>>(1)?.map(|status| status as u16),
                    latency_ms: row.get(2)?,
                    error: row.get(3)?,
                    answer: row.get(4)?,
                    headers: row.get(5)?,
                    host: row.get(6)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn redeliver(&self, instance_id: &str, seqs: &[i64], now: DateTime<Utc>) -> Result<usize, StoreError> {
        let seqs = serde_json::to_string(seqs).expect("a list of integers is JSON");
        let changed = self.lock().execute(
            "UPDATE outbox SET state = 'pending', attempts = 0, last_error = NULL, delivered_at = NULL, next_attempt_at = ?2
             WHERE instance_id = ?1 AND seq IN (SELECT value FROM json_each(?3))",
            params![instance_id, format_instant(now), seqs],
        )?;
        Ok(changed)
    }

    fn delivery_minutes(&self, instance_id: &str, since: DateTime<Utc>) -> Result<Vec<DeliveryMinute>, StoreError> {
        let connection = self.read();
        let mut statement = connection.prepare_cached(&delivery_minutes_sql("?1", "?2"))?;
        let rows = statement
            .query_map(params![instance_id, format_instant(since)], |row| {
                Ok(DeliveryMinute {
                    minute: row.get(0)?,
                    bucket: row.get::<_, i64>(1)? as usize,
                    delivered_events: row.get::<_, i64>(2)? as u64,
                    failed_events: row.get::<_, i64>(3)? as u64,
                    delivered_attempts: row.get::<_, i64>(4)? as u64,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }
}
