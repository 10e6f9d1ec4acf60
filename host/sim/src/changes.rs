//! Changes to the data made as a person in Autotask makes them (the control
//! API and churn): applied to the store, and heard by the entity's webhooks.
//!
//! Webhooks are told while the store is still locked, so their callouts are
//! numbered and queued in the order the changes were made.

use std::sync::MutexGuard;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::Shared;
use crate::callouts::{self, Action, Change};
use crate::entity::Entity;
use crate::store::Store;

/// The store, locked for changes that webhooks hear of.
pub(crate) struct Changes<'a> {
    shared: &'a Shared,
    store: MutexGuard<'a, Store>,
}

impl<'a> Changes<'a> {
    pub fn new(shared: &'a Shared) -> Changes<'a> {
        Changes { shared, store: shared.store() }
    }

    /// The store itself, for reads and the random choices churn makes.
    pub fn store(&mut self) -> &mut Store {
        &mut self.store
    }

    /// Creates a record as `person` (see [`Store::create`]).
    pub fn create(&mut self, entity: Entity, fields: Map<String, Value>, person: i64, now: DateTime<Utc>) -> Value {
        let record = self.store.create(entity, fields, now);
        let id = record["id"].as_i64().unwrap_or_default();
        let change = Change { entity, action: Action::Create, id, before: None, after: Some(&record), person, at: now };
        callouts::notify(self.shared, &change);
        record
    }

    /// Changes a record as `person` (see [`Store::patch`]); `None` when there is no such record.
    pub fn patch(
        &mut self,
        entity: Entity,
        id: i64,
        fields: Map<String, Value>,
        person: i64,
        at: DateTime<Utc>,
    ) -> Option<Value> {
        let before = self.store.table(entity).get(&id)?.clone();
        let after = self.store.patch(entity, id, fields, at)?;
        let change =
            Change { entity, action: Action::Update, id, before: Some(&before), after: Some(&after), person, at };
        callouts::notify(self.shared, &change);
        Some(after)
    }

    /// Deletes a record as `person` (see [`Store::delete_by`]); whether it existed.
    pub fn delete(&mut self, entity: Entity, id: i64, person: i64, now: DateTime<Utc>) -> bool {
        let Some(removed) = self.store.delete_by(entity, id, person, now) else { return false };
        let change =
            Change { entity, action: Action::Delete, id, before: Some(&removed), after: None, person, at: now };
        callouts::notify(self.shared, &change);
        true
    }
}
