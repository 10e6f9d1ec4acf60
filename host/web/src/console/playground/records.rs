//! The records a try runs over, from where the form says: the resource's
//! latest delivered records, the simulator's sample records of its Autotask
//! entity, or JSON pasted into the form. Each failure names the form field.

use autotask_sim::Entity;
use chrono::Utc;
use engine::manage::{Caller, MAX_TRY_RECORDS, Management};
use serde_json::Value;

use super::super::form::default_entity;

/// How many recent records a try uses: enough to see a mapping's usual cases.
pub(super) const RECENT_RECORDS: usize = 20;
/// How many sample records: a handful, as a first look.
pub(super) const SAMPLE_RECORDS: usize = 5;
/// The seed of the samples: the same records every time, so two tries compare.
const SAMPLE_SEED: u64 = 23;

/// Where the records come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RecordSource {
    Recent,
    Sample,
    Pasted,
}

impl RecordSource {
    pub(super) const ALL: [RecordSource; 3] = [RecordSource::Recent, RecordSource::Sample, RecordSource::Pasted];

    pub(super) fn parse(value: &str) -> Option<RecordSource> {
        RecordSource::ALL.into_iter().find(|source| source.value() == value)
    }

    /// Its value in the form.
    pub(super) fn value(self) -> &'static str {
        match self {
            RecordSource::Recent => "recent",
            RecordSource::Sample => "sample",
            RecordSource::Pasted => "pasted",
        }
    }
}

/// A problem with one of the form's fields: its name in the form, and what is wrong.
pub(super) type FieldError = (&'static str, String);

/// The form field pasted records are typed into.
pub(super) const PASTED_FIELD: &str = "records_json";

/// The records to try, from `source`.
pub(super) async fn records(
    management: &Management,
    caller: &Caller,
    resource: &str,
    source: RecordSource,
    pasted: &str,
) -> Result<Vec<Value>, FieldError> {
    match source {
        RecordSource::Recent => {
            let records = management
                .recent_raw_records(caller, resource, RECENT_RECORDS)
                .await
                .map_err(|error| ("records", error.to_string()))?;
            if records.is_empty() {
                return Err((
                    "records",
                    format!(
                        "no delivered message of an instance you may see holds `{resource}` records yet: \
                         poll an instance first, or use the sample or pasted records"
                    ),
                ));
            }
            Ok(records)
        }
        RecordSource::Sample => sample(resource).ok_or_else(|| {
            ("records", format!("the simulator has no sample records for resource `{resource}`: paste some instead"))
        }),
        RecordSource::Pasted => pasted_records(pasted),
    }
}

/// The simulator's sample records of the Autotask entity `resource` polls by default.
pub(super) fn sample(resource: &str) -> Option<Vec<Value>> {
    let entity = Entity::from_path(default_entity(resource)?)?;
    autotask_sim::sample::records(entity, SAMPLE_SEED, SAMPLE_RECORDS, Utc::now())
}

/// Pasted JSON: an array of records, or one record.
pub(super) fn pasted_records(text: &str) -> Result<Vec<Value>, FieldError> {
    if text.trim().is_empty() {
        return Err((PASTED_FIELD, "Records (JSON) is empty: paste a record or an array of records".into()));
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|error| (PASTED_FIELD, format!("Records (JSON) is not valid JSON: {error}")))?;
    let records = match value {
        Value::Array(records) => records,
        record @ Value::Object(_) => vec![record],
        other => {
            let kind = match other {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                _ => "a string",
            };
            return Err((
                PASTED_FIELD,
                format!("Records (JSON) is {kind}: paste a record (an object) or an array of them"),
            ));
        }
    };
    if let Some(index) = records.iter().position(|record| !record.is_object()) {
        return Err((PASTED_FIELD, format!("Records (JSON): item {index} of the array is not a record (an object)")));
    }
    if records.is_empty() || records.len() > MAX_TRY_RECORDS {
        return Err((
            PASTED_FIELD,
            format!("Records (JSON) holds {} records: paste 1 to {MAX_TRY_RECORDS}", records.len()),
        ));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn pasted_records_are_an_array_or_one_record() {
        assert_eq!(pasted_records(r#"[{"id": 1}, {"id": 2}]"#).unwrap().len(), 2);
        assert_eq!(pasted_records(r#"{"id": 1}"#).unwrap(), [json!({"id": 1})]);
        for (bad, says) in [
            ("", "is empty"),
            ("[{\"id\": 1},", "is not valid JSON"),
            ("7", "is a number"),
            ("[{\"id\": 1}, 2]", "item 1"),
            ("[]", "holds 0 records"),
        ] {
            let (field, message) = pasted_records(bad).unwrap_err();
            assert_eq!(field, PASTED_FIELD);
            assert!(message.starts_with("Records (JSON)") && message.contains(says), "{bad}: {message}");
        }
    }

    #[test]
    fn default_resources_have_sample_records() {
        let tickets = sample("incidents").unwrap();
        assert_eq!(tickets.len(), SAMPLE_RECORDS);
        assert!(tickets.iter().all(|ticket| ticket["id"].is_number() && ticket["title"].is_string()));
        assert!(sample("contacts").is_some() && sample("comments").is_some());
        assert!(sample("gadgets").is_none());
    }
}
