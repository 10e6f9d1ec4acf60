//! The Autotask REST query body, typed: what `POST /v1.0/{Entity}/query` takes.
//!
//! Autotask filters are JSON objects `{"op", "field", "value", "udf", "items"}`:
//! a condition names a field, a grouping op (`and`, `or`) holds nested filters in
//! `items`, and the top-level `filter` array is an implicit AND. The types here
//! serialize to exactly that shape, leaving out what a filter does not use (no
//! `value` for `exist`, no `udf` unless it is a user-defined field, no empty
//! `items`), so a request reads like Autotask's own documentation, and read
//! back from it unchanged. The simulator reads filters with its own,
//! independent parser, so it can catch what this one gets wrong.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An Autotask filter operator, spelled as Autotask spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    /// The field equals the value.
    #[serde(rename = "eq")]
    Eq,
    /// The field does not equal the value.
    #[serde(rename = "noteq")]
    NotEq,
    /// The field is greater than the value.
    #[serde(rename = "gt")]
    Gt,
    /// The field is greater than or equal to the value.
    #[serde(rename = "gte")]
    Gte,
    /// The field is less than the value.
    #[serde(rename = "lt")]
    Lt,
    /// The field is less than or equal to the value.
    #[serde(rename = "lte")]
    Lte,
    /// The field starts with the value.
    #[serde(rename = "beginsWith")]
    BeginsWith,
    /// The field ends with the value.
    #[serde(rename = "endsWith")]
    EndsWith,
    /// The field contains the value.
    #[serde(rename = "contains")]
    Contains,
    /// The field has a value (is not null); takes no value.
    #[serde(rename = "exist")]
    Exist,
    /// The field has no value (is null); takes no value.
    #[serde(rename = "notExist")]
    NotExist,
    /// The field equals one of the values (a JSON array).
    #[serde(rename = "in")]
    In,
    /// The field equals none of the values (a JSON array).
    #[serde(rename = "notIn")]
    NotIn,
    /// Every filter in `items` holds.
    #[serde(rename = "and")]
    And,
    /// At least one filter in `items` holds.
    #[serde(rename = "or")]
    Or,
}

impl Op {
    /// Whether this op groups nested filters (`and`, `or`) rather than testing a field.
    pub fn is_group(self) -> bool {
        matches!(self, Op::And | Op::Or)
    }
}

/// One Autotask filter: a condition on a field, or a group of filters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    /// What the filter tests.
    pub op: Op,
    /// The field a condition tests; `None` for groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What the field is compared with; `None` for `exist`, `notExist` and groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Whether `field` is a user-defined field.
    #[serde(default, skip_serializing_if = "is_false")]
    pub udf: bool,
    /// The nested filters of an `and` or `or` group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<Filter>,
}

fn is_false(value: &bool) -> bool {
    !value
}

impl Filter {
    /// A condition comparing `field` with `value` (for `in`/`notIn`, a JSON array).
    pub fn condition(op: Op, field: impl Into<String>, value: impl Into<Value>) -> Self {
        Filter { op, field: Some(field.into()), value: Some(value.into()), udf: false, items: Vec::new() }
    }

    /// A condition on `field` that takes no value: `exist` or `notExist`.
    pub fn presence(op: Op, field: impl Into<String>) -> Self {
        Filter { op, field: Some(field.into()), value: None, udf: false, items: Vec::new() }
    }

    /// A group (`and` or `or`) of nested filters.
    pub fn group(op: Op, items: Vec<Filter>) -> Self {
        Filter { op, field: None, value: None, udf: false, items }
    }

    /// The same filter, marked as testing a user-defined field.
    pub fn udf(mut self) -> Self {
        self.udf = true;
        self
    }
}

/// The body of `POST /v1.0/{Entity}/query`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct QueryBody {
    /// At most this many records per page (Autotask allows 1–500; 500 when absent).
    #[serde(rename = "MaxRecords", default, skip_serializing_if = "Option::is_none")]
    pub max_records: Option<u32>,
    /// Only these fields of each record; all fields when empty.
    #[serde(rename = "IncludeFields", default, skip_serializing_if = "Vec::is_empty")]
    pub include_fields: Vec<String>,
    /// The filters, all of which must hold.
    #[serde(default)]
    pub filter: Vec<Filter>,
}

impl QueryBody {
    /// A body with these filters and Autotask's defaults for the rest.
    pub fn new(filter: Vec<Filter>) -> Self {
        QueryBody { max_records: None, include_fields: Vec::new(), filter }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ops_are_spelled_as_autotask_spells_them() {
        let ops = [
            (Op::Eq, "eq"),
            (Op::NotEq, "noteq"),
            (Op::Gt, "gt"),
            (Op::Gte, "gte"),
            (Op::Lt, "lt"),
            (Op::Lte, "lte"),
            (Op::BeginsWith, "beginsWith"),
            (Op::EndsWith, "endsWith"),
            (Op::Contains, "contains"),
            (Op::Exist, "exist"),
            (Op::NotExist, "notExist"),
            (Op::In, "in"),
            (Op::NotIn, "notIn"),
            (Op::And, "and"),
            (Op::Or, "or"),
        ];
        for (op, name) in ops {
            assert_eq!(serde_json::to_value(op).unwrap(), json!(name));
            assert_eq!(serde_json::from_value::<Op>(json!(name)).unwrap(), op);
            assert_eq!(op.is_group(), matches!(name, "and" | "or"), "{name}");
        }
    }

    #[test]
    fn leaves_out_what_a_filter_does_not_use() {
        let body = QueryBody::new(vec![
            Filter::condition(Op::Gte, "lastActivityDate", "2024-06-01T12:34:56Z"),
            Filter::presence(Op::Exist, "dueDateTime"),
            Filter::group(
                Op::Or,
                vec![Filter::condition(Op::In, "status", json!([1, 5])), Filter::condition(Op::Eq, "Rank", 3).udf()],
            ),
        ]);
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            concat!(
                r#"{"filter":[{"op":"gte","field":"lastActivityDate","value":"2024-06-01T12:34:56Z"},"#,
                r#"{"op":"exist","field":"dueDateTime"},"#,
                r#"{"op":"or","items":[{"op":"in","field":"status","value":[1,5]},"#,
                r#"{"op":"eq","field":"Rank","value":3,"udf":true}]}]}"#
            )
        );
    }

    #[test]
    fn max_records_and_include_fields_use_autotask_names_and_round_trip() {
        let body = QueryBody {
            max_records: Some(50),
            include_fields: vec!["id".into(), "title".into()],
            filter: vec![Filter::presence(Op::Exist, "id")],
        };
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(
            json,
            json!({"MaxRecords": 50, "IncludeFields": ["id", "title"], "filter": [{"op": "exist", "field": "id"}]})
        );
        assert_eq!(serde_json::from_value::<QueryBody>(json).unwrap(), body);
        assert_eq!(serde_json::from_value::<QueryBody>(json!({})).unwrap(), QueryBody::default());
    }
}
