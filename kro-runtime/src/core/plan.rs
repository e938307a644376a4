//! What one planning pass produces: per-node outcomes, the objects to apply, the instance's
//! ApplySet metadata, the prune inputs, the new status and a requeue hint.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kro_applyset::{
    ChildMeta, ObjectKey, ParentMetadata, PassInventory, PrunePlan, PruneScope, plan_prune,
};
use serde_json::Value;

use crate::core::error::NodeError;

/// The state of one resource node in a pass (upstream's node states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NodeState {
    /// The desired object could not be computed yet: a dependency is not ready or data is
    /// pending.
    InProgress,
    /// The desired object is known (and applied); the node waits to be observed or for its
    /// readyWhen.
    WaitingForReadiness,
    /// Observed and ready.
    Synced,
    /// Excluded by includeWhen (its own, or a dependency's: skipping is contagious).
    Skipped,
    /// Failed; see the message.
    Error,
    /// An observed object of the node is terminating; dependents wait until it is gone.
    Deleting,
}

impl NodeState {
    /// The upstream spelling: `IN_PROGRESS`, `WAITING_FOR_READINESS`, `SYNCED`, `SKIPPED`,
    /// `ERROR`, `DELETING`.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::InProgress => "IN_PROGRESS",
            NodeState::WaitingForReadiness => "WAITING_FOR_READINESS",
            NodeState::Synced => "SYNCED",
            NodeState::Skipped => "SKIPPED",
            NodeState::Error => "ERROR",
            NodeState::Deleting => "DELETING",
        }
    }

    /// Whether dependents may proceed: synced, or skipped (which skips them too).
    pub fn is_terminal(self) -> bool {
        matches!(self, NodeState::Synced | NodeState::Skipped)
    }
}

/// The outcome of one resource node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeOutcome {
    /// The resource id.
    pub id: String,
    /// The node state.
    pub state: NodeState,
    /// A human-readable explanation (the error for ERROR, what it waits for otherwise).
    pub message: Option<String>,
    /// The rendered objects with every kro label and annotation (one per collection item, in
    /// expansion order; empty for skipped, unresolved and external nodes).
    pub desired: Vec<Value>,
    /// Whether the node counts as ready for its dependents and the instance (synced or
    /// skipped).
    pub ready: bool,
    /// What the node waits for, e.g. `readyWhen "deployment.status.ready" is false`.
    pub waiting_for: Option<String>,
    /// The typed error, for ERROR nodes.
    pub error: Option<NodeError>,
}

/// One server-side apply the executor performs.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyItem {
    /// The node that renders the object.
    pub node_id: String,
    /// The object's identity.
    pub key: ObjectKey,
    /// The full apply body, with every kro label and annotation.
    pub body: Value,
}

/// Everything the executor needs to prune orphans after a successful apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrunePlanInputs {
    /// The pass's ApplySet inventories (batch and superset).
    pub inventory: PassInventory,
    /// Every object the pass wants to exist (applied, or terminating and awaited).
    pub applied: Vec<ObjectKey>,
    /// Apply-order wave of every node id of the graph.
    pub graph_apply_orders: BTreeMap<String, u32>,
    /// The `applyset.kubernetes.io/tooling` value (`kro/<version>`).
    pub tooling: String,
}

impl PrunePlanInputs {
    /// The ApplySet id of the instance.
    pub fn applyset_id(&self) -> String {
        self.inventory.parent.applyset_id()
    }

    /// Where to list candidate orphans (group-kinds, namespaces, label selector).
    pub fn scope(&self) -> PruneScope {
        self.inventory.prune_scope()
    }

    /// The orphans among the listed `observed` members, in deletion waves.
    pub fn plan(&self, observed: &[ChildMeta]) -> PrunePlan {
        plan_prune(
            &self.applyset_id(),
            observed,
            &self.applied,
            &self.graph_apply_orders,
        )
    }

    /// Parent metadata to write once every prune deletion succeeded (the inventory shrinks to
    /// this pass).
    pub fn completed_metadata(&self) -> ParentMetadata {
        self.inventory.batch_metadata(&self.tooling)
    }
}

/// The instance's `status.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InstanceState {
    /// Ready is True at the current generation.
    Active,
    /// Converging.
    InProgress,
    /// A node or the graph failed.
    Error,
    /// The instance is being deleted.
    Deleting,
}

impl InstanceState {
    /// The upstream spelling: `ACTIVE`, `IN_PROGRESS`, `ERROR`, `DELETING`.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceState::Active => "ACTIVE",
            InstanceState::InProgress => "IN_PROGRESS",
            InstanceState::Error => "ERROR",
            InstanceState::Deleting => "DELETING",
        }
    }
}

/// When to reconcile the instance again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    /// Everything is ready: wait for the next event or the periodic resync.
    None,
    /// Waiting for kro-owned objects to change (readiness, termination): their watch events
    /// trigger the next reconcile.
    AfterChange,
    /// Waiting on data no watch reports reliably (pending expressions), or retrying an error.
    After(Duration),
}

/// The result of [`crate::core::plan`].
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Every resource node, in topological order.
    pub nodes: Vec<NodeOutcome>,
    /// The objects to server-side apply, in topological order (collection items in expansion
    /// order). Only nodes whose inputs resolved contribute.
    pub apply: Vec<ApplyItem>,
    /// ApplySet labels and annotations to write on the instance before applying (the
    /// superset of remembered and applied inventory); `None` when the pass writes nothing
    /// (suspended).
    pub parent_metadata: Option<ParentMetadata>,
    /// Prune inputs; `None` when pruning is not safe this pass (a node is pending, unresolved
    /// or failed, or the instance is suspended).
    pub prune: Option<PrunePlanInputs>,
    /// The complete new `.status`.
    pub status: Value,
    /// The instance state written into `status.state`.
    pub instance_state: InstanceState,
    /// When to reconcile again.
    pub requeue: Requeue,
    /// The labels kro's labeller (`kro.run/labeller`) owns on the instance.
    pub labels_for_instance: BTreeMap<String, String>,
    /// Whether the suspend annotation stopped resource reconciliation.
    pub suspended: bool,
    /// An instance-level problem (such as unreadable ApplySet annotations).
    pub instance_error: Option<String>,
}

impl Plan {
    /// The keys of every apply item.
    pub fn apply_keys(&self) -> BTreeSet<ObjectKey> {
        self.apply.iter().map(|item| item.key.clone()).collect()
    }

    /// The apply items that are new or whose body differs from `applied` (the items already
    /// applied in this reconcile). Empty means the fixed point is reached.
    pub fn changed_since<'a>(&'a self, applied: &[ApplyItem]) -> Vec<&'a ApplyItem> {
        let previous: BTreeMap<&ObjectKey, &Value> =
            applied.iter().map(|item| (&item.key, &item.body)).collect();
        self.apply
            .iter()
            .filter(|item| previous.get(&item.key) != Some(&&item.body))
            .collect()
    }

    /// The outcome of node `id`.
    pub fn node(&self, id: &str) -> Option<&NodeOutcome> {
        self.nodes.iter().find(|node| node.id == id)
    }

    /// Whether every node is synced or skipped.
    pub fn all_ready(&self) -> bool {
        self.nodes.iter().all(|node| node.ready)
    }
}
