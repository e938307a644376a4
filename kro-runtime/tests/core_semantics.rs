//! Upstream semantics of the planning core, one behaviour per test, with simulated observed
//! states.

mod core_support;

use core_support::{Cluster, compile_yaml, condition, resource_entry, stored_instance};
use kro_applyset::labels::{COLLECTION_INDEX_LABEL, COLLECTION_SIZE_LABEL, NODE_ID_LABEL};
use kro_runtime::core::{InstanceState, NodeError, NodeState, Requeue};
use serde_json::{Value, json};

fn instance(graph: &kro_graph::Graph, spec: &Value) -> Value {
    stored_instance(
        graph,
        json!({
            "apiVersion": format!("kro.run/{}", graph.instance().gvk().version),
            "kind": graph.instance().gvk().kind,
            "metadata": {"name": "demo", "namespace": "team"},
            "spec": spec,
        }),
    )
}

const INCLUDE_ON_RESOURCE: &str = r#"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: gated
spec:
  schema:
    apiVersion: v1alpha1
    kind: Gated
    spec:
      name: string
  resources:
  - id: flags
    readyWhen:
    - ${flags.data.?ready.orValue("no") == "yes"}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}-flags
      data:
        enabled: "true"
  - id: gatedChild
    includeWhen:
    - ${flags.data.enabled == "true"}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}-gated
  - id: grandChild
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${gatedChild.metadata.name}-grand
"#;

#[test]
fn include_when_on_a_resource_waits_for_its_readiness() {
    let graph = compile_yaml(INCLUDE_ON_RESOURCE);
    let instance = instance(&graph, &json!({"name": "a"}));
    let mut cluster = Cluster::new();
    let plan = cluster.converge(&graph, &instance);
    let gated = plan.node("gatedChild").expect("node");
    assert_eq!(gated.state, NodeState::InProgress);
    assert_eq!(
        gated.waiting_for.as_deref(),
        Some(
            "waiting for flags: readyWhen `flags.data.?ready.orValue(\"no\") == \"yes\"` is false"
        )
    );
    assert_eq!(
        plan.node("grandChild").map(|n| n.state),
        Some(NodeState::InProgress)
    );
    assert_eq!(plan.instance_state, InstanceState::InProgress);

    let mut flags = cluster.stored("ConfigMap", "a-flags").expect("applied");
    flags["data"]["ready"] = json!("yes");
    cluster.view.insert(flags).expect("stored");
    let plan = cluster.converge(&graph, &instance);
    assert_eq!(
        plan.instance_state,
        InstanceState::Active,
        "{:#}",
        plan.status
    );
    assert_eq!(plan.apply.len(), 3);
}

#[test]
fn include_when_false_skips_contagiously_and_skipped_counts_as_ready() {
    let graph = compile_yaml(INCLUDE_ON_RESOURCE);
    let instance = instance(&graph, &json!({"name": "b"}));
    let mut cluster = Cluster::new();
    cluster.create(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "b-flags", "namespace": "team"},
        "data": {"ready": "yes", "enabled": "false"}
    }));
    // The flags node re-applies its template ("true"), but this pass reads the observed value.
    let plan = cluster.plan(&graph, &instance, None);
    assert_eq!(
        plan.node("gatedChild").map(|n| n.state),
        Some(NodeState::Skipped)
    );
    let grand = plan.node("grandChild").expect("node");
    assert_eq!(grand.state, NodeState::Skipped);
    assert!(grand.ready);
    assert_eq!(
        grand.message.as_deref(),
        Some("skipped because dependency \"gatedChild\" is skipped")
    );
    assert_eq!(plan.apply.len(), 1);
    assert!(plan.prune.is_some(), "skipped nodes do not block pruning");
}

const NULL_AND_PENDING: &str = r#"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: pending
spec:
  schema:
    apiVersion: v1alpha1
    kind: Pending
    spec:
      name: string
      labels: "map[string]string"
      divisor: integer | default=0
  resources:
  - id: nullable
    includeWhen:
    - "${schema.spec.labels.?enabled.hasValue() ? true : dyn(null)}"
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}-nullable
  - id: optional
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}-optional
      data:
        team: ${schema.spec.?labels.?team}
  - id: missing
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}-missing
      data:
        team: ${schema.spec.labels.team}
  - id: broken
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}-broken
      data:
        ratio: ${string(10 / schema.spec.divisor)}
"#;

#[test]
fn pending_data_waits_while_failures_are_errors_naming_field_and_expression() {
    let graph = compile_yaml(NULL_AND_PENDING);
    let instance = instance(&graph, &json!({"name": "p", "labels": {}}));
    let cluster = Cluster::new();
    let plan = cluster.plan(&graph, &instance, None);

    assert_eq!(
        plan.node("nullable").map(|n| n.state),
        Some(NodeState::Skipped),
        "an includeWhen returning null counts as false"
    );

    let optional = plan
        .apply
        .iter()
        .find(|item| item.node_id == "optional")
        .expect("optional renders");
    assert_eq!(
        optional.body["data"]["team"],
        Value::Null,
        "x.?f absent writes null"
    );

    let missing = plan.node("missing").expect("node");
    assert_eq!(missing.state, NodeState::InProgress, "{missing:?}");
    assert!(
        missing
            .waiting_for
            .as_deref()
            .is_some_and(|w| w.contains("template.data.team `schema.spec.labels.team`")),
        "{missing:?}"
    );

    let broken = plan.node("broken").expect("node");
    assert_eq!(broken.state, NodeState::Error);
    let message = broken.message.as_deref().unwrap_or_default();
    assert!(message.starts_with("resource \"broken\" template.data.ratio: expression `string(10 / schema.spec.divisor)` failed"), "{message}");
    assert!(matches!(broken.error, Some(NodeError::Expression { .. })));

    assert_eq!(plan.instance_state, InstanceState::Error);
    assert_eq!(plan.status["state"], "ERROR");
    assert!(plan.prune.is_none());
    assert!(matches!(plan.requeue, Requeue::After(_)));
    let resources_ready = condition(&plan.status, "ResourcesReady");
    assert_eq!(resources_ready["status"], "False");
    assert!(
        resources_ready["message"]
            .as_str()
            .unwrap_or_default()
            .contains("template.data.ratio")
    );
}

const SCHEMA_ONLY_INCLUDE: &str = r#"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: schemaonly
spec:
  schema:
    apiVersion: v1alpha1
    kind: SchemaOnly
    spec:
      name: string
      flags: "map[string]string"
  resources:
  - id: cm
    includeWhen:
    - ${schema.spec.flags.on == "yes"}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}
"#;

#[test]
fn missing_data_in_a_schema_only_include_when_is_an_error() {
    let graph = compile_yaml(SCHEMA_ONLY_INCLUDE);
    let instance = instance(&graph, &json!({"name": "s", "flags": {}}));
    let plan = Cluster::new().plan(&graph, &instance, None);
    let node = plan.node("cm").expect("node");
    assert_eq!(node.state, NodeState::Error);
    assert!(
        node.message
            .as_deref()
            .is_some_and(|m| m.contains("includeWhen[0]") && m.contains("schema.spec.flags.on")),
        "{node:?}"
    );
}

const COLLECTION: &str = r#"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: collection
spec:
  schema:
    apiVersion: v1alpha1
    kind: Fleet
    spec:
      regions: "[]string"
      tiers: "[]string"
  resources:
  - id: configs
    forEach:
    - region: ${schema.spec.regions}
    - tier: ${schema.spec.tiers}
    readyWhen:
    - ${each.data.ok == "true"}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${region + "-" + tier}
      data:
        ok: "true"
  - id: summary
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: summary
      data:
        count: ${string(size(configs))}
"#;

#[test]
fn for_each_expands_the_cartesian_product_with_collection_labels() {
    let graph = compile_yaml(COLLECTION);
    let instance = instance(
        &graph,
        &json!({"regions": ["eu", "us"], "tiers": ["a", "b", "c"]}),
    );
    let mut cluster = Cluster::new();
    let first = cluster.plan(&graph, &instance, None);
    let names: Vec<&str> = first
        .apply
        .iter()
        .filter(|item| item.node_id == "configs")
        .map(|item| item.key.name.as_str())
        .collect();
    assert_eq!(names, ["eu-a", "eu-b", "eu-c", "us-a", "us-b", "us-c"]);
    for (index, item) in first.apply.iter().enumerate() {
        let labels = &item.body["metadata"]["labels"];
        assert_eq!(labels[COLLECTION_INDEX_LABEL], index.to_string());
        assert_eq!(labels[COLLECTION_SIZE_LABEL], "6");
        assert_eq!(labels[NODE_ID_LABEL], "configs");
    }
    assert_eq!(
        first.node("configs").and_then(|n| n.waiting_for.as_deref()),
        Some("waiting for configs: 0 of 6 items observed")
    );
    let plan = cluster.converge(&graph, &instance);
    let summary = plan
        .apply
        .iter()
        .find(|item| item.node_id == "summary")
        .expect("summary renders once the collection is ready");
    assert_eq!(summary.body["data"]["count"], "6");
    assert_eq!(plan.instance_state, InstanceState::Active);
}

#[test]
fn empty_for_each_dimension_gives_zero_items_and_is_ready() {
    let graph = compile_yaml(COLLECTION);
    let instance = instance(&graph, &json!({"regions": ["eu"], "tiers": []}));
    let mut cluster = Cluster::new();
    let plan = cluster.converge(&graph, &instance);
    let configs = plan.node("configs").expect("node");
    assert_eq!(configs.state, NodeState::Synced);
    assert!(configs.desired.is_empty());
    assert_eq!(plan.apply.len(), 1, "only the summary");
    assert_eq!(plan.apply[0].body["data"]["count"], "0");
    assert_eq!(plan.instance_state, InstanceState::Active);
}

#[test]
fn oversized_collections_and_identity_collisions_are_errors() {
    let graph = compile_yaml(COLLECTION);
    let mut cluster = Cluster::new();
    cluster.limits.max_collection_size = 5;
    let instance_big = instance(
        &graph,
        &json!({"regions": ["eu", "us"], "tiers": ["a", "b", "c"]}),
    );
    let plan = cluster.plan(&graph, &instance_big, None);
    let configs = plan.node("configs").expect("node");
    assert_eq!(configs.state, NodeState::Error);
    assert!(matches!(
        configs.error,
        Some(NodeError::CollectionTooLarge { limit: 5, .. })
    ));

    let cluster = Cluster::new();
    let colliding = instance(&graph, &json!({"regions": ["eu", "eu"], "tiers": ["a"]}));
    let plan = cluster.plan(&graph, &colliding, None);
    let configs = plan.node("configs").expect("node");
    assert!(
        matches!(
            configs.error,
            Some(NodeError::IdentityCollision {
                first: 0,
                second: 1,
                ..
            })
        ),
        "{configs:?}"
    );
    assert!(plan.apply.is_empty());
}

const NULL_LIST: &str = r#"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: nulllist
spec:
  schema:
    apiVersion: v1alpha1
    kind: NullList
    spec:
      names: "[]string"
  resources:
  - id: entries
    forEach:
    - entry: ${schema.spec.?names.orValue(null)}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${entry}
"#;

#[test]
fn a_null_for_each_list_is_an_error() {
    let graph = compile_yaml(NULL_LIST);
    let instance = instance(&graph, &json!({}));
    let plan = Cluster::new().plan(&graph, &instance, None);
    let node = plan.node("entries").expect("node");
    assert_eq!(node.state, NodeState::Error);
    assert!(
        node.message
            .as_deref()
            .is_some_and(|m| m.contains("returned null, expected a list")),
        "{node:?}"
    );
}

const TWO_NODES: &str = r#"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: twonodes
spec:
  schema:
    apiVersion: v1alpha1
    kind: TwoNodes
    spec:
      first: string
      second: string
  resources:
  - id: base
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.first}
  - id: dependent
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.second}
      data:
        base: ${base.metadata.name}
"#;

#[test]
fn two_nodes_rendering_the_same_object_is_an_error() {
    let graph = compile_yaml(TWO_NODES);
    let instance = instance(&graph, &json!({"first": "same", "second": "same"}));
    let mut cluster = Cluster::new();
    let plan = cluster.converge(&graph, &instance);
    let dependent = plan.node("dependent").expect("node");
    assert_eq!(dependent.state, NodeState::Error);
    assert!(
        dependent
            .message
            .as_deref()
            .is_some_and(|m| m.contains("found resources with conflicts")),
        "{dependent:?}"
    );
    assert_eq!(plan.apply.len(), 1);
}

#[test]
fn terminating_children_make_the_node_deleting_and_dependents_wait() {
    let graph = compile_yaml(TWO_NODES);
    let instance = instance(&graph, &json!({"first": "one", "second": "two"}));
    let mut cluster = Cluster::new();
    cluster.converge(&graph, &instance);
    let mut base = cluster.stored("ConfigMap", "one").expect("applied");
    base["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:20Z");
    cluster.view.insert(base).expect("stored");
    cluster
        .view
        .remove(&cluster.stored("ConfigMap", "two").expect("applied"))
        .expect("removed");

    let plan = cluster.plan(&graph, &instance, None);
    let base = plan.node("base").expect("node");
    assert_eq!(base.state, NodeState::Deleting);
    assert!(
        plan.apply.iter().all(|item| item.node_id != "base"),
        "not re-applied while terminating"
    );
    assert_eq!(
        plan.node("dependent").map(|n| n.state),
        Some(NodeState::InProgress)
    );
    assert_eq!(
        condition(&plan.status, "ResourcesReady")["reason"],
        "ResourceDeleting"
    );
    assert_eq!(
        plan.requeue,
        Requeue::After(cluster.limits.requeue_interval)
    );
}

#[test]
fn an_object_owned_by_another_applyset_is_an_error_naming_the_owner() {
    let graph = compile_yaml(TWO_NODES);
    let instance = instance(&graph, &json!({"first": "taken", "second": "two"}));
    let mut cluster = Cluster::new();
    cluster.create(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {
            "name": "taken", "namespace": "team",
            "labels": {
                "applyset.kubernetes.io/part-of": "applyset-other-v1",
                "kro.run/instance-name": "owner",
                "kro.run/instance-namespace": "elsewhere",
                "kro.run/instance-kind": "Other",
                "kro.run/instance-group": "kro.run"
            }
        }
    }));
    let plan = cluster.plan(&graph, &instance, None);
    let base = plan.node("base").expect("node");
    assert_eq!(base.state, NodeState::Error);
    let message = base.message.as_deref().unwrap_or_default();
    assert!(
        message.contains("Other instance elsewhere/owner"),
        "{message}"
    );
    assert!(plan.apply.is_empty());
}

#[test]
fn the_suspend_annotation_stops_applying() {
    let graph = compile_yaml(TWO_NODES);
    let mut suspended = instance(&graph, &json!({"first": "one", "second": "two"}));
    suspended["metadata"]["annotations"] = json!({"kro.run/reconcile": "Suspended"});
    let plan = Cluster::new().plan(&graph, &suspended, Some(&json!({"custom": 1})));
    assert!(plan.suspended);
    assert!(plan.apply.is_empty());
    assert!(plan.prune.is_none());
    assert!(plan.parent_metadata.is_none());
    let resources_ready = condition(&plan.status, "ResourcesReady");
    assert_eq!(resources_ready["status"], "False");
    assert_eq!(resources_ready["reason"], "ReconciliationSuspended");
    assert_eq!(plan.status["custom"], 1, "previous fields are kept");

    suspended["metadata"]["annotations"] = json!({"kro.run/reconcile": "DISABLED"});
    assert!(Cluster::new().plan(&graph, &suspended, None).suspended);
}

#[test]
fn conditions_keep_their_transition_time_and_ready_drives_active() {
    let graph = compile_yaml(TWO_NODES);
    let mut instance = instance(&graph, &json!({"first": "one", "second": "two"}));
    instance["metadata"]["generation"] = json!(4);
    let mut cluster = Cluster::new();
    let converged = cluster.converge(&graph, &instance);
    let previous = json!({
        "conditions": [
            {"type": "InstanceManaged", "status": "True", "reason": "Managed", "message": "", "lastTransitionTime": "2024-12-31T00:00:00Z"},
            {"type": "ResourcesReady", "status": "False", "reason": "NotReady", "message": "", "lastTransitionTime": "2024-12-31T00:00:00Z"}
        ],
        "resources": [{"id": "base", "state": "SYNCED", "readyAfterSeconds": 7}]
    });
    let plan = cluster.plan(&graph, &instance, Some(&previous));
    assert_eq!(converged.apply, plan.apply);
    let managed = condition(&plan.status, "InstanceManaged");
    assert_eq!(
        managed["lastTransitionTime"], "2024-12-31T00:00:00Z",
        "status unchanged: time kept"
    );
    assert_eq!(managed["observedGeneration"], 4);
    let resources_ready = condition(&plan.status, "ResourcesReady");
    assert_eq!(resources_ready["status"], "True");
    assert_eq!(
        resources_ready["lastTransitionTime"],
        core_support::NOW,
        "transitioned now"
    );
    let conditions = plan.status["conditions"].as_array().expect("list");
    assert_eq!(conditions.last().map(|c| &c["type"]), Some(&json!("Ready")));
    assert_eq!(plan.status["state"], "ACTIVE");
    assert_eq!(
        resource_entry(&plan.status, "base")["readyAfterSeconds"],
        7,
        "kept once set"
    );
    assert_eq!(
        resource_entry(&plan.status, "dependent")["readyAfterSeconds"],
        30
    );
    assert_eq!(plan.requeue, Requeue::None);
}

const AUTHOR_CONDITIONS: &str = r#"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: authored
spec:
  schema:
    apiVersion: v1alpha1
    kind: Authored
    spec:
      name: string
    status:
      configName: ${config.metadata.name}
      resources: ${config.metadata.name}
      conditions:
      - "${runtime.newCondition({type: 'ConfigReady', status: config.data.ok == 'yes' ? 'True' : 'False', reason: 'Checked', message: 'config checked'})}"
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}
      data:
        ok: "yes"
"#;

#[test]
fn author_conditions_replace_the_built_ins_and_own_resources_field_wins() {
    let graph = compile_yaml(AUTHOR_CONDITIONS);
    let instance = instance(&graph, &json!({"name": "cfg"}));
    let mut cluster = Cluster::new();
    let plan = cluster.converge(&graph, &instance);
    let conditions = plan.status["conditions"].as_array().expect("list");
    assert_eq!(conditions.len(), 1, "{:#}", plan.status);
    assert_eq!(conditions[0]["type"], "ConfigReady");
    assert_eq!(conditions[0]["status"], "True");
    assert_eq!(conditions[0]["lastTransitionTime"], core_support::NOW);
    assert_eq!(conditions[0]["observedGeneration"], 1);
    assert_eq!(
        plan.status["state"], "ACTIVE",
        "state still follows the built-in Ready"
    );
    assert_eq!(plan.status["configName"], "cfg");
    assert_eq!(
        plan.status["resources"], "cfg",
        "the RGD's own `resources` field is kept"
    );
}

const SELECTOR: &str = r#"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: selector
spec:
  schema:
    apiVersion: v1alpha1
    kind: Selecting
    spec:
      team: string
  resources:
  - id: peers
    externalRef:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        selector:
          matchLabels:
            team: ${schema.spec.team}
  - id: index
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: index
      data:
        names: ${peers.map(p, p.metadata.name).join(",")}
"#;

#[test]
fn external_selector_lists_matching_objects_sorted_and_never_applies_them() {
    let graph = compile_yaml(SELECTOR);
    let instance = instance(&graph, &json!({"team": "blue"}));
    let mut cluster = Cluster::new();
    for (name, namespace, team) in [("b", "x", "blue"), ("a", "y", "blue"), ("c", "x", "red")] {
        cluster.create(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": {"team": team}}
        }));
    }
    let plan = cluster.plan(&graph, &instance, None);
    assert_eq!(plan.node("peers").map(|n| n.state), Some(NodeState::Synced));
    assert_eq!(plan.apply.len(), 1);
    assert_eq!(
        plan.apply[0].body["data"]["names"], "b,a",
        "sorted by namespace, then name"
    );
    let prune = plan.prune.expect("prunable");
    assert_eq!(
        prune.applied.len(),
        1,
        "external objects are not ApplySet members"
    );
}

const SELECTOR_OPERATOR: &str = r#"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: selectoroperator
spec:
  schema:
    apiVersion: v1alpha1
    kind: SelectingBy
    spec:
      operator: string
  resources:
  - id: peers
    externalRef:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        selector:
          matchExpressions:
          - key: team
            operator: ${schema.spec.operator}
            values: [blue]
"#;

#[test]
fn a_selector_that_does_not_parse_fails_its_node_naming_the_field_and_why() {
    let graph = compile_yaml(SELECTOR_OPERATOR);
    let instance = instance(&graph, &json!({"operator": "Near"}));
    let plan = Cluster::new().plan(&graph, &instance, None);
    let peers = plan.node("peers").expect("node");
    assert_eq!(peers.state, NodeState::Error);
    let Some(error @ NodeError::Selector { source, .. }) = &peers.error else {
        panic!("expected a selector error, got {:?}", peers.error);
    };
    // The node error names its layer; the selector's own error is its source, and the node's
    // message (which the instance's conditions carry) is the whole chain.
    assert_eq!(
        error.to_string(),
        "resource \"peers\" externalRef.metadata.selector"
    );
    assert!(!error.to_string().contains(&source.to_string()));
    assert_eq!(
        peers.message.as_deref(),
        Some(format!("resource \"peers\" externalRef.metadata.selector: {source}").as_str())
    );
    assert!(
        source
            .to_string()
            .starts_with("label selector at `matchExpressions[0].operator`: "),
        "{source}"
    );
}

#[test]
fn an_unreadable_inventory_is_an_instance_error_naming_the_annotation() {
    let graph = compile_yaml(TWO_NODES);
    let mut instance = instance(&graph, &json!({"first": "one", "second": "two"}));
    instance["metadata"]["annotations"] = json!({
        "applyset.kubernetes.io/contains-group-kinds": "not a group kind!",
        "applyset.kubernetes.io/additional-namespaces": "",
    });
    let plan = Cluster::new().plan(&graph, &instance, None);
    let message = plan.instance_error.as_deref().unwrap_or_default();
    assert!(
        message.starts_with(
            "instance ApplySet inventory annotations are invalid: annotation \
             applyset.kubernetes.io/contains-group-kinds: entry \"not a group kind!\" is invalid"
        ),
        "{message}"
    );
}

const CLUSTER_SCOPED: &str = r#"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: clusterscoped
spec:
  schema:
    apiVersion: v1alpha1
    kind: Tenant
    spec:
      name: string
  resources:
  - id: ns
    template:
      apiVersion: v1
      kind: Namespace
      metadata:
        name: ${schema.spec.name}
"#;

#[test]
fn cluster_scoped_children_get_no_namespace() {
    let graph = compile_yaml(CLUSTER_SCOPED);
    let instance = instance(&graph, &json!({"name": "tenant-a"}));
    let plan = Cluster::new().plan(&graph, &instance, None);
    let body = &plan.apply[0].body;
    assert!(body["metadata"].get("namespace").is_none(), "{body}");
    assert_eq!(plan.apply[0].key.namespace, None);
    assert_eq!(
        plan.status["state"], "IN_PROGRESS",
        "not observed yet, so not ready"
    );
}

#[test]
fn plans_are_deterministic() {
    let graph = compile_yaml(COLLECTION);
    let instance = instance(&graph, &json!({"regions": ["eu", "us"], "tiers": ["a"]}));
    let mut cluster = Cluster::new();
    let one = cluster.converge(&graph, &instance);
    let two = cluster.converge(&graph, &instance);
    let render = |plan: &kro_runtime::core::Plan| {
        serde_json::to_string(&(
            &plan.status,
            plan.apply.iter().map(|item| &item.body).collect::<Vec<_>>(),
        ))
        .expect("serializes")
    };
    assert_eq!(render(&one), render(&two));
    assert!(one.changed_since(&two.apply).is_empty());
    assert_eq!(one.apply_keys(), two.apply_keys());
}
