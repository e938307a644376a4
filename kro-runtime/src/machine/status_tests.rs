//! The status write's decisions: no write when nothing changed, and after a conflict a fresh
//! read of the instance and another attempt, a bounded number of times.

use serde_json::json;

use super::tests::{
    ChildCache, deleting_instance, graph, member, metadata_written, parsed, reconcile_at_start,
    secret,
};
use super::*;

/// Answers every step of `machine` as an accepting server would, up to its status write; the
/// status it asks to write.
fn until_status_write(machine: &mut Reconcile<'_>) -> Value {
    loop {
        let response = match machine.step(&ChildCache).expect("allowed") {
            Step::WriteStatus(status) => return status,
            Step::Read(reads) => Response::Read(vec![ReadAnswer::Object(secret()); reads.len()]),
            Step::WriteInstanceMetadata { labels, parent } => {
                let instance = metadata_written(machine, &labels, &parent);
                Response::InstanceWritten(instance)
            }
            Step::Apply(requests) => Response::Applied(
                requests
                    .iter()
                    .map(|ApplyRequest { item, .. }| {
                        ApplyAnswer::Applied(Arc::new(item.body.clone()))
                    })
                    .collect(),
            ),
            Step::ListMembers(_) => Response::Members(Vec::new()),
            other => panic!("unexpected step before the status write: {other:?}"),
        };
        machine.respond(response).expect("fits");
    }
}

/// The instance as another writer left it: a newer `resourceVersion`, the old status.
fn changed_by_another_writer(instance: &Value, version: &str) -> Value {
    let mut fresh = instance.clone();
    fresh["metadata"]["resourceVersion"] = json!(version);
    fresh["metadata"]["labels"]["team"] = json!("web");
    fresh
}

#[test]
fn a_conflicting_status_write_rereads_the_instance_and_writes_over_the_fresh_one() {
    let graph = graph();
    let mut machine = reconcile_at_start(&graph);
    let status = until_status_write(&mut machine);
    machine.respond(Response::StatusConflict).expect("fits");
    assert_eq!(machine.step(&ChildCache), Ok(Step::ReadInstance));
    let fresh = changed_by_another_writer(machine.instance().object(), "7");
    machine
        .respond(Response::InstanceRead(Some(fresh)))
        .expect("fits");
    // The same status, written over the instance as it is now.
    assert_eq!(
        machine.step(&ChildCache),
        Ok(Step::WriteStatus(status.clone()))
    );
    assert_eq!(
        machine.instance().object()["metadata"]["resourceVersion"],
        "7"
    );
    let mut written = machine.instance().object().clone();
    written["status"] = status;
    machine
        .respond(Response::StatusWritten(Some(written)))
        .expect("fits");
    assert!(matches!(machine.step(&ChildCache), Ok(Step::Done(_))));
    assert_eq!(
        machine.instance().object()["metadata"]["labels"]["team"],
        "web"
    );
}

#[test]
fn the_status_write_gives_up_after_its_last_conflicting_attempt() {
    let graph = graph();
    let mut machine = reconcile_at_start(&graph);
    until_status_write(&mut machine);
    let mut steps = vec!["write"];
    for attempt in 1..MAX_STATUS_ATTEMPTS {
        machine.respond(Response::StatusConflict).expect("fits");
        assert_eq!(machine.step(&ChildCache), Ok(Step::ReadInstance));
        steps.push("read");
        let fresh = changed_by_another_writer(machine.instance().object(), &attempt.to_string());
        machine
            .respond(Response::InstanceRead(Some(fresh)))
            .expect("fits");
        assert!(matches!(
            machine.step(&ChildCache),
            Ok(Step::WriteStatus(_))
        ));
        steps.push("write");
    }
    machine.respond(Response::StatusConflict).expect("fits");
    assert_eq!(
        machine.step(&ChildCache),
        Err(MachineError::StatusConflicts { attempts: 3 })
    );
    assert_eq!(steps, ["write", "read", "write", "read", "write"]);
}

#[test]
fn a_status_another_writer_already_wrote_or_a_vanished_instance_needs_no_retry() {
    let graph = graph();
    let mut machine = reconcile_at_start(&graph);
    let status = until_status_write(&mut machine);
    machine.respond(Response::StatusConflict).expect("fits");
    assert_eq!(machine.step(&ChildCache), Ok(Step::ReadInstance));
    let mut fresh = changed_by_another_writer(machine.instance().object(), "7");
    fresh["status"] = status;
    machine
        .respond(Response::InstanceRead(Some(fresh)))
        .expect("fits");
    assert!(matches!(machine.step(&ChildCache), Ok(Step::Done(_))));

    let mut gone = reconcile_at_start(&graph);
    until_status_write(&mut gone);
    gone.respond(Response::StatusConflict).expect("fits");
    assert_eq!(gone.step(&ChildCache), Ok(Step::ReadInstance));
    gone.respond(Response::InstanceRead(None)).expect("fits");
    assert!(matches!(gone.step(&ChildCache), Ok(Step::Done(_))));
}

/// A deletion machine of `instance` answered up to its status write; the status.
fn deletion_until_status_write(deletion: &mut DeletionReconcile, instance: &Value) -> Value {
    assert!(matches!(deletion.step(), Ok(DeletionStep::ListMembers(_))));
    deletion
        .respond(DeletionResponse::Members(vec![member(
            instance, "first", 0,
        )]))
        .expect("fits");
    assert!(matches!(deletion.step(), Ok(DeletionStep::Delete(_))));
    deletion
        .respond(DeletionResponse::Deleted { watched: true })
        .expect("fits");
    let DeletionStep::WriteStatus(status) = deletion.step().expect("allowed") else {
        panic!("the deleting status is written");
    };
    status
}

#[test]
fn a_deleting_instance_retries_a_conflicting_status_write_and_skips_an_unchanged_one() {
    let instance = deleting_instance();
    let mut deletion = DeletionReconcile::new(parsed(instance.clone()), "2026-01-01T00:06:00Z");
    let status = deletion_until_status_write(&mut deletion, &instance);
    deletion
        .respond(DeletionResponse::StatusConflict)
        .expect("fits");
    assert_eq!(deletion.step(), Ok(DeletionStep::ReadInstance));
    deletion
        .respond(DeletionResponse::InstanceRead(Some(
            changed_by_another_writer(&instance, "43"),
        )))
        .expect("fits");
    assert_eq!(
        deletion.step(),
        Ok(DeletionStep::WriteStatus(status.clone()))
    );
    assert_eq!(
        deletion.instance().object()["metadata"]["resourceVersion"],
        "43"
    );

    // The next look finds the same wave still there and the status already written.
    let mut written = instance.clone();
    written["status"] = status;
    let mut again = DeletionReconcile::new(parsed(written.clone()), "2026-01-01T00:06:00Z");
    assert!(matches!(again.step(), Ok(DeletionStep::ListMembers(_))));
    again
        .respond(DeletionResponse::Members(vec![member(
            &written, "first", 0,
        )]))
        .expect("fits");
    assert!(matches!(again.step(), Ok(DeletionStep::Delete(_))));
    again
        .respond(DeletionResponse::Deleted { watched: true })
        .expect("fits");
    assert!(
        matches!(again.step(), Ok(DeletionStep::Done(ref done)) if !done.finalized),
        "no status write"
    );
}

#[test]
fn a_deleting_instance_gives_up_its_status_write_after_the_last_conflict() {
    let instance = deleting_instance();
    let mut deletion = DeletionReconcile::new(parsed(instance.clone()), "2026-01-01T00:06:00Z");
    deletion_until_status_write(&mut deletion, &instance);
    for attempt in 1..MAX_STATUS_ATTEMPTS {
        deletion
            .respond(DeletionResponse::StatusConflict)
            .expect("fits");
        assert_eq!(deletion.step(), Ok(DeletionStep::ReadInstance));
        let fresh = changed_by_another_writer(&instance, &attempt.to_string());
        deletion
            .respond(DeletionResponse::InstanceRead(Some(fresh)))
            .expect("fits");
        assert!(matches!(deletion.step(), Ok(DeletionStep::WriteStatus(_))));
    }
    assert_eq!(
        deletion.respond(DeletionResponse::StatusConflict),
        Err(DeletionError::Protocol(MachineError::StatusConflicts {
            attempts: MAX_STATUS_ATTEMPTS
        }))
    );
}
