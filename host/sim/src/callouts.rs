//! Webhook callouts: what a change sends to each webhook listening for it,
//! signed as Autotask signs it, and how it is delivered: first attempts in the
//! order of the changes, each failure retried on its own schedule, callouts
//! given up on written to the error log, and a webhook that keeps failing
//! deactivated.
//!
//! A change only enqueues: nothing here blocks the control API or churn on
//! the network. Each webhook has one queue and one task for first attempts, so
//! they go out in order; a failed callout's retries run in a task of their own
//! and hold nothing back.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::Shared;
use crate::entity::Entity;
use crate::sample;
use crate::webhooks::{FieldChoice, Kind, Pending, Webhook};

/// How callouts are timed. `Default` holds Autotask's published values; tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookTiming {
    /// How long an attempt waits for an answer (Autotask: 10 s).
    pub timeout: Duration,
    /// How long after a failed attempt the next one is made (Autotask: 30 s).
    pub retry_after: Duration,
    /// Attempts per callout before it is dropped (Autotask: 5).
    pub attempts: u32,
    /// No attempt is made later than this after the first (Autotask: 2 minutes).
    pub window: Duration,
    /// Consecutive failed attempts that deactivate a webhook (Autotask: 25).
    pub deactivate_after: u32,
}

impl Default for WebhookTiming {
    fn default() -> Self {
        WebhookTiming {
            timeout: Duration::from_secs(10),
            retry_after: Duration::from_secs(30),
            attempts: 5,
            window: Duration::from_secs(120),
            deactivate_after: 25,
        }
    }
}

/// A callout the simulator gave up on, or a webhook it deactivated, as
/// `GET /sim/webhooks/log` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookLogEntry {
    /// When it was written (UTC, ISO-8601 with `Z`).
    pub time: String,
    pub webhook_id: i64,
    /// The webhook entity (`TicketWebhooks`).
    pub entity: String,
    /// The webhook's `webhookGUID`.
    pub guid: String,
    /// The callout's `SequenceNumber`; `None` for entries about the webhook itself.
    pub sequence_number: Option<u64>,
    /// The callout's `Action` (`Create`, `Update`, `Delete`), or `Deactivate`.
    pub action: String,
    /// The changed record's id (the webhook's for `Deactivate`).
    pub id: i64,
    /// Attempts made.
    pub attempts: u32,
    pub reason: String,
}

/// What happened to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
}

impl Action {
    /// Its name in callouts.
    pub fn name(self) -> &'static str {
        match self {
            Action::Create => "Create",
            Action::Update => "Update",
            Action::Delete => "Delete",
        }
    }
}

/// A change to a record, as webhooks hear of it.
#[derive(Debug)]
pub struct Change<'a> {
    pub entity: Entity,
    pub action: Action,
    pub id: i64,
    /// The record before the change (none for a create).
    pub before: Option<&'a Value>,
    /// The record after it (none for a delete).
    pub after: Option<&'a Value>,
    /// The resource who made it.
    pub person: i64,
    /// When: the record's change stamp (or a deleted Ticket's `deletedDateTime`).
    pub at: DateTime<Utc>,
}

/// A callout on its way to a webhook.
#[derive(Debug)]
pub struct Callout {
    kind: Kind,
    webhook_id: i64,
    sequence: u64,
    url: String,
    body: Bytes,
    signature: Option<String>,
    attempts: u32,
    first_attempt: Option<Instant>,
}

/// The delivery machinery the simulator holds: the HTTP client, the error log
/// and every delivery task (stopped with the simulator).
pub(crate) struct Callouts {
    client: reqwest::Client,
    log: Mutex<Vec<WebhookLogEntry>>,
    tasks: Mutex<JoinSet<()>>,
    stopped: AtomicBool,
}

impl Callouts {
    pub fn new() -> Callouts {
        // reqwest is built without a default TLS provider (see the workspace manifest).
        let _ = rustls::crypto::ring::default_provider().install_default();
        // Autotask does not follow redirects from a webhook URL: a 3xx is a failed attempt.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client with the ring provider builds");
        Callouts {
            client,
            log: Mutex::new(Vec::new()),
            tasks: Mutex::new(JoinSet::new()),
            stopped: AtomicBool::new(false),
        }
    }

    /// The error log, oldest first.
    pub fn log(&self) -> Vec<WebhookLogEntry> {
        self.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn write(&self, entry: WebhookLogEntry) {
        tracing::debug!(webhook = entry.webhook_id, "webhook log: {}", entry.reason);
        self.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(entry);
    }

    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        if self.stopped.load(Ordering::SeqCst) {
            return;
        }
        let mut tasks = self.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        while tasks.try_join_next().is_some() {}
        tasks.spawn(task);
    }

    /// Stops every delivery; nothing is sent afterwards.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).abort_all();
    }
}

/// Enqueues a callout for each webhook that wants to hear of `change`. Called
/// with the store locked, so callouts are numbered and queued in the order the
/// changes were made.
pub(crate) fn notify(shared: &Shared, change: &Change) {
    let Some(kind) = Kind::of(change.entity) else { return };
    let mut registry = shared.webhooks();
    for hook in registry.hooks_mut(kind) {
        let Some(fields) = fields_to_send(hook, change) else { continue };
        hook.sequence += 1;
        let body = json!({
            "Action": change.action.name(),
            "Guid": hook.guid,
            "EntityType": kind.entity_type(),
            "Id": change.id,
            "Fields": fields,
            "EventTime": sample::autotask_date_trimmed(change.at),
            "SequenceNumber": hook.sequence,
            "PersonID": change.person,
        });
        let body = Bytes::from(serde_json::to_vec(&body).expect("a callout serializes"));
        let signature = hook.settings.secret.as_deref().map(|secret| sign(secret, &body));
        let pending = Pending { action: change.action.name(), record_id: change.id, attempts: 0 };
        if shared.traffic.take_dropped_callout() {
            shared.traffic.count_callouts(|counts| counts.dropped += 1);
            shared.callouts.write(entry(hook, Some(hook.sequence), &pending, "dropped by the dropCallouts fault"));
            continue;
        }
        hook.pending.insert(hook.sequence, pending);
        let callout = Callout {
            kind,
            webhook_id: hook.id,
            sequence: hook.sequence,
            url: hook.settings.url.clone(),
            body,
            signature,
            attempts: 0,
            first_attempt: None,
        };
        let queue = hook.queue.get_or_insert_with(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            shared.callouts.spawn(first_attempts(shared.clone(), receiver));
            sender
        });
        if queue.send(callout).is_err() {
            tracing::warn!("webhook {} lost its queue", hook.id);
        }
    }
}

/// `X-Hook-Signature`: `sha1=` and the base64 HMAC-SHA1 of the exact body, keyed with the secret.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha1={}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `Fields` of `hook`'s callout for `change`, or `None` when it sends none:
/// inactive, not ready, not subscribed to the action, an excluded person, or
/// an update that changed no subscribed field.
fn fields_to_send(hook: &Webhook, change: &Change) -> Option<Map<String, Value>> {
    let settings = &hook.settings;
    let subscribed = match change.action {
        Action::Create => settings.on_create,
        Action::Update => settings.on_update,
        Action::Delete => settings.on_delete,
    };
    if !settings.active || !hook.is_ready() || !subscribed || hook.excluded.values().any(|p| *p == change.person) {
        return None;
    }
    let record = change.after.or(change.before)?;
    let standard = named(&hook.fields, &hook.kind.webhook_fields());
    let udfs = named(&hook.udf_fields, &hook.kind.udf_fields());
    let changed = |read: &dyn Fn(&Value, &str) -> Value, name: &str| match (change.before, change.after) {
        (Some(before), Some(after)) => read(before, name) != read(after, name),
        _ => true,
    };
    // Create: every subscribed field; update: the subscribed fields that changed; delete: none.
    let wanted = |choice: &FieldChoice, read: &dyn Fn(&Value, &str) -> Value, name: &str| {
        choice.display_always || (change.action != Action::Delete && choice.subscribed && changed(read, name))
    };
    let triggered = |choices: &[(FieldChoice, &str)], read: &dyn Fn(&Value, &str) -> Value| {
        choices.iter().any(|(choice, name)| choice.subscribed && changed(read, name))
    };
    if change.action == Action::Update && !triggered(&standard, &standard_value) && !triggered(&udfs, &udf_value) {
        return None;
    }
    let mut fields = Map::new();
    for (choice, name) in &standard {
        if wanted(choice, &standard_value, name) {
            fields.insert((*name).to_owned(), standard_value(record, name));
        }
    }
    let udf_values: Vec<Value> = udfs
        .iter()
        .filter(|(choice, name)| wanted(choice, &udf_value, name))
        .map(|(_, name)| json!({"name": name, "value": udf_value(record, name)}))
        .collect();
    if !udf_values.is_empty() {
        fields.insert("userDefinedFields".to_owned(), Value::Array(udf_values));
    }
    Some(fields)
}

/// The choices of a webhook with their field names, ordered by field id.
fn named(
    choices: &std::collections::BTreeMap<i64, FieldChoice>,
    names: &[(i64, &'static str)],
) -> Vec<(FieldChoice, &'static str)> {
    let mut named: Vec<(FieldChoice, &str)> = choices
        .values()
        .filter_map(|choice| names.iter().find(|(id, _)| *id == choice.field_id).map(|(_, name)| (*choice, *name)))
        .collect();
    named.sort_by_key(|(choice, _)| choice.field_id);
    named
}

fn standard_value(record: &Value, name: &str) -> Value {
    record.get(name).cloned().unwrap_or(Value::Null)
}

fn udf_value(record: &Value, name: &str) -> Value {
    record["userDefinedFields"]
        .as_array()
        .and_then(|udfs| udfs.iter().find(|udf| udf["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name))))
        .map_or(Value::Null, |udf| udf["value"].clone())
}

fn entry(hook: &Webhook, sequence: Option<u64>, pending: &Pending, reason: &str) -> WebhookLogEntry {
    WebhookLogEntry {
        time: sample::autotask_date_trimmed(Utc::now()),
        webhook_id: hook.id,
        entity: hook.kind.name().to_owned(),
        guid: hook.guid.clone(),
        sequence_number: sequence,
        action: pending.action.to_owned(),
        id: pending.record_id,
        attempts: pending.attempts,
        reason: reason.to_owned(),
    }
}

/// A webhook's queue: each callout's first attempt, in order.
async fn first_attempts(shared: Shared, mut queue: mpsc::UnboundedReceiver<Callout>) {
    while let Some(callout) = queue.recv().await {
        attempt(&shared, callout).await;
    }
}

/// A failed callout's next attempt, after the retry delay. Boxed: it leads
/// back to `attempt`, which may schedule it again.
fn retry(shared: Shared, callout: Callout) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        tokio::time::sleep(shared.config.webhooks.retry_after).await;
        attempt(&shared, callout).await;
    })
}

/// Whether the callout is still to be delivered (not dropped since), counting
/// the attempt about to be made.
fn start_attempt(shared: &Shared, callout: &Callout) -> bool {
    let mut registry = shared.webhooks();
    let hook = registry.hooks_mut(callout.kind).find(|hook| hook.id == callout.webhook_id);
    match hook.and_then(|hook| hook.pending.get_mut(&callout.sequence)) {
        Some(pending) => {
            pending.attempts += 1;
            true
        }
        None => false,
    }
}

async fn attempt(shared: &Shared, mut callout: Callout) {
    let delay = shared.faults().callout_delay_ms;
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if !start_attempt(shared, &callout) {
        return;
    }
    callout.first_attempt.get_or_insert_with(Instant::now);
    callout.attempts += 1;
    shared.traffic.count_callouts(|counts| counts.sent += 1);
    let timeout = shared.config.webhooks.timeout;
    let outcome = post(shared, &callout.url, callout.body.clone(), callout.signature.as_deref(), timeout).await;
    settle(shared, callout, outcome);
}

/// What a finished attempt leads to.
enum Next {
    Done,
    Retry,
    /// Callouts dropped (and the webhook deactivated, with its notice to send).
    GiveUp {
        log: Vec<WebhookLogEntry>,
        notice: Option<Box<Notice>>,
    },
}

/// Counts an attempt's outcome and acts on it: the callout is done, retried or
/// dropped, or the webhook is deactivated.
fn settle(shared: &Shared, callout: Callout, outcome: Result<(), String>) {
    let failed = outcome.is_err();
    shared.traffic.count_callouts(|counts| if failed { counts.failed_attempts += 1 } else { counts.delivered += 1 });
    let timing = shared.config.webhooks;
    let next =
        shared.webhooks().change(callout.kind, callout.webhook_id, |hook| decide(hook, &callout, outcome, timing));
    match next.unwrap_or(Next::Done) {
        Next::Done => {}
        Next::Retry => shared.callouts.spawn(retry(shared.clone(), callout)),
        Next::GiveUp { log, notice } => {
            record_dropped(shared, log);
            if let Some(notice) = notice {
                shared.traffic.count_callouts(|counts| counts.deactivations += 1);
                shared.callouts.spawn(notice.send(shared.clone()));
            }
        }
    }
}

fn decide(hook: &mut Webhook, callout: &Callout, outcome: Result<(), String>, timing: WebhookTiming) -> Next {
    let Err(reason) = outcome else {
        hook.consecutive_failures = 0;
        hook.pending.remove(&callout.sequence);
        return Next::Done;
    };
    if hook.settings.active {
        hook.consecutive_failures += 1;
        if hook.consecutive_failures >= timing.deactivate_after {
            hook.settings.active = false;
            let reason = format!("deactivated after {} consecutive failed callouts", hook.consecutive_failures);
            let mut log = abandon_pending(hook, &format!("dropped: the webhook was {reason}"));
            let about = Pending { action: "Deactivate", record_id: hook.id, attempts: hook.consecutive_failures };
            log.push(entry(hook, None, &about, &reason));
            return Next::GiveUp { log, notice: Some(Box::new(Notice::new(hook, &reason))) };
        }
    }
    if !hook.pending.contains_key(&callout.sequence) {
        return Next::Done;
    }
    let elapsed = callout.first_attempt.map_or(Duration::ZERO, |first| first.elapsed());
    let reason = if callout.attempts >= timing.attempts {
        format!("{reason}; given up after {} attempts", callout.attempts)
    } else if elapsed + timing.retry_after > timing.window {
        let window = timing.window.as_secs_f64();
        format!(
            "{reason}; given up after {} attempts: the next would fall outside the {window} s window",
            callout.attempts
        )
    } else {
        return Next::Retry;
    };
    let pending = hook.pending.remove(&callout.sequence).expect("checked above");
    Next::GiveUp { log: vec![entry(hook, Some(callout.sequence), &pending, &reason)], notice: None }
}

/// Drops every pending callout of `hook`, returning their log entries (for [`record_dropped`]).
pub(crate) fn abandon_pending(hook: &mut Webhook, reason: &str) -> Vec<WebhookLogEntry> {
    let dropped = hook.drop_pending();
    dropped.iter().map(|(sequence, pending)| entry(hook, Some(*sequence), pending, reason)).collect()
}

/// Writes log entries, counting those about callouts as dropped.
pub(crate) fn record_dropped(shared: &Shared, log: Vec<WebhookLogEntry>) {
    let dropped = log.iter().filter(|entry| entry.sequence_number.is_some()).count() as u64;
    shared.traffic.count_callouts(|counts| counts.dropped += dropped);
    for entry in log {
        shared.callouts.write(entry);
    }
}

/// The one POST to a deactivated webhook's `DeactivationUrl`.
struct Notice {
    url: String,
    body: Bytes,
    signature: Option<String>,
    log: WebhookLogEntry,
}

impl Notice {
    fn new(hook: &Webhook, reason: &str) -> Notice {
        let body = json!({"Guid": hook.guid, "Id": hook.id, "EntityType": hook.kind.singular(), "Reason": reason});
        let body = Bytes::from(serde_json::to_vec(&body).expect("a notice serializes"));
        let about = Pending { action: "Deactivate", record_id: hook.id, attempts: 1 };
        Notice {
            url: hook.settings.deactivation_url.clone(),
            signature: hook.settings.secret.as_deref().map(|secret| sign(secret, &body)),
            body,
            log: entry(hook, None, &about, reason),
        }
    }

    /// Sends it once; a failure is only logged.
    async fn send(self, shared: Shared) {
        let timeout = shared.config.webhooks.timeout;
        if let Err(reason) = post(&shared, &self.url, self.body, self.signature.as_deref(), timeout).await {
            let reason = format!("the deactivation notice to {} failed: {reason}", self.url);
            shared.callouts.write(WebhookLogEntry {
                time: sample::autotask_date_trimmed(Utc::now()),
                reason,
                ..self.log
            });
        }
    }
}

/// One POST; `Err` says why it failed (a non-2xx answer, no connection, no answer in time).
async fn post(
    shared: &Shared,
    url: &str,
    body: Bytes,
    signature: Option<&str>,
    timeout: Duration,
) -> Result<(), String> {
    let mut request = shared
        .callouts
        .client
        .post(url)
        .timeout(timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    if let Some(signature) = signature {
        request = request.header("X-Hook-Signature", signature);
    }
    match request.send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!("the receiver answered HTTP {}", response.status().as_u16())),
        Err(error) if error.is_timeout() => Err(format!("no answer within {} s", timeout.as_secs_f64())),
        Err(error) => Err(format!("the receiver could not be reached: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_base64_hmac_sha1_of_the_body() {
        // RFC 2202 test case 2: HMAC-SHA1("Jefe", "what do ya want for nothing?").
        let expected = base64::engine::general_purpose::STANDARD.encode([
            0xef, 0xfc, 0xdf, 0x6a, 0xe5, 0xeb, 0x2f, 0xa2, 0xd2, 0x74, 0x16, 0xd5, 0xf1, 0x84, 0xdf, 0x9c, 0x25, 0x9a,
            0x7c, 0x79,
        ]);
        assert_eq!(sign("Jefe", b"what do ya want for nothing?"), format!("sha1={expected}"));
    }
}
