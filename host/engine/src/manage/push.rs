//! Push callouts from Autotask, as the listener hands them over: found by
//! instance and resource among the running ones, checked and stored by the
//! resource's [`PushState`].

use std::sync::Arc;

use super::Management;
use crate::service::push::{CalloutRefusal, PushState};

/// Why a callout was not taken, and the HTTP status that says so.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    /// No running resource of that name has push on: 404.
    #[error("no resource `{resource}` of instance `{instance}` receives push callouts here")]
    NoSuchHook { instance: String, resource: String },
    #[error(transparent)]
    Refused(#[from] CalloutRefusal),
}

impl HookError {
    /// The status the callout is answered with: Autotask retries what is not 2xx.
    pub fn status(&self) -> u16 {
        match self {
            HookError::NoSuchHook { .. } => 404,
            HookError::Refused(CalloutRefusal::Unauthenticated(_)) => 401,
            HookError::Refused(CalloutRefusal::Unreadable(_)) => 400,
            HookError::Refused(CalloutRefusal::NotReady(_)) => 503,
        }
    }
}

impl Management {
    fn push_state(&self, instance: &str, resource: &str) -> Result<Arc<PushState>, HookError> {
        self.snapshot()
            .resources(instance)
            .iter()
            .find(|handle| handle.name == resource)
            .and_then(|handle| handle.push.clone())
            .ok_or_else(|| HookError::NoSuchHook { instance: instance.to_owned(), resource: resource.to_owned() })
    }

    /// A callout to `/hooks/autotask/{instance}/{resource}`: `Ok` once it is
    /// checked and stored, so that a 2xx never acknowledges a callout that could be lost.
    pub async fn push_callout(
        &self,
        instance: &str,
        resource: &str,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), HookError> {
        let push = self.push_state(instance, resource)?;
        push.receive(&self.shared().store, signature, body).await.map_err(HookError::from)
    }

    /// Autotask's notice that the resource's webhook was deactivated: its
    /// poll loop checks (and reactivates) it at once.
    pub fn push_deactivated(&self, instance: &str, resource: &str) -> Result<(), HookError> {
        let push = self.push_state(instance, resource)?;
        tracing::warn!(instance, resource, "Autotask says the push webhook was deactivated; checking it now");
        push.deactivated();
        Ok(())
    }
}
