//! `--churn`: the simulator changing its own data, as a busy helpdesk would.

use std::time::Duration;

use chrono::Utc;
use serde_json::{Map, Value, json};

use crate::Shared;
use crate::entity::Entity;
use crate::store::USER_RESOURCE_ID;

/// Makes `per_minute` changes a minute until the simulator stops: new tickets,
/// status changes, deleted tickets, new notes, company and contact edits, all
/// as the API user, heard by webhooks as the control API's changes are.
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
    let mut changes = shared.changes();
    let now = Utc::now();
    let person = USER_RESOURCE_ID;
    let roll = changes.store().rng().below(100);
    let fields = |value: Value| match value {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let (entity, what) = match roll {
        0..35 => {
            let record = changes.create(Entity::Tickets, Map::new(), person, now);
            (Entity::Tickets, format!("created ticket {}", record["id"]))
        }
        35..38 => {
            let Some(id) = changes.store().random_id(Entity::Tickets) else { return };
            changes.delete(Entity::Tickets, id, person, now);
            (Entity::Tickets, format!("deleted ticket {id}"))
        }
        38..70 => {
            let Some(id) = changes.store().random_id(Entity::Tickets) else { return };
            let status = *changes.store().rng().pick(&[1, 5, 8, 10]);
            changes.patch(Entity::Tickets, id, fields(json!({"status": status})), person, now);
            (Entity::Tickets, format!("set ticket {id} status {status}"))
        }
        70..85 => {
            let ticket = changes.store().random_id(Entity::Tickets).unwrap_or(1);
            let record = changes.create(Entity::TicketNotes, fields(json!({"ticketID": ticket})), person, now);
            (Entity::TicketNotes, format!("added note {} to ticket {ticket}", record["id"]))
        }
        85..93 => {
            let Some(id) = changes.store().random_id(Entity::Companies) else { return };
            let phone = format!("+1 555 {:04}", changes.store().rng().below(10_000));
            changes.patch(Entity::Companies, id, fields(json!({"phone": phone})), person, now);
            (Entity::Companies, format!("changed company {id}"))
        }
        _ => {
            let Some(id) = changes.store().random_id(Entity::Contacts) else { return };
            let title = *changes.store().rng().pick(&["CTO", "CEO", "Engineer", "Buyer"]);
            changes.patch(Entity::Contacts, id, fields(json!({"title": title})), person, now);
            (Entity::Contacts, format!("changed contact {id}"))
        }
    };
    tracing::debug!(entity = entity.name(), "churn: {what}");
}
