//! What the host and a plugin exchange, in the host's own types. Each
//! interface version's bindings (see [`crate::interface`]) convert to and from
//! these, so nothing outside this crate sees a generated type and a new
//! interface version changes no caller.

/// What happened to a record, as Cloud Elements names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Created,
    Updated,
    Deleted,
}

impl EventType {
    /// The name Cloud Elements gives this event type: `CREATED`, `UPDATED`, `DELETED`.
    pub fn cloud_elements_name(self) -> &'static str {
        match self {
            EventType::Created => "CREATED",
            EventType::Updated => "UPDATED",
            EventType::Deleted => "DELETED",
        }
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
