//! The delivery worker of one instance: posts its outbox to the callback URL,
//! oldest message first, one at a time, so events arrive in the order they
//! were polled.
//!
//! A message is marked delivered only after a 2xx. Anything else (an error
//! status, a timeout, a refused connection) schedules a retry of the same
//! message, and the ones behind it wait: order is kept. After the configured
//! retries the message is dead-lettered (kept, listed, replayable) and the
//! next one goes.
//!
//! The "delivered" marks of consecutive messages are written together, in one
//! transaction, and in the background while the worker posts on: a mark
//! written per message, or waited for, would cost more than posting it. A
//! write starts once [`MARK_GROUP`] marks are waiting, or the first of them
//! was posted [`MAX_MARK_DELAY`] ago; the worker waits for the writes only
//! when [`MAX_UNWRITTEN_MARKS`] are unwritten, and before it waits, records a
//! failure or stops. It reads the outbox on past the messages whose marks are
//! not written yet. So a crash (`kill -9`) re-sends at most
//! `MAX_UNWRITTEN_MARKS` messages the callback already accepted, plus the one
//! on the wire; with the same ids and bytes, so a receiver can drop them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::cloudevents::BATCH_CONTENT_TYPE;
use super::signature::{SIGNATURE_HEADER, sign};
use crate::config::DeliverySettings;
use crate::lease::Lease;
use crate::source::Secret;
use crate::store::{ANSWER_EXCERPT, Fence, NewAttempt, OutboxMessage, Store, StoreError, off_thread};
use crate::telemetry;

/// The header carrying a message's id, unique per message and the same on every attempt.
pub const WEBHOOK_ID_HEADER: &str = "Elements-Webhook-Id";

/// In a fleet, the host that sent a message, and the epoch (token) of the
/// instance's delivery lease it was sent under: a receiver sees which host
/// sent what, and that a repeat after a takeover comes with a newer epoch.
pub const HOST_HEADER: &str = "Autotask-Events-Host";
pub const LEASE_HEADER: &str = "Autotask-Events-Lease";

/// How long a delivery already on the wire may finish after shutdown is asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The most of a callback's answer body read (its start goes into the
/// attempt's record, and into the error text of a failure); the rest is
/// never read, so an endless answer costs no memory.
pub const MAX_ANSWER_BODY: usize = 64 * 1024;

/// Messages read from the outbox at once.
const PREFETCH: usize = 32;

/// The most delivered messages whose marks are not written yet (waiting, or
/// in the write under way): the most a crash re-sends, besides the message on
/// the wire.
pub const MAX_UNWRITTEN_MARKS: usize = 64;

/// How many waiting marks start a write. An eighth of the bound: while a write
/// waits its turn behind a poll's commit (a page of 500 records holds the
/// writer for milliseconds), the worker posts on.
const MARK_GROUP: usize = MAX_UNWRITTEN_MARKS / 8;

/// The longest the first of the waiting marks waits before its write starts,
/// counted from when its message was posted, so a slow callback's messages
/// are marked one by one.
pub const MAX_MARK_DELAY: Duration = Duration::from_millis(100);

/// The longest a worker waiting for a message's retry time sleeps without
/// looking at the outbox again (a replay may have changed what comes first).
const IDLE_RECHECK: Duration = Duration::from_secs(2);

/// The longest a worker with an empty outbox sleeps without looking again. It
/// is woken by each poll that writes to its outbox, and the service wakes it
/// when a replay (through the API, or from another process) puts messages
/// back; idle instances by the thousand would otherwise each read their
/// outbox every [`IDLE_RECHECK`].
const EMPTY_RECHECK: Duration = Duration::from_secs(60);

/// What one delivery attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    Retry,
    DeadLetter,
}

impl Outcome {
    /// As traces name it.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Retry => "retry",
            Outcome::DeadLetter => "dead-letter",
        }
    }
}

/// Told about every attempt, for metrics and logs.
pub trait DeliveryObserver: Send + Sync {
    fn attempted(&self, message: &OutboxMessage, outcome: Outcome, error: Option<&str>, latency: Duration);
}

/// Why [`Worker::flush`] stopped before the outbox was empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlushStopped {
    pub delivered: usize,
    pub error: String,
}

/// Where and how one instance's messages go.
pub struct Destination {
    pub instance_id: String,
    /// Parsed once: it is the same for every message.
    pub callback_url: reqwest::Url,
    pub signature_key: Option<Secret>,
}

/// The next messages to post, in order.
#[derive(Default)]
struct Queue {
    messages: VecDeque<OutboxMessage>,
    /// The read of the messages after these, under way.
    reading: Option<JoinHandle<Result<Vec<OutboxMessage>, StoreError>>>,
}

impl Queue {
    /// Forgets the queue and the read under way, whose answer may be stale: a
    /// retry, a replay or a new poll may have changed what comes first.
    fn clear(&mut self) {
        self.messages.clear();
        self.reading = None;
    }
}

/// Delivered messages whose marks are not written yet.
#[derive(Default)]
struct Marks {
    /// Not in a write yet, oldest first: the attempts that delivered them.
    waiting: Vec<NewAttempt>,
    /// When the first of `waiting` was posted.
    first_posted: Option<Instant>,
    /// The write under way (one at a time, so marks land in order), and the
    /// messages it marks.
    writing: Option<(Vec<i64>, MarkWrite)>,
    /// In a fleet, the delivery lease the waiting messages were sent under:
    /// their marks are written under it, and refused if it has moved on.
    fence: Option<Fence>,
}

/// A write of "delivered" marks under way.
type MarkWrite = JoinHandle<Result<(), StoreError>>;

impl Marks {
    fn unwritten(&self) -> usize {
        self.waiting.len() + self.writing.as_ref().map_or(0, |(seqs, _)| seqs.len())
    }

    /// The messages the outbox still lists as pending though they were delivered.
    fn unwritten_seqs(&self) -> Vec<i64> {
        let writing = self.writing.iter().flat_map(|(seqs, _)| seqs.iter().copied());
        writing.chain(self.waiting.iter().map(|attempt| attempt.seq)).collect()
    }
}

/// Works an instance's outbox until `shutdown`.
pub struct Worker {
    pub destination: Destination,
    pub store: Arc<Store>,
    pub http: reqwest::Client,
    pub settings: DeliverySettings,
    pub outbox_ready: Arc<Notify>,
    pub observer: Arc<dyn DeliveryObserver>,
    pub shutdown: CancellationToken,
    /// The instance's delivery lease: a worker delivers only while it is held.
    pub lease: Lease,
}

impl Worker {
    pub async fn run(self) {
        let instance = self.destination.instance_id.clone();
        let mut queue = Queue::default();
        let mut marks = Marks::default();
        loop {
            if self.shutdown.is_cancelled() {
                self.write_marks_logged(&mut marks).await;
                return;
            }
            let fence = match self.lease.fence() {
                Ok(fence) => fence,
                Err(not_held) => {
                    // Another host delivers: what this one sent is marked (or
                    // refused, and sent again by the new holder), and it waits.
                    self.write_marks_logged(&mut marks).await;
                    queue.clear();
                    tracing::debug!(instance = %instance, "not delivering: {not_held}");
                    tokio::select! {
                        () = self.lease.held() => {}
                        () = self.shutdown.cancelled() => {}
                    }
                    continue;
                }
            };
            if marks.fence != fence {
                self.write_marks_logged(&mut marks).await;
                marks.fence = fence;
            }
            if let Err(error) = self.refill(&mut queue, &marks).await {
                tracing::error!(instance = %instance, "cannot read the outbox: {error}");
            }
            let Some(message) = queue.messages.front() else {
                self.write_marks_logged(&mut marks).await;
                self.wait(EMPTY_RECHECK).await;
                continue;
            };
            let due_in = (message.next_attempt_at - Utc::now()).to_std().unwrap_or_default();
            if !due_in.is_zero() {
                self.write_marks_logged(&mut marks).await;
                self.wait(due_in.min(IDLE_RECHECK)).await;
                // A replay or a new poll may have changed what comes first.
                queue.clear();
                continue;
            }
            let message = queue.messages.pop_front().expect("checked above");
            // Boxed: an idle worker's task then holds no room for a delivery in flight.
            match Box::pin(self.deliver(message, &mut marks)).await.map(|(outcome, _)| outcome) {
                Ok(Outcome::Delivered) => {}
                // The failed message is next again, with its new retry time.
                Ok(_) => queue.clear(),
                Err(error) => {
                    tracing::error!(instance = %instance, "cannot record a delivery: {error}");
                    queue.clear();
                    self.wait(IDLE_RECHECK).await;
                }
            }
        }
    }

    /// Delivers every pending message now, in order, one attempt each,
    /// whatever its retry time; stops at the first that fails (it is then
    /// retried or dead-lettered as usual). Returns how many were delivered,
    /// or those and why the next one was not.
    pub async fn flush(&self) -> Result<usize, FlushStopped> {
        let mut delivered = 0;
        let stopped = |delivered, error: String| FlushStopped { delivered, error };
        let fence = self.lease.fence().map_err(|not_held| stopped(0, not_held.to_string()))?;
        let mut marks = Marks { fence, ..Marks::default() };
        loop {
            let batch = self.read_outbox(&marks).await.map_err(|error| stopped(delivered, error.to_string()))?;
            if batch.is_empty() {
                self.write_marks(&mut marks).await.map_err(|error| stopped(delivered, error.to_string()))?;
                return Ok(delivered);
            }
            for message in batch {
                match self.deliver(message, &mut marks).await {
                    Ok((Outcome::Delivered, _)) => delivered += 1,
                    Ok((_, error)) => return Err(stopped(delivered, error.unwrap_or_else(|| "stopped".into()))),
                    Err(error) => return Err(stopped(delivered, error.to_string())),
                }
            }
        }
    }

    /// Tops the queue up: when it runs low, starts reading the next messages
    /// in the background (past those queued or not yet marked), and waits for
    /// the read only when the queue is empty.
    async fn refill(&self, queue: &mut Queue, marks: &Marks) -> Result<(), StoreError> {
        if queue.reading.is_none() && queue.messages.len() <= PREFETCH / 2 {
            let mut except = marks.unwritten_seqs();
            except.extend(queue.messages.iter().map(|message| message.seq));
            queue.reading = Some(tokio::spawn(self.read_past(except)));
        }
        if queue.messages.is_empty() || queue.reading.as_ref().is_some_and(JoinHandle::is_finished) {
            let read = queue.reading.take().expect("a read is under way");
            let messages = read.await.unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))?;
            queue.messages.extend(messages);
        }
        Ok(())
    }

    /// The next messages in order, past those delivered and not yet marked.
    async fn read_outbox(&self, marks: &Marks) -> Result<Vec<OutboxMessage>, StoreError> {
        self.read_past(marks.unwritten_seqs()).await
    }

    /// Reads the next [`PREFETCH`] pending messages in order, leaving out `except`.
    fn read_past(&self, except: Vec<i64>) -> impl Future<Output = Result<Vec<OutboxMessage>, StoreError>> + use<> {
        let (store, id) = (self.store.clone(), self.destination.instance_id.clone());
        off_thread(move || store.pending_except(&id, PREFETCH, &except))
    }

    /// The attempt, posted at `posted`, was accepted: its mark joins the
    /// waiting ones, a write starts if they are due, and the worker waits
    /// for the write under way only when the unwritten marks reach the bound.
    async fn accepted(&self, marks: &mut Marks, attempt: NewAttempt, posted: Instant) -> Result<(), StoreError> {
        marks.waiting.push(attempt);
        let first_posted = *marks.first_posted.get_or_insert(posted);
        if marks.writing.as_ref().is_some_and(|(_, write)| write.is_finished())
            || marks.unwritten() >= MAX_UNWRITTEN_MARKS
        {
            self.finish_write(marks).await?;
        }
        if marks.writing.is_none() && (marks.waiting.len() >= MARK_GROUP || first_posted.elapsed() >= MAX_MARK_DELAY) {
            self.start_write(marks);
        }
        Ok(())
    }

    /// Hands the waiting marks to a write in the background.
    fn start_write(&self, marks: &mut Marks) {
        let waiting = std::mem::take(&mut marks.waiting);
        marks.first_posted = None;
        let seqs = waiting.iter().map(|attempt| attempt.seq).collect();
        let (store, fence) = (self.store.clone(), marks.fence.clone());
        let write = tokio::spawn(off_thread(move || store.mark_all_delivered(&waiting, fence.as_ref())));
        marks.writing = Some((seqs, write));
    }

    /// Waits for the write under way, if any.
    async fn finish_write(&self, marks: &mut Marks) -> Result<(), StoreError> {
        let Some((_, write)) = marks.writing.take() else {
            return Ok(());
        };
        write.await.unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))
    }

    /// Writes every unwritten "delivered" mark, and waits until they are written.
    async fn write_marks(&self, marks: &mut Marks) -> Result<(), StoreError> {
        self.finish_write(marks).await?;
        if marks.waiting.is_empty() {
            return Ok(());
        }
        self.start_write(marks);
        self.finish_write(marks).await
    }

    /// [`Self::write_marks`] where a failure can only be logged: the messages
    /// stay pending and are sent again, never lost.
    async fn write_marks_logged(&self, marks: &mut Marks) {
        if let Err(error) = self.write_marks(marks).await {
            tracing::error!(instance = %self.destination.instance_id, "cannot record deliveries: {error}");
        }
    }

    /// Sleeps up to `limit`, or until a poll fills the outbox or shutdown.
    async fn wait(&self, limit: Duration) {
        tokio::select! {
            () = tokio::time::sleep(limit) => {}
            () = self.outbox_ready.notified() => {}
            () = self.shutdown.cancelled() => {}
        }
    }

    /// One attempt at `message`, and what it means for the outbox; with why it failed.
    async fn deliver(
        &self,
        message: OutboxMessage,
        marks: &mut Marks,
    ) -> Result<(Outcome, Option<String>), StoreError> {
        let started = Instant::now();
        let attempted_at = Utc::now();
        let span = telemetry::deliver_span(&self.destination.instance_id, &message.message_id, message.attempts + 1);
        let shutdown = self.shutdown.clone();
        let fence = marks.fence.clone();
        self.lease.worked(fence.as_ref(), attempted_at);
        let posted = tokio::select! {
            posted = self.post(&message, fence.as_ref()).instrument(span.clone()) => posted,
            // Shutdown lets a delivery on the wire finish, briefly; a message cut
            // short stays pending and is sent again after the restart.
            () = async { shutdown.cancelled().await; tokio::time::sleep(SHUTDOWN_GRACE).await } => return Ok((Outcome::Retry, None)),
        };
        let latency = started.elapsed();
        let attempt = NewAttempt {
            seq: message.seq,
            at: attempted_at,
            status: posted.status,
            latency_ms: latency.as_secs_f64() * 1000.0,
            error: posted.result.clone().err(),
            answer: posted.answer,
            headers: posted.headers,
            host: self.lease.host().map(str::to_owned),
        };
        let store = self.store.clone();
        let retry = message.attempts + 1;
        let (outcome, error) = match posted.result {
            Ok(()) => {
                self.accepted(marks, attempt, started).await?;
                (Outcome::Delivered, None)
            }
            Err(error) if retry > self.settings.retries => {
                self.write_marks(marks).await?;
                off_thread(move || store.dead_letter(&attempt, fence.as_ref())).await?;
                tracing::error!(
                    instance = %self.destination.instance_id, message = %message.message_id,
                    "delivery failed {retry} times, dead-lettered: {error}"
                );
                (Outcome::DeadLetter, Some(error))
            }
            Err(error) => {
                self.write_marks(marks).await?;
                let wait = self.settings.backoff(retry).mul_f64(1.0 + 0.25 * crate::random::unit());
                let at = Utc::now() + chrono::TimeDelta::from_std(wait).unwrap_or(chrono::TimeDelta::MAX);
                off_thread(move || store.schedule_retry(&attempt, at, fence.as_ref())).await?;
                tracing::warn!(
                    instance = %self.destination.instance_id, message = %message.message_id, attempt = retry,
                    "delivery failed, retrying in {:.1}s: {error}", wait.as_secs_f64()
                );
                (Outcome::Retry, Some(error))
            }
        };
        telemetry::record_attempt(&span, outcome.name(), latency, error.as_deref());
        self.observer.attempted(&message, outcome, error.as_deref(), started.elapsed());
        Ok((outcome, error))
    }

    /// Posts the message: whether it was accepted (`Err` carries why not), and
    /// what the inspector keeps of the exchange.
    async fn post(&self, message: &OutboxMessage, fence: Option<&Fence>) -> Posted {
        let content_type = if message.body.starts_with('[') { BATCH_CONTENT_TYPE } else { "application/json" };
        // Headers as the inspector shows them: the signature's value is left out.
        let mut shown = serde_json::Map::new();
        let mut show = |name: &str, value: &str| {
            shown.insert(name.to_owned(), serde_json::Value::String(value.to_owned()));
        };
        show(CONTENT_TYPE.as_str(), content_type);
        show(WEBHOOK_ID_HEADER, &message.message_id);
        let mut request = self
            .http
            .post(self.destination.callback_url.clone())
            .timeout(self.settings.timeout)
            .header(CONTENT_TYPE, HeaderValue::from_static(content_type))
            .header(WEBHOOK_ID_HEADER, &message.message_id);
        if let (Some(host), Some(fence)) = (self.lease.host(), fence) {
            let epoch = fence.token.to_string();
            show(HOST_HEADER, host);
            show(LEASE_HEADER, &epoch);
            request = request.header(HOST_HEADER, host).header(LEASE_HEADER, epoch);
        }
        if let Some(key) = &self.destination.signature_key {
            show(SIGNATURE_HEADER, SIGNATURE_SHOWN);
            request = request.header(SIGNATURE_HEADER, sign(key.expose().as_bytes(), message.body.as_bytes()));
        }
        // With traces on, the receiver may continue the attempt's trace.
        if let Some(traceparent) = telemetry::traceparent(&tracing::Span::current()) {
            show(telemetry::TRACEPARENT_HEADER, &traceparent);
            request = request.header(telemetry::TRACEPARENT_HEADER, traceparent);
        }
        let headers = serde_json::Value::Object(shown).to_string();
        let response = match request.body(message.body.clone()).send().await {
            Ok(response) => response,
            Err(error) => {
                return Posted { status: None, answer: String::new(), headers, result: Err(transport_error(error)) };
            }
        };
        let status = response.status();
        tracing::Span::current().record("http.response.status_code", status.as_u16());
        // The whole answer up to the cap, so the connection can be used again;
        // a failed read still leaves the status to report.
        let body =
            crate::capped::read_capped(response, MAX_ANSWER_BODY).await.map(|(bytes, _)| bytes).unwrap_or_default();
        let answer = String::from_utf8_lossy(&body[..body.len().min(ANSWER_EXCERPT)]).into_owned();
        let result = if status.is_success() {
            Ok(())
        } else {
            let excerpt: String = answer.chars().take(200).collect();
            Err(format!(
                "the callback answered HTTP {}{}",
                status.as_u16(),
                if excerpt.is_empty() { String::new() } else { format!(": {excerpt}") }
            ))
        };
        Posted { status: Some(status.as_u16()), answer, headers, result }
    }
}

/// What the signature header's value is shown as: the signature is made with
/// the instance's key, and nothing of it is kept.
pub const SIGNATURE_SHOWN: &str = "present";

/// One post of a message, as it went.
struct Posted {
    status: Option<u16>,
    /// The start of the answer's body (at most [`ANSWER_EXCERPT`] bytes, read as UTF-8).
    answer: String,
    /// The headers sent, as a JSON object (see [`SIGNATURE_SHOWN`]).
    headers: String,
    result: Result<(), String>,
}

/// Why a request got no answer. The URL is left out: a callback URL may carry a token.
fn transport_error(error: reqwest::Error) -> String {
    if error.is_timeout() {
        "the callback did not answer in time".into()
    } else if error.is_connect() {
        "cannot connect to the callback".into()
    } else {
        format!("the callback request failed: {}", error.without_url())
    }
}
