//! What changed between two runs over the same records: per record, the
//! events only the old version made (removed), only the new one made (added),
//! and the events both made that differ, with a line diff of their JSON; and
//! the records that fail in one version and not in the other.
//!
//! Events are paired by what they are about (event type, object type, object
//! id), in order, so a changed payload reads as one changed event rather than
//! as one removed and one added.

use serde::Serialize;
use serde_json::{Value, json};
use similar::{ChangeTag, TextDiff};

use super::RecordRun;

/// Lines of unchanged JSON shown around each change in [`EventChange::diff`].
const CONTEXT_LINES: usize = 2;

/// Two runs compared.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Diff {
    /// How many records were mapped by both.
    pub records: usize,
    /// Records with the same events (or the same error) in both.
    pub identical: usize,
    /// Records mapped by both, with different events.
    pub changed: Vec<RecordChange>,
    /// Records that fail in one version and not in the other, or in both differently.
    pub failed: Vec<RecordFailure>,
}

impl Diff {
    /// Whether the new version makes exactly what the old one does.
    pub fn is_identical(&self) -> bool {
        self.changed.is_empty() && self.failed.is_empty()
    }

    /// How many records fail in the old version (and not the same way in the new one).
    pub fn failed_in_old(&self) -> usize {
        self.failed.iter().filter(|failure| failure.old.is_some()).count()
    }

    /// How many records fail in the new version (and not the same way in the old one).
    pub fn failed_in_new(&self) -> usize {
        self.failed.iter().filter(|failure| failure.new.is_some()).count()
    }
}

/// One record both versions mapped, differently.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordChange {
    pub index: usize,
    pub object_id: Option<String>,
    /// Events only the old version made.
    pub removed: Vec<Value>,
    /// Events only the new version made.
    pub added: Vec<Value>,
    /// Events both made, about the same object, that differ.
    pub changed: Vec<EventChange>,
}

/// One event as each version made it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EventChange {
    pub before: Value,
    pub after: Value,
    /// The pretty-printed JSON's changed lines (`-` before, `+` after), with a
    /// little unchanged context (` `); `…` between distant changes.
    pub diff: String,
}

/// A record that fails in one version and not in the other (or fails
/// differently in both): each version's error, `None` where it mapped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordFailure {
    pub index: usize,
    pub object_id: Option<String>,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// Compares two runs over the same records, record by record (by index).
pub fn diff(old: &[RecordRun], new: &[RecordRun]) -> Diff {
    let mut result = Diff { records: old.len().max(new.len()), identical: 0, changed: Vec::new(), failed: Vec::new() };
    let missing = |index: usize| RecordRun { index, object_id: None, outcome: Err("not run".into()) };
    for index in 0..result.records {
        let before = old.get(index).cloned().unwrap_or_else(|| missing(index));
        let after = new.get(index).cloned().unwrap_or_else(|| missing(index));
        let object_id = before.object_id.clone().or_else(|| after.object_id.clone());
        match (before.outcome, after.outcome) {
            (Ok(before), Ok(after)) => match compare_events(before, after) {
                None => result.identical += 1,
                Some((removed, added, changed)) => {
                    result.changed.push(RecordChange { index, object_id, removed, added, changed })
                }
            },
            (Err(old), Err(new)) if old == new => result.identical += 1,
            (old, new) => result.failed.push(RecordFailure { index, object_id, old: old.err(), new: new.err() }),
        }
    }
    result
}

/// What each run made of each record, side by side: `{"index", "objectId",
/// "old": {"events": [...]} | {"error": "..."}, "new": ...}`, for an answer
/// that shows the events themselves and not only what differs.
pub fn side_by_side(old: &[RecordRun], new: &[RecordRun]) -> Vec<Value> {
    let outcome = |run: &RecordRun| match &run.outcome {
        Ok(events) => json!({"events": events}),
        Err(error) => json!({"error": error}),
    };
    old.iter()
        .zip(new)
        .map(|(old, new)| {
            json!({
                "index": old.index,
                "objectId": old.object_id.as_ref().or(new.object_id.as_ref()),
                "old": outcome(old),
                "new": outcome(new),
            })
        })
        .collect()
}

type Compared = (Vec<Value>, Vec<Value>, Vec<EventChange>);

/// One record's events: `None` when they are the same.
fn compare_events(before: Vec<Value>, after: Vec<Value>) -> Option<Compared> {
    if before == after {
        return None;
    }
    let mut unmatched: Vec<Option<Value>> = after.into_iter().map(Some).collect();
    let (mut removed, mut changed) = (Vec::new(), Vec::new());
    for old in before {
        let partner = unmatched
            .iter()
            .position(|new| new.as_ref().is_some_and(|new| *new == old))
            .or_else(|| unmatched.iter().position(|new| new.as_ref().is_some_and(|new| same_subject(new, &old))));
        match partner.and_then(|at| unmatched[at].take()) {
            Some(new) if new == old => {}
            Some(new) => changed.push(EventChange { diff: text_diff(&old, &new), before: old, after: new }),
            None => removed.push(old),
        }
    }
    let added = unmatched.into_iter().flatten().collect();
    Some((removed, added, changed))
}

/// Whether two events are about the same thing: the same event type, object type and object id.
fn same_subject(a: &Value, b: &Value) -> bool {
    ["eventType", "objectType", "objectId"].iter().all(|key| a.get(key) == b.get(key))
}

/// The lines that differ between two values' pretty-printed JSON: `-` for
/// `before`, `+` for `after`, with [`CONTEXT_LINES`] unchanged lines around
/// each change, and `…` between groups that are far apart.
pub fn text_diff(before: &Value, after: &Value) -> String {
    let (before, after) = (pretty(before), pretty(after));
    let lines = TextDiff::from_lines(&before, &after);
    let mut out = String::new();
    for (group, ops) in lines.grouped_ops(CONTEXT_LINES).iter().enumerate() {
        if group > 0 {
            out.push_str("…\n");
        }
        for op in ops {
            for change in lines.iter_changes(op) {
                out.push(match change.tag() {
                    ChangeTag::Delete => '-',
                    ChangeTag::Insert => '+',
                    ChangeTag::Equal => ' ',
                });
                out.push_str(change.value().trim_end_matches('\n'));
                out.push('\n');
            }
        }
    }
    out
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("a Value always serializes");
    // Without a final newline, a change on the last line would show the line as changed twice.
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, status: i64) -> Value {
        let payload = json!({"id": id, "status": status});
        json!({"eventType": "UPDATED", "objectId": id, "objectType": "incidents", "payload": payload})
    }

    fn run(index: usize, outcome: Result<Vec<Value>, &str>) -> RecordRun {
        RecordRun { index, object_id: Some(index.to_string()), outcome: outcome.map_err(str::to_owned) }
    }

    #[test]
    fn identical_runs_have_no_changes() {
        let runs = [run(0, Ok(vec![event("0", 1)])), run(1, Err("no title"))];
        let compared = diff(&runs, &runs);
        assert_eq!((compared.records, compared.identical), (2, 2));
        assert!(compared.is_identical());
    }

    #[test]
    fn a_changed_field_is_one_changed_event_with_its_lines() {
        let compared = diff(&[run(0, Ok(vec![event("0", 1)]))], &[run(0, Ok(vec![event("0", 5)]))]);
        assert_eq!(compared.identical, 0);
        let [change] = compared.changed.as_slice() else { panic!("{compared:?}") };
        assert!(change.removed.is_empty() && change.added.is_empty(), "{change:?}");
        let [event_change] = change.changed.as_slice() else { panic!("{change:?}") };
        let changed: Vec<&str> = event_change.diff.lines().filter(|line| !line.starts_with(' ')).collect();
        assert_eq!(changed, ["-    \"status\": 1", "+    \"status\": 5"], "{}", event_change.diff);
    }

    #[test]
    fn events_of_other_subjects_are_removed_and_added() {
        let old = [run(0, Ok(vec![event("0", 1), event("a", 1)]))];
        let new = [run(0, Ok(vec![event("0", 1), event("b", 1)]))];
        let change = &diff(&old, &new).changed[0];
        assert_eq!((change.removed.clone(), change.added.clone()), (vec![event("a", 1)], vec![event("b", 1)]));
        assert!(change.changed.is_empty());
    }

    #[test]
    fn failures_in_one_version_are_listed_with_the_error() {
        let old = [run(0, Ok(vec![])), run(1, Err("boom")), run(2, Err("same"))];
        let new = [run(0, Err("TypeError: x is undefined")), run(1, Ok(vec![])), run(2, Err("same"))];
        let compared = diff(&old, &new);
        assert_eq!(compared.identical, 1);
        assert_eq!((compared.failed_in_old(), compared.failed_in_new()), (1, 1));
        assert_eq!(compared.failed[0].new.as_deref(), Some("TypeError: x is undefined"));
        assert_eq!(compared.failed[1].old.as_deref(), Some("boom"));
    }
}
