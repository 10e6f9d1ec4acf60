//! A plugin built against `autotask-events:plugin@0.1.0`, straight from its WIT
//! (the SDK has moved on to 0.2.0): the host must keep loading it unchanged.
//! One event per record, of the host's suggested type, carrying the record.

wit_bindgen::generate!({
    path: "../../../sdk/wit/plugin@0.1.0",
    world: "described-plugin",
});

use autotask_events::plugin::types::{Context, Description, Event, RawRecord};
use exports::autotask_events::plugin::{describe, mapper};

struct Plugin;

impl mapper::Guest for Plugin {
    fn transform(ctx: Context, records: Vec<RawRecord>) -> Vec<Result<Vec<Event>, String>> {
        records
            .into_iter()
            .map(|record| {
                Ok(vec![Event {
                    event_type: record.default_event_type,
                    object_id: record.object_id,
                    object_type: ctx.resource.clone(),
                    event_date: record.updated.or(record.created).unwrap_or_else(|| ctx.this_poll.clone()),
                    payload: record.json,
                }])
            })
            .collect()
    }
}

impl describe::Guest for Plugin {
    fn describe() -> Description {
        Description {
            resource: "incidents".into(),
            entity: "Tickets".into(),
            id_field: "id".into(),
            created_date_field: Some("createDate".into()),
            updated_date_field: Some("lastActivityDate".into()),
        }
    }
}

export!(Plugin);
