//! End to end: an RGD edited under running instances.
//!
//! - a resource added to the graph appears in every instance;
//! - a resource removed from the graph is pruned from every instance;
//! - a breaking schema change is blocked (KindReady False naming the change, the RGD Inactive,
//!   the CRD untouched) while the instances keep working on the old graph and CRD, and the
//!   `kro.run/allow-breaking-changes: "true"` annotation lets it through;
//! - an edit that does not compile leaves the RGD Inactive and the last good graph serving.
//!
//! One test, so the file runs one operator.

mod e2e_support;

use std::time::Duration;

use e2e_support::{
    OWNED_LABEL, SweptKind, create, create_test_namespace, dynamic_api, instance_api,
    label_for_test, no_unlabelled, remove_test_objects, rgd_api, start_operator, state_of,
};
use kro_integration_tests::{client, unique_name, wait_for};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt as _};
use serde_json::{Value, json};

const TEST: &str = "rgd-update";
const TIMEOUT: Duration = Duration::from_secs(60);
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(45);
const INSTANCES: [&str; 3] = ["one", "two", "three"];
const SWEPT: &[SweptKind] = &[SweptKind {
    api_version: "v1",
    kind: "ConfigMap",
    plural: "configmaps",
}];

/// A ConfigMap resource `id` named `<instance>-<id>` holding the instance's colour.
fn config_map(id: &str) -> Value {
    json!({"id": id, "template": {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": format!("${{schema.metadata.name}}-{id}")},
        "data": {"color": "${schema.spec.color}"}
    }})
}

/// The first version of the RGD: ConfigMaps `base` and `extra`; the schema has `color` and `size`.
fn first_rgd(name: &str, group: &str) -> Value {
    let mut rgd = json!({
        "apiVersion": "kro.run/v1alpha1",
        "kind": "ResourceGraphDefinition",
        "metadata": {"name": name},
        "spec": {
            "schema": {
                "apiVersion": "v1alpha1",
                "group": group,
                "kind": "Palette",
                "spec": {"color": "string | default=red", "size": "string | default=small"}
            },
            "resources": [config_map("base"), config_map("extra")]
        }
    });
    label_for_test(&mut rgd, TEST);
    rgd
}

/// What the steps share.
struct Fixture {
    client: Client,
    api_version: String,
    rgd_name: String,
    crd_name: String,
    instances: Api<DynamicObject>,
    config_maps: Api<DynamicObject>,
}

impl Fixture {
    async fn rgd(&self) -> anyhow::Result<DynamicObject> {
        Ok(rgd_api(&self.client).get(&self.rgd_name).await?)
    }

    /// Replaces the RGD's `spec.resources` / `spec.schema` (merge patch on `spec`).
    async fn patch_rgd(&self, patch: Value) -> anyhow::Result<()> {
        rgd_api(&self.client)
            .patch(
                &self.rgd_name,
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await?;
        Ok(())
    }

    /// Waits until the RGD's condition `type_` is `status` for its latest generation and `state`
    /// is the RGD's state; returns the RGD.
    async fn wait_rgd(
        &self,
        type_: &str,
        status: &str,
        state: &str,
    ) -> anyhow::Result<DynamicObject> {
        let what = format!("RGD {type_}={status} and {state}");
        let waited = wait_for(TIMEOUT, &what, || async {
            let rgd = self.rgd().await?;
            let current = condition(&rgd, type_).is_some_and(|condition| {
                condition["status"] == status
                    && condition["observedGeneration"].as_i64() == rgd.metadata.generation
            });
            Ok(current && state_of(&rgd) == Some(state))
        })
        .await;
        let rgd = self.rgd().await?;
        match waited {
            Ok(()) => Ok(rgd),
            Err(error) => anyhow::bail!("{error:#}\nstatus: {}", rgd.data["status"]),
        }
    }

    /// Waits until every instance has exactly the ConfigMaps `ids` (by node id), each with `color`.
    async fn wait_children(&self, ids: &[&str], color: &str) -> anyhow::Result<()> {
        let mut expected: Vec<String> = INSTANCES
            .iter()
            .flat_map(|instance| ids.iter().map(move |id| format!("{instance}-{id}")))
            .collect();
        expected.sort();
        let what = format!("the ConfigMaps to be {expected:?} with color {color}");
        wait_for(TIMEOUT, &what, || async {
            let mut found = Vec::new();
            for config_map in self
                .config_maps
                .list(&ListParams::default().labels(&format!("{OWNED_LABEL}=true")))
                .await?
                .items
            {
                if config_map.data["data"]["color"] != color {
                    return Ok(false);
                }
                found.push(config_map.name_any());
            }
            found.sort();
            Ok(found == expected)
        })
        .await
    }

    async fn wait_instances_active(&self) -> anyhow::Result<()> {
        wait_for(TIMEOUT, "every instance to be ACTIVE", || async {
            for name in INSTANCES {
                if state_of(&self.instances.get(name).await?) != Some("ACTIVE") {
                    return Ok(false);
                }
            }
            Ok(true)
        })
        .await
    }

    /// Sets `spec.color` on every instance.
    async fn paint(&self, color: &str) -> anyhow::Result<()> {
        for name in INSTANCES {
            self.instances
                .patch(
                    name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"color": color}})),
                )
                .await?;
        }
        Ok(())
    }

    /// The property names of the CRD's `spec`.
    async fn crd_spec_properties(&self) -> anyhow::Result<Vec<String>> {
        let crds = dynamic_api(
            &self.client,
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            None,
        );
        let crd = crds.get(&self.crd_name).await?;
        let properties = crd.data["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
            ["spec"]["properties"]
            .as_object()
            .map(|properties| properties.keys().cloned().collect())
            .unwrap_or_default();
        Ok(properties)
    }
}

fn condition<'a>(rgd: &'a DynamicObject, type_: &str) -> Option<&'a Value> {
    rgd.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|condition| condition["type"] == type_)
}

async fn updates(fixture: &Fixture, rgd: &Value) -> anyhow::Result<()> {
    create(&rgd_api(&fixture.client), rgd).await?;
    fixture.wait_rgd("Ready", "True", "Active").await?;
    for name in INSTANCES {
        let instance = json!({
            "apiVersion": fixture.api_version,
            "kind": "Palette",
            "metadata": {"name": name},
            "spec": {"size": "large"}
        });
        create(&fixture.instances, &instance).await?;
    }
    fixture.wait_instances_active().await?;
    fixture.wait_children(&["base", "extra"], "red").await?;

    resources_added_and_removed(fixture).await?;
    breaking_change_is_blocked(fixture).await?;
    annotation_allows_the_breaking_change(fixture).await?;
    uncompilable_edit_keeps_the_last_good_graph(fixture).await
}

/// A resource added to the graph appears in every instance; one removed is pruned from every
/// instance.
async fn resources_added_and_removed(fixture: &Fixture) -> anyhow::Result<()> {
    fixture
        .patch_rgd(json!({"spec": {"resources": [
            config_map("base"), config_map("extra"), config_map("added")
        ]}}))
        .await?;
    fixture
        .wait_children(&["added", "base", "extra"], "red")
        .await?;

    fixture
        .patch_rgd(json!({"spec": {"resources": [config_map("base"), config_map("added")]}}))
        .await?;
    fixture.wait_children(&["added", "base"], "red").await?;
    fixture.wait_instances_active().await
}

/// A breaking schema change (a field removed) is blocked and names the change.
async fn breaking_change_is_blocked(fixture: &Fixture) -> anyhow::Result<()> {
    fixture
        .patch_rgd(
            json!({"spec": {"schema": {"spec": {"color": "string | default=red", "size": null}}}}),
        )
        .await?;
    let blocked = fixture.wait_rgd("KindReady", "False", "Inactive").await?;
    let message = condition(&blocked, "KindReady")
        .and_then(|condition| condition["message"].as_str())
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(
        message.contains("breaking") && message.contains("size"),
        "the KindReady message does not name the breaking change: {message:?}"
    );
    anyhow::ensure!(
        fixture
            .crd_spec_properties()
            .await?
            .contains(&"size".to_owned()),
        "the blocked change reached the CRD"
    );
    // The instances keep working on the old graph and CRD: `size` is still accepted and a spec
    // change still reaches the children.
    fixture
        .instances
        .patch(
            "one",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": "medium"}})),
        )
        .await?;
    fixture.paint("blue").await?;
    fixture.wait_children(&["added", "base"], "blue").await
}

/// The annotation lets the breaking change through.
async fn annotation_allows_the_breaking_change(fixture: &Fixture) -> anyhow::Result<()> {
    fixture
        .patch_rgd(json!({"metadata": {"annotations": {"kro.run/allow-breaking-changes": "true"}}}))
        .await?;
    fixture.wait_rgd("KindReady", "True", "Active").await?;
    let properties = fixture.crd_spec_properties().await?;
    anyhow::ensure!(
        !properties.contains(&"size".to_owned()) && properties.contains(&"color".to_owned()),
        "the CRD was not updated: spec properties {properties:?}"
    );
    fixture.paint("green").await?;
    fixture.wait_children(&["added", "base"], "green").await?;
    fixture.wait_instances_active().await
}

/// An edit that does not compile: Inactive, GraphAccepted False, the last good graph serves.
async fn uncompilable_edit_keeps_the_last_good_graph(fixture: &Fixture) -> anyhow::Result<()> {
    fixture
        .patch_rgd(json!({"spec": {"resources": [
            config_map("base"),
            {"id": "added", "template": {
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "${schema.metadata.name}-added"},
                "data": {"color": "${schema.spec.doesNotExist}"}
            }}
        ]}}))
        .await?;
    let rejected = fixture
        .wait_rgd("GraphAccepted", "False", "Inactive")
        .await?;
    let reason = condition(&rejected, "GraphAccepted")
        .and_then(|condition| condition["message"].as_str())
        .unwrap_or_default();
    anyhow::ensure!(
        reason.contains("doesNotExist"),
        "the GraphAccepted message does not name the bad reference: {reason:?}"
    );
    fixture.paint("yellow").await?;
    fixture.wait_children(&["added", "base"], "yellow").await?;
    fixture.wait_instances_active().await
}

#[tokio::test]
async fn rgd_updates_reach_running_instances() -> anyhow::Result<()> {
    let client = client().await?;
    let operator = start_operator(&client, &["--allow-crd-deletion"]).await?;
    if let Err(error) =
        remove_test_objects(&client, TEST, no_unlabelled, SWEPT, CLEANUP_TIMEOUT).await
    {
        eprintln!("warning: removing leftovers of earlier runs: {error:#}");
    }
    let namespace = create_test_namespace(&client, TEST, "kro-e2e-rgd-update").await?;
    let group = format!("{}.e2e.kro.run", unique_name("update"));
    let rgd = first_rgd(&unique_name("palette"), &group);
    let fixture = Fixture {
        client: client.clone(),
        api_version: format!("{group}/v1alpha1"),
        rgd_name: rgd["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        crd_name: format!("palettes.{group}"),
        instances: instance_api(&client, &rgd, Some(&namespace)),
        config_maps: dynamic_api(&client, "v1", "ConfigMap", "configmaps", Some(&namespace)),
    };
    let result = updates(&fixture, &rgd).await;
    let cleaned = remove_test_objects(&client, TEST, no_unlabelled, SWEPT, CLEANUP_TIMEOUT).await;
    if let Err(error) = result {
        panic!("{error:#}\noperator log:\n{}", operator.log_tail(80));
    }
    if let Err(error) = cleaned {
        panic!(
            "clean-up: {error:#}\noperator log:\n{}",
            operator.log_tail(80)
        );
    }
    Ok(())
}
