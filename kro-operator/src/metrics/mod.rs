//! The operator's Prometheus metric families, with upstream kro v0.9.4's names, help texts,
//! label sets and buckets (its `pkg/metrics`, plus the controller-runtime and client-go
//! families its binary serves).
//!
//! [`Metrics`] owns its own registry (no process-global state), is cheap to share through an
//! `Arc`, and hands out typed families grouped as upstream groups them: `metrics.rgd`,
//! `metrics.instance`, `metrics.dynamic`, `metrics.runtime`, `metrics.cel`, `metrics.client`,
//! `metrics.controller`, `metrics.workqueue`, `metrics.leader` and `metrics.conditions`.
//! The exposition is OpenMetrics text, which Prometheus scrapes natively; every registered
//! family is listed (with its `# TYPE` line) even before its first series.
//! `docs/reference/metrics.md` lists the families and the ones kro-rs leaves out.

mod conditions;
mod controllers;
pub mod exposition;
mod kro;
mod queue;
mod runtime;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

pub use conditions::{CONDITION_FAMILY, ConditionDurations, ObservedCondition};
pub use kro::{
    CelMetrics, DEFAULT_BUCKETS, DURATION_BUCKETS, DynamicControllerMetrics, GvrLabels,
    HandlerLabels, InformerEventLabels, InstanceMetrics, InstanceTransitionLabels, ReasonLabels,
    RequeueLabels, ResultLabels, RgdLabels, RgdMetrics, RgdTransitionLabels, RuntimeMetrics,
};
pub use queue::{DepthLabels, QueueLabels, QueueSink, WorkqueueMetrics};
pub use runtime::{
    ClientMetrics, ControllerLabels, ControllerResultLabels, ControllerRuntimeMetrics, LeaseLabels,
    RECONCILE_TIME_BUCKETS, ReconcileResult, RestRequestLabels, VerbLabels,
};

/// The `Content-Type` of [`Metrics::encode`]'s output.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The RGD controller's name in `controller_runtime_*` and `workqueue_*`, as upstream names it.
pub const RGD_CONTROLLER: &str = "ResourceGraphDefinition";

/// The name of upstream's single instance queue, which kro-rs's per-RGD queues report under.
pub const DYNAMIC_QUEUE: &str = "dynamic-controller-queue";

/// A metric that is listed (`# HELP`/`# TYPE`) in the exposition even without a series, so
/// that every family the operator serves shows on `/metrics` from the start.
#[derive(Debug)]
struct Listed<M>(M);

impl<M: EncodeMetric> EncodeMetric for Listed<M> {
    fn encode(&self, encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        self.0.encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        self.0.metric_type()
    }

    fn is_empty(&self) -> bool {
        false
    }
}

/// Registers `metric` as a [`Listed`] family.
fn register<M>(registry: &mut Registry, name: &str, help: &str, metric: M)
where
    M: EncodeMetric + Send + Sync + std::fmt::Debug + 'static,
{
    registry.register(name, help, Listed(metric));
}

/// A histogram family whose buckets are chosen once for all its series.
pub type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// `group/version/resource`: upstream's dynamic controller's `gvr` label value.
#[must_use]
pub fn gvr_key(group: &str, version: &str, resource: &str) -> String {
    if group.is_empty() {
        format!("/{version}/{resource}")
    } else {
        format!("{group}/{version}/{resource}")
    }
}

/// `group/version, Resource=resource`: Go's `GroupVersionResource.String()`, the `gvr` label
/// value of upstream's instance families and of the informer families.
#[must_use]
pub fn gvr_string(group: &str, version: &str, resource: &str) -> String {
    format!("{group}/{version}, Resource={resource}")
}

/// `group/version, Kind=Kind`: Go's `GroupVersionKind.String()`, which upstream puts in
/// `instance_state_transitions_total`'s `gvr` label.
#[must_use]
pub fn gvk_string(group: &str, version: &str, kind: &str) -> String {
    format!("{group}/{version}, Kind={kind}")
}

/// Every metric family of the operator, registered in a private registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// `cel_expr_eval_*`.
    pub cel: CelMetrics,
    /// `runtime_*`.
    pub runtime: RuntimeMetrics,
    /// `dynamic_controller_*`.
    pub dynamic: DynamicControllerMetrics,
    /// `instance_*` (but the condition durations, in [`Metrics::conditions`]).
    pub instance: InstanceMetrics,
    /// `rgd_*`.
    pub rgd: RgdMetrics,
    /// `rest_client_*`.
    pub client: ClientMetrics,
    /// `controller_runtime_*`.
    pub controller: ControllerRuntimeMetrics,
    /// `workqueue_*`.
    pub workqueue: WorkqueueMetrics,
    /// `leader_election_master_status{name}`: 1 while this replica holds the Lease.
    pub leader: Family<LeaseLabels, Gauge>,
    /// `instance_condition_current_status_seconds` (fed with `InstanceConditionMetrics` on).
    pub conditions: ConditionDurations,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every family.
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let cel = CelMetrics::new(&mut registry);
        let runtime = RuntimeMetrics::new(&mut registry);
        let dynamic = DynamicControllerMetrics::new(&mut registry);
        let instance = InstanceMetrics::new(&mut registry);
        let conditions = ConditionDurations::default();
        registry.register_collector(Box::new(conditions.clone()));
        let rgd = RgdMetrics::new(&mut registry);
        let client = ClientMetrics::new(&mut registry);
        let controller = ControllerRuntimeMetrics::new(&mut registry);
        let workqueue = WorkqueueMetrics::new(&mut registry);
        let leader = Family::<LeaseLabels, Gauge>::default();
        register(
            &mut registry,
            "leader_election_master_status",
            "Gauge of if the reporting system is master of the relevant lease, 0 indicates \
             backup, 1 indicates master. 'name' is the string used to identify the lease. Please \
             make sure to group by name.",
            leader.clone(),
        );
        Self {
            registry,
            cel,
            runtime,
            dynamic,
            instance,
            rgd,
            client,
            controller,
            workqueue,
            leader,
            conditions,
        }
    }

    /// Renders every family in the OpenMetrics text format ([`OPENMETRICS_CONTENT_TYPE`]).
    ///
    /// # Errors
    /// Only if a label value cannot be written, which `String` writers never refuse.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut body = String::new();
        encode(&mut body, &self.registry)?;
        Ok(body)
    }

    /// The names of every served family, as upstream names them (counters with `_total`).
    ///
    /// # Errors
    /// See [`Metrics::encode`].
    pub fn family_names(&self) -> Result<Vec<String>, std::fmt::Error> {
        Ok(exposition::families(&self.encode()?).into_keys().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn families_use_upstream_names_labels_and_label_formats() {
        let metrics = Metrics::new();
        let gvr = gvr_string("kro.run", "v1alpha1", "webapps");
        metrics
            .rgd
            .graph_build_total
            .get_or_create(&RgdLabels::new("webapp"))
            .inc();
        metrics
            .instance
            .reconcile_total
            .get_or_create(&GvrLabels::new(gvr))
            .inc();
        metrics.client.observe_response(
            ("GET", "127.0.0.1:6443"),
            "200",
            Duration::from_millis(3),
            Some(100),
        );
        metrics.controller.observe(
            RGD_CONTROLLER,
            Duration::from_millis(2),
            ReconcileResult::Success,
        );
        let text = metrics.encode().expect("encodes");
        for expected in [
            "rgd_graph_build_total{name=\"webapp\"} 1",
            "instance_reconcile_total{gvr=\"kro.run/v1alpha1, Resource=webapps\"} 1",
            "rest_client_requests_total{code=\"200\",method=\"GET\",host=\"127.0.0.1:6443\"} 1",
            "rest_client_response_size_bytes_count{verb=\"GET\"} 1",
            "controller_runtime_reconcile_total{controller=\"ResourceGraphDefinition\",result=\"success\"} 1",
            "# TYPE dynamic_controller_handler_count_total gauge",
            "# TYPE instance_condition_current_status_seconds gauge",
            "# TYPE workqueue_unfinished_work_seconds gauge",
            "# EOF",
        ] {
            assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
        }
        assert_eq!(
            gvr_key("kro.run", "v1alpha1", "webapps"),
            "kro.run/v1alpha1/webapps"
        );
        assert_eq!(
            gvk_string("kro.run", "v1alpha1", "WebApp"),
            "kro.run/v1alpha1, Kind=WebApp"
        );
    }

    #[test]
    fn buckets_are_upstreams() {
        let metrics = Metrics::new();
        metrics
            .rgd
            .graph_build_duration_seconds
            .get_or_create(&RgdLabels::new("a"))
            .observe(0.2);
        metrics.cel.eval_duration_seconds.observe(0.001);
        let text = metrics.encode().expect("encodes");
        // DURATION_BUCKETS ends at 120 s, DefBuckets at 10 s, the reconcile time at 60 s.
        assert!(
            text.contains("rgd_graph_build_duration_seconds_bucket{le=\"120.0\",name=\"a\"}"),
            "{text}"
        );
        assert!(
            text.contains("cel_expr_eval_duration_seconds_bucket{le=\"10.0\"}"),
            "{text}"
        );
        assert_eq!(RECONCILE_TIME_BUCKETS.len(), 40);
    }

    #[test]
    fn the_queue_sink_counts_adds_waits_and_work() {
        use kro_controller::controllers::metrics::QueueMetrics as _;
        let metrics = Metrics::new();
        let queue = metrics.workqueue.queue(DYNAMIC_QUEUE, "");
        let queue = queue.mirrored_to(metrics.dynamic.queue_length.clone());
        queue.added();
        assert_eq!(metrics.dynamic.queue_length.get(), 1);
        let work = queue.started(Some(Duration::from_millis(5)));
        assert_eq!(metrics.dynamic.queue_length.get(), 0);
        let text = metrics.encode().expect("encodes");
        assert!(
            text.contains(
                "workqueue_longest_running_processor_seconds{name=\"dynamic-controller-queue\""
            ),
            "{text}"
        );
        queue.finished(work, Duration::from_millis(1));
        queue.retried();
        let text = metrics.encode().expect("encodes");
        let labels = "{name=\"dynamic-controller-queue\",controller=\"dynamic-controller-queue\"}";
        assert!(
            text.contains(&format!("workqueue_adds_total{labels} 1")),
            "{text}"
        );
        assert!(
            text.contains(&format!("workqueue_retries_total{labels} 1")),
            "{text}"
        );
        assert!(
            text.contains(&format!("workqueue_work_duration_seconds_count{labels} 1")),
            "{text}"
        );
    }

    #[test]
    fn encoding_is_deterministic() {
        let metrics = Metrics::new();
        for name in ["b", "a"] {
            metrics
                .rgd
                .graph_build_total
                .get_or_create(&RgdLabels::new(name))
                .inc();
        }
        assert_eq!(
            metrics.encode().expect("encodes"),
            metrics.encode().expect("encodes")
        );
    }
}
