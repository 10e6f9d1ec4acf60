//! Instances: listed, read, created, changed, disabled and deleted. Each
//! change moves the store row and the running set together, and puts the row
//! back when the running set refuses it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::body::same_secret;
use super::body::{instance_body, masked_configuration, merge_patch, new_token, secrets_for_new_server};
use super::views::{Deleted, InstanceId, InstanceSettings, InstanceView, ResourceSettings, Warning};
use super::{Caller, ManageError, Management};
use crate::config::{ConfiguredInstance, InstanceRules};
use crate::service::client_options;
use crate::service::plugins::{existing_plugin_file, expected_plugin_files, plugin_path};
use crate::service::poll::blocking;
use crate::service::stored_body;
use crate::source::credentials::key_prefix;
use crate::source::retry::RetryPolicy;
use crate::source::{AutotaskClient, ClientOptions, SourceError, ZoneCache};
use crate::store::StoredInstance;

/// The poller configuration key of a Cloud Elements body.
const POLLER: &str = "event.poller.configuration";

/// Why a PATCH that moves the server URL must give the secrets again.
const SECRET_FOR_NEW_SERVER: &str = "give this secret again: the server URL changed, and a stored secret is only ever \
     sent to the server it was stored with";

/// An instance this layer knows: created through it, or from the configuration file.
pub(super) enum Found {
    Api(StoredInstance),
    File(Box<ConfiguredInstance>),
}

impl Found {
    /// The user it belongs to besides the admins (none: the admins' only).
    fn owner(&self) -> Option<&str> {
        match self {
            Found::Api(stored) => Some(&stored.owner),
            Found::File(configured) => configured.owner.as_deref(),
        }
    }

    /// The id the service runs it under.
    pub(super) fn id(&self) -> String {
        match self {
            Found::Api(stored) => stored.id.to_string(),
            Found::File(configured) => configured.id.clone(),
        }
    }
}

/// A page of a list: `size` items from position `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub start: usize,
    pub size: usize,
}

impl Page {
    /// The most items one page may hold.
    pub const MAX_SIZE: usize = 1000;
    /// How many items a page holds when only `nextPage` is given.
    pub const DEFAULT_SIZE: usize = 200;

    /// The page `pageSize` and `nextPage` (the token a previous page's
    /// `Elements-Next-Page-Token` header gave) ask for; `None` (everything)
    /// when neither is given.
    pub fn parse(page_size: Option<&str>, next_page: Option<&str>) -> Result<Option<Page>, ManageError> {
        if page_size.is_none() && next_page.is_none() {
            return Ok(None);
        }
        let size = match page_size {
            None => Self::DEFAULT_SIZE,
            Some(text) => text.parse().ok().filter(|size| (1..=Self::MAX_SIZE).contains(size)).ok_or_else(|| {
                ManageError::field("?pageSize", format!("`{text}` is not a whole number from 1 to {}", Self::MAX_SIZE))
            })?,
        };
        let start = match next_page {
            None => 0,
            Some(token) => Self::position(token).ok_or_else(|| {
                ManageError::field("?nextPage", format!("`{token}` is not a token this service gave"))
            })?,
        };
        Ok(Some(Page { start, size }))
    }

    /// The token that asks for the page after this one's start.
    pub fn token(&self) -> String {
        format!("{TOKEN_PREFIX}{}", self.start)
    }

    fn position(token: &str) -> Option<usize> {
        token.strip_prefix(TOKEN_PREFIX)?.parse().ok()
    }
}

/// Marks the service's page tokens, so that another service's token is refused, not misread.
const TOKEN_PREFIX: &str = "instances-from-";

/// What happens to undelivered messages when an instance is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxPolicy {
    /// Deliver them first; the instance stays if the callback does not take them.
    Flush,
    /// Drop them with the instance.
    Drop,
}

impl OutboxPolicy {
    /// `flush` (the default, also when not given) or `drop`, as `?outbox=` says it.
    pub fn parse(text: Option<&str>) -> Result<Self, ManageError> {
        match text {
            None | Some("flush") => Ok(OutboxPolicy::Flush),
            Some("drop") => Ok(OutboxPolicy::Drop),
            Some(other) => {
                Err(ManageError::field("?outbox", format!("`{other}` is not `flush` (deliver first) or `drop`")))
            }
        }
    }
}

impl Management {
    /// Instance `id`, when the caller may see it, checking the caller's
    /// `Element` token when one was presented. Another user's instance is not
    /// found, as one that does not exist: its id tells nothing.
    pub(super) async fn find(&self, id: &str, caller: &Caller) -> Result<Found, ManageError> {
        let found = match id.parse::<i64>() {
            // `05` or `+5` is not instance 5's id: every running set, gate and
            // log is keyed by the id's one spelling.
            Ok(number) if number.to_string() != id => None,
            Ok(number) => {
                let store = self.shared().store.clone();
                blocking(move || store.api_instance(number)).await?.map(Found::Api)
            }
            Err(_) => {
                self.snapshot().file_instances.iter().find(|c| c.id == id).cloned().map(|c| Found::File(Box::new(c)))
            }
        };
        let found = found
            .filter(|found| caller.sees(found.owner()))
            .ok_or_else(|| ManageError::NotFound(format!("instance `{id}`")))?;
        if let Some(token) = &caller.element_token {
            let matches = match &found {
                Found::Api(stored) => same_secret(token, &stored.token),
                Found::File(_) => false,
            };
            if !matches {
                return Err(ManageError::WrongToken(format!(
                    "the Element token is not instance `{id}`'s (instances from the configuration file have none)"
                )));
            }
        }
        Ok(found)
    }

    /// Instance `id` when it was created through the API; the file's are read-only.
    async fn find_writable(&self, id: &str, caller: &Caller) -> Result<StoredInstance, ManageError> {
        match self.find(id, caller).await? {
            Found::Api(stored) => Ok(stored),
            Found::File(_) => Err(ManageError::ReadOnly(format!(
                "instance `{id}` comes from the configuration file and is read-only here; change it in the file"
            ))),
        }
    }

    /// Every instance the caller may see: the configuration file's, then the API's.
    pub async fn list(&self, caller: &Caller) -> Result<Vec<InstanceView>, ManageError> {
        Ok(self.list_page(caller, None).await?.0)
    }

    /// The instances the caller may see, in [`Management::list`]'s order: all
    /// of them, or one page and where the next starts (`None` after the last).
    /// Only the page's views are built, so a host of thousands answers a page
    /// as fast as a host of a few.
    pub async fn list_page(
        &self,
        caller: &Caller,
        page: Option<Page>,
    ) -> Result<(Vec<InstanceView>, Option<Page>), ManageError> {
        let snapshot = self.snapshot();
        let files: Vec<&ConfiguredInstance> =
            snapshot.file_instances.iter().filter(|c| caller.sees(c.owner.as_deref())).collect();
        let store = self.shared().store.clone();
        let stored: Vec<StoredInstance> = blocking(move || store.api_instances())
            .await?
            .into_iter()
            .filter(|s| caller.sees(Some(&s.owner)))
            .collect();
        let total = files.len() + stored.len();
        let range = match page {
            None => 0..total,
            Some(page) => page.start.min(total)..page.start.saturating_add(page.size).min(total),
        };
        let next = page.filter(|_| range.end < total).map(|page| Page { start: range.end, ..page });
        let mut shown = Vec::with_capacity(range.len());
        let (file_range, stored_range) = (
            range.start.min(files.len())..range.end.min(files.len()),
            range.start.saturating_sub(files.len())..range.end.saturating_sub(files.len()),
        );
        if !file_range.is_empty() {
            let store = self.shared().store.clone();
            // One read for every file instance's creation time: a host of thousands lists them quickly.
            let created = blocking(move || store.instances_created_at()).await?;
            for configured in &files[file_range] {
                shown.push(match created.get(&configured.id) {
                    Some(created) => self.file_view_created(configured, *created),
                    None => self.file_view(configured).await?,
                });
            }
        }
        shown.extend(stored[stored_range].iter().map(|stored| self.api_view(stored)));
        Ok((shown, next))
    }

    /// Instance `id`.
    pub async fn get(&self, id: &str, caller: &Caller) -> Result<InstanceView, ManageError> {
        match self.find(id, caller).await? {
            Found::Api(stored) => Ok(self.api_view(&stored)),
            Found::File(configured) => self.file_view(&configured).await,
        }
    }

    /// Creates an instance from a Cloud Elements body (`POST /instances`): it is
    /// checked, its credentials are tried with Autotask, and then it is stored
    /// and started together, or neither. It belongs to the caller.
    pub async fn create(&self, caller: &Caller, posted: &Value) -> Result<InstanceView, ManageError> {
        let body = instance_body(posted);
        let disabled = disabled_flag(posted, false)?;
        let checked = self.configured("new", &body, disabled).map_err(|p| ManageError::problems(&p))?;
        check_credentials(&checked, &self.shared().settings.rules).await?;
        self.add(&caller.user, &body, checked).await
    }

    /// Stores a checked instance of `owner` and starts it, together: when it
    /// cannot start, its row goes again.
    pub(super) async fn add(
        &self,
        owner: &str,
        body: &Value,
        checked: ConfiguredInstance,
    ) -> Result<InstanceView, ManageError> {
        let disabled = checked.disabled;
        let mut supervisor = self.supervisor.lock().await;
        let (store, text, token, name) = (self.shared().store.clone(), body.to_string(), new_token(), owner.to_owned());
        let number = blocking(move || store.insert_api_instance(&name, &token, &text, disabled, Utc::now())).await?;
        let id = number.to_string();
        let configured = ConfiguredInstance { id: id.clone(), ..checked };
        if let Err(error) = supervisor.apply_api(&id, Some(configured.clone())).await {
            let store = self.shared().store.clone();
            blocking(move || store.delete_api_instance(number)).await?;
            return Err(ManageError::NotStarted(error.to_string()));
        }
        drop(supervisor);
        tracing::info!(instance = %id, name = %configured.instance.name, owner, "instance created through the API");
        let mut shown = self.stored_view(number).await?;
        shown.warnings = self.plugin_warnings(&configured);
        Ok(shown)
    }

    /// Changes instance `id` with a JSON merge patch of its body (RFC 7396); a
    /// masked secret keeps its value. The stored row and the running instance
    /// change together, or neither.
    pub async fn patch(&self, id: &str, caller: &Caller, patch: &Value) -> Result<InstanceView, ManageError> {
        let _changing = self.changing(id).await;
        let stored = self.find_writable(id, caller).await?;
        let before = stored_body(&stored);
        let mut body = before.clone();
        merge_patch(&mut body, &instance_body(patch));
        if let Some(key) = secrets_for_new_server(&before, patch, &body).first() {
            return Err(ManageError::field(format!("$.configuration['{key}']"), SECRET_FOR_NEW_SERVER));
        }
        let disabled = disabled_flag(patch, stored.disabled)?;
        let checked = self.configured(id, &body, disabled).map_err(|p| ManageError::problems(&p))?;
        let connection_before = self.configured_stored(&stored).ok().map(|c| c.instance.connection.clone());
        if connection_before.as_ref() != Some(&checked.instance.connection) {
            check_credentials(&checked, &self.shared().settings.rules).await?;
        }

        let mut supervisor = self.supervisor.lock().await;
        let (store, number, text) = (self.shared().store.clone(), stored.id, body.to_string());
        blocking(move || store.update_api_instance(number, &text, disabled, Utc::now())).await?;
        if let Err(error) = supervisor.apply_api(id, Some(checked.clone())).await {
            let (store, text) = (self.shared().store.clone(), stored.body.clone());
            blocking(move || store.update_api_instance(number, &text, stored.disabled, stored.updated_at)).await?;
            return Err(ManageError::NotStarted(error.to_string()));
        }
        drop(supervisor);
        tracing::info!(instance = %id, "instance changed through the API");
        let mut shown = self.stored_view(number).await?;
        shown.warnings = self.plugin_warnings(&checked);
        Ok(shown)
    }

    /// Disables (no polling, no delivery, kept) or enables instance `id`.
    pub async fn set_disabled(&self, id: &str, caller: &Caller, disabled: bool) -> Result<InstanceView, ManageError> {
        self.patch(id, caller, &json!({ "disabled": disabled })).await
    }

    /// Stops and removes instance `id` with its outbox, watermarks, seen keys
    /// and failed records. With [`OutboxPolicy::Flush`] what is undelivered
    /// goes first, without holding any lock another instance needs; if the
    /// callback does not take it all, the instance is put back running.
    pub async fn delete(&self, id: &str, caller: &Caller, outbox: OutboxPolicy) -> Result<Deleted, ManageError> {
        let _changing = self.changing(id).await;
        let stored = self.find_writable(id, caller).await?;
        let (running, flusher, retired) = {
            let mut supervisor = self.supervisor.lock().await;
            let running = self.snapshot().api_instances.get(id).cloned();
            supervisor.apply_api(id, None).await.map_err(ManageError::internal)?;
            let flusher = running.as_ref().and_then(|configured| supervisor.flusher(configured));
            (running, flusher, supervisor.retired(id))
        };
        // Its own worker finishes the delivery on the wire before the flush starts.
        if let Some(retired) = retired {
            retired.finished().await;
        }
        let (store, instance) = (self.shared().store.clone(), id.to_owned());
        let (mut delivered, mut dropped) = (0, 0);
        match outbox {
            OutboxPolicy::Flush => {
                blocking(move || store.replay_dead(&instance, Utc::now())).await?;
                let outcome = match flusher {
                    Some(worker) => worker.flush().await,
                    None => Ok(0),
                };
                let (store, instance) = (self.shared().store.clone(), id.to_owned());
                let (pending, _) = blocking(move || store.undelivered(&instance)).await?;
                if let (Err(stopped), Some(configured)) = (&outcome, running) {
                    let mut supervisor = self.supervisor.lock().await;
                    supervisor.apply_api(id, Some(configured)).await.map_err(ManageError::internal)?;
                    return Err(ManageError::Conflict(format!(
                        "instance `{id}` was not deleted: {pending} message(s) could not be delivered ({}); it keeps running. \
                         Try again later, or delete with ?outbox=drop to drop them",
                        stopped.error
                    )));
                }
                if pending > 0 {
                    return Err(ManageError::Conflict(format!(
                        "instance `{id}` was not deleted: {pending} message(s) could not be delivered; delete with ?outbox=drop to drop them"
                    )));
                }
                delivered = outcome.unwrap_or_default();
            }
            OutboxPolicy::Drop => {
                let (pending, dead) = blocking(move || store.undelivered(&instance)).await?;
                dropped = pending + dead;
            }
        }
        let store = self.shared().store.clone();
        blocking(move || store.delete_api_instance(stored.id)).await?;
        tracing::info!(instance = %id, delivered, dropped, "instance deleted through the API");
        Ok(Deleted { id: stored.id, deleted: true, delivered, dropped })
    }

    /// Asks Autotask whether it takes the credentials of a body (the console's
    /// connection test), as a create would. When `editing` names an API
    /// instance the caller may see, the stored secrets fill in what the body
    /// leaves out (never another user's: they would test with them).
    pub async fn test_connection(&self, caller: &Caller, body: &Value, editing: Option<&str>) -> Result<(), String> {
        let mut body = body.clone();
        if let Some(number) = editing.and_then(|id| id.parse::<i64>().ok()) {
            let store = self.shared().store.clone();
            let stored = blocking(move || store.api_instance(number)).await.map_err(|error| error.to_string())?;
            if let Some(stored) = stored.filter(|stored| caller.sees(Some(&stored.owner))) {
                let before = stored_body(&stored);
                let mut merged = before.clone();
                merged["configuration"][POLLER] = json!({});
                merged["configuration"]["event.notification.enabled"] = json!(false);
                merge_patch(&mut merged, &body);
                if let Some(key) = secrets_for_new_server(&before, &body, &merged).first() {
                    return Err(format!("{key}: {SECRET_FOR_NEW_SERVER}"));
                }
                body = merged;
            }
        }
        let checked = self.configured("connection-test", &body, false).map_err(|problems| {
            problems.0.first().map(|problem| format!("{}: {}", problem.key, problem.message)).unwrap_or_default()
        })?;
        check_credentials(&checked, &self.shared().settings.rules).await.map_err(|error| error.to_string())
    }

    /// One warning per resource whose plugin file is not there yet.
    fn plugin_warnings(&self, configured: &ConfiguredInstance) -> Vec<Warning> {
        let plugin_dir = &self.shared().settings.plugin_dir;
        configured
            .instance
            .resources
            .iter()
            .filter_map(|resource| {
                let path = plugin_path(plugin_dir, configured, &resource.name);
                existing_plugin_file(&path).is_none().then(|| Warning {
                    field: format!("$.configuration['{POLLER}'].{}", resource.name),
                    message: format!(
                        "resource `{}` is waiting for its plugin: {} does not exist yet; it starts polling when the file appears",
                        resource.name,
                        expected_plugin_files(&path)
                    ),
                })
            })
            .collect()
    }

    async fn stored_view(&self, number: i64) -> Result<InstanceView, ManageError> {
        let store = self.shared().store.clone();
        let stored = blocking(move || store.api_instance(number))
            .await?
            .ok_or_else(|| ManageError::NotFound("instance".into()))?;
        Ok(self.api_view(&stored))
    }

    /// An API instance as Cloud Elements shows one.
    fn api_view(&self, stored: &StoredInstance) -> InstanceView {
        let body = stored_body(stored);
        let id = stored.id.to_string();
        let readable = self.configured(&id, &body, stored.disabled);
        let valid = readable.is_ok() && !self.credentials_refused(&id);
        let mut shown = view(InstanceId::Api(stored.id), &body, stored.disabled, valid, stored.created_at);
        shown.token = Some(stored.token.clone());
        shown.updated = Some(stored.updated_at);
        shown.problem = readable.err().map(|problems| problems.to_string());
        shown
    }

    /// A configuration file instance, shown the same way, without a token.
    async fn file_view(&self, configured: &ConfiguredInstance) -> Result<InstanceView, ManageError> {
        let (store, id, name) = (self.shared().store.clone(), configured.id.clone(), configured.instance.name.clone());
        let created = blocking(move || store.instance_created_at(&id, &name, Utc::now())).await?;
        Ok(self.file_view_created(configured, created))
    }

    /// A configuration file instance first seen at `created`.
    fn file_view_created(&self, configured: &ConfiguredInstance, created: DateTime<Utc>) -> InstanceView {
        let valid = !self.credentials_refused(&configured.id);
        let mut shown =
            view(InstanceId::File(configured.id.clone()), &configured.body, configured.disabled, valid, created);
        shown.read_only = true;
        shown
    }

    /// Whether a poll of the instance found its credentials refused.
    fn credentials_refused(&self, id: &str) -> bool {
        self.snapshot()
            .resources(id)
            .iter()
            .any(|resource| resource.status().last_poll.is_some_and(|last| last.credentials_refused))
    }
}

/// A body's instance view, before the parts only stored or file instances have.
fn view(id: InstanceId, body: &Value, disabled: bool, valid: bool, created: DateTime<Utc>) -> InstanceView {
    let configuration = masked_configuration(body);
    let events_enabled = match configuration.get("event.notification.enabled") {
        Some(Value::Bool(flag)) => *flag,
        Some(Value::String(text)) => text.eq_ignore_ascii_case("true"),
        _ => false,
    };
    let element_key = body["element"]["key"].as_str().map(str::to_owned);
    let settings = settings(element_key.as_deref().unwrap_or_default(), &configuration);
    InstanceView {
        id,
        name: body["name"].as_str().map(str::to_owned),
        element_key,
        tags: body["tags"]
            .as_array()
            .map(|tags| tags.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default(),
        events_enabled,
        valid,
        disabled,
        configuration,
        created,
        token: None,
        updated: None,
        read_only: false,
        problem: None,
        warnings: Vec::new(),
        settings,
    }
}

/// The settings a person edits, read from a (masked) configuration.
fn settings(element_key: &str, configuration: &serde_json::Map<String, Value>) -> InstanceSettings {
    let prefix = key_prefix(element_key).unwrap_or("crm.autotask");
    let string = |value: Option<&Value>| value.and_then(Value::as_str).unwrap_or_default().to_owned();
    let resource = |(name, value): (&String, &Value)| {
        let dates = &value["datesConfiguration"];
        ResourceSettings {
            name: name.clone(),
            url: string(value.get("url")),
            id_field: value["idField"].as_str().unwrap_or("id").to_owned(),
            updated_date_field: string(dates.get("updatedDateField")),
            updated_date_format: string(dates.get("updatedDateFormat")),
            created_date_field: string(dates.get("createdDateField")),
            created_date_format: string(dates.get("createdDateFormat")),
        }
    };
    InstanceSettings {
        username: string(configuration.get(&format!("{prefix}.username"))),
        server_url: string(configuration.get(&format!("{prefix}.server.url"))),
        callback_url: string(configuration.get("event.notification.callback.url")),
        // A number or a string of minutes, shown as written.
        refresh_interval: match configuration.get("event.poller.refresh_interval") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
        },
        resources: configuration
            .get(POLLER)
            .and_then(Value::as_object)
            .map(|poller| poller.iter().map(resource).collect())
            .unwrap_or_default(),
    }
}

/// The `disabled` flag of a body, or `default` when it has none.
fn disabled_flag(body: &Value, default: bool) -> Result<bool, ManageError> {
    match body.get("disabled") {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(flag)) => Ok(*flag),
        Some(other) => Err(ManageError::field("$.disabled", format!("{other} is not true or false"))),
    }
}

/// Asks Autotask whether it takes the instance's credentials: zone discovery,
/// then one cheap call (`ThresholdInformation`). A refusal names the field.
pub(super) async fn check_credentials(
    configured: &ConfiguredInstance,
    rules: &InstanceRules,
) -> Result<(), ManageError> {
    let prefix = key_prefix(&configured.instance.element_key).unwrap_or("crm.autotask");
    let field = |suffix: &str| format!("$.configuration['{prefix}.{suffix}']");
    let options = ClientOptions {
        request_timeout: Duration::from_secs(15),
        retry: RetryPolicy { max_attempts: 2, ..RetryPolicy::default() },
        ..client_options(rules)
    };
    let client = AutotaskClient::new(configured.instance.connection.clone(), options, ZoneCache::default())
        .map_err(|error| ManageError::field(field("server.url"), error.to_string()))?;
    let checked = async {
        client.zone().await?;
        client.threshold().await
    };
    let Err(error) = checked.await else { return Ok(()) };
    let suffix = match &error {
        SourceError::ZoneLookup { .. } => "username",
        SourceError::Unauthorized { status: 401 | 403, .. } => "password",
        SourceError::Unauthorized { .. } => {
            if configured.body["configuration"].get(format!("{prefix}.integration.code")).is_some() {
                "integration.code"
            } else {
                "username"
            }
        }
        SourceError::ServerUrl { .. } | SourceError::Transport { .. } | SourceError::ForeignOrigin { .. } => {
            "server.url"
        }
        SourceError::Http { .. }
        | SourceError::RateLimited { .. }
        | SourceError::Malformed { .. }
        | SourceError::Limit { .. } => {
            return Err(ManageError::Upstream(format!("could not check the credentials with Autotask: {error}")));
        }
    };
    Err(ManageError::field(field(suffix), format!("Autotask did not accept the credentials: {error}")))
}
