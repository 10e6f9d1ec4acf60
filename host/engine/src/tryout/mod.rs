//! Running a plugin over records outside any poll, and comparing what two
//! versions make of the same records: what `plugin check`, `plugin diff` and
//! the API's `POST /plugins/{name}/try` share, so the command line and the
//! service map and compare records the same way a poll maps them.

mod diff;
mod run;
mod setup;

pub use diff::{Diff, EventChange, RecordChange, RecordFailure, diff, side_by_side, text_diff};
pub use run::{BATCH_SIZE, RecordRun, event_json, run_plugin};
pub use setup::{
    BadDateFormat, DEFAULT_CREATED_FIELD, DEFAULT_ID_FIELD, DEFAULT_RESOURCE, DEFAULT_UPDATED_FIELD, DateSide,
    MappingSetup,
};
