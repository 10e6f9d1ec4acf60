//! One change at a time per instance: a delete delivering its outbox and a
//! change to the same instance must not interleave, while changes to other
//! instances go on. Each instance id has a gate while someone holds or waits
//! for it; gates nobody holds are forgotten.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The gates of the instances being changed now.
#[derive(Default)]
pub(crate) struct InstanceGates {
    gates: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl InstanceGates {
    /// Waits for other changes to instance `id` to finish; this change goes
    /// on while the guard lives.
    pub(crate) async fn enter(&self, id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let gate = {
            let mut gates = self.gates.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            // A gate only the map refers to is held by nobody.
            gates.retain(|_, gate| Arc::strong_count(gate) > 1);
            gates.entry(id.to_owned()).or_default().clone()
        };
        gate.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn changes_to_one_instance_wait_for_each_other_but_not_for_others() {
        let gates = Arc::new(InstanceGates::default());
        let first = gates.enter("1").await;
        let other = tokio::time::timeout(Duration::from_millis(50), gates.enter("2")).await;
        assert!(other.is_ok(), "another instance's change goes on");
        let same = tokio::time::timeout(Duration::from_millis(50), gates.enter("1")).await;
        assert!(same.is_err(), "a second change to the same instance waits");
        drop(first);
        assert!(tokio::time::timeout(Duration::from_millis(50), gates.enter("1")).await.is_ok());
        drop(other);
        let _third = gates.enter("3").await;
        assert_eq!(gates.gates.lock().unwrap().len(), 1, "gates nobody holds are forgotten on the next entry");
    }
}
