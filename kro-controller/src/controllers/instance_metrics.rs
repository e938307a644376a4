//! What one instance controller records, through its [`InstanceControllerMetrics`] sink: watch
//! events, the work of its queue, reconciles and how they ended, state transitions, the CEL and
//! per-node work of planning, and (with `InstanceConditionMetrics`) the instances' conditions.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use kro_graph::Graph;
use kro_runtime::core::NodeState;
use kube::api::ApiResource;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use serde_json::Value;

use super::metrics::{
    ControllerMetrics, Ended, InstanceControllerMetrics, KindMapping, WatchEvent,
    observed_conditions,
};
use super::queue::{QueueTracker, Work};
use super::stored_instance::StoredInstance;
use crate::executor::ReconcileStats;

/// One instance controller's metrics.
pub struct InstanceTelemetry {
    sink: Arc<dyn InstanceControllerMetrics>,
    queue: QueueTracker<ObjectRef<StoredInstance>>,
    conditions: bool,
    watch_started: Instant,
}

impl InstanceTelemetry {
    /// The metrics of the controller of `kind`; `conditions` is the `InstanceConditionMetrics`
    /// gate.
    #[must_use]
    pub fn new(metrics: &dyn ControllerMetrics, kind: &KindMapping, conditions: bool) -> Self {
        let sink = metrics.instance_controller(kind);
        let queue = QueueTracker::new(sink.queue());
        Self {
            sink,
            queue,
            conditions,
            watch_started: Instant::now(),
        }
    }

    /// The controller's queue bookkeeping.
    #[must_use]
    pub fn queue(&self) -> &QueueTracker<ObjectRef<StoredInstance>> {
        &self.queue
    }

    /// The controller started: one more served kind and parent handler.
    pub fn attached(&self) {
        self.sink.attached();
    }

    /// The controller stopped: its kind, handler and condition series go.
    pub fn detached(&self) {
        self.sink.detached();
        self.queue.clear();
    }

    /// Counts an instance watch event as upstream's informer handler sees it (`add`, `update`,
    /// `delete`), telling adds from updates by the cache (`known`, not yet updated), and times
    /// the first complete list.
    pub fn count_watch_event(
        &self,
        (known, resource): (&Store<StoredInstance>, &ApiResource),
        event: &Result<watcher::Event<StoredInstance>, watcher::Error>,
        synced: &mut bool,
    ) {
        let seen = |object: &StoredInstance| {
            known
                .get(&ObjectRef::from_obj_with(object, resource.clone()))
                .is_some()
        };
        match event {
            Ok(watcher::Event::InitApply(_)) => self.sink.watch_event(WatchEvent::Add),
            Ok(watcher::Event::Apply(object)) if seen(object) => {
                self.sink.watch_event(WatchEvent::Update);
            }
            Ok(watcher::Event::Apply(_)) => self.sink.watch_event(WatchEvent::Add),
            Ok(watcher::Event::Delete(_)) => self.sink.watch_event(WatchEvent::Delete),
            Ok(watcher::Event::InitDone) if !*synced => {
                *synced = true;
                self.sink.watch_synced(self.watch_started.elapsed());
            }
            _ => {}
        }
    }

    /// A worker took the instance `object_ref`.
    #[must_use]
    pub fn begin(&self, object_ref: &ObjectRef<StoredInstance>) -> (Work, Instant) {
        (self.queue.start(object_ref), Instant::now())
    }

    /// The instance is gone before a worker took it.
    pub fn gone(&self, object_ref: &ObjectRef<StoredInstance>, namespace: &str, name: &str) {
        self.queue.forget(object_ref);
        self.sink.instance_removed(namespace, name);
    }

    /// The instance is gone (finalized): its condition series go.
    pub fn evict(&self, namespace: &str, name: &str) {
        self.sink.instance_removed(namespace, name);
    }

    /// The graph the reconcile uses was at hand (kro-rs's controllers hold the active graph).
    pub fn graph_resolved(&self) {
        self.sink.graph_resolved();
    }

    /// A reconcile that started at `started` ended as `ended`.
    pub fn end(&self, (work, started): (Work, Instant), ended: Ended) {
        self.sink.reconciled(started.elapsed(), ended);
        if ended != Ended::Done {
            self.queue.retry();
        }
        self.queue.done(work);
    }

    /// The instance's state changed from `from` to `to` (both as written in `status.state`).
    pub fn state_changed(&self, from: &str, to: &str) {
        self.sink.state_changed(from, to);
    }

    /// The CEL and per-node work of one reconcile.
    pub fn planned(&self, graph: &Graph, stats: &ReconcileStats) {
        if let Ok(passes) = u32::try_from(stats.plan_passes)
            && passes > 0
        {
            let per_pass: Duration = stats.planning / passes;
            for _ in 0..passes {
                self.sink.planning_pass(per_pass);
            }
        }
        for node in &stats.nodes {
            let collection = graph
                .resources()
                .iter()
                .any(|resource| resource.id() == node.id && resource.is_collection());
            let evaluated = !matches!(node.state, NodeState::Skipped | NodeState::InProgress);
            let collection_size = (collection && evaluated).then_some(node.rendered);
            self.sink.node_planned(node.state, collection_size);
        }
    }

    /// With `InstanceConditionMetrics` on: syncs the condition durations with the instance's
    /// conditions as written (`status` of the instance read after the reconcile).
    pub fn conditions(&self, namespace: &str, name: &str, status: Option<&Value>) {
        if !self.conditions {
            return;
        }
        let observed = observed_conditions(status);
        self.sink
            .conditions_observed(namespace, name, &observed, SystemTime::now());
    }

    /// Whether `InstanceConditionMetrics` is on.
    #[must_use]
    pub fn conditions_enabled(&self) -> bool {
        self.conditions
    }
}
