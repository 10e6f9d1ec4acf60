//! What the other hosts of a fleet tell this one, through the database
//! (PostgreSQL's `LISTEN/NOTIFY`), acted on at once rather than at the next
//! poll: an instance created, changed or deleted through the API on another
//! host starts, restarts or stops here too; messages written by another
//! host's poll wake this host's delivery worker; a push callout taken by
//! another host wakes this host's poll loop; a released lease wakes the
//! coordinator. After the listening connection was lost, everything is
//! looked at again, since anything may have been missed.

use std::collections::BTreeSet;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use super::{Shared, Snapshot, StartError, Supervisor, poll};
use crate::store::leases::{INSTANCES_CHANGED, RESYNC};

/// Starts listening: the database's first answer is waited for, so a host
/// that cannot listen does not start.
pub(super) fn listen(shared: &Shared) -> Result<UnboundedReceiver<String>, StartError> {
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    let leases = shared.store.fleet().expect("fleet mode runs on a store with leases");
    // Connecting blocks briefly, once, at start.
    tokio::task::block_in_place(|| leases.listen(sender))?;
    Ok(receiver)
}

/// Acts on each notification until `shutdown`.
pub(super) async fn run(
    shared: Arc<Shared>,
    supervisor: Arc<tokio::sync::Mutex<Supervisor>>,
    published: Arc<ArcSwap<Snapshot>>,
    mut notifications: UnboundedReceiver<String>,
    shutdown: CancellationToken,
) {
    loop {
        let payload = tokio::select! {
            payload = notifications.recv() => match payload {
                Some(payload) => payload,
                None => return,
            },
            () = shutdown.cancelled() => return,
        };
        tracing::debug!("told by the fleet: {payload}");
        match payload.as_str() {
            "fleet" => wake_coordinator(&shared),
            INSTANCES_CHANGED => sync_api_instances(&shared, &supervisor, &published).await,
            "plugins" => sync_plugins(&shared).await,
            RESYNC => {
                tracing::info!("listening to the fleet again: looking at everything that may have changed");
                wake_coordinator(&shared);
                sync_api_instances(&shared, &supervisor, &published).await;
                sync_plugins(&shared).await;
                let running: Vec<String> = published.load().resources.keys().cloned().collect();
                shared.outbox_wakers.wake(&running);
            }
            other => {
                if let Some(instance) = other.strip_prefix("outbox:") {
                    shared.outbox_wakers.wake(&[instance.to_owned()]);
                } else if let Some(resource) = other.strip_prefix("callouts:") {
                    wake_push(&published, resource);
                } else {
                    tracing::debug!("ignoring a fleet notification this version does not know: {other}");
                }
            }
        }
    }
}

/// Writes a plugin version uploaded or activated on another host into this
/// host's plugin directory: the watcher swaps it in as it does a dropped file.
async fn sync_plugins(shared: &Shared) {
    match super::uploads::sync_uploaded_plugins(shared).await {
        Ok(0) => {}
        Ok(written) => tracing::info!("{written} plugin version(s) uploaded or activated on another host written here"),
        Err(error) => tracing::warn!("cannot read the plugin versions another host changed: {error}"),
    }
}

fn wake_coordinator(shared: &Shared) {
    if let Some(fleet) = &shared.fleet {
        fleet.wake();
    }
}

/// Wakes the poll loop of `instance/resource`, which maps the stored callouts if it holds the lease.
fn wake_push(published: &ArcSwap<Snapshot>, instance_resource: &str) {
    let Some((instance, resource)) = instance_resource.split_once('/') else { return };
    let snapshot = published.load();
    let push = snapshot.resources(instance).iter().find(|handle| handle.name == resource).and_then(|h| h.push.clone());
    if let Some(push) = push {
        push.wake.notify_one();
    }
}

/// Makes the running API instances those the store holds now: another host
/// created, changed or deleted some. Those unchanged are left alone; each
/// change is read again under the instance's gate, so a change made on this
/// host meanwhile is never undone by an older read.
async fn sync_api_instances(
    shared: &Shared,
    supervisor: &tokio::sync::Mutex<Supervisor>,
    published: &ArcSwap<Snapshot>,
) {
    let store = shared.store.clone();
    let stored = match poll::blocking(move || store.api_instances()).await {
        Ok(stored) => stored,
        Err(error) => {
            tracing::warn!("cannot read the instances another host changed: {error}");
            return;
        }
    };
    // Read from what the supervisor published: no wait behind a change in progress.
    let running = published.load_full();
    let stored_ids: BTreeSet<String> = stored.iter().map(|instance| instance.id.to_string()).collect();
    let differs = |instance: &crate::store::StoredInstance| {
        let configured = shared.configured_stored(instance).ok();
        running.api_instances.get(&instance.id.to_string()) != configured.as_ref()
    };
    let changed: Vec<i64> = stored.iter().filter(|instance| differs(instance)).map(|instance| instance.id).collect();
    let gone = running.api_instances.keys().filter(|id| !stored_ids.contains(*id)).filter_map(|id| id.parse().ok());
    for id in changed.into_iter().chain(gone) {
        let key = id.to_string();
        let _gate = shared.changing.enter(&key).await;
        let store = shared.store.clone();
        let now = match poll::blocking(move || store.api_instance(id)).await {
            Ok(now) => now,
            Err(error) => {
                tracing::warn!(instance = %key, "cannot read an instance another host changed: {error}");
                continue;
            }
        };
        let configured = match now.as_ref().map(|stored| shared.configured_stored(stored)).transpose() {
            Ok(configured) => configured,
            Err(problems) => {
                tracing::error!(instance = %key, "an instance changed on another host does not read here: {problems}");
                continue;
            }
        };
        if published.load().api_instances.get(&key) == configured.as_ref() {
            continue;
        }
        let what = if configured.is_some() { "created or changed" } else { "deleted" };
        tracing::info!(instance = %key, "an instance {what} on another host: applying it here");
        if let Err(error) = supervisor.lock().await.apply_api(&key, configured).await {
            tracing::error!(instance = %key, "an instance {what} on another host cannot be applied here: {error}");
        }
    }
}
