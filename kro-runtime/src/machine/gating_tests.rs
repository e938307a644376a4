//! Readiness gating (RGD instances) against scope gating (the Graph kind) on one machine.

use kro_api::{Instance, ResourceGraphDefinition};
use kro_graph::{OfflineResolver, compile};
use serde_json::json;

use super::tests::metadata_written;
use super::*;
use crate::core::InMemoryView;

/// `second` reads `first`, whose readyWhen waits for a field nothing ever writes.
const NEVER_READY_FIRST: &str = r#"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: gated
spec:
  schema:
    apiVersion: v1alpha1
    kind: Gated
    spec: {}
  resources:
    - id: first
      readyWhen:
        - ${first.data.?ready.orValue("") == "yes"}
      template:
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: ${schema.metadata.name}-first
        data:
          value: one
    - id: second
      template:
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: ${schema.metadata.name}-second
        data:
          copy: ${first.data.value}
"#;

fn graph() -> Graph {
    let rgd = ResourceGraphDefinition::from_yaml(NEVER_READY_FIRST).expect("the RGD parses");
    compile(&rgd, &OfflineResolver::new()).expect("the RGD compiles")
}

fn owner() -> Instance {
    Instance::from_object(json!({
        "apiVersion": "kro.run/v1alpha1",
        "kind": "Gated",
        "metadata": {"name": "g", "namespace": "ns", "uid": "uid-1", "generation": 1},
        "spec": {}
    }))
    .expect("a stored object")
}

/// Drives `machine` against a server that accepts everything; the node ids applied, round
/// by round, and the outcome.
fn applied_rounds(mut machine: Reconcile<'_>) -> (Vec<Vec<String>>, Outcome) {
    let known = InMemoryView::new();
    let mut rounds = Vec::new();
    loop {
        let response = match machine.step(&known).expect("every step is allowed") {
            Step::Done(outcome) => return (rounds, outcome),
            Step::Read(reads) => Response::Read(vec![ReadAnswer::Absent; reads.len()]),
            Step::WriteInstanceMetadata { labels, parent } => {
                let written = metadata_written(&machine, &labels, &parent);
                Response::InstanceWritten(written)
            }
            Step::Apply(items) => {
                rounds.push(
                    items
                        .iter()
                        .map(|request| request.item.node_id.clone())
                        .collect(),
                );
                Response::Applied(
                    items
                        .iter()
                        .map(|request| {
                            let mut object = request.item.body.clone();
                            object["metadata"]["uid"] =
                                json!(format!("uid-{}", request.item.node_id));
                            ApplyAnswer::Applied(Arc::new(object))
                        })
                        .collect(),
                )
            }
            Step::ListMembers(_) => Response::Members(Vec::new()),
            Step::Delete(wave) => Response::Deleted(vec![DeleteAnswer::Deleted; wave.len()]),
            Step::ReadInstance => Response::InstanceRead(Some(machine.instance().object().clone())),
            Step::WriteStatus(status) => {
                let mut written = machine.instance().clone();
                written.set_status(status);
                Response::StatusWritten(Some(written.into_object()))
            }
        };
        machine.respond(response).expect("the answer fits the step");
    }
}

#[test]
fn instances_wait_for_a_dependency_to_be_ready() {
    let graph = graph();
    let machine = Reconcile::new(&graph, owner(), "2026-01-01T00:00:00Z", Settings::default());
    let (rounds, outcome) = applied_rounds(machine);
    assert_eq!(rounds, [["first"]], "second waits for first's readyWhen");
    assert_eq!(outcome.state, InstanceState::InProgress);
    let second = outcome
        .waiting_on
        .iter()
        .find(|waiting| waiting.id == "second")
        .expect("second waits");
    assert!(second.reason.contains("readyWhen"), "{}", second.reason);
}

#[test]
fn graphs_evaluate_a_node_once_its_dependency_is_observed_ready_or_not() {
    let graph = graph();
    let machine =
        Reconcile::for_graph(&graph, owner(), "2026-01-01T00:00:00Z", Settings::default());
    let (rounds, outcome) = applied_rounds(machine);
    assert_eq!(
        rounds,
        [vec!["first".to_owned()], vec!["second".to_owned()]],
        "second is applied in the same reconcile, as soon as first is observed"
    );
    // Readiness still decides the Ready condition: first never becomes ready.
    assert_ne!(outcome.state, InstanceState::Active);
    let waiting: Vec<_> = outcome.waiting_on.iter().map(|w| w.id.as_str()).collect();
    assert_eq!(waiting, ["first"]);
}

#[test]
fn scope_gating_still_waits_for_what_is_not_observed() {
    let graph = graph();
    let instance = owner();
    let view = InMemoryView::new();
    let input = PlanInput::builder(&graph, instance.object(), &view)
        .gating(Gating::Scope)
        .build();
    let plan = crate::core::plan(&input);
    let ids: Vec<_> = plan
        .apply
        .iter()
        .map(|item| item.node_id.as_str())
        .collect();
    assert_eq!(
        ids,
        ["first"],
        "nothing observed yet: second cannot evaluate"
    );
}
