//! Children whose instance is gone with nobody left to delete them.
//!
//! An instance can disappear without kro's deletion ever running: someone removes kro's
//! finalizer and deletes it while no operator runs, or the API server loses the finalizer race
//! of kubernetes issue 77988 while no watch sees the deletion. The watch that would have
//! reported the deletion is not there, so nothing carries the instance's last state; only its
//! children remain, still labelled with the instance's identity. Found by listing kro-owned
//! objects (at start-up and after every re-list of the instances), they are deleted here with
//! the same rules as a vanished instance seen by a watch: only members of the instance's own
//! ApplySet, highest apply order first, UID preconditions, and never while an instance of the
//! same name exists (its reconcile adopts or prunes them).

use std::collections::{BTreeMap, BTreeSet};

use kro_applyset::labels::{
    INSTANCE_GROUP_LABEL, INSTANCE_ID_LABEL, INSTANCE_KIND_LABEL, INSTANCE_NAME_LABEL,
    INSTANCE_NAMESPACE_LABEL, OWNED_LABEL,
};
use kro_applyset::{ChildMeta, Deletion, DeletionPlan, ParentRef};

/// An instance that exists now, as the instance list reports it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LiveInstance {
    /// `metadata.namespace`; `None` for a cluster-scoped kind.
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
}

/// An instance that no longer exists and the children it left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrphanedInstance {
    /// The vanished instance (its ApplySet parent).
    pub parent: ParentRef,
    /// The UID its children carry in `kro.run/instance-id`.
    pub uid: String,
    /// Its remaining ApplySet members, highest apply order first, terminating ones left out.
    pub deletions: Vec<Deletion>,
}

/// The instances of kind `group`/`kind` that left children behind.
///
/// `children` must have been listed before `live`: a child created for an instance after the
/// instance list was taken would otherwise look orphaned. Children that are not kro-owned, belong
/// to another kind of instance, carry the UID of a live instance, share the name of a live
/// instance, or are not members of the ApplySet their labels name are never returned.
pub fn orphaned_instances(
    group: &str,
    kind: &str,
    live: &[LiveInstance],
    children: &[ChildMeta],
) -> Vec<OrphanedInstance> {
    let live_uids: BTreeSet<&str> = live.iter().map(|instance| instance.uid.as_str()).collect();
    let live_names: BTreeSet<(Option<&str>, &str)> = live
        .iter()
        .map(|instance| (instance.namespace.as_deref(), instance.name.as_str()))
        .collect();
    let mut by_instance: BTreeMap<(&str, ParentRef), Vec<ChildMeta>> = BTreeMap::new();
    for child in children {
        let label = |name: &str| child.labels.get(name).map(String::as_str);
        let owned_here = label(OWNED_LABEL) == Some("true")
            && label(INSTANCE_GROUP_LABEL) == Some(group)
            && label(INSTANCE_KIND_LABEL) == Some(kind);
        let (Some(uid), Some(name)) = (label(INSTANCE_ID_LABEL), label(INSTANCE_NAME_LABEL)) else {
            continue;
        };
        let namespace = label(INSTANCE_NAMESPACE_LABEL).filter(|namespace| !namespace.is_empty());
        if !owned_here
            || uid.is_empty()
            || live_uids.contains(uid)
            || live_names.contains(&(namespace, name))
        {
            continue;
        }
        let parent = ParentRef {
            group: group.to_owned(),
            kind: kind.to_owned(),
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
        };
        by_instance
            .entry((uid, parent))
            .or_default()
            .push(child.clone());
    }
    by_instance
        .into_iter()
        .filter_map(|((uid, parent), members)| {
            // Only members of the ApplySet the labels name: a child whose part-of label does not
            // match the parent derived from its own labels was not put there by kro.
            let deletions: Vec<Deletion> = DeletionPlan::new(&parent.applyset_id(), &members)
                .waves
                .into_iter()
                .flat_map(|wave| wave.members)
                .filter(|deletion| !deletion.terminating)
                .collect();
            (!deletions.is_empty()).then(|| OrphanedInstance {
                parent,
                uid: uid.to_owned(),
                deletions,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use kro_applyset::labels::{APPLY_ORDER_ANNOTATION, PART_OF_LABEL};
    use serde_json::json;

    use super::*;

    const GROUP: &str = "kro.run";
    const KIND: &str = "WebApp";

    fn applyset_of(name: &str) -> String {
        ParentRef {
            group: GROUP.into(),
            kind: KIND.into(),
            namespace: Some("ns".into()),
            name: name.into(),
        }
        .applyset_id()
    }

    fn child(kind: &str, name: &str, instance: &str, uid: &str, order: u64) -> ChildMeta {
        ChildMeta::from_object(&json!({
            "apiVersion": "v1", "kind": kind,
            "metadata": {
                "name": name, "namespace": "ns", "uid": format!("{name}-uid"),
                "labels": {
                    OWNED_LABEL: "true", INSTANCE_GROUP_LABEL: GROUP, INSTANCE_KIND_LABEL: KIND,
                    INSTANCE_NAME_LABEL: instance, INSTANCE_NAMESPACE_LABEL: "ns",
                    INSTANCE_ID_LABEL: uid, PART_OF_LABEL: applyset_of(instance),
                },
                "annotations": {APPLY_ORDER_ANNOTATION: order.to_string()},
            }
        }))
        .expect("a valid child")
    }

    fn live(name: &str, uid: &str) -> LiveInstance {
        LiveInstance {
            namespace: Some("ns".into()),
            name: name.into(),
            uid: uid.into(),
        }
    }

    #[test]
    fn children_of_a_gone_instance_are_deleted_highest_order_first() {
        let children = [
            child("ConfigMap", "base", "gone", "u1", 1),
            child("Service", "front", "gone", "u1", 2),
            child("ConfigMap", "kept", "here", "u2", 1),
        ];
        let orphans = orphaned_instances(GROUP, KIND, &[live("here", "u2")], &children);
        assert_eq!(orphans.len(), 1);
        assert_eq!(orphans[0].uid, "u1");
        assert_eq!(orphans[0].parent.name, "gone");
        let names: Vec<&str> = orphans[0]
            .deletions
            .iter()
            .map(|d| d.key.name.as_str())
            .collect();
        assert_eq!(names, ["front", "base"]);
        assert_eq!(orphans[0].deletions[0].uid_precondition, "front-uid");
    }

    #[test]
    fn an_instance_of_the_same_name_keeps_the_children_for_adoption() {
        let children = [child("ConfigMap", "base", "app", "old-uid", 1)];
        let orphans = orphaned_instances(GROUP, KIND, &[live("app", "new-uid")], &children);
        assert!(orphans.is_empty());
    }

    #[test]
    fn children_outside_the_named_applyset_or_kind_are_left_alone() {
        let mut foreign = child("ConfigMap", "foreign", "gone", "u1", 1);
        foreign
            .labels
            .insert(PART_OF_LABEL.into(), "applyset-someone-else-v1".into());
        let mut other_kind = child("ConfigMap", "other", "gone", "u1", 1);
        other_kind
            .labels
            .insert(INSTANCE_KIND_LABEL.into(), "Other".into());
        let mut not_owned = child("ConfigMap", "loose", "gone", "u1", 1);
        not_owned.labels.remove(OWNED_LABEL);
        let orphans = orphaned_instances(GROUP, KIND, &[], &[foreign, other_kind, not_owned]);
        assert!(orphans.is_empty(), "{orphans:?}");
    }

    #[test]
    fn terminating_children_are_not_deleted_again() {
        let mut going = child("ConfigMap", "going", "gone", "u1", 1);
        going.terminating = true;
        let orphans = orphaned_instances(GROUP, KIND, &[], &[going]);
        assert!(orphans.is_empty());
    }
}
