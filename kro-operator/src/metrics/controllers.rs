//! The controllers' metrics sink: [`Metrics`] implements kro-controller's
//! [`ControllerMetrics`], so what the RGD and instance controllers report lands in upstream
//! kro's families. Label values follow upstream's formats: `group/version/resource` for
//! `dynamic_controller_*`, Go's `GroupVersionResource.String()` for `instance_*` and the
//! informer families, Go's `GroupVersionKind.String()` for `instance_state_transitions_total`.
//!
//! Every method of the three traits is implemented here: their defaults do nothing, so a method
//! left out would silently drop a family.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kro_controller::controllers::metrics::{
    ControllerMetrics, Ended, InstanceControllerMetrics, KindMapping, ObservedCondition,
    QueueMetrics, ReconcileResult, RevisionIssue, RevisionResolution, WatchEvent,
};
use kro_runtime::core::NodeState;

use super::{
    CelMetrics, ConditionDurations, DYNAMIC_QUEUE, DynamicControllerMetrics, GvrLabels,
    HandlerLabels, InformerEventLabels, InstanceMetrics, InstanceTransitionLabels, Metrics,
    RGD_CONTROLLER, ReasonLabels, RequeueLabels, ResultLabels, RgdTransitionLabels, RuntimeMetrics,
    WorkqueueMetrics, gvk_string, gvr_key, gvr_string,
};

/// The handler type of an instance controller's watch, as upstream labels its parent handlers.
const PARENT_HANDLER: &str = "parent";

impl ControllerMetrics for Metrics {
    fn rgd_controller_started(&self, max_concurrent_reconciles: u32) {
        self.controller
            .init(RGD_CONTROLLER, max_concurrent_reconciles);
    }

    fn rgd_queue(&self) -> Arc<dyn QueueMetrics> {
        // controller-runtime's priority queue labels ordinary adds with priority 0.
        Arc::new(self.workqueue.queue(RGD_CONTROLLER, "0"))
    }

    fn rgd_worker(&self, busy: bool) {
        self.controller.worker(RGD_CONTROLLER, busy);
    }

    fn rgd_reconcile_panicked(&self) {
        self.controller
            .reconcile_panics_total
            .get_or_create(&super::ControllerLabels {
                controller: RGD_CONTROLLER.to_owned(),
            })
            .inc();
    }

    fn rgd_reconciled(&self, elapsed: Duration, result: ReconcileResult) {
        self.controller.observe(RGD_CONTROLLER, elapsed, result);
    }

    fn graph_built(&self, rgd: &str, elapsed: Duration, failed: bool) {
        self.rgd.observe_graph_build(rgd, elapsed, failed);
    }

    fn graph_revision_resolved(&self, resolution: RevisionResolution) {
        let result = match resolution {
            RevisionResolution::Issue => "issue",
            RevisionResolution::Serve => "serve",
            RevisionResolution::Failed => "failed",
        };
        self.rgd
            .graph_revision_resolution_total
            .get_or_create(&ResultLabels {
                result: result.to_owned(),
            })
            .inc();
    }

    fn graph_revision_issued(&self, reason: RevisionIssue) {
        let reason = match reason {
            RevisionIssue::NoRevision => "no_revision",
            RevisionIssue::SpecChanged => "spec_changed",
        };
        self.rgd
            .graph_revision_issue_total
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    fn graph_revision_collected(&self, deleted: bool) {
        if deleted {
            self.rgd.graph_revision_gc_deleted_total.inc();
        } else {
            self.rgd.graph_revision_gc_errors_total.inc();
        }
    }

    fn rgd_state_changed(&self, rgd: &str, from: &str, to: &str) {
        self.rgd
            .state_transitions_total
            .get_or_create(&RgdTransitionLabels {
                name: rgd.to_owned(),
                from: from.to_owned(),
                to: to.to_owned(),
            })
            .inc();
    }

    fn rgd_deleted(&self, rgd: &str, elapsed: Duration) {
        self.rgd.observe_deletion(rgd, elapsed);
    }

    fn instance_controller(&self, kind: &KindMapping) -> Arc<dyn InstanceControllerMetrics> {
        let KindMapping {
            group,
            version,
            kind,
            plural,
            ..
        } = kind;
        Arc::new(InstanceSink {
            key: GvrLabels::new(gvr_key(group, version, plural)),
            gvr: GvrLabels::new(gvr_string(group, version, plural)),
            gvk: gvk_string(group, version, kind),
            dynamic: self.dynamic.clone(),
            instance: self.instance.clone(),
            cel: self.cel.clone(),
            runtime: self.runtime.clone(),
            conditions: self.conditions.clone(),
            workqueue: self.workqueue.clone(),
        })
    }
}

/// One instance controller's series.
struct InstanceSink {
    /// `group/version/resource`.
    key: GvrLabels,
    /// `group/version, Resource=resource`.
    gvr: GvrLabels,
    /// `group/version, Kind=Kind`.
    gvk: String,
    dynamic: DynamicControllerMetrics,
    instance: InstanceMetrics,
    cel: CelMetrics,
    runtime: RuntimeMetrics,
    conditions: ConditionDurations,
    workqueue: WorkqueueMetrics,
}

fn handler_labels() -> HandlerLabels {
    HandlerLabels {
        r#type: PARENT_HANDLER.to_owned(),
    }
}

impl InstanceControllerMetrics for InstanceSink {
    fn attached(&self) {
        let dynamic = &self.dynamic;
        dynamic.gvr_count.inc();
        let labels = handler_labels();
        dynamic.handler_attach_total.get_or_create(&labels).inc();
        dynamic.handler_count.get_or_create(&labels).inc();
        dynamic.watch_count.inc();
    }

    fn detached(&self) {
        let dynamic = &self.dynamic;
        dynamic.gvr_count.dec();
        let labels = handler_labels();
        dynamic.handler_detach_total.get_or_create(&labels).inc();
        dynamic.handler_count.get_or_create(&labels).dec();
        dynamic.watch_count.dec();
        self.conditions.evict_gvr(&self.gvr.gvr);
    }

    fn queue(&self) -> Arc<dyn QueueMetrics> {
        // Every instance controller reports as upstream's single dynamic controller queue.
        Arc::new(
            self.workqueue
                .queue(DYNAMIC_QUEUE, "")
                .mirrored_to(self.dynamic.queue_length.clone()),
        )
    }

    fn watch_event(&self, event: WatchEvent) {
        let event_type = match event {
            WatchEvent::Add => "add",
            WatchEvent::Update => "update",
            WatchEvent::Delete => "delete",
        };
        self.dynamic
            .informer_events_total
            .get_or_create(&InformerEventLabels {
                gvr: self.gvr.gvr.clone(),
                event_type: event_type.to_owned(),
            })
            .inc();
    }

    fn watch_synced(&self, elapsed: Duration) {
        self.dynamic
            .informer_sync_duration_seconds
            .get_or_create(&self.gvr)
            .observe(elapsed.as_secs_f64());
    }

    fn graph_resolved(&self) {
        self.instance
            .graph_resolution_success_total
            .get_or_create(&self.gvr)
            .inc();
    }

    fn reconciled(&self, elapsed: Duration, ended: Ended) {
        let elapsed = elapsed.as_secs_f64();
        let (dynamic, instance) = (&self.dynamic, &self.instance);
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
        }
    }

    fn state_changed(&self, from: &str, to: &str) {
        self.instance
            .state_transitions_total
            .get_or_create(&InstanceTransitionLabels {
                gvr: self.gvk.clone(),
                from_state: from.to_owned(),
                to_state: to.to_owned(),
            })
            .inc();
    }

    fn planning_pass(&self, elapsed: Duration) {
        self.cel.eval_total.inc();
        self.cel
            .eval_duration_seconds
            .observe(elapsed.as_secs_f64());
    }

    fn node_planned(&self, state: NodeState, collection_size: Option<usize>) {
        let runtime = &self.runtime;
        runtime.node_ignored_check_total.inc();
        if state == NodeState::Skipped {
            runtime.node_ignored_total.inc();
            return;
        }
        runtime.node_eval_total.inc();
        match state {
            NodeState::Error => runtime.node_eval_errors_total.inc(),
            NodeState::WaitingForReadiness => {
                runtime.node_ready_check_total.inc();
                runtime.node_not_ready_total.inc()
            }
            NodeState::Synced => runtime.node_ready_check_total.inc(),
            _ => 0,
        };
        if let Some(size) = collection_size {
            runtime.collection_size.observe(size as f64);
        }
    }

    fn conditions_observed(
        &self,
        namespace: &str,
        name: &str,
        conditions: &[ObservedCondition],
        now: SystemTime,
    ) {
        self.conditions
            .sync((&self.gvr.gvr, namespace, name), conditions, now.into());
    }

    fn instance_removed(&self, namespace: &str, name: &str) {
        self.conditions
            .evict_instance(&self.gvr.gvr, namespace, name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reconcile_feeds_both_upstream_label_formats() {
        let metrics = Arc::new(Metrics::new());
        let sink = metrics.instance_controller(&KindMapping::new(
            &kro_api::Gvk::new("kro.run", "v1alpha1", "WebApp"),
            "webapps",
            true,
        ));
        sink.attached();
        let queue = sink.queue();
        queue.added();
        let work = queue.started(Some(Duration::from_millis(1)));
        sink.reconciled(Duration::from_millis(2), Ended::Waiting);
        queue.retried();
        queue.finished(work, Duration::from_millis(2));
        sink.state_changed("", "ACTIVE");
        let ready = ObservedCondition {
            type_: "Ready".to_owned(),
            status: "True".to_owned(),
            reason: String::new(),
            last_transition: None,
        };
        sink.conditions_observed("ns", "a", &[ready], SystemTime::now());
        let text = metrics.encode().expect("encodes");
        for expected in [
            "dynamic_controller_reconcile_total{gvr=\"kro.run/v1alpha1/webapps\"} 1",
            "dynamic_controller_requeue_total{gvr=\"kro.run/v1alpha1/webapps\",type=\"requeue_after\"} 1",
            "instance_reconcile_total{gvr=\"kro.run/v1alpha1, Resource=webapps\"} 1",
            "instance_state_transitions_total{gvr=\"kro.run/v1alpha1, Kind=WebApp\",from_state=\"\",to_state=\"ACTIVE\"} 1",
            "dynamic_controller_gvr_count 1",
            "dynamic_controller_queue_length 0",
            "instance_condition_current_status_seconds{gvr=\"kro.run/v1alpha1, Resource=webapps\",namespace=\"ns\",name=\"a\",condition_type=\"Ready\",condition_status=\"True\",reason=\"\"}",
        ] {
            assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
        }
        sink.detached();
        let text = metrics.encode().expect("encodes");
        assert!(!text.contains("condition_type=\"Ready\""), "{text}");
    }

    #[test]
    fn planning_feeds_the_cel_and_runtime_families() {
        let metrics = Metrics::new();
        let sink = metrics.instance_controller(&KindMapping::new(
            &kro_api::Gvk::new("kro.run", "v1alpha1", "WebApp"),
            "webapps",
            true,
        ));
        sink.planning_pass(Duration::from_millis(1));
        sink.node_planned(NodeState::Skipped, None);
        sink.node_planned(NodeState::WaitingForReadiness, Some(3));
        let text = metrics.encode().expect("encodes");
        for expected in [
            "cel_expr_eval_total 1",
            "runtime_node_ignored_check_total 2",
            "runtime_node_ignored_total 1",
            "runtime_node_eval_total 1",
            "runtime_node_not_ready_total 1",
            "runtime_collection_size_count 1",
        ] {
            assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
        }
    }
}
