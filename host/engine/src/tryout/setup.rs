//! The context a plugin is run with outside a poll: which fields hold a
//! record's id and dates, the resource, and the poll's times. Both sides of a
//! comparison are run with one setup, so a difference is the plugins' own.

use chrono::{DateTime, TimeDelta, Utc};
use plugin_runtime::{Context, DatesConfiguration, Description, PollConfiguration};

use crate::dates::{AUTOTASK_DATE_PATTERN, DateFormat, format_instant};
use crate::records::{DateField, RecordReader};

/// The resource and record fields for a plugin that does not describe itself:
/// Autotask Tickets' names.
pub const DEFAULT_RESOURCE: &str = "incidents";
pub const DEFAULT_ID_FIELD: &str = "id";
pub const DEFAULT_CREATED_FIELD: &str = "createDate";
pub const DEFAULT_UPDATED_FIELD: &str = "lastActivityDate";

/// Which of a record's dates a setting is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateSide {
    Created,
    Updated,
}

/// A date pattern that is not a Java SimpleDateFormat pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadDateFormat {
    pub date: DateSide,
    pub message: String,
}

/// How records are read and what the plugin is told about the poll.
#[derive(Debug, Clone)]
pub struct MappingSetup {
    /// The events' object type.
    pub resource: String,
    pub id_field: String,
    pub created_field: String,
    /// Java SimpleDateFormat pattern of the created date.
    pub created_format: String,
    pub updated_field: String,
    pub updated_format: String,
    /// Seconds within which equal created and updated dates mean CREATED.
    pub created_check_tolerance: u32,
    pub previous_poll: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

impl MappingSetup {
    /// What a plugin's own description says, else Autotask's usual names, with
    /// Autotask's date format, at `now` with the previous poll 15 minutes before.
    pub fn described(description: Option<&Description>, now: DateTime<Utc>) -> MappingSetup {
        let own = |field: Option<&str>, default: &str| field.unwrap_or(default).to_owned();
        MappingSetup {
            resource: own(description.map(|d| d.resource.as_str()), DEFAULT_RESOURCE),
            id_field: own(description.map(|d| d.id_field.as_str()), DEFAULT_ID_FIELD),
            created_field: own(description.and_then(|d| d.created_date_field.as_deref()), DEFAULT_CREATED_FIELD),
            created_format: AUTOTASK_DATE_PATTERN.to_owned(),
            updated_field: own(description.and_then(|d| d.updated_date_field.as_deref()), DEFAULT_UPDATED_FIELD),
            updated_format: AUTOTASK_DATE_PATTERN.to_owned(),
            created_check_tolerance: 1,
            previous_poll: now - TimeDelta::minutes(15),
            now,
        }
    }

    /// Reads records as a poll of this resource would; a date pattern that is
    /// wrong is named, so the caller can say which of its settings it was.
    pub fn reader(&self) -> Result<RecordReader, BadDateFormat> {
        let format = |date: DateSide, pattern: &str| {
            DateFormat::new(pattern, None).map_err(|e| BadDateFormat { date, message: e.to_string() })
        };
        Ok(RecordReader {
            id_field: self.id_field.clone(),
            created: Some(DateField {
                field: self.created_field.clone(),
                format: format(DateSide::Created, &self.created_format)?,
            }),
            updated: Some(DateField {
                field: self.updated_field.clone(),
                format: format(DateSide::Updated, &self.updated_format)?,
            }),
            created_check_tolerance: TimeDelta::seconds(self.created_check_tolerance.into()),
        })
    }

    /// The context the plugin gets, as one instance `instance_name` polling the resource would give.
    pub fn context(&self, instance_name: &str) -> Context {
        Context {
            instance_id: "0".into(),
            instance_name: instance_name.into(),
            element_key: "autotaskhelpdesk".into(),
            resource: self.resource.clone(),
            poll: PollConfiguration {
                id_field: self.id_field.clone(),
                dates: DatesConfiguration {
                    updated_date_field: Some(self.updated_field.clone()),
                    updated_date_format: Some(self.updated_format.clone()),
                    updated_date_timezone: None,
                    created_date_field: Some(self.created_field.clone()),
                    created_date_format: Some(self.created_format.clone()),
                    created_date_timezone: None,
                },
                created_check_tolerance_seconds: self.created_check_tolerance,
            },
            previous_poll: format_instant(self.previous_poll),
            this_poll: format_instant(self.now),
        }
    }
}
