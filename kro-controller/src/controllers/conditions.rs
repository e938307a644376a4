//! The RGD's conditions: a root `Ready` over a fixed list of dependents, kept by the same
//! condition list as instance conditions ([`kro_api::conditions::ConditionList`]), which follows
//! upstream kro's rules (order, transition times, the root's reason and message).

use kro_api::Condition;
pub use kro_api::conditions::READY;
use kro_api::conditions::{ConditionList, ConditionStatus, ConditionUpdate};
use serde_json::Value;
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
pub type Status = ConditionStatus;

/// Conditions being computed for one status write.
#[derive(Debug, Clone)]
pub struct ConditionSet {
    list: ConditionList,
}

impl ConditionSet {
    /// Starts from the `previous` conditions of an object at `generation`; `now` (RFC 3339) stamps
    /// the conditions that change. Condition types outside the set (e.g. legacy ones) are
    /// dropped.
    #[must_use]
    pub fn new(
        previous: &[Condition],
        dependents: &[&'static str],
        generation: i64,
        now: impl Into<String>,
    ) -> Self {
        let previous: Vec<Value> = previous
            .iter()
            .filter_map(|condition| serde_json::to_value(condition).ok())
            .collect();
        Self {
            list: ConditionList::new(READY, dependents, &previous, Some(generation), &now.into()),
        }
    }

    /// Sets a dependent condition; its transition time moves only when the status changes.
    pub fn set(
        &mut self,
        type_: &'static str,
        status: Status,
        reason: &str,
        message: impl Into<String>,
    ) {
        self.list
            .set(&ConditionUpdate::new(type_, status, reason, message));
    }

    /// Whether `type_` is True for the current generation.
    #[must_use]
    pub fn is_true(&self, type_: &str) -> bool {
        self.list.is_true(type_)
    }

    /// The conditions in wire order, root last.
    #[must_use]
    pub fn finish(self) -> Vec<Condition> {
        self.list
            .into_conditions()
            .into_iter()
            .filter_map(|condition| serde_json::from_value(condition).ok())
            .collect()
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
        // Upstream writes the root's empty message as "".
        assert_eq!(ready.message.as_deref(), Some(""));
        assert_eq!(ready.observed_generation, Some(2));

        // A new generation: previous True conditions are stale until set again. Upstream then
        // leaves the root as it was (still at the old generation), and nothing counts as true.
        let mut next = ConditionSet::new(&conditions, &RGD_DEPENDENTS, 3, "t2");
        next.set(GRAPH_ACCEPTED, Status::True, "Valid", "");
        assert!(next.is_true(GRAPH_ACCEPTED));
        assert!(!next.is_true(KIND_READY), "stale until set again");
        let conditions = next.finish();
        assert_eq!(status_of(&conditions, READY).observed_generation, Some(2));
        // Once every dependent is set for generation 3, the root follows.
        let mut full = ConditionSet::new(&conditions, &RGD_DEPENDENTS, 3, "t3");
        for dependent in RGD_DEPENDENTS {
            full.set(dependent, Status::True, "Ok", "");
        }
        let conditions = full.finish();
        assert_eq!(status_of(&conditions, READY).observed_generation, Some(3));
        assert_eq!(status_of(&conditions, READY).status, "True");
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
