//! What a resource's configuration says about each raw record: its id, its
//! created and updated instants, and the event type the host suggests.
//!
//! This is done once, in the host, so plugins in any language need no date
//! parsing of their own.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::de::{Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::dates::{DateError, DateFormat, format_instant};
use plugin_runtime::{EventType, RawRecord};

/// A date field of a resource and the format its values are written in.
#[derive(Debug, Clone, PartialEq)]
pub struct DateField {
    pub field: String,
    pub format: DateFormat,
}

/// Reads records the way one resource is configured (`idField`, `datesConfiguration`).
#[derive(Debug)]
pub struct RecordReader {
    pub id_field: String,
    pub created: Option<DateField>,
    pub updated: Option<DateField>,
    /// Created and updated times this close together mean CREATED.
    pub created_check_tolerance: TimeDelta,
}

/// Why one record could not be read; it affects only that record.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("the record is not a JSON object: {0}")]
    NotAnObject(String),
    #[error("the record has no `{0}` field (the resource's idField)")]
    MissingId(String),
    #[error("the `{field}` field (the resource's idField) is {found}, not a string or a number")]
    BadId { field: String, found: String },
    #[error("the `{field}` field: {source}")]
    BadDate { field: String, source: DateError },
    #[error("the `{field}` field is {found}, not a date string")]
    NotADateString { field: String, found: String },
}

impl RecordReader {
    /// Reads one record (`json`, a JSON object) for a poll whose previous run was at `previous_poll`.
    pub fn read(&self, json: &str, previous_poll: DateTime<Utc>) -> Result<RawRecord, RecordError> {
        let wanted = [
            Some(self.id_field.as_str()),
            self.created.as_ref().map(|d| d.field.as_str()),
            self.updated.as_ref().map(|d| d.field.as_str()),
        ];
        let mut deserializer = serde_json::Deserializer::from_str(json);
        let [id, created, updated] = PickFields { wanted }
            .deserialize(&mut deserializer)
            .and_then(|picked| deserializer.end().map(|()| picked))
            .map_err(|e| RecordError::NotAnObject(e.to_string()))?;

        let object_id = self.object_id(id)?;
        let created = read_date(self.created.as_ref(), created)?;
        let updated = read_date(self.updated.as_ref(), updated)?;
        let default_event_type = self.classify(created, updated, previous_poll);
        Ok(RawRecord {
            json: json.to_string(),
            object_id,
            created: created.map(format_instant),
            updated: updated.map(format_instant),
            default_event_type,
        })
    }

    fn object_id(&self, value: Option<&RawValue>) -> Result<String, RecordError> {
        let missing = || RecordError::MissingId(self.id_field.clone());
        let value = value.ok_or_else(missing)?;
        match serde_json::from_str::<serde_json::Value>(value.get()) {
            Ok(serde_json::Value::String(s)) if !s.is_empty() => Ok(s),
            Ok(serde_json::Value::Number(n)) => Ok(n.to_string()),
            Ok(serde_json::Value::Null) => Err(missing()),
            _ => Err(RecordError::BadId { field: self.id_field.clone(), found: value.get().to_string() }),
        }
    }

    /// CREATED when the record was created after the previous poll, or its created
    /// and updated times are equal within the tolerance (Cloud Elements' own rule);
    /// UPDATED otherwise. The first part catches records created and then edited
    /// within one interval, which Cloud Elements reports as UPDATED only.
    pub fn classify(
        &self,
        created: Option<DateTime<Utc>>,
        updated: Option<DateTime<Utc>>,
        previous_poll: DateTime<Utc>,
    ) -> EventType {
        let Some(created) = created else {
            return EventType::Updated;
        };
        let created_since_last_poll = created > previous_poll;
        let never_updated = updated.is_none_or(|u| (u - created).abs() <= self.created_check_tolerance);
        if created_since_last_poll || never_updated { EventType::Created } else { EventType::Updated }
    }
}

fn read_date(config: Option<&DateField>, value: Option<&RawValue>) -> Result<Option<DateTime<Utc>>, RecordError> {
    let (Some(config), Some(value)) = (config, value) else {
        return Ok(None);
    };
    let text = serde_json::from_str::<Option<String>>(value.get())
        .map_err(|_| RecordError::NotADateString { field: config.field.clone(), found: value.get().to_string() })?;
    text.map(|text| config.format.parse(&text))
        .transpose()
        .map_err(|source| RecordError::BadDate { field: config.field.clone(), source })
}

/// Deserializes a JSON object, keeping only the values of up to three named
/// fields as raw JSON and skipping everything else without building it.
struct PickFields<'n> {
    wanted: [Option<&'n str>; 3],
}

type Picked<'de> = [Option<&'de RawValue>; 3];

impl<'de> DeserializeSeed<'de> for PickFields<'_> {
    type Value = Picked<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PickFields<'_> {
    type Value = Picked<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut picked: Picked<'de> = [None; 3];
        while let Some(Key(key)) = map.next_key()? {
            let slots = self.wanted.map(|wanted| wanted == Some(key.as_ref()));
            if !slots.contains(&true) {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let value: &'de RawValue = map.next_value()?;
            for (slot, wanted) in picked.iter_mut().zip(slots) {
                if wanted {
                    *slot = Some(value);
                }
            }
        }
        Ok(picked)
    }
}

/// An object key, borrowed from the record unless it had escapes: reading a
/// record allocates nothing for the many fields the resource does not name.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dates::{AUTOTASK_DATE_PATTERN, parse_instant};

    fn reader() -> RecordReader {
        let date = |field: &str| {
            Some(DateField { field: field.into(), format: DateFormat::new(AUTOTASK_DATE_PATTERN, None).unwrap() })
        };
        RecordReader {
            id_field: "id".into(),
            created: date("createDate"),
            updated: date("lastActivityDate"),
            created_check_tolerance: TimeDelta::seconds(2),
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        parse_instant(text).unwrap()
    }

    #[test]
    fn reads_id_and_dates_and_keeps_the_record_text() {
        let json = r#"{"id":12,"title":"x","createDate":"2024-01-01T10:00:00Z","lastActivityDate":"2024-01-02T10:00:00.5Z","nested":{"id":99}}"#;
        let record = reader().read(json, at("2024-01-02T00:00:00Z")).unwrap();
        assert_eq!(record.object_id, "12");
        assert_eq!(record.created.as_deref(), Some("2024-01-01T10:00:00.000Z"));
        assert_eq!(record.updated.as_deref(), Some("2024-01-02T10:00:00.500Z"));
        assert_eq!(record.default_event_type, EventType::Updated);
        assert_eq!(record.json, json);
    }

    #[test]
    fn created_after_the_previous_poll_or_never_updated_means_created() {
        let reader = reader();
        let previous = at("2024-01-02T00:00:00Z");
        let old = Some(at("2024-01-01T00:00:00Z"));
        let new = Some(at("2024-01-02T00:00:10Z"));
        assert_eq!(reader.classify(new, Some(at("2024-01-02T00:00:50Z")), previous), EventType::Created);
        assert_eq!(reader.classify(old, Some(at("2024-01-01T00:00:01.9Z")), previous), EventType::Created);
        assert_eq!(reader.classify(old, Some(at("2024-01-01T00:00:02.1Z")), previous), EventType::Updated);
        assert_eq!(reader.classify(old, None, previous), EventType::Created);
        assert_eq!(reader.classify(None, new, previous), EventType::Updated);
    }

    #[test]
    fn string_ids_and_missing_or_null_dates_are_fine() {
        let record = reader().read(r#"{"id":"A-1","createDate":null}"#, at("2024-01-02T00:00:00Z")).unwrap();
        assert_eq!(record.object_id, "A-1");
        assert_eq!((record.created, record.updated), (None, None));
    }

    #[test]
    fn each_problem_is_named() {
        let previous = at("2024-01-02T00:00:00Z");
        let message = |json: &str| reader().read(json, previous).unwrap_err().to_string();
        assert!(message("[1]").starts_with("the record is not a JSON object"));
        assert!(message("{\"id\":1} trailing").starts_with("the record is not a JSON object"));
        assert_eq!(message("{\"title\":1}"), "the record has no `id` field (the resource's idField)");
        assert_eq!(message("{\"id\":null}"), "the record has no `id` field (the resource's idField)");
        assert_eq!(message("{\"id\":[1]}"), "the `id` field (the resource's idField) is [1], not a string or a number");
        let bad_date = message("{\"id\":1,\"createDate\":\"soon\"}");
        assert!(bad_date.starts_with("the `createDate` field: "), "{bad_date}");
        assert!(bad_date.contains("\"soon\"") && bad_date.contains("yyyy-MM-dd'T'HH:mm:ss'Z'"), "{bad_date}");
        assert_eq!(message("{\"id\":1,\"createDate\":17}"), "the `createDate` field is 17, not a date string");
    }
}
