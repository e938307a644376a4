//! Table-driven runs of the planning core over the upstream corpus: every RGD + instance pair
//! converges to ACTIVE in a simulated cluster, with the children the RGD describes.

mod core_support;

use core_support::{
    Cluster, condition, corpus, corpus_graph, documents, resource_entry, stored_instance,
};
use kro_applyset::labels::{NODE_ID_LABEL, PART_OF_LABEL};
use kro_runtime::core::{InstanceState, NodeState};
use kro_test_support::Origin::{self, Example, Fixture};
use serde_json::json;

struct Case {
    /// The corpus case (see `kro_test_support`): its only RGD and its only instance file.
    origin: Origin,
    name: &'static str,
    /// Per instance document: the node ids expected in the final apply set.
    applied: &'static [&'static [&'static str]],
    /// Per instance document: the node ids expected SKIPPED.
    skipped: &'static [&'static [&'static str]],
    /// Whether the fixtures' external ConfigMap must exist first.
    external_configmap: bool,
}

impl Case {
    fn corpus_case(&self) -> &'static kro_test_support::Case {
        match self.origin {
            Origin::Example => kro_test_support::example(self.name),
            Origin::Fixture => kro_test_support::fixture(self.name),
        }
    }
}

const CASES: &[Case] = &[
    Case {
        origin: Fixture,
        name: "conditional",
        applied: &[&["configmap"], &["configmap", "monitoring"]],
        skipped: &[&["monitoring"], &[]],
        external_configmap: false,
    },
    Case {
        origin: Fixture,
        name: "deletion-target",
        applied: &[&["configmap"]],
        skipped: &[&[]],
        external_configmap: false,
    },
    Case {
        origin: Fixture,
        name: "external-ref",
        applied: &[&["configmap"]],
        skipped: &[&[]],
        external_configmap: true,
    },
    Case {
        origin: Fixture,
        name: "foreach-empty",
        applied: &[&["configmap"]],
        skipped: &[&[]],
        external_configmap: false,
    },
    Case {
        origin: Fixture,
        name: "foreach-nil",
        applied: &[&["configmap"]],
        skipped: &[&[]],
        external_configmap: false,
    },
    Case {
        origin: Fixture,
        name: "group-default",
        applied: &[&["configmap"]],
        skipped: &[&[]],
        external_configmap: false,
    },
    Case {
        origin: Fixture,
        name: "group-explicit",
        applied: &[&["configmap"]],
        skipped: &[&[]],
        external_configmap: false,
    },
    Case {
        origin: Fixture,
        name: "includewhen-empty",
        applied: &[&["configmap"]],
        skipped: &[&[]],
        external_configmap: false,
    },
    Case {
        origin: Fixture,
        name: "includewhen-nil",
        applied: &[&["configmap"]],
        skipped: &[&[]],
        external_configmap: false,
    },
    Case {
        origin: Fixture,
        name: "metadata-empty",
        applied: &[&["configmap"]],
        skipped: &[&[]],
        external_configmap: false,
    },
    Case {
        origin: Fixture,
        name: "metadata-nil",
        applied: &[&["configmap"]],
        skipped: &[&[]],
        external_configmap: false,
    },
    Case {
        origin: Fixture,
        name: "mixed-nil-empty",
        applied: &[&["full", "minimal"]],
        skipped: &[&[]],
        external_configmap: false,
    },
    Case {
        origin: Fixture,
        name: "multi-dependency",
        applied: &[&["config", "deployment", "service"]],
        skipped: &[&[]],
        external_configmap: false,
    },
    Case {
        origin: Fixture,
        name: "readywhen-empty",
        applied: &[&["configmap"]],
        skipped: &[&[]],
        external_configmap: false,
    },
    Case {
        origin: Fixture,
        name: "readywhen-nil",
        applied: &[&["configmap"]],
        skipped: &[&[]],
        external_configmap: false,
    },
    Case {
        origin: Fixture,
        name: "resources-reverse-order",
        applied: &[&["zzsecond", "aafirst"]],
        skipped: &[&[]],
        external_configmap: false,
    },
    Case {
        origin: Fixture,
        name: "simple-deployment",
        applied: &[&["deployment", "service"]],
        skipped: &[&[]],
        external_configmap: false,
    },
    Case {
        origin: Fixture,
        name: "validation-markers",
        applied: &[&["configmap"]],
        skipped: &[&[]],
        external_configmap: false,
    },
    Case {
        origin: Example,
        name: "webapp",
        applied: &[&["deployment", "service", "ingress"]],
        skipped: &[&[]],
        external_configmap: false,
    },
];

#[test]
fn corpus_instances_converge_to_active() {
    for case in CASES {
        let corpus_case = case.corpus_case();
        let graph = corpus_graph(corpus_case.rgd());
        let instances = documents(&corpus(corpus_case.instance()));
        assert_eq!(
            instances.len(),
            case.applied.len(),
            "{}: instance count",
            case.name
        );
        for (index, raw) in instances.into_iter().enumerate() {
            let context = format!("{} instance #{index}", case.name);
            let instance = stored_instance(&graph, raw);
            let mut cluster = Cluster::new();
            if case.external_configmap {
                let file = kro_test_support::prerequisites().external_configmap;
                for object in documents(&corpus(&file)) {
                    cluster.create(object);
                }
            }
            let plan = cluster.settle(&graph, &instance);
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
    let case = kro_test_support::fixture("external-ref");
    let graph = corpus_graph(case.rgd());
    let instance = stored_instance(&graph, documents(&corpus(case.instance())).remove(0));
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

    for object in documents(&corpus(
        &kro_test_support::prerequisites().external_configmap,
    )) {
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
    let case = kro_test_support::example("webapp");
    let graph = corpus_graph(case.rgd());
    let instance = stored_instance(&graph, documents(&corpus(case.instance())).remove(0));
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
            "waiting for deployment: readyWhen[0] `deployment.spec.replicas == deployment.status.availableReplicas`: field `status` is not set yet"
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
