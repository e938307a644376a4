//! The sweep of what an instance left behind when it vanished with kro's finalizer still on
//! (remembered by [`crate::embed::VanishedInstances`]).

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use kube::ResourceExt as _;

use super::super::stored_instance::StoredInstance;
use super::InstanceContext;
use crate::executor::VanishedInstance;

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
