//! The executor against the real control plane (`scripts/testenv-up.sh`, `KRO_TEST_KUBECONFIG`):
//! drift, creations next to foreign objects, includeWhen and forEach.
//!
//! The engine is driven directly, without the operator: install the generated CRD, create an
//! instance, reconcile in a loop (waiting for child watch events between reconciles) until the
//! expected state.

mod executor_support;

use kro_controller::executor::KindApi as _;
use std::time::Duration;

use executor_support::{Harness, config_maps, deployments, get_json, label, yaml};
use kro_integration_tests::create_namespace;
use kro_runtime::core::InstanceState;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};

const CONFIG_RGD: &str = r#"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: exec-config
spec:
  schema:
    apiVersion: v1alpha1
    kind: ExecConfig
    spec:
      value: string | default=one
      image: string | default=nginx:1.25
      withExtra: boolean | default=false
      names: "[]string"
    status:
      value: ${config.data.value}
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-config
      data:
        value: ${schema.spec.value}
  - id: extra
    includeWhen:
    - ${schema.spec.withExtra}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${config.metadata.name}-extra
      data:
        from: ${config.data.value}
  - id: entries
    forEach:
    - entry: ${schema.spec.names}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-item-${entry}
      data:
        entry: ${entry}
  - id: deployment
    template:
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: ${schema.metadata.name}-app
      spec:
        selector:
          matchLabels:
            app: ${schema.metadata.name}
        template:
          metadata:
            labels:
              app: ${schema.metadata.name}
          spec:
            containers:
            - name: app
              image: ${schema.spec.image}
"#;

fn config_instance(name: &str, spec: &Value) -> Value {
    json!({"kind": "ExecConfig", "metadata": {"name": name}, "spec": spec})
}

/// Drift: an edited child is put back, a deleted child is recreated, and a field the template
/// does not set (replicas, as an autoscaler would own it) survives a re-apply.
#[tokio::test]
async fn drift_is_repaired_and_fields_owned_by_others_are_left_alone() -> anyhow::Result<()> {
    let harness = Harness::new().await?;
    let engine = harness.install(yaml(CONFIG_RGD)).await?;
    let ns = create_namespace(&harness.client, "exec-drift").await?;
    engine
        .apply_instance(&ns, config_instance("drift", &json!({"names": []})))
        .await?;
    engine.converge_active(&ns, "drift").await?;

    // An edit of a templated field is reverted. The cache keeps metadata only: it has seen the
    // edit when it holds the edited resourceVersion.
    let edited = config_maps()
        .api(harness.client.clone(), Some(&ns))
        .patch(
            "drift-config",
            &PatchParams::apply("intruder").force(),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "drift-config"}, "data": {"value": "edited"}})),
        )
        .await?;
    let edited_version = edited.metadata.resource_version.unwrap_or_default();
    engine
        .wait_cached(&config_maps(), &ns, "drift-config", |o| {
            o.is_some_and(|o| o["metadata"]["resourceVersion"] == edited_version.as_str())
        })
        .await?;
    let repaired = engine.reconcile_once(&ns, "drift").await?;
    assert_eq!(repaired.stats.applies, 1, "{repaired:?}");
    let config = get_json(&harness.client, &config_maps(), &ns, "drift-config").await?;
    assert_eq!(config.expect("exists")["data"]["value"], "one");

    // A deleted child is recreated.
    config_maps()
        .api(harness.client.clone(), Some(&ns))
        .delete("drift-config", &DeleteParams::default())
        .await?;
    engine
        .wait_cached(&config_maps(), &ns, "drift-config", |o| o.is_none())
        .await?;
    engine.converge_active(&ns, "drift").await?;
    let config = get_json(&harness.client, &config_maps(), &ns, "drift-config").await?;
    assert_eq!(config.expect("recreated")["data"]["value"], "one");

    // replicas is not in the template: another manager's value survives kro's re-apply.
    deployments()
        .api(harness.client.clone(), Some(&ns))
        .patch(
            "drift-app",
            &PatchParams::apply("autoscaler").force(),
            &Patch::Apply(json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "drift-app"}, "spec": {"replicas": 3}})),
        )
        .await?;
    engine
        .apply_instance(
            &ns,
            config_instance("drift", &json!({"names": [], "image": "nginx:1.27"})),
        )
        .await?;
    let reapplied = engine.reconcile_once(&ns, "drift").await?;
    assert!(reapplied.stats.applies >= 1, "{reapplied:?}");
    let deployment = get_json(&harness.client, &deployments(), &ns, "drift-app")
        .await?
        .expect("deployment exists");
    assert_eq!(deployment["spec"]["replicas"], 3);
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    Ok(())
}

/// Creations are applied without force first: an object that already exists as a member of
/// another ApplySet (which kro's watch never sees) is refused and left untouched, and an
/// unlabelled one with other values is taken over, as upstream's forced apply does.
#[tokio::test]
async fn creations_refuse_foreign_applysets_and_take_over_unlabelled_objects() -> anyhow::Result<()>
{
    let harness = Harness::new().await?;
    let engine = harness.install(yaml(CONFIG_RGD)).await?;
    let ns = create_namespace(&harness.client, "exec-create").await?;
    let configs = config_maps().api(harness.client.clone(), Some(&ns));
    let precreate = |name: &str, labels: Value| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels}, "data": {"value": "before"}})
    };
    configs
        .patch(
            "foreign-config",
            &PatchParams::apply("other-tool"),
            &Patch::Apply(precreate(
                "foreign-config",
                json!({"applyset.kubernetes.io/part-of": "applyset-other-tool"}),
            )),
        )
        .await?;
    configs
        .patch(
            "adopted-config",
            &PatchParams::apply("someone"),
            &Patch::Apply(precreate("adopted-config", json!({}))),
        )
        .await?;

    engine
        .apply_instance(&ns, config_instance("foreign", &json!({"names": []})))
        .await?;
    let refused = engine
        .converge(&ns, "foreign", Duration::from_secs(30), |o| {
            o.state == InstanceState::Error
        })
        .await?
        .outcome;
    let config = refused
        .waiting_on
        .iter()
        .find(|w| w.id == "config")
        .expect("config is reported");
    assert!(config.reason.contains("applyset-other-tool"), "{config:?}");
    let foreign = get_json(&harness.client, &config_maps(), &ns, "foreign-config")
        .await?
        .expect("still there");
    assert_eq!(foreign["data"]["value"], "before");
    assert_eq!(
        foreign["metadata"]["labels"]["applyset.kubernetes.io/part-of"],
        "applyset-other-tool"
    );

    engine
        .apply_instance(&ns, config_instance("adopted", &json!({"names": []})))
        .await?;
    engine.converge_active(&ns, "adopted").await?;
    let adopted = get_json(&harness.client, &config_maps(), &ns, "adopted-config")
        .await?
        .expect("exists");
    assert_eq!(adopted["data"]["value"], "one");
    assert_eq!(adopted["metadata"]["labels"]["kro.run/owned"], "true");
    Ok(())
}

/// includeWhen flipping to false prunes the resource; a forEach list grows and shrinks.
#[tokio::test]
async fn include_when_flip_prunes_and_collections_grow_and_shrink() -> anyhow::Result<()> {
    let harness = Harness::new().await?;
    let engine = harness.install(yaml(CONFIG_RGD)).await?;
    let ns = create_namespace(&harness.client, "exec-prune").await?;
    let exists = |name: &'static str| {
        let client = harness.client.clone();
        let ns = ns.clone();
        async move {
            anyhow::Ok(
                get_json(&client, &config_maps(), &ns, name)
                    .await?
                    .is_some_and(|o| o["metadata"]["deletionTimestamp"].is_null()),
            )
        }
    };

    engine
        .apply_instance(
            &ns,
            config_instance("p", &json!({"withExtra": true, "names": ["a", "b"]})),
        )
        .await?;
    engine.converge_active(&ns, "p").await?;
    assert!(exists("p-config-extra").await?);
    assert!(exists("p-item-a").await? && exists("p-item-b").await?);
    let item_a = get_json(&harness.client, &config_maps(), &ns, "p-item-a")
        .await?
        .expect("item a");
    assert_eq!(label(&item_a, "kro.run/collection-index"), Some("0"));
    assert_eq!(label(&item_a, "kro.run/collection-size"), Some("2"));

    // Grow.
    engine
        .apply_instance(
            &ns,
            config_instance("p", &json!({"withExtra": true, "names": ["a", "b", "c"]})),
        )
        .await?;
    engine.converge_active(&ns, "p").await?;
    assert!(exists("p-item-c").await?);
    let item_c = get_json(&harness.client, &config_maps(), &ns, "p-item-c")
        .await?
        .expect("item c");
    assert_eq!(label(&item_c, "kro.run/collection-size"), Some("3"));

    // Shrink and flip includeWhen in one edit.
    engine
        .apply_instance(
            &ns,
            config_instance("p", &json!({"withExtra": false, "names": ["a"]})),
        )
        .await?;
    let pruned = engine.converge_active(&ns, "p").await?;
    assert!(
        pruned
            .history
            .iter()
            .map(|o| o.stats.deletes)
            .sum::<usize>()
            >= 3,
        "{pruned:?}"
    );
    assert!(!exists("p-config-extra").await?);
    assert!(!exists("p-item-b").await? && !exists("p-item-c").await?);
    assert!(exists("p-item-a").await? && exists("p-config").await?);
    let instance = get_json(&harness.client, &engine.kind, &ns, "p")
        .await?
        .expect("instance");
    assert_eq!(
        instance["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"],
        "ConfigMap,Deployment.apps"
    );
    Ok(())
}
