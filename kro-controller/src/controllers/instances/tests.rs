use super::streams::trigger_hash;
use super::vanished::vanished_unfinalized;
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
fn only_an_unmarked_deletion_with_kros_finalizer_is_a_vanished_instance() {
    assert!(vanished_unfinalized(&last_state(&[FINALIZER], false)));
    assert!(vanished_unfinalized(&last_state(
        &["other", FINALIZER],
        false
    )));
    // kro finalized it: the deletion event shows the mark and the finalizer still on.
    assert!(!vanished_unfinalized(&last_state(&[FINALIZER], true)));
    // Never adopted by kro, or its finalizer stripped first.
    assert!(!vanished_unfinalized(&last_state(&[], false)));
    assert!(!vanished_unfinalized(&last_state(&["other"], false)));

    let vanished = VanishedInstances::default();
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kro.run", "v1alpha1", "App"),
        "apps",
    );
    assert!(
        vanished
            .remember(&last_state(&[FINALIZER], true), &resource)
            .is_none()
    );
    let object_ref = vanished
        .remember(&last_state(&[FINALIZER], false), &resource)
        .expect("remembered");
    assert_eq!(object_ref, instance_ref("a", Some("n"), &resource));
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
