use std::time::Duration;

use futures::StreamExt as _;
use futures::stream::BoxStream;
use kro_api::ResourceGraphDefinition;
use kro_graph::{OfflineResolver, compile};
use kube::Client;
use kube::runtime::reflector::store::Writer;
use serde_json::json;

use super::*;

/// Two ConfigMaps, a Deployment and an external Secret.
const RGD: &str = r"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: app
spec:
  schema:
    group: apps.example.com
    apiVersion: v1beta1
    kind: App
    spec:
      name: string
  resources:
    - id: secret
      externalRef:
        apiVersion: v1
        kind: Secret
        metadata:
          name: shared
    - id: first
      template:
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: ${schema.spec.name}-a
    - id: deployment
      template:
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: ${schema.spec.name}
        spec:
          selector:
            matchLabels: {app: x}
          template:
            metadata:
              labels: {app: x}
            spec:
              containers: [{name: c, image: i}]
    - id: second
      template:
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: ${schema.spec.name}-b
";

fn graph() -> Graph {
    let rgd = ResourceGraphDefinition::from_yaml(RGD).expect("RGD parses");
    compile(&rgd, &OfflineResolver::new()).expect("RGD compiles")
}

fn key(kind: &str, namespace: Option<&str>, name: &str) -> ObjectKey {
    ObjectKey {
        group: "apps.example.com".into(),
        version: "v1beta1".into(),
        kind: kind.into(),
        namespace: namespace.map(str::to_owned),
        name: name.into(),
    }
}

fn instance(namespace: &str, name: &str, finalizers: &[&str], marked: bool) -> DynamicObject {
    let mut object = json!({
        "apiVersion": "apps.example.com/v1beta1", "kind": "App",
        "metadata": {"name": name, "namespace": namespace, "uid": "u", "finalizers": finalizers}
    });
    if marked {
        object["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    }
    serde_json::from_value(object).expect("an object")
}

/// A client whose every connection is refused: nothing in these tests reaches a server.
fn unreachable_client() -> Client {
    let config = kube::Config::new("http://127.0.0.1:1".parse().expect("valid uri"));
    Client::try_from(config).expect("client")
}

#[test]
fn the_graph_names_the_served_kind_and_the_applied_kinds() {
    let graph = graph();
    let resource = instance_api_resource(&graph);
    assert_eq!(
        (
            resource.group.as_str(),
            resource.version.as_str(),
            resource.kind.as_str(),
            resource.plural.as_str(),
            resource.api_version.as_str()
        ),
        (
            "apps.example.com",
            "v1beta1",
            "App",
            "apps",
            "apps.example.com/v1beta1"
        )
    );
    let kinds: Vec<(String, String, bool)> = child_kinds(&graph)
        .into_iter()
        .map(|kind| (kind.api_version(), kind.plural, kind.namespaced))
        .collect();
    assert_eq!(
        kinds,
        [
            ("v1".to_owned(), "configmaps".to_owned(), true),
            ("apps/v1".to_owned(), "deployments".to_owned(), true),
        ],
        "one entry per kind, templates only"
    );
}

#[test]
fn instance_keys_become_controller_references() {
    let resource = instance_api_resource(&graph());
    let namespaced = instance_object_ref(&key("App", Some("team"), "shop"), &resource);
    assert_eq!(namespaced.name, "shop");
    assert_eq!(namespaced.namespace.as_deref(), Some("team"));
    assert_eq!(namespaced.dyntype, resource);
    assert_eq!(
        namespaced,
        ObjectRef::from_obj_with(&instance("team", "shop", &[], false), resource.clone())
    );
    let cluster = instance_object_ref(&key("App", None, "shop"), &resource);
    assert_eq!(cluster.namespace, None);

    assert!(is_instance_of(&key("App", None, "x"), &resource));
    let mut other_version = key("App", None, "x");
    other_version.version = "v1alpha1".into();
    assert!(is_instance_of(&other_version, &resource));
    assert!(!is_instance_of(&key("Other", None, "x"), &resource));
    let mut other_group = key("App", None, "x");
    other_group.group = "kro.run".into();
    assert!(!is_instance_of(&other_group, &resource));
}

#[tokio::test]
async fn triggers_follow_child_events_of_the_kind_and_requeue_all_after_a_lag() {
    let resource = instance_api_resource(&graph());
    let cache = ObjectCache::new(unreachable_client());
    let mut writer = Writer::<DynamicObject>::new(resource.clone());
    for name in ["a", "b"] {
        writer.apply_watcher_event(&watcher::Event::Apply(instance("team", name, &[], false)));
    }
    let mut triggers = triggers(&cache, &resource, writer.as_reader()).boxed();
    async fn next(
        triggers: &mut BoxStream<'static, ObjectRef<DynamicObject>>,
    ) -> ObjectRef<DynamicObject> {
        tokio::time::timeout(Duration::from_secs(5), triggers.next())
            .await
            .expect("a trigger in time")
            .expect("the stream goes on")
    }

    cache.publish_for_test(key("Other", Some("team"), "ignored"));
    cache.publish_for_test(key("App", Some("team"), "shop"));
    let reference = next(&mut triggers).await;
    assert_eq!(
        (reference.name.as_str(), reference.namespace.as_deref()),
        ("shop", Some("team"))
    );

    // More events than a subscriber buffers, unread: the lost ones are unknown, so every
    // stored instance is queued, then the events still buffered follow.
    for index in 0..5000 {
        cache.publish_for_test(key("Other", None, &format!("n{index}")));
    }
    cache.publish_for_test(key("App", Some("team"), "last"));
    let mut names = Vec::new();
    for _ in 0..3 {
        names.push(next(&mut triggers).await.name);
    }
    names[..2].sort();
    assert_eq!(names, ["a", "b", "last"]);
}

#[tokio::test]
async fn only_instances_that_vanished_with_the_finalizer_are_queued_for_a_sweep() {
    let resource = instance_api_resource(&graph());
    let (vanished, refs) = VanishedInstances::new(&resource);
    let finalizer = kro_applyset::labels::FINALIZER;
    let kept = instance("team", "kept", &[finalizer], false);
    assert!(!vanished.observe(&watcher::Event::Apply(kept.clone())));
    assert!(
        !vanished.observe(&watcher::Event::Delete(instance(
            "team",
            "finalized",
            &[finalizer],
            true
        ))),
        "kro's deletion ran"
    );
    assert!(
        !vanished.observe(&watcher::Event::Delete(instance(
            "team",
            "plain",
            &[],
            false
        ))),
        "never adopted"
    );
    assert!(vanished.observe(&watcher::Event::Delete(kept.clone())));

    let queued: Vec<_> = refs.take(1).collect().await;
    let expected = ObjectRef::from_obj_with(&kept, resource.clone());
    assert_eq!(queued, std::slice::from_ref(&expected));
    let last_state = vanished.take(&expected).expect("remembered");
    assert_eq!(last_state.metadata.name.as_deref(), Some("kept"));
    assert!(vanished.take(&expected).is_none(), "taken once");
}
