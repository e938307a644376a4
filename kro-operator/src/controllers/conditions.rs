//! kro's condition-set mechanics for the RGD status: a root `Ready` condition summarising a
//! fixed list of dependent conditions.
//!
//! - Dependents missing from the previous status start as `Unknown`.
//! - Every condition set in this pass carries the current `observedGeneration`.
//! - `lastTransitionTime` is kept when the status value did not change, so that a steady state
//!   rewrites nothing.
//! - Root `Ready` is True (reason `Ready`, no message) when every dependent is True for the current
//!   generation; otherwise it copies the False dependent that changed last, else it is Unknown.
//! - The list is ordered by `lastTransitionTime` (type breaks ties), root last.

use std::collections::BTreeMap;

use kro_graph::api::Condition;

/// Type of the root condition.
pub const READY: &str = "Ready";
/// The RGD compiled.
pub const GRAPH_ACCEPTED: &str = "GraphAccepted";
/// The generated CRD is applied and established.
pub const KIND_READY: &str = "KindReady";
/// The instance controller runs.
pub const CONTROLLER_READY: &str = "ControllerReady";
/// The newest GraphRevision is compiled and serving.
pub const GRAPH_REVISIONS_RESOLVED: &str = "GraphRevisionsResolved";

/// The dependents of the RGD's root condition, in upstream's order.
pub const RGD_DEPENDENTS: [&str; 4] = [
    GRAPH_REVISIONS_RESOLVED,
    GRAPH_ACCEPTED,
    KIND_READY,
    CONTROLLER_READY,
];

/// `True`, `False` or `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// Not known yet.
    Unknown,
}

impl Status {
    /// The wire spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Status::True => "True",
            Status::False => "False",
            Status::Unknown => "Unknown",
        }
    }
}

/// Conditions being computed for one status write.
#[derive(Debug, Clone)]
pub struct ConditionSet {
    generation: i64,
    now: String,
    dependents: Vec<&'static str>,
    conditions: BTreeMap<String, Condition>,
}

impl ConditionSet {
    /// Starts from the `previous` conditions of an object at `generation`; `now` (RFC 3339) stamps
    /// the conditions that change. Unknown condition types in `previous` (e.g. legacy ones) are
    /// dropped.
    #[must_use]
    pub fn new(
        previous: &[Condition],
        dependents: &[&'static str],
        generation: i64,
        now: impl Into<String>,
    ) -> Self {
        let now = now.into();
        let mut conditions = BTreeMap::new();
        for dependent in dependents.iter().copied().chain([READY]) {
            let condition = previous
                .iter()
                .find(|condition| condition.type_ == dependent)
                .cloned()
                .unwrap_or_else(|| Condition {
                    type_: dependent.to_owned(),
                    status: Status::Unknown.as_str().to_owned(),
                    reason: Some("Initializing".to_owned()),
                    message: None,
                    last_transition_time: Some(now.clone()),
                    observed_generation: Some(generation),
                });
            conditions.insert(dependent.to_owned(), condition);
        }
        Self {
            generation,
            now,
            dependents: dependents.to_vec(),
            conditions,
        }
    }

    /// Sets a dependent condition; its transition time moves only when the status changes.
    pub fn set(&mut self, type_: &str, status: Status, reason: &str, message: impl Into<String>) {
        let message = message.into();
        let previous = self.conditions.get(type_);
        let last_transition_time = match previous {
            Some(old) if old.status == status.as_str() => old
                .last_transition_time
                .clone()
                .or_else(|| Some(self.now.clone())),
            _ => Some(self.now.clone()),
        };
        self.conditions.insert(
            type_.to_owned(),
            Condition {
                type_: type_.to_owned(),
                status: status.as_str().to_owned(),
                reason: Some(reason.to_owned()),
                message: (!message.is_empty()).then_some(message),
                last_transition_time,
                observed_generation: Some(self.generation),
            },
        );
    }

    /// Whether `type_` is True for the current generation.
    #[must_use]
    pub fn is_true(&self, type_: &str) -> bool {
        self.conditions.get(type_).is_some_and(|condition| {
            condition.status == Status::True.as_str()
                && condition.observed_generation == Some(self.generation)
        })
    }

    /// The condition of `type_`, if any.
    #[must_use]
    pub fn get(&self, type_: &str) -> Option<&Condition> {
        self.conditions.get(type_)
    }

    /// Computes the root condition and returns the list in wire order.
    #[must_use]
    pub fn finish(mut self) -> Vec<Condition> {
        let all_true = self
            .dependents
            .iter()
            .all(|dependent| self.is_true(dependent));
        if all_true {
            self.set(READY, Status::True, READY, "");
        } else {
            let latest_false = self
                .dependents
                .iter()
                .filter_map(|dependent| self.conditions.get(*dependent))
                .filter(|condition| condition.status == Status::False.as_str())
                .max_by(|a, b| a.last_transition_time.cmp(&b.last_transition_time))
                .cloned();
            match latest_false {
                Some(source) => self.set(
                    READY,
                    Status::False,
                    source.reason.as_deref().unwrap_or("NotReady"),
                    source.message.unwrap_or_default(),
                ),
                None => {
                    let waiting = self
                        .dependents
                        .iter()
                        .find(|dependent| !self.is_true(dependent))
                        .and_then(|dependent| self.conditions.get(*dependent))
                        .cloned();
                    let reason = waiting
                        .as_ref()
                        .and_then(|condition| condition.reason.clone())
                        .unwrap_or_else(|| "Initializing".to_owned());
                    let message = waiting
                        .and_then(|condition| condition.message)
                        .unwrap_or_default();
                    self.set(READY, Status::Unknown, &reason, message);
                }
            }
        }
        let root = self.conditions.remove(READY);
        let mut ordered: Vec<Condition> = self.conditions.into_values().collect();
        ordered.sort_by(|a, b| {
            a.last_transition_time
                .cmp(&b.last_transition_time)
                .then_with(|| a.type_.cmp(&b.type_))
        });
        ordered.extend(root);
        ordered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_of<'a>(conditions: &'a [Condition], type_: &str) -> &'a Condition {
        conditions
            .iter()
            .find(|condition| condition.type_ == type_)
            .expect("condition present")
    }

    #[test]
    fn missing_dependents_start_unknown_and_root_is_unknown() {
        let set = ConditionSet::new(&[], &RGD_DEPENDENTS, 1, "2026-01-01T00:00:00Z");
        let conditions = set.finish();
        assert_eq!(conditions.len(), 5);
        assert_eq!(conditions.last().map(|c| c.type_.as_str()), Some(READY));
        assert_eq!(status_of(&conditions, READY).status, "Unknown");
        assert_eq!(status_of(&conditions, KIND_READY).status, "Unknown");
    }

    #[test]
    fn root_is_true_only_when_every_dependent_is_true_for_this_generation() {
        let mut set = ConditionSet::new(&[], &RGD_DEPENDENTS, 2, "t1");
        for dependent in RGD_DEPENDENTS {
            set.set(dependent, Status::True, "Ok", "");
        }
        let conditions = set.finish();
        let ready = status_of(&conditions, READY);
        assert_eq!(ready.status, "True");
        assert_eq!(ready.reason.as_deref(), Some(READY));
        assert_eq!(ready.message, None);
        assert_eq!(ready.observed_generation, Some(2));

        // A new generation: previous True conditions are stale until set again.
        let mut next = ConditionSet::new(&conditions, &RGD_DEPENDENTS, 3, "t2");
        next.set(GRAPH_ACCEPTED, Status::True, "Valid", "");
        let conditions = next.finish();
        assert_eq!(status_of(&conditions, READY).status, "Unknown");
    }

    #[test]
    fn root_copies_the_latest_false_dependent() {
        let mut set = ConditionSet::new(&[], &RGD_DEPENDENTS, 1, "t1");
        set.set(GRAPH_ACCEPTED, Status::False, "InvalidResourceGraph", "bad");
        let conditions = set.finish();
        let mut next = ConditionSet::new(&conditions, &RGD_DEPENDENTS, 1, "t2");
        next.set(KIND_READY, Status::False, "Failed", "breaking change");
        let conditions = next.finish();
        let ready = status_of(&conditions, READY);
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason.as_deref(), Some("Failed"));
        assert_eq!(ready.message.as_deref(), Some("breaking change"));
    }

    #[test]
    fn transition_time_is_kept_while_the_status_is_unchanged() {
        let mut set = ConditionSet::new(&[], &RGD_DEPENDENTS, 1, "t1");
        set.set(GRAPH_ACCEPTED, Status::True, "Valid", "");
        let first = set.finish();
        let mut again = ConditionSet::new(&first, &RGD_DEPENDENTS, 1, "t9");
        again.set(GRAPH_ACCEPTED, Status::True, "Valid", "");
        let second = again.finish();
        assert_eq!(
            status_of(&second, GRAPH_ACCEPTED)
                .last_transition_time
                .as_deref(),
            Some("t1")
        );
        let mut flip = ConditionSet::new(&second, &RGD_DEPENDENTS, 1, "t10");
        flip.set(GRAPH_ACCEPTED, Status::False, "InvalidResourceGraph", "x");
        let third = flip.finish();
        assert_eq!(
            status_of(&third, GRAPH_ACCEPTED)
                .last_transition_time
                .as_deref(),
            Some("t10")
        );
    }
}
