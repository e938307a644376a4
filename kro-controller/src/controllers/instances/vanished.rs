//! Instances that vanished with kro's finalizer still on, and the sweep of what they left.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kube::ResourceExt as _;
use kube::api::ApiResource;
use kube::runtime::reflector::ObjectRef;

use super::super::stored_instance::StoredInstance;
use super::InstanceContext;
use crate::executor::VanishedInstance;

/// Instances that disappeared without ever being marked for deletion although they carried
/// kro's finalizer, by reference, with their last state: the API server let a delete through
/// that raced with the finalizer's addition (kubernetes issue 77988), and the children kro
/// applied meanwhile are left behind.
#[derive(Clone, Default)]
pub(super) struct VanishedInstances {
    last_states: Arc<Mutex<HashMap<ObjectRef<StoredInstance>, StoredInstance>>>,
}

impl VanishedInstances {
    pub(super) fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<ObjectRef<StoredInstance>, StoredInstance>> {
        self.last_states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps the deleted `object` if it vanished unfinalized; its reference if so.
    pub(super) fn remember(
        &self,
        object: &StoredInstance,
        resource: &ApiResource,
    ) -> Option<ObjectRef<StoredInstance>> {
        if !vanished_unfinalized(object) {
            return None;
        }
        let object_ref = ObjectRef::from_obj_with(object, resource.clone());
        self.lock().insert(object_ref.clone(), object.clone());
        Some(object_ref)
    }

    pub(super) fn take(&self, object_ref: &ObjectRef<StoredInstance>) -> Option<StoredInstance> {
        self.lock().remove(object_ref)
    }
}

/// Whether the last state of a deleted instance shows kro's finalizer without a deletion mark
/// ([`kro_runtime::core::vanished_unfinalized`]).
pub(super) fn vanished_unfinalized(last_state: &StoredInstance) -> bool {
    serde_json::to_value(last_state.to_dynamic())
        .is_ok_and(|value| kro_runtime::core::vanished_unfinalized(&value))
}

/// How often sweeping a vanished instance is tried before its children are left to an admin.
pub(super) const SWEEP_ATTEMPTS: u32 = 4;

/// Deletes what a vanished instance left behind, retrying failed requests with a backoff.
pub(super) async fn sweep_vanished(ctx: Arc<InstanceContext>, last_state: StoredInstance) {
    let instance = last_state.to_dynamic();
    let name = instance.name_any();
    let namespace = instance.namespace().unwrap_or_default();
    let mut delay = Duration::from_secs(1);
    for attempt in 1..=SWEEP_ATTEMPTS {
        let graph = Arc::clone(&ctx.graph.read().unwrap_or_else(PoisonError::into_inner));
        match ctx
            .executor
            .sweep_vanished_instance(&graph, &instance)
            .await
        {
            Ok(VanishedInstance::Swept(keys)) => {
                tracing::warn!(
                    rgd = %ctx.rgd,
                    instance = %name,
                    namespace = %namespace,
                    deleted = ?keys.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "instance disappeared with kro's finalizer still on (a delete raced the \
                     finalizer's addition); deleted the children it left behind"
                );
                return;
            }
            Ok(found) => {
                tracing::debug!(rgd = %ctx.rgd, instance = %name, ?found, "vanished instance");
                return;
            }
            Err(error) if attempt < SWEEP_ATTEMPTS => {
                tracing::debug!(rgd = %ctx.rgd, instance = %name, error = %kro_api::ErrorChain::new(&error), "sweep failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(error) => tracing::error!(
                rgd = %ctx.rgd,
                instance = %name,
                namespace = %namespace,
                error = %kro_api::ErrorChain::new(&error),
                "cannot delete the children of an instance that disappeared with kro's finalizer"
            ),
        }
    }
}
