//! The machine's decisions about apply requests: which changed items need no request because
//! the driver applied them before, whether to force, and whether kro may take over an object
//! it did not know of.

use super::tests::{
    ChildCache, Server, cluster_after, drive, graph, metadata_written, parsed, reconcile_at_start,
    secret, settings,
};
use super::*;
use crate::core::{InMemoryView, LabelSelector};
use serde_json::json;

/// A cluster and the bodies the driver remembers applying (object, UID, body).
struct Remembering<'a> {
    cluster: &'a InMemoryView,
    applied: Vec<(ObjectKey, String, Value)>,
}

impl<'a> Remembering<'a> {
    /// Remembers every body `machine` applied, on the UIDs the cluster holds.
    fn after(machine: &Reconcile<'_>, cluster: &'a InMemoryView) -> Self {
        let plan = &machine.last_plan().expect("a plan").0;
        let applied = plan
            .apply
            .iter()
            .map(|item| {
                let target = machine.target(&item.node_id).expect("a node");
                let observed = machine.observed(target, &item.key).expect("applied");
                let uid = observed["metadata"]["uid"].as_str().expect("a uid");
                (item.key.clone(), uid.to_owned(), item.body.clone())
            })
            .collect();
        Self { cluster, applied }
    }
}

impl KnownState for Remembering<'_> {
    fn get(&self, target: &KindMapping, namespace: Option<&str>, name: &str) -> Known {
        KnownState::get(self.cluster, target, namespace, name)
    }

    fn list(
        &self,
        target: &KindMapping,
        namespace: Option<&str>,
        selector: &LabelSelector,
    ) -> Listing {
        KnownState::list(self.cluster, target, namespace, selector)
    }

    fn applied_before(&self, key: &ObjectKey, uid: &str, body: &Value) -> bool {
        self.applied.iter().any(|(known, known_uid, known_body)| {
            known == key && known_uid == uid && known_body == body
        })
    }
}

/// The node ids of every apply line of a transcript.
fn applied_ids(transcript: &str) -> Vec<&str> {
    transcript
        .lines()
        .filter(|line| line.starts_with("apply "))
        .collect()
}

#[test]
fn bodies_the_driver_applied_before_are_answered_by_the_machine_without_a_request() {
    let graph = graph();
    let mut first = reconcile_at_start(&graph);
    drive(&mut first, &ChildCache, Server::Accepting);
    let cluster = cluster_after(&first);
    let remembering = Remembering::after(&first, &cluster);
    let settled = first.instance().object().clone();
    let mut again = Reconcile::new(&graph, parsed(settled), "2026-01-01T00:01:00Z", settings());
    let (transcript, outcome) = drive(&mut again, &remembering, Server::Accepting);
    assert!(applied_ids(&transcript).is_empty(), "{transcript}");
    assert_eq!(again.skipped_applies(), 2);
    assert_eq!(outcome.state, InstanceState::Active);
    assert!(outcome.converged);
}

#[test]
fn an_object_that_no_longer_holds_the_body_is_applied_again() {
    let graph = graph();
    let mut first = reconcile_at_start(&graph);
    drive(&mut first, &ChildCache, Server::Accepting);
    let mut cluster = cluster_after(&first);
    let remembering = Remembering::after(&first, &cluster);
    let applied = remembering.applied;
    // Someone edited the second ConfigMap since kro applied it.
    let second = applied
        .iter()
        .find(|(key, _, _)| key.name == "demo-second")
        .expect("the second ConfigMap");
    let mut drifted = second.2.clone();
    drifted["metadata"]["uid"] = json!(second.1);
    drifted["data"]["copy"] = json!("edited");
    cluster.insert(drifted).expect("a valid object");
    let remembering = Remembering {
        cluster: &cluster,
        applied,
    };
    let settled = first.instance().object().clone();
    let mut again = Reconcile::new(&graph, parsed(settled), "2026-01-01T00:01:00Z", settings());
    let (transcript, _) = drive(&mut again, &remembering, Server::Accepting);
    assert_eq!(
        applied_ids(&transcript),
        [r#"apply ["second"]"#],
        "{transcript}"
    );
    assert_eq!(again.skipped_applies(), 1);
}

#[test]
fn a_recreated_object_with_a_new_uid_is_applied_again() {
    let graph = graph();
    let mut first = reconcile_at_start(&graph);
    drive(&mut first, &ChildCache, Server::Accepting);
    let cluster = cluster_after(&first);
    let mut remembering = Remembering::after(&first, &cluster);
    // The memory holds the UID of an object that was deleted and created again since.
    for (key, uid, _) in &mut remembering.applied {
        if key.name == "demo-first" {
            *uid = "an-older-uid".into();
        }
    }
    let settled = first.instance().object().clone();
    let mut again = Reconcile::new(&graph, parsed(settled), "2026-01-01T00:01:00Z", settings());
    let (transcript, _) = drive(&mut again, &remembering, Server::Accepting);
    assert_eq!(
        applied_ids(&transcript),
        [r#"apply ["first"]"#],
        "{transcript}"
    );
    assert_eq!(again.skipped_applies(), 1);
}

/// Drives `machine` to the end: reads of Secrets find the token, other reads (the take-over
/// checks) are answered by `live`, applies by `apply`. A transcript of the applies and
/// take-over reads, and the outcome.
fn drive_applies(
    machine: &mut Reconcile<'_>,
    known: &dyn KnownState,
    mut apply: impl FnMut(&ApplyRequest) -> ApplyAnswer,
    mut live: impl FnMut(&Read) -> ReadAnswer,
) -> (Vec<String>, Outcome) {
    let mut transcript = Vec::new();
    loop {
        let response = match machine.step(known).expect("allowed") {
            Step::Done(outcome) => return (transcript, outcome),
            Step::Read(reads) => Response::Read(
                reads
                    .iter()
                    .map(|read| {
                        if read.target().kind == "Secret" {
                            return ReadAnswer::Object(secret());
                        }
                        transcript.push(format!("read {read}"));
                        live(read)
                    })
                    .collect(),
            ),
            Step::WriteInstanceMetadata { labels, parent } => {
                let instance = metadata_written(machine, &labels, &parent);
                Response::InstanceWritten(instance)
            }
            Step::Apply(requests) => Response::Applied(
                requests
                    .iter()
                    .map(|request| {
                        let how = if request.force { "forced" } else { "unforced" };
                        transcript.push(format!("apply {} {how}", request.item.node_id));
                        apply(request)
                    })
                    .collect(),
            ),
            Step::ListMembers(_) => Response::Members(Vec::new()),
            Step::Delete(deletions) => {
                Response::Deleted(vec![DeleteAnswer::Deleted; deletions.len()])
            }
            Step::WriteStatus(status) => {
                let mut instance = machine.instance().object().clone();
                instance["status"] = status;
                Response::StatusWritten(Some(instance))
            }
            Step::ReadInstance => panic!("no status write conflicts here"),
        };
        machine.respond(response).expect("the answer fits the step");
    }
}

/// The server accepting `request` (with a UID on the object).
fn accepted(request: &ApplyRequest) -> ApplyAnswer {
    let mut object = request.item.body.clone();
    object["metadata"]["uid"] = json!(format!("uid-{}", request.item.node_id));
    ApplyAnswer::Applied(Arc::new(object))
}

/// The first ConfigMap as another owner left it in the cluster.
fn live_first(labels: &Value) -> ReadAnswer {
    ReadAnswer::Object(Arc::new(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "demo-first", "namespace": "ns", "uid": "theirs", "labels": labels},
        "data": {"value": "theirs"}
    })))
}

/// `first`'s unforced apply meets a conflict; everything else is accepted.
fn conflict_on_first(request: &ApplyRequest) -> ApplyAnswer {
    if request.item.node_id == "first" && !request.force {
        ApplyAnswer::Conflict("Apply failed with 1 conflict: conflict with \"kubectl\"".into())
    } else {
        accepted(request)
    }
}

fn ready_reason(machine: &Reconcile<'_>) -> Value {
    machine.instance().object()["status"]["conditions"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["type"] == "Ready"))
        .map_or(Value::Null, |ready| ready["reason"].clone())
}

#[test]
fn a_new_object_costs_one_unforced_apply_and_a_known_one_is_applied_with_force() {
    let graph = graph();
    let mut first = reconcile_at_start(&graph);
    let (transcript, outcome) = drive_applies(&mut first, &ChildCache, accepted, |read| {
        panic!("no read before a new object's apply: {read}")
    });
    assert_eq!(
        transcript,
        ["apply first unforced", "apply second unforced"]
    );
    assert_eq!(outcome.state, InstanceState::Active);

    // Once kro's children are known, a changed body goes with force (no memory of bodies).
    let cluster = cluster_after(&first);
    let mut changed = first.instance().object().clone();
    changed["spec"]["value"] = json!("w");
    let mut again = Reconcile::new(&graph, parsed(changed), "2026-01-01T00:01:00Z", settings());
    let (transcript, _) = drive_applies(&mut again, &cluster, accepted, |read| {
        panic!("no take-over read for a known object: {read}")
    });
    // `second` copies `first`: applied again once the new `first` is observed.
    assert_eq!(
        transcript,
        [
            "apply first forced",
            "apply second forced",
            "apply second forced"
        ]
    );
}

#[test]
fn a_conflict_on_another_applysets_object_becomes_the_nodes_error_without_a_forced_apply() {
    let graph = graph();
    let mut machine = reconcile_at_start(&graph);
    let (transcript, outcome) = drive_applies(&mut machine, &ChildCache, conflict_on_first, |_| {
        live_first(&json!({"applyset.kubernetes.io/part-of": "applyset-someone-else-v1"}))
    });
    assert_eq!(
        transcript,
        ["apply first unforced", "read GET ConfigMap ns/demo-first"]
    );
    assert_eq!(outcome.state, InstanceState::Error);
    let first = outcome.waiting_on.iter().find(|w| w.id == "first");
    assert!(
        first.is_some_and(|w| w.state == "ERROR" && w.reason.contains("applyset-someone-else-v1")),
        "{:?}",
        outcome.waiting_on
    );
    assert_eq!(ready_reason(&machine), json!(REASON_APPLY_FAILED));
}

#[test]
fn a_conflict_on_an_object_of_no_applyset_is_taken_over_by_a_forced_apply() {
    let graph = graph();
    let mut machine = reconcile_at_start(&graph);
    let (transcript, outcome) = drive_applies(&mut machine, &ChildCache, conflict_on_first, |_| {
        live_first(&json!({"app": "made-by-hand"}))
    });
    assert_eq!(
        transcript,
        [
            "apply first unforced",
            "read GET ConfigMap ns/demo-first",
            "apply first forced",
            "apply second unforced"
        ]
    );
    assert_eq!(outcome.state, InstanceState::Active);

    // Gone between the conflict and the read: the forced apply creates it.
    let mut gone = reconcile_at_start(&graph);
    let (transcript, _) = drive_applies(&mut gone, &ChildCache, conflict_on_first, |_| {
        ReadAnswer::Absent
    });
    assert_eq!(transcript[2], "apply first forced");
}

#[test]
fn a_refused_take_over_read_makes_the_node_forbidden_and_applies_nothing() {
    let graph = graph();
    let mut machine = reconcile_at_start(&graph);
    let (transcript, outcome) = drive_applies(&mut machine, &ChildCache, conflict_on_first, |_| {
        ReadAnswer::Refused("configmaps \"demo-first\" is forbidden".into())
    });
    assert_eq!(
        transcript,
        ["apply first unforced", "read GET ConfigMap ns/demo-first"]
    );
    assert_eq!(outcome.state, InstanceState::Error);
    assert_eq!(ready_reason(&machine), json!(REASON_FORBIDDEN));
}

#[test]
fn a_conflict_on_a_forced_apply_is_a_plain_rejection() {
    let graph = graph();
    let mut first = reconcile_at_start(&graph);
    drive(&mut first, &ChildCache, Server::Accepting);
    let cluster = cluster_after(&first);
    let mut changed = first.instance().object().clone();
    changed["spec"]["value"] = json!("w");
    let mut again = Reconcile::new(&graph, parsed(changed), "2026-01-01T00:01:00Z", settings());
    let (transcript, outcome) = drive_applies(
        &mut again,
        &cluster,
        |_| ApplyAnswer::Conflict("the object has been modified".into()),
        |read| panic!("no take-over read after a forced apply: {read}"),
    );
    assert_eq!(transcript, ["apply first forced", "apply second forced"]);
    assert_eq!(outcome.state, InstanceState::Error);
}
