//! `workqueue_*`: controller-runtime's workqueue families, fed by [`QueueSink`]s from the queues
//! kro-rs's controllers keep inside kube-runtime (which has no queue metrics of its own). A
//! trigger is an add; a worker taking the object ends its wait; the reconcile is the work.
//! Unfinished work is computed at scrape time, as client-go's periodic update would.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use kro_controller::controllers::metrics::QueueMetrics;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric as _};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::HistogramFamily;

/// Labels `{name,controller}` (controller-runtime sets both to the queue's name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, EncodeLabelSet)]
pub struct QueueLabels {
    /// The queue's name.
    pub name: String,
    /// The controller's name (the queue's name).
    pub controller: String,
}

impl QueueLabels {
    /// Labels of the queue `name`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            controller: name.to_owned(),
        }
    }
}

/// Labels `{name,controller,priority}` of `workqueue_depth`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DepthLabels {
    /// The queue's name.
    pub name: String,
    /// The controller's name.
    pub controller: String,
    /// The priority: `0` in controller-runtime's priority queue, empty in a plain queue.
    pub priority: String,
}

fn queue_histogram() -> Histogram {
    Histogram::new(exponential_buckets(10e-9, 10.0, 12))
}

/// A queue's unfinished work and longest running reconcile, in seconds.
type Row = (QueueLabels, f64, f64);

/// One scrape-time gauge family: name, help, and its value in a [`Row`].
type Gauges = (&'static str, &'static str, fn(&Row) -> f64);

/// Reconciles in progress, by queue, for the two scrape-time gauges.
#[derive(Debug, Default)]
struct InFlight {
    next: AtomicU64,
    by_queue: Mutex<HashMap<QueueLabels, HashMap<u64, Instant>>>,
}

impl InFlight {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<QueueLabels, HashMap<u64, Instant>>> {
        self.by_queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `(unfinished work seconds, longest running seconds)` per queue, sorted.
    fn snapshot(&self) -> Vec<Row> {
        let now = Instant::now();
        let mut rows: Vec<Row> = self
            .lock()
            .iter()
            .map(|(labels, started)| {
                let ages = started
                    .values()
                    .map(|at| now.saturating_duration_since(*at).as_secs_f64());
                let (sum, longest) =
                    ages.fold((0.0, 0.0_f64), |(sum, max), age| (sum + age, max.max(age)));
                (labels.clone(), sum, longest)
            })
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows
    }
}

/// `workqueue_unfinished_work_seconds` and `workqueue_longest_running_processor_seconds`.
#[derive(Debug, Clone)]
struct InFlightCollector(Arc<InFlight>);

impl Collector for InFlightCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let rows = self.0.snapshot();
        let families: [Gauges; 2] = [
            (
                "workqueue_unfinished_work_seconds",
                "How many seconds of work has been done that is in progress and hasn't been \
                 observed by work_duration. Large values indicate stuck threads. One can deduce \
                 the number of stuck threads by observing the rate at which this increases.",
                |row| row.1,
            ),
            (
                "workqueue_longest_running_processor_seconds",
                "How many seconds has the longest running processor for workqueue been running.",
                |row| row.2,
            ),
        ];
        for (name, help, value) in families {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for row in &rows {
                ConstGauge::new(value(row)).encode(family.encode_family(&row.0)?)?;
            }
        }
        Ok(())
    }
}

/// The `workqueue_*` families.
#[derive(Debug, Clone)]
pub struct WorkqueueMetrics {
    /// `workqueue_depth{name,controller,priority}`.
    pub depth: Family<DepthLabels, Gauge>,
    /// `workqueue_adds_total{name,controller}`.
    pub adds_total: Family<QueueLabels, Counter>,
    /// `workqueue_queue_duration_seconds{name,controller}`.
    pub queue_duration_seconds: HistogramFamily<QueueLabels>,
    /// `workqueue_work_duration_seconds{name,controller}`.
    pub work_duration_seconds: HistogramFamily<QueueLabels>,
    /// `workqueue_retries_total{name,controller}`.
    pub retries_total: Family<QueueLabels, Counter>,
    in_flight: Arc<InFlight>,
}

impl WorkqueueMetrics {
    pub(super) fn new(registry: &mut Registry) -> Self {
        let metrics = Self {
            depth: Family::default(),
            adds_total: Family::default(),
            queue_duration_seconds: Family::new_with_constructor(queue_histogram),
            work_duration_seconds: Family::new_with_constructor(queue_histogram),
            retries_total: Family::default(),
            in_flight: Arc::default(),
        };
        let m = &metrics;
        super::register(
            registry,
            "workqueue_depth",
            "Current depth of workqueue by workqueue and priority",
            m.depth.clone(),
        );
        super::register(
            registry,
            "workqueue_adds",
            "Total number of adds handled by workqueue",
            m.adds_total.clone(),
        );
        super::register(
            registry,
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested",
            m.queue_duration_seconds.clone(),
        );
        super::register(
            registry,
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes.",
            m.work_duration_seconds.clone(),
        );
        super::register(
            registry,
            "workqueue_retries",
            "Total number of items added to the workqueue with a non-zero delay (rate-limited \
             requeues, explicit RequeueAfter or AddAfter calls)",
            m.retries_total.clone(),
        );
        registry.register_collector(Box::new(InFlightCollector(Arc::clone(&m.in_flight))));
        metrics
    }

    /// The series of the queue `name`, created at zero; `priority` is the depth's priority
    /// label.
    #[must_use]
    pub fn queue(&self, name: &str, priority: &str) -> QueueSink {
        let labels = QueueLabels::new(name);
        let depth = self
            .depth
            .get_or_create(&DepthLabels {
                name: name.to_owned(),
                controller: name.to_owned(),
                priority: priority.to_owned(),
            })
            .clone();
        let _ = self.adds_total.get_or_create(&labels);
        let _ = self.retries_total.get_or_create(&labels);
        self.in_flight.lock().entry(labels.clone()).or_default();
        QueueSink {
            metrics: self.clone(),
            labels,
            depth,
            mirror: None,
        }
    }
}

/// One queue's `workqueue_*` series: the [`QueueMetrics`] sink of a controller's queue. Cheap
/// to clone; clones share the series.
#[derive(Debug, Clone)]
pub struct QueueSink {
    metrics: WorkqueueMetrics,
    labels: QueueLabels,
    depth: Gauge,
    mirror: Option<Gauge>,
}

impl QueueSink {
    /// Also keeps `gauge` at the depth (upstream's `dynamic_controller_queue_length`).
    #[must_use]
    pub fn mirrored_to(mut self, gauge: Gauge) -> Self {
        self.mirror = Some(gauge);
        self
    }

    fn depth_by(&self, delta: i64) {
        self.depth.inc_by(delta);
        if let Some(mirror) = &self.mirror {
            mirror.inc_by(delta);
        }
    }
}

impl QueueMetrics for QueueSink {
    fn added(&self) {
        self.metrics.adds_total.get_or_create(&self.labels).inc();
        self.depth_by(1);
    }

    fn started(&self, waited: Option<Duration>) -> u64 {
        let queued = match waited {
            Some(waited) => {
                self.depth_by(-1);
                waited.as_secs_f64()
            }
            None => {
                self.metrics.adds_total.get_or_create(&self.labels).inc();
                0.0
            }
        };
        self.metrics
            .queue_duration_seconds
            .get_or_create(&self.labels)
            .observe(queued);
        let id = self.metrics.in_flight.next.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .in_flight
            .lock()
            .entry(self.labels.clone())
            .or_default()
            .insert(id, Instant::now());
        id
    }

    fn finished(&self, token: u64, elapsed: Duration) {
        self.metrics
            .work_duration_seconds
            .get_or_create(&self.labels)
            .observe(elapsed.as_secs_f64());
        if let Some(started) = self.metrics.in_flight.lock().get_mut(&self.labels) {
            started.remove(&token);
        }
    }

    fn retried(&self) {
        self.metrics.retries_total.get_or_create(&self.labels).inc();
    }

    fn dropped(&self, count: usize) {
        self.depth_by(-i64::try_from(count).unwrap_or(i64::MAX));
    }
}
