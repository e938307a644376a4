//! Condition-set mechanics: a root `Ready` condition over dependent conditions, every condition
//! stamped with `observedGeneration`, `lastTransitionTime` kept while the status is unchanged.

use serde_json::{Map, Value, json};

/// The root condition type.
pub const READY: &str = "Ready";
/// kro manages the instance (finalizer and labels are in place).
pub const INSTANCE_MANAGED: &str = "InstanceManaged";
/// A compiled graph is available for the instance.
pub const GRAPH_RESOLVED: &str = "GraphResolved";
/// Every resource is ready.
pub const RESOURCES_READY: &str = "ResourcesReady";

/// `InstanceManaged` True reason.
pub const REASON_MANAGED: &str = "Managed";
/// `InstanceManaged` False reason.
pub const REASON_MANAGEMENT_FAILED: &str = "ManagementFailed";
/// `GraphResolved` True reason.
pub const REASON_RESOLVED: &str = "Resolved";
/// `GraphResolved` False reason.
pub const REASON_RESOLUTION_FAILED: &str = "ResolutionFailed";
/// `ResourcesReady` True reason.
pub const REASON_ALL_RESOURCES_READY: &str = "AllResourcesReady";
/// `ResourcesReady` False reason while resources converge or fail.
pub const REASON_NOT_READY: &str = "NotReady";
/// `ResourcesReady` False reason while a resource is terminating.
pub const REASON_RESOURCE_DELETING: &str = "ResourceDeleting";
/// `ResourcesReady` False reason when the suspend annotation is set.
pub const REASON_SUSPENDED: &str = "ReconciliationSuspended";
/// `ResourcesReady` Unknown reason while the instance is deleted.
pub const REASON_UNDER_DELETION: &str = "UnderDeletion";
/// Root `Ready` True reason.
pub const REASON_READY: &str = "Ready";

/// A condition status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConditionStatus {
    /// `True`.
    True,
    /// `False`.
    False,
    /// `Unknown`.
    Unknown,
}

impl ConditionStatus {
    /// `True`, `False` or `Unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

/// One dependent condition as computed this pass, before stamping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionUpdate {
    /// The condition type.
    pub type_: &'static str,
    /// Its status.
    pub status: ConditionStatus,
    /// A CamelCase reason.
    pub reason: String,
    /// A human-readable message.
    pub message: String,
}

impl ConditionUpdate {
    /// Builds an update.
    pub fn new(
        type_: &'static str,
        status: ConditionStatus,
        reason: &str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status,
            reason: reason.to_owned(),
            message: message.into(),
        }
    }
}

/// Stamps a condition: `lastTransitionTime` from the previous condition of the same type when
/// its status is unchanged, `now` otherwise; `observedGeneration` when known.
pub(crate) fn stamp(
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    previous: &[Value],
    generation: Option<i64>,
    now: &str,
) -> Value {
    let kept_time = previous
        .iter()
        .find(|condition| condition.get("type").and_then(Value::as_str) == Some(type_))
        .filter(|condition| condition.get("status").and_then(Value::as_str) == Some(status))
        .and_then(|condition| condition.get("lastTransitionTime"))
        .and_then(Value::as_str)
        .unwrap_or(now);
    let mut condition = Map::new();
    condition.insert("type".into(), json!(type_));
    condition.insert("status".into(), json!(status));
    condition.insert("reason".into(), json!(reason));
    condition.insert("message".into(), json!(message));
    condition.insert("lastTransitionTime".into(), json!(kept_time));
    if let Some(generation) = generation {
        condition.insert("observedGeneration".into(), json!(generation));
    }
    Value::Object(condition)
}

/// The full condition list: the stamped dependents plus the root `Ready`, sorted by
/// `lastTransitionTime` (then type) with the root last.
///
/// `Ready` is True (reason `Ready`, empty message) when every dependent is True; otherwise it
/// copies the reason and message of the most recently transitioned False dependent, or else
/// is Unknown with the reason of the first Unknown dependent.
pub fn condition_set(
    dependents: &[ConditionUpdate],
    previous: &[Value],
    generation: Option<i64>,
    now: &str,
) -> Vec<Value> {
    let mut stamped: Vec<Value> = dependents
        .iter()
        .map(|update| {
            stamp(
                update.type_,
                update.status.as_str(),
                &update.reason,
                &update.message,
                previous,
                generation,
                now,
            )
        })
        .collect();
    let time_of = |condition: &Value| {
        condition
            .get("lastTransitionTime")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let root = if dependents
        .iter()
        .all(|update| update.status == ConditionStatus::True)
    {
        (
            ConditionStatus::True,
            REASON_READY.to_owned(),
            String::new(),
        )
    } else if let Some((update, _)) = dependents
        .iter()
        .zip(&stamped)
        .filter(|(update, _)| update.status == ConditionStatus::False)
        // The latest wins; on equal times the later dependent (the more specific one) wins.
        .max_by(|(_, a), (_, b)| time_of(a).cmp(&time_of(b)))
    {
        (
            ConditionStatus::False,
            update.reason.clone(),
            update.message.clone(),
        )
    } else {
        let unknown = dependents
            .iter()
            .find(|update| update.status == ConditionStatus::Unknown);
        (
            ConditionStatus::Unknown,
            unknown.map(|u| u.reason.clone()).unwrap_or_default(),
            unknown.map(|u| u.message.clone()).unwrap_or_default(),
        )
    };
    stamped.sort_by(|a, b| {
        time_of(a).cmp(&time_of(b)).then_with(|| {
            let type_of = |c: &Value| c.get("type").and_then(Value::as_str).map(str::to_owned);
            type_of(a).cmp(&type_of(b))
        })
    });
    stamped.push(stamp(
        READY,
        root.0.as_str(),
        &root.1,
        &root.2,
        previous,
        generation,
        now,
    ));
    stamped
}

/// Whether the root `Ready` condition of `conditions` is True.
pub(crate) fn ready_is_true(conditions: &[Value]) -> bool {
    conditions.iter().any(|condition| {
        condition.get("type").and_then(Value::as_str) == Some(READY)
            && condition.get("status").and_then(Value::as_str) == Some("True")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn updates(resources: ConditionStatus) -> Vec<ConditionUpdate> {
        vec![
            ConditionUpdate::new(INSTANCE_MANAGED, ConditionStatus::True, REASON_MANAGED, ""),
            ConditionUpdate::new(GRAPH_RESOLVED, ConditionStatus::True, REASON_RESOLVED, ""),
            ConditionUpdate::new(RESOURCES_READY, resources, REASON_NOT_READY, "waiting"),
        ]
    }

    #[test]
    fn root_copies_false_dependent_and_sorts_last() {
        let set = condition_set(&updates(ConditionStatus::False), &[], Some(3), "t1");
        let root = set.last().expect("present");
        assert_eq!(root["type"], "Ready");
        assert_eq!(root["status"], "False");
        assert_eq!(root["reason"], "NotReady");
        assert_eq!(root["message"], "waiting");
        assert_eq!(root["observedGeneration"], 3);
        assert_eq!(set.len(), 4);
    }

    #[test]
    fn transition_time_is_kept_while_status_is_unchanged() {
        let first = condition_set(&updates(ConditionStatus::False), &[], None, "t1");
        let again = condition_set(&updates(ConditionStatus::False), &first, None, "t2");
        assert!(again.iter().all(|c| c["lastTransitionTime"] == "t1"));
        let flipped = condition_set(&updates(ConditionStatus::True), &again, None, "t3");
        let ready = flipped
            .iter()
            .find(|c| c["type"] == "Ready")
            .expect("present");
        assert_eq!(ready["status"], "True");
        assert_eq!(ready["reason"], "Ready");
        assert_eq!(ready["lastTransitionTime"], "t3");
        let managed = flipped
            .iter()
            .find(|c| c["type"] == INSTANCE_MANAGED)
            .expect("present");
        assert_eq!(managed["lastTransitionTime"], "t1");
        // Sorted by transition time with the root last.
        assert_eq!(flipped.last().expect("present")["type"], "Ready");
        assert_eq!(flipped[2]["type"], RESOURCES_READY);
    }

    #[test]
    fn unknown_dependent_makes_root_unknown() {
        let set = condition_set(&updates(ConditionStatus::Unknown), &[], None, "t");
        assert_eq!(set.last().expect("present")["status"], "Unknown");
        assert!(!ready_is_true(&set));
    }
}
