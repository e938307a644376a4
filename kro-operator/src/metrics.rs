//! The operator's Prometheus metric families, with upstream kro's names and labels.
//!
//! [`Metrics`] owns its own registry (no process-global state), is cheap to share through an
//! `Arc`, and hands out typed families: a controller writes
//! `metrics.rgd_graph_build_total.get_or_create(&RgdLabels::new(name)).inc()`.
//! The exposition is OpenMetrics text, which Prometheus scrapes natively.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Metrics::encode`]'s output.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of per-RGD metrics: `name` is the RGD's `metadata.name`.
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

/// Labels of per-instance-kind metrics: `gvr` is `group/version/resource` of the generated CRD.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct GvrLabels {
    /// The instance kind's group/version/resource.
    pub gvr: String,
}

impl GvrLabels {
    /// Labels for the instances of `gvr`.
    pub fn new(gvr: impl Into<String>) -> Self {
        Self { gvr: gvr.into() }
    }
}

/// Labels of `instance_state_transitions_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct InstanceTransitionLabels {
    /// The instance kind's group/version/resource.
    pub gvr: String,
    /// The state left.
    pub from_state: String,
    /// The state entered.
    pub to_state: String,
}

/// Labels of `rest_client_requests_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RestRequestLabels {
    /// The HTTP method (`GET`, `PATCH`, ...).
    pub verb: String,
    /// The HTTP status code, or `<error>` when no response arrived.
    pub code: String,
}

/// A histogram family whose buckets are chosen once for all its series.
pub type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Buckets from 5 ms to about 82 s (x2 per bucket), suited to reconciles and graph builds.
fn reconcile_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

/// Buckets from 1 µs to about 0.5 s (x4 per bucket), suited to single CEL evaluations.
fn expression_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_001, 4.0, 10))
}

/// Every metric family of the operator, registered in a private registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// `rgd_graph_build_total{name}`: graph builds (validations) of an RGD.
    pub rgd_graph_build_total: Family<RgdLabels, Counter>,
    /// `rgd_graph_build_duration_seconds{name}`: graph build duration.
    pub rgd_graph_build_duration_seconds: HistogramFamily<RgdLabels>,
    /// `rgd_graph_build_errors_total{name}`: failed graph builds.
    pub rgd_graph_build_errors_total: Family<RgdLabels, Counter>,
    /// `rgd_state_transitions_total{name,from,to}`: RGD state changes.
    pub rgd_state_transitions_total: Family<RgdTransitionLabels, Counter>,
    /// `instance_reconcile_total{gvr}`: instance reconciles.
    pub instance_reconcile_total: Family<GvrLabels, Counter>,
    /// `instance_reconcile_duration_seconds{gvr}`: instance reconcile duration.
    pub instance_reconcile_duration_seconds: HistogramFamily<GvrLabels>,
    /// `instance_reconcile_errors_total{gvr}`: failed instance reconciles (requeues excluded).
    pub instance_reconcile_errors_total: Family<GvrLabels, Counter>,
    /// `instance_state_transitions_total{gvr,from_state,to_state}`: instance state changes.
    pub instance_state_transitions_total: Family<InstanceTransitionLabels, Counter>,
    /// `dynamic_controller_queue_length`: items waiting in the shared instance queue.
    pub dynamic_controller_queue_length: Gauge,
    /// `dynamic_controller_reconcile_total{gvr}`: items processed by the dynamic controller.
    pub dynamic_controller_reconcile_total: Family<GvrLabels, Counter>,
    /// `cel_expr_eval_total`: CEL evaluation passes (every expression of a graph, one instance).
    pub cel_expr_eval_total: Counter,
    /// `cel_expr_eval_duration_seconds`: duration of one CEL evaluation pass.
    pub cel_expr_eval_duration_seconds: Histogram,
    /// `rest_client_requests_total{verb,code}`: Kubernetes API requests by method and status.
    pub rest_client_requests_total: Family<RestRequestLabels, Counter>,
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
        let metrics = Self {
            rgd_graph_build_total: Family::default(),
            rgd_graph_build_duration_seconds: Family::new_with_constructor(reconcile_histogram),
            rgd_graph_build_errors_total: Family::default(),
            rgd_state_transitions_total: Family::default(),
            instance_reconcile_total: Family::default(),
            instance_reconcile_duration_seconds: Family::new_with_constructor(reconcile_histogram),
            instance_reconcile_errors_total: Family::default(),
            instance_state_transitions_total: Family::default(),
            dynamic_controller_queue_length: Gauge::default(),
            dynamic_controller_reconcile_total: Family::default(),
            cel_expr_eval_total: Counter::default(),
            cel_expr_eval_duration_seconds: expression_histogram(),
            rest_client_requests_total: Family::default(),
            registry: Registry::default(),
        };
        // prometheus-client appends `_total` to counters itself, so counters register without it.
        registry.register(
            "rgd_graph_build",
            "Total number of RGD graph builds during reconciliation",
            metrics.rgd_graph_build_total.clone(),
        );
        registry.register(
            "rgd_graph_build_duration_seconds",
            "Duration of RGD graph builds in seconds",
            metrics.rgd_graph_build_duration_seconds.clone(),
        );
        registry.register(
            "rgd_graph_build_errors",
            "Total number of RGD graph build errors",
            metrics.rgd_graph_build_errors_total.clone(),
        );
        registry.register(
            "rgd_state_transitions",
            "Total number of RGD state transitions",
            metrics.rgd_state_transitions_total.clone(),
        );
        registry.register(
            "instance_reconcile",
            "Total number of instance reconciliations",
            metrics.instance_reconcile_total.clone(),
        );
        registry.register(
            "instance_reconcile_duration_seconds",
            "Duration of instance reconciliations in seconds",
            metrics.instance_reconcile_duration_seconds.clone(),
        );
        registry.register(
            "instance_reconcile_errors",
            "Total number of instance reconciliation errors, requeues excluded",
            metrics.instance_reconcile_errors_total.clone(),
        );
        registry.register(
            "instance_state_transitions",
            "Total number of instance state transitions",
            metrics.instance_state_transitions_total.clone(),
        );
        registry.register(
            "dynamic_controller_queue_length",
            "Current length of the dynamic controller workqueue",
            metrics.dynamic_controller_queue_length.clone(),
        );
        registry.register(
            "dynamic_controller_reconcile",
            "Total number of dynamic controller reconciliations per GVR",
            metrics.dynamic_controller_reconcile_total.clone(),
        );
        registry.register(
            "cel_expr_eval",
            "Total number of CEL expression evaluations",
            metrics.cel_expr_eval_total.clone(),
        );
        registry.register(
            "cel_expr_eval_duration_seconds",
            "Duration of CEL expression evaluations in seconds",
            metrics.cel_expr_eval_duration_seconds.clone(),
        );
        registry.register(
            "rest_client_requests",
            "Total number of Kubernetes API requests by verb and status code",
            metrics.rest_client_requests_total.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }

    /// Records one RGD graph build: count, duration and, when `failed`, an error.
    pub fn observe_graph_build(&self, rgd: &str, elapsed: Duration, failed: bool) {
        let labels = RgdLabels::new(rgd);
        self.rgd_graph_build_total.get_or_create(&labels).inc();
        self.rgd_graph_build_duration_seconds
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        if failed {
            self.rgd_graph_build_errors_total
                .get_or_create(&labels)
                .inc();
        }
    }

    /// Records one instance reconcile: count, duration and, when `failed`, an error.
    pub fn observe_instance_reconcile(&self, gvr: &str, elapsed: Duration, failed: bool) {
        let labels = GvrLabels::new(gvr);
        self.instance_reconcile_total.get_or_create(&labels).inc();
        self.instance_reconcile_duration_seconds
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        if failed {
            self.instance_reconcile_errors_total
                .get_or_create(&labels)
                .inc();
        }
    }

    /// Records one planning pass: the evaluation of every CEL expression of a graph for one
    /// instance (kro-rs evaluates a graph's expressions together, so a pass is its unit).
    pub fn observe_cel_eval(&self, elapsed: Duration) {
        self.cel_expr_eval_total.inc();
        self.cel_expr_eval_duration_seconds
            .observe(elapsed.as_secs_f64());
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_use_upstream_names_and_labels() {
        let metrics = Metrics::new();
        metrics.observe_graph_build("webapp", Duration::from_millis(30), true);
        metrics
            .rgd_state_transitions_total
            .get_or_create(&RgdTransitionLabels {
                name: "webapp".into(),
                from: "Inactive".into(),
                to: "Active".into(),
            })
            .inc();
        metrics.observe_instance_reconcile(
            "kro.run/v1alpha1/webapps",
            Duration::from_millis(5),
            false,
        );
        metrics
            .instance_state_transitions_total
            .get_or_create(&InstanceTransitionLabels {
                gvr: "kro.run/v1alpha1/webapps".into(),
                from_state: "IN_PROGRESS".into(),
                to_state: "ACTIVE".into(),
            })
            .inc();
        metrics.dynamic_controller_queue_length.set(3);
        metrics
            .dynamic_controller_reconcile_total
            .get_or_create(&GvrLabels::new("kro.run/v1alpha1/webapps"))
            .inc();
        metrics.observe_cel_eval(Duration::from_micros(20));
        metrics
            .rest_client_requests_total
            .get_or_create(&RestRequestLabels {
                verb: "GET".into(),
                code: "200".into(),
            })
            .inc();
        let text = metrics.encode().expect("encodes");
        for expected in [
            "rgd_graph_build_total{name=\"webapp\"} 1",
            "rgd_graph_build_errors_total{name=\"webapp\"} 1",
            "rgd_graph_build_duration_seconds_count{name=\"webapp\"} 1",
            "rgd_state_transitions_total{name=\"webapp\",from=\"Inactive\",to=\"Active\"} 1",
            "instance_reconcile_total{gvr=\"kro.run/v1alpha1/webapps\"} 1",
            "instance_reconcile_duration_seconds_count{gvr=\"kro.run/v1alpha1/webapps\"} 1",
            "instance_state_transitions_total{gvr=\"kro.run/v1alpha1/webapps\",from_state=\"IN_PROGRESS\",to_state=\"ACTIVE\"} 1",
            "dynamic_controller_queue_length 3",
            "dynamic_controller_reconcile_total{gvr=\"kro.run/v1alpha1/webapps\"} 1",
            "cel_expr_eval_total 1",
            "cel_expr_eval_duration_seconds_count 1",
            "rest_client_requests_total{verb=\"GET\",code=\"200\"} 1",
            "# EOF",
        ] {
            assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
        }
        assert!(
            !text.contains("instance_reconcile_errors_total{"),
            "a successful reconcile must not create an error series:\n{text}"
        );
    }

    #[test]
    fn unlabelled_families_are_exposed_before_use() {
        // Labelled families appear with their first series, like Go's *Vec metrics.
        let text = Metrics::new().encode().expect("encodes");
        for family in [
            "dynamic_controller_queue_length gauge",
            "cel_expr_eval counter",
            "cel_expr_eval_duration_seconds histogram",
        ] {
            assert!(
                text.contains(&format!("# TYPE {family}")),
                "no TYPE line for {family}:\n{text}"
            );
        }
        assert!(
            !text.contains("rgd_graph_build_total"),
            "no series before use:\n{text}"
        );
    }

    #[test]
    fn encoding_is_deterministic() {
        let metrics = Metrics::new();
        metrics.observe_graph_build("b", Duration::from_millis(1), false);
        metrics.observe_graph_build("a", Duration::from_millis(1), false);
        assert_eq!(
            metrics.encode().expect("encodes"),
            metrics.encode().expect("encodes")
        );
    }
}
