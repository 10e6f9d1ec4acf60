//! Push: Autotask calls the service out when a record changes, and the
//! resource's poll loop turns the callout into events within a second, the
//! same way a poll would. Polling goes on, slower while the webhook is
//! active, and catches every change whose callout Autotask dropped.
//!
//! For each resource with push on, the service registers a webhook in
//! Autotask itself ([`PushState::ensure`]): at
//! `{public_url}/hooks/autotask/{instance}/{resource}`, signed with a secret of
//! its own, subscribed to every field Autotask lets a webhook subscribe to.
//! It keeps the webhook's id and secret in the state database, so a restart
//! finds it rather than registering a second one (and a lost database finds
//! it by its URL). Each poll checks it is still there and active: Autotask
//! deactivates a webhook after 25 failed callouts in a row, and the service
//! reactivates it.
//!
//! A callout is checked ([`PushState::verify`]: `X-Hook-Signature`, HMAC-SHA1
//! of the body under the secret, and the webhook's GUID), stored, and only
//! then answered 2xx: a callout acknowledged is never lost. The loop reads the
//! changed records in full and maps them like a poll's (see
//! `ResourcePoller::map_callouts`), with the same seen keys, so a change that
//! both push and a poll see is delivered once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha1::Sha1;
use tokio::sync::Notify;

use super::metrics::{CALLOUT_RECEIVED, CALLOUT_REJECTED, CALLOUT_VERIFIED, CalloutLabels, Metrics, ResourceLabels};
use super::poll::blocking;
use crate::source::webhooks::{NewWebhook, callout_entity_type, webhook_entity};
use crate::source::{AutotaskClient, Secret};
use crate::store::{NewCallout, Store, StoredWebhook};

/// The path webhooks call out to, under the public URL.
pub const HOOKS_PATH: &str = "/hooks/autotask";

/// A deactivation notice makes the loop check the webhook at once, but notices
/// are acted on at most this often: they are not signed, and each check is a request.
const RECHECK_AT_MOST_EVERY: Duration = Duration::from_secs(10);

/// The most characters of a webhook's name Autotask keeps.
const MAX_NAME_CHARS: usize = 50;

/// One resource's push: its webhook, its health and its counts.
pub struct PushState {
    pub instance: String,
    pub resource: String,
    /// The Autotask entity (`Tickets`) and its webhook entity (`TicketWebhooks`).
    entity: String,
    webhooks: &'static str,
    /// Where the webhook calls out; `None` while `[server] public_url` is not set.
    url: Option<String>,
    registration: Mutex<Option<Registration>>,
    status: Mutex<PushStatus>,
    counts: Counts,
    /// Woken when a callout is stored or Autotask says the webhook was deactivated.
    pub(crate) wake: Notify,
    recheck: AtomicBool,
    /// When the last deactivation notice was acted on.
    last_notice: Mutex<Option<std::time::Instant>>,
    /// When the registration was last read from the state database for a refused callout.
    last_load: Mutex<Option<std::time::Instant>>,
    metrics: Arc<Metrics>,
}

/// What checks a callout: the webhook it must come from and the key it is signed with.
struct Registration {
    guid: String,
    secret: Secret,
}

#[derive(Default)]
struct Counts {
    received: AtomicU64,
    verified: AtomicU64,
    rejected: AtomicU64,
    pushed: AtomicU64,
    gap: AtomicU64,
}

/// How a resource's push is doing, for the API and the console.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushStatus {
    /// The webhook's id in Autotask, once registered.
    pub webhook_id: Option<i64>,
    /// The webhook was active (and ready) at the last check.
    pub active: bool,
    pub last_check: Option<DateTime<Utc>>,
    /// Why push is not working, while it is not.
    pub problem: Option<String>,
    pub last_callout: Option<DateTime<Utc>>,
    /// Times the service found the webhook deactivated and reactivated it.
    pub reactivations: u64,
    pub received: u64,
    pub verified: u64,
    pub rejected: u64,
    /// Changes turned into events from callouts (not seen by a poll before).
    pub pushed: u64,
    /// Changes a poll found that push had not delivered.
    pub gap: u64,
}

/// Why a callout is refused; nothing of it is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalloutRefusal {
    /// No `X-Hook-Signature`, or one that is not this webhook's: HTTP 401.
    #[error("{0}")]
    Unauthenticated(String),
    /// Signed, but not a callout this resource can use: HTTP 400.
    #[error("{0}")]
    Unreadable(String),
    /// The webhook is not registered yet (or the state database failed): HTTP
    /// 503, and Autotask sends it again.
    #[error("{0}")]
    NotReady(String),
}

impl PushState {
    /// The push of resource `resource` (entity `entity`) of `instance`; `None`
    /// when Autotask has no webhooks for the entity.
    pub(crate) fn new(
        instance: &str,
        resource: &str,
        entity: &str,
        public_url: Option<&str>,
        metrics: Arc<Metrics>,
    ) -> Option<PushState> {
        let webhooks = webhook_entity(entity)?;
        Some(PushState {
            instance: instance.to_owned(),
            resource: resource.to_owned(),
            entity: entity.to_owned(),
            webhooks,
            url: public_url.map(|base| hook_url(base, instance, resource)),
            registration: Mutex::new(None),
            status: Mutex::new(PushStatus::default()),
            counts: Counts::default(),
            wake: Notify::new(),
            recheck: AtomicBool::new(false),
            last_notice: Mutex::new(None),
            last_load: Mutex::new(None),
            metrics,
        })
    }

    /// Where its webhook calls out to, when the public URL is set.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// How it is doing now.
    pub fn status(&self) -> PushStatus {
        let mut status = self.status.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        status.received = self.counts.received.load(Ordering::Relaxed);
        status.verified = self.counts.verified.load(Ordering::Relaxed);
        status.rejected = self.counts.rejected.load(Ordering::Relaxed);
        status.pushed = self.counts.pushed.load(Ordering::Relaxed);
        status.gap = self.counts.gap.load(Ordering::Relaxed);
        status
    }

    /// Whether the webhook was active at the last check: polls are then the
    /// safety net, on the slower push interval.
    pub(crate) fn is_active(&self) -> bool {
        self.status.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).active
    }

    /// Whether a webhook is registered: what a poll finds then, push missed.
    pub(crate) fn is_registered(&self) -> bool {
        self.registration.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).is_some()
    }

    /// Counts changes a poll turned into events that push had not.
    pub(crate) fn count_gap(&self, changes: usize) {
        if changes == 0 {
            return;
        }
        self.counts.gap.fetch_add(changes as u64, Ordering::Relaxed);
        self.metrics.push_gap.get_or_create(&self.labels()).inc_by(changes as u64);
    }

    /// Counts changes turned into events from callouts.
    pub(crate) fn count_pushed(&self, changes: usize) {
        self.counts.pushed.fetch_add(changes as u64, Ordering::Relaxed);
    }

    /// Whether a deactivation notice asked for a check, forgetting the ask.
    pub(crate) fn take_recheck(&self) -> bool {
        self.recheck.swap(false, Ordering::Relaxed)
    }

    fn labels(&self) -> ResourceLabels {
        ResourceLabels::new(&self.instance, &self.resource)
    }

    fn update(&self, change: impl FnOnce(&mut PushStatus)) {
        change(&mut self.status.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
    }

    fn remember(&self, webhook: &StoredWebhook) {
        let registration = Registration { guid: webhook.guid.clone(), secret: Secret::new(webhook.secret.clone()) };
        *self.registration.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(registration);
        self.update(|status| status.webhook_id = Some(webhook.webhook_id));
    }

    /// Makes sure the webhook is registered, subscribed and active, and
    /// records how it is. Returns whether it is active.
    pub(crate) async fn ensure(&self, client: &AutotaskClient, store: &Arc<Store>) -> bool {
        let outcome = self.try_ensure(client, store).await;
        let active = outcome.is_ok();
        if let Err(problem) = &outcome {
            tracing::warn!("push is not working, polling at the usual interval: {problem}");
        }
        self.update(|status| {
            status.active = active;
            status.last_check = Some(Utc::now());
            status.problem = outcome.err();
        });
        self.metrics.push_active.get_or_create(&self.labels()).set(i64::from(active));
        active
    }

    async fn try_ensure(&self, client: &AutotaskClient, store: &Arc<Store>) -> Result<(), String> {
        let Some(url) = self.url.as_deref() else {
            return Err("`[server] public_url` is not set, so Autotask has no address to call out to".into());
        };
        let (store_read, instance, resource) = (store.clone(), self.instance.clone(), self.resource.clone());
        let stored =
            blocking(move || store_read.push_webhook(&instance, &resource)).await.map_err(|e| e.to_string())?;
        let webhooks = self.webhooks;
        match stored {
            Some(stored) if stored.url == url && stored.webhook_entity == webhooks => {
                self.remember(&stored);
                match client.webhook(webhooks, stored.webhook_id).await.map_err(|e| e.to_string())? {
                    Some(webhook) => {
                        if !webhook.is_ready {
                            self.subscribe(client, webhook.id).await?;
                        }
                        if !webhook.is_active {
                            tracing::warn!(webhook = webhook.id, "Autotask deactivated the webhook; reactivating it");
                            client
                                .patch_webhook(webhooks, webhook.id, json!({"IsActive": true}))
                                .await
                                .map_err(|e| e.to_string())?;
                            self.update(|status| status.reactivations += 1);
                        }
                        return Ok(());
                    }
                    None => tracing::warn!(
                        webhook = stored.webhook_id,
                        "the webhook is gone from Autotask; registering a new one"
                    ),
                }
            }
            Some(old) => {
                // The public URL moved: the old webhook would call out to the old address.
                if let Err(error) = client.delete_webhook(&old.webhook_entity, old.webhook_id).await {
                    tracing::warn!(
                        webhook = old.webhook_id,
                        "could not delete the webhook of the old address: {error}"
                    );
                }
            }
            None => {}
        }
        self.register(client, store, url).await
    }

    /// Registers the webhook: the one found calling out to `url` (ours, from a
    /// state database that was lost) gets a new secret; otherwise a new one.
    async fn register(&self, client: &AutotaskClient, store: &Arc<Store>, url: &str) -> Result<(), String> {
        let webhooks = self.webhooks;
        let secret = new_secret();
        let found = client.webhooks_calling(webhooks, url).await.map_err(|e| e.to_string())?;
        let id = match found.split_first() {
            Some((ours, extra)) => {
                for duplicate in extra {
                    client.delete_webhook(webhooks, duplicate.id).await.map_err(|e| e.to_string())?;
                }
                client
                    .patch_webhook(webhooks, ours.id, json!({"SecretKey": secret, "IsActive": true}))
                    .await
                    .map_err(|e| e.to_string())?;
                ours.id
            }
            None => {
                let name = webhook_name(&self.instance, &self.resource);
                let deactivation_url = format!("{url}/deactivated");
                let new = NewWebhook { name: &name, url, deactivation_url: &deactivation_url, secret: &secret };
                client.create_webhook(webhooks, &new).await.map_err(|e| e.to_string())?
            }
        };
        let webhook = client
            .webhook(webhooks, id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{webhooks} {id} was registered but Autotask does not find it"))?;
        let stored = StoredWebhook {
            webhook_entity: webhooks.to_owned(),
            webhook_id: id,
            guid: webhook.guid.clone(),
            secret,
            url: url.to_owned(),
        };
        let (store, instance, resource, saved) =
            (store.clone(), self.instance.clone(), self.resource.clone(), stored.clone());
        blocking(move || store.save_push_webhook(&instance, &resource, &saved, Utc::now()))
            .await
            .map_err(|e| e.to_string())?;
        // Known before it is subscribed, so its first callout can be checked.
        self.remember(&stored);
        if !webhook.is_ready {
            self.subscribe(client, id).await?;
        }
        tracing::info!(webhook = id, "registered the Autotask webhook {webhooks} {id}, calling out to {url}");
        Ok(())
    }

    /// Subscribes webhook `id` to every field Autotask offers for it.
    async fn subscribe(&self, client: &AutotaskClient, id: i64) -> Result<(), String> {
        let fields = client.webhook_field_ids(self.webhooks).await.map_err(|e| e.to_string())?;
        if fields.is_empty() {
            return Err(format!("Autotask offers no field a {} webhook can subscribe to", self.entity));
        }
        client.subscribe_fields(self.webhooks, id, &fields).await.map_err(|e| e.to_string())
    }

    /// Checks a callout: signed by this resource's webhook, about its entity,
    /// a create, an update or a delete.
    pub fn verify(&self, signature: Option<&str>, body: &[u8]) -> Result<NewCallout, CalloutRefusal> {
        let (guid, secret) = {
            let registration = self.registration.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let Some(registration) = registration.as_ref() else {
                return Err(CalloutRefusal::NotReady("the webhook is not registered yet".into()));
            };
            (registration.guid.clone(), registration.secret.expose().to_owned())
        };
        let signature = signature.ok_or_else(|| CalloutRefusal::Unauthenticated("no X-Hook-Signature".into()))?;
        let digest = signature
            .trim()
            .strip_prefix("sha1=")
            .and_then(|encoded| base64::engine::general_purpose::STANDARD.decode(encoded).ok())
            .ok_or_else(|| CalloutRefusal::Unauthenticated("X-Hook-Signature is not `sha1=` and base64".into()))?;
        let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
        mac.update(body);
        mac.verify_slice(&digest)
            .map_err(|_| CalloutRefusal::Unauthenticated("X-Hook-Signature does not match the body".into()))?;
        let callout: Value = serde_json::from_slice(body)
            .map_err(|e| CalloutRefusal::Unreadable(format!("the body is not JSON: {e}")))?;
        let field = |name: &str| {
            callout
                .as_object()
                .and_then(|object| object.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)))
                .map(|(_, v)| v)
        };
        let from = field("Guid").and_then(Value::as_str).unwrap_or_default();
        if !from.eq_ignore_ascii_case(&guid) {
            return Err(CalloutRefusal::Unauthenticated(format!(
                "the callout is from webhook `{from}`, not this resource's"
            )));
        }
        let entity_type = field("EntityType").and_then(Value::as_str).unwrap_or_default();
        let expected = callout_entity_type(&self.entity).unwrap_or_default();
        if !entity_type.eq_ignore_ascii_case(expected) {
            return Err(CalloutRefusal::Unreadable(format!("EntityType `{entity_type}` is not `{expected}`")));
        }
        let action = field("Action").and_then(Value::as_str).unwrap_or_default();
        let Some(action) = ["Create", "Update", "Delete"].into_iter().find(|known| known.eq_ignore_ascii_case(action))
        else {
            return Err(CalloutRefusal::Unreadable(format!("Action `{action}` is not Create, Update or Delete")));
        };
        let object_id = match field("Id") {
            Some(Value::Number(id)) if id.is_i64() => id.to_string(),
            Some(Value::String(id)) if id.parse::<i64>().is_ok() => id.clone(),
            _ => return Err(CalloutRefusal::Unreadable("`Id` is not a record id".into())),
        };
        let event_time = field("EventTime").and_then(Value::as_str).map(str::to_owned);
        let key = match field("SequenceNumber") {
            Some(sequence) if !sequence.is_null() => format!("{guid}:{sequence}"),
            _ => format!("{guid}:{action}:{object_id}:{}", event_time.as_deref().unwrap_or_default()),
        };
        Ok(NewCallout {
            key,
            action: action.to_owned(),
            object_id,
            event_time,
            body: String::from_utf8_lossy(body).into_owned(),
        })
    }

    /// Receives a callout: checked, stored, and the loop woken to map it.
    /// `Ok` only once it is stored.
    pub async fn receive(
        &self,
        store: &Arc<Store>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), CalloutRefusal> {
        self.count(CALLOUT_RECEIVED, &self.counts.received);
        let mut checked = self.verify(signature, body);
        if matches!(checked, Err(CalloutRefusal::NotReady(_) | CalloutRefusal::Unauthenticated(_)))
            && self.load_registration(store).await
        {
            // In a fleet, another host registered the webhook (or gave it a new
            // secret): what it stored is what Autotask signs with.
            checked = self.verify(signature, body);
        }
        let callout = match checked {
            Ok(callout) => callout,
            Err(refusal) => {
                self.count(CALLOUT_REJECTED, &self.counts.rejected);
                tracing::warn!(instance = %self.instance, resource = %self.resource, "refused a push callout: {refusal}");
                return Err(refusal);
            }
        };
        let (store, instance, resource) = (store.clone(), self.instance.clone(), self.resource.clone());
        blocking(move || store.store_callout(&instance, &resource, &callout, Utc::now()))
            .await
            .map_err(|e| CalloutRefusal::NotReady(format!("the callout could not be stored: {e}")))?;
        self.count(CALLOUT_VERIFIED, &self.counts.verified);
        self.update(|status| status.last_callout = Some(Utc::now()));
        self.wake.notify_one();
        Ok(())
    }

    /// Reads the webhook registered for the resource from the state database
    /// (the host that registered it may be another); whether it changed what
    /// callouts are checked against.
    async fn load_registration(&self, store: &Arc<Store>) -> bool {
        {
            // Refused callouts may be anyone's: they cost at most a read a second.
            let mut last = self.last_load.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if last.is_some_and(|at| at.elapsed() < Duration::from_secs(1)) {
                return false;
            }
            *last = Some(std::time::Instant::now());
        }
        let (store, instance, resource) = (store.clone(), self.instance.clone(), self.resource.clone());
        let Ok(Some(webhook)) = blocking(move || store.push_webhook(&instance, &resource)).await else {
            return false;
        };
        let mut registration = self.registration.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let same = registration
            .as_ref()
            .is_some_and(|known| known.guid == webhook.guid && known.secret.expose() == webhook.secret);
        if !same {
            *registration = Some(Registration { guid: webhook.guid, secret: Secret::new(webhook.secret) });
        }
        !same
    }

    /// Autotask says the webhook was deactivated (or deleted): the loop
    /// checks it at once, unless a notice made it check moments ago.
    pub fn deactivated(&self) {
        let mut last = self.last_notice.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if last.is_some_and(|at| at.elapsed() < RECHECK_AT_MOST_EVERY) {
            return;
        }
        *last = Some(std::time::Instant::now());
        self.recheck.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }

    fn count(&self, outcome: &'static str, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
        let labels = CalloutLabels { instance: self.instance.clone(), resource: self.resource.clone(), outcome };
        self.metrics.push_callouts.get_or_create(&labels).inc();
    }
}

/// Deletes the webhook registered for a resource, if any, and forgets it: the
/// resource is gone or its push is off.
pub(crate) async fn unregister(client: &AutotaskClient, store: &Arc<Store>, instance: &str, resource: &str) {
    let (read, id, name) = (store.clone(), instance.to_owned(), resource.to_owned());
    let stored = match blocking(move || read.push_webhook(&id, &name)).await {
        Ok(Some(stored)) => stored,
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(instance, resource, "could not read the push webhook to delete: {error}");
            return;
        }
    };
    if let Err(error) = client.delete_webhook(&stored.webhook_entity, stored.webhook_id).await {
        tracing::warn!(
            instance,
            resource,
            webhook = stored.webhook_id,
            "could not delete the Autotask webhook: {error}"
        );
        return;
    }
    let (store, id, name) = (store.clone(), instance.to_owned(), resource.to_owned());
    match blocking(move || store.forget_push_webhook(&id, &name)).await {
        Ok(()) => tracing::info!(
            instance,
            resource,
            "deleted the Autotask webhook {} {}",
            stored.webhook_entity,
            stored.webhook_id
        ),
        Err(error) => tracing::warn!(instance, resource, "deleted the webhook but could not forget it: {error}"),
    }
}

/// `{public_url}/hooks/autotask/{instance}/{resource}`.
pub fn hook_url(public_url: &str, instance: &str, resource: &str) -> String {
    format!("{}{HOOKS_PATH}/{instance}/{resource}", public_url.trim_end_matches('/'))
}

/// The webhook's name in Autotask, within its 50 characters.
fn webhook_name(instance: &str, resource: &str) -> String {
    format!("autotask-events {instance}/{resource}").chars().take(MAX_NAME_CHARS).collect()
}

/// 32 random bytes as hex: the webhook's secret key (Autotask allows 64 characters).
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system gives random bytes");
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered() -> PushState {
        let state = PushState::new(
            "acme",
            "incidents",
            "Tickets",
            Some("https://events.example.com/"),
            Arc::new(Metrics::new()),
        )
        .unwrap();
        state.remember(&StoredWebhook {
            webhook_entity: "TicketWebhooks".into(),
            webhook_id: 3,
            guid: "GUID-1".into(),
            secret: "s3cret".into(),
            url: state.url().unwrap().to_owned(),
        });
        state
    }

    fn signed(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        format!("sha1={}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn the_hook_url_is_under_the_public_url() {
        let state = registered();
        assert_eq!(state.url(), Some("https://events.example.com/hooks/autotask/acme/incidents"));
        assert!(PushState::new("a", "r", "DeletedTicketLogs", None, Arc::new(Metrics::new())).is_none());
    }

    #[test]
    fn a_callout_signed_by_the_webhook_is_read() {
        let state = registered();
        let body = br#"{"Action":"Update","Guid":"GUID-1","EntityType":"Ticket","Id":42,"Fields":{"status":5},"EventTime":"2026-12-01T10:00:00.5Z","SequenceNumber":7,"PersonID":1}"#;
        let callout = state.verify(Some(&signed("s3cret", body)), body).unwrap();
        assert_eq!(callout.key, "GUID-1:7");
        assert_eq!((callout.action.as_str(), callout.object_id.as_str()), ("Update", "42"));
        assert_eq!(callout.event_time.as_deref(), Some("2026-12-01T10:00:00.5Z"));
    }

    #[test]
    fn unsigned_forged_and_foreign_callouts_are_refused() {
        let state = registered();
        let body = br#"{"Action":"Update","Guid":"GUID-1","EntityType":"Ticket","Id":42,"SequenceNumber":7}"#;
        let refused = |signature: Option<&str>, body: &[u8]| state.verify(signature, body).unwrap_err();
        assert!(matches!(refused(None, body), CalloutRefusal::Unauthenticated(_)));
        assert!(matches!(refused(Some(&signed("wrong", body)), body), CalloutRefusal::Unauthenticated(_)));
        assert!(matches!(refused(Some("sha1=???"), body), CalloutRefusal::Unauthenticated(_)));
        let tampered = br#"{"Action":"Delete","Guid":"GUID-1","EntityType":"Ticket","Id":42,"SequenceNumber":7}"#;
        assert!(matches!(refused(Some(&signed("s3cret", body)), tampered), CalloutRefusal::Unauthenticated(_)));
        let other = br#"{"Action":"Update","Guid":"OTHER","EntityType":"Ticket","Id":42}"#;
        assert!(matches!(refused(Some(&signed("s3cret", other)), other), CalloutRefusal::Unauthenticated(_)));
        let company = br#"{"Action":"Update","Guid":"GUID-1","EntityType":"Company","Id":42}"#;
        assert!(matches!(refused(Some(&signed("s3cret", company)), company), CalloutRefusal::Unreadable(_)));
    }

    #[test]
    fn a_callout_before_registration_is_not_ready() {
        let state = PushState::new("acme", "incidents", "Tickets", None, Arc::new(Metrics::new())).unwrap();
        assert!(matches!(state.verify(Some("sha1=AA=="), b"{}"), Err(CalloutRefusal::NotReady(_))));
    }
}
