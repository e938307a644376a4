use std::fmt::Write as _;

use kro_api::{Instance, ResourceGraphDefinition};
use kro_applyset::ChildMeta;
use kro_graph::{OfflineResolver, compile};
use serde_json::json;

use super::*;
use crate::core::{InMemoryView, LabelSelector, merge_object};

/// A ConfigMap, a Secret read by an external reference, and a second ConfigMap that waits for
/// the first (readyWhen on data the server would add is not needed: observed means ready).
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
      value: string | default="v"
    status:
      copied: ${second.data.copy}
  resources:
    - id: token
      externalRef:
        apiVersion: v1
        kind: Secret
        metadata:
          name: token
    - id: first
      template:
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: ${schema.metadata.name}-first
        data:
          value: ${schema.spec.value}
          token: ${string(token.data.key)}
    - id: second
      template:
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: ${schema.metadata.name}-second
        data:
          copy: ${first.data.value}
"#;

pub(super) fn graph() -> Graph {
    let rgd = ResourceGraphDefinition::from_yaml(CHAIN).expect("the test RGD parses");
    compile(&rgd, &OfflineResolver::new()).expect("the test RGD compiles")
}

/// A first reconcile of [`instance`] at the tests' start time.
pub(super) fn reconcile_at_start(graph: &Graph) -> Reconcile<'_> {
    Reconcile::new(
        graph,
        parsed(instance()),
        "2026-01-01T00:00:00Z",
        settings(),
    )
}

/// The instance as a server stores it after kro's metadata writes: each body merged in.
pub(super) fn metadata_written(
    machine: &Reconcile<'_>,
    labels: &Option<Value>,
    parent: &Option<Value>,
) -> Value {
    let mut instance = machine.instance().object().clone();
    for body in labels.iter().chain(parent.iter()) {
        merge_object(&mut instance, body);
    }
    instance
}

/// The instance as the machine takes it.
pub(super) fn parsed(object: Value) -> Instance {
    Instance::from_object(object).expect("a stored instance")
}

pub(super) fn instance() -> Value {
    json!({
        "apiVersion": "kro.run/v1alpha1",
        "kind": "Chain",
        "metadata": {"name": "demo", "namespace": "ns", "uid": "uid-1", "generation": 1},
        "spec": {"value": "v"}
    })
}

pub(super) fn settings() -> Settings {
    Settings {
        kro_version: "v0.9.4".into(),
        rgd: RgdIdentity {
            name: "chain".into(),
            uid: "rgd-uid".into(),
        },
        ..Settings::default()
    }
}

pub(super) fn secret() -> Arc<Value> {
    Arc::new(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "token", "namespace": "ns", "uid": "s-1"},
        "data": {"key": "a2V5"}
    }))
}

/// What the scripted server does.
#[derive(Clone, Copy)]
pub(super) enum Server {
    /// Accepts everything; the Secret exists.
    Accepting,
    /// Refuses to read Secrets (403).
    NoSecretAccess,
    /// Rejects the apply of `second`.
    RejectingSecond,
}

/// Drives `machine` to the end against a scripted server; a transcript of steps and answers.
pub(super) fn drive(
    machine: &mut Reconcile<'_>,
    known: &dyn KnownState,
    server: Server,
) -> (String, Outcome) {
    let mut transcript = String::new();
    let mut uid = 0;
    loop {
        let step = machine.step(known).expect("every step is allowed");
        let response = match step {
            Step::Done(outcome) => {
                let _ = writeln!(transcript, "done: {outcome:?}");
                return (transcript, outcome);
            }
            Step::Read(reads) => {
                let answers = reads
                    .iter()
                    .map(|read| match server {
                        Server::NoSecretAccess => {
                            ReadAnswer::Refused("secrets is forbidden".into())
                        }
                        _ if read.target().kind == "Secret" => ReadAnswer::Object(secret()),
                        _ => ReadAnswer::Absent,
                    })
                    .collect::<Vec<_>>();
                let _ = writeln!(transcript, "read {reads:?} -> {answers:?}");
                Response::Read(answers)
            }
            Step::WriteInstanceMetadata { labels, parent } => {
                let instance = metadata_written(machine, &labels, &parent);
                let _ = writeln!(
                    transcript,
                    "write instance metadata: labels {} parent {}",
                    labels.is_some(),
                    parent.is_some()
                );
                Response::InstanceWritten(instance)
            }
            Step::Apply(requests) => {
                let items: Vec<_> = requests.into_iter().map(|request| request.item).collect();
                let answers = items
                    .iter()
                    .map(|item| match server {
                        Server::RejectingSecond if item.node_id == "second" => {
                            ApplyAnswer::Rejected("admission webhook denied".into())
                        }
                        _ => {
                            uid += 1;
                            let mut object = item.body.clone();
                            object["metadata"]["uid"] = json!(format!("c-{uid}"));
                            ApplyAnswer::Applied(Arc::new(object))
                        }
                    })
                    .collect::<Vec<_>>();
                let ids: Vec<_> = items.iter().map(|item| item.node_id.as_str()).collect();
                let _ = writeln!(transcript, "apply {ids:?}");
                Response::Applied(answers)
            }
            Step::ListMembers(scope) => {
                let _ = writeln!(transcript, "list members {:?}", scope.group_kinds);
                Response::Members(Vec::new())
            }
            Step::Delete(deletions) => {
                let _ = writeln!(transcript, "delete {}", deletions.len());
                Response::Deleted(vec![DeleteAnswer::Deleted; deletions.len()])
            }
            Step::WriteStatus(status) => {
                let _ = writeln!(
                    transcript,
                    "write status: state {} ready {}",
                    status["state"],
                    status["conditions"]
                        .as_array()
                        .and_then(|all| all.iter().find(|c| c["type"] == "Ready"))
                        .map_or(json!(null), |ready| json!([
                            ready["status"],
                            ready["reason"]
                        ]))
                );
                let mut instance = machine.instance().object().clone();
                instance["status"] = status;
                Response::StatusWritten(Some(instance))
            }
            Step::ReadInstance => panic!("the scripted server never refuses a status write"),
        };
        machine.respond(response).expect("the answer fits the step");
    }
}

/// A cache of kro's children that knows nothing of Secrets (not owned by kro).
pub(super) struct ChildCache;

impl KnownState for ChildCache {
    fn get(&self, target: &KindMapping, _: Option<&str>, _: &str) -> Known {
        if target.kind == "Secret" {
            Known::NoKroObject
        } else {
            Known::Absent
        }
    }

    fn list(&self, _: &KindMapping, _: Option<&str>, _: &LabelSelector) -> Listing {
        Listing::Unknown
    }
}

#[test]
fn a_new_instance_reads_its_reference_prepares_itself_then_applies_layer_by_layer() {
    let graph = graph();
    let mut machine = reconcile_at_start(&graph);
    let (transcript, outcome) = drive(&mut machine, &ChildCache, Server::Accepting);
    insta::assert_snapshot!(transcript);
    assert_eq!(outcome.state, InstanceState::Active);
    assert!(outcome.converged);
    assert_eq!(outcome.external_reads.len(), 1);
    assert_eq!(machine.instance().object()["status"]["copied"], "v");
}

#[test]
fn a_refused_read_fails_the_nodes_of_that_kind_with_its_own_reason_and_blocks_prune() {
    let graph = graph();
    let mut machine = reconcile_at_start(&graph);
    let (transcript, outcome) = drive(&mut machine, &ChildCache, Server::NoSecretAccess);
    assert!(!transcript.contains("list members"), "{transcript}");
    assert_eq!(outcome.state, InstanceState::Error);
    let status = &machine.instance().object()["status"];
    let ready = status["conditions"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["type"] == "Ready"))
        .expect("a Ready condition");
    assert_eq!(ready["reason"], REASON_FORBIDDEN);
    assert!(
        outcome
            .waiting_on
            .iter()
            .any(|w| w.id == "token" && w.state == "ERROR")
    );
}

#[test]
fn a_rejected_apply_errors_the_node_retries_soon_and_skips_prune() {
    let graph = graph();
    let mut machine = reconcile_at_start(&graph);
    let (transcript, outcome) = drive(&mut machine, &ChildCache, Server::RejectingSecond);
    assert!(!transcript.contains("list members"), "{transcript}");
    assert_eq!(outcome.state, InstanceState::Error);
    assert_eq!(outcome.requeue_after, Some(Duration::from_secs(5)));
    let second = outcome.waiting_on.iter().find(|w| w.id == "second");
    assert_eq!(
        second.map(|w| (w.state, w.reason.as_str())),
        Some(("ERROR", "admission webhook denied"))
    );
    assert_eq!(
        machine.instance().object()["status"]["conditions"]
            .as_array()
            .and_then(|all| all.iter().find(|c| c["type"] == "Ready"))
            .map(|ready| ready["reason"].clone()),
        Some(json!(REASON_APPLY_FAILED))
    );
}

/// The cluster after `machine`'s reconcile: the Secret and every child it applied.
pub(super) fn cluster_after(machine: &Reconcile<'_>) -> InMemoryView {
    let mut cluster = InMemoryView::new();
    cluster
        .insert(secret().as_ref().clone())
        .expect("a valid object");
    for id in ["first", "second"] {
        let target = machine.target(id).expect("a node").clone();
        let plan = &machine.last_plan().expect("a plan").0;
        let item = plan
            .apply
            .iter()
            .find(|item| item.node_id == id)
            .expect("applied");
        let object = machine.observed(&target, &item.key).expect("observed");
        cluster
            .insert(object.as_ref().clone())
            .expect("a valid object");
    }
    cluster
}

#[test]
fn a_settled_instance_costs_no_write() {
    let graph = graph();
    let mut machine = reconcile_at_start(&graph);
    drive(&mut machine, &ChildCache, Server::Accepting);
    let cluster = cluster_after(&machine);
    let settled = machine.instance().clone();
    let mut again = Reconcile::new(&graph, settled, "2026-01-01T00:01:00Z", settings());
    let (transcript, outcome) = drive(&mut again, &cluster, Server::Accepting);
    // The children are unchanged, so the apply is the only request left: a driver that
    // remembers what it applied skips that too (see `apply_tests`).
    assert_eq!(
        transcript
            .lines()
            .filter(|line| line.starts_with("write"))
            .count(),
        0,
        "{transcript}"
    );
    assert_eq!(outcome.state, InstanceState::Active);
}

#[test]
fn prune_deletes_orphans_wave_by_wave_and_a_uid_conflict_defers_the_inventory_shrink() {
    let graph = graph();
    let mut instance = instance();
    // The inventory says a Service was applied before: a member kro no longer renders.
    instance["metadata"]["annotations"] = json!({
        "applyset.kubernetes.io/additional-namespaces": "",
        "applyset.kubernetes.io/contains-group-kinds": "ConfigMap,Service",
        "applyset.kubernetes.io/tooling": "kro/v0.9.4"
    });
    let mut machine = Reconcile::new(&graph, parsed(instance), "2026-01-01T00:00:00Z", settings());
    let orphan = ChildMeta::from_object(&json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {
            "name": "old", "namespace": "ns", "uid": "o-1",
            "labels": {"applyset.kubernetes.io/part-of": applyset_id(&graph)}
        }
    }))
    .expect("valid metadata");
    let mut steps = Vec::new();
    loop {
        match machine.step(&ChildCache).expect("allowed") {
            Step::Done(outcome) => {
                assert_eq!(outcome.requeue_after, Some(Duration::from_secs(1)));
                break;
            }
            Step::Read(reads) => {
                let answers = vec![ReadAnswer::Object(secret()); reads.len()];
                machine.respond(Response::Read(answers)).expect("fits");
            }
            Step::WriteInstanceMetadata { labels, parent } => {
                steps.push(format!(
                    "metadata {} {}",
                    labels.is_some(),
                    parent.is_some()
                ));
                let instance = metadata_written(&machine, &labels, &parent);
                machine
                    .respond(Response::InstanceWritten(instance))
                    .expect("fits");
            }
            Step::Apply(requests) => {
                let items: Vec<_> = requests.into_iter().map(|request| request.item).collect();
                let answers = items
                    .iter()
                    .map(|item| ApplyAnswer::Applied(Arc::new(item.body.clone())))
                    .collect();
                machine.respond(Response::Applied(answers)).expect("fits");
            }
            Step::ListMembers(_) => {
                steps.push("list".into());
                machine
                    .respond(Response::Members(vec![orphan.clone()]))
                    .expect("fits");
            }
            Step::Delete(deletions) => {
                steps.push(format!("delete {}", deletions[0].key.name));
                let answers = vec![DeleteAnswer::UidConflict; deletions.len()];
                machine.respond(Response::Deleted(answers)).expect("fits");
            }
            Step::WriteStatus(_) => {
                steps.push("status".into());
                let instance = machine.instance().object().clone();
                machine
                    .respond(Response::StatusWritten(Some(instance)))
                    .expect("fits");
            }
            Step::ReadInstance => panic!("no status write conflicts here"),
        }
    }
    // The parent metadata before the applies, the prune, and no shrink after the conflict.
    assert_eq!(
        steps,
        ["metadata true true", "list", "delete old", "status"],
        "{steps:?}"
    );
}

fn applyset_id(graph: &Graph) -> String {
    let mut machine = Reconcile::new(
        graph,
        parsed(instance()),
        "2026-01-01T00:00:00Z",
        settings(),
    );
    loop {
        match machine.step(&ChildCache).expect("allowed") {
            Step::Read(reads) => machine
                .respond(Response::Read(vec![
                    ReadAnswer::Object(secret());
                    reads.len()
                ]))
                .expect("fits"),
            Step::WriteInstanceMetadata {
                parent: Some(parent),
                ..
            } => {
                return parent["metadata"]["labels"]["applyset.kubernetes.io/id"]
                    .as_str()
                    .expect("the ApplySet id label")
                    .to_owned();
            }
            other => panic!("unexpected step before the parent write: {other:?}"),
        }
    }
}

#[test]
fn answers_must_fit_the_step() {
    let graph = graph();
    let mut machine = reconcile_at_start(&graph);
    let step = machine.step(&ChildCache).expect("allowed");
    assert!(
        matches!(step, Step::Read(ref reads) if reads.len() == 1),
        "{step:?}"
    );
    assert_eq!(
        machine.step(&ChildCache),
        Err(MachineError::UnexpectedResponse {
            expected: "Response::Read"
        })
    );
    assert_eq!(
        machine.respond(Response::Read(Vec::new())),
        Err(MachineError::AnswerCount {
            step: "Read",
            asked: 1,
            got: 0
        })
    );
    assert_eq!(
        machine.respond(Response::Applied(Vec::new())),
        Err(MachineError::UnexpectedResponse {
            expected: "Response::Read"
        })
    );
}

#[test]
fn reads_that_never_settle_end_the_reconcile_with_an_error() {
    let graph = graph();
    let settings = Settings {
        max_read_rounds: 2,
        ..settings()
    };
    let mut machine = Reconcile::new(&graph, parsed(instance()), "2026-01-01T00:00:00Z", settings);
    for _ in 0..2 {
        let Step::Read(reads) = machine.step(&ChildCache).expect("allowed") else {
            panic!("a read");
        };
        // An answer that does not settle the read: another name comes back.
        let mut other = secret().as_ref().clone();
        other["metadata"]["name"] = json!("elsewhere");
        machine
            .respond(Response::Read(vec![
                ReadAnswer::Object(Arc::new(other));
                reads.len()
            ]))
            .expect("fits");
    }
    assert!(matches!(
        machine.step(&ChildCache),
        Err(MachineError::UnsettledReads { rounds: 2, .. })
    ));
}

/// The instance after its first reconcile wrote kro's labels, finalizer and ApplySet
/// metadata (contains-group-kinds ConfigMap), marked for deletion.
pub(super) fn deleting_instance() -> Value {
    let graph = graph();
    let mut machine = reconcile_at_start(&graph);
    drive(&mut machine, &ChildCache, Server::Accepting);
    let mut instance = machine.instance().object().clone();
    instance["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:05:00Z");
    instance["metadata"]["resourceVersion"] = json!("42");
    instance["metadata"]["finalizers"] = json!(["example.com/keep", "kro.run/finalizer"]);
    instance
}

pub(super) fn member(instance: &Value, name: &str, order: u32) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {
            "name": name, "namespace": "ns", "uid": format!("uid-{name}"),
            "labels": {
                "applyset.kubernetes.io/part-of":
                    instance["metadata"]["labels"]["applyset.kubernetes.io/id"],
                "kro.run/node-id": name
            },
            "annotations": {"internal.kro.run/apply-order": order.to_string()}
        }
    })
}

#[test]
fn a_deleting_instance_deletes_its_highest_wave_first_and_waits_for_it() {
    let instance = deleting_instance();
    let mut deletion = DeletionReconcile::new(parsed(instance.clone()), "2026-01-01T00:06:00Z");
    let DeletionStep::ListMembers(scope) = deletion.step().expect("allowed") else {
        panic!("members are listed first");
    };
    assert_eq!(scope.namespaces.iter().collect::<Vec<_>>(), ["ns"]);
    let members = vec![
        member(&instance, "first", 0),
        member(&instance, "second", 1),
    ];
    deletion
        .respond(DeletionResponse::Members(members))
        .expect("fits");
    let DeletionStep::Delete(wave) = deletion.step().expect("allowed") else {
        panic!("a wave is deleted");
    };
    assert_eq!(
        wave.iter()
            .map(|d| (d.key.name.as_str(), d.uid_precondition.as_str()))
            .collect::<Vec<_>>(),
        [("second", "uid-second")]
    );
    // Not watched yet: look again soon rather than wait for events that may not come.
    deletion
        .respond(DeletionResponse::Deleted { watched: false })
        .expect("fits");
    let DeletionStep::WriteStatus(status) = deletion.step().expect("allowed") else {
        panic!("the deleting status is written");
    };
    assert_eq!(status["state"], "DELETING");
    deletion
        .respond(DeletionResponse::StatusWritten(None))
        .expect("fits");
    let DeletionStep::Done(done) = deletion.step().expect("allowed") else {
        panic!("done");
    };
    assert_eq!(done.requeue_after, Some(Duration::from_secs(1)));
    assert!(!done.finalized);
    assert_eq!(done.waiting_on.len(), 1);
    assert!(
        done.waiting_on[0].reason.contains("second"),
        "{:?}",
        done.waiting_on
    );
}

#[test]
fn with_no_member_left_only_kros_finalizer_is_removed_conditionally() {
    let instance = deleting_instance();
    let mut deletion = DeletionReconcile::new(parsed(instance), "2026-01-01T00:06:00Z");
    assert!(matches!(deletion.step(), Ok(DeletionStep::ListMembers(_))));
    deletion
        .respond(DeletionResponse::Members(Vec::new()))
        .expect("fits");
    let DeletionStep::RemoveFinalizer(patch) = deletion.step().expect("allowed") else {
        panic!("the finalizer goes");
    };
    assert_eq!(
        patch,
        json!({"metadata": {"finalizers": ["example.com/keep"], "resourceVersion": "42"}})
    );
    // A conflict: the instance's own update event retries, with a short timer as a net.
    deletion
        .respond(DeletionResponse::FinalizerRemoved(
            FinalizerAnswer::Conflict,
        ))
        .expect("fits");
    let DeletionStep::Done(done) = deletion.step().expect("allowed") else {
        panic!("done");
    };
    assert_eq!(
        (done.finalized, done.requeue_after),
        (false, Some(Duration::from_millis(200)))
    );
}

#[test]
fn an_instance_never_applied_or_without_kros_finalizer_lists_nothing() {
    let mut never = instance();
    never["metadata"]["finalizers"] = json!(["kro.run/finalizer"]);
    let mut deletion = DeletionReconcile::new(parsed(never), "2026-01-01T00:06:00Z");
    assert!(matches!(
        deletion.step(),
        Ok(DeletionStep::RemoveFinalizer(_))
    ));
    deletion
        .respond(DeletionResponse::FinalizerRemoved(FinalizerAnswer::Gone))
        .expect("fits");
    assert!(matches!(
        deletion.step(),
        Ok(DeletionStep::Done(DeletionDone {
            finalized: true,
            ..
        }))
    ));
    let mut released = DeletionReconcile::new(parsed(instance()), "2026-01-01T00:06:00Z");
    assert!(matches!(
        released.step(),
        Ok(DeletionStep::Done(DeletionDone {
            finalized: true,
            ..
        }))
    ));
}

#[test]
fn an_inventory_that_does_not_validate_blocks_the_deletion() {
    let mut instance = deleting_instance();
    instance["metadata"]["labels"]["applyset.kubernetes.io/id"] = json!("applyset-forged-v1");
    let mut deletion = DeletionReconcile::new(parsed(instance), "2026-01-01T00:06:00Z");
    assert!(matches!(
        deletion.step(),
        Err(DeletionError::Blocked { .. })
    ));
    let mut answered_wrongly = DeletionReconcile::new(parsed(deleting_instance()), "t");
    assert!(matches!(
        answered_wrongly.step(),
        Ok(DeletionStep::ListMembers(_))
    ));
    assert!(matches!(
        answered_wrongly.respond(DeletionResponse::Deleted { watched: true }),
        Err(DeletionError::Protocol(
            MachineError::UnexpectedResponse { .. }
        ))
    ));
}
