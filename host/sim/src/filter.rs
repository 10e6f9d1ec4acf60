//! Autotask query filters as the REST API evaluates them.
//!
//! A filter is `{"op", "field", "value", "udf", "items"}` with property names
//! and ops matched case-insensitively. Comparisons follow the field's type:
//! dates compare as instants (whatever ISO-8601 form the value is written in),
//! numbers as numbers, text case-insensitively as SQL Server's default
//! collation does. Like SQL, a null field satisfies no comparison (not even
//! `noteq` or `notIn`); only `notExist` matches it.
//!
//! An operator Autotask does not know (`ne`, `like`) is not refused: the real
//! API drops the clause and answers as if it had not been sent, so a misspelt
//! operator silently widens the result (seen against a live tenant with `ne`).
//! The simulator does the same, and reports each dropped operator to its
//! caller so `/sim/stats` can count them: a test asserts none were sent.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Map, Value};

use crate::entity::{DataType, Schema};

/// A filter the API refuses, with the text Autotask would answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(pub String);

/// A parsed filter, ready to test records.
#[derive(Debug, Clone)]
pub enum Condition {
    Test { op: TestOp, field: FieldRef, operand: Operand },
    Group { any: bool, items: Vec<Condition> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestOp {
    Eq,
    NotEq,
    Gt,
    Gte,
    Lt,
    Lte,
    BeginsWith,
    EndsWith,
    Contains,
    Exist,
    NotExist,
    In,
    NotIn,
}

/// The field a test reads: a standard field (its canonical name and type) or a user-defined field.
#[derive(Debug, Clone)]
pub enum FieldRef {
    Standard(&'static str, DataType),
    UserDefined(String),
}

/// What a test compares with.
#[derive(Debug, Clone)]
pub enum Operand {
    None,
    One(Value),
    Many(Vec<Value>),
}

/// The value of `key` in `object`, matching the key case-insensitively.
pub fn get_ignore_case<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).or_else(|| object.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// A parsed filter and the operators Autotask would have dropped from it.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub condition: Condition,
    /// Each unknown operator met, as written, once per clause dropped.
    pub ignored_operators: Vec<String>,
}

/// Parses the top-level `filter` array (an implicit AND) for the records of
/// `schema` (an [`Entity`](crate::Entity) or a webhook entity).
pub fn parse_filters(schema: impl Into<Schema>, filters: &Value) -> Result<Parsed, FilterError> {
    let schema = schema.into();
    let Value::Array(items) = filters else {
        return Err(FilterError("filter must be an array of filter objects".into()));
    };
    if items.is_empty() {
        return Err(FilterError("At least one filter is required.".into()));
    }
    let mut ignored_operators = Vec::new();
    let items = parse_items(schema, items, &mut ignored_operators)?;
    Ok(Parsed { condition: Condition::Group { any: false, items }, ignored_operators })
}

/// The clauses of a group, without those whose operator is unknown. A group
/// left empty holds for every record, as an empty filter does in Autotask.
fn parse_items(schema: Schema, items: &[Value], ignored: &mut Vec<String>) -> Result<Vec<Condition>, FilterError> {
    let mut conditions = Vec::with_capacity(items.len());
    for item in items {
        if let Some(condition) = parse(schema, item, ignored)? {
            conditions.push(condition);
        }
    }
    Ok(conditions)
}

/// One filter; `None` when its operator is unknown and the clause is dropped.
fn parse(schema: Schema, filter: &Value, ignored: &mut Vec<String>) -> Result<Option<Condition>, FilterError> {
    let Value::Object(object) = filter else {
        return Err(FilterError(format!("Invalid filter: {filter}")));
    };
    let written = get_ignore_case(object, "op").and_then(Value::as_str).unwrap_or_default();
    let op = written.to_ascii_lowercase();
    if op == "and" || op == "or" {
        let items = match get_ignore_case(object, "items") {
            Some(Value::Array(items)) if !items.is_empty() => items,
            _ => return Err(FilterError(format!("The '{op}' filter requires at least one item in 'items'."))),
        };
        let items = parse_items(schema, items, ignored)?;
        return Ok(Some(Condition::Group { any: op == "or", items }));
    }
    let op = match op.as_str() {
        "eq" => TestOp::Eq,
        "noteq" => TestOp::NotEq,
        "gt" => TestOp::Gt,
        "gte" => TestOp::Gte,
        "lt" => TestOp::Lt,
        "lte" => TestOp::Lte,
        "beginswith" => TestOp::BeginsWith,
        "endswith" => TestOp::EndsWith,
        "contains" => TestOp::Contains,
        "exist" => TestOp::Exist,
        "notexist" => TestOp::NotExist,
        "in" => TestOp::In,
        "notin" => TestOp::NotIn,
        "" => return Err(FilterError(format!("Filter is missing 'op': {filter}"))),
        _ => {
            ignored.push(written.to_owned());
            return Ok(None);
        }
    };
    let name = get_ignore_case(object, "field").and_then(Value::as_str).unwrap_or_default();
    if name.is_empty() {
        return Err(FilterError(format!("Filter is missing 'field': {filter}")));
    }
    let udf = get_ignore_case(object, "udf").is_some_and(|udf| udf == &Value::Bool(true));
    let field = if udf {
        FieldRef::UserDefined(name.to_owned())
    } else {
        let (field, data_type) = schema
            .field(name)
            .ok_or_else(|| FilterError(format!("Unable to find {name} in the {} Entity.", schema.singular)))?;
        FieldRef::Standard(field, data_type)
    };
    let value = get_ignore_case(object, "value").cloned().unwrap_or(Value::Null);
    let operand = match op {
        TestOp::Exist | TestOp::NotExist => Operand::None,
        TestOp::In | TestOp::NotIn => match value {
            Value::Array(values) => Operand::Many(values),
            other => {
                return Err(FilterError(format!("The '{name}' in/notIn filter needs an array value, not {other}")));
            }
        },
        _ if value.is_null() => return Err(FilterError(format!("The filter on '{name}' needs a value."))),
        _ => Operand::One(value),
    };
    let condition = Condition::Test { op, field, operand };
    // Check the operand's type now, so a bad value is refused even when no record is tested.
    condition.check_operands()?;
    Ok(Some(condition))
}

impl Condition {
    /// Whether `record` satisfies the condition.
    pub fn matches(&self, record: &Map<String, Value>) -> bool {
        match self {
            // A group whose every clause was dropped holds, like a clause that was never sent.
            Condition::Group { any: true, items } => items.is_empty() || items.iter().any(|item| item.matches(record)),
            Condition::Group { any: false, items } => items.iter().all(|item| item.matches(record)),
            Condition::Test { op, field, operand } => test(*op, field, operand, record),
        }
    }

    fn check_operands(&self) -> Result<(), FilterError> {
        let Condition::Test { field: FieldRef::Standard(name, data_type), operand, .. } = self else {
            return Ok(());
        };
        let values: &[Value] = match operand {
            Operand::None => &[],
            Operand::One(value) => std::slice::from_ref(value),
            Operand::Many(values) => values,
        };
        for value in values {
            if typed(*data_type, value).is_none() {
                return Err(FilterError(format!("The value {value} is not a valid {} for {name}.", data_type.name())));
            }
        }
        Ok(())
    }
}

fn test(op: TestOp, field: &FieldRef, operand: &Operand, record: &Map<String, Value>) -> bool {
    let (value, data_type) = match field {
        FieldRef::Standard(name, data_type) => (record.get(*name).unwrap_or(&Value::Null), *data_type),
        FieldRef::UserDefined(name) => (user_defined(record, name), DataType::String),
    };
    match op {
        TestOp::Exist => return !value.is_null(),
        TestOp::NotExist => return value.is_null(),
        _ if value.is_null() => return false,
        _ => {}
    }
    match (op, operand) {
        (TestOp::In, Operand::Many(values)) => {
            values.iter().any(|v| compare(data_type, value, v) == Some(Ordering::Equal))
        }
        (TestOp::NotIn, Operand::Many(values)) => {
            values.iter().all(|v| compare(data_type, value, v).is_some_and(|o| o != Ordering::Equal))
        }
        (TestOp::BeginsWith | TestOp::EndsWith | TestOp::Contains, Operand::One(pattern)) => {
            let text = text_of(value).to_lowercase();
            let pattern = text_of(pattern).to_lowercase();
            match op {
                TestOp::BeginsWith => text.starts_with(&pattern),
                TestOp::EndsWith => text.ends_with(&pattern),
                _ => text.contains(&pattern),
            }
        }
        (_, Operand::One(operand)) => compare(data_type, value, operand).is_some_and(|ordering| match op {
            TestOp::Eq => ordering == Ordering::Equal,
            TestOp::NotEq => ordering != Ordering::Equal,
            TestOp::Gt => ordering == Ordering::Greater,
            TestOp::Gte => ordering != Ordering::Less,
            TestOp::Lt => ordering == Ordering::Less,
            TestOp::Lte => ordering != Ordering::Greater,
            _ => false,
        }),
        _ => false,
    }
}

/// A user-defined field's value: `userDefinedFields` is `[{name, value}]`, names case-insensitive.
fn user_defined<'a>(record: &'a Map<String, Value>, name: &str) -> &'a Value {
    record
        .get("userDefinedFields")
        .and_then(Value::as_array)
        .and_then(|fields| {
            fields.iter().find(|field| field["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
        })
        .map_or(&Value::Null, |field| &field["value"])
}

/// A value read as the field's type, so that both sides compare alike.
#[derive(Debug, PartialEq, PartialOrd)]
enum Typed {
    Number(f64),
    Instant(DateTime<Utc>),
    Text(String),
}

fn typed(data_type: DataType, value: &Value) -> Option<Typed> {
    match (data_type, value) {
        (DataType::Integer | DataType::Double, Value::Number(n)) => n.as_f64().map(Typed::Number),
        (DataType::Integer | DataType::Double, Value::String(s)) => s.trim().parse().ok().map(Typed::Number),
        (DataType::Boolean, Value::Bool(b)) => Some(Typed::Number(f64::from(u8::from(*b)))),
        (DataType::Boolean, Value::Number(n)) => n.as_f64().map(Typed::Number),
        (DataType::Boolean, Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" => Some(Typed::Number(1.0)),
            "false" | "0" => Some(Typed::Number(0.0)),
            _ => None,
        },
        (DataType::DateTime, Value::String(s)) => parse_instant(s).map(Typed::Instant),
        (DataType::String, Value::String(s)) => Some(Typed::Text(s.to_lowercase())),
        (DataType::String, Value::Number(_) | Value::Bool(_)) => Some(Typed::Text(value.to_string())),
        _ => None,
    }
}

fn compare(data_type: DataType, field: &Value, operand: &Value) -> Option<Ordering> {
    let field = typed(data_type, field)?;
    let operand = typed(data_type, operand)?;
    if let (Typed::Text(a), Typed::Text(b)) = (&field, &operand) {
        // User-defined fields are typed as text here; numbers in them compare as numbers.
        if let (Ok(a), Ok(b)) = (a.parse::<f64>(), b.parse::<f64>()) {
            return a.partial_cmp(&b);
        }
    }
    field.partial_cmp(&operand)
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// An ISO-8601 date or date-time; one without an offset is taken as UTC.
pub fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Some(instant.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z"] {
        if let Ok(instant) = DateTime::parse_from_str(text, format) {
            return Some(instant.with_timezone(&Utc));
        }
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Some(naive.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().and_then(|date| date.and_hms_opt(0, 0, 0)).map(|n| n.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Entity;
    use serde_json::json;

    fn ticket() -> Map<String, Value> {
        let Value::Object(ticket) = json!({
            "id": 7, "title": "Printer ON fire", "status": 5, "priority": 2, "contactID": null,
            "lastActivityDate": "2024-06-01T12:00:00.25Z",
            "userDefinedFields": [{"name": "Region", "value": "EMEA"}, {"name": "Rank", "value": "12"}],
        }) else {
            unreachable!()
        };
        ticket
    }

    fn holds(filter: Value) -> bool {
        parse_filters(Entity::Tickets, &json!([filter])).unwrap().condition.matches(&ticket())
    }

    #[test]
    fn every_test_op_behaves_as_autotask() {
        assert!(holds(json!({"op": "eq", "field": "status", "value": 5})));
        assert!(holds(json!({"op": "eq", "field": "status", "value": "5"})), "numeric strings compare as numbers");
        assert!(holds(json!({"op": "noteq", "field": "status", "value": 1})));
        assert!(holds(json!({"op": "gt", "field": "id", "value": 6})));
        assert!(!holds(json!({"op": "gt", "field": "id", "value": 7})));
        assert!(holds(json!({"op": "gte", "field": "id", "value": 7})));
        assert!(holds(json!({"op": "lt", "field": "id", "value": 8})));
        assert!(holds(json!({"op": "lte", "field": "id", "value": 7})));
        assert!(holds(json!({"op": "beginsWith", "field": "title", "value": "printer"})));
        assert!(holds(json!({"op": "endsWith", "field": "title", "value": "FIRE"})));
        assert!(holds(json!({"op": "contains", "field": "title", "value": "on f"})));
        assert!(holds(json!({"op": "exist", "field": "title"})));
        assert!(holds(json!({"op": "notExist", "field": "contactID"})));
        assert!(holds(json!({"op": "notExist", "field": "issueType"})), "an absent field is null");
        assert!(holds(json!({"op": "in", "field": "status", "value": [1, 5]})));
        assert!(holds(json!({"op": "notIn", "field": "status", "value": [1, 8]})));
        assert!(!holds(json!({"op": "notIn", "field": "status", "value": [5]})));
    }

    #[test]
    fn nulls_satisfy_no_comparison() {
        assert!(!holds(json!({"op": "noteq", "field": "contactID", "value": 3})));
        assert!(!holds(json!({"op": "notIn", "field": "contactID", "value": [3]})));
        assert!(!holds(json!({"op": "lt", "field": "contactID", "value": 3})));
    }

    #[test]
    fn dates_compare_as_instants_in_any_iso_form() {
        let on = |op: &str, value: &str| holds(json!({"op": op, "field": "lastActivityDate", "value": value}));
        assert!(on("gte", "2024-06-01T12:00:00Z"));
        assert!(on("gt", "2024-06-01T12:00:00.2Z"));
        assert!(!on("gt", "2024-06-01T12:00:00.250Z"));
        assert!(on("eq", "2024-06-01T14:00:00.25+02:00"));
        assert!(on("gte", "2024-06-01T12:00:00+0000"));
        assert!(on("lt", "2024-06-02"));
        assert!(on("gt", "2024-06-01T11:59:59"));
    }

    #[test]
    fn groups_nest_and_names_ignore_case() {
        assert!(holds(json!({"OP": "or", "Items": [
            {"op": "eq", "field": "status", "value": 1},
            {"Op": "AND", "items": [{"op": "EQ", "Field": "PRIORITY", "Value": 2}, {"op": "exist", "field": "title"}]},
        ]})));
        assert!(!holds(json!({"op": "and", "items": [
            {"op": "eq", "field": "status", "value": 5}, {"op": "eq", "field": "priority", "value": 3},
        ]})));
    }

    #[test]
    fn user_defined_fields_are_found_by_name() {
        assert!(holds(json!({"op": "eq", "field": "region", "value": "emea", "udf": true})));
        assert!(holds(json!({"op": "gt", "field": "Rank", "value": 9, "udf": true})), "numbers compare as numbers");
        assert!(holds(json!({"op": "notExist", "field": "Missing", "udf": true})));
    }

    #[test]
    fn an_unknown_operator_drops_its_clause_and_is_reported() {
        let parsed = parse_filters(
            Entity::Tickets,
            &json!([
                {"op": "ne", "field": "status", "value": 5},
                {"op": "or", "items": [{"op": "like", "field": "title", "value": "x"}, {"op": "eq", "field": "id", "value": 7}]},
            ]),
        )
        .unwrap();
        assert_eq!(parsed.ignored_operators, ["ne", "like"]);
        assert!(parsed.condition.matches(&ticket()), "`ne 5` is dropped, not applied to status 5");
        let only_unknown = parse_filters(Entity::Tickets, &json!([{"op": "ne", "field": "id", "value": 7}])).unwrap();
        assert!(only_unknown.condition.matches(&ticket()), "a filter left empty matches every record");
        assert!(
            !holds(
                json!({"op": "or", "items": [{"op": "ne", "field": "id", "value": 1}, {"op": "eq", "field": "id", "value": 8}]})
            ),
            "the rest of a group still applies"
        );
    }

    #[test]
    fn refusals_name_the_problem() {
        let error = |filter: Value| parse_filters(Entity::Tickets, &filter).unwrap_err().0;
        assert_eq!(
            error(json!([{"op": "eq", "field": "lastActivityDat", "value": 1}])),
            "Unable to find lastActivityDat in the Ticket Entity."
        );
        assert_eq!(error(json!([])), "At least one filter is required.");
        assert!(error(json!([{"op": "in", "field": "id", "value": 1}])).contains("array"));
        assert!(error(json!([{"op": "gt", "field": "createDate", "value": "yesterday"}])).contains("datetime"));
        assert!(error(json!([{"op": "or", "items": []}])).contains("items"));
    }
}
