//! Instance deletion without the graph: the parent's validated inventory says where to look, the
//! members' `apply-order` annotations say in which order to delete.
//!
//! Per reconcile of a deleting instance: [`deletion_scope`] (blocked if the inventory does not
//! validate) → list → [`plan_deletion`] → delete the non-terminating members of
//! [`DeletionPlan::next_wave`] with their UID preconditions → requeue until the wave is gone.
//! When the plan is complete the finalizer can be removed.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use thiserror::Error;

use crate::error::InventoryError;
use crate::id::ParentRef;
use crate::inventory::validate_parent_inventory;
use crate::labels::{APPLY_ORDER_ANNOTATION, PART_OF_LABEL};
use crate::object::ChildMeta;
use crate::prune::{Deletion, PruneScope};

/// Deletion cannot proceed because the parent's inventory does not validate: without a
/// trustworthy inventory kro could miss members or delete objects it does not own.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize)]
#[error("deletion blocked: {reason}")]
pub struct DeletionBlocked {
    /// What is wrong with the inventory.
    #[serde(serialize_with = "serialize_display")]
    pub reason: InventoryError,
}

fn serialize_display<S: serde::Serializer>(
    value: &InventoryError,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// Validates the parent's inventory and returns where its members may be.
pub fn deletion_scope(
    parent: &ParentRef,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> Result<PruneScope, DeletionBlocked> {
    let inventory = validate_parent_inventory(parent, labels, annotations)
        .map_err(|reason| DeletionBlocked { reason })?;
    Ok(PruneScope::new(parent, &inventory))
}

/// Wave number used for members without a valid positive `apply-order`: deleted last.
pub const FALLBACK_DELETION_ORDER: u64 = 0;

/// The deletion wave of a member: its `internal.kro.run/apply-order` when that is a positive
/// decimal integer (an optional leading `+` is accepted), otherwise [`FALLBACK_DELETION_ORDER`].
pub fn deletion_order(child: &ChildMeta) -> u64 {
    child
        .annotations
        .get(APPLY_ORDER_ANNOTATION)
        .and_then(|raw| raw.parse::<i64>().ok())
        .and_then(|order| u64::try_from(order).ok())
        .filter(|order| *order > 0)
        .unwrap_or(FALLBACK_DELETION_ORDER)
}

/// Members sharing one apply order, deleted together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeletionWave {
    /// The apply order; [`FALLBACK_DELETION_ORDER`] for members without a valid one.
    pub order: u64,
    /// Every member of the wave, sorted by key, terminating ones included (the wave is done only
    /// when they are all gone).
    pub members: Vec<Deletion>,
}

impl DeletionWave {
    /// The members to issue a delete for: those not already terminating.
    pub fn to_delete(&self) -> impl Iterator<Item = &Deletion> {
        self.members.iter().filter(|deletion| !deletion.terminating)
    }
}

/// All remaining members grouped into waves, highest apply order first, fallback last.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeletionPlan {
    /// Waves in execution order.
    pub waves: Vec<DeletionWave>,
}

impl DeletionPlan {
    /// Groups `members` of ApplySet `applyset_id` into waves. Objects not labelled
    /// `part-of=<applyset_id>` are ignored and duplicates (same UID) counted once.
    pub fn new(applyset_id: &str, members: &[ChildMeta]) -> Self {
        let mut seen_uids = BTreeSet::new();
        let mut grouped: BTreeMap<std::cmp::Reverse<u64>, Vec<Deletion>> = BTreeMap::new();
        for member in members
            .iter()
            .filter(|child| {
                child
                    .labels
                    .get(PART_OF_LABEL)
                    .is_some_and(|id| id == applyset_id)
            })
            .filter(|child| seen_uids.insert(child.uid.as_str()))
        {
            grouped
                .entry(std::cmp::Reverse(deletion_order(member)))
                .or_default()
                .push(Deletion::of_member(member));
        }
        let waves = grouped
            .into_iter()
            .map(|(std::cmp::Reverse(order), mut members)| {
                members.sort();
                DeletionWave { order, members }
            })
            .collect();
        Self { waves }
    }

    /// The wave to work on now: the highest remaining apply order. `None` when no member is
    /// left and the finalizer may be removed.
    pub fn next_wave(&self) -> Option<&DeletionWave> {
        self.waves.first()
    }

    /// Whether every member is gone.
    pub fn is_complete(&self) -> bool {
        self.waves.is_empty()
    }
}

/// Validates the parent's inventory, then plans the deletion of the `members` listed in its
/// scope. `members` must come from listing [`deletion_scope`]'s requests.
pub fn plan_deletion(
    parent: &ParentRef,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    members: &[ChildMeta],
) -> Result<DeletionPlan, DeletionBlocked> {
    validate_parent_inventory(parent, labels, annotations)
        .map_err(|reason| DeletionBlocked { reason })?;
    Ok(DeletionPlan::new(&parent.applyset_id(), members))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::ParentMetadata;
    use crate::labels::{CONTAINS_GROUP_KINDS_ANNOTATION, INVENTORY_HASH_ANNOTATION};
    use crate::object::ObjectKey;

    fn parent() -> ParentRef {
        ParentRef {
            group: "kro.run".into(),
            kind: "WebApp".into(),
            namespace: Some("team".into()),
            name: "web".into(),
        }
    }

    fn member(name: &str, order: Option<&str>, terminating: bool) -> ChildMeta {
        let mut annotations = BTreeMap::new();
        if let Some(order) = order {
            annotations.insert(APPLY_ORDER_ANNOTATION.to_owned(), order.to_owned());
        }
        ChildMeta {
            key: ObjectKey::namespaced("", "v1", "ConfigMap", "team", name),
            uid: format!("uid-{name}"),
            labels: BTreeMap::from([(PART_OF_LABEL.to_owned(), parent().applyset_id())]),
            annotations,
            terminating,
        }
    }

    fn valid_metadata() -> ParentMetadata {
        let applied = [ObjectKey::namespaced("", "v1", "ConfigMap", "team", "a")];
        ParentMetadata::for_applied(&parent(), "kro/v0.9.0", &applied)
    }

    #[test]
    fn apply_order_parsing() {
        assert_eq!(deletion_order(&member("a", Some("3"), false)), 3);
        assert_eq!(deletion_order(&member("a", Some("+2"), false)), 2);
        for invalid in [
            None,
            Some(""),
            Some("0"),
            Some("-1"),
            Some("x"),
            Some(" 1"),
            Some("1.5"),
        ] {
            assert_eq!(
                deletion_order(&member("a", invalid, false)),
                FALLBACK_DELETION_ORDER,
                "{invalid:?}"
            );
        }
    }

    #[test]
    fn waves_run_highest_first_and_fallback_last() {
        let members = vec![
            member("root", Some("1"), false),
            member("unordered", None, false),
            member("leaf", Some("3"), false),
            member("garbage", Some("abc"), false),
            member("mid", Some("2"), false),
            member("leaf-b", Some("3"), true),
        ];
        let plan = plan_deletion(
            &parent(),
            &valid_metadata().labels,
            &valid_metadata().annotations,
            &members,
        )
        .expect("valid inventory");
        let shape: Vec<(u64, Vec<&str>)> = plan
            .waves
            .iter()
            .map(|w| {
                (
                    w.order,
                    w.members.iter().map(|m| m.key.name.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                (3, vec!["leaf", "leaf-b"]),
                (2, vec!["mid"]),
                (1, vec!["root"]),
                (0, vec!["garbage", "unordered"]),
            ]
        );
        let next = plan.next_wave().expect("members remain");
        let deletes: Vec<&str> = next
            .to_delete()
            .map(|d| d.uid_precondition.as_str())
            .collect();
        assert_eq!(deletes, vec!["uid-leaf"]);
        assert!(!plan.is_complete());
    }

    #[test]
    fn no_members_means_complete() {
        let plan = plan_deletion(
            &parent(),
            &valid_metadata().labels,
            &valid_metadata().annotations,
            &[],
        )
        .expect("valid inventory");
        assert!(plan.is_complete());
        assert!(plan.next_wave().is_none());
    }

    #[test]
    fn foreign_objects_are_never_planned() {
        let mut foreign = member("foreign", Some("5"), false);
        foreign
            .labels
            .insert(PART_OF_LABEL.to_owned(), "applyset-other-v1".to_owned());
        let plan = DeletionPlan::new(
            &parent().applyset_id(),
            &[foreign, member("mine", None, false)],
        );
        assert_eq!(plan.waves.len(), 1);
        assert_eq!(plan.waves[0].members[0].key.name, "mine");
    }

    #[test]
    fn invalid_inventory_blocks_with_reason() {
        let mut metadata = valid_metadata();
        metadata.annotations.insert(
            CONTAINS_GROUP_KINDS_ANNOTATION.to_owned(),
            "ConfigMap,Secret".to_owned(),
        );
        let blocked = plan_deletion(&parent(), &metadata.labels, &metadata.annotations, &[])
            .expect_err("hash no longer matches");
        assert!(matches!(blocked.reason, InventoryError::Hash { .. }));
        assert!(blocked.to_string().starts_with(
            "deletion blocked: annotation internal.kro.run/applyset-inventory-hash: expected"
        ));

        let blocked = deletion_scope(&parent(), &BTreeMap::new(), &metadata.annotations)
            .expect_err("no id label");
        assert!(matches!(
            blocked.reason,
            InventoryError::IdLabel { found: None, .. }
        ));
        let json = serde_json::to_value(&blocked).expect("serialisable");
        assert!(
            json["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("label applyset.kubernetes.io/id"))
        );
    }

    #[test]
    fn scope_comes_from_validated_inventory() {
        let metadata = valid_metadata();
        let scope =
            deletion_scope(&parent(), &metadata.labels, &metadata.annotations).expect("valid");
        assert_eq!(scope.namespaces, BTreeSet::from(["team".to_owned()]));
        assert_eq!(scope.group_kinds.len(), 1);
        let mut without_hash = metadata.annotations.clone();
        without_hash.remove(INVENTORY_HASH_ANNOTATION);
        assert!(deletion_scope(&parent(), &metadata.labels, &without_hash).is_ok());
    }
}
