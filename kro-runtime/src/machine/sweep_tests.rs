//! The sweeps of children whose instance is gone: what is looked at, in which order, and what
//! is deleted.

use kro_api::labels::{
    INSTANCE_GROUP_LABEL, INSTANCE_ID_LABEL, INSTANCE_KIND_LABEL, INSTANCE_NAME_LABEL,
    INSTANCE_NAMESPACE_LABEL, OWNED_LABEL,
};
use kro_applyset::ParentRef;
use serde_json::json;

use super::tests::{deleting_instance, graph, instance, member, parsed};
use super::*;

/// The last state of an instance that vanished with kro's finalizer on, after its first
/// reconcile (so it carries its ApplySet metadata).
fn vanished_last_state() -> Value {
    let mut last_state = deleting_instance();
    if let Some(metadata) = last_state["metadata"].as_object_mut() {
        metadata.remove("deletionTimestamp");
    }
    last_state
}

/// A kro child of the `Chain` instance `name` with `uid`, as a metadata list returns it.
fn child(instance_name: &str, uid: &str, name: &str, order: u32) -> Value {
    let applyset = ParentRef {
        group: "kro.run".into(),
        kind: "Chain".into(),
        namespace: Some("ns".into()),
        name: instance_name.into(),
    }
    .applyset_id();
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {
            "name": name, "namespace": "ns", "uid": format!("uid-{name}"),
            "labels": {
                OWNED_LABEL: "true",
                INSTANCE_GROUP_LABEL: "kro.run",
                INSTANCE_KIND_LABEL: "Chain",
                INSTANCE_ID_LABEL: uid,
                INSTANCE_NAME_LABEL: instance_name,
                INSTANCE_NAMESPACE_LABEL: "ns",
                "applyset.kubernetes.io/part-of": applyset,
            },
            "annotations": {"internal.kro.run/apply-order": order.to_string()}
        }
    })
}

fn live(name: &str, uid: &str) -> Value {
    json!({"apiVersion": "kro.run/v1alpha1", "kind": "Chain",
           "metadata": {"name": name, "namespace": "ns", "uid": uid}})
}

fn names(deletions: &[kro_applyset::Deletion]) -> Vec<&str> {
    deletions.iter().map(|d| d.key.name.as_str()).collect()
}

#[test]
fn a_finalized_or_never_applied_last_state_is_not_swept_and_costs_no_request() {
    let mut finalized = Sweep::vanished(parsed(deleting_instance()));
    assert_eq!(
        finalized.step(),
        Ok(SweepStep::Done(VanishedInstance::Finalized))
    );
    let mut never = instance();
    never["metadata"]["finalizers"] = json!(["kro.run/finalizer"]);
    let mut never = Sweep::vanished(parsed(never));
    assert_eq!(
        never.step(),
        Ok(SweepStep::Done(VanishedInstance::NeverApplied))
    );
}

#[test]
fn a_vanished_instance_is_left_alone_while_an_instance_of_its_name_exists() {
    let mut sweep = Sweep::vanished(parsed(vanished_last_state()));
    assert_eq!(sweep.step(), Ok(SweepStep::ReadInstance));
    sweep
        .respond(SweepResponse::InstanceExists(true))
        .expect("fits");
    assert_eq!(
        sweep.step(),
        Ok(SweepStep::Done(VanishedInstance::StillThere))
    );
}

#[test]
fn a_vanished_instance_loses_its_members_highest_order_first_except_recreated_ones() {
    let last_state = vanished_last_state();
    let mut sweep = Sweep::vanished(parsed(last_state.clone()));
    assert_eq!(sweep.step(), Ok(SweepStep::ReadInstance));
    sweep
        .respond(SweepResponse::InstanceExists(false))
        .expect("fits");
    let Ok(SweepStep::ListMembers(scope)) = sweep.step() else {
        panic!("the members are listed");
    };
    assert_eq!(scope.namespaces.iter().collect::<Vec<_>>(), ["ns"]);
    sweep
        .respond(SweepResponse::Listed(vec![
            member(&last_state, "first", 0),
            member(&last_state, "second", 1),
        ]))
        .expect("fits");
    let Ok(SweepStep::Delete {
        instance,
        uid,
        deletions,
    }) = sweep.step()
    else {
        panic!("the members are deleted");
    };
    assert_eq!((instance.name.as_str(), uid.as_str()), ("demo", "uid-1"));
    assert_eq!(names(&deletions), ["second", "first"]);
    assert!(
        deletions
            .iter()
            .all(|d| d.uid_precondition.starts_with("uid-"))
    );
    // `first` was recreated under another UID meanwhile: it is not what was left behind.
    sweep
        .respond(SweepResponse::Deleted(vec![
            DeleteAnswer::Deleted,
            DeleteAnswer::UidConflict,
        ]))
        .expect("fits");
    let Ok(SweepStep::Done(VanishedInstance::Swept(keys))) = sweep.step() else {
        panic!("done");
    };
    assert_eq!(
        keys.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(),
        ["second"]
    );
}

#[test]
fn a_vanished_instance_whose_inventory_does_not_validate_deletes_nothing() {
    let mut last_state = vanished_last_state();
    last_state["metadata"]["labels"]["applyset.kubernetes.io/id"] = json!("applyset-forged-v1");
    let mut sweep = Sweep::vanished(parsed(last_state));
    assert_eq!(sweep.step(), Ok(SweepStep::ReadInstance));
    assert!(matches!(
        sweep.respond(SweepResponse::InstanceExists(false)),
        Err(DeletionError::Blocked { .. })
    ));
}

#[test]
fn orphans_are_found_by_listing_children_before_instances_and_deleted_instance_by_instance() {
    let graph = graph();
    let mut sweep = Sweep::orphans(&graph);
    let Ok(SweepStep::ListChildren { kinds, selector }) = sweep.step() else {
        panic!("the children are listed first");
    };
    assert_eq!(
        kinds.iter().map(|k| k.kind.as_str()).collect::<Vec<_>>(),
        ["ConfigMap"],
        "the templates' kinds, once each; external references are not kro's"
    );
    assert_eq!(
        selector.to_string(),
        "kro.run/instance-group=kro.run,kro.run/instance-kind=Chain,kro.run/owned=true"
    );
    sweep
        .respond(SweepResponse::Listed(vec![
            child("live", "uid-live", "live-first", 0),
            child("gone", "uid-gone", "gone-first", 0),
            child("gone", "uid-gone", "gone-second", 1),
            // Its name is in use again: that instance's reconcile adopts or prunes it.
            child("back", "uid-old-back", "back-first", 0),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "no-uid"}}),
        ]))
        .expect("fits");
    assert_eq!(sweep.step(), Ok(SweepStep::ListInstances));
    sweep
        .respond(SweepResponse::Listed(vec![
            live("live", "uid-live"),
            live("back", "uid-new-back"),
        ]))
        .expect("fits");
    let Ok(SweepStep::Delete {
        instance,
        uid,
        deletions,
    }) = sweep.step()
    else {
        panic!("the orphans are deleted");
    };
    assert_eq!((instance.name.as_str(), uid.as_str()), ("gone", "uid-gone"));
    assert_eq!(names(&deletions), ["gone-second", "gone-first"]);
    sweep
        .respond(SweepResponse::Deleted(vec![DeleteAnswer::Deleted; 2]))
        .expect("fits");
    let Ok(SweepStep::Done(VanishedInstance::Swept(keys))) = sweep.step() else {
        panic!("done");
    };
    assert_eq!(
        keys.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(),
        ["gone-second", "gone-first"]
    );
}

#[test]
fn with_no_kro_child_the_orphan_sweep_lists_no_instance() {
    let graph = graph();
    let mut sweep = Sweep::orphans(&graph);
    assert!(matches!(sweep.step(), Ok(SweepStep::ListChildren { .. })));
    sweep
        .respond(SweepResponse::Listed(Vec::new()))
        .expect("fits");
    assert_eq!(
        sweep.step(),
        Ok(SweepStep::Done(VanishedInstance::Swept(Vec::new())))
    );
    assert!(matches!(
        sweep.respond(SweepResponse::Listed(Vec::new())),
        Err(DeletionError::Protocol(
            MachineError::UnexpectedResponse { .. }
        ))
    ));
}
