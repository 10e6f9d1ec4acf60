//! The default autotask-events plugin: maps Autotask Tickets to standardized incidents.
//!
//! The mapping itself lives in [`mapping`], a plain library, so the same code is
//! benchmarked natively and compiled into the `incidents.wasm` component.

pub mod mapping;

use autotask_events_sdk::{Context, Description, Event, Plugin, RawRecord};

/// The plugin as the host sees it.
pub struct Incidents;

impl Plugin for Incidents {
    fn describe() -> Description {
        mapping::describe()
    }

    fn map_record(ctx: &Context, record: &RawRecord) -> Result<Vec<Event>, String> {
        mapping::map_record(ctx, record)
    }

    /// Maps the batch and says so in the host's log, once per batch (debug level).
    fn transform(ctx: &Context, records: &[RawRecord]) -> Vec<Result<Vec<Event>, String>> {
        let results = mapping::transform(ctx, records);
        autotask_events_sdk::log::debug(&format!("mapped {} record(s)", records.len()));
        results
    }
}

// Exported only in the wasm build: a native rlib has no use for the component's
// export symbols, whose names are not valid native symbols.
#[cfg(target_arch = "wasm32")]
autotask_events_sdk::export_plugin!(Incidents);
