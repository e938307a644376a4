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

/// The dependents of `Ready`, in the order upstream kro initialises them.
pub const DEPENDENTS: [&str; 3] = [INSTANCE_MANAGED, GRAPH_RESOLVED, RESOURCES_READY];

/// Reason of a dependent condition no pass has set yet.
pub const REASON_AWAITING_RECONCILIATION: &str = "AwaitingReconciliation";

/// The full condition list after a pass that set every dependent in `dependents`.
///
/// The list follows upstream kro's condition-set rules (see [`ConditionList`]), so that tools
/// reading the conditions see the same order from either implementation.
pub fn condition_set(
    dependents: &[ConditionUpdate],
    previous: &[Value],
    generation: Option<i64>,
    now: &str,
) -> Vec<Value> {
    condition_set_with(dependents, previous, generation, now, false)
}

/// [`condition_set`] for a pass that sets only some dependents: the others keep their previous
/// value. While the instance is being deleted (`deleting`), the untouched conditions take the
/// current generation, as upstream kro does.
pub fn condition_set_with(
    updates: &[ConditionUpdate],
    previous: &[Value],
    generation: Option<i64>,
    now: &str,
    deleting: bool,
) -> Vec<Value> {
    let mut list = ConditionList::new(READY, &DEPENDENTS, previous, generation, now);
    if deleting {
        list.stamp_generation();
    }
    for update in updates {
        list.set(update);
    }
    list.into_conditions()
}

/// A root condition over dependent ones, kept as upstream kro's condition sets keep them:
///
/// - The previous conditions of known types keep their places (others are dropped); a missing
///   one is added as Unknown `AwaitingReconciliation`.
/// - Setting a condition to what it already is changes nothing; any other change moves it to
///   the end, with `lastTransitionTime` kept while the status stays, and the list is sorted by
///   `lastTransitionTime` (stable, so equal times keep their order) with the root last.
/// - After each change of a dependent the root is recomputed: True (reason = the root's type,
///   empty message) when every dependent is True for this generation; otherwise a copy of the
///   most recently transitioned False dependent, or else of the most recently transitioned
///   Unknown one (equal times: the first in list order).
#[derive(Debug, Clone)]
pub struct ConditionList {
    root: &'static str,
    dependents: Vec<&'static str>,
    generation: Option<i64>,
    now: String,
    list: Vec<Value>,
}

impl ConditionList {
    /// Starts from `previous` (wire order) for an object at `generation`; `now` (RFC 3339)
    /// stamps the conditions that change.
    #[must_use]
    pub fn new(
        root: &'static str,
        dependents: &[&'static str],
        previous: &[Value],
        generation: Option<i64>,
        now: &str,
    ) -> Self {
        let known = |c: &&Value| type_of(c).is_some_and(|t| t == root || dependents.contains(&t));
        let mut list = Self {
            root,
            dependents: dependents.to_vec(),
            generation,
            now: now.to_owned(),
            list: previous.iter().filter(known).cloned().collect(),
        };
        list.sort();
        for type_ in std::iter::once(root).chain(dependents.iter().copied()) {
            if list.get(type_).is_none() {
                let message = format!("condition \"{type_}\" is awaiting reconciliation");
                list.list.push(stamp(
                    type_,
                    ConditionStatus::Unknown.as_str(),
                    REASON_AWAITING_RECONCILIATION,
                    &message,
                    &[],
                    generation,
                    now,
                ));
                list.sort();
            }
        }
        list
    }

    /// Gives every condition the current generation (upstream does so while deleting).
    pub fn stamp_generation(&mut self) {
        if let Some(generation) = self.generation {
            for condition in &mut self.list {
                condition["observedGeneration"] = json!(generation);
            }
        }
    }

    /// Sets one condition (a dependent, or the root itself).
    pub fn set(&mut self, update: &ConditionUpdate) {
        let stamped = stamp(
            update.type_,
            update.status.as_str(),
            &update.reason,
            &update.message,
            &self.list,
            self.generation,
            &self.now,
        );
        if self.get(update.type_) == Some(&stamped) {
            return;
        }
        self.list.retain(|c| type_of(c) != Some(update.type_));
        self.list.push(stamped);
        self.sort();
        if update.type_ != self.root {
            self.recompute_root();
        }
    }

    /// The condition of `type_`, if any.
    #[must_use]
    pub fn get(&self, type_: &str) -> Option<&Value> {
        self.list.iter().find(|c| type_of(c) == Some(type_))
    }

    /// Whether `type_` is True for the current generation.
    #[must_use]
    pub fn is_true(&self, type_: &str) -> bool {
        self.get(type_)
            .is_some_and(|c| field(c, "status") == "True" && is_current(c, self.generation))
    }

    /// The conditions in wire order.
    #[must_use]
    pub fn into_conditions(self) -> Vec<Value> {
        self.list
    }

    fn sort(&mut self) {
        let root = self.root;
        self.list.sort_by(|a, b| {
            let is_root = |c: &Value| type_of(c) == Some(root);
            is_root(a)
                .cmp(&is_root(b))
                .then_with(|| transition_time(a).cmp(transition_time(b)))
        });
    }

    fn recompute_root(&mut self) {
        let dependents: Vec<&Value> = self
            .list
            .iter()
            .filter(|c| type_of(c).is_some_and(|t| self.dependents.contains(&t)))
            .collect();
        let Some((status, reason, message)) = root_condition(&dependents, self.generation) else {
            return;
        };
        let reason = reason.unwrap_or_else(|| self.root.to_owned());
        self.set(&ConditionUpdate {
            type_: self.root,
            status,
            reason,
            message,
        });
    }
}

fn is_current(condition: &Value, generation: Option<i64>) -> bool {
    generation.is_none()
        || condition.get("observedGeneration").and_then(Value::as_i64) == generation
}

fn type_of(condition: &Value) -> Option<&str> {
    condition.get("type").and_then(Value::as_str)
}

fn field<'a>(condition: &'a Value, name: &str) -> &'a str {
    condition
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn transition_time(condition: &Value) -> &str {
    condition
        .get("lastTransitionTime")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Status, reason (`None`: the root's own type) and message of the root over `dependents`, or
/// `None` when only stale True dependents are unhealthy (upstream then leaves the root alone).
fn root_condition(
    dependents: &[&Value],
    generation: Option<i64>,
) -> Option<(ConditionStatus, Option<String>, String)> {
    let mut unhealthy: Vec<&Value> = dependents
        .iter()
        .copied()
        .filter(|c| field(c, "status") != "True" || !is_current(c, generation))
        .collect();
    if unhealthy.is_empty() {
        return Some((ConditionStatus::True, None, String::new()));
    }
    // Most recent first; equal times keep list order.
    unhealthy.sort_by(|a, b| transition_time(b).cmp(transition_time(a)));
    let pick = |status: &str| unhealthy.iter().find(|c| field(c, "status") == status);
    let (status, chosen) = match pick("False") {
        Some(chosen) => (ConditionStatus::False, chosen),
        None => (ConditionStatus::Unknown, pick("Unknown")?),
    };
    Some((
        status,
        Some(field(chosen, "reason").to_owned()),
        field(chosen, "message").to_owned(),
    ))
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

    fn types(set: &[Value]) -> Vec<&str> {
        set.iter().filter_map(type_of).collect()
    }

    #[test]
    fn first_pass_orders_as_upstream_initialises() {
        let set = condition_set(&updates(ConditionStatus::False), &[], Some(1), "t1");
        assert_eq!(
            types(&set),
            [INSTANCE_MANAGED, GRAPH_RESOLVED, RESOURCES_READY, READY]
        );
    }

    #[test]
    fn equal_times_keep_the_wire_order_and_changes_move_last() {
        // On the wire: ResourcesReady before InstanceManaged, all at the same second.
        let wire: Vec<Value> = [RESOURCES_READY, GRAPH_RESOLVED, INSTANCE_MANAGED]
            .iter()
            .map(|t| stamp(t, "True", "R", "", &[], Some(1), "t1"))
            .collect();
        let unchanged = condition_set(
            &[
                ConditionUpdate::new(RESOURCES_READY, ConditionStatus::True, "R", ""),
                ConditionUpdate::new(GRAPH_RESOLVED, ConditionStatus::True, "R", ""),
                ConditionUpdate::new(INSTANCE_MANAGED, ConditionStatus::True, "R", ""),
            ],
            &wire,
            Some(1),
            "t1",
        );
        assert_eq!(
            types(&unchanged),
            [RESOURCES_READY, GRAPH_RESOLVED, INSTANCE_MANAGED, READY]
        );
        // A changed message at the same time moves the condition after its equals.
        let changed = condition_set(
            &[ConditionUpdate::new(
                RESOURCES_READY,
                ConditionStatus::True,
                "R",
                "new",
            )],
            &wire,
            Some(1),
            "t1",
        );
        assert_eq!(
            types(&changed),
            [GRAPH_RESOLVED, INSTANCE_MANAGED, RESOURCES_READY, READY]
        );
    }

    #[test]
    fn untouched_dependents_keep_their_value_and_missing_ones_await() {
        let wire = vec![stamp(
            INSTANCE_MANAGED,
            "True",
            REASON_MANAGED,
            "m",
            &[],
            Some(1),
            "t0",
        )];
        let set = condition_set_with(
            &[ConditionUpdate::new(
                RESOURCES_READY,
                ConditionStatus::Unknown,
                REASON_UNDER_DELETION,
                "deleting resources",
            )],
            &wire,
            Some(2),
            "t1",
            true,
        );
        let managed = &set[0];
        assert_eq!(managed["type"], INSTANCE_MANAGED);
        assert_eq!(managed["message"], "m");
        assert_eq!(managed["lastTransitionTime"], "t0");
        assert_eq!(
            managed["observedGeneration"], 2,
            "deletion bumps the generation"
        );
        let resolved = set
            .iter()
            .find(|c| c["type"] == GRAPH_RESOLVED)
            .expect("initialised");
        assert_eq!(resolved["status"], "Unknown");
        assert_eq!(resolved["reason"], REASON_AWAITING_RECONCILIATION);
        assert_eq!(
            resolved["message"],
            "condition \"GraphResolved\" is awaiting reconciliation"
        );
        let root = set.last().expect("root");
        assert_eq!(root["status"], "Unknown");
        // Equal times: the first Unknown in list order wins, as upstream's sort keeps it.
        assert_eq!(root["message"], resolved["message"]);
    }

    #[test]
    fn unknown_dependent_makes_root_unknown() {
        let set = condition_set(&updates(ConditionStatus::Unknown), &[], None, "t");
        assert_eq!(set.last().expect("present")["status"], "Unknown");
        assert!(!ready_is_true(&set));
    }
}
