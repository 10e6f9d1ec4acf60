//! Host bindings generated from the plugin WIT package (`sdk/wit`).

wasmtime::component::bindgen!({
    path: "../sdk/wit",
    world: "described-plugin",
    additional_derives: [PartialEq],
});

pub use self::autotask_events::plugin::log::{Host as LogHost, Level, add_to_linker as add_log_to_linker};
pub use self::autotask_events::plugin::types::{
    Context, DatesConfiguration, Description, Event, EventType, PollConfiguration, RawRecord,
};
pub use self::exports::autotask_events::plugin::describe::GuestIndices as DescribeIndices;
pub use self::exports::autotask_events::plugin::mapper::GuestIndices as MapperIndices;

/// The export a component must have to be a mapping plugin.
pub const MAPPER_EXPORT: &str = "autotask-events:plugin/mapper@0.1.0";
