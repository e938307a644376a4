//! Table-driven runs of the planning core over the upstream corpus: every RGD + instance pair
//! converges to ACTIVE in a simulated cluster, with the children the RGD describes.

mod core_support;

use core_support::{
    Cluster, condition, corpus, corpus_graph, documents, resource_entry, stored_instance,
};
use kro_applyset::labels::{NODE_ID_LABEL, PART_OF_LABEL};
use kro_runtime::core::{InstanceState, NodeState};
use serde_json::{Value, json};

struct Case {
    rgd: &'static str,
    instances: &'static str,
    /// Per instance document: the node ids expected in the final apply set.
    applied: &'static [&'static [&'static str]],
    /// Per instance document: the node ids expected SKIPPED.
    skipped: &'static [&'static [&'static str]],
    prerequisites: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        rgd: "upstream-fixtures/conditional/rgd.yaml",
        instances: "upstream-fixtures/conditional/instance.yaml",
        applied: &[&["configmap"], &["configmap", "monitoring"]],
        skipped: &[&["monitoring"], &[]],
        prerequisites: &[],
    },
    Case {
        rgd: "upstream-fixtures/deletion-target/rgd.yaml",
        instances: "upstream-fixtures/deletion-target/instance.yaml",
        applied: &[&["configmap"]],
        skipped: &[&[]],
        prerequisites: &[],
    },
    Case {
        rgd: "upstream-fixtures/external-ref/rgd.yaml",
        instances: "upstream-fixtures/external-ref/instance.yaml",
        applied: &[&["configmap"]],
        skipped: &[&[]],
        prerequisites: &["upstream-fixtures/01-external-configmap.yaml"],
    },
    Case {
        rgd: "upstream-fixtures/foreach-empty/rgd.yaml",
        instances: "upstream-fixtures/foreach-empty/instance.yaml",
        applied: &[&["configmap"]],
        skipped: &[&[]],
        prerequisites: &[],
    },
    Case {
        rgd: "upstream-fixtures/foreach-nil/rgd.yaml",
        instances: "upstream-fixtures/foreach-nil/instance.yaml",
        applied: &[&["configmap"]],
        skipped: &[&[]],
        prerequisites: &[],
    },
    Case {
        rgd: "upstream-fixtures/group-default/rgd.yaml",
        instances: "upstream-fixtures/group-default/instance.yaml",
        applied: &[&["configmap"]],
        skipped: &[&[]],
        prerequisites: &[],
    },
    Case {
        rgd: "upstream-fixtures/group-explicit/rgd.yaml",
        instances: "upstream-fixtures/group-explicit/instance.yaml",
        applied: &[&["configmap"]],
        skipped: &[&[]],
        prerequisites: &[],
    },
    Case {
        rgd: "upstream-fixtures/includewhen-empty/rgd.yaml",
        instances: "upstream-fixtures/includewhen-empty/instance.yaml",
        applied: &[&["configmap"]],
        skipped: &[&[]],
        prerequisites: &[],
    },
    Case {
        rgd: "upstream-fixtures/includewhen-nil/rgd.yaml",
        instances: "upstream-fixtures/includewhen-nil/instance.yaml",
        applied: &[&["configmap"]],
        skipped: &[&[]],
        prerequisites: &[],
    },
    Case {
        rgd: "upstream-fixtures/metadata-empty/rgd.yaml",
        instances: "upstream-fixtures/metadata-empty/instance.yaml",
        applied: &[&["configmap"]],
        skipped: &[&[]],
        prerequisites: &[],
    },
    Case {
        rgd: "upstream-fixtures/metadata-nil/rgd.yaml",
        instances: "upstream-fixtures/metadata-nil/instance.yaml",
        applied: &[&["configmap"]],
        skipped: &[&[]],
        prerequisites: &[],
    },
    Case {
        rgd: "upstream-fixtures/mixed-nil-empty/rgd.yaml",
        instances: "upstream-fixtures/mixed-nil-empty/instance.yaml",
        applied: &[&["full", "minimal"]],
        skipped: &[&[]],
        prerequisites: &[],
    },
    Case {
        rgd: "upstream-fixtures/multi-dependency/rgd.yaml",
        instances: "upstream-fixtures/multi-dependency/instance.yaml",
        applied: &[&["config", "deployment", "service"]],
        skipped: &[&[]],
        prerequisites: &[],
    },
    Case {
        rgd: "upstream-fixtures/readywhen-empty/rgd.yaml",
        instances: "upstream-fixtures/readywhen-empty/instance.yaml",
        applied: &[&["configmap"]],
        skipped: &[&[]],
        prerequisites: &[],
    },
    Case {
        rgd: "upstream-fixtures/readywhen-nil/rgd.yaml",
        instances: "upstream-fixtures/readywhen-nil/instance.yaml",
        applied: &[&["configmap"]],
        skipped: &[&[]],
        prerequisites: &[],
    },
    Case {
        rgd: "upstream-fixtures/resources-reverse-order/rgd.yaml",
        instances: "upstream-fixtures/resources-reverse-order/instance.yaml",
        applied: &[&["zzsecond", "aafirst"]],
        skipped: &[&[]],
        prerequisites: &[],
    },
    Case {
        rgd: "upstream-fixtures/simple-deployment/rgd.yaml",
        instances: "upstream-fixtures/simple-deployment/instance.yaml",
        applied: &[&["deployment", "service"]],
        skipped: &[&[]],
        prerequisites: &[],
    },
    Case {
        rgd: "upstream-fixtures/validation-markers/rgd.yaml",
        instances: "upstream-fixtures/validation-markers/instance.yaml",
        applied: &[&["configmap"]],
        skipped: &[&[]],
        prerequisites: &[],
    },
    Case {
        rgd: "upstream-examples/webapp/rg.yaml",
        instances: "upstream-examples/webapp/instance.yaml",
        applied: &[&["deployment", "service", "ingress"]],
        skipped: &[&[]],
        prerequisites: &[],
    },
];

/// What the cluster's own controllers would do: Deployments become available, Jobs complete.
fn simulate_controllers(cluster: &mut Cluster) {
    let objects: Vec<Value> = cluster.view.objects().map(|o| (**o).clone()).collect();
    for object in objects {
        if object.get("status").is_some() {
            continue;
        }
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match object["kind"].as_str() {
            Some("Deployment") => {
                let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
                cluster.set_status(
                    "Deployment",
                    &name,
                    json!({"replicas": replicas, "availableReplicas": replicas, "readyReplicas": replicas}),
                );
            }
            Some("Job") => {
                cluster.set_status(
                    "Job",
                    &name,
                    json!({"completionTime": "2025-01-01T00:00:10Z", "succeeded": 1}),
                );
            }
            _ => {}
        }
    }
}

#[test]
fn corpus_instances_converge_to_active() {
    for case in CASES {
        let graph = corpus_graph(case.rgd);
        let instances = documents(&corpus(case.instances));
        assert_eq!(
            instances.len(),
            case.applied.len(),
            "{}: instance count",
            case.rgd
        );
        for (index, raw) in instances.into_iter().enumerate() {
            let context = format!("{} instance #{index}", case.rgd);
            let instance = stored_instance(&graph, raw);
            let mut cluster = Cluster::new();
            for prerequisite in case.prerequisites {
                for object in documents(&corpus(prerequisite)) {
                    cluster.create(object);
                }
            }
            let mut plan = cluster.converge(&graph, &instance);
            for _ in 0..5 {
                if plan.instance_state == InstanceState::Active {
                    break;
                }
                simulate_controllers(&mut cluster);
                plan = cluster.converge(&graph, &instance);
            }
            assert_eq!(
                plan.instance_state,
                InstanceState::Active,
                "{context}: {:#}",
                plan.status
            );
            let applied: Vec<&str> = plan
                .apply
                .iter()
                .map(|item| item.node_id.as_str())
                .collect();
            assert_eq!(applied, case.applied[index], "{context}: applied nodes");
            for skipped in case.skipped[index] {
                assert_eq!(
                    plan.node(skipped).map(|n| n.state),
                    Some(NodeState::Skipped),
                    "{context}: {skipped} skipped"
                );
            }
            let applyset = plan
                .parent_metadata
                .as_ref()
                .and_then(|m| m.labels.get("applyset.kubernetes.io/id"))
                .cloned()
                .expect("parent metadata carries the ApplySet id");
            for item in &plan.apply {
                let labels = &item.body["metadata"]["labels"];
                assert_eq!(labels[NODE_ID_LABEL], item.node_id.as_str(), "{context}");
                assert_eq!(labels[PART_OF_LABEL], applyset.as_str(), "{context}");
                assert_eq!(
                    item.body["metadata"]["annotations"]["internal.kro.run/apply-order"]
                        .as_str()
                        .map(|s| s.parse::<u32>().is_ok()),
                    Some(true),
                    "{context}: apply-order annotation"
                );
            }
            assert_eq!(
                condition(&plan.status, "Ready")["status"],
                "True",
                "{context}"
            );
            assert_eq!(
                condition(&plan.status, "Ready")["observedGeneration"],
                1,
                "{context}"
            );
            for node in &plan.nodes {
                let entry = resource_entry(&plan.status, &node.id);
                assert_eq!(entry["state"], node.state.as_str(), "{context}");
                if node.state == NodeState::Synced {
                    assert_eq!(entry["readyAfterSeconds"], 30, "{context}: {}", node.id);
                }
            }
            assert!(
                plan.prune.is_some(),
                "{context}: prune allowed when converged"
            );
        }
    }
}

#[test]
fn external_ref_values_flow_into_the_child() {
    let graph = corpus_graph("upstream-fixtures/external-ref/rgd.yaml");
    let instance = stored_instance(
        &graph,
        documents(&corpus("upstream-fixtures/external-ref/instance.yaml")).remove(0),
    );
    let mut cluster = Cluster::new();
    let before = cluster.plan(&graph, &instance, None);
    let extconfig = before.node("extconfig").expect("extconfig node");
    assert_eq!(extconfig.state, NodeState::WaitingForReadiness);
    assert!(
        extconfig
            .waiting_for
            .as_deref()
            .is_some_and(|w| w.contains("ConfigMap upgrade-test/external-data does not exist")),
        "{extconfig:?}"
    );
    let dependent = before.node("configmap").expect("configmap node");
    assert_eq!(dependent.state, NodeState::InProgress);
    assert_eq!(dependent.waiting_for, extconfig.waiting_for);
    assert!(before.apply.is_empty());
    assert!(
        before.prune.is_none(),
        "no prune while a node is unresolved"
    );
    assert_eq!(before.instance_state, InstanceState::InProgress);

    for object in documents(&corpus("upstream-fixtures/01-external-configmap.yaml")) {
        cluster.create(object);
    }
    let plan = cluster.converge(&graph, &instance);
    assert_eq!(plan.apply.len(), 1, "the external object is never applied");
    let body = &plan.apply[0].body;
    assert_eq!(body["data"]["inheritedEnv"], "production");
    assert_eq!(body["data"]["inheritedLevel"], "info");
    assert_eq!(plan.instance_state, InstanceState::Active);
}

#[test]
fn webapp_status_projects_observed_fields_and_omits_pending_ones() {
    let graph = corpus_graph("upstream-examples/webapp/rg.yaml");
    let instance = stored_instance(
        &graph,
        documents(&corpus("upstream-examples/webapp/instance.yaml")).remove(0),
    );
    let mut cluster = Cluster::new();
    let first = cluster.plan(&graph, &instance, None);
    assert_eq!(first.apply.len(), 1, "only the deployment resolves first");
    let deployment = &first.apply[0].body;
    assert_eq!(deployment["spec"]["replicas"], 1, "schema default applied");
    assert_eq!(deployment["metadata"]["namespace"], "default");
    assert_eq!(
        first.node("service").and_then(|n| n.waiting_for.as_deref()),
        Some("waiting for deployment: not yet observed in the cluster")
    );

    cluster.apply(&first);
    let waiting = cluster.plan(&graph, &instance, Some(&first.status));
    let entry = resource_entry(&waiting.status, "deployment");
    assert_eq!(entry["state"], "WAITING_FOR_READINESS");
    let waiting_for = entry["waitingFor"].as_str().unwrap_or_default();
    assert!(
        waiting_for.starts_with(
            "waiting for deployment: readyWhen `deployment.spec.replicas == deployment.status.availableReplicas` data pending"
        ),
        "{waiting_for}"
    );
    assert_eq!(
        resource_entry(&waiting.status, "ingress")["waitingFor"],
        entry["waitingFor"],
        "dependents explain the root cause"
    );
    assert!(waiting.status.get("availableReplicas").is_none());

    cluster.set_status("Deployment", "test-app", json!({"availableReplicas": 1}));
    let plan = cluster.converge(&graph, &instance);
    assert_eq!(plan.instance_state, InstanceState::Active);
    assert_eq!(plan.status["availableReplicas"], 1);
    assert!(
        plan.status.get("url").is_none(),
        "ingress has no load balancer yet: the field is omitted"
    );
    assert!(plan.status.get("deploymentConditions").is_none());
}
