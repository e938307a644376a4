//! `instance_condition_current_status_seconds`: how long each condition of each instance has
//! held its current status (feature gate `InstanceConditionMetrics`). The cache keeps one entry
//! per condition type of an instance, with the status, reason and the time of the last
//! transition; the gauge's value is computed at scrape time, so it grows while nothing
//! reconciles, as upstream's collector does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric as _};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;

pub use kro_controller::controllers::metrics::ObservedCondition;

/// The family's name.
pub const CONDITION_FAMILY: &str = "instance_condition_current_status_seconds";

/// Which instance a condition belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct InstanceId {
    gvr: String,
    namespace: String,
    name: String,
}

#[derive(Debug, Clone)]
struct Entry {
    status: String,
    reason: String,
    since: DateTime<Utc>,
}

/// The series' labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ConditionLabels {
    gvr: String,
    namespace: String,
    name: String,
    condition_type: String,
    condition_status: String,
    reason: String,
}

type Entries = BTreeMap<InstanceId, BTreeMap<String, Entry>>;

/// The condition cache and its collector. Cheap to clone; clones share the cache.
#[derive(Debug, Clone, Default)]
pub struct ConditionDurations {
    entries: Arc<Mutex<Entries>>,
}

impl ConditionDurations {
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Syncs the cache with an instance's conditions after a reconcile: every condition is
    /// cached with its status, reason and transition time (replacing the previous entry of its
    /// type), and types that are gone are evicted. A condition without a transition time is
    /// anchored at `now` when first seen, and keeps its anchor while status and reason stay.
    pub fn sync(
        &self,
        (gvr, namespace, name): (&str, &str, &str),
        conditions: &[ObservedCondition],
        now: DateTime<Utc>,
    ) {
        let id = InstanceId {
            gvr: gvr.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        let mut entries = self.lock();
        let by_type = entries.entry(id.clone()).or_default();
        by_type.retain(|type_, _| conditions.iter().any(|c| &c.type_ == type_));
        for condition in conditions {
            let unchanged = by_type.get(&condition.type_).is_some_and(|entry| {
                entry.status == condition.status && entry.reason == condition.reason
            });
            let since = match condition.last_transition {
                Some(at) => DateTime::<Utc>::from(at),
                None if unchanged => continue,
                None => now,
            };
            by_type.insert(
                condition.type_.clone(),
                Entry {
                    status: condition.status.clone(),
                    reason: condition.reason.clone(),
                    since,
                },
            );
        }
        if by_type.is_empty() {
            entries.remove(&id);
        }
    }

    /// Drops the series of one instance (deleted).
    pub fn evict_instance(&self, gvr: &str, namespace: &str, name: &str) {
        self.lock().remove(&InstanceId {
            gvr: gvr.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        });
    }

    /// Drops the series of every instance of `gvr` (its RGD was deleted).
    pub fn evict_gvr(&self, gvr: &str) {
        self.lock().retain(|id, _| id.gvr != gvr);
    }

    fn rows(&self, now: DateTime<Utc>) -> Vec<(ConditionLabels, f64)> {
        let entries = self.lock();
        let mut rows = Vec::new();
        for (id, by_type) in entries.iter() {
            for (type_, entry) in by_type {
                let seconds = (now - entry.since).num_milliseconds().max(0) as f64 / 1000.0;
                rows.push((
                    ConditionLabels {
                        gvr: id.gvr.clone(),
                        namespace: id.namespace.clone(),
                        name: id.name.clone(),
                        condition_type: type_.clone(),
                        condition_status: entry.status.clone(),
                        reason: entry.reason.clone(),
                    },
                    seconds,
                ));
            }
        }
        rows
    }
}

impl Collector for ConditionDurations {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let rows = self.rows(Utc::now());
        let mut family = encoder.encode_descriptor(
            CONDITION_FAMILY,
            "The current amount of time in seconds that an instance status condition has been \
             in a specific state.",
            None,
            MetricType::Gauge,
        )?;
        for (labels, seconds) in &rows {
            ConstGauge::new(*seconds).encode(family.encode_family(labels)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(type_: &str, status: &str, at: Option<&str>) -> ObservedCondition {
        ObservedCondition {
            type_: type_.to_owned(),
            status: status.to_owned(),
            reason: "R".to_owned(),
            last_transition: at
                .and_then(|at| at.parse::<DateTime<Utc>>().ok())
                .map(std::time::SystemTime::from),
        }
    }

    #[test]
    fn durations_run_from_the_transition_and_gone_types_are_evicted() {
        let cache = ConditionDurations::default();
        let key = ("kro.run/v1alpha1, Resource=apps", "ns", "a");
        let t0: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("time");
        cache.sync(
            key,
            &[
                condition("Ready", "True", Some("2026-01-01T00:00:00Z")),
                condition("InstanceManaged", "True", None),
            ],
            t0,
        );
        let later = t0 + chrono::Duration::seconds(30);
        let rows = cache.rows(later);
        assert_eq!(rows.len(), 2);
        assert!(
            rows.iter()
                .all(|(_, seconds)| (*seconds - 30.0).abs() < 1e-9)
        );
        // Re-seen without a transition time and unchanged: the anchor stays.
        cache.sync(key, &[condition("InstanceManaged", "True", None)], later);
        let rows = cache.rows(later);
        assert_eq!(rows.len(), 1, "Ready is gone");
        assert!((rows[0].1 - 30.0).abs() < 1e-9);
        cache.evict_gvr(key.0);
        assert!(cache.rows(later).is_empty());
    }
}
