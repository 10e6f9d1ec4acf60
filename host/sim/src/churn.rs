//! `--churn`: the simulator changing its own data, as a busy helpdesk would.

use std::time::Duration;

use chrono::Utc;
use serde_json::{Map, Value, json};

use crate::Shared;
use crate::entity::Entity;

/// Makes `per_minute` changes a minute until the simulator stops: new tickets,
/// status changes, deleted tickets, new notes, company and contact edits.
pub async fn run(shared: Shared, per_minute: f64) {
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(60.0 / per_minute));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        change_something(&shared);
    }
}

fn change_something(shared: &Shared) {
    let mut store = shared.store();
    let now = Utc::now();
    let roll = store.rng().below(100);
    let fields = |value: Value| match value {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let (entity, what) = match roll {
        0..35 => {
            let record = store.create(Entity::Tickets, Map::new(), now);
            (Entity::Tickets, format!("created ticket {}", record["id"]))
        }
        35..38 => {
            let Some(id) = store.random_id(Entity::Tickets) else { return };
            store.delete(Entity::Tickets, id, now);
            (Entity::Tickets, format!("deleted ticket {id}"))
        }
        38..70 => {
            let Some(id) = store.random_id(Entity::Tickets) else { return };
            let status = *store.rng().pick(&[1, 5, 8, 10]);
            store.patch(Entity::Tickets, id, fields(json!({"status": status})), now);
            (Entity::Tickets, format!("set ticket {id} status {status}"))
        }
        70..85 => {
            let ticket = store.random_id(Entity::Tickets).unwrap_or(1);
            let record = store.create(Entity::TicketNotes, fields(json!({"ticketID": ticket})), now);
            (Entity::TicketNotes, format!("added note {} to ticket {ticket}", record["id"]))
        }
        85..93 => {
            let Some(id) = store.random_id(Entity::Companies) else { return };
            let phone = format!("+1 555 {:04}", store.rng().below(10_000));
            store.patch(Entity::Companies, id, fields(json!({"phone": phone})), now);
            (Entity::Companies, format!("changed company {id}"))
        }
        _ => {
            let Some(id) = store.random_id(Entity::Contacts) else { return };
            let title = *store.rng().pick(&["CTO", "CEO", "Engineer", "Buyer"]);
            store.patch(Entity::Contacts, id, fields(json!({"title": title})), now);
            (Entity::Contacts, format!("changed contact {id}"))
        }
    };
    tracing::debug!(entity = entity.name(), "churn: {what}");
}
