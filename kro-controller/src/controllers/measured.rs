//! The RGD controller's metrics as controller-runtime keeps them (upstream's
//! `controller_runtime_*` and `workqueue_*`): kube-runtime keeps its queue to itself, so the
//! triggers fed to the controller are counted as adds, and every reconcile is wrapped: worker
//! slot, wait, duration, result, panic.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt as _;
use kro_api::ResourceGraphDefinition;
use kube::ResourceExt as _;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;

use super::error::ControllerError;
use super::metrics::{ControllerMetrics, ReconcileResult};
use super::queue::QueueTracker;
use super::rgd::{RgdContext, reconcile_rgd};

/// The RGD controller's context with its queue bookkeeping.
pub struct MeasuredRgd {
    /// The controller's own context.
    pub inner: Arc<RgdContext>,
    /// The queue's metrics.
    pub queue: QueueTracker<ObjectRef<ResourceGraphDefinition>>,
}

impl MeasuredRgd {
    /// Wraps `inner`, creating the controller's series (worker count
    /// `max_concurrent_reconciles`).
    #[must_use]
    pub fn new(inner: Arc<RgdContext>, max_concurrent_reconciles: u32) -> Self {
        let metrics = &inner.env.metrics;
        metrics.rgd_controller_started(max_concurrent_reconciles);
        let queue = QueueTracker::new(metrics.rgd_queue());
        Self { inner, queue }
    }
}

/// [`reconcile_rgd`] with its metrics.
///
/// # Errors
/// The reconcile's error, or [`ControllerError::Panicked`] when it panicked.
pub async fn reconcile_measured(
    rgd: Arc<ResourceGraphDefinition>,
    ctx: Arc<MeasuredRgd>,
) -> Result<Action, ControllerError> {
    let metrics = Arc::clone(&ctx.inner.env.metrics);
    let work = ctx.queue.start(&ObjectRef::from_obj(rgd.as_ref()));
    let worker = Worker::busy(Arc::clone(&metrics));
    let started = Instant::now();
    let name = rgd.name_any();
    let result = match AssertUnwindSafe(reconcile_rgd(rgd, Arc::clone(&ctx.inner)))
        .catch_unwind()
        .await
    {
        Ok(result) => result,
        Err(panic) => {
            metrics.rgd_reconcile_panicked();
            Err(ControllerError::Panicked {
                action: format!("reconciling ResourceGraphDefinition {name}"),
                message: panic_message(panic.as_ref()),
            })
        }
    };
    drop(worker);
    let outcome = match &result {
        Err(_) => ReconcileResult::Error,
        Ok(action) if *action == Action::await_change() => ReconcileResult::Success,
        Ok(_) => ReconcileResult::RequeueAfter,
    };
    metrics.rgd_reconciled(started.elapsed(), outcome);
    ctx.queue.done(work);
    if outcome != ReconcileResult::Success {
        // Both go back with a delay: the error backoff, or the requested one.
        ctx.queue.retry();
    }
    result
}

/// Holds one of the RGD controller's workers while a reconcile runs (also when the reconcile
/// is cancelled).
struct Worker(Arc<dyn ControllerMetrics>);

impl Worker {
    fn busy(metrics: Arc<dyn ControllerMetrics>) -> Self {
        metrics.rgd_worker(true);
        Self(metrics)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.0.rgd_worker(false);
    }
}

/// A panic payload's message.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|message| (*message).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panicked".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_read_from_str_and_string_payloads() {
        let text: Box<dyn std::any::Any + Send> = Box::new("boom");
        assert_eq!(panic_message(text.as_ref()), "boom");
        let owned: Box<dyn std::any::Any + Send> = Box::new(String::from("bang"));
        assert_eq!(panic_message(owned.as_ref()), "bang");
        let other: Box<dyn std::any::Any + Send> = Box::new(1_u8);
        assert_eq!(panic_message(other.as_ref()), "panicked");
    }
}
