//! The pure planning core: from a compiled graph, an instance and the observed cluster state to
//! a [`Plan`] (what to apply, what may be pruned, the new status). No I/O, no async, no clock:
//! observed state comes through [`ClusterView`], time through [`PlanInput::now`].
//!
//! # One pass
//!
//! [`plan`] walks the resource nodes in topological order. For each node:
//! 1. **includeWhen**: a node whose dependency is skipped is skipped; conditions reading other
//!    resources wait until those are ready; `null` counts as false; data missing from a
//!    schema-only condition is an error.
//! 2. **Dependencies**: every dependency must be ready (synced or skipped) before the node
//!    resolves; otherwise it is IN_PROGRESS and explains what it waits for.
//! 3. **Rendering**: forEach dimensions expand row-major (first dimension outermost), an empty
//!    dimension gives zero items, `null` is an error, the product is bounded by
//!    [`Limits::max_collection_size`]. Every `${}` slot is evaluated; missing data is
//!    *pending* (IN_PROGRESS), other failures are ERROR with the field path and expression.
//!    Templates get the instance namespace when they set none (cluster-scoped kinds get none),
//!    every kro label (`kro.run/node-id`, collection index/size, ApplySet `part-of`, ...) and the
//!    `internal.kro.run/apply-order` annotation.
//! 4. **Observation**: templates are looked up by name; an object owned by another ApplySet is
//!    an ERROR naming the owner; a terminating object makes the node DELETING (not applied).
//!    External references are read by name or by label selector, never applied or pruned.
//! 5. **Readiness**: readyWhen over the node itself (`each` for collections, for every item);
//!    without readyWhen, observed means ready. Observed objects are bound for dependents and
//!    for the status.
//!
//! The status is then projected (pending fields omitted), the conditions `InstanceManaged`,
//! `GraphResolved`, `ResourcesReady` and the root `Ready` are computed with stable
//! `lastTransitionTime`s, author conditions replace them on the wire when the RGD declares
//! some, and `status.resources` explains every node.
//!
//! # Executor contract
//!
//! [`crate::machine::Reconcile`] implements this contract as a sans-I/O state machine; a
//! driver only performs its steps. The contract, per reconcile of a live instance:
//! 1. Writes [`Plan::labels_for_instance`] and the finalizer `kro.run/finalizer` with field
//!    manager `kro.run/labeller` (force).
//! 2. Unless [`Plan::suspended`], writes [`Plan::parent_metadata`] (the ApplySet id label and
//!    the superset inventory annotations) with field manager `kro.run/applyset-parent` (force),
//!    **before** applying anything, so a crash never forgets where members may be.
//! 3. Server-side applies every [`Plan::apply`] item with field manager `kro.run/applyset`
//!    and force, in order (items of one wave may go concurrently). Per-item failures become
//!    that node's error in the status (the executor records them; the next pass retries).
//! 4. Overlays the server's responses on its view and calls [`plan`] again with the same
//!    `now`. Dependents of newly ready nodes resolve in the new pass. It repeats while
//!    [`Plan::changed_since`] (against everything applied so far this reconcile) is non-empty,
//!    with a bound on the number of passes (the graph depth is a natural one).
//! 5. If the last plan has [`Plan::prune`] and every apply succeeded
//!    (`kro_applyset::prune_gate`), lists [`PrunePlanInputs::scope`], builds
//!    `ChildMeta`s, deletes [`PrunePlanInputs::plan`] wave by wave with UID preconditions, and on
//!    full success writes [`PrunePlanInputs::completed_metadata`] as `kro.run/applyset-parent`.
//! 6. Writes [`Plan::status`] through the status subresource when it differs from the current
//!    status.
//! 7. Requeues per [`Plan::requeue`].
//!
//! For a deleting instance it never evaluates the graph: it lists
//! [`instance_deletion_scope`], calls [`plan_deletion`], deletes the returned wave, writes
//! [`DeletionStep::status`], and removes the finalizer once the outcome is
//! [`DeletionOutcome::Complete`].
//!
//! # Without a cluster
//!
//! [`settle`] drives the same machine with the API server replaced by a merge of each apply
//! body over the observed object ([`merge_applied`]), for offline tools;
//! [`apply_instance_defaults`] defaults an instance read from a file as the API server would.

mod conditions;
mod defaults;
mod deletion;
mod error;
mod input;
mod input_builder;
mod observe;
mod orphans;
mod plan;
mod render;
mod selector;
mod settle;
pub(crate) mod stamp;
mod status;
pub(crate) mod view;
mod walk;

use std::collections::BTreeMap;

use kro_applyset::labels::{instance_labeller_labels, is_suspended};
use kro_applyset::{InstanceRef, KroVersion, PassInventory, RgdRef, prune_gate};
use kro_cel::Activation;
use kro_graph::Graph;
use kro_schema::RESOURCES_STATUS_FIELD;
use serde_json::{Map, Value};

pub use conditions::{
    ConditionList, ConditionStatus, ConditionUpdate, DEPENDENTS, GRAPH_RESOLVED, INSTANCE_MANAGED,
    READY, REASON_ALL_RESOURCES_READY, REASON_AWAITING_RECONCILIATION, REASON_MANAGED,
    REASON_MANAGEMENT_FAILED, REASON_NOT_READY, REASON_READY, REASON_RESOLUTION_FAILED,
    REASON_RESOLVED, REASON_RESOURCE_DELETING, REASON_SUSPENDED, REASON_UNDER_DELETION,
    RESOURCES_READY, condition_set, condition_set_with,
};
pub use defaults::apply_instance_defaults;

pub use deletion::{
    DeletionOutcome, DeletionStep, carries_finalizer, deletion_status, instance_deletion_scope,
    instance_parent, plan_deletion, vanished_instance_deletions, vanished_unfinalized,
};
pub use error::{InstanceError, NodeError, SelectorError, ViewError};
pub use input::{Gating, Limits, PlanInput, RgdIdentity};
pub use input_builder::{DEFAULT_KRO_VERSION, DEFAULT_NOW, PlanInputBuilder};
pub use orphans::{LiveInstance, OrphanedInstance, orphaned_instances};
pub use plan::{ApplyItem, InstanceState, NodeOutcome, NodeState, Plan, PrunePlanInputs, Requeue};
pub use selector::{LabelSelector, SelectorOperator, SelectorRequirement};
pub use settle::{Settled, merge_applied, merge_object, settle};
pub use status::{CONDITIONS_FIELD, STATE_FIELD};
pub use view::{ClusterView, InMemoryView, KindMapping};

use crate::core::status::{
    StatusParts, assemble, author_conditions, built_in_conditions, previous_conditions,
    project_fields, resources_explanation, resources_ready,
};
use crate::core::view::object_annotations;
use crate::core::walk::Walker;

/// Plans one reconcile pass of a live instance (see the module documentation).
pub fn plan(input: &PlanInput<'_>) -> Plan {
    plan_with_activation(input).0
}

/// [`plan`], also returning the CEL variables the pass ended with: `schema` (the instance
/// without its status) and every resource observed this pass under its id (a list for
/// collections). Empty when the pass evaluated nothing (suspended, unreadable instance).
/// For tools that evaluate expressions in the operator's exact environment.
pub fn plan_with_activation(input: &PlanInput<'_>) -> (Plan, Activation) {
    let graph = input.graph;
    let version = KroVersion::new(input.kro_version);
    let rgd = RgdRef {
        name: input.rgd.name.clone(),
        uid: input.rgd.uid.clone(),
    };
    let labels_for_instance = instance_labeller_labels(&rgd, &version);
    let instance = match instance_ref(graph, input.instance) {
        Ok(instance) => instance,
        Err(error) => {
            return (
                failed_plan(
                    input,
                    labels_for_instance,
                    &kro_api::ErrorChain::new(&error).to_string(),
                ),
                Activation::new(),
            );
        }
    };
    let annotations = object_annotations(input.instance);
    if is_suspended(&annotations) {
        return (
            suspended_plan(input, labels_for_instance),
            Activation::new(),
        );
    }

    let activation = schema_activation(graph, input.instance);
    let walker = Walker::new(
        input.view,
        &instance,
        &version,
        input.limits.max_collection_size,
        activation,
        input.gating,
    );
    let (mut walked, activation) = walker.walk(graph.topological_order());

    let PassSet {
        parent_metadata,
        prune,
        instance_error,
    } = pass_set(graph, &instance, &version, &annotations, &mut walked);
    let (status, instance_state) =
        pass_status(input, &walked.nodes, &activation, instance_error.as_deref());
    let requeue = requeue(&walked.nodes, instance_state, input.limits);
    let plan = Plan {
        nodes: walked.nodes,
        apply: if instance_error.is_some() {
            Vec::new()
        } else {
            walked.apply
        },
        parent_metadata,
        prune: if instance_error.is_some() {
            None
        } else {
            prune
        },
        status,
        instance_state,
        requeue,
        labels_for_instance,
        suspended: false,
        instance_error,
    };
    (plan, activation)
}

/// What a pass makes of the ApplySet: the parent metadata to write, the prune inputs (when
/// pruning is safe), and the instance's error when its recorded inventory does not parse.
struct PassSet {
    parent_metadata: Option<kro_applyset::ParentMetadata>,
    prune: Option<PrunePlanInputs>,
    instance_error: Option<String>,
}

fn pass_set(
    graph: &Graph,
    instance: &InstanceRef,
    version: &KroVersion,
    annotations: &BTreeMap<String, String>,
    walked: &mut walk::WalkResult,
) -> PassSet {
    let tooling = version.tooling();
    let (parent_metadata, inventory, instance_error) =
        match PassInventory::new(instance.parent(), &walked.wanted, annotations) {
            Ok(inventory) => (
                Some(inventory.superset_metadata(&tooling)),
                Some(inventory),
                None,
            ),
            Err(error) => (
                Some(kro_applyset::ParentMetadata::for_applied(
                    &instance.parent(),
                    &tooling,
                    &walked.wanted,
                )),
                None,
                Some(kro_api::ErrorChain::new(&InstanceError::Inventory(error)).to_string()),
            ),
        };
    let prune = inventory
        .filter(|_| prune_gate(walked.incomplete, false).is_ok())
        .map(|inventory| PrunePlanInputs {
            inventory,
            applied: std::mem::take(&mut walked.wanted),
            graph_apply_orders: graph
                .resources()
                .iter()
                .map(|node| (node.id().to_owned(), node.wave()))
                .collect(),
            tooling,
        });
    PassSet {
        parent_metadata,
        prune,
        instance_error,
    }
}

/// The status a pass writes (projected fields, conditions, `resources`) and the state it
/// gives the instance.
fn pass_status(
    input: &PlanInput<'_>,
    nodes: &[NodeOutcome],
    activation: &Activation,
    instance_error: Option<&str>,
) -> (Value, InstanceState) {
    let graph = input.graph;
    let generation = generation(input.instance);
    let previous = previous_conditions(input.previous_status);
    let built_in = built_in_conditions(
        resources_ready(nodes, instance_error),
        &previous,
        generation,
        input.now,
    );
    let author = (!graph.instance().conditions().is_empty())
        .then(|| author_conditions(graph, activation, &previous, generation, input.now));
    let resources = explains_resources(graph).then(|| {
        resources_explanation(
            nodes,
            input.previous_status,
            creation_timestamp(input.instance),
            input.now,
        )
    });
    let any_node_error =
        instance_error.is_some() || nodes.iter().any(|node| node.state == NodeState::Error);
    assemble(StatusParts {
        fields: project_fields(graph, activation),
        built_in,
        author,
        any_node_error,
        resources,
    })
}

fn requeue(nodes: &[NodeOutcome], state: InstanceState, limits: Limits) -> Requeue {
    if state == InstanceState::Error || nodes.iter().any(|node| node.state == NodeState::InProgress)
    {
        Requeue::After(limits.requeue_interval)
    } else if nodes.iter().all(|node| node.ready) {
        Requeue::None
    } else {
        Requeue::AfterChange
    }
}

/// Whether kro writes `status.resources` (not when the RGD's status defines that field).
fn explains_resources(graph: &Graph) -> bool {
    graph
        .instance()
        .status()
        .get(RESOURCES_STATUS_FIELD)
        .is_none()
}

fn instance_ref(graph: &Graph, instance: &Value) -> Result<InstanceRef, InstanceError> {
    let gvk = graph.instance().gvk();
    let name = instance
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty())
        .ok_or(InstanceError::MissingField {
            field: "metadata.name",
        })?;
    let namespace = graph
        .instance()
        .namespaced()
        .then(|| {
            instance
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .filter(|ns| !ns.is_empty())
                .map(str::to_owned)
        })
        .flatten();
    // The uid is the children's `kro.run/instance-id` and part of the ApplySet id: without one,
    // every uid-less instance of a name would claim the same children.
    let uid = instance
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .filter(|uid| !uid.is_empty())
        .ok_or(InstanceError::MissingUid)?;
    Ok(InstanceRef {
        group: gvk.group.clone(),
        version: gvk.version.clone(),
        kind: gvk.kind.clone(),
        namespace,
        name: name.to_owned(),
        uid: uid.to_owned(),
    })
}

/// The activation with `schema` bound to the instance without its status.
fn schema_activation(graph: &Graph, instance: &Value) -> Activation {
    let mut schema_value = instance.clone();
    if let Value::Object(map) = &mut schema_value {
        map.remove("status");
    }
    let mut activation = Activation::new();
    let crd_schema = graph
        .crd()
        .spec
        .versions
        .first()
        .and_then(|version| version.schema.as_ref())
        .and_then(|schema| schema.open_api_v3_schema.as_ref());
    let bound = crd_schema.is_some_and(|schema| {
        activation
            .bind_with_schema("schema", &schema_value, schema)
            .is_ok()
    });
    if !bound {
        // Without a usable schema the instance still binds, with JSON's own types.
        let _ = activation.bind("schema", &schema_value);
    }
    activation
}

fn generation(instance: &Value) -> Option<i64> {
    instance
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
}

fn creation_timestamp(instance: &Value) -> Option<&str> {
    instance
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
}

/// The previous status without kro's own fields (kept while nothing is evaluated).
fn previous_fields(previous_status: Option<&Value>) -> Map<String, Value> {
    let mut fields = previous_status
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    fields.remove(STATE_FIELD);
    fields.remove(CONDITIONS_FIELD);
    fields
}

fn suspended_plan(input: &PlanInput<'_>, labels_for_instance: BTreeMap<String, String>) -> Plan {
    let previous = previous_conditions(input.previous_status);
    let built_in = built_in_conditions(
        ConditionUpdate::new(
            RESOURCES_READY,
            ConditionStatus::False,
            REASON_SUSPENDED,
            "reconciliation suspended via kro.run/reconcile annotation",
        ),
        &previous,
        generation(input.instance),
        input.now,
    );
    let (status, instance_state) = assemble(StatusParts {
        fields: previous_fields(input.previous_status),
        built_in,
        author: None,
        any_node_error: false,
        resources: None,
    });
    Plan {
        nodes: Vec::new(),
        apply: Vec::new(),
        parent_metadata: None,
        prune: None,
        status,
        instance_state,
        requeue: Requeue::None,
        labels_for_instance,
        suspended: true,
        instance_error: None,
    }
}

fn failed_plan(
    input: &PlanInput<'_>,
    labels_for_instance: BTreeMap<String, String>,
    message: &str,
) -> Plan {
    let previous = previous_conditions(input.previous_status);
    let built_in = built_in_conditions(
        resources_ready(&[], Some(message)),
        &previous,
        generation(input.instance),
        input.now,
    );
    let (status, instance_state) = assemble(StatusParts {
        fields: previous_fields(input.previous_status),
        built_in,
        author: None,
        any_node_error: true,
        resources: None,
    });
    Plan {
        nodes: Vec::new(),
        apply: Vec::new(),
        parent_metadata: None,
        prune: None,
        status,
        instance_state,
        requeue: Requeue::After(input.limits.requeue_interval),
        labels_for_instance,
        suspended: false,
        instance_error: Some(message.to_owned()),
    }
}

/// The status of an instance whose graph is unavailable (no active revision, compile failure):
/// `GraphResolved` False `ResolutionFailed` with `message`, state ERROR, previous fields kept.
pub fn unresolved_graph_status(
    instance: &Value,
    previous_status: Option<&Value>,
    now: &str,
    message: &str,
) -> Value {
    let previous = previous_conditions(previous_status);
    // Upstream marks only GraphResolved here; the other conditions keep their value.
    let conditions = condition_set_with(
        &[ConditionUpdate::new(
            GRAPH_RESOLVED,
            ConditionStatus::False,
            REASON_RESOLUTION_FAILED,
            message,
        )],
        &previous,
        generation(instance),
        now,
        false,
    );
    let mut fields = previous_fields(previous_status);
    fields.insert(
        STATE_FIELD.into(),
        Value::String(InstanceState::Error.as_str().to_owned()),
    );
    fields.insert(CONDITIONS_FIELD.into(), Value::Array(conditions));
    Value::Object(fields)
}
