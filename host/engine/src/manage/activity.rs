//! What an instance is doing: its recent messages and their delivery, retries,
//! a poll on demand, each resource's plugin, watermark and schedule; and the
//! service's plugins and health.

use std::time::Duration;

use chrono::Utc;
use serde_json::Value;

use super::instances::Found;
use super::views::{
    DeliveryHealth, DeliveryNow, EventSummary, FleetLeases, LastPollView, MessageStatus, MessageView, Polled,
    ProgressView, PushView, ResourcePlugin, ResourcePolled, ResourceState, ResourceView, Resources, Retried,
};
use super::{Caller, EventFilter, ManageError, Management};
use crate::service::plugins::{PluginStatus, Reload, Status, plugin_file_or_default, plugin_path, short_version};
use crate::service::poll::blocking;
use crate::service::progress::PollProgress;
use crate::service::scheduler::LastPoll;
use crate::store::MessageSummary;

/// How long a poll now waits for the polls it asked for.
const POLL_WAIT: Duration = Duration::from_secs(120);

/// The most messages `events` lists at once.
pub const MAX_EVENTS_LIMIT: usize = 1000;

impl Management {
    /// Instance `id`'s messages, newest first: at most `limit` (1 to 1000), of
    /// those `status` (`delivered`, `pending` or `failed`; every one without).
    pub async fn events(
        &self,
        id: &str,
        caller: &Caller,
        status: Option<&str>,
        limit: usize,
    ) -> Result<Vec<MessageView>, ManageError> {
        let filter = EventFilter { status: status.map(str::to_owned), ..EventFilter::default() };
        self.search_events(id, caller, &filter, limit).await
    }

    /// Delivers instance `id`'s dead letters and waiting retries now, and has
    /// the next poll map again the records its plugin failed.
    pub async fn retry(&self, id: &str, caller: &Caller) -> Result<Retried, ManageError> {
        let instance = self.find(id, caller).await?.id();
        let store = self.shared().store.clone();
        let retried = blocking(move || {
            let now = Utc::now();
            Ok(Retried {
                dead_lettered: store.replay_dead(&instance, now)?.len(),
                retrying: store.retry_now(&instance, now)?,
                failed_records: store.request_failure_replay(&instance)?,
            })
        })
        .await?;
        tracing::info!(
            instance = %id, dead = retried.dead_lettered, retrying = retried.retrying, records = retried.failed_records,
            "replay asked through the API"
        );
        Ok(retried)
    }

    /// Polls instance `id`'s resources (or only `resource`) now and waits for
    /// the results. A poll now never overlaps a scheduled one: it is a request
    /// to the resource's own loop, made without holding any lock.
    pub async fn poll_now(&self, id: &str, caller: &Caller, resource: Option<&str>) -> Result<Polled, ManageError> {
        let instance = self.find(id, caller).await?.id();
        let handles: Vec<_> = self.snapshot().resources(&instance).to_vec();
        if handles.is_empty() {
            return Err(ManageError::Conflict(format!(
                "instance `{id}` is not polled (disabled, or events are not enabled)"
            )));
        }
        let mut asked = Vec::new();
        for handle in handles.iter().filter(|handle| resource.is_none_or(|name| name == handle.name)) {
            asked.push((handle.name.clone(), handle.poll_now().await));
        }
        if asked.is_empty() {
            let name = resource.unwrap_or_default();
            return Err(ManageError::field("?resource", format!("instance `{id}` has no resource `{name}`")));
        }
        let mut resources = Vec::new();
        for (name, answer) in asked {
            let result = match answer {
                Some(answer) => match tokio::time::timeout(POLL_WAIT, answer).await {
                    Ok(Ok(result)) => result,
                    Ok(Err(_)) => Err("the poll was stopped (the instance changed or the service is stopping)".into()),
                    Err(_) => {
                        Err(format!("still polling after {}s; see /resources for its result", POLL_WAIT.as_secs()))
                    }
                },
                None => Err("the resource's poll loop has stopped".into()),
            };
            resources.push(ResourcePolled { name, result });
        }
        Ok(Polled { instance_id: instance, resources })
    }

    /// Instance `id`'s resources: status, plugin, watermark, last and next poll.
    pub async fn resources(&self, id: &str, caller: &Caller) -> Result<Resources, ManageError> {
        let configured = match self.find(id, caller).await? {
            Found::File(configured) => *configured,
            Found::Api(stored) => self
                .configured_stored(&stored)
                .map_err(|problems| ManageError::Conflict(format!("the instance does not read: {problems}")))?,
        };
        let instance = configured.id.clone();
        let snapshot = self.snapshot();
        let mut shown = Vec::new();
        for resource in &configured.instance.resources {
            let (store, instance, name) = (self.shared().store.clone(), instance.clone(), resource.name.clone());
            let watermark = blocking(move || store.watermark(&instance, &name)).await?;
            let key = plugin_path(&self.shared().settings.plugin_dir, &configured, &resource.name);
            let handle = snapshot.resources(&configured.id).iter().find(|r| r.name == resource.name);
            // The file the resource's plugin is loaded from (a `.wasm`, `.js` or `.py`).
            let path = handle.map(|handle| handle.plugin.path()).unwrap_or_else(|| plugin_file_or_default(&key));
            let status = handle.map(|handle| handle.status());
            let version = handle.and_then(|handle| handle.plugin.current()).map(|plugin| plugin.version().to_owned());
            let elsewhere = handle.and_then(|handle| handle.lease.fence().err()).map(|not_held| not_held.to_string());
            let progress = match handle.and_then(|handle| handle.progress()) {
                Some(poll) => Some(self.progress_view(&configured.id, poll).await?),
                None => None,
            };
            let state = match &status {
                None => ResourceState::NotPolled,
                Some(_) if elsewhere.is_some() => ResourceState::PolledElsewhere,
                Some(status) if status.waiting_for_plugin.is_some() || version.is_none() => {
                    ResourceState::WaitingForPlugin
                }
                Some(_) if progress.is_some() => ResourceState::Polling,
                Some(status) if status.next_poll.is_none() && status.last_poll.is_some() => ResourceState::Polling,
                Some(_) => ResourceState::Scheduled,
            };
            shown.push(ResourceView {
                name: resource.name.clone(),
                entity: resource.entity.clone(),
                url: resource.url.clone(),
                status: state,
                plugin: ResourcePlugin {
                    path,
                    version,
                    waiting_reason: status.as_ref().and_then(|s| s.waiting_for_plugin.clone()),
                },
                watermark,
                last_poll: status.as_ref().and_then(|s| s.last_poll.as_ref()).map(last_poll_view),
                next_poll: status.as_ref().and_then(|s| s.next_poll),
                polled_elsewhere: elsewhere,
                progress,
                push: handle.and_then(|handle| handle.push.as_ref()).map(|push| {
                    let status = push.status();
                    let config = &configured.instance;
                    let interval = if status.active { config.push_refresh_interval } else { config.refresh_interval };
                    PushView {
                        active: status.active,
                        webhook_url: push.url().map(str::to_owned),
                        webhook_id: status.webhook_id,
                        problem: status.problem,
                        last_check: status.last_check,
                        last_callout: status.last_callout,
                        callouts_received: status.received,
                        callouts_verified: status.verified,
                        callouts_rejected: status.rejected,
                        changes_pushed: status.pushed,
                        push_gap: status.gap,
                        reactivations: status.reactivations,
                        poll_interval_seconds: interval.as_secs_f64(),
                    }
                }),
            });
        }
        Ok(Resources { instance_id: instance, resources: shown })
    }

    /// A running poll's progress with the delivery of `instance` since it began.
    async fn progress_view(&self, instance: &str, poll: PollProgress) -> Result<ProgressView, ManageError> {
        let (store, instance, started) = (self.shared().store.clone(), instance.to_owned(), poll.started);
        let (pending, delivered) = blocking(move || {
            let (pending, _dead) = store.undelivered(&instance)?;
            Ok((pending, store.delivered_since(&instance, started)?))
        })
        .await?;
        Ok(ProgressView { poll, messages_pending: pending, messages_delivered: delivered })
    }

    /// Instance `id`'s messages waiting for delivery, and those delivered in the last minute.
    pub async fn delivery_now(&self, id: &str) -> Result<DeliveryNow, ManageError> {
        let (store, instance) = (self.shared().store.clone(), id.to_owned());
        let minute_ago = Utc::now() - chrono::Duration::minutes(1);
        let (pending, delivered_last_minute) = blocking(move || {
            let (pending, _dead) = store.undelivered(&instance)?;
            Ok((pending, store.delivered_since(&instance, minute_ago)?))
        })
        .await?;
        Ok(DeliveryNow { pending, delivered_last_minute })
    }

    /// Instance `id`'s events of the last 24 hours by delivery state, and the
    /// last error of a message not yet delivered.
    pub async fn delivery_health(&self, id: &str) -> Result<DeliveryHealth, ManageError> {
        let (store, instance) = (self.shared().store.clone(), id.to_owned());
        let (counts, failed) = blocking(move || {
            let counts = store.event_counts_since(&instance, Utc::now() - chrono::Duration::hours(24))?;
            Ok((counts, store.failed_messages(&instance, 1)?))
        })
        .await?;
        Ok(DeliveryHealth { counts, last_error: failed.into_iter().next().and_then(|message| message.last_error) })
    }

    /// Every plugin file the service knows.
    pub fn plugins(&self) -> Vec<PluginStatus> {
        self.shared().plugins.list()
    }

    /// The latest plugin loads, rejections and removals, newest first.
    pub fn plugin_reloads(&self) -> Vec<Reload> {
        self.shared().plugins.history()
    }

    /// The resources a plugin file in the plugin directory is there for
    /// (`contacts.wasm` → `contacts`), sorted: what a new instance can poll.
    pub fn plugin_directory_resources(&self) -> Vec<String> {
        let dir = self.shared().settings.plugin_dir.as_path();
        let mut names: Vec<String> = self
            .plugins()
            .into_iter()
            .filter(|plugin| !matches!(plugin.status, Status::Missing | Status::Removed))
            .map(|plugin| std::path::PathBuf::from(plugin.path))
            .filter(|path| path.parent() == Some(dir))
            .filter_map(|path| path.file_stem().map(|stem| stem.to_string_lossy().into_owned()))
            .collect();
        names.sort();
        names
    }

    /// The outbox depth while the state database answers and takes writes and
    /// every poll loop runs; why not otherwise.
    pub async fn health(&self) -> Result<u64, String> {
        let store = self.shared().store.clone();
        match tokio::task::spawn_blocking(move || store.check_writable()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(format!("the state database cannot be written: {error}")),
            Err(_) => return Err("the state database write check did not finish".into()),
        }
        let dead: Vec<String> = self
            .snapshot()
            .resources
            .iter()
            .flat_map(|(id, resources)| resources.iter().map(move |resource| (id, resource)))
            .filter_map(|(id, resource)| {
                let why = resource.status().died?;
                Some(format!("the poll loop of instance {id}, resource {} died ({why}); restarting it", resource.name))
            })
            .collect();
        if !dead.is_empty() {
            return Err(dead.join("; "));
        }
        self.outbox_depth().await
    }

    /// In a fleet: this host's name, the leases' time to live, and the leases it holds now.
    pub fn fleet_leases(&self) -> Option<FleetLeases> {
        let fleet = self.shared().fleet.as_ref()?;
        Some(FleetLeases { host: fleet.host.clone(), lease_ttl: fleet.ttl, leases: fleet.held() })
    }

    /// Pending messages over every instance.
    async fn outbox_depth(&self) -> Result<u64, String> {
        let store = self.shared().store.clone();
        match tokio::task::spawn_blocking(move || store.outbox_depth()).await {
            Ok(Ok(depth)) => Ok(depth),
            Ok(Err(error)) => Err(format!("the state database cannot be read: {error}")),
            Err(_) => Err("the state database check did not finish".into()),
        }
    }

    /// The service's metrics in Prometheus (OpenMetrics) text.
    pub async fn metrics_text(&self) -> String {
        if let Ok(depth) = self.outbox_depth().await {
            self.shared().metrics.outbox_depth.set(depth as i64);
        }
        self.shared().metrics.render()
    }
}

/// A message with its delivery history and the events in it.
pub(super) fn message_view(message: MessageSummary, body: Option<&str>) -> MessageView {
    let status = match message.state.as_str() {
        "pending" if message.last_error.is_some() => MessageStatus::Retrying,
        "pending" => MessageStatus::Pending,
        "dead" => MessageStatus::Failed,
        _ => MessageStatus::Delivered,
    };
    MessageView {
        id: message.message_id,
        resource: message.resource,
        status,
        attempts: message.attempts,
        last_error: message.last_error,
        created_date: message.created_at,
        delivered_date: message.delivered_at,
        plugin_version: message.plugin_version.as_deref().map(|version| short_version(version).to_owned()),
        event_count: message.event_count,
        events: events_of(body.unwrap_or_default()),
    }
}

/// The events of a posted body: a Cloud Elements message's `events`, or a
/// CloudEvents batch read as the same four fields.
fn events_of(body: &str) -> Vec<EventSummary> {
    let Ok(parsed) = serde_json::from_str::<Value>(body) else { return Vec::new() };
    let text = |value: &Value| value.as_str().map(str::to_owned);
    if let Some(events) = parsed["message"]["events"].as_array() {
        return events
            .iter()
            .map(|event| EventSummary {
                event_type: text(&event["eventType"]),
                object_type: text(&event["objectType"]),
                object_id: text(&event["objectId"]),
                event_date: text(&event["eventDate"]),
            })
            .collect();
    }
    parsed
        .as_array()
        .into_iter()
        .flatten()
        .map(|event| {
            let kind = event["type"].as_str().unwrap_or_default();
            EventSummary {
                event_type: Some(kind.rsplit('.').next().unwrap_or_default().to_ascii_uppercase()),
                object_type: text(&event["data"]["objectType"]),
                object_id: text(&event["subject"]),
                event_date: text(&event["time"]),
            }
        })
        .collect()
}

fn last_poll_view(last: &LastPoll) -> LastPollView {
    LastPollView {
        started: last.started,
        took_ms: (last.took.as_secs_f64() * 1000.0).round(),
        result: last.result.clone(),
    }
}
