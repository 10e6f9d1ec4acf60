//! The Rust SDK for autotask-events mapping plugins.
//!
//! A plugin turns raw Autotask records into standardized events. Implement
//! [`Plugin`] for a type and export it with [`export_plugin!`]; build with
//! `cargo build --target wasm32-wasip2` and the `.wasm` file is a component the
//! host loads.
//!
//! ```ignore
//! use autotask_events_sdk::{Context, Description, Event, Plugin, RawRecord};
//!
//! struct Echo;
//!
//! impl Plugin for Echo {
//!     fn describe() -> Description {
//!         Description::new("incidents", "Tickets")
//!     }
//!     fn map_record(ctx: &Context, record: &RawRecord) -> Result<Vec<Event>, String> {
//!         Ok(vec![Event::from_record(ctx, record, record.json.clone())])
//!     }
//! }
//!
//! autotask_events_sdk::export_plugin!(Echo);
//! ```

/// The bindings generated from `wit/plugin@0.2.0/plugin.wit`; [`export_plugin!`] uses them.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit/plugin@0.2.0",
        world: "described-plugin",
        pub_export_macro: true,
        // Events and event types compare in plugins' own tests.
        additional_derives: [PartialEq],
        default_bindings_module: "::autotask_events_sdk::bindings",
    });
}

pub use bindings::autotask_events::plugin::types::{
    Context, DatesConfiguration, Description, Event, EventType, PollConfiguration, RawRecord,
};

pub mod log;

/// A mapping plugin.
pub trait Plugin {
    /// What this plugin maps by default; the host shows it and uses it for dropped-in files.
    fn describe() -> Description;

    /// Maps one record to zero or more events, or says why it cannot.
    ///
    /// An `Err` affects only this record: the host keeps it aside with the message
    /// and the rest of the batch goes on.
    fn map_record(ctx: &Context, record: &RawRecord) -> Result<Vec<Event>, String>;

    /// Maps a whole batch: one result per record, in order.
    ///
    /// Override it only to share work across a batch.
    fn transform(ctx: &Context, records: &[RawRecord]) -> Vec<Result<Vec<Event>, String>> {
        records.iter().map(|record| Self::map_record(ctx, record)).collect()
    }
}

impl Description {
    /// A description with Autotask's usual field names: `id`, `createDate`, `lastActivityDate`.
    pub fn new(resource: &str, entity: &str) -> Self {
        Description {
            resource: resource.to_string(),
            entity: entity.to_string(),
            id_field: "id".to_string(),
            created_date_field: Some("createDate".to_string()),
            updated_date_field: Some("lastActivityDate".to_string()),
        }
    }
}

impl EventType {
    /// A type of the plugin's own, delivered as the message's `eventType`:
    /// 1 to 64 upper-case letters, digits and `_`, starting with a letter (e.g.
    /// `DEACTIVATED`). Any other name fails the record it was returned for.
    pub fn custom(name: &str) -> Self {
        EventType::Custom(name.to_string())
    }
}

impl Event {
    /// The event the host suggests for `record`: its default type, its id, the
    /// context's resource as object type and its updated (else created, else this
    /// poll's) time as event date, carrying `payload`.
    pub fn from_record(ctx: &Context, record: &RawRecord, payload: String) -> Self {
        Event {
            event_type: record.default_event_type.clone(),
            object_id: record.object_id.clone(),
            object_type: ctx.resource.clone(),
            event_date: record
                .updated
                .clone()
                .or_else(|| record.created.clone())
                .unwrap_or_else(|| ctx.this_poll.clone()),
            payload,
        }
    }
}

/// Exports a [`Plugin`] implementation as the component's `mapper` and `describe`.
///
/// Invoke it once, at the crate root of a `cdylib` built for `wasm32-wasip2`.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            struct Exported;

            impl $crate::bindings::exports::autotask_events::plugin::mapper::Guest for Exported {
                fn transform(
                    ctx: $crate::Context,
                    records: ::std::vec::Vec<$crate::RawRecord>,
                ) -> ::std::vec::Vec<::std::result::Result<::std::vec::Vec<$crate::Event>, ::std::string::String>>
                {
                    <$plugin as $crate::Plugin>::transform(&ctx, &records)
                }
            }

            impl $crate::bindings::exports::autotask_events::plugin::describe::Guest for Exported {
                fn describe() -> $crate::Description {
                    <$plugin as $crate::Plugin>::describe()
                }
            }

    $crate::bindings::export!(Exported with_types_in $crate::bindings);
        };
    };
}
