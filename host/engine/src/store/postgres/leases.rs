//! A fleet's leases, hosts and notifications in PostgreSQL. Expiries are on
//! the database's clock (`now()`), so hosts never compare their own clocks.

use std::time::Duration;

use ::postgres::fallible_iterator::FallibleIterator;
use ::postgres::{Client, NoTls, Row, Transaction};
use chrono::{DateTime, Utc};

use super::PgStore;
use crate::store::leases::{FleetStatus, HostRow, LeaseRow, Leases, Notifications, RESYNC, Takeover};
use crate::store::{Fence, StoreError, instant};

/// The channel every host listens on; the payload says what changed.
pub(crate) const CHANNEL: &str = "autotask_events";

/// A `TIMESTAMPTZ` column read as milliseconds since the epoch (the client has no date types).
fn millis(column: &str) -> String {
    format!("(extract(epoch FROM {column}) * 1000)::bigint")
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn ttl_ms(ttl: Duration) -> i64 {
    ttl.as_millis() as i64
}

/// Tells every listening host `payload`, when the transaction commits
/// (PostgreSQL sends a payload once per transaction however often it is notified).
pub(crate) fn notify(transaction: &mut Transaction<'_>, payload: &str) -> Result<(), StoreError> {
    transaction.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])?;
    Ok(())
}

/// Refuses the transaction's write when `fence`'s lease has moved on to a
/// newer token. The row is locked until the commit, so a host taking the
/// lease over waits for this write to finish, and this write never lands
/// after a takeover.
pub(crate) fn check_fence(transaction: &mut Transaction<'_>, fence: Option<&Fence>) -> Result<(), StoreError> {
    let Some(fence) = fence else { return Ok(()) };
    let current = transaction
        .query_opt("SELECT 1 FROM leases WHERE key = $1 AND token = $2 FOR SHARE", &[&fence.key, &fence.token])?;
    match current {
        Some(_) => Ok(()),
        None => Err(StoreError::Fenced { key: fence.key.clone(), token: fence.token }),
    }
}

fn split(held: &[(String, i64)]) -> (Vec<String>, Vec<i64>) {
    held.iter().cloned().unzip()
}

impl Leases for PgStore {
    fn heartbeat(&self, host: &str, address: &str, ttl: Duration) -> Result<Vec<String>, StoreError> {
        let mut connection = self.lock()?;
        let mut transaction = connection.transaction()?;
        // A host seen again after being given up for dead starts a new life.
        transaction.execute(
            "INSERT INTO fleet_hosts (host, address, started_at, seen_at) VALUES ($1, $2, now(), now())
             ON CONFLICT (host) DO UPDATE SET address = excluded.address, seen_at = now(),
                 started_at = CASE WHEN fleet_hosts.seen_at < now() - $3 * interval '1 millisecond'
                                   THEN now() ELSE fleet_hosts.started_at END",
            &[&host, &address, &(ttl_ms(ttl) as f64)],
        )?;
        let rows = transaction.query(
            "SELECT host FROM fleet_hosts WHERE seen_at >= now() - $1 * interval '1 millisecond' ORDER BY host",
            &[&(ttl_ms(ttl) as f64)],
        )?;
        transaction.commit()?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    fn ensure_leases(&self, keys: &[String]) -> Result<(), StoreError> {
        self.lock()?.execute("INSERT INTO leases (key) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING", &[&keys])?;
        Ok(())
    }

    fn renew(&self, host: &str, held: &[(String, i64)], ttl: Duration) -> Result<Vec<(String, i64)>, StoreError> {
        if held.is_empty() {
            return Ok(Vec::new());
        }
        let (keys, tokens) = split(held);
        let rows = self.lock()?.query(
            "UPDATE leases l SET expires_at = now() + $4 * interval '1 millisecond'
             FROM unnest($2::text[], $3::bigint[]) AS h (key, token)
             WHERE l.key = h.key AND l.token = h.token AND l.holder = $1
             RETURNING l.key, l.token",
            &[&host, &keys, &tokens, &(ttl_ms(ttl) as f64)],
        )?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    fn acquire(&self, host: &str, keys: &[String], ttl: Duration) -> Result<Vec<(String, i64)>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // `SKIP LOCKED`: a row another host is taking (or writing under) is
        // left to it, never waited for; the next round looks again.
        let rows = self.lock()?.query(
            "WITH free AS (
                 SELECT key, holder, expires_at FROM leases
                 WHERE key = ANY($2) AND (holder IS NULL OR expires_at < now())
                 FOR UPDATE SKIP LOCKED
             ), taken AS (
                 UPDATE leases l SET holder = $1, token = l.token + 1,
                                     expires_at = now() + $3 * interval '1 millisecond'
                 FROM free WHERE l.key = free.key
                 RETURNING l.key, l.token, free.holder AS previous_holder, free.expires_at AS previous_expiry
             ), recorded AS (
                 INSERT INTO fleet_takeovers (key, token, host, previous_holder, previous_expiry, taken_at)
                 SELECT key, token, $1, previous_holder, previous_expiry, now() FROM taken
             )
             SELECT key, token FROM taken",
            &[&host, &keys, &(ttl_ms(ttl) as f64)],
        )?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    fn release(&self, host: &str, held: &[(String, i64)]) -> Result<(), StoreError> {
        if held.is_empty() {
            return Ok(());
        }
        let (keys, tokens) = split(held);
        let mut connection = self.lock()?;
        let mut transaction = connection.transaction()?;
        transaction.execute(
            "UPDATE leases l SET holder = NULL, expires_at = now()
             FROM unnest($2::text[], $3::bigint[]) AS h (key, token)
             WHERE l.key = h.key AND l.token = h.token AND l.holder = $1",
            &[&host, &keys, &tokens],
        )?;
        notify(&mut transaction, "fleet")?;
        transaction.commit()?;
        Ok(())
    }

    fn holders(&self, keys: &[String]) -> Result<Vec<(String, String)>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self.read()?.query(
            "SELECT key, holder FROM leases WHERE key = ANY($1) AND holder IS NOT NULL AND expires_at > now()",
            &[&keys],
        )?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    fn first_work(&self, key: &str, token: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.lock()?.execute(
            "UPDATE fleet_takeovers SET first_work_at = to_timestamp($3::double precision / 1000)
             WHERE key = $1 AND token = $2 AND first_work_at IS NULL",
            &[&key, &token, &(at.timestamp_millis() as f64)],
        )?;
        Ok(())
    }

    fn fleet_status(&self, takeovers: usize) -> Result<FleetStatus, StoreError> {
        let mut connection = self.read()?;
        let now: i64 = connection.query_one(&format!("SELECT {}", millis("now()")), &[])?.get(0);
        let hosts = connection
            .query(
                &format!(
                    "SELECT host, {}, {}, address FROM fleet_hosts ORDER BY host",
                    millis("started_at"),
                    millis("seen_at")
                ),
                &[],
            )?
            .iter()
            .map(|row| HostRow {
                host: row.get(0),
                started_at: from_millis(row.get(1)),
                seen_at: from_millis(row.get(2)),
                address: row.get(3),
            })
            .collect();
        let leases = connection
            .query(&format!("SELECT key, holder, token, {} FROM leases ORDER BY key", millis("expires_at")), &[])?
            .iter()
            .map(|row| LeaseRow {
                key: row.get(0),
                holder: row.get(1),
                token: row.get(2),
                expires_at: from_millis(row.get(3)),
            })
            .collect();
        let takeovers = connection
            .query(
                &format!(
                    "SELECT key, token, host, previous_holder, {}, {}, {} FROM fleet_takeovers
                     ORDER BY taken_at DESC LIMIT $1",
                    millis("previous_expiry"),
                    millis("taken_at"),
                    millis("first_work_at")
                ),
                &[&(takeovers as i64)],
            )?
            .iter()
            .map(takeover)
            .collect();
        let oldest_pending = connection
            .query(
                "SELECT instance_id, min(created_at) FROM outbox WHERE state = 'pending' GROUP BY instance_id ORDER BY 1",
                &[],
            )?
            .iter()
            .map(|row| Ok((row.get(0), instant("message creation time", row.get(1))?)))
            .collect::<Result<_, StoreError>>()?;
        Ok(FleetStatus { now: Some(from_millis(now)), hosts, leases, takeovers, oldest_pending })
    }

    fn leave(&self, host: &str) -> Result<(), StoreError> {
        let mut connection = self.lock()?;
        let mut transaction = connection.transaction()?;
        transaction.execute("UPDATE leases SET holder = NULL, expires_at = now() WHERE holder = $1", &[&host])?;
        transaction.execute("DELETE FROM fleet_hosts WHERE host = $1", &[&host])?;
        notify(&mut transaction, "fleet")?;
        transaction.commit()?;
        Ok(())
    }

    fn listen(&self, to: Notifications) -> Result<(), StoreError> {
        let config = self.config.clone();
        let connect = move || -> Result<Client, ::postgres::Error> {
            let mut client = config.connect(NoTls)?;
            client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
            Ok(client)
        };
        // The connection lives on its own thread, away from any async runtime;
        // the first is waited for, so a database that cannot be listened to is
        // an error at start, not a log line later.
        let (first, connected) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("fleet-listen".into())
            .spawn(move || {
                let mut client = match connect() {
                    Ok(client) => {
                        let _ = first.send(Ok(()));
                        client
                    }
                    Err(error) => {
                        let _ = first.send(Err(error));
                        return;
                    }
                };
                loop {
                    forward(&mut client, &to);
                    drop(client);
                    // Lost: connect again, and say anything may have been missed.
                    loop {
                        if to.is_closed() {
                            return;
                        }
                        std::thread::sleep(Duration::from_secs(1));
                        match connect() {
                            Ok(again) => {
                                client = again;
                                break;
                            }
                            Err(error) => tracing::warn!("cannot listen to the fleet's notifications: {error}"),
                        }
                    }
                    if to.send(RESYNC.to_owned()).is_err() {
                        return;
                    }
                }
            })
            .map_err(|error| StoreError::Corrupt { what: "listener thread", value: error.to_string() })?;
        match connected.recv() {
            Ok(result) => Ok(result?),
            Err(_) => Err(StoreError::Corrupt { what: "listener thread", value: "it ended at start".into() }),
        }
    }
}

/// Sends every notification `client` gets to `to`, until the connection is
/// lost or `to` is closed.
fn forward(client: &mut Client, to: &Notifications) {
    loop {
        // A new iterator each time: one waits at most its timeout once, and
        // then answers at once without waiting (or reading) again.
        let next = client.notifications().timeout_iter(Duration::from_secs(1)).next();
        match next {
            Ok(Some(notification)) => {
                if to.send(notification.payload().to_owned()).is_err() {
                    return;
                }
            }
            Ok(None) if to.is_closed() => return,
            Ok(None) => {}
            Err(error) => {
                tracing::warn!("the fleet's notifications were cut off, listening again: {error}");
                return;
            }
        }
    }
}

fn takeover(row: &Row) -> Takeover {
    Takeover {
        key: row.get(0),
        token: row.get(1),
        host: row.get(2),
        previous_holder: row.get(3),
        previous_expiry: from_millis(row.get(4)),
        taken_at: from_millis(row.get(5)),
        first_work_at: row.get::<_, Option<i64>>(6).map(from_millis),
    }
}
