//! The instance's conditions: `Ready` over `InstanceManaged`, `GraphResolved` and
//! `ResourcesReady`, with upstream kro's reasons, kept by kro-api's condition list.

pub use kro_api::conditions::{
    ConditionList, ConditionStatus, ConditionUpdate, READY, REASON_AWAITING_RECONCILIATION,
};
pub(crate) use kro_api::conditions::{ready_is_true, stamp};
use serde_json::Value;

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

/// The dependents of `Ready`, in the order upstream kro initialises them.
pub const DEPENDENTS: [&str; 3] = [INSTANCE_MANAGED, GRAPH_RESOLVED, RESOURCES_READY];

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
        set.iter()
            .filter_map(|condition| condition.get("type").and_then(Value::as_str))
            .collect()
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
