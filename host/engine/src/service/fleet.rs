//! Fleet mode: several hosts on one PostgreSQL database share the work
//! through leases (see `store::leases`), with no leader.
//!
//! Every host runs every instance's poll loops and delivery worker, but each
//! works only while it holds that piece's [`Lease`]. The coordinator here
//! keeps them, once every third of the lease's time to live (and at once when
//! another host releases one):
//! 1. a heartbeat, which also lists the live hosts;
//! 2. the leases it holds renewed; one another host took is given up;
//! 3. the instances shared out over the live hosts ([`assign`]: the same
//!    answer on every host, each host at most its even share); a lease this
//!    host holds but is no longer assigned stops being used now and is
//!    released in the next round, once the work in flight under it is done;
//! 4. the leases assigned to it and free (released, or expired because their
//!    holder died or was cut off) taken, with the next token.
//!
//! So a dead host's work moves within the time to live and a round, and a
//! host joining or leaving moves only the instances that must move.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::metrics::{LeaseChangeLabels, LeaseLabels, Metrics};
use crate::lease::{Holding, Lease, LeaseCell};
use crate::store::{Store, StoreError, off_thread};

/// A fleet host's settings (`[fleet]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetSettings {
    /// This host's name, unique in the fleet.
    pub host: String,
    /// How long a lease lasts without renewal: how long a dead host's work waits.
    pub lease_ttl: Duration,
}

/// The part of a lease's time to live kept back from its local deadline, for
/// the clocks of this host and the database not to run quite alike.
const DEADLINE_MARGIN: f64 = 0.1;

/// This host's side of the fleet.
pub(crate) struct Fleet {
    pub(crate) host: String,
    /// This host's management listener, shown to the others.
    address: String,
    pub(crate) ttl: Duration,
    store: Arc<Store>,
    /// The leases this host's loops and workers want, by key.
    cells: Mutex<BTreeMap<String, Weak<LeaseCell>>>,
    /// Leases to release in the next round: no longer assigned here. (A lease
    /// whose instance was removed just expires: no host wants it any more.)
    releasing: Mutex<Vec<(String, i64)>>,
    /// The keys whose rows are known to exist.
    ensured: Mutex<BTreeSet<String>>,
    /// Wakes the coordinator for a round now.
    wake: Notify,
    metrics: Arc<Metrics>,
}

/// A lease this host holds, as `/health` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLease {
    pub key: String,
    pub token: i64,
    /// Until its local deadline.
    pub expires_in: Duration,
}

impl Fleet {
    pub(crate) fn new(
        settings: &FleetSettings,
        address: String,
        store: Arc<Store>,
        metrics: Arc<Metrics>,
    ) -> Arc<Fleet> {
        Arc::new(Fleet {
            host: settings.host.clone(),
            address,
            ttl: settings.lease_ttl,
            store,
            cells: Mutex::default(),
            releasing: Mutex::default(),
            ensured: Mutex::default(),
            wake: Notify::new(),
            metrics,
        })
    }

    /// The lease `key` of `instance`'s work. A loop started again (its
    /// instance changed) gets the same lease while the old one still runs.
    pub(crate) fn lease(&self, key: String, instance: &str) -> Lease {
        let mut cells = self.cells.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cell) = cells.get(&key).and_then(Weak::upgrade) {
            return Lease::of(cell);
        }
        let cell = Arc::new(LeaseCell::new(key.clone(), instance.to_owned(), self.host.clone()));
        cells.insert(key, Arc::downgrade(&cell));
        drop(cells);
        self.wake.notify_one();
        Lease::of(cell)
    }

    /// Asks for a round now (another host released a lease, or joined).
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// The leases this host holds now, by key.
    pub fn held(&self) -> Vec<HeldLease> {
        let now = Instant::now();
        self.live_cells()
            .into_iter()
            .filter_map(|cell| match cell.holding() {
                Holding::Held { token, until } if until > now => {
                    Some(HeldLease { key: cell.key.clone(), token, expires_in: until - now })
                }
                _ => None,
            })
            .collect()
    }

    /// The wanted leases; those no longer wanted but still held are released next round.
    fn live_cells(&self) -> Vec<Arc<LeaseCell>> {
        let mut cells = self.cells.lock().unwrap_or_else(|p| p.into_inner());
        let mut live = Vec::with_capacity(cells.len());
        cells.retain(|_, weak| match weak.upgrade() {
            Some(cell) => {
                live.push(cell);
                true
            }
            None => false,
        });
        live
    }

    /// Keeps the leases until `shutdown`, then leaves the fleet (see [`Self::leave`]).
    pub(crate) async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let every = self.ttl / 3;
        loop {
            if let Err(error) = self.round().await {
                // Nothing renewed: the leases run out at their deadlines and the work stops.
                tracing::warn!("fleet round failed, leases run out unless the next one succeeds: {error}");
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = self.wake.notified() => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// Releases everything this host holds and removes it from the fleet, so
    /// the others take its work over at once (a clean stop).
    pub(crate) async fn leave(&self) {
        for cell in self.live_cells() {
            cell.set(Holding::NotHeld);
        }
        let (store, host) = (self.store.clone(), self.host.clone());
        match off_thread(move || fleet_of(&store)?.leave(&host)).await {
            Ok(()) => tracing::info!("left the fleet; its leases are free for the other hosts"),
            Err(error) => tracing::warn!("could not leave the fleet cleanly (its leases expire instead): {error}"),
        }
    }

    /// One round (see the module doc).
    async fn round(&self) -> Result<(), StoreError> {
        let cells = self.live_cells();
        let wanted: BTreeSet<String> = cells.iter().map(|cell| cell.key.clone()).collect();
        let new_keys: Vec<String> = {
            let mut ensured = self.ensured.lock().unwrap_or_else(|p| p.into_inner());
            ensured.retain(|key| wanted.contains(key));
            wanted.iter().filter(|key| !ensured.contains(*key)).cloned().collect()
        };
        let releasing = std::mem::take(&mut *self.releasing.lock().unwrap_or_else(|p| p.into_inner()));
        let mut renewing = Vec::new();
        for cell in &cells {
            if let Holding::Held { token, .. } = cell.holding() {
                renewing.push((cell.key.clone(), token));
            }
        }

        let started = Instant::now();
        let (store, host, address, ttl) = (self.store.clone(), self.host.clone(), self.address.clone(), self.ttl);
        let ensure = new_keys.clone();
        let (hosts, renewed) = off_thread(move || {
            let leases = fleet_of(&store)?;
            let hosts = leases.heartbeat(&host, &address, ttl)?;
            if !ensure.is_empty() {
                leases.ensure_leases(&ensure)?;
            }
            leases.release(&host, &releasing)?;
            let renewed = leases.renew(&host, &renewing, ttl)?;
            Ok::<_, StoreError>((hosts, renewed))
        })
        .await?;
        self.ensured.lock().unwrap_or_else(|p| p.into_inner()).extend(new_keys);
        let deadline = |sent: Instant| sent + self.ttl.mul_f64(1.0 - DEADLINE_MARGIN);
        let renewed: HashMap<String, i64> = renewed.into_iter().collect();

        let instances: BTreeSet<&str> = cells.iter().map(|cell| cell.instance.as_str()).collect();
        let assigned = assign(&instances, &hosts);
        let mine = |cell: &LeaseCell| assigned.get(cell.instance.as_str()).map(String::as_str) == Some(&self.host);
        let mut to_take = Vec::new();
        let mut give_back = Vec::new();
        for cell in &cells {
            match (cell.holding(), renewed.get(&cell.key)) {
                (Holding::Held { .. }, Some(&token)) if mine(cell) => {
                    cell.set(Holding::Held { token, until: deadline(started) });
                }
                (Holding::Held { .. }, Some(&token)) => {
                    // Assigned to another host now: stop using it, release it next round.
                    tracing::info!(lease = %cell.key, token, "handing the lease over to a host that joined or came back");
                    self.count("handed_over");
                    cell.set(Holding::NotHeld);
                    give_back.push((cell.key.clone(), token));
                }
                (Holding::Held { token, .. }, None) => {
                    tracing::warn!(lease = %cell.key, token, "lost the lease: another host took it over");
                    self.count("lost");
                    cell.set(Holding::NotHeld);
                }
                (Holding::NotHeld, _) if mine(cell) => to_take.push(cell.key.clone()),
                (Holding::NotHeld, _) => {}
            }
        }
        self.releasing.lock().unwrap_or_else(|p| p.into_inner()).extend(give_back);

        let sent = Instant::now();
        let (store, host) = (self.store.clone(), self.host.clone());
        let not_held: Vec<String> =
            cells.iter().filter(|cell| cell.holding() == Holding::NotHeld).map(|cell| cell.key.clone()).collect();
        let first_work = self.first_work_waiting(&cells);
        let (taken, holders) = off_thread(move || {
            let leases = fleet_of(&store)?;
            let taken = leases.acquire(&host, &to_take, ttl)?;
            for (key, token, at) in &first_work {
                leases.first_work(key, *token, *at)?;
            }
            let holders = leases.holders(&not_held)?;
            Ok::<_, StoreError>((taken, holders))
        })
        .await?;
        let by_key: HashMap<&str, &Arc<LeaseCell>> = cells.iter().map(|cell| (cell.key.as_str(), cell)).collect();
        for (key, token) in taken {
            if let Some(cell) = by_key.get(key.as_str()) {
                tracing::info!(lease = %key, token, "took the lease");
                self.count("taken");
                cell.set(Holding::Held { token, until: deadline(sent) });
            }
        }
        // Read before the takes: a lease this host just took, or is handing
        // over, is not "held elsewhere".
        let holders: HashMap<String, String> = holders.into_iter().filter(|(_, holder)| *holder != self.host).collect();
        for cell in &cells {
            *cell.elsewhere.lock().unwrap_or_else(|p| p.into_inner()) = holders.get(&cell.key).cloned();
        }
        let held = self.held();
        for kind in ["poll", "delivery"] {
            let count = held.iter().filter(|lease| lease.key.starts_with(&format!("{kind}:"))).count();
            self.metrics.leases_held.get_or_create(&LeaseLabels { host: self.host.clone(), kind }).set(count as i64);
        }
        Ok(())
    }

    fn count(&self, change: &'static str) {
        self.metrics.lease_changes.get_or_create(&LeaseChangeLabels { host: self.host.clone(), change }).inc();
    }

    /// The first work under each newly taken lease not recorded yet, marked recorded.
    fn first_work_waiting(&self, cells: &[Arc<LeaseCell>]) -> Vec<(String, i64, chrono::DateTime<chrono::Utc>)> {
        let mut waiting = Vec::new();
        for cell in cells {
            let mut first = cell.first_work.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((token, at)) = first.waiting.take() {
                first.recorded = Some(token);
                waiting.push((cell.key.clone(), token, at));
            }
        }
        waiting
    }
}

/// The fleet side of the store (a fleet is only ever started on one).
fn fleet_of(store: &Store) -> Result<&dyn crate::store::Leases, StoreError> {
    store.fleet().ok_or(StoreError::Corrupt {
        what: "store for a fleet",
        value: "a SQLite file serves one host; fleet mode needs [store] url".into(),
    })
}

/// Which host each instance's work goes to: every host computes the same
/// answer from the same instances and live hosts. Each instance goes to the
/// host it scores highest with (rendezvous hashing: a host joining or leaving
/// moves only the instances that must move); then hosts over their even
/// share (`ceil(instances / hosts)`) hand their surplus to hosts under it,
/// each surplus instance to the host it scores highest with among those.
pub(crate) fn assign<'a>(instances: &BTreeSet<&'a str>, hosts: &[String]) -> HashMap<&'a str, String> {
    if hosts.is_empty() {
        return HashMap::new();
    }
    let mut hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
    hosts.sort_unstable();
    let share = instances.len().div_ceil(hosts.len());
    let best = |instance: &str, among: &mut dyn Iterator<Item = usize>| {
        among.max_by_key(|&index| (score(hosts[index], instance), std::cmp::Reverse(index)))
    };
    let mut owner: BTreeMap<&'a str, usize> = BTreeMap::new();
    let mut load = vec![0_usize; hosts.len()];
    for &instance in instances {
        let index = best(instance, &mut (0..hosts.len())).expect("hosts is not empty");
        owner.insert(instance, index);
        load[index] += 1;
    }
    for over in 0..hosts.len() {
        while load[over] > share {
            // The surplus instance whose best host under its share scores highest moves there.
            let under: Vec<usize> = (0..hosts.len()).filter(|&index| load[index] < share).collect();
            let moving = owner
                .iter()
                .filter(|(_, index)| **index == over)
                .filter_map(|(instance, _)| {
                    let to = best(instance, &mut under.iter().copied())?;
                    Some((score(hosts[to], instance), *instance, to))
                })
                .max();
            let Some((_, instance, to)) = moving else { break };
            owner.insert(instance, to);
            load[over] -= 1;
            load[to] += 1;
        }
    }
    owner.into_iter().map(|(instance, index)| (instance, hosts[index].to_owned())).collect()
}

/// A stable score of (host, instance), the same on every host and build:
/// FNV-1a of each, mixed by SplitMix64's finalizer (FNV alone orders hosts
/// alike for most instances).
fn score(host: &str, instance: &str) -> u64 {
    mix(fnv(instance) ^ mix(fnv(host)))
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3))
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(count: usize, prefix: &str) -> Vec<String> {
        (0..count).map(|index| format!("{prefix}{index:02}")).collect()
    }

    fn loads(assigned: &HashMap<&str, String>, hosts: &[String]) -> Vec<usize> {
        hosts.iter().map(|host| assigned.values().filter(|owner| *owner == host).count()).collect()
    }

    #[test]
    fn instances_are_shared_evenly_and_every_one_has_a_host() {
        let instances = names(50, "t");
        let set: BTreeSet<&str> = instances.iter().map(String::as_str).collect();
        let hosts = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let assigned = assign(&set, &hosts);
        assert_eq!(assigned.len(), 50);
        for load in loads(&assigned, &hosts) {
            assert!((16..=17).contains(&load), "{:?}", loads(&assigned, &hosts));
        }
    }

    #[test]
    fn every_host_computes_the_same_answer_whatever_order_it_lists_hosts_in() {
        let instances = names(20, "i");
        let set: BTreeSet<&str> = instances.iter().map(String::as_str).collect();
        let one = assign(&set, &["a".into(), "b".into()]);
        let other = assign(&set, &["b".into(), "a".into()]);
        assert_eq!(one, other);
    }

    #[test]
    fn a_host_leaving_moves_only_its_own_instances_and_joining_moves_about_a_share() {
        let instances = names(60, "t");
        let set: BTreeSet<&str> = instances.iter().map(String::as_str).collect();
        let three = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let two = vec!["a".to_owned(), "b".to_owned()];
        let before = assign(&set, &three);
        let after = assign(&set, &two);
        let moved_from_survivors =
            set.iter().filter(|instance| before[*instance] != "c" && before[*instance] != after[*instance]).count();
        assert!(moved_from_survivors <= 3, "{moved_from_survivors} instances of a and b moved when c left");
        // c comes back: it takes about its share (20), not a reshuffle of everything.
        let back = assign(&set, &three);
        let moved = set.iter().filter(|instance| after[*instance] != back[*instance]).count();
        assert!(moved <= 24, "{moved} instances moved when c came back: about its share (20) should");
        assert_eq!(loads(&back, &three), vec![20, 20, 20]);
    }

    #[test]
    fn no_hosts_assign_nothing() {
        let set: BTreeSet<&str> = ["x"].into_iter().collect();
        assert!(assign(&set, &[]).is_empty());
    }
}
