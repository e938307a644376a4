//! Instance deletion and pruning from the plan's ApplySet bookkeeping, without the graph.

mod core_support;

use core_support::{Cluster, compile_yaml, condition, stored_instance};
use kro_applyset::ChildMeta;
use kro_runtime::core::{
    DeletionOutcome, instance_deletion_scope, plan_deletion, vanished_instance_deletions,
    vanished_unfinalized,
};
use serde_json::{Value, json};

const CHAIN: &str = r#"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: chain
spec:
  schema:
    apiVersion: v1alpha1
    kind: Chain
    spec:
      name: string
      extra: boolean | default=true
  resources:
  - id: base
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}-base
  - id: top
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${base.metadata.name}-top
  - id: extra
    includeWhen:
    - ${schema.spec.extra}
    template:
      apiVersion: v1
      kind: Secret
      metadata:
        name: ${schema.spec.name}-extra
"#;

/// The instance with the ApplySet metadata the executor would have written from `plan`.
fn with_parent_metadata(instance: &Value, plan: &kro_runtime::core::Plan) -> Value {
    let mut instance = instance.clone();
    let metadata = plan.parent_metadata.as_ref().expect("parent metadata");
    instance["metadata"]["labels"] = json!(metadata.labels);
    instance["metadata"]["annotations"] = json!(metadata.annotations);
    instance
}

/// Instance `ns/c` of the chain, as stored (defaults applied).
fn chain_instance(graph: &kro_graph::Graph) -> Value {
    stored_instance(
        graph,
        json!({"apiVersion": "kro.run/v1alpha1", "kind": "Chain",
               "metadata": {"name": "c", "namespace": "ns"}, "spec": {"name": "c"}}),
    )
}

fn members(cluster: &Cluster) -> Vec<Value> {
    cluster.view.objects().map(|o| (**o).clone()).collect()
}

#[test]
fn deletion_goes_wave_by_wave_from_the_inventory_alone() {
    let graph = compile_yaml(CHAIN);
    let instance = chain_instance(&graph);
    let mut cluster = Cluster::new();
    let plan = cluster.converge(&graph, &instance);
    assert_eq!(plan.apply.len(), 3);
    let mut deleting = with_parent_metadata(&instance, &plan);
    deleting["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:01:00Z");

    let scope = instance_deletion_scope(&deleting).expect("inventory validates");
    assert!(scope.namespaces.contains("ns"));
    assert_eq!(scope.group_kinds.len(), 2, "ConfigMap and Secret");

    let step = plan_deletion(
        &deleting,
        &members(&cluster),
        Some(&plan.status),
        "2025-01-01T00:01:00Z",
    );
    assert_eq!(step.status["state"], "DELETING");
    assert_eq!(
        condition(&step.status, "ResourcesReady")["reason"],
        "UnderDeletion"
    );
    let DeletionOutcome::Delete(wave) = &step.outcome else {
        panic!("expected a wave, got {:?}", step.outcome);
    };
    assert_eq!(wave.order, 2, "the top of the chain goes first");
    let names: Vec<&str> = wave.members.iter().map(|d| d.key.name.as_str()).collect();
    // The free Secret shares the top's wave: upstream numbers waves from the dependents' side.
    assert_eq!(names, ["c-base-top", "c-extra"]);

    for deletion in &wave.members {
        let object = cluster
            .stored(&deletion.key.kind, &deletion.key.name)
            .expect("stored");
        cluster.view.remove(&object).expect("removed");
    }
    let step = plan_deletion(&deleting, &members(&cluster), None, "2025-01-01T00:01:01Z");
    let DeletionOutcome::Delete(wave) = &step.outcome else {
        panic!("expected a wave, got {:?}", step.outcome);
    };
    assert_eq!(wave.order, 1);
    assert_eq!(wave.members.len(), 1, "the base of the chain goes last");

    let step = plan_deletion(&deleting, &[], None, "2025-01-01T00:01:02Z");
    assert_eq!(step.outcome, DeletionOutcome::Complete);
}

#[test]
fn a_vanished_instance_loses_every_wave_at_once_in_deletion_order() {
    let graph = compile_yaml(CHAIN);
    let instance = chain_instance(&graph);
    let mut cluster = Cluster::new();
    let plan = cluster.converge(&graph, &instance);
    let last_state = with_parent_metadata(&instance, &plan);
    let mut listed = members(&cluster);
    // A member of another ApplySet listed alongside (same kind, same namespace) stays.
    let mut stranger = listed[0].clone();
    stranger["metadata"]["name"] = json!("stranger");
    stranger["metadata"]["uid"] = json!("uid-stranger");
    stranger["metadata"]["labels"]["applyset.kubernetes.io/part-of"] = json!("applyset-other");
    listed.push(stranger);
    // A member already terminating is not deleted again.
    let extra = listed
        .iter_mut()
        .find(|member| member["metadata"]["name"] == "c-extra")
        .expect("the Secret member");
    extra["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:01:00Z");

    let deletions = vanished_instance_deletions(&last_state, &listed).expect("inventory");
    let names: Vec<&str> = deletions.iter().map(|d| d.key.name.as_str()).collect();
    assert_eq!(names, ["c-base-top", "c-base"], "top of the chain first");
    assert!(deletions.iter().all(|d| !d.uid_precondition.is_empty()));

    assert!(
        !vanished_unfinalized(&last_state),
        "no finalizer in this test's state"
    );
    let mut unmarked = last_state;
    unmarked["metadata"]["finalizers"] = json!(["kro.run/finalizer"]);
    assert!(vanished_unfinalized(&unmarked));
    let mut marked = unmarked.clone();
    marked["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:01:00Z");
    assert!(!vanished_unfinalized(&marked));

    let error = vanished_instance_deletions(&instance, &listed).expect_err("no inventory");
    assert!(error.contains("applyset.kubernetes.io/id"), "{error}");
}

#[test]
fn deletion_is_blocked_without_a_valid_inventory() {
    let graph = compile_yaml(CHAIN);
    let instance = chain_instance(&graph);
    let step = plan_deletion(&instance, &[], None, "2025-01-01T00:01:00Z");
    let DeletionOutcome::Blocked { reason } = &step.outcome else {
        panic!("expected blocked, got {:?}", step.outcome);
    };
    assert!(reason.contains("applyset.kubernetes.io/id"), "{reason}");
    assert!(instance_deletion_scope(&instance).is_err());
}

#[test]
fn include_when_flipping_to_false_leaves_the_object_to_prune() {
    let graph = compile_yaml(CHAIN);
    let instance = chain_instance(&graph);
    let mut cluster = Cluster::new();
    let first = cluster.converge(&graph, &instance);
    let mut flipped = with_parent_metadata(&instance, &first);
    flipped["spec"]["extra"] = json!(false);
    let plan = cluster.plan(&graph, &flipped, Some(&first.status));
    assert_eq!(plan.apply.len(), 2);
    let prune = plan.prune.as_ref().expect("nothing pending: prune allowed");
    let scope = prune.scope();
    assert!(
        scope.group_kinds.iter().any(|gk| gk.kind == "Secret"),
        "the remembered inventory keeps the Secret kind in scope"
    );
    let observed: Vec<ChildMeta> = members(&cluster)
        .iter()
        .map(|object| ChildMeta::from_object(object).expect("child metadata"))
        .collect();
    let prune_plan = prune.plan(&observed);
    let doomed: Vec<&str> = prune_plan
        .deletions()
        .map(|d| d.key.name.as_str())
        .collect();
    assert_eq!(doomed, ["c-extra"]);
    let completed = prune.completed_metadata();
    assert_eq!(
        completed.annotations["applyset.kubernetes.io/contains-group-kinds"],
        "ConfigMap"
    );
}
