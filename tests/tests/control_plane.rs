//! Proves that the test control plane is a real Kubernetes API server: namespaces, ConfigMaps,
//! server-side apply, CRDs, custom objects through kube-rs, and namespace deletion by the
//! namespace controller.

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kro_integration_tests::{client, create_namespace, delete_namespace_and_wait, unique_name};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::runtime::wait::{await_condition, conditions::is_crd_established};
use serde_json::json;

#[tokio::test]
async fn control_plane_serves_core_objects_crds_and_custom_objects() -> anyhow::Result<()> {
    let client = client().await?;
    let ns = create_namespace(&client, "kro-it-cp").await?;

    // A ConfigMap, then a server-side apply that changes one key and adds another.
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let cm: ConfigMap = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": "settings" },
        "data": { "color": "blue" }
    }))?;
    config_maps.create(&PostParams::default(), &cm).await?;
    let applied = config_maps
        .patch(
            "settings",
            &PatchParams::apply("kro-integration-test").force(),
            &Patch::Apply(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": { "name": "settings" },
                "data": { "color": "green", "size": "large" }
            })),
        )
        .await?;
    let data = applied.data.unwrap_or_default();
    assert_eq!(data.get("color").map(String::as_str), Some("green"));
    assert_eq!(data.get("size").map(String::as_str), Some("large"));
    let managers: Vec<String> = applied
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(
        managers.iter().any(|m| m == "kro-integration-test"),
        "field managers were {managers:?}"
    );

    // A CRD with a unique group, waited on until Established.
    let group = format!("{}.test.kro.run", unique_name("g"));
    let crd_name = format!("widgets.{group}");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": { "name": crd_name },
        "spec": {
            "group": group,
            "names": { "kind": "Widget", "listKind": "WidgetList", "plural": "widgets", "singular": "widget" },
            "scope": "Namespaced",
            "versions": [{
                "name": "v1alpha1", "served": true, "storage": true,
                "subresources": { "status": {} },
                "schema": { "openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": { "type": "object", "properties": {
                            "size": { "type": "integer", "default": 3 },
                            "name": { "type": "string" }
                        }}
                    }
                }}
            }]
        }
    }))?;
    crds.create(&PostParams::default(), &crd).await?;
    tokio::time::timeout(
        Duration::from_secs(30),
        await_condition(crds.clone(), &crd_name, is_crd_established()),
    )
    .await??;

    // A custom object through the dynamic API; the server applies the schema default.
    let gvk = GroupVersionKind::gvk(&group, "v1alpha1", "Widget");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "widgets");
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &resource);
    let widget: DynamicObject = serde_json::from_value(json!({
        "apiVersion": format!("{group}/v1alpha1"), "kind": "Widget",
        "metadata": { "name": "first" },
        "spec": { "name": "sprocket" }
    }))?;
    widgets.create(&PostParams::default(), &widget).await?;
    let read = widgets.get("first").await?;
    assert_eq!(read.data["spec"]["name"], json!("sprocket"));
    assert_eq!(
        read.data["spec"]["size"],
        json!(3),
        "the CRD default was not applied"
    );

    // Deleting the namespace really deletes it (the namespace controller is running).
    delete_namespace_and_wait(&client, &ns, Duration::from_secs(60)).await?;
    crds.delete(&crd_name, &Default::default()).await?;
    Ok(())
}
