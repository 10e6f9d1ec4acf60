//! The Autotask REST client: reads every record a query matches, page by page,
//! within Autotask's limits.
//!
//! - Zone discovery first (cached per credential), then every request goes to the zone.
//! - With an egress policy, no request reaches an address it refuses, and an
//!   error text is quoted (shortened) only from an Autotask host.
//! - Pages are followed through `pageDetails.nextPageUrl`, POSTed with the same
//!   body, and only on the zone's own origin: a link elsewhere is refused
//!   before any credentials are sent. A query stops with an error when a
//!   page link repeats one it already followed, after `max_pages` pages, or
//!   at a page body larger than `max_page_bytes` (read no further).
//! - At most `max_in_flight_per_entity` requests per entity are in flight
//!   (Autotask answers a fourth with 429).
//! - 429, transient 5xx, timeouts and refused connections are retried (see
//!   [`super::retry`]); redirects are never followed, since the credential
//!   headers are custom ones an HTTP client would carry along to any host.
//! - Past 75 % of the hourly request threshold (read from
//!   `ThresholdInformation` at most once a minute, or every 5 minutes while
//!   under half that mark), requests are spaced so that what is left of the
//!   threshold lasts the rest of the hour. The spacing is the client's, not
//!   each request's: the instances sharing a client take turns, the one
//!   served longest ago first, so one with a backlog cannot spend the
//!   threshold the quiet ones need (see `Turns`).
//! - Every request sent is counted: per client handle made by
//!   [`AutotaskClient::counting`] (a poll's requests), retries, zone lookups
//!   and threshold reads included.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::{Method, StatusCode, Url, header::HeaderMap};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::{Semaphore, oneshot};
use tracing::Instrument;

use super::credentials::{Connection, CredentialKey, Credentials};
use super::error::{SourceError, autotask_error_text};
use super::filter::QueryBody;
use super::retry::{self, RetryPolicy};
use super::zone::{self, ZoneCache, ZoneInfo};
use crate::egress::{AutotaskHosts, Egress};
use crate::telemetry;

/// The most of an Autotask error text an error message quotes.
const QUOTED_ERROR_CHARS: usize = 200;

/// How many check intervals a threshold reading far below the slow-down mark lasts.
const QUIET_THRESHOLD_CHECKS: u32 = 5;

/// How the client behaves; the defaults suit Autotask.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// How long one request may take, connection included.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    /// Requests per entity in flight at once (Autotask allows 3 per integration).
    pub max_in_flight_per_entity: usize,
    /// How often to re-read `ThresholdInformation`.
    pub threshold_check_interval: Duration,
    /// The share of the hourly threshold past which requests are spaced out.
    pub slow_down_above: f64,
    /// The longest pause between requests when spacing them.
    pub max_spacing: Duration,
    /// Told the status of every answer Autotask gives (for metrics).
    pub observer: Option<ResponseObserver>,
    /// Where requests may go; `None` sends wherever the server URL and the
    /// zone say (for a caller that chose the server itself).
    pub egress: Option<Egress>,
    /// Which hosts are Autotask: the error texts of others are not quoted.
    /// `None` quotes every host's.
    pub autotask_hosts: Option<AutotaskHosts>,
    /// The most pages one query follows (Autotask pages hold up to 500 records).
    pub max_pages: usize,
    /// The largest answer body read; a larger one fails the request unread.
    pub max_page_bytes: usize,
    /// Whether paced requests take turns by instance (the default). `false`
    /// lets each request wait out the spacing on its own, so concurrent
    /// requests together go faster than the spacing: the behaviour before
    /// 2026-11-30, kept for the `api_budget` benchmark's comparison.
    pub take_turns: bool,
    /// The HTTP client to send with, from [`AutotaskClient::http_client`] with
    /// the same options: a host with many credentials shares one connection
    /// pool and TLS setup between them (each request carries its own
    /// credential headers). `None` builds one for this client.
    pub http: Option<reqwest::Client>,
}

/// 2,000 pages of 500: a million records in one query.
pub const DEFAULT_MAX_PAGES: usize = 2_000;

/// 500 records of a wide entity stay far below this.
pub const DEFAULT_MAX_PAGE_BYTES: usize = 32 * 1024 * 1024;

/// A function told `(entity, HTTP status)` of an answer.
pub type ObserveResponse = dyn Fn(&str, u16) + Send + Sync;

/// A callback told `(entity, HTTP status)` of every answer, retries included.
#[derive(Clone)]
pub struct ResponseObserver(pub Arc<ObserveResponse>);

impl std::fmt::Debug for ResponseObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseObserver")
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            max_in_flight_per_entity: 3,
            threshold_check_interval: Duration::from_secs(60),
            slow_down_above: 0.75,
            max_spacing: Duration::from_secs(60),
            observer: None,
            egress: None,
            autotask_hosts: None,
            max_pages: DEFAULT_MAX_PAGES,
            max_page_bytes: DEFAULT_MAX_PAGE_BYTES,
            take_turns: true,
            http: None,
        }
    }
}

/// `GET /v1.0/ThresholdInformation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThresholdInformation {
    pub external_request_threshold: u64,
    /// Minutes.
    pub request_threshold_timeframe: u64,
    pub current_timeframe_request_count: u64,
}

/// Everything a query matched.
#[derive(Debug, Default)]
pub struct QueryResult {
    /// The records, in Autotask's order (by id), as the exact JSON it sent.
    pub records: Vec<Box<RawValue>>,
    /// How many pages they came in.
    pub pages: usize,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    items: Vec<Box<RawValue>>,
    #[serde(rename = "pageDetails", default)]
    page_details: Option<PageDetails>,
}

#[derive(Deserialize)]
struct PageDetails {
    #[serde(rename = "nextPageUrl", default)]
    next_page_url: Option<String>,
}

#[derive(Deserialize)]
struct Count {
    #[serde(rename = "queryCount")]
    query_count: u64,
}

/// What the client knows of the request threshold.
#[derive(Debug, Default)]
struct Pacing {
    checked_at: Option<Instant>,
    latest: Option<ThresholdInformation>,
    /// Requests this client sent since `latest` was read.
    sent_since: u64,
}

/// A client for one Autotask API user. Cheap to clone; clones share the zone,
/// the in-flight limits and the threshold pacing.
#[derive(Clone)]
pub struct AutotaskClient {
    inner: Arc<Inner>,
    caller: Caller,
}

/// Who a handle of the client sends for: the name paced requests take turns
/// under, and the counter of requests sent through it.
#[derive(Clone, Default)]
struct Caller {
    name: Arc<str>,
    sent: Option<RequestCount>,
}

/// How many HTTP requests a client handle sent (see [`AutotaskClient::counting`]).
#[derive(Clone, Debug, Default)]
pub struct RequestCount(Arc<AtomicU64>);

impl RequestCount {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Paced requests waiting to be sent, by caller. The serving task hands out
/// one request per spacing, each time to the waiting caller served longest
/// ago: a caller with many requests waiting gets no more turns than one with
/// a single request, and a caller that just arrived goes before one that was
/// just served.
#[derive(Default)]
struct Turns {
    waiting: Vec<(Arc<str>, VecDeque<oneshot::Sender<()>>)>,
    /// When each caller was last served (a turn number), while turns are served.
    served: HashMap<Arc<str>, u64>,
    turn: u64,
    /// Whether a task is serving turns.
    serving: bool,
}

impl Turns {
    fn push(&mut self, caller: &Arc<str>, waiter: oneshot::Sender<()>) {
        match self.waiting.iter_mut().find(|(name, _)| name == caller) {
            Some((_, queue)) => queue.push_back(waiter),
            None => self.waiting.push((caller.clone(), VecDeque::from([waiter]))),
        }
    }

    /// The next waiter: the first of the caller served longest ago (never, first).
    fn next(&mut self) -> Option<oneshot::Sender<()>> {
        let served = |name: &Arc<str>| self.served.get(name).copied().unwrap_or(0);
        let (index, _) = self.waiting.iter().enumerate().min_by_key(|(_, (name, _))| served(name))?;
        let (name, queue) = &mut self.waiting[index];
        let waiter = queue.pop_front();
        self.turn += 1;
        self.served.insert(name.clone(), self.turn);
        if queue.is_empty() {
            self.waiting.remove(index);
        }
        waiter
    }
}

struct Inner {
    http: reqwest::Client,
    server_url: String,
    credentials: Credentials,
    /// What zone answers are cached under.
    key: CredentialKey,
    /// Whether the server is an Autotask host, whose error texts may be quoted.
    quote_errors: bool,
    options: ClientOptions,
    zones: ZoneCache,
    in_flight: Mutex<HashMap<String, Arc<Semaphore>>>,
    pacing: Mutex<Pacing>,
    turns: Mutex<Turns>,
}

impl AutotaskClient {
    /// A client for `connection`, sharing zone answers through `zones`.
    pub fn new(connection: Connection, options: ClientOptions, zones: ZoneCache) -> Result<Self, SourceError> {
        let server_error = |message| SourceError::ServerUrl { url: connection.server_url.clone(), message };
        let lookup = zone::lookup_base(&connection.server_url).map_err(server_error)?;
        if let Some(egress) = &options.egress {
            let server = Url::parse(connection.server_url.trim()).map_err(|e| server_error(e.to_string()))?;
            egress.check_url(&server).and_then(|()| egress.check_url(&lookup)).map_err(server_error)?;
        }
        let http = match &options.http {
            Some(http) => http.clone(),
            None => Self::http_client(&options)
                .map_err(|e| SourceError::ServerUrl { url: connection.server_url.clone(), message: e.to_string() })?,
        };
        let quote_errors =
            options.autotask_hosts.as_ref().is_none_or(|hosts| hosts.trusts_text(&connection.server_url));
        let inner = Inner {
            http,
            key: connection.key(),
            quote_errors,
            server_url: connection.server_url,
            credentials: connection.credentials,
            options,
            zones,
            in_flight: Mutex::new(HashMap::new()),
            pacing: Mutex::new(Pacing::default()),
            turns: Mutex::new(Turns::default()),
        };
        Ok(AutotaskClient { inner: Arc::new(inner), caller: Caller::default() })
    }

    /// A handle whose paced requests take turns as `instance`'s.
    pub fn for_instance(&self, instance: &str) -> AutotaskClient {
        AutotaskClient { inner: self.inner.clone(), caller: Caller { name: instance.into(), sent: None } }
    }

    /// A handle that counts the requests sent through it (and its clones),
    /// with that count.
    pub fn counting(&self) -> (AutotaskClient, RequestCount) {
        let count = RequestCount::default();
        let caller = Caller { name: self.caller.name.clone(), sent: Some(count.clone()) };
        (AutotaskClient { inner: self.inner.clone(), caller }, count)
    }

    /// The HTTP client a client with `options` sends with: its egress policy
    /// resolves every address, its timeout bounds every request, redirects are
    /// not followed. Build it once to share it ([`ClientOptions::http`]).
    pub fn http_client(options: &ClientOptions) -> Result<reqwest::Client, reqwest::Error> {
        crate::use_ring_for_tls();
        let mut http = reqwest::Client::builder();
        if let Some(egress) = &options.egress {
            http = http.dns_resolver(egress.resolver());
        }
        http.timeout(options.request_timeout)
            .connect_timeout(options.request_timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("autotask-events/", env!("CARGO_PKG_VERSION")))
            .build()
    }

    /// The API user this client acts as.
    pub fn username(&self) -> &str {
        &self.inner.credentials.username
    }

    /// The user's zone, discovered once and then cached.
    pub async fn zone(&self) -> Result<ZoneInfo, SourceError> {
        let username = &self.inner.credentials.username;
        if let Some(zone) = self.inner.zones.get(&self.inner.key) {
            return Ok(zone);
        }
        let mut url = zone::lookup_base(&self.inner.server_url)
            .and_then(|base| base.join("v1.0/zoneInformation").map_err(|e| e.to_string()))
            .map_err(|message| SourceError::ServerUrl { url: self.inner.server_url.clone(), message })?;
        url.query_pairs_mut().append_pair("user", username);
        let (status, _, body) = self.send("zoneInformation", Method::GET, url, None, false).await?;
        if !status.is_success() {
            let text = autotask_error_text(&body);
            // A refusal is about the user; a fault that outlived the retries is not.
            let user_unknown = !retry::is_transient(status, &text);
            let (username, status, message) = (username.clone(), status.as_u16(), self.shown(text));
            if user_unknown {
                return Err(SourceError::ZoneLookup { username, status, message });
            }
            return Err(SourceError::Http { entity: "zoneInformation".into(), status, message });
        }
        let zone: ZoneInfo = serde_json::from_slice(&body)
            .map_err(|e| SourceError::Malformed { entity: "zoneInformation".into(), message: e.to_string() })?;
        let zone_url = Url::parse(&zone.url).map_err(|e| SourceError::Malformed {
            entity: "zoneInformation".into(),
            message: format!("zone url `{}` is not a URL ({e})", zone.url),
        })?;
        if let Some(egress) = &self.inner.options.egress {
            egress.check_url(&zone_url).map_err(|message| SourceError::ServerUrl { url: zone.url.clone(), message })?;
        }
        self.inner.zones.insert(self.inner.key, zone.clone());
        Ok(zone)
    }

    /// Every record of `entity` that `body` matches, following every page.
    pub async fn query_all(&self, entity: &str, body: &QueryBody) -> Result<QueryResult, SourceError> {
        let mut pages = self.query_pages(entity, body);
        let mut result = QueryResult::default();
        while let Some(page) = pages.next().await? {
            result.pages += 1;
            result.records.extend(page);
        }
        Ok(result)
    }

    /// The records `body` matches, one page at a time, so a caller can work on a
    /// page while the next is read.
    pub fn query_pages(&self, entity: &str, body: &QueryBody) -> Pages {
        Pages {
            client: self.clone(),
            entity: entity.to_owned(),
            body: Bytes::from(serde_json::to_vec(body).expect("a query body serializes")),
            state: PagesState::NotStarted,
            read: 0,
            followed: HashSet::new(),
        }
    }

    /// An authenticated call to `path` under the zone's `v1.0/` (a webhook
    /// entity, say), with a JSON body; the answer's JSON (`null` when empty).
    /// `entity` is what limits, retries and errors count it under.
    pub async fn call_json(
        &self,
        entity: &str,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, SourceError> {
        let zone_base = self.zone_base().await?;
        let url = self.api_url(&zone_base, path)?;
        let body = body.map(|body| Bytes::from(serde_json::to_vec(body).expect("a JSON value serializes")));
        let bytes = self.call(entity, method, url, body.as_ref()).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| SourceError::Malformed { entity: entity.into(), message: e.to_string() })
    }

    /// How many records of `entity` match `body` (`/query/count`).
    pub async fn count(&self, entity: &str, body: &QueryBody) -> Result<u64, SourceError> {
        let zone_base = self.zone_base().await?;
        let body = Bytes::from(serde_json::to_vec(body).expect("a query body serializes"));
        let url = self.api_url(&zone_base, &format!("{entity}/query/count"))?;
        let bytes = self.call(entity, Method::POST, url, Some(&body)).await?;
        let count: Count = serde_json::from_slice(&bytes)
            .map_err(|e| SourceError::Malformed { entity: entity.into(), message: format!("a count: {e}") })?;
        Ok(count.query_count)
    }

    /// The hourly request threshold and how much of it is used.
    pub async fn threshold(&self) -> Result<ThresholdInformation, SourceError> {
        let zone_base = self.zone_base().await?;
        let url = self.api_url(&zone_base, "ThresholdInformation")?;
        let bytes = self.call("ThresholdInformation", Method::GET, url, None).await?;
        let info: ThresholdInformation = serde_json::from_slice(&bytes)
            .map_err(|e| SourceError::Malformed { entity: "ThresholdInformation".into(), message: e.to_string() })?;
        let mut pacing = self.pacing();
        pacing.latest = Some(info);
        pacing.checked_at = Some(Instant::now());
        pacing.sent_since = 0;
        Ok(info)
    }

    /// The hourly threshold as last read, its use counted on with the
    /// requests this client sent since; `None` before the first reading.
    pub fn threshold_reading(&self) -> Option<ThresholdInformation> {
        let pacing = self.pacing();
        pacing.latest.map(|info| ThresholdInformation {
            current_timeframe_request_count: info.current_timeframe_request_count + pacing.sent_since,
            ..info
        })
    }

    async fn zone_base(&self) -> Result<Url, SourceError> {
        let zone = self.zone().await?;
        let mut base = Url::parse(&zone.url).expect("checked when the zone was read");
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(base)
    }

    fn api_url(&self, zone_base: &Url, path: &str) -> Result<Url, SourceError> {
        zone_base
            .join(&format!("v1.0/{path}"))
            .map_err(|e| SourceError::ServerUrl { url: zone_base.to_string(), message: e.to_string() })
    }

    /// Re-reads the threshold when the last reading is stale; a failure only
    /// means the client paces on what it knew.
    async fn check_threshold(&self) {
        let stale = {
            let pacing = self.pacing();
            pacing.checked_at.is_none_or(|at| at.elapsed() >= self.threshold_check_interval(&pacing))
        };
        if stale && let Err(error) = self.threshold().await {
            tracing::warn!(user = %self.username(), "could not read Autotask's request threshold: {error}");
        }
    }

    /// How old a threshold reading may get. Far below the slow-down mark
    /// (under half of it) a reading lasts [`QUIET_THRESHOLD_CHECKS`] times
    /// longer: reaching the mark from there takes more than a third of the
    /// hourly threshold in those few minutes, and re-reading it every minute
    /// would cost a quiet poll a second request.
    fn threshold_check_interval(&self, pacing: &Pacing) -> Duration {
        let options = &self.inner.options;
        let far_below = pacing.latest.is_some_and(|info| {
            let used = info.current_timeframe_request_count + pacing.sent_since;
            (used as f64) < info.external_request_threshold as f64 * options.slow_down_above / 2.0
        });
        if far_below {
            options.threshold_check_interval * QUIET_THRESHOLD_CHECKS
        } else {
            options.threshold_check_interval
        }
    }

    /// The pause before the next request: none below `slow_down_above` of the
    /// threshold, then the rest of the hour shared over what is left.
    fn spacing(&self) -> Duration {
        let pacing = self.pacing();
        let Some(info) = pacing.latest else { return Duration::ZERO };
        let threshold = info.external_request_threshold.max(1);
        let used = info.current_timeframe_request_count + pacing.sent_since;
        if (used as f64) < threshold as f64 * self.inner.options.slow_down_above {
            return Duration::ZERO;
        }
        let timeframe = Duration::from_secs(info.request_threshold_timeframe.max(1) * 60);
        let left = threshold.saturating_sub(used).max(1);
        (timeframe / left as u32).min(self.inner.options.max_spacing)
    }

    /// An error text as this client may show it: shortened from an Autotask
    /// host, left out from any other (a server URL must not make the service
    /// a reader of internal pages).
    fn shown(&self, text: String) -> String {
        if !self.inner.quote_errors {
            return "(the answer is not quoted: the server is not an Autotask host)".into();
        }
        match text.char_indices().nth(QUOTED_ERROR_CHARS) {
            Some((end, _)) => format!("{}…", &text[..end]),
            None => text,
        }
    }

    fn pacing(&self) -> std::sync::MutexGuard<'_, Pacing> {
        self.inner.pacing.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn slots(&self, entity: &str) -> Arc<Semaphore> {
        let mut in_flight = self.inner.in_flight.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let permits = self.inner.options.max_in_flight_per_entity.max(1);
        in_flight.entry(entity.to_ascii_lowercase()).or_insert_with(|| Arc::new(Semaphore::new(permits))).clone()
    }

    /// An authenticated API call; the body of a 2xx answer, or a typed error.
    async fn call(&self, entity: &str, method: Method, url: Url, body: Option<&Bytes>) -> Result<Bytes, SourceError> {
        let (status, _, bytes) = self.send(entity, method, url, body, true).await?;
        // Onto a page read's span, which has the field (a no-op on any other).
        tracing::Span::current().record("http.response.status_code", status.as_u16());
        if status.is_success() {
            return Ok(bytes);
        }
        let message = autotask_error_text(&bytes);
        let credentials_500 = retry::is_credentials_500(&message);
        let message = self.shown(message);
        let username = self.username().to_owned();
        let entity = entity.to_owned();
        let status_code = status.as_u16();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN || credentials_500 {
            if status != StatusCode::FORBIDDEN {
                // The user may have moved zone; look it up again next time.
                self.inner.zones.forget(&self.inner.key);
            }
            return Err(SourceError::Unauthorized { username, entity, status: status_code, message });
        }
        Err(SourceError::Http { entity, status: status_code, message })
    }

    /// Sends a request, retrying what may succeed later; returns the last answer.
    async fn send(
        &self,
        entity: &str,
        method: Method,
        url: Url,
        body: Option<&Bytes>,
        authenticated: bool,
    ) -> Result<(StatusCode, HeaderMap, Bytes), SourceError> {
        let policy = self.inner.options.retry;
        let slots = self.slots(entity);
        let mut attempt = 0;
        loop {
            attempt += 1;
            if authenticated {
                self.wait_turn(entity).await;
            }
            let outcome = {
                let _slot = slots.acquire().await.expect("the semaphore is never closed");
                self.attempt(entity, method.clone(), url.clone(), body, authenticated).await
            };
            let (retry_after, failure) = match outcome {
                Ok((status, headers, bytes)) => {
                    let text = if status.is_success() { String::new() } else { autotask_error_text(&bytes) };
                    if status.is_success() || !retry::is_transient(status, &text) || attempt >= policy.max_attempts {
                        return Ok((status, headers, bytes));
                    }
                    if authenticated && attempt == 1 && status == StatusCode::INTERNAL_SERVER_ERROR {
                        self.check_user_is_known().await?;
                    }
                    let retry_after = retry::retry_after(&headers);
                    let text = self.shown(text);
                    if let Some(wait) = retry_after.filter(|wait| *wait > policy.max_retry_after) {
                        return Err(SourceError::RateLimited {
                            entity: entity.into(),
                            retry_after: wait,
                            message: text,
                        });
                    }
                    (retry_after, format!("HTTP {}: {text}", status.as_u16()))
                }
                Err(Failure::TooLarge) => {
                    let limit = self.inner.options.max_page_bytes;
                    let message = format!("an answer is larger than the limit of {limit} bytes; not read further");
                    return Err(SourceError::Limit { entity: entity.into(), message });
                }
                Err(Failure::Transport(error))
                    if attempt < policy.max_attempts && (error.is_timeout() || error.is_connect()) =>
                {
                    (None, error.to_string())
                }
                Err(Failure::Transport(error)) => {
                    return Err(SourceError::Transport { entity: entity.into(), message: transport_message(&error) });
                }
            };
            let wait = policy.backoff(attempt, retry_after, crate::random::unit());
            tracing::warn!(entity, attempt, ?wait, "Autotask request failed, retrying: {failure}");
            tokio::time::sleep(wait).await;
        }
    }

    /// Waits until this request may be sent: at once below the slow-down
    /// mark, else when its caller's turn comes (see [`Turns`]).
    async fn wait_turn(&self, entity: &str) {
        let spacing = self.spacing();
        if !self.inner.options.take_turns {
            if !spacing.is_zero() {
                tokio::time::sleep(spacing).await;
            }
            return;
        }
        let turn = {
            let mut turns = self.turns();
            if spacing.is_zero() && !turns.serving {
                return;
            }
            tracing::debug!(entity, ?spacing, "past the request threshold's slow-down mark; waiting for a turn");
            let (waiter, turn) = oneshot::channel();
            turns.push(&self.caller.name, waiter);
            if !turns.serving {
                turns.serving = true;
                tokio::spawn(self.clone().serve_turns());
            }
            turn
        };
        // The serving task never drops a waiter unserved.
        let _ = turn.await;
    }

    /// Hands out turns, one per spacing, until nobody waits.
    async fn serve_turns(self) {
        loop {
            let waiter = {
                let mut turns = self.turns();
                match turns.next() {
                    Some(waiter) => waiter,
                    None => {
                        // Nobody waits: who was served when no longer matters.
                        *turns = Turns::default();
                        return;
                    }
                }
            };
            // A waiter that is gone (its poll was stopped) used no turn.
            if waiter.send(()).is_ok() {
                let spacing = self.spacing();
                if !spacing.is_zero() {
                    tokio::time::sleep(spacing).await;
                }
            }
        }
    }

    fn turns(&self) -> std::sync::MutexGuard<'_, Turns> {
        self.inner.turns.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Asks zone lookup afresh whether Autotask still knows the API user.
    /// Autotask answers an unknown user's API call with a 500 whose wording is
    /// not known (and must not be relied on), so a 500 that is not recognised as
    /// permanent is checked this way once before it is retried: an unknown user
    /// is then reported as such, at once, instead of after every retry.
    async fn check_user_is_known(&self) -> Result<(), SourceError> {
        self.inner.zones.forget(&self.inner.key);
        // Boxed: zone lookup sends a request itself, and async recursion needs an indirection.
        match Box::pin(self.zone()).await {
            Err(unknown @ SourceError::ZoneLookup { .. }) => Err(unknown),
            // Anything else (the user is known, or zone lookup is down too) leaves the retry to go on.
            _ => Ok(()),
        }
    }

    async fn attempt(
        &self,
        entity: &str,
        method: Method,
        url: Url,
        body: Option<&Bytes>,
        authenticated: bool,
    ) -> Result<(StatusCode, HeaderMap, Bytes), Failure> {
        if let Some(sent) = &self.caller.sent {
            sent.0.fetch_add(1, Ordering::Relaxed);
        }
        if authenticated {
            self.pacing().sent_since += 1;
        }
        let mut request = self.inner.http.request(method, url).header("Accept", "application/json");
        if authenticated {
            let credentials = &self.inner.credentials;
            request = request
                .header("ApiIntegrationCode", credentials.integration_code.expose())
                .header("UserName", &credentials.username)
                .header("Secret", credentials.secret.expose());
        }
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body.clone());
        }
        let response = request.send().await?;
        let status = response.status();
        if let Some(observer) = &self.inner.options.observer {
            (observer.0)(entity, status.as_u16());
        }
        let headers = response.headers().clone();
        // Chunk by chunk up to the cap: an endless answer must not fill memory.
        let (body, too_large) = crate::capped::read_capped(response, self.inner.options.max_page_bytes).await?;
        if too_large {
            return Err(Failure::TooLarge);
        }
        Ok((status, headers, Bytes::from(body)))
    }
}

/// Why an attempt got no answer to use.
enum Failure {
    Transport(reqwest::Error),
    /// The body went past `max_page_bytes`.
    TooLarge,
}

impl From<reqwest::Error> for Failure {
    fn from(error: reqwest::Error) -> Self {
        Failure::Transport(error)
    }
}

/// The pages of one query, read in order by [`Pages::next`].
pub struct Pages {
    client: AutotaskClient,
    entity: String,
    body: Bytes,
    state: PagesState,
    /// Pages read so far, against `max_pages`.
    read: usize,
    /// Every page link followed, so a link back to one of them (a loop) is caught.
    followed: HashSet<Url>,
}

enum PagesState {
    NotStarted,
    Next { zone_base: Url, url: Url },
    Done,
}

impl Pages {
    /// The next page's records; `None` after the last page. Each page read
    /// is an `autotask.page` span: the entity, the page's number, its records
    /// and Autotask's HTTP status; never the request's headers (credentials).
    pub async fn next(&mut self) -> Result<Option<Vec<Box<RawValue>>>, SourceError> {
        if matches!(self.state, PagesState::Done) {
            return Ok(None);
        }
        let span = tracing::info_span!(
            target: telemetry::TARGET,
            "autotask.page",
            entity = %self.entity,
            page = self.read + 1,
            records = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            otel.status_description = tracing::field::Empty,
        );
        let page = self.read_next().instrument(span.clone()).await;
        match &page {
            Ok(records) => {
                span.record("records", records.as_ref().map_or(0, Vec::len));
            }
            Err(error) => {
                if let Some(status) = error.status() {
                    span.record("http.response.status_code", status);
                }
                telemetry::record_error(&span, error);
            }
        }
        page
    }

    async fn read_next(&mut self) -> Result<Option<Vec<Box<RawValue>>>, SourceError> {
        let client = &self.client;
        let (zone_base, url) = match std::mem::replace(&mut self.state, PagesState::Done) {
            PagesState::Done => return Ok(None),
            PagesState::Next { zone_base, url } => (zone_base, url),
            PagesState::NotStarted => {
                let zone_base = client.zone_base().await?;
                client.check_threshold().await;
                let url = client.api_url(&zone_base, &format!("{}/query", self.entity))?;
                self.followed.insert(url.clone());
                (zone_base, url)
            }
        };
        let max_pages = client.inner.options.max_pages;
        if self.read >= max_pages {
            let message = format!("it has more than {max_pages} pages (the limit of pages per query)");
            return Err(SourceError::Limit { entity: self.entity.clone(), message });
        }
        let bytes = client.call(&self.entity, Method::POST, url, Some(&self.body)).await?;
        self.read += 1;
        let page = read_page(&self.entity, &bytes)?;
        if let Some(next) = page.next_page_url {
            let url = same_origin(&self.entity, &next, &zone_base)?;
            if !self.followed.insert(url.clone()) {
                let message = format!("page {} links to `{next}` again, a page already read (a loop)", self.read);
                return Err(SourceError::Limit { entity: self.entity.clone(), message });
            }
            self.state = PagesState::Next { zone_base, url };
        }
        Ok(Some(page.records))
    }
}

/// One page of a query answer, read.
#[derive(Debug)]
pub struct PageRead {
    /// The page's records, as the exact JSON Autotask sent (not parsed further).
    pub records: Vec<Box<RawValue>>,
    /// Where the next page is, if there is one.
    pub next_page_url: Option<String>,
}

/// Reads a query page: `{"items":[...],"pageDetails":{"nextPageUrl":...}}`.
pub fn read_page(entity: &str, bytes: &[u8]) -> Result<PageRead, SourceError> {
    let page: Page = serde_json::from_slice(bytes)
        .map_err(|e| SourceError::Malformed { entity: entity.into(), message: format!("a query page: {e}") })?;
    let next_page_url = page.page_details.and_then(|details| details.next_page_url).filter(|url| !url.is_empty());
    Ok(PageRead { records: page.items, next_page_url })
}

/// `next` as a URL, if it is on the zone's origin.
fn same_origin(entity: &str, next: &str, zone_base: &Url) -> Result<Url, SourceError> {
    let foreign =
        || SourceError::ForeignOrigin { entity: entity.into(), url: next.into(), zone: zone_base.to_string() };
    let url = Url::parse(next).map_err(|_| foreign())?;
    if url.origin() == zone_base.origin() { Ok(url) } else { Err(foreign()) }
}

/// A transport error's text with its chain of causes ("connection refused" is
/// usually in a source, not the top error).
fn transport_message(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_links_must_stay_on_the_zone_origin() {
        let zone = Url::parse("https://webservices2.autotask.net/atservicesrest/").unwrap();
        assert!(
            same_origin(
                "Tickets",
                "https://webservices2.autotask.net/atservicesrest/v1.0/Tickets/query/next?paging=x",
                &zone
            )
            .is_ok()
        );
        for foreign in [
            "https://evil.example.com/atservicesrest/v1.0/Tickets/query/next",
            "http://webservices2.autotask.net/atservicesrest/v1.0/Tickets/query/next",
            "https://webservices2.autotask.net:8443/atservicesrest/v1.0/Tickets/query/next",
            "not a url",
        ] {
            let error = same_origin("Tickets", foreign, &zone).unwrap_err();
            assert!(matches!(error, SourceError::ForeignOrigin { .. }), "{foreign}: {error}");
        }
    }

    #[test]
    fn jitter_is_in_the_unit_interval() {
        for _ in 0..1000 {
            let r = crate::random::unit();
            assert!((0.0..1.0).contains(&r));
        }
    }
}
