//! End to end: an RGD that passes only the schema checks upstream kro makes is served, as
//! upstream serves it, with a `SchemaWarnings` condition and a `SchemaWarning` Event; with
//! `--strict-schema-checks` the same RGD is refused (GraphAccepted False, Inactive).
//!
//! A private control plane: a strict and a lenient operator on the shared one would contend for
//! every RGD.

mod e2e_support;

use std::time::Duration;

use anyhow::{Context as _, ensure};
use e2e_support::{
    create, dynamic_api, instance_api, rgd_api, start_operator_on, state_of, wait_instance_state,
    wait_rgd_active,
};
use kro_integration_tests::testenv::PrivateControlPlane;
use kro_integration_tests::wait_for;
use kube::api::{DynamicObject, ListParams};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(90);

/// `color` repeats its `default` marker: upstream applies both in order, so the last one wins.
fn rgd() -> Value {
    json!({
        "apiVersion": "kro.run/v1alpha1",
        "kind": "ResourceGraphDefinition",
        "metadata": {"name": "repeated-markers"},
        "spec": {
            "schema": {
                "apiVersion": "v1alpha1",
                "kind": "Lenient",
                "spec": {"color": "string | default=red default=blue"}
            },
            "resources": [{"id": "config", "template": {
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "${schema.metadata.name}-config"},
                "data": {"color": "${schema.spec.color}"}
            }}]
        }
    })
}

fn condition<'a>(object: &'a DynamicObject, type_: &str) -> Option<&'a Value> {
    object
        .data
        .pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|condition| condition["type"] == type_)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_accepted_rgds_are_served_with_warnings_unless_strict() -> anyhow::Result<()> {
    let plane = PrivateControlPlane::start()?;
    let client = plane.client().await?;
    let operator = start_operator_on(&client, plane.kubeconfig(), &[]).await?;
    let rgd = rgd();
    create(&rgd_api(&client), &rgd).await?;
    let served = wait_rgd_active(&client, "repeated-markers", TIMEOUT, &operator).await?;
    let warned = condition(&served, "SchemaWarnings").context("a SchemaWarnings condition")?;
    ensure!(warned["status"] == "True", "{warned}");
    ensure!(warned["reason"] == "AcceptedAsUpstream", "{warned}");
    let message = warned["message"].as_str().unwrap_or_default();
    ensure!(
        message.contains("default") && message.contains("color"),
        "the warning names the field and the marker: {message}"
    );
    // The Ready condition is still computed from upstream's four dependents alone.
    ensure!(condition(&served, "Ready").is_some_and(|c| c["status"] == "True"));

    let events = dynamic_api(
        &client,
        "events.k8s.io/v1",
        "Event",
        "events",
        Some("default"),
    );
    wait_for(TIMEOUT, "a SchemaWarning event on the RGD", || {
        let events = events.clone();
        async move {
            let listed = events.list(&ListParams::default()).await?;
            Ok(listed.items.iter().any(|event| {
                event.data["reason"] == "SchemaWarning"
                    && event.data["regarding"]["name"] == "repeated-markers"
            }))
        }
    })
    .await?;

    // Served as upstream serves it: the last default wins.
    let instances = instance_api(&client, &rgd, Some("default"));
    create(
        &instances,
        &json!({"apiVersion": "kro.run/v1alpha1", "kind": "Lenient",
                "metadata": {"name": "one", "namespace": "default"}, "spec": {}}),
    )
    .await?;
    wait_instance_state(&instances, "one", "ACTIVE", TIMEOUT, &operator).await?;
    let config_maps = dynamic_api(&client, "v1", "ConfigMap", "configmaps", Some("default"));
    let config = config_maps.get("one-config").await?;
    ensure!(config.data["data"]["color"] == "blue", "{:?}", config.data);
    drop(operator);

    let strict =
        start_operator_on(&client, plane.kubeconfig(), &["--strict-schema-checks"]).await?;
    let rgds = rgd_api(&client);
    let waited = wait_for(TIMEOUT, "the strict operator to refuse the RGD", || {
        let rgds = rgds.clone();
        async move {
            let rgd = rgds.get("repeated-markers").await?;
            let refused = condition(&rgd, "GraphAccepted").is_some_and(|c| {
                c["status"] == "False"
                    && c["message"].as_str().is_some_and(|m| m.contains("strict"))
            });
            Ok(refused && state_of(&rgd) == Some("Inactive"))
        }
    })
    .await;
    if let Err(error) = waited {
        let status = rgds.get("repeated-markers").await?.data["status"].to_string();
        anyhow::bail!("{error:#}\nstatus: {status}\nlog:\n{}", strict.log_tail(60));
    }
    Ok(())
}
