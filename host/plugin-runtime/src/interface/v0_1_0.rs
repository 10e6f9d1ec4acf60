//! `autotask-events:plugin@0.1.0`: the bindings generated from
//! `sdk/wit/plugin@0.1.0` and their conversions to and from the host's types.
//! A released version is never edited; this module stays as long as plugins
//! built against 0.1.0 may be loaded.

use wasmtime::Store;
use wasmtime::component::{HasSelf, Instance, InstancePre, Linker};

use super::{Interface, Version};
use crate::host_state::{HostState, LogLevel};
use crate::types;

mod generated {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit/plugin@0.1.0",
        world: "described-plugin",
        // A batch's records are lowered straight from the host's own strings,
        // not from a copy of them made only to be lowered.
        ownership: Borrowing { duplicate_if_necessary: true },
    });
}

use generated::autotask_events::plugin::log;
use generated::autotask_events::plugin::types as wit;
use generated::exports::autotask_events::plugin::{describe, mapper};

/// This version, as the host's list of versions names it.
pub(super) const VERSION: Version =
    Version { number: "0.1.0", mapper_export: "autotask-events:plugin/mapper@0.1.0", add_to_linker, bind };

fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    log::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)
}

fn bind(pre: &InstancePre<HostState>) -> wasmtime::Result<Box<dyn Interface>> {
    let mapper = mapper::GuestIndices::new(pre)?;
    let describe = describe::GuestIndices::new(pre).ok();
    Ok(Box::new(Exports { mapper, describe }))
}

/// Where a 0.1.0 component's functions are, found once per loaded plugin.
struct Exports {
    mapper: mapper::GuestIndices,
    describe: Option<describe::GuestIndices>,
}

impl Interface for Exports {
    fn version(&self) -> &'static str {
        VERSION.number
    }

    fn check(&self, store: &mut Store<HostState>, instance: &Instance) -> wasmtime::Result<()> {
        self.mapper.load(&mut *store, instance)?;
        if let Some(describe) = &self.describe {
            describe.load(store, instance)?;
        }
        Ok(())
    }

    fn describe(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
    ) -> Option<wasmtime::Result<types::Description>> {
        let indices = self.describe.as_ref()?;
        let called = indices.load(&mut *store, instance).and_then(|guest| guest.call_describe(&mut *store));
        Some(called.map(types::Description::from))
    }

    fn transform(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
        ctx: &types::Context,
        records: &[types::RawRecord],
    ) -> wasmtime::Result<Vec<types::RecordResult>> {
        let guest = self.mapper.load(&mut *store, instance)?;
        let ctx = wit::Context::from(ctx);
        let records: Vec<wit::RawRecord<'_>> = records.iter().map(wit::RawRecord::from).collect();
        let results = guest.call_transform(store, ctx, &records)?;
        Ok(results
            .into_iter()
            .map(|result| result.map(|events| events.into_iter().map(Into::into).collect()))
            .collect())
    }
}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String) {
        let level = match level {
            log::Level::Trace => LogLevel::Trace,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        self.log(level, &message);
    }
}

impl From<&types::EventType> for wit::EventType {
    /// A record's default event type is never custom; 0.1.0 has no way to say
    /// one, so one would reach a 0.1.0 plugin as UPDATED.
    fn from(event_type: &types::EventType) -> Self {
        match event_type {
            types::EventType::Created => wit::EventType::Created,
            types::EventType::Updated | types::EventType::Custom(_) => wit::EventType::Updated,
            types::EventType::Deleted => wit::EventType::Deleted,
        }
    }
}

impl From<wit::EventType> for types::EventType {
    fn from(event_type: wit::EventType) -> Self {
        match event_type {
            wit::EventType::Created => types::EventType::Created,
            wit::EventType::Updated => types::EventType::Updated,
            wit::EventType::Deleted => types::EventType::Deleted,
        }
    }
}

impl<'a> From<&'a types::Context> for wit::Context<'a> {
    fn from(ctx: &'a types::Context) -> Self {
        let dates = &ctx.poll.dates;
        wit::Context {
            instance_id: &ctx.instance_id,
            instance_name: &ctx.instance_name,
            element_key: &ctx.element_key,
            resource: &ctx.resource,
            poll: wit::PollConfiguration {
                id_field: &ctx.poll.id_field,
                dates: wit::DatesConfiguration {
                    updated_date_field: dates.updated_date_field.as_deref(),
                    updated_date_format: dates.updated_date_format.as_deref(),
                    updated_date_timezone: dates.updated_date_timezone.as_deref(),
                    created_date_field: dates.created_date_field.as_deref(),
                    created_date_format: dates.created_date_format.as_deref(),
                    created_date_timezone: dates.created_date_timezone.as_deref(),
                },
                created_check_tolerance_seconds: ctx.poll.created_check_tolerance_seconds,
            },
            previous_poll: &ctx.previous_poll,
            this_poll: &ctx.this_poll,
        }
    }
}

impl<'a> From<&'a types::RawRecord> for wit::RawRecord<'a> {
    fn from(record: &'a types::RawRecord) -> Self {
        wit::RawRecord {
            json: &record.json,
            object_id: &record.object_id,
            created: record.created.as_deref(),
            updated: record.updated.as_deref(),
            default_event_type: (&record.default_event_type).into(),
        }
    }
}

impl From<wit::Event> for types::Event {
    fn from(event: wit::Event) -> Self {
        types::Event {
            event_type: event.event_type.into(),
            object_id: event.object_id,
            object_type: event.object_type,
            event_date: event.event_date,
            payload: event.payload,
        }
    }
}

impl From<wit::Description> for types::Description {
    fn from(description: wit::Description) -> Self {
        types::Description {
            resource: description.resource,
            entity: description.entity,
            id_field: description.id_field,
            created_date_field: description.created_date_field,
            updated_date_field: description.updated_date_field,
        }
    }
}
