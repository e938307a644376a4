//! What one instance controller records: upstream's dynamic controller, instance, runtime and
//! CEL families, the `dynamic-controller-queue` workqueue, and (with `InstanceConditionMetrics`)
//! the condition durations. Label values follow upstream's formats: `group/version/resource`
//! for `dynamic_controller_*`, Go's `GroupVersionResource.String()` for `instance_*` and the
//! informer families, Go's `GroupVersionKind.String()` for `instance_state_transitions_total`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kro_controller::executor::ReconcileStats;
use kro_graph::Graph;
use kro_runtime::core::NodeState;
use kube::api::ApiResource;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use serde_json::Value;

use crate::metrics::{
    DYNAMIC_QUEUE, GvrLabels, InformerEventLabels, InstanceTransitionLabels, Metrics,
    ObservedCondition, QueueTracker, RequeueLabels, Work, gvk_string, gvr_key, gvr_string,
};

use super::stored_instance::StoredInstance;

/// The handler type of an instance controller's watch, as upstream labels its parent handlers.
const PARENT_HANDLER: &str = "parent";

/// How a reconcile went, for the families that tell errors, panics and requeues apart.
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

/// One instance controller's metrics.
pub struct InstanceTelemetry {
    metrics: Arc<Metrics>,
    /// `group/version/resource`.
    key: GvrLabels,
    /// `group/version, Resource=resource`.
    gvr: GvrLabels,
    /// `group/version, Kind=Kind`.
    gvk: String,
    queue: QueueTracker<ObjectRef<StoredInstance>>,
    conditions: bool,
    watch_started: Instant,
}

impl InstanceTelemetry {
    /// The metrics of the controller of kind `(group, version, kind, resource)`; `conditions`
    /// is the `InstanceConditionMetrics` gate.
    #[must_use]
    pub fn new(metrics: Arc<Metrics>, gvkr: (&str, &str, &str, &str), conditions: bool) -> Self {
        let (group, version, kind, resource) = gvkr;
        let queue = metrics
            .workqueue
            .tracker(DYNAMIC_QUEUE, "")
            .mirrored_to(metrics.dynamic.queue_length.clone());
        Self {
            key: GvrLabels::new(gvr_key(group, version, resource)),
            gvr: GvrLabels::new(gvr_string(group, version, resource)),
            gvk: gvk_string(group, version, kind),
            queue,
            conditions,
            watch_started: Instant::now(),
            metrics,
        }
    }

    /// The controller's queue bookkeeping.
    #[must_use]
    pub fn queue(&self) -> &QueueTracker<ObjectRef<StoredInstance>> {
        &self.queue
    }

    /// The controller started: one more served kind and parent handler.
    pub fn attached(&self) {
        let dynamic = &self.metrics.dynamic;
        dynamic.gvr_count.inc();
        let labels = handler_labels();
        dynamic.handler_attach_total.get_or_create(&labels).inc();
        dynamic.handler_count.get_or_create(&labels).inc();
        dynamic.watch_count.inc();
    }

    /// The controller stopped: its kind, handler and condition series go.
    pub fn detached(&self) {
        let dynamic = &self.metrics.dynamic;
        dynamic.gvr_count.dec();
        let labels = handler_labels();
        dynamic.handler_detach_total.get_or_create(&labels).inc();
        dynamic.handler_count.get_or_create(&labels).dec();
        dynamic.watch_count.dec();
        self.metrics.conditions.evict_gvr(&self.gvr.gvr);
        self.queue.clear();
    }

    /// An event of the instance watch (`add`, `update` or `delete`).
    pub fn watch_event(&self, event_type: &str) {
        self.metrics
            .dynamic
            .informer_events_total
            .get_or_create(&InformerEventLabels {
                gvr: self.gvr.gvr.clone(),
                event_type: event_type.to_owned(),
            })
            .inc();
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
            Ok(watcher::Event::InitApply(_)) => self.watch_event("add"),
            Ok(watcher::Event::Apply(object)) if seen(object) => self.watch_event("update"),
            Ok(watcher::Event::Apply(_)) => self.watch_event("add"),
            Ok(watcher::Event::Delete(_)) => self.watch_event("delete"),
            Ok(watcher::Event::InitDone) if !*synced => {
                *synced = true;
                self.watch_synced();
            }
            _ => {}
        }
    }

    /// The instance watch's first complete list arrived.
    pub fn watch_synced(&self) {
        self.metrics
            .dynamic
            .informer_sync_duration_seconds
            .get_or_create(&self.gvr)
            .observe(self.watch_started.elapsed().as_secs_f64());
    }

    /// A worker took the instance `object_ref`.
    #[must_use]
    pub fn begin(&self, object_ref: &ObjectRef<StoredInstance>) -> (Work, Instant) {
        (self.queue.start(object_ref), Instant::now())
    }

    /// The instance is gone before a worker took it.
    pub fn gone(&self, object_ref: &ObjectRef<StoredInstance>, namespace: &str, name: &str) {
        self.queue.forget(object_ref);
        self.metrics
            .conditions
            .evict_instance(&self.gvr.gvr, namespace, name);
    }

    /// The instance is gone (finalized): its condition series go.
    pub fn evict(&self, namespace: &str, name: &str) {
        self.metrics
            .conditions
            .evict_instance(&self.gvr.gvr, namespace, name);
    }

    /// The graph the reconcile uses was at hand (kro-rs's controllers hold the active graph).
    pub fn graph_resolved(&self) {
        self.metrics
            .instance
            .graph_resolution_success_total
            .get_or_create(&self.gvr)
            .inc();
    }

    /// A reconcile that started at `started` ended as `ended`.
    pub fn end(&self, (work, started): (Work, Instant), ended: Ended) {
        let elapsed = started.elapsed().as_secs_f64();
        let (dynamic, instance) = (&self.metrics.dynamic, &self.metrics.instance);
        dynamic.reconcile_total.get_or_create(&self.key).inc();
        dynamic
            .reconcile_duration_seconds
            .get_or_create(&self.key)
            .observe(elapsed);
        instance.reconcile_total.get_or_create(&self.gvr).inc();
        instance
            .reconcile_duration_seconds
            .get_or_create(&self.gvr)
            .observe(elapsed);
        let requeue = match ended {
            Ended::Done => None,
            Ended::Waiting => Some("requeue_after"),
            Ended::Failed | Ended::Panicked => Some("rate_limited"),
        };
        if matches!(ended, Ended::Failed | Ended::Panicked) {
            instance
                .reconcile_errors_total
                .get_or_create(&self.gvr)
                .inc();
            dynamic.handler_errors_total.get_or_create(&self.key).inc();
        }
        if ended == Ended::Panicked {
            dynamic
                .reconcile_panics_total
                .get_or_create(&self.key)
                .inc();
        }
        if let Some(kind) = requeue {
            dynamic
                .requeue_total
                .get_or_create(&RequeueLabels {
                    gvr: self.key.gvr.clone(),
                    r#type: kind.to_owned(),
                })
                .inc();
            self.queue.retry();
        }
        self.queue.done(work);
    }

    /// The instance's state changed from `from` to `to` (both as written in `status.state`).
    pub fn state_changed(&self, from: &str, to: &str) {
        self.metrics
            .instance
            .state_transitions_total
            .get_or_create(&InstanceTransitionLabels {
                gvr: self.gvk.clone(),
                from_state: from.to_owned(),
                to_state: to.to_owned(),
            })
            .inc();
    }

    /// The CEL and per-node work of one reconcile.
    pub fn planned(&self, graph: &Graph, stats: &ReconcileStats) {
        if let Ok(passes) = u32::try_from(stats.plan_passes)
            && passes > 0
        {
            let per_pass: Duration = stats.planning / passes;
            for _ in 0..passes {
                self.metrics.cel.eval_total.inc();
                self.metrics
                    .cel
                    .eval_duration_seconds
                    .observe(per_pass.as_secs_f64());
            }
        }
        let runtime = &self.metrics.runtime;
        for node in &stats.nodes {
            runtime.node_ignored_check_total.inc();
            if node.state == NodeState::Skipped {
                runtime.node_ignored_total.inc();
                continue;
            }
            runtime.node_eval_total.inc();
            match node.state {
                NodeState::Error => runtime.node_eval_errors_total.inc(),
                NodeState::WaitingForReadiness => {
                    runtime.node_ready_check_total.inc();
                    runtime.node_not_ready_total.inc()
                }
                NodeState::Synced => runtime.node_ready_check_total.inc(),
                _ => 0,
            };
            let collection = graph
                .resources()
                .iter()
                .any(|resource| resource.id() == node.id && resource.is_collection());
            if collection && node.state != NodeState::InProgress {
                runtime.collection_size.observe(node.rendered as f64);
            }
        }
    }

    /// With `InstanceConditionMetrics` on: syncs the condition durations with the instance's
    /// conditions as written (`status` of the instance read after the reconcile).
    pub fn conditions(&self, namespace: &str, name: &str, status: Option<&Value>) {
        if !self.conditions {
            return;
        }
        let observed = observed_conditions(status);
        self.metrics
            .conditions
            .sync((&self.gvr.gvr, namespace, name), &observed, Utc::now());
    }

    /// Whether `InstanceConditionMetrics` is on.
    #[must_use]
    pub fn conditions_enabled(&self) -> bool {
        self.conditions
    }
}

fn handler_labels() -> crate::metrics::HandlerLabels {
    crate::metrics::HandlerLabels {
        r#type: PARENT_HANDLER.to_owned(),
    }
}

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
                    .map(|at| at.with_timezone(&Utc)),
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

    #[test]
    fn a_reconcile_feeds_both_upstream_label_formats() {
        let metrics = Arc::new(Metrics::new());
        let telemetry = InstanceTelemetry::new(
            Arc::clone(&metrics),
            ("kro.run", "v1alpha1", "WebApp", "webapps"),
            true,
        );
        telemetry.attached();
        let resource = kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("kro.run", "v1alpha1", "WebApp"),
            "webapps",
        );
        let object_ref = ObjectRef::new_with("a", resource).within("ns");
        telemetry.queue().add(object_ref.clone());
        let work = telemetry.begin(&object_ref);
        telemetry.end(work, Ended::Waiting);
        telemetry.state_changed("", "ACTIVE");
        telemetry.conditions(
            "ns",
            "a",
            Some(&json!({"conditions": [{"type": "Ready", "status": "True"}]})),
        );
        let text = metrics.encode().expect("encodes");
        for expected in [
            "dynamic_controller_reconcile_total{gvr=\"kro.run/v1alpha1/webapps\"} 1",
            "dynamic_controller_requeue_total{gvr=\"kro.run/v1alpha1/webapps\",type=\"requeue_after\"} 1",
            "instance_reconcile_total{gvr=\"kro.run/v1alpha1, Resource=webapps\"} 1",
            "instance_state_transitions_total{gvr=\"kro.run/v1alpha1, Kind=WebApp\",from_state=\"\",to_state=\"ACTIVE\"} 1",
            "dynamic_controller_gvr_count 1",
            "instance_condition_current_status_seconds{gvr=\"kro.run/v1alpha1, Resource=webapps\",namespace=\"ns\",name=\"a\",condition_type=\"Ready\",condition_status=\"True\",reason=\"\"}",
        ] {
            assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
        }
        telemetry.detached();
        let text = metrics.encode().expect("encodes");
        assert!(!text.contains("condition_type=\"Ready\""), "{text}");
    }
}
