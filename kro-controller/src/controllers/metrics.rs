//! What the controllers measure, behind traits: the controllers report events (a reconcile
//! ended, a key waited in a queue, an instance changed state) and the sink decides what to make
//! of them. [`NoMetrics`] drops everything; the kro-rs operator implements the traits with its
//! Prometheus families (upstream kro v0.9.4's names, labels and help texts).
//!
//! Three traits, one per scope:
//! - [`ControllerMetrics`]: the RGD controller (graph builds, GraphRevisions, state changes,
//!   deletions, controller-runtime's reconcile counts) and the factory of the other two;
//! - [`InstanceControllerMetrics`]: one instance controller, serving one generated kind
//!   ([`KindMapping`]): watch events, reconciles, state transitions, planning, conditions;
//! - [`QueueMetrics`]: one work queue (the RGD controller's, or an instance controller's): adds,
//!   waits, work, retries, depth.
//!
//! Every method is called on the reconcile path: implementations should be cheap and must not
//! block.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::DateTime;
pub use kro_api::KindMapping;
use kro_runtime::core::NodeState;
use serde_json::Value;

/// How a reconcile of an instance went, for the metrics that tell errors, panics and requeues
/// apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Done; the next change (or the periodic resync) brings it back.
    Done,
    /// Done, but waiting: looked at again after a delay (upstream's `requeue_after`).
    Waiting,
    /// Failed; retried with backoff (upstream's `rate_limited`).
    Failed,
    /// The reconcile panicked (counted as a failure too).
    Panicked,
}

/// How a reconcile of an RGD ended, as controller-runtime labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileResult {
    /// Done; wait for the next change.
    Success,
    /// Failed; retried with backoff.
    Error,
    /// Done; look again after a delay.
    RequeueAfter,
}

/// What the RGD reconcile did about GraphRevisions (upstream's `result` label values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevisionResolution {
    /// A new revision was issued for a changed spec (`issue`).
    Issue,
    /// The newest revision matched the spec and serves (`serve`).
    Serve,
    /// A GraphRevision request failed (`failed`). A graph that does not build is reported by
    /// [`ControllerMetrics::graph_built`].
    Failed,
}

/// Why a GraphRevision was issued (upstream's `reason` label values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevisionIssue {
    /// The RGD had no revision yet (`no_revision`).
    NoRevision,
    /// The spec hash differs from the newest revision's (`spec_changed`).
    SpecChanged,
}

/// An event of an instance watch, as an informer's handler sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEvent {
    /// An instance the cache did not hold (`add`).
    Add,
    /// A change of a cached instance (`update`).
    Update,
    /// A deletion (`delete`).
    Delete,
}

/// One instance condition, as read from `status.conditions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedCondition {
    /// `type`.
    pub type_: String,
    /// `status` (`True`, `False`, `Unknown`).
    pub status: String,
    /// `reason`, empty when absent.
    pub reason: String,
    /// `lastTransitionTime`, when present and valid.
    pub last_transition: Option<SystemTime>,
}

/// The sink of the RGD controller's metrics, and the factory of the instance controllers' and
/// queues' sinks. Shared by every controller as an `Arc<dyn ControllerMetrics>`.
///
/// Every method does nothing by default (the factories hand out [`NoMetrics`]), so a sink
/// implements the events it records, and a new event is no breaking change.
pub trait ControllerMetrics: Send + Sync {
    /// The RGD controller started, with `max_concurrent_reconciles` workers.
    fn rgd_controller_started(&self, max_concurrent_reconciles: u32) {
        let _ = max_concurrent_reconciles;
    }
    /// The sink of the RGD controller's queue (called once per start of the controller).
    fn rgd_queue(&self) -> Arc<dyn QueueMetrics> {
        Arc::new(NoMetrics)
    }
    /// A worker of the RGD controller took an RGD (`busy`) or is free again (not `busy`; also
    /// when the reconcile was cancelled).
    fn rgd_worker(&self, busy: bool) {
        let _ = busy;
    }
    /// A reconcile of an RGD panicked (it ends as [`ReconcileResult::Error`] too).
    fn rgd_reconcile_panicked(&self) {}
    /// A reconcile of an RGD ended after `elapsed`.
    fn rgd_reconciled(&self, elapsed: Duration, result: ReconcileResult) {
        let _ = (elapsed, result);
    }
    /// The graph of RGD `rgd` was built (compiled) in `elapsed`; `failed` when it was refused.
    fn graph_built(&self, rgd: &str, elapsed: Duration, failed: bool) {
        let _ = (rgd, elapsed, failed);
    }
    /// What became of the RGD's GraphRevisions in a reconcile whose graph built.
    fn graph_revision_resolved(&self, resolution: RevisionResolution) {
        let _ = resolution;
    }
    /// A GraphRevision was issued.
    fn graph_revision_issued(&self, reason: RevisionIssue) {
        let _ = reason;
    }
    /// An old GraphRevision was garbage collected (`deleted`), or its deletion failed.
    fn graph_revision_collected(&self, deleted: bool) {
        let _ = deleted;
    }
    /// RGD `rgd` changed state (`Active`, `Inactive`); not called for its first state.
    fn rgd_state_changed(&self, rgd: &str, from: &str, to: &str) {
        let _ = (rgd, from, to);
    }
    /// RGD `rgd` was deleted (its finalizer removed), `elapsed` after the cleanup began.
    fn rgd_deleted(&self, rgd: &str, elapsed: Duration) {
        let _ = (rgd, elapsed);
    }
    /// The sink of the instance controller about to start for `kind` (called once per start).
    fn instance_controller(&self, kind: &KindMapping) -> Arc<dyn InstanceControllerMetrics> {
        let _ = kind;
        Arc::new(NoMetrics)
    }
}

/// The sink of one instance controller's metrics. Every method does nothing by default.
pub trait InstanceControllerMetrics: Send + Sync {
    /// The controller started: one more served kind and parent handler.
    fn attached(&self) {}
    /// The controller stopped: its kind, handler and per-instance series go.
    fn detached(&self) {}
    /// The sink of the controller's queue (called once, when the controller starts).
    fn queue(&self) -> Arc<dyn QueueMetrics> {
        Arc::new(NoMetrics)
    }
    /// An event of the instance watch.
    fn watch_event(&self, event: WatchEvent) {
        let _ = event;
    }
    /// The instance watch's first complete list arrived, `elapsed` after the controller started.
    fn watch_synced(&self, elapsed: Duration) {
        let _ = elapsed;
    }
    /// A reconcile of a live instance found the graph it runs on.
    fn graph_resolved(&self) {}
    /// A reconcile ended after `elapsed`.
    fn reconciled(&self, elapsed: Duration, ended: Ended) {
        let _ = (elapsed, ended);
    }
    /// An instance's `status.state` changed from `from` (empty for none) to `to`.
    fn state_changed(&self, from: &str, to: &str) {
        let _ = (from, to);
    }
    /// One planning pass of a reconcile (every CEL expression of the graph evaluated, the
    /// templates rendered) took `elapsed` (the reconcile's planning time spread evenly).
    fn planning_pass(&self, elapsed: Duration) {
        let _ = elapsed;
    }
    /// A resource node as a reconcile's last planning pass left it; `collection_size` is the
    /// number of objects a collection node rendered, for collections that were evaluated.
    fn node_planned(&self, state: NodeState, collection_size: Option<usize>) {
        let _ = (state, collection_size);
    }
    /// The conditions of instance `namespace/name` as written after a reconcile (only with
    /// [`ControllersConfig::instance_condition_metrics`](super::ControllersConfig)); `now`
    /// anchors conditions without a transition time.
    fn conditions_observed(
        &self,
        namespace: &str,
        name: &str,
        conditions: &[ObservedCondition],
        now: SystemTime,
    ) {
        let _ = (namespace, name, conditions, now);
    }
    /// Instance `namespace/name` is gone: its per-instance series go.
    fn instance_removed(&self, namespace: &str, name: &str) {
        let _ = (namespace, name);
    }
}

/// The sink of one work queue's metrics (client-go's workqueue families). The controller keeps
/// the queue's bookkeeping (which keys wait since when) and reports what happens to it. Every
/// method does nothing by default.
pub trait QueueMetrics: Send + Sync {
    /// A trigger for a key that was not waiting: one more add, the depth grows by one.
    fn added(&self) {}
    /// A worker took a key that waited `waited` (the depth shrinks by one), or, with `None`, a
    /// key that was not waiting: a delayed requeue coming due, which a workqueue adds at that
    /// moment (an add that waited no time). Returns a token for [`QueueMetrics::finished`].
    fn started(&self, waited: Option<Duration>) -> u64 {
        let _ = waited;
        0
    }
    /// The work of `token` finished after `elapsed`.
    fn finished(&self, token: u64, elapsed: Duration) {
        let _ = (token, elapsed);
    }
    /// A key goes back with a delay (an error backoff or a requeue-after).
    fn retried(&self) {}
    /// `count` waiting keys will not be processed (their objects are gone, or the controller
    /// stopped): the depth shrinks by `count`.
    fn dropped(&self, count: usize) {
        let _ = count;
    }
}

/// Metrics that go nowhere: for embedders without a metrics system.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMetrics;

impl ControllerMetrics for NoMetrics {}

impl InstanceControllerMetrics for NoMetrics {}

impl QueueMetrics for NoMetrics {}

/// `status.conditions` as [`ObservedCondition`]s (entries without type or status are skipped).
#[must_use]
pub fn observed_conditions(status: Option<&Value>) -> Vec<ObservedCondition> {
    status
        .and_then(|status| status.get("conditions"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|condition| {
            Some(ObservedCondition {
                type_: condition.get("type")?.as_str()?.to_owned(),
                status: condition.get("status")?.as_str()?.to_owned(),
                reason: condition
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                last_transition: condition
                    .get("lastTransitionTime")
                    .and_then(Value::as_str)
                    .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
                    .map(SystemTime::from),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conditions_are_read_with_their_transition_times() {
        let status = json!({"conditions": [
            {"type": "Ready", "status": "True", "reason": "Ready",
             "lastTransitionTime": "2026-01-01T00:00:00Z"},
            {"type": "InstanceManaged", "status": "True"},
            {"status": "True"},
        ]});
        let observed = observed_conditions(Some(&status));
        assert_eq!(observed.len(), 2);
        assert!(observed[0].last_transition.is_some());
        assert_eq!(observed[1].reason, "");
        assert!(observed_conditions(None).is_empty());
    }
}
