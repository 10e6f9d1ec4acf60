//! What the host and a plugin exchange, in the host's own types. Each
//! interface version's bindings (see [`crate::interface`]) convert to and from
//! these, so nothing outside this crate sees a generated type and a new
//! interface version changes no caller.

/// What happened to a record: Cloud Elements' three, or one a plugin names
/// (interface 0.2.0 on), such as `DEACTIVATED`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventType {
    Created,
    Updated,
    Deleted,
    /// A plugin's own type: a name [`EventType::check_custom`] accepts.
    Custom(String),
}

/// The longest custom event type name.
pub const MAX_CUSTOM_EVENT_TYPE_CHARS: usize = 64;

impl EventType {
    /// The name the message's `eventType` carries: `CREATED`, `UPDATED`,
    /// `DELETED`, or the custom name.
    pub fn cloud_elements_name(&self) -> &str {
        match self {
            EventType::Created => "CREATED",
            EventType::Updated => "UPDATED",
            EventType::Deleted => "DELETED",
            EventType::Custom(name) => name,
        }
    }

    /// The event type a message's `eventType` names (the inverse of
    /// [`cloud_elements_name`](Self::cloud_elements_name)).
    pub fn from_name(name: &str) -> Self {
        match name {
            "CREATED" => EventType::Created,
            "UPDATED" => EventType::Updated,
            "DELETED" => EventType::Deleted,
            other => EventType::Custom(other.to_owned()),
        }
    }

    /// Why `name` cannot be a custom event type, if it cannot: it must be 1
    /// to 64 upper-case ASCII letters, digits and `_`, start with a letter, and
    /// not be one of the three Cloud Elements names (those have their own cases).
    pub fn check_custom(name: &str) -> Result<(), String> {
        let shaped = name.len() <= MAX_CUSTOM_EVENT_TYPE_CHARS
            && name.starts_with(|c: char| c.is_ascii_uppercase())
            && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !shaped {
            let shown: String = name.chars().take(MAX_CUSTOM_EVENT_TYPE_CHARS + 1).collect();
            return Err(format!(
                "the custom event type `{}` is not 1 to {MAX_CUSTOM_EVENT_TYPE_CHARS} upper-case letters, digits and `_` starting with a letter",
                shown.escape_debug()
            ));
        }
        if matches!(name, "CREATED" | "UPDATED" | "DELETED") {
            return Err(format!("the custom event type `{name}` is a standard one: use its own case"));
        }
        Ok(())
    }
}

/// Where a resource's records keep their dates (Cloud Elements'
/// `datesConfiguration`). Formats are Java SimpleDateFormat patterns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DatesConfiguration {
    pub updated_date_field: Option<String>,
    pub updated_date_format: Option<String>,
    pub updated_date_timezone: Option<String>,
    pub created_date_field: Option<String>,
    pub created_date_format: Option<String>,
    pub created_date_timezone: Option<String>,
}

/// The resource's poll configuration, as the instance declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollConfiguration {
    /// The field that holds a record's id (`id` for Autotask).
    pub id_field: String,
    pub dates: DatesConfiguration,
    /// Seconds within which equal created and updated times mean CREATED.
    pub created_check_tolerance_seconds: u32,
}

/// Who and what a batch belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub instance_id: String,
    pub instance_name: String,
    /// `autotaskhelpdesk` or `autotaskcrm`.
    pub element_key: String,
    /// The resource being polled, e.g. `incidents`: it becomes the events' object type.
    pub resource: String,
    pub poll: PollConfiguration,
    /// The previous poll's time, RFC 3339 UTC.
    pub previous_poll: String,
    /// This poll's time, RFC 3339 UTC.
    pub this_poll: String,
}

/// One raw record and what the host already read from it with the resource's
/// configuration, so plugins need no date parsing of their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// The record exactly as Autotask returned it: one JSON object.
    pub json: String,
    /// The value of the id field, as text.
    pub object_id: String,
    /// The created date, RFC 3339 UTC with milliseconds, if the record has one.
    pub created: Option<String>,
    /// The updated date, RFC 3339 UTC with milliseconds, if the record has one.
    pub updated: Option<String>,
    /// The host's classification: CREATED when the record was created after the
    /// previous poll (or created == updated within the tolerance), else UPDATED.
    pub default_event_type: EventType,
}

/// A standardized event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub event_type: EventType,
    pub object_id: String,
    /// Usually the resource name (`incidents`).
    pub object_type: String,
    /// RFC 3339 UTC.
    pub event_date: String,
    /// The standardized object, as JSON text.
    pub payload: String,
}

/// What a plugin says about itself, so a dropped-in file is self-describing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    /// The resource it maps by default, e.g. `incidents`.
    pub resource: String,
    /// The Autotask entity it expects, e.g. `Tickets`.
    pub entity: String,
    pub id_field: String,
    pub created_date_field: Option<String>,
    pub updated_date_field: Option<String>,
}

/// One record's outcome: its events, or why the plugin could not map it.
pub type RecordResult = Result<Vec<Event>, String>;
