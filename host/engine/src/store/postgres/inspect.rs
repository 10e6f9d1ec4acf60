//! The event inspector's reads, as the PostgreSQL backend answers them.

use ::postgres::Row;
use chrono::{DateTime, Utc};

use super::leases::notify;
use super::{PgStore, summary_row};
use crate::dates::format_instant;
use crate::store::inspect::{
    ATTEMPT_COLUMNS, DeliveryMinute, Inspector, MessageSearch, SUMMARY_COLUMNS, StoredAttempt, delivery_minutes_sql,
};
use crate::store::{MessageSummary, StoreError};

impl Inspector for PgStore {
    fn search_messages(
        &self,
        instance_id: &str,
        search: &MessageSearch,
        limit: usize,
    ) -> Result<Vec<MessageSummary>, StoreError> {
        // `$n::text`: PostgreSQL must know a parameter's type, even where it is only compared with NULL.
        let rows = self.read()?.query(
            &format!(
                "SELECT {SUMMARY_COLUMNS} FROM outbox
                 WHERE instance_id = $1
                   AND ($2::text IS NULL OR resource = $2)
                   AND ($3::text IS NULL OR strpos(object_ids, '|' || $3 || '|') > 0)
                   AND ($4::text IS NULL OR strpos(event_types, '|' || $4 || '|') > 0)
                   AND ($5::text IS NULL OR created_at >= $5)
                   AND ($6::text IS NULL OR created_at < $6)
                   AND ($7::text IS NULL OR ($7 = 'delivered' AND state = 'delivered')
                        OR ($7 = 'pending' AND state = 'pending')
                        OR ($7 = 'failed' AND (state = 'dead' OR (state = 'pending' AND last_error IS NOT NULL))))
                 ORDER BY seq DESC LIMIT $8"
            ),
            &[
                &instance_id,
                &search.resource,
                &search.object_id,
                &search.event_type,
                &search.from.map(format_instant),
                &search.to.map(format_instant),
                &search.status.map(|status| status.as_str()),
                &(limit as i64),
            ],
        )?;
        Ok(rows.iter().map(summary_row).collect())
    }

    fn message_by_id(&self, instance_id: &str, message_id: &str) -> Result<Option<MessageSummary>, StoreError> {
        let row = self.read()?.query_opt(
            &format!("SELECT {SUMMARY_COLUMNS} FROM outbox WHERE instance_id = $1 AND message_id = $2"),
            &[&instance_id, &message_id],
        )?;
        Ok(row.as_ref().map(summary_row))
    }

    fn attempts(&self, seq: i64) -> Result<Vec<StoredAttempt>, StoreError> {
        let rows = self
            .read()?
            .query(&format!("SELECT {ATTEMPT_COLUMNS} FROM delivery_attempts WHERE seq = $1 ORDER BY id"), &[&seq])?;
        Ok(rows.iter().map(attempt_row).collect())
    }

    fn redeliver(&self, instance_id: &str, seqs: &[i64], now: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut connection = self.lock()?;
        let mut transaction = connection.transaction()?;
        let changed = transaction.execute(
            "UPDATE outbox SET state = 'pending', attempts = 0, last_error = NULL, delivered_at = NULL, next_attempt_at = $2
             WHERE instance_id = $1 AND seq = ANY($3)",
            &[&instance_id, &format_instant(now), &seqs],
        )?;
        if changed > 0 {
            // The host delivering this instance may not be this one.
            notify(&mut transaction, &format!("outbox:{instance_id}"))?;
        }
        transaction.commit()?;
        Ok(changed as usize)
    }

    fn delivery_minutes(&self, instance_id: &str, since: DateTime<Utc>) -> Result<Vec<DeliveryMinute>, StoreError> {
        let rows = self.read()?.query(&delivery_minutes_sql("$1", "$2"), &[&instance_id, &format_instant(since)])?;
        Ok(rows
            .iter()
            .map(|row| DeliveryMinute {
                minute: row.get(0),
                bucket: row.get::<_, i32>(1) as usize,
                delivered_events: row.get::<_, i64>(2) as u64,
                failed_events: row.get::<_, i64>(3) as u64,
                delivered_attempts: row.get::<_, i64>(4) as u64,
            })
            .collect())
    }
}

fn attempt_row(row: &Row) -> StoredAttempt {
    StoredAttempt {
        at: row.get(0),
        status: row.get::<_, Option<i32>>(1).map(|status| status as u16),
        latency_ms: row.get(2),
        error: row.get(3),
        answer: row.get(4),
        headers: row.get(5),
        host: row.get(6),
    }
}
