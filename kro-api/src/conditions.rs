//! Condition sets as kro keeps them on instances and RGDs: a root `Ready` condition over
//! dependent conditions, each stamped with `observedGeneration`, `lastTransitionTime` kept while
//! the status is unchanged, in upstream kro's order. One implementation for every kro object.

use serde_json::{Map, Value, json};

/// The root condition type.
pub const READY: &str = "Ready";
/// Reason of a dependent condition no pass has set yet.
pub const REASON_AWAITING_RECONCILIATION: &str = "AwaitingReconciliation";

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
pub fn stamp(
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
pub fn ready_is_true(conditions: &[Value]) -> bool {
    conditions.iter().any(|condition| {
        condition.get("type").and_then(Value::as_str) == Some(READY)
            && condition.get("status").and_then(Value::as_str) == Some("True")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_turns_true_when_every_dependent_is_true_for_the_generation() {
        let mut list = ConditionList::new(READY, &["A", "B"], &[], Some(2), "t1");
        list.set(&ConditionUpdate::new(
            "A",
            ConditionStatus::True,
            "Done",
            "",
        ));
        assert!(!list.is_true(READY));
        list.set(&ConditionUpdate::new(
            "B",
            ConditionStatus::True,
            "Done",
            "",
        ));
        assert!(list.is_true(READY));
        let conditions = list.into_conditions();
        let root = conditions.last().expect("the root is last");
        assert_eq!(root["type"], READY);
        assert_eq!(root["observedGeneration"], 2);
    }
}
