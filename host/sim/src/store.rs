//! The simulator's data: one table per entity, ordered by id as Autotask
//! returns records, with the changes the control API and churn make.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::entity::Entity;
use crate::sample::{self, Seeded};

/// The resource (person) of the simulator's API user: who makes a change
/// unless told otherwise, and who owns the webhooks it creates.
pub const USER_RESOURCE_ID: i64 = 29_682_885;

/// How much data to generate at start-up.
#[derive(Debug, Clone, Copy)]
pub struct Population {
    pub seed: u64,
    pub tickets: usize,
    pub companies: usize,
    pub contacts: usize,
    /// Generated records were created and last changed before this instant.
    pub epoch: DateTime<Utc>,
}

/// Every record, by entity and id.
pub struct Store {
    tables: HashMap<Entity, BTreeMap<i64, Value>>,
    /// Fills in the fields a control-API create leaves out.
    rng: Seeded,
}

impl Store {
    /// A store holding the generated records for `population`.
    pub fn generate(population: &Population) -> Store {
        let Population { seed, tickets, companies, contacts, epoch } = *population;
        let company_count = companies.max(1) as u64;
        let ticket_count = tickets.max(1) as u64;
        let mut store = Store { tables: HashMap::new(), rng: Seeded::new(seed ^ 0x5EED) };
        let generated = [
            (Entity::Tickets, sample::tickets(seed, 1, tickets, epoch)),
            (Entity::Companies, sample::companies(seed, 1, companies, epoch)),
            (Entity::Contacts, sample::contacts(seed, 1, contacts, company_count, epoch)),
            (Entity::TicketNotes, sample::ticket_notes(seed, 1, tickets, ticket_count, epoch)),
            (Entity::DeletedTicketLogs, Vec::new()),
        ];
        for (entity, records) in generated {
            let table = records.into_iter().map(|record| (id_of(&record), record)).collect();
            store.tables.insert(entity, table);
        }
        store
    }

    /// The records of `entity`, ordered by id.
    pub fn table(&self, entity: Entity) -> &BTreeMap<i64, Value> {
        &self.tables[&entity]
    }

    /// How many records `entity` has.
    pub fn len(&self, entity: Entity) -> usize {
        self.table(entity).len()
    }

    /// Creates a record from the fields given, filling in the rest, and stamps
    /// its creation and change fields with `now`. Returns the stored record.
    pub fn create(&mut self, entity: Entity, fields: Map<String, Value>, now: DateTime<Utc>) -> Value {
        let id = self.tables[&entity].keys().next_back().copied().unwrap_or(0) + 1;
        let mut record = self.filler(entity, id, now);
        let object = record.as_object_mut().expect("generated records are objects");
        for (key, value) in fields {
            let key = entity.field(&key).map(str::to_owned).unwrap_or(key);
            object.insert(key, value);
        }
        object.insert("id".into(), json!(id));
        let stamp = Value::String(sample::autotask_date_trimmed(now));
        for field in entity.created_fields().iter().chain(entity.updated_fields()) {
            object.insert((*field).into(), stamp.clone());
        }
        self.tables.get_mut(&entity).expect("every entity has a table").insert(id, record.clone());
        record
    }

    /// Merges `fields` into record `id` and stamps its change fields with `now`.
    /// Returns the changed record, or `None` when there is no such record.
    pub fn patch(&mut self, entity: Entity, id: i64, fields: Map<String, Value>, now: DateTime<Utc>) -> Option<Value> {
        let record = self.tables.get_mut(&entity)?.get_mut(&id)?;
        let object = record.as_object_mut().expect("stored records are objects");
        for (key, value) in fields {
            if key.eq_ignore_ascii_case("id") {
                continue;
            }
            let key = entity.field(&key).map(str::to_owned).unwrap_or(key);
            object.insert(key, value);
        }
        let stamp = Value::String(sample::autotask_date_trimmed(now));
        for field in entity.updated_fields() {
            object.insert((*field).into(), stamp.clone());
        }
        Some(record.clone())
    }

    /// Deletes record `id`; a deleted Ticket leaves a DeletedTicketLogs row, as
    /// in Autotask. Returns whether the record existed.
    pub fn delete(&mut self, entity: Entity, id: i64, now: DateTime<Utc>) -> bool {
        self.delete_by(entity, id, USER_RESOURCE_ID, now).is_some()
    }

    /// Deletes record `id` as resource `person` (the DeletedTicketLogs row of a
    /// Ticket names them and is dated `now`). Returns the removed record.
    pub fn delete_by(&mut self, entity: Entity, id: i64, person: i64, now: DateTime<Utc>) -> Option<Value> {
        let removed = self.tables.get_mut(&entity)?.remove(&id)?;
        if entity == Entity::Tickets {
            let log = json!({
                "ticketID": id,
                "ticketNumber": removed["ticketNumber"],
                "ticketTitle": removed["title"],
                "deletedByResourceID": person,
            });
            let Value::Object(log) = log else { unreachable!("a json object literal") };
            self.create(Entity::DeletedTicketLogs, log, now);
        }
        Some(removed)
    }

    /// A random existing id of `entity`, for churn.
    pub fn random_id(&mut self, entity: Entity) -> Option<i64> {
        let table = &self.tables[&entity];
        let len = table.len() as u64;
        if len == 0 {
            return None;
        }
        let index = self.rng.below(len) as usize;
        table.keys().nth(index).copied()
    }

    /// The random number source shared by the simulator's own decisions.
    pub fn rng(&mut self) -> &mut Seeded {
        &mut self.rng
    }

    fn filler(&mut self, entity: Entity, id: i64, now: DateTime<Utc>) -> Value {
        let seed = self.rng.next_u64();
        let id = id as u64;
        let companies = self.len(Entity::Companies).max(1) as u64;
        let tickets = self.len(Entity::Tickets).max(1) as u64;
        let one = |mut records: Vec<Value>| records.pop().expect("one generated record");
        match entity {
            Entity::Tickets => one(sample::tickets(seed, id, 1, now)),
            Entity::Companies => one(sample::companies(seed, id, 1, now)),
            Entity::Contacts => one(sample::contacts(seed, id, 1, companies, now)),
            Entity::TicketNotes => one(sample::ticket_notes(seed, id, 1, tickets, now)),
            Entity::DeletedTicketLogs => json!({
                "ticketID": Value::Null, "ticketNumber": Value::Null, "ticketTitle": Value::Null,
                "deletedByResourceID": Value::Null, "deletedDateTime": Value::Null,
            }),
        }
    }
}

fn id_of(record: &Value) -> i64 {
    record["id"].as_i64().expect("generated records have integer ids")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn store() -> Store {
        let epoch = sample::sample_epoch();
        Store::generate(&Population { seed: 1, tickets: 10, companies: 3, contacts: 4, epoch })
    }

    #[test]
    fn creates_fill_in_fields_and_stamp_both_dates() {
        let mut store = store();
        let now = sample::sample_epoch() + TimeDelta::milliseconds(1_250);
        let Value::Object(fields) = json!({"TITLE": "Printer on fire", "priority": 4}) else { unreachable!() };
        let ticket = store.create(Entity::Tickets, fields, now);
        assert_eq!(ticket["id"], 11);
        assert_eq!(ticket["title"], "Printer on fire", "field names match case-insensitively");
        assert_eq!(ticket["priority"], 4);
        assert_eq!(ticket["createDate"], "2024-06-01T12:00:01.25Z");
        assert_eq!(ticket["lastActivityDate"], ticket["createDate"]);
        assert!(ticket["description"].is_string(), "the rest is filled in");
        assert_eq!(store.table(Entity::Tickets)[&11], ticket);
    }

    #[test]
    fn patches_merge_and_bump_only_the_change_fields() {
        let mut store = store();
        let before = store.table(Entity::Tickets)[&3].clone();
        let now = sample::sample_epoch() + TimeDelta::hours(1);
        let Value::Object(fields) = json!({"status": 5, "id": 99}) else { unreachable!() };
        let after = store.patch(Entity::Tickets, 3, fields, now).unwrap();
        assert_eq!(after["status"], 5);
        assert_eq!(after["id"], 3, "the id cannot be patched");
        assert_eq!(after["createDate"], before["createDate"]);
        assert_eq!(after["lastActivityDate"], "2024-06-01T13:00:00Z");
        assert!(store.patch(Entity::Tickets, 999, Map::new(), now).is_none());
    }

    #[test]
    fn deleting_a_ticket_logs_it() {
        let mut store = store();
        let title = store.table(Entity::Tickets)[&4]["title"].clone();
        assert!(store.delete(Entity::Tickets, 4, sample::sample_epoch()));
        assert!(!store.delete(Entity::Tickets, 4, sample::sample_epoch()));
        let log = &store.table(Entity::DeletedTicketLogs)[&1];
        assert_eq!(log["ticketID"], 4);
        assert_eq!(log["ticketTitle"], title);
        assert_eq!(log["deletedDateTime"], "2024-06-01T12:00:00Z");
        assert!(store.delete(Entity::Companies, 1, sample::sample_epoch()));
        assert_eq!(store.len(Entity::DeletedTicketLogs), 1, "only tickets are logged");
    }
}
