//! Every `kro.run/*` label, annotation, finalizer and field-manager name kro writes or reads, and
//! the KEP-3659 ApplySet names it uses, defined once. The values are upstream kro's, so objects
//! either implementation wrote are recognised by the other.

/// Prefix of every kro label and public annotation.
pub const KRO_PREFIX: &str = "kro.run/";
/// Prefix of kro's internal annotations.
pub const INTERNAL_PREFIX: &str = "internal.kro.run/";

/// `kro.run/owned`: `"true"` on everything kro manages.
pub const OWNED_LABEL: &str = "kro.run/owned";
/// `kro.run/kro-version`: the controller version (label-safe).
pub const KRO_VERSION_LABEL: &str = "kro.run/kro-version";
/// `kro.run/resource-graph-definition-id`: the RGD's UID (on instances).
pub const RGD_ID_LABEL: &str = "kro.run/resource-graph-definition-id";
/// `kro.run/resource-graph-definition-name`: the RGD's name (on instances).
pub const RGD_NAME_LABEL: &str = "kro.run/resource-graph-definition-name";
/// `kro.run/instance-id`: the instance UID (on children).
pub const INSTANCE_ID_LABEL: &str = "kro.run/instance-id";
/// `kro.run/instance-name` (on children).
pub const INSTANCE_NAME_LABEL: &str = "kro.run/instance-name";
/// `kro.run/instance-namespace` (on children of namespaced instances only).
pub const INSTANCE_NAMESPACE_LABEL: &str = "kro.run/instance-namespace";
/// `kro.run/instance-group` (on children).
pub const INSTANCE_GROUP_LABEL: &str = "kro.run/instance-group";
/// `kro.run/instance-version` (on children).
pub const INSTANCE_VERSION_LABEL: &str = "kro.run/instance-version";
/// `kro.run/instance-kind` (on children).
pub const INSTANCE_KIND_LABEL: &str = "kro.run/instance-kind";
/// `kro.run/node-id`: the resource id in the graph (on every child).
pub const NODE_ID_LABEL: &str = "kro.run/node-id";
/// `kro.run/collection-index`: position of a forEach item in the expansion.
pub const COLLECTION_INDEX_LABEL: &str = "kro.run/collection-index";
/// `kro.run/collection-size`: number of items in the forEach expansion.
pub const COLLECTION_SIZE_LABEL: &str = "kro.run/collection-size";
/// `app.kubernetes.io/managed-by`.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The value kro writes under [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_KRO: &str = "kro";

/// KEP-3659 parent label holding the ApplySet id.
pub const APPLYSET_ID_LABEL: &str = "applyset.kubernetes.io/id";
/// KEP-3659 member label holding the id of the ApplySet the object belongs to.
pub const PART_OF_LABEL: &str = "applyset.kubernetes.io/part-of";
/// KEP-3659 parent annotation naming the tool managing the set (`kro/<version>`).
pub const TOOLING_ANNOTATION: &str = "applyset.kubernetes.io/tooling";
/// KEP-3659 parent annotation listing member group-kinds.
pub const CONTAINS_GROUP_KINDS_ANNOTATION: &str = "applyset.kubernetes.io/contains-group-kinds";
/// KEP-3659 parent annotation listing member namespaces other than the parent's.
pub const ADDITIONAL_NAMESPACES_ANNOTATION: &str = "applyset.kubernetes.io/additional-namespaces";
/// kro parent annotation guarding the inventory against accidental edits.
pub const INVENTORY_HASH_ANNOTATION: &str = "internal.kro.run/applyset-inventory-hash";
/// Child annotation holding the apply wave (a positive decimal integer).
pub const APPLY_ORDER_ANNOTATION: &str = "internal.kro.run/apply-order";
/// Prefix of the tooling annotation value for kro-managed ApplySets.
pub const TOOLING_PREFIX: &str = "kro/";

/// Finalizer kro puts on instances (never on children).
pub const FINALIZER: &str = "kro.run/finalizer";
/// Instance annotation that suspends reconciliation.
pub const RECONCILE_ANNOTATION: &str = "kro.run/reconcile";
/// Value of [`RECONCILE_ANNOTATION`] that suspends reconciliation.
pub const RECONCILE_SUSPENDED: &str = "suspended";
/// Legacy value of [`RECONCILE_ANNOTATION`] that also suspends reconciliation.
pub const RECONCILE_DISABLED_LEGACY: &str = "disabled";

/// Field manager for server-side apply of children (applied with `force`).
pub const CHILD_FIELD_MANAGER: &str = "kro.run/applyset";
/// Field manager for the instance finalizer and kro labels (applied with `force`).
pub const LABELLER_FIELD_MANAGER: &str = "kro.run/labeller";
/// Field manager for the instance's ApplySet labels and annotations (applied with `force`).
pub const PARENT_FIELD_MANAGER: &str = "kro.run/applyset-parent";

/// Longest value Kubernetes accepts for a label.
pub const LABEL_VALUE_MAX_LENGTH: usize = 63;
/// Prefix marking a label value that had to be hashed (`kro_applyset::labels::label_value_token` writes them).
pub const HASHED_LABEL_VALUE_PREFIX: &str = "h-";

/// `kro.run/graph-revision-hash`: the spec hash a GraphRevision snapshots (on GraphRevisions).
pub const GRAPH_REVISION_HASH_LABEL: &str = "kro.run/graph-revision-hash";
/// RGD annotation that lets a breaking schema change through to the generated CRD.
pub const ALLOW_BREAKING_CHANGES_ANNOTATION: &str = "kro.run/allow-breaking-changes";
/// Field manager kro installs its own CRDs with at start-up.
pub const CRD_INSTALLER_FIELD_MANAGER: &str = "kro.run/crd-installer";
/// Field manager of the CRDs generated from RGDs.
pub const CRD_FIELD_MANAGER: &str = "kro.run/crd";
/// Name of the leader-election Lease.
pub const LEASE_NAME: &str = "controller.kro.run";

/// The instance a kro child belongs to, from its `kro.run/instance-*` labels; `None` when the
/// labels do not name one. An empty namespace label means a cluster-scoped instance.
pub fn owning_instance(
    labels: &std::collections::BTreeMap<String, String>,
) -> Option<crate::ObjectKey> {
    Some(crate::ObjectKey {
        group: labels.get(INSTANCE_GROUP_LABEL)?.clone(),
        version: labels.get(INSTANCE_VERSION_LABEL)?.clone(),
        kind: labels.get(INSTANCE_KIND_LABEL)?.clone(),
        namespace: labels
            .get(INSTANCE_NAMESPACE_LABEL)
            .filter(|namespace| !namespace.is_empty())
            .cloned(),
        name: labels.get(INSTANCE_NAME_LABEL)?.clone(),
    })
}
