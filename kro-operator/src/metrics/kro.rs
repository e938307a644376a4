//! kro's own families (upstream `pkg/metrics`): CEL, runtime, dynamic controller, instance and
//! ResourceGraphDefinition. Names, help texts, label sets and buckets are upstream v0.9.4's.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::HistogramFamily;

/// Go's `prometheus.DefBuckets`.
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The buckets upstream gives its reconcile, build, compile and deletion durations.
pub const DURATION_BUCKETS: [f64; 16] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 45.0, 60.0, 120.0,
];

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// Labels `{name}`: the ResourceGraphDefinition's name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RgdLabels {
    /// The ResourceGraphDefinition's name.
    pub name: String,
}

impl RgdLabels {
    /// Labels for the RGD called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }
}

/// Labels of `rgd_state_transitions_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RgdTransitionLabels {
    /// The ResourceGraphDefinition's name.
    pub name: String,
    /// The state left.
    pub from: String,
    /// The state entered.
    pub to: String,
}

/// Labels `{reason}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Why (upstream's reason values, e.g. `no_revision`, `spec_changed`).
    pub reason: String,
}

/// Labels `{result}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ResultLabels {
    /// The outcome (`serve`, `issue`, `wait`, `failed`).
    pub result: String,
}

/// Labels `{gvr}`. The value's format depends on the family, as upstream: see
/// [`crate::metrics::gvr_key`] and [`crate::metrics::gvr_string`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct GvrLabels {
    /// The instance kind's group, version and resource.
    pub gvr: String,
}

impl GvrLabels {
    /// Labels for the instances of `gvr`.
    pub fn new(gvr: impl Into<String>) -> Self {
        Self { gvr: gvr.into() }
    }
}

/// Labels `{gvr,type}` of `dynamic_controller_requeue_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequeueLabels {
    /// The instance kind (`group/version/resource`).
    pub gvr: String,
    /// `requeue_after`, `rate_limited`, `requeue` or `no_requeue`.
    pub r#type: String,
}

/// Labels `{type}` of the handler families (kro-rs has `parent` handlers only).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct HandlerLabels {
    /// The handler type.
    pub r#type: String,
}

/// Labels `{gvr,event_type}` of `dynamic_controller_informer_events_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct InformerEventLabels {
    /// The instance kind (Go's `GroupVersionResource.String()` form).
    pub gvr: String,
    /// `add`, `update` or `delete`.
    pub event_type: String,
}

/// Labels of `instance_state_transitions_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct InstanceTransitionLabels {
    /// The instance kind; upstream fills it with the GroupVersionKind's `String()`.
    pub gvr: String,
    /// The state left.
    pub from_state: String,
    /// The state entered.
    pub to_state: String,
}

/// `cel_expr_eval_*`.
#[derive(Debug, Clone)]
pub struct CelMetrics {
    /// `cel_expr_eval_total`.
    pub eval_total: Counter,
    /// `cel_expr_eval_duration_seconds`.
    pub eval_duration_seconds: Histogram,
}

impl CelMetrics {
    pub(super) fn new(registry: &mut Registry) -> Self {
        let metrics = Self {
            eval_total: Counter::default(),
            eval_duration_seconds: Histogram::new(DEFAULT_BUCKETS),
        };
        super::register(
            registry,
            "cel_expr_eval",
            "Total number of CEL expression evaluations",
            metrics.eval_total.clone(),
        );
        super::register(
            registry,
            "cel_expr_eval_duration_seconds",
            "Duration of CEL expression evaluations in seconds",
            metrics.eval_duration_seconds.clone(),
        );
        metrics
    }
}

/// `runtime_*`: the per-node work of a reconcile.
#[derive(Debug, Clone)]
pub struct RuntimeMetrics {
    /// `runtime_node_eval_total`.
    pub node_eval_total: Counter,
    /// `runtime_node_eval_errors_total`.
    pub node_eval_errors_total: Counter,
    /// `runtime_node_ignored_check_total`.
    pub node_ignored_check_total: Counter,
    /// `runtime_node_ignored_total`.
    pub node_ignored_total: Counter,
    /// `runtime_node_ready_check_total`.
    pub node_ready_check_total: Counter,
    /// `runtime_node_not_ready_total`.
    pub node_not_ready_total: Counter,
    /// `runtime_collection_size`.
    pub collection_size: Histogram,
}

impl RuntimeMetrics {
    pub(super) fn new(registry: &mut Registry) -> Self {
        let metrics = Self {
            node_eval_total: Counter::default(),
            node_eval_errors_total: Counter::default(),
            node_ignored_check_total: Counter::default(),
            node_ignored_total: Counter::default(),
            node_ready_check_total: Counter::default(),
            node_not_ready_total: Counter::default(),
            collection_size: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
        };
        let counters = [
            (
                "runtime_node_eval",
                "Total number of node evaluations during reconciliation",
                &metrics.node_eval_total,
            ),
            (
                "runtime_node_eval_errors",
                "Total number of node evaluation errors",
                &metrics.node_eval_errors_total,
            ),
            (
                "runtime_node_ignored_check",
                "Total number of node includeWhen checks",
                &metrics.node_ignored_check_total,
            ),
            (
                "runtime_node_ignored",
                "Total number of nodes skipped due to includeWhen conditions",
                &metrics.node_ignored_total,
            ),
            (
                "runtime_node_ready_check",
                "Total number of node readyWhen checks",
                &metrics.node_ready_check_total,
            ),
            (
                "runtime_node_not_ready",
                "Total number of times nodes were not ready and blocked reconciliation",
                &metrics.node_not_ready_total,
            ),
        ];
        for (name, help, counter) in counters {
            super::register(registry, name, help, counter.clone());
        }
        super::register(
            registry,
            "runtime_collection_size",
            "Number of items generated by forEach collection expansion",
            metrics.collection_size.clone(),
        );
        metrics
    }
}

/// `dynamic_controller_*`: the instance controllers, which upstream runs as one dynamic
/// controller with one queue.
#[derive(Debug, Clone)]
pub struct DynamicControllerMetrics {
    /// `dynamic_controller_reconcile_total{gvr}`.
    pub reconcile_total: Family<GvrLabels, Counter>,
    /// `dynamic_controller_requeue_total{gvr,type}`.
    pub requeue_total: Family<RequeueLabels, Counter>,
    /// `dynamic_controller_reconcile_duration_seconds{gvr}`.
    pub reconcile_duration_seconds: HistogramFamily<GvrLabels>,
    /// `dynamic_controller_gvr_count`.
    pub gvr_count: Gauge,
    /// `dynamic_controller_queue_length`.
    pub queue_length: Gauge,
    /// `dynamic_controller_handler_count_total{type}` (a gauge despite its name, as upstream).
    pub handler_count: Family<HandlerLabels, Gauge>,
    /// `dynamic_controller_handler_attach_total{type}`.
    pub handler_attach_total: Family<HandlerLabels, Counter>,
    /// `dynamic_controller_handler_detach_total{type}`.
    pub handler_detach_total: Family<HandlerLabels, Counter>,
    /// `dynamic_controller_handler_errors_total{gvr}`.
    pub handler_errors_total: Family<GvrLabels, Counter>,
    /// `dynamic_controller_reconcile_panics_total{gvr}`.
    pub reconcile_panics_total: Family<GvrLabels, Counter>,
    /// `dynamic_controller_informer_sync_duration_seconds{gvr}`.
    pub informer_sync_duration_seconds: HistogramFamily<GvrLabels>,
    /// `dynamic_controller_informer_events_total{gvr,event_type}`.
    pub informer_events_total: Family<InformerEventLabels, Counter>,
    /// `dynamic_controller_watch_count`.
    pub watch_count: Gauge,
}

impl DynamicControllerMetrics {
    pub(super) fn new(registry: &mut Registry) -> Self {
        let metrics = Self {
            reconcile_total: Family::default(),
            requeue_total: Family::default(),
            reconcile_duration_seconds: Family::new_with_constructor(duration_histogram),
            gvr_count: Gauge::default(),
            queue_length: Gauge::default(),
            handler_count: Family::default(),
            handler_attach_total: Family::default(),
            handler_detach_total: Family::default(),
            handler_errors_total: Family::default(),
            reconcile_panics_total: Family::default(),
            informer_sync_duration_seconds: Family::new_with_constructor(duration_histogram),
            informer_events_total: Family::default(),
            watch_count: Gauge::default(),
        };
        let m = &metrics;
        super::register(
            registry,
            "dynamic_controller_reconcile",
            "Total number of reconciliations per GVR",
            m.reconcile_total.clone(),
        );
        super::register(
            registry,
            "dynamic_controller_requeue",
            "Total number of requeues per GVR",
            m.requeue_total.clone(),
        );
        super::register(
            registry,
            "dynamic_controller_reconcile_duration_seconds",
            "Duration of reconciliations per GVR",
            m.reconcile_duration_seconds.clone(),
        );
        super::register(
            registry,
            "dynamic_controller_gvr_count",
            "Number of Instance GVRs currently managed by the controller",
            m.gvr_count.clone(),
        );
        super::register(
            registry,
            "dynamic_controller_queue_length",
            "Current length of the workqueue",
            m.queue_length.clone(),
        );
        super::register(
            registry,
            "dynamic_controller_handler_count_total",
            "Number of active handlers used for distributing events to instance controllers",
            m.handler_count.clone(),
        );
        super::register(
            registry,
            "dynamic_controller_handler_attach",
            "Total number of handler attachments by handler type",
            m.handler_attach_total.clone(),
        );
        super::register(
            registry,
            "dynamic_controller_handler_detach",
            "Total number of handler detachments by handler type",
            m.handler_detach_total.clone(),
        );
        super::register(
            registry,
            "dynamic_controller_handler_errors",
            "Total number of errors encountered by handlers per GVR",
            m.handler_errors_total.clone(),
        );
        super::register(
            registry,
            "dynamic_controller_reconcile_panics",
            "Total number of panics recovered during reconciliation per GVR",
            m.reconcile_panics_total.clone(),
        );
        super::register(
            registry,
            "dynamic_controller_informer_sync_duration_seconds",
            "Duration of informer cache sync per GVR",
            m.informer_sync_duration_seconds.clone(),
        );
        super::register(
            registry,
            "dynamic_controller_informer_events",
            "Total number of events processed by informers per GVR and event type",
            m.informer_events_total.clone(),
        );
        super::register(
            registry,
            "dynamic_controller_watch_count",
            "Number of active informers managed by the WatchManager",
            m.watch_count.clone(),
        );
        metrics
    }
}

/// `instance_*`.
#[derive(Debug, Clone)]
pub struct InstanceMetrics {
    /// `instance_state_transitions_total{gvr,from_state,to_state}`.
    pub state_transitions_total: Family<InstanceTransitionLabels, Counter>,
    /// `instance_reconcile_duration_seconds{gvr}`.
    pub reconcile_duration_seconds: HistogramFamily<GvrLabels>,
    /// `instance_reconcile_total{gvr}`.
    pub reconcile_total: Family<GvrLabels, Counter>,
    /// `instance_reconcile_errors_total{gvr}`.
    pub reconcile_errors_total: Family<GvrLabels, Counter>,
    /// `instance_graph_resolution_success_total{gvr}`.
    pub graph_resolution_success_total: Family<GvrLabels, Counter>,
}

impl InstanceMetrics {
    pub(super) fn new(registry: &mut Registry) -> Self {
        let metrics = Self {
            state_transitions_total: Family::default(),
            reconcile_duration_seconds: Family::new_with_constructor(duration_histogram),
            reconcile_total: Family::default(),
            reconcile_errors_total: Family::default(),
            graph_resolution_success_total: Family::default(),
        };
        let m = &metrics;
        super::register(
            registry,
            "instance_state_transitions",
            "Total number of instance state transitions per GVR",
            m.state_transitions_total.clone(),
        );
        super::register(
            registry,
            "instance_reconcile_duration_seconds",
            "Duration of instance reconciliation in seconds per GVR",
            m.reconcile_duration_seconds.clone(),
        );
        super::register(
            registry,
            "instance_reconcile",
            "Total number of instance reconciliations per GVR",
            m.reconcile_total.clone(),
        );
        super::register(
            registry,
            "instance_reconcile_errors",
            "Total number of instance reconciliation errors per GVR",
            m.reconcile_errors_total.clone(),
        );
        super::register(
            registry,
            "instance_graph_resolution_success",
            "Total number of successful graph resolutions during instance reconciliation",
            m.graph_resolution_success_total.clone(),
        );
        metrics
    }
}

/// `rgd_*`.
#[derive(Debug, Clone)]
pub struct RgdMetrics {
    /// `rgd_graph_build_total{name}`.
    pub graph_build_total: Family<RgdLabels, Counter>,
    /// `rgd_graph_build_duration_seconds{name}`.
    pub graph_build_duration_seconds: HistogramFamily<RgdLabels>,
    /// `rgd_graph_build_errors_total{name}`.
    pub graph_build_errors_total: Family<RgdLabels, Counter>,
    /// `rgd_state_transitions_total{name,from,to}`.
    pub state_transitions_total: Family<RgdTransitionLabels, Counter>,
    /// `rgd_deletions_total{name}`.
    pub deletions_total: Family<RgdLabels, Counter>,
    /// `rgd_deletion_duration_seconds{name}`.
    pub deletion_duration_seconds: HistogramFamily<RgdLabels>,
    /// `rgd_graph_revision_issue_total{reason}`.
    pub graph_revision_issue_total: Family<ReasonLabels, Counter>,
    /// `rgd_graph_revision_resolution_total{result}`.
    pub graph_revision_resolution_total: Family<ResultLabels, Counter>,
    /// `rgd_graph_revision_gc_deleted_total`.
    pub graph_revision_gc_deleted_total: Counter,
    /// `rgd_graph_revision_gc_errors_total`.
    pub graph_revision_gc_errors_total: Counter,
}

impl RgdMetrics {
    pub(super) fn new(registry: &mut Registry) -> Self {
        let metrics = Self {
            graph_build_total: Family::default(),
            graph_build_duration_seconds: Family::new_with_constructor(duration_histogram),
            graph_build_errors_total: Family::default(),
            state_transitions_total: Family::default(),
            deletions_total: Family::default(),
            deletion_duration_seconds: Family::new_with_constructor(duration_histogram),
            graph_revision_issue_total: Family::default(),
            graph_revision_resolution_total: Family::default(),
            graph_revision_gc_deleted_total: Counter::default(),
            graph_revision_gc_errors_total: Counter::default(),
        };
        metrics.register(registry);
        metrics
    }

    /// Records one graph build of RGD `name`: count, duration and, when `failed`, an error.
    pub fn observe_graph_build(&self, name: &str, elapsed: std::time::Duration, failed: bool) {
        let labels = RgdLabels::new(name);
        self.graph_build_total.get_or_create(&labels).inc();
        self.graph_build_duration_seconds
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        if failed {
            self.graph_build_errors_total.get_or_create(&labels).inc();
            // Upstream builds while resolving the revision to serve, so a failed build is
            // also a failed resolution.
            self.graph_revision_resolution_total
                .get_or_create(&ResultLabels {
                    result: "failed".to_owned(),
                })
                .inc();
        }
    }

    /// Records one completed deletion (finalizer removed) of RGD `name`.
    pub fn observe_deletion(&self, name: &str, elapsed: std::time::Duration) {
        let labels = RgdLabels::new(name);
        self.deletions_total.get_or_create(&labels).inc();
        self.deletion_duration_seconds
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    fn register(&self, registry: &mut Registry) {
        super::register(
            registry,
            "rgd_graph_build",
            "Total number of resource graph builds",
            self.graph_build_total.clone(),
        );
        super::register(
            registry,
            "rgd_graph_build_duration_seconds",
            "Duration of resource graph builds in seconds",
            self.graph_build_duration_seconds.clone(),
        );
        super::register(
            registry,
            "rgd_graph_build_errors",
            "Total number of resource graph build errors",
            self.graph_build_errors_total.clone(),
        );
        super::register(
            registry,
            "rgd_state_transitions",
            "Total number of RGD state transitions",
            self.state_transitions_total.clone(),
        );
        super::register(
            registry,
            "rgd_deletions",
            "Total number of RGD deletions",
            self.deletions_total.clone(),
        );
        super::register(
            registry,
            "rgd_deletion_duration_seconds",
            "Duration of RGD deletions in seconds",
            self.deletion_duration_seconds.clone(),
        );
        super::register(
            registry,
            "rgd_graph_revision_issue",
            "Total number of GraphRevision objects issued by the RGD controller",
            self.graph_revision_issue_total.clone(),
        );
        super::register(
            registry,
            "rgd_graph_revision_resolution",
            "Total number of GraphRevision resolution outcomes in the RGD controller",
            self.graph_revision_resolution_total.clone(),
        );
        super::register(
            registry,
            "rgd_graph_revision_gc_deleted",
            "Total number of GraphRevision objects deleted by RGD garbage collection",
            self.graph_revision_gc_deleted_total.clone(),
        );
        super::register(
            registry,
            "rgd_graph_revision_gc_errors",
            "Total number of GraphRevision garbage collection errors in the RGD controller",
            self.graph_revision_gc_errors_total.clone(),
        );
    }
}
