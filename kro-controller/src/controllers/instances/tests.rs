use super::streams::trigger_hash;
use super::*;
use kro_applyset::labels::FINALIZER;
use kube::api::GroupVersionKind;
use serde_json::json;

fn last_state(finalizers: &[&str], marked: bool) -> StoredInstance {
    let mut object = json!({
        "apiVersion": "kro.run/v1alpha1", "kind": "App",
        "metadata": {"name": "a", "namespace": "n", "finalizers": finalizers}
    });
    if marked {
        object["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    }
    serde_json::from_value(object).expect("valid object")
}

#[test]
fn the_controllers_remember_instances_that_vanished_unfinalized_in_their_stored_form() {
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kro.run", "v1alpha1", "App"),
        "apps",
    );
    let (vanished, _refs) = VanishedInstances::<StoredInstance>::new(&resource);
    let deleted = |finalizers: &[&str], marked| {
        kube::runtime::watcher::Event::Delete(last_state(finalizers, marked))
    };
    // kro finalized it: the deletion event shows the mark and the finalizer still on.
    assert!(!vanished.observe(&deleted(&[FINALIZER], true)));
    // Never adopted by kro, or its finalizer stripped first.
    assert!(!vanished.observe(&deleted(&[], false)));
    assert!(!vanished.observe(&deleted(&["other"], false)));
    assert!(
        !vanished.observe(&kube::runtime::watcher::Event::Apply(last_state(
            &[FINALIZER],
            false
        )))
    );
    let object_ref = instance_ref("a", Some("n"), &resource);
    assert!(vanished.take(&object_ref).is_none());
    assert!(vanished.observe(&deleted(&["other", FINALIZER], false)));
    assert!(vanished.take(&object_ref).is_some());
    assert!(vanished.take(&object_ref).is_none(), "taken once");
}

fn instance(
    generation: i64,
    annotations: &[(&str, &str)],
    labels: &[(&str, &str)],
) -> StoredInstance {
    let annotations: BTreeMap<&str, &str> = annotations.iter().copied().collect();
    let labels: BTreeMap<&str, &str> = labels.iter().copied().collect();
    serde_json::from_value(json!({
        "apiVersion": "kro.run/v1alpha1", "kind": "App",
        "metadata": {"name": "a", "namespace": "n", "generation": generation,
                     "annotations": annotations, "labels": labels},
        "status": {"state": "ACTIVE"}
    }))
    .expect("valid object")
}

#[test]
fn only_generation_deletion_and_suspension_trigger() {
    let base = trigger_hash(&instance(1, &[], &[]));
    assert_eq!(
        base,
        trigger_hash(&instance(1, &[("other", "x")], &[("l", "v")]))
    );
    assert_ne!(base, trigger_hash(&instance(2, &[], &[])));
    assert_ne!(
        base,
        trigger_hash(&instance(1, &[(SUSPEND_ANNOTATION, "suspended")], &[]))
    );
    let mut deleting = instance(1, &[], &[]);
    deleting.meta_mut().deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
        ));
    assert_ne!(base, trigger_hash(&deleting));
}

#[test]
fn condition_transitions_name_old_and_new_status() {
    let old = json!({"conditions": [{"type": "Ready", "status": "False", "reason": "NotReady"}]});
    let new = json!({"conditions": [
        {"type": "Ready", "status": "True", "reason": "Ready"},
        {"type": "InstanceManaged", "status": "True", "reason": "Managed"},
    ]});
    let events = condition_transitions(Some(&old), Some(&new));
    assert_eq!(
        events,
        vec![
            (
                "InstanceManaged".to_owned(),
                "none -> True: Managed".to_owned(),
                false
            ),
            ("Ready".to_owned(), "False -> True: Ready".to_owned(), false),
        ]
    );
    assert!(condition_transitions(Some(&new), Some(&new)).is_empty());
}
