//! Pruning: which objects to list, which of them are orphans, and in which waves to delete them.
//!
//! One reconcile pass uses this module as follows:
//! 1. [`PassInventory::new`] from the objects about to be applied and the parent's annotations;
//!    write [`PassInventory::superset_metadata`] to the parent *before* applying, so a crash
//!    never forgets a group-kind or namespace that may hold members.
//! 2. Apply. If any node was data-pending or any apply failed, stop: [`prune_gate`] says why.
//! 3. List every request of [`PruneScope::list_requests`], build [`ChildMeta`]s, and compute a
//!    [`PrunePlan`] with [`plan_prune`]. Delete wave by wave with the UID preconditions.
//! 4. If every deletion succeeded, write [`PassInventory::batch_metadata`] (the inventory shrinks
//!    to this pass); if one hit a UID conflict, keep the superset and retry next pass.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use thiserror::Error;

use crate::error::InventoryError;
use crate::id::ParentRef;
use crate::inventory::{Inventory, ParentMetadata};
use crate::labels::{NODE_ID_LABEL, PART_OF_LABEL};
use crate::object::{ChildMeta, GroupKind, ObjectIdentity, ObjectKey, default_child_namespace};

/// The label selector matching members of ApplySet `applyset_id`.
pub fn part_of_selector(applyset_id: &str) -> String {
    format!("{PART_OF_LABEL}={applyset_id}")
}

/// Why pruning is skipped this pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error, Serialize)]
pub enum PruneSkipped {
    /// Some node's desired object could not be computed yet; pruning now would delete objects
    /// that are still wanted but were left out of this pass's apply.
    #[error("prune skipped: some resources are waiting for data and were not applied")]
    DataPending,
    /// Some apply failed; its object may still be wanted.
    #[error("prune skipped: some resources failed to apply")]
    ApplyFailed,
}

/// Pruning runs only when every node resolved and every apply succeeded.
pub fn prune_gate(any_data_pending: bool, any_apply_failed: bool) -> Result<(), PruneSkipped> {
    if any_data_pending {
        Err(PruneSkipped::DataPending)
    } else if any_apply_failed {
        Err(PruneSkipped::ApplyFailed)
    } else {
        Ok(())
    }
}

/// The inventories of one reconcile pass: what this pass applies (`batch`) and that together
/// with what the parent remembers (`superset`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PassInventory {
    /// The parent whose ApplySet this is.
    pub parent: ParentRef,
    /// Group-kinds and namespaces of the objects applied this pass.
    pub batch: Inventory,
    /// `batch` plus the inventory remembered in the parent's annotations.
    pub superset: Inventory,
}

impl PassInventory {
    /// Builds the pass inventory from the objects to apply and the parent's current annotations.
    /// Fails when the remembered annotations do not parse (the prune scope would be unknown).
    pub fn new<'a>(
        parent: ParentRef,
        applied: impl IntoIterator<Item = &'a ObjectKey>,
        parent_annotations: &BTreeMap<String, String>,
    ) -> Result<Self, InventoryError> {
        let batch = Inventory::from_applied(parent.namespace.as_deref(), applied);
        let remembered = Inventory::from_annotations(parent_annotations)?;
        let superset = batch.union(&remembered);
        Ok(Self {
            parent,
            batch,
            superset,
        })
    }

    /// Parent metadata to write before applying (and to keep while a prune is incomplete).
    pub fn superset_metadata(&self, tooling: &str) -> ParentMetadata {
        ParentMetadata::new(&self.parent.applyset_id(), tooling, &self.superset)
    }

    /// Parent metadata to write once a prune completed without conflicts.
    pub fn batch_metadata(&self, tooling: &str) -> ParentMetadata {
        ParentMetadata::new(&self.parent.applyset_id(), tooling, &self.batch)
    }

    /// Where to look for orphans: the superset scope.
    pub fn prune_scope(&self) -> PruneScope {
        PruneScope::new(&self.parent, &self.superset)
    }
}

/// The search space for members of an ApplySet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PruneScope {
    /// Group-kinds to list.
    pub group_kinds: BTreeSet<GroupKind>,
    /// Namespaces to list namespaced kinds in: the additional namespaces plus the parent's
    /// namespace (`default` for a cluster-scoped parent).
    pub namespaces: BTreeSet<String>,
    /// Label selector every list uses.
    pub label_selector: String,
}

/// One LIST call of a prune or deletion scan.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ListRequest {
    /// Group-kind to list.
    pub group_kind: GroupKind,
    /// Namespace to list in; `None` for cluster-scoped kinds.
    pub namespace: Option<String>,
    /// Label selector (`applyset.kubernetes.io/part-of=<id>`).
    pub label_selector: String,
}

/// How the caller's API discovery classifies a group-kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum KindScope {
    /// The kind is namespaced.
    Namespaced,
    /// The kind is cluster-scoped.
    Cluster,
    /// The kind is not served (e.g. its CRD was deleted): nothing of it can exist, so it is
    /// skipped.
    Unknown,
}

/// The LIST calls of a scan, and the group-kinds skipped because discovery no longer knows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ListPlan {
    /// Calls to make, sorted.
    pub requests: Vec<ListRequest>,
    /// Group-kinds skipped as unknown.
    pub skipped: Vec<GroupKind>,
}

impl PruneScope {
    /// The scope of `inventory` for `parent`.
    pub fn new(parent: &ParentRef, inventory: &Inventory) -> Self {
        let mut namespaces = inventory.additional_namespaces.clone();
        namespaces.insert(default_child_namespace(parent.namespace.as_deref()).to_owned());
        Self {
            group_kinds: inventory.group_kinds.clone(),
            namespaces,
            label_selector: part_of_selector(&parent.applyset_id()),
        }
    }

    /// Expands the scope into LIST calls: one per namespace for namespaced kinds, one for
    /// cluster-scoped kinds; unknown kinds are skipped. `scope_of` is the caller's discovery
    /// lookup (callers should refresh discovery once before reporting a kind unknown).
    pub fn list_requests(&self, mut scope_of: impl FnMut(&GroupKind) -> KindScope) -> ListPlan {
        let mut plan = ListPlan::default();
        for group_kind in &self.group_kinds {
            match scope_of(group_kind) {
                KindScope::Namespaced => {
                    plan.requests
                        .extend(self.namespaces.iter().map(|namespace| ListRequest {
                            group_kind: group_kind.clone(),
                            namespace: Some(namespace.clone()),
                            label_selector: self.label_selector.clone(),
                        }));
                }
                KindScope::Cluster => plan.requests.push(ListRequest {
                    group_kind: group_kind.clone(),
                    namespace: None,
                    label_selector: self.label_selector.clone(),
                }),
                KindScope::Unknown => plan.skipped.push(group_kind.clone()),
            }
        }
        plan.requests.sort();
        plan
    }
}

/// The members of ApplySet `applyset_id` among `observed` that were not applied this pass.
///
/// Objects not labelled `part-of=<applyset_id>` are ignored (they are not members, whatever a
/// list returned); objects are matched to `applied` by group, kind, namespace and name, ignoring
/// the version; an object observed twice is reported once. The result is sorted by key.
pub fn find_orphans(
    applyset_id: &str,
    observed: &[ChildMeta],
    applied: &[ObjectKey],
) -> Vec<ChildMeta> {
    orphan_refs(applyset_id, observed, applied)
        .into_iter()
        .cloned()
        .collect()
}

fn orphan_refs<'a>(
    applyset_id: &str,
    observed: &'a [ChildMeta],
    applied: &[ObjectKey],
) -> Vec<&'a ChildMeta> {
    let applied: BTreeSet<ObjectIdentity<'_>> = applied.iter().map(ObjectKey::identity).collect();
    let mut seen_uids = BTreeSet::new();
    let mut orphans: Vec<&ChildMeta> = observed
        .iter()
        .filter(|child| {
            child
                .labels
                .get(PART_OF_LABEL)
                .is_some_and(|id| id == applyset_id)
        })
        .filter(|child| !applied.contains(&child.key.identity()))
        .filter(|child| seen_uids.insert(child.uid.as_str()))
        .collect();
    orphans.sort_by(|a, b| a.key.cmp(&b.key).then_with(|| a.uid.cmp(&b.uid)));
    orphans
}

/// One delete call: the object and the UID it must still have.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Deletion {
    /// The object to delete.
    pub key: ObjectKey,
    /// `preconditions.uid` of the delete: a recreated object with the same name is not deleted
    /// (the API server answers 409 Conflict, which the caller treats as "retry next pass").
    pub uid_precondition: String,
    /// The object's `kro.run/node-id` label, if any.
    pub node_id: Option<String>,
    /// Whether the object is already terminating (deleting it again is harmless but useless).
    pub terminating: bool,
}

impl Deletion {
    pub(crate) fn of_member(child: &ChildMeta) -> Self {
        Self {
            key: child.key.clone(),
            uid_precondition: child.uid.clone(),
            node_id: child.labels.get(NODE_ID_LABEL).cloned(),
            terminating: child.terminating,
        }
    }
}

/// Which objects a prune wave holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum PruneWaveKind {
    /// Orphans whose node id no longer exists in the graph (or that carry none).
    RemovedNodes,
    /// Orphans of nodes still in the graph with this apply order.
    ApplyOrder(u32),
    /// Orphans of nodes still in the graph that have no positive apply order.
    Unordered,
}

/// Deletions that may run concurrently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PruneWave {
    /// What the wave holds.
    pub kind: PruneWaveKind,
    /// The deletions, sorted by key.
    pub deletions: Vec<Deletion>,
}

/// Orphans grouped into waves, to delete in order (each wave after the previous one's deletes
/// were issued).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PrunePlan {
    /// Waves in execution order: removed nodes first, then apply orders from highest to
    /// lowest (dependents before their dependencies), then unordered.
    pub waves: Vec<PruneWave>,
}

impl PrunePlan {
    /// Groups `orphans` into waves using the current graph's apply order per node id.
    pub fn new<'a>(
        orphans: impl IntoIterator<Item = &'a ChildMeta>,
        graph_apply_orders: &BTreeMap<String, u32>,
    ) -> Self {
        let mut grouped: BTreeMap<WaveSortKey, Vec<Deletion>> = BTreeMap::new();
        for orphan in orphans {
            let node_order = orphan
                .labels
                .get(NODE_ID_LABEL)
                .and_then(|node_id| graph_apply_orders.get(node_id));
            let kind = match node_order {
                None => PruneWaveKind::RemovedNodes,
                Some(0) => PruneWaveKind::Unordered,
                Some(order) => PruneWaveKind::ApplyOrder(*order),
            };
            grouped
                .entry(WaveSortKey(kind))
                .or_default()
                .push(Deletion::of_member(orphan));
        }
        let waves = grouped
            .into_iter()
            .map(|(WaveSortKey(kind), mut deletions)| {
                deletions.sort();
                PruneWave { kind, deletions }
            })
            .collect();
        Self { waves }
    }

    /// Whether nothing is to be deleted.
    pub fn is_empty(&self) -> bool {
        self.waves.is_empty()
    }

    /// Every deletion in execution order.
    pub fn deletions(&self) -> impl Iterator<Item = &Deletion> {
        self.waves.iter().flat_map(|wave| wave.deletions.iter())
    }
}

/// Orders waves for execution: removed nodes, then descending apply order, then unordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WaveSortKey(PruneWaveKind);

impl Ord for WaveSortKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        fn rank(kind: PruneWaveKind) -> (u8, std::cmp::Reverse<u32>) {
            match kind {
                PruneWaveKind::RemovedNodes => (0, std::cmp::Reverse(0)),
                PruneWaveKind::ApplyOrder(order) => (1, std::cmp::Reverse(order)),
                PruneWaveKind::Unordered => (2, std::cmp::Reverse(0)),
            }
        }
        rank(self.0).cmp(&rank(other.0))
    }
}

impl PartialOrd for WaveSortKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// [`find_orphans`] followed by [`PrunePlan::new`].
pub fn plan_prune(
    applyset_id: &str,
    observed: &[ChildMeta],
    applied: &[ObjectKey],
    graph_apply_orders: &BTreeMap<String, u32>,
) -> PrunePlan {
    PrunePlan::new(
        &find_orphans(applyset_id, observed, applied),
        graph_apply_orders,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::{
        ADDITIONAL_NAMESPACES_ANNOTATION, CONTAINS_GROUP_KINDS_ANNOTATION,
        INVENTORY_HASH_ANNOTATION,
    };

    fn parent(namespace: Option<&str>) -> ParentRef {
        ParentRef {
            group: "kro.run".into(),
            kind: "WebApp".into(),
            namespace: namespace.map(str::to_owned),
            name: "web".into(),
        }
    }

    fn member(id: &str, key: ObjectKey, uid: &str, node: Option<&str>) -> ChildMeta {
        let mut labels = BTreeMap::from([(PART_OF_LABEL.to_owned(), id.to_owned())]);
        if let Some(node) = node {
            labels.insert(NODE_ID_LABEL.to_owned(), node.to_owned());
        }
        ChildMeta {
            key,
            uid: uid.to_owned(),
            labels,
            annotations: BTreeMap::new(),
            terminating: false,
        }
    }

    fn cm(namespace: &str, name: &str) -> ObjectKey {
        ObjectKey::namespaced("", "v1", "ConfigMap", namespace, name)
    }

    #[test]
    fn gate_reports_the_reason() {
        assert_eq!(prune_gate(false, false), Ok(()));
        assert_eq!(prune_gate(true, true), Err(PruneSkipped::DataPending));
        assert_eq!(prune_gate(false, true), Err(PruneSkipped::ApplyFailed));
        assert_eq!(
            PruneSkipped::ApplyFailed.to_string(),
            "prune skipped: some resources failed to apply"
        );
    }

    #[test]
    fn pass_inventory_unions_memory_and_shrinks_to_batch() {
        let annotations = BTreeMap::from([
            (
                CONTAINS_GROUP_KINDS_ANNOTATION.to_owned(),
                "ConfigMap,Secret".to_owned(),
            ),
            (
                ADDITIONAL_NAMESPACES_ANNOTATION.to_owned(),
                "old".to_owned(),
            ),
        ]);
        let applied = [
            cm("team", "a"),
            ObjectKey::namespaced("apps", "v1", "Deployment", "new", "d"),
        ];
        let pass = PassInventory::new(parent(Some("team")), &applied, &annotations).expect("valid");
        let superset = pass.superset_metadata("kro/v1");
        assert_eq!(
            superset.annotations[CONTAINS_GROUP_KINDS_ANNOTATION],
            "ConfigMap,Deployment.apps,Secret"
        );
        assert_eq!(
            superset.annotations[ADDITIONAL_NAMESPACES_ANNOTATION],
            "new,old"
        );
        let batch = pass.batch_metadata("kro/v1");
        assert_eq!(
            batch.annotations[CONTAINS_GROUP_KINDS_ANNOTATION],
            "ConfigMap,Deployment.apps"
        );
        assert_eq!(batch.annotations[ADDITIONAL_NAMESPACES_ANNOTATION], "new");
        assert_ne!(
            batch.annotations[INVENTORY_HASH_ANNOTATION],
            superset.annotations[INVENTORY_HASH_ANNOTATION]
        );
    }

    #[test]
    fn pass_inventory_rejects_unparseable_memory() {
        let annotations = BTreeMap::from([(
            CONTAINS_GROUP_KINDS_ANNOTATION.to_owned(),
            "A,,B".to_owned(),
        )]);
        assert!(matches!(
            PassInventory::new(parent(Some("team")), &[], &annotations),
            Err(InventoryError::GroupKind { .. })
        ));
    }

    #[test]
    fn scope_adds_parent_namespace_or_default() {
        let inventory = Inventory {
            group_kinds: BTreeSet::from([GroupKind::new("", "ConfigMap")]),
            additional_namespaces: BTreeSet::from(["other".to_owned()]),
        };
        let namespaced = PruneScope::new(&parent(Some("team")), &inventory);
        assert_eq!(
            namespaced.namespaces,
            BTreeSet::from(["other".to_owned(), "team".to_owned()])
        );
        assert_eq!(
            namespaced.label_selector,
            format!(
                "applyset.kubernetes.io/part-of={}",
                parent(Some("team")).applyset_id()
            )
        );
        let cluster = PruneScope::new(&parent(None), &inventory);
        assert_eq!(
            cluster.namespaces,
            BTreeSet::from(["default".to_owned(), "other".to_owned()])
        );
    }

    #[test]
    fn list_requests_per_namespace_and_skip_unknown_kinds() {
        let inventory = Inventory {
            group_kinds: BTreeSet::from([
                GroupKind::new("", "ConfigMap"),
                GroupKind::new("", "Namespace"),
                GroupKind::new("gone.example.com", "Widget"),
            ]),
            additional_namespaces: BTreeSet::from(["other".to_owned()]),
        };
        let scope = PruneScope::new(&parent(Some("team")), &inventory);
        let plan = scope.list_requests(|gk| match gk.kind.as_str() {
            "ConfigMap" => KindScope::Namespaced,
            "Namespace" => KindScope::Cluster,
            _ => KindScope::Unknown,
        });
        let calls: Vec<(String, Option<String>)> = plan
            .requests
            .iter()
            .map(|r| (r.group_kind.to_string(), r.namespace.clone()))
            .collect();
        assert_eq!(
            calls,
            vec![
                ("ConfigMap".to_owned(), Some("other".to_owned())),
                ("ConfigMap".to_owned(), Some("team".to_owned())),
                ("Namespace".to_owned(), None),
            ]
        );
        assert_eq!(
            plan.skipped,
            vec![GroupKind::new("gone.example.com", "Widget")]
        );
    }

    #[test]
    fn orphans_are_unapplied_members_only() {
        let id = "applyset-a-v1";
        let observed = vec![
            member(id, cm("team", "kept"), "u1", Some("cfg")),
            member(id, cm("team", "gone"), "u2", Some("cfg")),
            member("applyset-other-v1", cm("team", "foreign"), "u3", None),
            member(id, cm("team", "gone"), "u2", Some("cfg")),
        ];
        // Applied at another version: still the same object.
        let applied = [ObjectKey::namespaced("", "v2", "ConfigMap", "team", "kept")];
        let orphans = find_orphans(id, &observed, &applied);
        assert_eq!(orphans.len(), 1);
        assert_eq!(orphans[0].key, cm("team", "gone"));
    }

    #[test]
    fn nothing_applied_means_every_member_is_an_orphan() {
        let id = "applyset-a-v1";
        let observed = vec![
            member(id, cm("b", "x"), "u2", None),
            member(id, cm("a", "x"), "u1", None),
        ];
        let orphans = find_orphans(id, &observed, &[]);
        let keys: Vec<_> = orphans.iter().map(|o| o.key.clone()).collect();
        assert_eq!(keys, vec![cm("a", "x"), cm("b", "x")]);
    }

    #[test]
    fn plan_orders_removed_nodes_then_descending_apply_order_then_unordered() {
        let id = "applyset-a-v1";
        let observed = vec![
            member(id, cm("team", "root"), "u1", Some("root")),
            member(id, cm("team", "leaf"), "u2", Some("leaf")),
            member(id, cm("team", "removed"), "u3", Some("removed")),
            member(id, cm("team", "unlabelled"), "u4", None),
            member(id, cm("team", "zero"), "u5", Some("zero")),
            member(id, cm("team", "leaf2"), "u6", Some("leaf")),
        ];
        let orders = BTreeMap::from([
            ("root".to_owned(), 1),
            ("leaf".to_owned(), 3),
            ("zero".to_owned(), 0),
        ]);
        let plan = plan_prune(id, &observed, &[], &orders);
        let shape: Vec<(PruneWaveKind, Vec<&str>)> = plan
            .waves
            .iter()
            .map(|w| {
                (
                    w.kind,
                    w.deletions.iter().map(|d| d.key.name.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                (PruneWaveKind::RemovedNodes, vec!["removed", "unlabelled"]),
                (PruneWaveKind::ApplyOrder(3), vec!["leaf", "leaf2"]),
                (PruneWaveKind::ApplyOrder(1), vec!["root"]),
                (PruneWaveKind::Unordered, vec!["zero"]),
            ]
        );
        let first = plan.deletions().next().expect("a deletion");
        assert_eq!(first.uid_precondition, "u3");
        assert_eq!(first.node_id.as_deref(), Some("removed"));
    }

    #[test]
    fn empty_plan_when_everything_applied() {
        let id = "applyset-a-v1";
        let observed = vec![member(id, cm("team", "a"), "u1", Some("a"))];
        let plan = plan_prune(id, &observed, &[cm("team", "a")], &BTreeMap::new());
        assert!(plan.is_empty());
        assert_eq!(plan.deletions().count(), 0);
    }
}
