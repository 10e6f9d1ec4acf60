//! `autotask-events fleet status`: the hosts of a fleet, the leases each holds
//! and how far behind their deliveries are, read from the shared PostgreSQL
//! database (any host's configuration file will do).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::Args;
use serde_json::json;

use engine::config::DEFAULT_LEASE_TTL;
use engine::store::FleetStatus;

#[derive(Debug, Args)]
pub struct FleetStatusArgs {
    /// A fleet host's configuration file (TOML): says where the database is.
    #[arg(long)]
    pub config: PathBuf,
    /// How many of the latest lease takeovers to list.
    #[arg(long, default_value_t = 10)]
    pub takeovers: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn status(args: &FleetStatusArgs) -> ExitCode {
    let ttl = match engine::config::load(&args.config) {
        Ok(config) => config.server.fleet.map_or(DEFAULT_LEASE_TTL, |fleet| fleet.lease_ttl),
        Err(_) => DEFAULT_LEASE_TTL, // `with_store` reports the problems.
    };
    super::events::with_store(&args.config, |store| {
        let leases = store.fleet().ok_or(
            "the state is in a SQLite file, which serves one host: a fleet shares a PostgreSQL database ([store] url)",
        )?;
        let status = leases.fleet_status(args.takeovers).map_err(|e| e.to_string())?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&as_json(&status, ttl)).expect("JSON"));
        } else {
            print!("{}", as_text(&status, ttl));
        }
        Ok(())
    })
}

/// Per host: its poll and delivery leases, and the oldest pending message
/// among the instances it delivers (its delivery lag), in seconds.
struct HostWork {
    polls: usize,
    deliveries: usize,
    lag: Option<f64>,
}

fn work_by_host(status: &FleetStatus, now: DateTime<Utc>) -> BTreeMap<String, HostWork> {
    let pending: BTreeMap<&str, DateTime<Utc>> =
        status.oldest_pending.iter().map(|(instance, at)| (instance.as_str(), *at)).collect();
    let mut work: BTreeMap<String, HostWork> = BTreeMap::new();
    for lease in status.leases.iter().filter(|lease| lease.expires_at > now) {
        let Some(holder) = &lease.holder else { continue };
        let entry = work.entry(holder.clone()).or_insert(HostWork { polls: 0, deliveries: 0, lag: None });
        if let Some(instance) = lease.key.strip_prefix("delivery:") {
            entry.deliveries += 1;
            if let Some(oldest) = pending.get(instance) {
                let lag = (now - *oldest).as_seconds_f64().max(0.0);
                entry.lag = Some(entry.lag.map_or(lag, |known: f64| known.max(lag)));
            }
        } else {
            entry.polls += 1;
        }
    }
    work
}

fn as_text(status: &FleetStatus, ttl: std::time::Duration) -> String {
    let now = status.now.unwrap_or_else(Utc::now);
    let work = work_by_host(status, now);
    let ago = |at: DateTime<Utc>| format!("{:.1} s ago", (now - at).as_seconds_f64().max(0.0));
    let mut text = format!("{} host(s), lease time to live {:.0} s\n", status.hosts.len(), ttl.as_secs_f64());
    text.push_str(&format!(
        "{:<24} {:<22} {:<8} {:>12} {:>6} {:>10} {:>12}\n",
        "HOST", "ADDRESS", "STATE", "LAST SEEN", "POLLS", "DELIVERIES", "DELIVERY LAG"
    ));
    for host in &status.hosts {
        let live = now - host.seen_at <= chrono::TimeDelta::from_std(ttl).unwrap_or_default();
        let held = work.get(&host.host);
        text.push_str(&format!(
            "{:<24} {:<22} {:<8} {:>12} {:>6} {:>10} {:>12}\n",
            host.host,
            host.address,
            if live { "live" } else { "gone" },
            ago(host.seen_at),
            held.map_or(0, |work| work.polls),
            held.map_or(0, |work| work.deliveries),
            held.and_then(|work| work.lag).map_or("-".into(), |lag| format!("{lag:.1} s")),
        ));
    }
    let free: Vec<&str> = status
        .leases
        .iter()
        .filter(|lease| lease.holder.is_none() || lease.expires_at <= now)
        .map(|lease| lease.key.as_str())
        .collect();
    if !free.is_empty() {
        text.push_str(&format!("{} lease(s) held by no live host: {}\n", free.len(), free.join(", ")));
    }
    if !status.takeovers.is_empty() {
        text.push_str("latest takeovers:\n");
        for takeover in &status.takeovers {
            let from = match &takeover.previous_holder {
                Some(previous) => format!("from {previous} (expired)"),
                None => "released or new".into(),
            };
            let first = takeover.first_work_at.map_or(String::new(), |at| {
                format!(
                    ", first work {:.1} s after the old lease ended",
                    (at - takeover.previous_expiry).as_seconds_f64()
                )
            });
            text.push_str(&format!(
                "  {} {} epoch {} to {}, {from}{first}\n",
                takeover.taken_at.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                takeover.key,
                takeover.token,
                takeover.host
            ));
        }
    }
    text
}

fn as_json(status: &FleetStatus, ttl: std::time::Duration) -> serde_json::Value {
    let now = status.now.unwrap_or_else(Utc::now);
    let work = work_by_host(status, now);
    let hosts: Vec<_> = status
        .hosts
        .iter()
        .map(|host| {
            let held = work.get(&host.host);
            json!({
                "host": host.host,
                "address": host.address,
                "live": now - host.seen_at <= chrono::TimeDelta::from_std(ttl).unwrap_or_default(),
                "startedAt": host.started_at.to_rfc3339(),
                "seenAt": host.seen_at.to_rfc3339(),
                "pollLeases": held.map_or(0, |work| work.polls),
                "deliveryLeases": held.map_or(0, |work| work.deliveries),
                "deliveryLagSeconds": held.and_then(|work| work.lag),
            })
        })
        .collect();
    let leases: Vec<_> = status
        .leases
        .iter()
        .map(|lease| {
            json!({
                "key": lease.key,
                "holder": lease.holder.as_ref().filter(|_| lease.expires_at > now),
                "token": lease.token,
                "expiresAt": lease.expires_at.to_rfc3339(),
            })
        })
        .collect();
    let takeovers: Vec<_> = status
        .takeovers
        .iter()
        .map(|takeover| {
            json!({
                "key": takeover.key,
                "token": takeover.token,
                "host": takeover.host,
                "previousHolder": takeover.previous_holder,
                "previousExpiry": takeover.previous_expiry.to_rfc3339(),
                "takenAt": takeover.taken_at.to_rfc3339(),
                "firstWorkAt": takeover.first_work_at.map(|at| at.to_rfc3339()),
            })
        })
        .collect();
    json!({"now": now.to_rfc3339(), "leaseTtlSeconds": ttl.as_secs_f64(), "hosts": hosts, "leases": leases, "takeovers": takeovers})
}
