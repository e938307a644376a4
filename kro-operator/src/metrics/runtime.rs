//! The families upstream gets from controller-runtime and client-go: `controller_runtime_*`,
//! `leader_election_master_status` and `rest_client_*` (the latter partly registered by kro's
//! own `pkg/metrics/clientgo.go`). Names, labels and buckets are those of controller-runtime
//! v0.24.1 and client-go v0.36.3.

use std::time::Duration;

pub use kro_controller::controllers::metrics::ReconcileResult;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::HistogramFamily;

/// controller-runtime's `controller_runtime_reconcile_time_seconds` buckets.
pub const RECONCILE_TIME_BUCKETS: [f64; 40] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9,
    1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0,
    25.0, 30.0, 40.0, 50.0, 60.0,
];

/// Labels `{controller}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ControllerLabels {
    /// The controller's name (upstream: `ResourceGraphDefinition`).
    pub controller: String,
}

/// Labels `{controller,result}` of `controller_runtime_reconcile_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ControllerResultLabels {
    /// The controller's name.
    pub controller: String,
    /// `success`, `error`, `requeue` or `requeue_after`.
    pub result: String,
}

/// A reconcile result's label value.
fn result_label(result: ReconcileResult) -> &'static str {
    match result {
        ReconcileResult::Success => "success",
        ReconcileResult::Error => "error",
        ReconcileResult::RequeueAfter => "requeue_after",
    }
}

/// `controller_runtime_*` for the controllers kro-rs runs as controller-runtime would.
#[derive(Debug, Clone)]
pub struct ControllerRuntimeMetrics {
    /// `controller_runtime_reconcile_total{controller,result}`.
    pub reconcile_total: Family<ControllerResultLabels, Counter>,
    /// `controller_runtime_reconcile_errors_total{controller}`.
    pub reconcile_errors_total: Family<ControllerLabels, Counter>,
    /// `controller_runtime_reconcile_panics_total{controller}`.
    pub reconcile_panics_total: Family<ControllerLabels, Counter>,
    /// `controller_runtime_reconcile_time_seconds{controller}`.
    pub reconcile_time_seconds: HistogramFamily<ControllerLabels>,
    /// `controller_runtime_max_concurrent_reconciles{controller}`.
    pub max_concurrent_reconciles: Family<ControllerLabels, Gauge>,
    /// `controller_runtime_active_workers{controller}`.
    pub active_workers: Family<ControllerLabels, Gauge>,
}

fn reconcile_time_histogram() -> Histogram {
    Histogram::new(RECONCILE_TIME_BUCKETS)
}

impl ControllerRuntimeMetrics {
    pub(super) fn new(registry: &mut Registry) -> Self {
        let metrics = Self {
            reconcile_total: Family::default(),
            reconcile_errors_total: Family::default(),
            reconcile_panics_total: Family::default(),
            reconcile_time_seconds: Family::new_with_constructor(reconcile_time_histogram),
            max_concurrent_reconciles: Family::default(),
            active_workers: Family::default(),
        };
        let m = &metrics;
        super::register(
            registry,
            "controller_runtime_reconcile",
            "Total number of reconciliations per controller",
            m.reconcile_total.clone(),
        );
        super::register(
            registry,
            "controller_runtime_reconcile_errors",
            "Total number of reconciliation errors per controller",
            m.reconcile_errors_total.clone(),
        );
        super::register(
            registry,
            "controller_runtime_reconcile_panics",
            "Total number of reconciliation panics per controller",
            m.reconcile_panics_total.clone(),
        );
        super::register(
            registry,
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            m.reconcile_time_seconds.clone(),
        );
        super::register(
            registry,
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            m.max_concurrent_reconciles.clone(),
        );
        super::register(
            registry,
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            m.active_workers.clone(),
        );
        metrics
    }

    fn labels(controller: &str) -> ControllerLabels {
        ControllerLabels {
            controller: controller.to_owned(),
        }
    }

    /// Creates the series of `controller` at zero, with its worker count, as controller-runtime
    /// does when a controller starts.
    pub fn init(&self, controller: &str, max_concurrent_reconciles: u32) {
        for result in ["error", "requeue_after", "requeue", "success"] {
            let _ = self.reconcile_total.get_or_create(&ControllerResultLabels {
                controller: controller.to_owned(),
                result: result.to_owned(),
            });
        }
        let labels = Self::labels(controller);
        let _ = self.reconcile_errors_total.get_or_create(&labels);
        let _ = self.reconcile_panics_total.get_or_create(&labels);
        self.max_concurrent_reconciles
            .get_or_create(&labels)
            .set(i64::from(max_concurrent_reconciles));
        self.active_workers.get_or_create(&labels).set(0);
    }

    /// A worker of `controller` took an item (`busy`) or is free again.
    pub fn worker(&self, controller: &str, busy: bool) {
        let gauge = self.active_workers.get_or_create(&Self::labels(controller));
        if busy {
            gauge.inc();
        } else {
            gauge.dec();
        }
    }

    /// Records one finished reconcile of `controller`.
    pub fn observe(&self, controller: &str, elapsed: Duration, result: ReconcileResult) {
        let labels = Self::labels(controller);
        self.reconcile_time_seconds
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        self.reconcile_total
            .get_or_create(&ControllerResultLabels {
                controller: controller.to_owned(),
                result: result_label(result).to_owned(),
            })
            .inc();
        if result == ReconcileResult::Error {
            self.reconcile_errors_total.get_or_create(&labels).inc();
        }
    }
}

/// Labels `{name}` of `leader_election_master_status`: the Lease's name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct LeaseLabels {
    /// The Lease's name (`controller.kro.run`).
    pub name: String,
}

/// Labels `{code,method,host}` of `rest_client_requests_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RestRequestLabels {
    /// The HTTP status code, or `<error>` when no response arrived.
    pub code: String,
    /// The HTTP method (`GET`, `PATCH`, ...).
    pub method: String,
    /// The API server's `host:port`.
    pub host: String,
}

/// Labels `{verb}` of the client-go histograms (the HTTP method).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct VerbLabels {
    /// The HTTP method.
    pub verb: String,
}

/// `rest_client_*`: the operator's Kubernetes API requests.
#[derive(Debug, Clone)]
pub struct ClientMetrics {
    /// `rest_client_requests_total{code,method,host}`.
    pub requests_total: Family<RestRequestLabels, Counter>,
    /// `rest_client_request_duration_seconds{verb}`: until the response headers arrived.
    pub request_duration_seconds: HistogramFamily<VerbLabels>,
    /// `rest_client_rate_limiter_duration_seconds{verb}`: the client-side token bucket's wait.
    pub rate_limiter_duration_seconds: HistogramFamily<VerbLabels>,
    /// `rest_client_request_size_bytes{verb}`.
    pub request_size_bytes: HistogramFamily<VerbLabels>,
    /// `rest_client_response_size_bytes{verb}` (responses of known length; not watch streams).
    pub response_size_bytes: HistogramFamily<VerbLabels>,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

fn size_histogram() -> Histogram {
    Histogram::new(exponential_buckets(64.0, 2.0, 16))
}

impl ClientMetrics {
    pub(super) fn new(registry: &mut Registry) -> Self {
        let metrics = Self {
            requests_total: Family::default(),
            request_duration_seconds: Family::new_with_constructor(latency_histogram),
            rate_limiter_duration_seconds: Family::new_with_constructor(latency_histogram),
            request_size_bytes: Family::new_with_constructor(size_histogram),
            response_size_bytes: Family::new_with_constructor(size_histogram),
        };
        let m = &metrics;
        super::register(
            registry,
            "rest_client_requests",
            "Number of HTTP requests, partitioned by status code, method, and host.",
            m.requests_total.clone(),
        );
        super::register(
            registry,
            "rest_client_request_duration_seconds",
            "Request latency in seconds, partitioned by verb.",
            m.request_duration_seconds.clone(),
        );
        super::register(
            registry,
            "rest_client_rate_limiter_duration_seconds",
            "Client-side rate limiter latency in seconds, partitioned by verb.",
            m.rate_limiter_duration_seconds.clone(),
        );
        super::register(
            registry,
            "rest_client_request_size_bytes",
            "Request size in bytes, partitioned by verb.",
            m.request_size_bytes.clone(),
        );
        super::register(
            registry,
            "rest_client_response_size_bytes",
            "Response size in bytes, partitioned by verb.",
            m.response_size_bytes.clone(),
        );
        metrics
    }

    fn verb(method: &str) -> VerbLabels {
        VerbLabels {
            verb: method.to_owned(),
        }
    }

    /// Records the client-side rate limiter's wait before a request.
    pub fn observe_wait(&self, method: &str, wait: Duration) {
        self.rate_limiter_duration_seconds
            .get_or_create(&Self::verb(method))
            .observe(wait.as_secs_f64());
    }

    /// Records a request's size in bytes, when known.
    pub fn observe_request_size(&self, method: &str, bytes: Option<u64>) {
        if let Some(bytes) = bytes {
            self.request_size_bytes
                .get_or_create(&Self::verb(method))
                .observe(bytes as f64);
        }
    }

    /// Records one answered (or failed) request: its count, latency and response size.
    pub fn observe_response(
        &self,
        (method, host): (&str, &str),
        code: &str,
        latency: Duration,
        response_bytes: Option<u64>,
    ) {
        self.requests_total
            .get_or_create(&RestRequestLabels {
                code: code.to_owned(),
                method: method.to_owned(),
                host: host.to_owned(),
            })
            .inc();
        let verb = Self::verb(method);
        self.request_duration_seconds
            .get_or_create(&verb)
            .observe(latency.as_secs_f64());
        if let Some(bytes) = response_bytes {
            self.response_size_bytes
                .get_or_create(&verb)
                .observe(bytes as f64);
        }
    }
}
