use kro_applyset::ObjectKey;
use kro_applyset::labels::FINALIZER;
use serde_json::json;

use super::memo::body_hash;
use super::*;
use kro_runtime::machine::instance_patch_body;

/// Compiles only if a reconcile can be spawned on a multi-threaded runtime.
#[allow(dead_code)]
fn reconcile_future_is_send(executor: &Executor, graph: &Graph, instance: &DynamicObject) {
    fn require_send<T: Send>(_: T) {}
    require_send(executor.reconcile(graph, instance));
}

#[test]
fn body_hash_is_stable_and_sensitive() {
    let body = json!({"metadata": {"name": "a"}, "data": {"k": "v"}});
    assert_eq!(body_hash(&body), body_hash(&body.clone()));
    assert_ne!(
        body_hash(&body),
        body_hash(&json!({"metadata": {"name": "a"}, "data": {"k": "w"}}))
    );
}

#[test]
fn memo_requires_the_same_uid_and_body() {
    let memo = AppliedMemo::default();
    let key = ObjectKey::namespaced("", "v1", "ConfigMap", "ns", "a");
    memo.record(&key, "uid-1", 7);
    assert!(memo.matches(&key, "uid-1", 7));
    assert!(
        !memo.matches(&key, "uid-2", 7),
        "a recreated object is applied again"
    );
    assert!(
        !memo.matches(&key, "uid-1", 8),
        "a changed body is applied again"
    );
    memo.forget(&key);
    assert!(!memo.matches(&key, "uid-1", 7));
}

#[test]
fn instance_patch_bodies_carry_only_identity_and_the_owned_fields() {
    let instance = json!({
        "apiVersion": "kro.run/v1alpha1", "kind": "WebApp",
        "metadata": {"name": "web", "namespace": "team", "uid": "u", "labels": {"user": "x"}},
        "spec": {"replicas": 2}
    });
    let body = instance_patch_body(&instance, |metadata| {
        metadata.insert("finalizers".into(), json!([FINALIZER]));
    });
    assert_eq!(
        body,
        json!({
            "apiVersion": "kro.run/v1alpha1", "kind": "WebApp",
            "metadata": {"name": "web", "namespace": "team", "uid": "u",
                         "finalizers": ["kro.run/finalizer"]}
        })
    );
}
