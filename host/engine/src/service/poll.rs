//! One poll of one resource: read what changed since the watermark, map it
//! through the resource's plugin, and store the events and the new watermark.
//!
//! Each page's messages are committed together with the seen keys of the
//! records they came from, as soon as the page is mapped, so delivery starts
//! while a long poll goes on. The watermark moves only in the poll's last
//! commit. A crash in between re-polls from the old watermark, and the seen
//! keys make the records already committed drop out: nothing is lost, and
//! nothing is produced twice.
//!
//! The window starts at the previous poll's time, minus `pollDelay`, minus
//! the overlap (records Autotask commits late carry an updated time from
//! before the previous poll finished). Records an earlier poll already turned
//! into events, by `(objectId, updated)`, are dropped, so the overlap costs
//! reading, not duplicate events.
//!
//! No window reaches back before where the instance starts (the moment the
//! service first saw it, or `since`): the first poll reads from there, the
//! overlap of the next ones stops there, and records changed before it are
//! dropped, so an instance never gets events for changes made before it existed.
//!
//! A deletion log (Tickets' `DeletedTicketLogs`) costs a request of its own,
//! so it is read less often than the records: every `deletionPollInterval`
//! (by default every fifth poll, and at least every 5 minutes). It has its own
//! watermark and window, built as the records' are, and that watermark moves
//! in the same last commit; its events are dropped when seen, as records are.
//! A deletion made between two reads is in the next read's window: it is
//! delivered late by at most the interval, never lost, never twice.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::dry_run::{DryRun, DryRunReport};
use super::metrics::{InstanceLabels, PluginLabels, ResourceLabels};
use super::plugins::{PluginSlot, short_version};
use super::progress::{self, ProgressCell, ProgressGuard};
use super::push::PushState;
use super::{InstanceHandle, Shared};
use crate::config::{EventFormat, ResourceConfig};
use crate::dates::{AUTOTASK_DATE_PATTERN, DateFormat, format_instant};
use crate::delivery::message::{InstanceInfo, SourcedEvent};
use crate::delivery::{cloudevents, message};
use crate::lease::Lease;
use crate::source::filter::{Filter, Op, QueryBody};
use crate::source::hub::autotask_query;
use crate::source::{AutotaskClient, SourceError};
use crate::store::{FailedRecord, Fence, PollCommit, PollStart, StoreError, StoredCallout};
use crate::telemetry;
use plugin_runtime::{Context, Event, EventType, Plugin, PluginError, PollSession, RawRecord, Sample};

/// What a poll did, for logs and the management API.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PollSummary {
    pub from: String,
    pub until: String,
    pub pages: usize,
    pub records: usize,
    /// Records dropped because an earlier poll already turned them into events.
    pub already_seen: usize,
    pub events: usize,
    pub messages: usize,
    pub failed: usize,
    pub deleted: usize,
    /// HTTP requests this poll sent to Autotask: queries and their pages,
    /// the deletion log, retries, zone lookups and threshold reads.
    pub requests: u64,
    /// The plugin versions (short) that mapped this poll's records: two when a new one came in mid-poll.
    pub plugin_versions: Vec<String>,
    /// Where the time went: waiting for Autotask's pages, in the plugin, in the
    /// state database (commits overlap the mapping of the next page).
    pub waiting_ms: f64,
    pub mapping_ms: f64,
    pub storing_ms: f64,
}

/// Adds the time since `started` to `total` (milliseconds).
fn add_elapsed(total: &mut f64, started: Instant) {
    *total += started.elapsed().as_secs_f64() * 1000.0;
}

/// Why a poll stored nothing; the next poll starts from the same watermark.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Url(String),
    #[error("the poll was stopped")]
    Stopped,
    #[error("{0}")]
    NoPlugin(String),
    /// In a fleet, another host does this resource's polls now.
    #[error(transparent)]
    NotHeld(#[from] crate::lease::NotHeld),
}

/// Everything needed to poll one resource of one instance.
pub(crate) struct ResourcePoller {
    pub(crate) instance: Arc<InstanceHandle>,
    pub(crate) resource: usize,
    /// The resource's plugin file; each batch takes the version serving when it starts.
    pub(crate) plugin: Arc<PluginSlot>,
    pub(crate) client: AutotaskClient,
    pub(crate) shared: Arc<Shared>,
    /// The resource's push, when it has push on.
    pub(crate) push: Option<Arc<PushState>>,
    /// The resource's poll lease: polls commit under it.
    pub(crate) lease: Lease,
    /// The running poll's progress, for the management API and the console.
    pub(crate) progress: ProgressCell,
}

/// A poll's work so far: what the next commit writes, and the summary.
#[derive(Default)]
struct Collected {
    commit: PollCommit,
    summary: PollSummary,
    /// Keys handled by this poll, or by earlier ones inside this poll's window.
    seen_now: HashSet<(String, String)>,
    /// The window's start as seen keys write it: keys from here on are in `seen_now`.
    window_start: String,
    /// The commit being written, with how long it took.
    storing: Option<tokio::task::JoinHandle<Result<std::time::Duration, StoreError>>>,
    /// The object ids already turned into events inside the window. A record
    /// announced once is not CREATED again when its next change is read: not
    /// when a poll read it while it was being created (its creation is after
    /// that poll's start, so the next poll would call it new again), not when
    /// push announced it.
    announced: HashSet<String>,
    /// Records mapped (not dropped as seen), all pages so far.
    fresh: usize,
    /// The lease the poll started under: each of its commits is made under it.
    fence: Option<Fence>,
    /// Set for a dry run: what `commit` would write is kept here instead.
    dry_run: Option<DryRun>,
    /// Where the poll shows how far it is (a cell no one reads for push callouts).
    progress: ProgressCell,
}

/// The most push callouts one pass maps: their records are one query (Autotask's page is 500).
const CALLOUTS_PER_PASS: usize = 500;

/// How the failure of a deletion log row starts, so a replay reads it as one again.
const DELETION_LOG_FAILURE: &str = "a DeletedTicketLogs row";

/// The Autotask entity whose deletions are logged, and the log that holds them.
const DELETION_LOGS: [(&str, &str); 1] = [("tickets", "DeletedTicketLogs")];

/// Unless a resource says (`deletionPollInterval`), its deletion log is read
/// every this-many polls, and at least every [`DELETIONS_AT_LEAST_EVERY`].
const DELETIONS_EVERY_NTH_POLL: u32 = 5;
const DELETIONS_AT_LEAST_EVERY: Duration = Duration::from_secs(5 * 60);

impl ResourcePoller {
    fn config(&self) -> &ResourceConfig {
        &self.instance.config.resources[self.resource]
    }

    pub fn resource_name(&self) -> &str {
        &self.config().name
    }

    /// Polls once. On success the events are in the outbox and the watermark
    /// moved. The requests it sent are counted either way.
    pub async fn poll_once(&self) -> Result<PollSummary, PollError> {
        let span = telemetry::poll_span(&self.instance.id, self.resource_name(), "poll");
        let (collected, requests) = self.counting(None, &self.progress).instrument(span.clone()).await;
        let polled = collected.map(|collected| PollSummary { requests, ..collected.summary });
        telemetry::record_poll(&span, polled.as_ref());
        polled
    }

    /// Reads and maps exactly as [`Self::poll_once`] would now, and writes
    /// nothing: no events, seen keys, failed records or watermark, so the next
    /// real poll reads the same window. Needs no lease: it changes nothing
    /// another host could be doing.
    pub async fn dry_run(&self) -> Result<DryRunReport, PollError> {
        self.dry_run_watched(&ProgressCell::default()).await
    }

    /// A dry run whose progress shows in `progress` (the CLI draws a bar from
    /// it), not in the resource's: a dry run runs beside the resource's polls.
    pub async fn dry_run_watched(&self, progress: &ProgressCell) -> Result<DryRunReport, PollError> {
        let span = telemetry::poll_span(&self.instance.id, self.resource_name(), "dry-run");
        let (collected, requests) = self.counting(Some(DryRun::default()), progress).instrument(span.clone()).await;
        telemetry::record_poll(&span, collected.as_ref().map(|collected| &collected.summary));
        let collected = collected?;
        let dry_run = collected.dry_run.expect("a dry run collects");
        Ok(dry_run.report(PollSummary { requests, ..collected.summary }))
    }

    /// Polls (or dry-runs, with `dry_run`), counting the requests it sent to
    /// Autotask, which are counted either way.
    async fn counting(&self, dry_run: Option<DryRun>, progress: &ProgressCell) -> (Result<Collected, PollError>, u64) {
        let (client, sent) = self.client.counting();
        let polled = self.poll_with(&client, dry_run, progress).await;
        let requests = sent.get();
        let labels = InstanceLabels { instance: self.instance.id.clone() };
        self.shared.metrics.instance_requests.get_or_create(&labels).inc_by(requests);
        self.shared.history.requests_sent(&self.instance.id, Utc::now(), requests, self.client.threshold_reading());
        (polled, requests)
    }

    async fn poll_with(
        &self,
        client: &AutotaskClient,
        dry_run: Option<DryRun>,
        progress: &ProgressCell,
    ) -> Result<Collected, PollError> {
        // The version serving now maps this poll's batches unless a newer one
        // comes in; if the file is removed mid-poll, this one finishes the poll.
        let Some(plugin) = self.plugin.current() else {
            return Err(PollError::NoPlugin(self.plugin.waiting_reason()));
        };
        let resource = self.config();
        let this_poll = Utc::now();
        progress.begin(this_poll);
        let _progress_ends = ProgressGuard(progress);
        // A dry run writes nothing, so it needs no lease and tells none it worked.
        let fence = if dry_run.is_some() { None } else { self.lease.fence()? };
        if dry_run.is_none() {
            self.lease.worked(fence.as_ref(), this_poll);
        }
        let first_poll_from = self.instance.first_poll_from;
        let (overlap, poll_delay) = (self.shared.settings.overlap, resource.poll_delay);
        // One store call for where the poll starts and the seen keys its window may read again.
        let (store, instance_id, name) = (self.shared.store.clone(), self.instance.id.clone(), resource.name.clone());
        let (start, Window { previous_poll, from }, seen_now) = blocking(move || {
            let start = store.poll_start(&instance_id, &name)?;
            let window = window(start.watermark, first_poll_from, overlap, poll_delay);
            let seen = store.seen_since(&instance_id, &name, &format_instant(window.from))?;
            Ok((start, window, seen))
        })
        .await?;
        // Records changed before the instance starts are not its changes, even
        // when `pollDelay` makes the window read further back.
        let not_before = format_instant(from.max(first_poll_from));

        let url = resource.template.render(from, &simple_date_format::Zone::Utc);
        let mut query = autotask_query(&url).map_err(|e| PollError::Url(e.to_string()))?;
        query.body.max_records = resource.page_size.or(query.body.max_records);
        let reach = (this_poll - from).to_std().unwrap_or_default();
        if progress::is_backfill(reach, self.instance.config.refresh_interval) {
            // One request more for a poll of many pages: what it will read, for the estimate.
            match client.count(&query.entity, &query.body).await {
                Ok(total) => progress.total(total),
                Err(error) => tracing::info!("the backfill's records could not be counted, no estimate: {error}"),
            }
        }

        let announced = seen_now.iter().map(|(id, _)| id.clone()).collect();
        let mut collected = Collected {
            window_start: format_instant(from),
            seen_now,
            announced,
            fence,
            dry_run: dry_run.map(|dry_run| dry_run.reading(&url, &query)),
            progress: progress.clone(),
            ..Collected::default()
        };
        collected.summary.from = format_instant(from);
        collected.summary.until = format_instant(this_poll);
        let ctx = self.context(previous_poll, this_poll);
        let mapper = Mapper { fallback: plugin, ctx, session: std::sync::Mutex::new(None) };

        let mut pages = read_ahead(client, &query.entity, &query.body);
        loop {
            let waiting = Instant::now();
            let Some(page) = pages.recv().await else { break };
            add_elapsed(&mut collected.summary.waiting_ms, waiting);
            let page = page?;
            collected.summary.pages += 1;
            collected.summary.records += page.len();
            progress.page_read(Some(page.len()));
            if let Some(dry_run) = &mut collected.dry_run {
                dry_run.page_read(&query.entity, page.len());
            }
            let records = self.read_records(&page, previous_poll, Some(&not_before), &mut collected);
            self.map(&mapper, &page, records, true, &mut collected).await?;
            self.commit(&mut collected).await?;
        }

        let log = DELETION_LOGS.iter().find(|(entity, _)| query.entity.eq_ignore_ascii_case(entity));
        if let Some((_, log)) = log
            && let Some(not_before) = self.deletions_due(&start, this_poll)
        {
            let body = QueryBody::new(vec![Filter::condition(Op::Gte, "deletedDateTime", not_before)]);
            let mut pages = read_ahead(client, log, &body);
            loop {
                let waiting = Instant::now();
                let Some(page) = pages.recv().await else { break };
                add_elapsed(&mut collected.summary.waiting_ms, waiting);
                let page = page?;
                collected.summary.pages += 1;
                collected.summary.deleted += page.len();
                progress.page_read(None);
                if let Some(dry_run) = &mut collected.dry_run {
                    dry_run.page_read(log, page.len());
                }
                let records = read_deletions(&page, &mut collected);
                self.map(&mapper, &page, records, true, &mut collected).await?;
                self.commit(&mut collected).await?;
            }
            // Moved in the poll's last commit, as the records' watermark is: a
            // crash between pages reads every page of the log again.
            collected.commit.deletions_watermark = Some(this_poll);
        }
        // What this poll found to map, push (when on and registered) had not delivered.
        let missed_by_push = collected.fresh;
        if start.replay_requested {
            self.replay_failures(&mapper, previous_poll, &mut collected).await?;
        }

        collected.commit.watermark = Some(this_poll);
        self.commit(&mut collected).await?;
        self.finish(&mut collected).await?;
        if let Some(push) = self.push.as_ref().filter(|push| push.is_registered() && collected.dry_run.is_none()) {
            push.count_gap(missed_by_push);
        }
        Ok(collected)
    }

    /// Turns the push callouts waiting for this resource into events: the
    /// changed records are read in full (one query for up to
    /// [`CALLOUTS_PER_PASS`] of them, with the resource's own filter, so a
    /// record the poll would not read is not pushed either) and mapped as a
    /// poll's are, with the same seen keys; a deletion comes from its callout.
    /// Returns `None` when none was waiting.
    pub async fn map_callouts(&self) -> Result<Option<PollSummary>, PollError> {
        let Some(plugin) = self.plugin.current() else {
            return Err(PollError::NoPlugin(self.plugin.waiting_reason()));
        };
        let fence = self.lease.fence()?;
        let (store, instance_id, name) =
            (self.shared.store.clone(), self.instance.id.clone(), self.config().name.clone());
        let (start, callouts) = blocking(move || {
            Ok((
                store.poll_start(&instance_id, &name)?,
                store.pending_callouts(&instance_id, &name, CALLOUTS_PER_PASS)?,
            ))
        })
        .await?;
        if callouts.is_empty() {
            return Ok(None);
        }
        // Traced only with callouts to map: a pass that finds none is no part of any change's way.
        let span = telemetry::poll_span(&self.instance.id, self.resource_name(), "push");
        let mapped = self.map_waiting_callouts(plugin, fence, start, callouts).instrument(span.clone()).await;
        telemetry::record_poll(&span, mapped.as_ref());
        mapped.map(Some)
    }

    /// [`Self::map_callouts`] once it has found `callouts` waiting.
    async fn map_waiting_callouts(
        &self,
        plugin: Arc<Plugin>,
        fence: Option<Fence>,
        start: PollStart,
        callouts: Vec<StoredCallout>,
    ) -> Result<PollSummary, PollError> {
        let first_poll_from = self.instance.first_poll_from;
        let previous_poll = start.watermark.unwrap_or(first_poll_from);
        let this_poll = Utc::now();
        let (changed, deleted): (Vec<_>, Vec<_>) =
            callouts.iter().partition(|stored| stored.callout.action != "Delete");
        let mut ids: Vec<i64> = changed.iter().filter_map(|stored| stored.callout.object_id.parse().ok()).collect();
        ids.sort_unstable();
        ids.dedup();

        let (client, sent) = self.client.counting();
        let resource = self.config();
        let page = if ids.is_empty() {
            Vec::new()
        } else {
            // The resource's where clause as of where the instance starts, narrowed to the changed ids.
            let url = resource.template.render(first_poll_from, &simple_date_format::Zone::Utc);
            let mut query = autotask_query(&url).map_err(|e| PollError::Url(e.to_string()))?;
            query.body.filter.push(Filter::condition(Op::In, "id", serde_json::json!(ids)));
            let read = client.query_all(&query.entity, &query.body).await;
            self.shared
                .metrics
                .instance_requests
                .get_or_create(&InstanceLabels { instance: self.instance.id.clone() })
                .inc_by(sent.get());
            read?.records
        };
        // Stored only once read as JSON; `null` keeps the indices should one not be.
        let deletions: Vec<Box<RawValue>> = deleted
            .iter()
            .map(|stored| {
                RawValue::from_string(stored.callout.body.clone())
                    .unwrap_or_else(|_| RawValue::from_string("null".into()).expect("null is JSON"))
            })
            .collect();

        let not_before = format_instant(first_poll_from);
        let mut collected = Collected { fence, ..Collected::default() };
        collected.summary.from = format_instant(previous_poll);
        collected.summary.until = format_instant(this_poll);
        collected.summary.pages = usize::from(!page.is_empty());
        collected.summary.records = page.len();
        collected.summary.deleted = deletions.len();
        let records = self.read_records(&page, previous_poll, Some(&not_before), &mut collected);
        let deletion_records = read_deleted_callouts(&deleted, &mut collected);
        // Seen keys from the earliest change read (or the previous poll, whose
        // later creations an announced record could be) are all these can match.
        let since = records
            .iter()
            .chain(&deletion_records)
            .filter_map(|(_, record)| record.updated.clone())
            .chain([format_instant(previous_poll)])
            .min()
            .unwrap_or_default();
        let (store, instance_id, name, from) =
            (self.shared.store.clone(), self.instance.id.clone(), self.config().name.clone(), since.clone());
        let seen_now = blocking(move || store.seen_since(&instance_id, &name, &from)).await?;
        collected.announced = seen_now.iter().map(|(id, _)| id.clone()).collect();
        collected.seen_now = seen_now;
        collected.window_start = since;

        let mapper = Mapper {
            fallback: plugin,
            ctx: self.context(previous_poll, this_poll),
            session: std::sync::Mutex::new(None),
        };
        self.map(&mapper, &page, records, true, &mut collected).await?;
        self.map(&mapper, &deletions, deletion_records, true, &mut collected).await?;
        collected.commit.callouts_done = callouts.iter().map(|stored| stored.id).collect();
        collected.summary.requests = sent.get();
        self.commit(&mut collected).await?;
        self.finish(&mut collected).await?;
        if let Some(push) = &self.push {
            push.count_pushed(collected.fresh);
        }
        Ok(collected.summary)
    }

    /// Where this poll reads the deletion log from, if it is due: its own
    /// watermark (the records' before it had one, when deletions were read
    /// every poll) is at least the interval old. The window is the records'
    /// rule applied to that watermark.
    fn deletions_due(&self, start: &PollStart, this_poll: DateTime<Utc>) -> Option<String> {
        let resource = self.config();
        let last_read = start.deletions_watermark.or(start.watermark);
        let poll_interval = self.instance.config.refresh_interval;
        let interval = resource
            .deletion_poll_interval
            .unwrap_or_else(|| (poll_interval * DELETIONS_EVERY_NTH_POLL).min(DELETIONS_AT_LEAST_EVERY));
        // Half a poll of slack: polls start on a schedule, but their clocks jitter.
        let since = last_read.map(|at| (this_poll - at).to_std().unwrap_or_default() + poll_interval / 2);
        if since.is_some_and(|since| since < interval) {
            return None;
        }
        let first_poll_from = self.instance.first_poll_from;
        let Window { from, .. } = window(last_read, first_poll_from, self.shared.settings.overlap, resource.poll_delay);
        Some(format_instant(from.max(first_poll_from)))
    }

    /// Starts storing what `collected` holds so far, on a blocking thread, and
    /// wakes the delivery worker when it is stored. Commits stay in order: this
    /// one first waits for the one before. Mapping the next page goes on
    /// meanwhile; `finish` waits for the last.
    async fn commit(&self, collected: &mut Collected) -> Result<(), PollError> {
        if let Some(dry_run) = &mut collected.dry_run {
            // A dry run keeps what would be written, and writes nothing.
            let commit = std::mem::take(&mut collected.commit);
            collected.summary.messages += commit.messages.len();
            collected.summary.failed += commit.failed.len();
            dry_run.would_commit(commit);
            return Ok(());
        }
        if collected.commit.is_empty() {
            // A page that changed nothing (a quiet poll's one page) has nothing to write.
            return Ok(());
        }
        self.finish(collected).await?;
        let commit = PollCommit { fence: collected.fence.clone(), ..std::mem::take(&mut collected.commit) };
        collected.summary.messages += commit.messages.len();
        collected.summary.failed += commit.failed.len();
        // Counted as soon as they are stored: delivery may take them at once.
        let (progress, stored) = (collected.progress.clone(), commit.messages.len());
        let (store, instance_id, name) =
            (self.shared.store.clone(), self.instance.id.clone(), self.config().name.clone());
        let outbox_ready = (!commit.messages.is_empty()).then(|| self.instance.outbox_ready.clone());
        // Before the commit wakes the delivery worker, so its first attempt finds the poll.
        telemetry::remember(
            commit.messages.iter().map(|message| message.message_id.as_str()),
            &tracing::Span::current(),
        );
        let span = tracing::info_span!(
            target: telemetry::TARGET,
            "store.commit",
            messages = commit.messages.len(),
            seen_keys = commit.seen.len(),
            failed = commit.failed.len(),
            watermark = commit.watermark.is_some(),
        );
        collected.storing = Some(tokio::spawn(crate::store::off_thread(move || {
            let _span = span.enter();
            let started = Instant::now();
            store.commit_poll(&instance_id, &name, &commit, Utc::now())?;
            progress.stored(stored);
            if let Some(outbox_ready) = outbox_ready {
                outbox_ready.notify_one();
            }
            Ok(started.elapsed())
        })));
        Ok(())
    }

    /// Waits for the commit in progress, if any.
    async fn finish(&self, collected: &mut Collected) -> Result<(), PollError> {
        if let Some(storing) = collected.storing.take() {
            let took = storing.await.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
            collected.summary.storing_ms += took.as_secs_f64() * 1000.0;
        }
        Ok(())
    }

    /// A configured sample record as this resource reads it, to try new plugin
    /// versions on. The configuration checked it is readable.
    pub fn sample(&self, json: &str) -> Option<Sample> {
        let now = Utc::now();
        let previous_poll = now - chrono::TimeDelta::minutes(1);
        let record = self.instance.readers[self.resource].read(json, previous_poll).ok()?;
        Some(Sample { ctx: self.context(previous_poll, now), record })
    }

    fn context(&self, previous_poll: DateTime<Utc>, this_poll: DateTime<Utc>) -> Context {
        let config = &self.instance.config;
        Context {
            instance_id: self.instance.id.clone(),
            instance_name: config.name.clone(),
            element_key: config.element_key.clone(),
            resource: self.config().name.clone(),
            poll: self.config().poll_configuration(),
            previous_poll: format_instant(previous_poll),
            this_poll: format_instant(this_poll),
        }
    }

    /// Maps again the failed records someone asked to replay (`events replay
    /// --failed-records`): their old rows go, and a record that fails again is
    /// stored as a new failure.
    async fn replay_failures(
        &self,
        mapper: &Mapper,
        previous_poll: DateTime<Utc>,
        collected: &mut Collected,
    ) -> Result<(), PollError> {
        let (store, instance_id, name) =
            (self.shared.store.clone(), self.instance.id.clone(), self.config().name.clone());
        let failures = blocking(move || store.failures(&instance_id, Some(&name), true)).await?;
        if failures.is_empty() {
            return Ok(());
        }
        let (mut records, mut deletions) = (Vec::new(), Vec::new());
        for failure in failures {
            collected.commit.replayed.push(failure.id);
            let Ok(raw) = RawValue::from_string(failure.record.record.clone()) else {
                collected.commit.failed.push(failure.record);
                continue;
            };
            if failure.record.error.starts_with(DELETION_LOG_FAILURE) { deletions.push(raw) } else { records.push(raw) }
        }
        tracing::info!("mapping {} failed record(s) again, as asked", records.len() + deletions.len());
        let read = self.read_records(&records, previous_poll, None, collected);
        self.map(mapper, &records, read, false, collected).await?;
        let read = read_deletions(&deletions, collected);
        self.map(mapper, &deletions, read, false, collected).await
    }

    /// Reads a page's records; returns them with their index in the page.
    /// Unreadable records become failed records; records not changed since
    /// `from` (when given and the resource filters by updated date) are dropped.
    fn read_records(
        &self,
        page: &[Box<RawValue>],
        previous_poll: DateTime<Utc>,
        from: Option<&str>,
        collected: &mut Collected,
    ) -> Vec<(usize, RawRecord)> {
        let resource = self.config();
        let reader = &self.instance.readers[self.resource];
        let mut records = Vec::with_capacity(page.len());
        for (index, raw) in page.iter().enumerate() {
            match reader.read(raw.get(), previous_poll) {
                Ok(record) => {
                    // Both are `format_instant` text, whose order is time order: no parsing again.
                    let too_old = resource.filter_by_updated_date
                        && matches!((from, record.updated.as_deref()), (Some(from), Some(updated)) if updated < from);
                    if !too_old {
                        records.push((index, record));
                    }
                }
                Err(error) => collected.commit.failed.push(FailedRecord {
                    object_id: None,
                    record: raw.get().to_owned(),
                    error: error.to_string(),
                }),
            }
        }
        records
    }

    /// Maps `records` (indices into `page`) and adds their events and failures
    /// to `collected`; with `drop_seen`, records already handled are skipped first.
    async fn map(
        &self,
        mapper: &Mapper,
        page: &[Box<RawValue>],
        records: Vec<(usize, RawRecord)>,
        drop_seen: bool,
        collected: &mut Collected,
    ) -> Result<(), PollError> {
        let span = tracing::info_span!(
            target: telemetry::TARGET,
            "map",
            plugin.name = %self.plugin.label(),
            plugin.path = %self.plugin.path().display(),
            plugin.version = tracing::field::Empty,
            records = tracing::field::Empty,
            events = tracing::field::Empty,
            failed = tracing::field::Empty,
        );
        let before = (collected.fresh, collected.summary.events, collected.commit.failed.len());
        let mapped = self.map_records(mapper, page, records, drop_seen, collected).instrument(span.clone()).await;
        span.record("records", collected.fresh - before.0);
        span.record("events", collected.summary.events - before.1);
        span.record("failed", collected.commit.failed.len() - before.2);
        mapped
    }

    async fn map_records(
        &self,
        mapper: &Mapper,
        page: &[Box<RawValue>],
        records: Vec<(usize, RawRecord)>,
        drop_seen: bool,
        collected: &mut Collected,
    ) -> Result<(), PollError> {
        let storing = Instant::now();
        let mut records = if drop_seen { self.drop_seen(records, collected).await? } else { records };
        add_elapsed(&mut collected.summary.storing_ms, storing);
        collected.fresh += records.len();
        collected.progress.mapped(records.len());
        for (_, record) in &mut records {
            if !collected.announced.insert(record.object_id.clone()) && record.default_event_type == EventType::Created
            {
                record.default_event_type = EventType::Updated;
            }
        }
        let mapping = Instant::now();
        let labels = ResourceLabels::new(&self.instance.id, &self.config().name);
        let metrics = &self.shared.metrics;
        // A dry run's records are not the service's: they stay out of its counts.
        let counted = collected.dry_run.is_none();
        if counted {
            metrics.records_read.get_or_create(&labels).inc_by(records.len() as u64);
        }

        let mut events: Vec<(usize, Event)> = Vec::new();
        // Runs of `events` mapped by one version: (version, end index in `events`).
        let mut versions: Vec<(Arc<Plugin>, usize)> = Vec::new();
        let mut records = records.into_iter().peekable();
        while records.peek().is_some() {
            let batch_size = self.shared.settings.batch_size.max(1);
            let (indices, batch): (Vec<usize>, Vec<RawRecord>) = records.by_ref().take(batch_size).unzip();
            let batch: Arc<[RawRecord]> = batch.into();
            let (plugin, results) = self.transform(mapper, &batch).await;
            let version = short_version(plugin.version());
            // The `map` span's (a no-op when it is not traced): the version of its last batch.
            tracing::Span::current().record("plugin.version", version);
            if collected.summary.plugin_versions.last().map(String::as_str) != Some(version) {
                collected.summary.plugin_versions.push(version.to_owned());
            }
            if let Some(position) = results.iter().position(Result::is_ok).filter(|_| counted) {
                self.plugin.mapped(Sample { ctx: mapper.ctx.clone(), record: batch[position].clone() });
            }
            for ((index, record), result) in indices.into_iter().zip(batch.iter()).zip(results) {
                collected.commit.seen.push(seen_key(record));
                match result {
                    Ok(record_events) => events.extend(record_events.into_iter().map(|e| (index, e))),
                    Err(error) => {
                        if counted {
                            metrics.records_failed.get_or_create(&labels).inc();
                            tracing::warn!(object_id = %record.object_id, "record not mapped: {error}");
                        }
                        collected.commit.failed.push(FailedRecord {
                            object_id: Some(record.object_id.clone()),
                            record: record.json.clone(),
                            error,
                        });
                    }
                }
            }
            match versions.last_mut() {
                Some((last, end)) if Arc::ptr_eq(last, &plugin) => *end = events.len(),
                _ => versions.push((plugin, events.len())),
            }
        }
        add_elapsed(&mut collected.summary.mapping_ms, mapping);
        if counted {
            metrics.events_produced.get_or_create(&labels).inc_by(events.len() as u64);
        }
        collected.summary.events += events.len();

        let sourced: Vec<SourcedEvent<'_>> =
            events.iter().map(|(index, event)| SourcedEvent { event, raw: &page[*index] }).collect();
        let config = &self.instance.config;
        let info = InstanceInfo {
            id: &self.instance.id,
            name: &config.name,
            element_key: &config.element_key,
            tags: &config.tags,
        };
        let max = self.shared.settings.delivery.max_events_per_message;
        // A message holds the events of one version, so each says which version mapped it.
        let mut start = 0;
        for (plugin, end) in versions {
            let run = &sourced[start..end];
            start = end;
            let mut messages = match config.format {
                EventFormat::CloudElements => message::messages(info, &self.config().name, run, max),
                EventFormat::CloudEvents => cloudevents::messages(info, &self.config().name, run, max),
            };
            for message in &mut messages {
                message.plugin_version = Some(plugin.version().to_owned());
            }
            collected.commit.messages.extend(messages);
        }
        Ok(())
    }

    /// Drops records whose `(objectId, updated)` an earlier poll, or this one, already handled.
    async fn drop_seen(
        &self,
        records: Vec<(usize, RawRecord)>,
        collected: &mut Collected,
    ) -> Result<Vec<(usize, RawRecord)>, PollError> {
        let keys: Vec<(String, String)> = records.iter().map(|(_, record)| seen_key(record)).collect();
        // Keys updated inside the window were loaded when the poll began; only
        // older ones (a resource that does not filter by date) are looked up.
        let outside: Vec<(usize, (String, String))> = keys
            .iter()
            .enumerate()
            .filter(|(_, key)| key.1 < collected.window_start)
            .map(|(index, key)| (index, key.clone()))
            .collect();
        let mut stored = HashSet::new();
        if !outside.is_empty() {
            let (store, instance_id, name) =
                (self.shared.store.clone(), self.instance.id.clone(), self.config().name.clone());
            let (indices, lookups): (Vec<usize>, Vec<(String, String)>) = outside.into_iter().unzip();
            let found = blocking(move || store.seen(&instance_id, &name, &lookups)).await?;
            stored.extend(found.into_iter().map(|position| indices[position]));
        }
        let mut fresh = Vec::with_capacity(records.len());
        for ((position, record), key) in records.into_iter().enumerate().zip(keys) {
            if stored.contains(&position) || !collected.seen_now.insert(key) {
                collected.summary.already_seen += 1;
            } else {
                fresh.push(record);
            }
        }
        Ok(fresh)
    }

    /// Runs the plugin over a batch: one result per record, and the version
    /// that mapped them. When the whole batch fails (a trap, the memory limit),
    /// each record is tried alone so that one bad record fails only itself; a
    /// batch that ran out of time is not retried.
    async fn transform(
        &self,
        mapper: &Mapper,
        records: &Arc<[RawRecord]>,
    ) -> (Arc<Plugin>, Vec<Result<Vec<Event>, String>>) {
        let plugin = self.plugin.current().unwrap_or_else(|| mapper.fallback.clone());
        let kept = mapper.session.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        let mut session =
            kept.filter(|session| Arc::ptr_eq(session.plugin(), &plugin)).unwrap_or_else(|| plugin.session());
        let results = self.transform_with(&mut session, &mapper.ctx, records).await;
        *mapper.session.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(session);
        (plugin, results)
    }

    async fn transform_with(
        &self,
        session: &mut PollSession,
        ctx: &Context,
        records: &Arc<[RawRecord]>,
    ) -> Vec<Result<Vec<Event>, String>> {
        let count = records.len();
        let plugin = &session.plugin().clone();
        let started = Instant::now();
        let outcome = session.transform(ctx.clone(), records.clone()).await;
        self.observe_call(plugin, started, outcome.is_err());
        match outcome {
            Ok(results) => results,
            Err(error @ PluginError::Timeout { .. }) => vec![Err(error.to_string()); count],
            Err(error) if count == 1 => vec![Err(error.to_string())],
            Err(error) => {
                tracing::warn!("a batch of {count} records failed as a whole, mapping them one by one: {error}");
                let mut results = Vec::with_capacity(count);
                for record in records.iter() {
                    let result = match self.call_plugin(plugin, ctx, vec![record.clone()]).await {
                        Ok(mut one) => one.pop().unwrap_or_else(|| Err("the plugin returned no result".into())),
                        Err(error) => Err(error.to_string()),
                    };
                    results.push(result);
                }
                results
            }
        }
    }

    async fn call_plugin(
        &self,
        plugin: &Arc<Plugin>,
        ctx: &Context,
        records: impl Into<Arc<[RawRecord]>>,
    ) -> Result<Vec<Result<Vec<Event>, String>>, PluginError> {
        let started = Instant::now();
        let outcome = plugin.transform(ctx.clone(), records).await;
        self.observe_call(plugin, started, outcome.is_err());
        outcome
    }

    /// Counts a call of `plugin` that began at `started` in the metrics and
    /// in the history of its version.
    fn observe_call(&self, plugin: &Plugin, started: Instant, failed: bool) {
        let labels = PluginLabels { plugin: self.plugin.label().to_owned() };
        let took = started.elapsed();
        self.plugin.record_call(took, failed);
        let version = short_version(plugin.version());
        self.shared.history.plugin_called(&labels.plugin, version, Utc::now(), took, failed);
        let metrics = &self.shared.metrics;
        metrics.plugin_call_seconds.get_or_create(&labels).observe(took.as_secs_f64());
        if failed {
            metrics.plugin_errors.get_or_create(&labels).inc();
        }
    }
}

/// Where a poll's reading starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    /// The previous poll's time, as plugins are told it: the watermark, or
    /// for the very first poll where it reads from.
    pub(crate) previous_poll: DateTime<Utc>,
    /// The earliest change the poll reads: the previous poll, minus the
    /// resource's `pollDelay`, minus the overlap for records Autotask commits late.
    pub(crate) from: DateTime<Utc>,
}

/// The window of a poll whose resource's watermark is `watermark`. The very
/// first poll (no watermark) starts at `first_poll_from`, without overlap: it
/// has no earlier poll whose late records it could miss. Later polls take the
/// overlap off, but never read from before where the first poll read: what
/// was changed before the instance starts is not its to report.
pub(crate) fn window(
    watermark: Option<DateTime<Utc>>,
    first_poll_from: DateTime<Utc>,
    overlap: std::time::Duration,
    poll_delay: std::time::Duration,
) -> Window {
    let previous_poll = watermark.unwrap_or(first_poll_from);
    let overlap = if watermark.is_some() { overlap } else { std::time::Duration::ZERO };
    let from = (previous_poll - overlap).max(first_poll_from) - poll_delay;
    Window { previous_poll, from }
}

/// What maps a poll's batches: the context, and the version to use if the
/// plugin's file is removed mid-poll.
struct Mapper {
    fallback: Arc<Plugin>,
    ctx: Context,
    /// The poll's batches map on one instance, dropped with the poll (see
    /// [`PollSession`]); a new version mid-poll gets a session of its own.
    session: std::sync::Mutex<Option<PollSession>>,
}

/// The key that says a record's current version was handled: `(objectId, updated)`.
fn seen_key(record: &RawRecord) -> (String, String) {
    let updated = record.updated.clone().unwrap_or_default();
    match record.default_event_type {
        // A deletion of a record is a different thing from its last update.
        EventType::Deleted => (format!("deleted:{}", record.object_id), updated),
        _ => (record.object_id.clone(), updated),
    }
}

/// DeletedTicketLogs rows as records of the deleted tickets: the ticket's id,
/// the deletion time as the updated date, and DELETED as the suggested type.
fn read_deletions(page: &[Box<RawValue>], collected: &mut Collected) -> Vec<(usize, RawRecord)> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Log {
        #[serde(rename = "ticketID")]
        ticket_id: Option<i64>,
        deleted_date_time: Option<String>,
    }
    let format = DateFormat::new(AUTOTASK_DATE_PATTERN, None).expect("the Autotask date pattern is valid");
    let mut records = Vec::with_capacity(page.len());
    for (index, raw) in page.iter().enumerate() {
        let log = serde_json::from_str::<Log>(raw.get()).map_err(|e| e.to_string()).and_then(|log| {
            let id = log.ticket_id.ok_or("the deletion log has no ticketID")?;
            let deleted = log.deleted_date_time.ok_or("the deletion log has no deletedDateTime")?;
            let deleted = format.parse(&deleted).map_err(|e| format!("deletedDateTime: {e}"))?;
            Ok((id, deleted))
        });
        match log {
            Ok((id, deleted)) => records.push((
                index,
                RawRecord {
                    json: raw.get().to_owned(),
                    object_id: id.to_string(),
                    created: None,
                    updated: Some(format_instant(deleted)),
                    default_event_type: EventType::Deleted,
                },
            )),
            Err(error) => collected.commit.failed.push(FailedRecord {
                object_id: None,
                record: raw.get().to_owned(),
                error: format!("{DELETION_LOG_FAILURE}: {error}"),
            }),
        }
    }
    records
}

/// Delete callouts as records of the deleted records: the callout's `Id`, its
/// `EventTime` as the updated date (the deletion log's `deletedDateTime` is
/// the same instant, so both make the same seen key), DELETED as the
/// suggested type, and the callout itself as the raw record (the record is gone).
fn read_deleted_callouts(deleted: &[&StoredCallout], collected: &mut Collected) -> Vec<(usize, RawRecord)> {
    let format = DateFormat::new(AUTOTASK_DATE_PATTERN, None).expect("the Autotask date pattern is valid");
    let mut records = Vec::with_capacity(deleted.len());
    for (index, stored) in deleted.iter().enumerate() {
        let callout = &stored.callout;
        let when = callout
            .event_time
            .as_deref()
            .ok_or("the Delete callout has no EventTime".to_owned())
            .and_then(|time| format.parse(time).map_err(|e| format!("the Delete callout's EventTime: {e}")));
        match when {
            Ok(deleted) => records.push((
                index,
                RawRecord {
                    json: callout.body.clone(),
                    object_id: callout.object_id.clone(),
                    created: None,
                    updated: Some(format_instant(deleted)),
                    default_event_type: EventType::Deleted,
                },
            )),
            Err(error) => collected.commit.failed.push(FailedRecord {
                object_id: Some(callout.object_id.clone()),
                record: callout.body.clone(),
                error,
            }),
        }
    }
    records
}

/// Reads a query's pages on their own task, at most two pages ahead, so the
/// next page is on its way while this one is mapped.
fn read_ahead(
    client: &AutotaskClient,
    entity: &str,
    body: &QueryBody,
) -> mpsc::Receiver<Result<Vec<Box<RawValue>>, SourceError>> {
    let (sender, receiver) = mpsc::channel(2);
    let mut pages = client.query_pages(entity, body);
    // In the poll's span: its page reads are its children in a trace, and its log lines name it.
    let poll = tracing::Span::current();
    tokio::spawn(
        async move {
            loop {
                let page = pages.next().await;
                let done = !matches!(page, Ok(Some(_)));
                let send = match page {
                    Ok(Some(records)) => sender.send(Ok(records)).await,
                    Ok(None) => break,
                    Err(error) => sender.send(Err(error)).await,
                };
                // A closed channel means the poll was abandoned.
                if done || send.is_err() {
                    break;
                }
            }
        }
        .instrument(poll),
    );
    receiver
}

/// Runs a store call on the blocking pool (see [`crate::store::off_thread`]).
pub(crate) async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    crate::store::off_thread(call).await
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(hour: u32, minute: u32, second: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 6, 1, hour, minute, second).single().unwrap()
    }

    #[test]
    fn the_first_poll_reads_from_where_the_instance_starts_without_overlap() {
        let window = window(None, at(12, 0, 0), Duration::from_secs(60), Duration::ZERO);
        assert_eq!(window, Window { previous_poll: at(12, 0, 0), from: at(12, 0, 0) });
    }

    #[test]
    fn later_polls_read_from_the_watermark_minus_the_overlap() {
        let window = window(Some(at(12, 15, 0)), at(12, 0, 0), Duration::from_secs(60), Duration::ZERO);
        assert_eq!(window, Window { previous_poll: at(12, 15, 0), from: at(12, 14, 0) });
    }

    #[test]
    fn the_overlap_never_reaches_back_before_where_the_instance_starts() {
        // The second poll, a few seconds after the first: the overlap would read
        // changes made before the instance existed.
        let second = window(Some(at(12, 0, 5)), at(12, 0, 0), Duration::from_secs(60), Duration::ZERO);
        assert_eq!(second, Window { previous_poll: at(12, 0, 5), from: at(12, 0, 0) });
        // Part of the overlap is still after the start: that part is read.
        let third = window(Some(at(12, 0, 40)), at(12, 0, 0), Duration::from_secs(60), Duration::ZERO);
        assert_eq!(third.from, at(12, 0, 0));
        let later = window(Some(at(12, 1, 30)), at(12, 0, 0), Duration::from_secs(60), Duration::ZERO);
        assert_eq!(later.from, at(12, 0, 30));
        // With `pollDelay`, the window may start before the instance by that delay, as the first does.
        let delayed = window(Some(at(12, 0, 5)), at(12, 0, 0), Duration::from_secs(60), Duration::from_secs(30));
        assert_eq!(delayed.from, at(11, 59, 30));
    }

    #[test]
    fn poll_delay_is_taken_off_every_window_even_the_first() {
        let delay = Duration::from_secs(30);
        let first = window(None, at(12, 0, 0), Duration::from_secs(60), delay);
        assert_eq!(first.from, at(11, 59, 30));
        let later = window(Some(at(12, 15, 0)), at(12, 0, 0), Duration::from_secs(60), delay);
        assert_eq!(later, Window { previous_poll: at(12, 15, 0), from: at(12, 13, 30) });
    }
}
