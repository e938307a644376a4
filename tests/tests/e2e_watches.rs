//! End to end: what wakes an instance. External references are watched (an instance waiting for
//! an external object goes ACTIVE when it appears, and follows its changes), a child deleted
//! behind the operator's back is recreated from the watch event, and the operator's metrics
//! report its API requests, CEL evaluation passes and queue.
//!
//! Every wait is shorter than the operator's slowest safety net (the 30 s re-check of waiting
//! instances; ACTIVE instances are resynced only every ten hours), so passing shows that a watch
//! event, not a timer, drove the change.

mod e2e_support;

use std::time::Duration;

use e2e_support::{
    check, counter_value, create, dynamic_api, rgd_api, scrape_metrics, start_operator,
    unique_group, wait_instance_state, wait_rgd_active,
};
use k8s_openapi::api::core::v1::ConfigMap;
use kro_integration_tests::{OperatorProcess, client, create_namespace, wait_for};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(90);
/// Shorter than every periodic re-check of the operator.
const EVENT_DRIVEN: Duration = Duration::from_secs(20);

fn rgd(group: &str, namespace: &str) -> Value {
    json!({
        "apiVersion": "kro.run/v1alpha1",
        "kind": "ResourceGraphDefinition",
        "metadata": {"name": format!("watches.{group}")},
        "spec": {
            "schema": {
                "apiVersion": "v1alpha1",
                "kind": "WatchProbe",
                "group": group,
                "spec": {"settings": "string"},
                "status": {"copied": "${copy.data.level}"}
            },
            "resources": [
                {
                    "id": "settings",
                    "externalRef": {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": "${schema.spec.settings}", "namespace": namespace}
                    }
                },
                {
                    "id": "copy",
                    "template": {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": "${schema.metadata.name}-copy"},
                        "data": {"level": "${settings.data.level}"}
                    }
                }
            ]
        }
    })
}

#[tokio::test]
async fn external_references_and_children_wake_their_instance() -> anyhow::Result<()> {
    let client = client().await?;
    let operator = start_operator(&client, &[]).await?;
    let namespace = create_namespace(&client, "kro-e2e-watches").await?;
    let group = unique_group("watches");
    let definition = rgd(&group, &namespace);
    let rgd_name = definition["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    check(create(&rgd_api(&client), &definition).await, &operator);
    wait_rgd_active(&client, &rgd_name, TIMEOUT, &operator).await?;

    let instances = dynamic_api(
        &client,
        &format!("{group}/v1alpha1"),
        "WatchProbe",
        "watchprobes",
        Some(&namespace),
    );
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    instance_waits_for_its_external_object(&instances, &config_maps, &group, &namespace, &operator)
        .await?;
    external_object_wakes_the_instance(&instances, &config_maps, &namespace, &operator).await?;
    deleted_child_comes_back(&config_maps, &operator).await?;
    metrics_report_requests_evaluations_and_queue(&operator)?;

    // Deleting the instance stops its external watch and removes the child.
    instances.delete("probe", &DeleteParams::default()).await?;
    check(
        wait_for(TIMEOUT, "the instance and its child to be gone", || {
            let instances = instances.clone();
            let config_maps = config_maps.clone();
            async move {
                Ok(instances.get_opt("probe").await?.is_none()
                    && config_maps.get_opt("probe-copy").await?.is_none())
            }
        })
        .await,
        &operator,
    );
    rgd_api(&client)
        .delete(&rgd_name, &DeleteParams::default())
        .await?;
    Ok(())
}

/// The instance comes first: its external ConfigMap does not exist yet, so it reports what it
/// waits for and has no child.
async fn instance_waits_for_its_external_object(
    instances: &Api<DynamicObject>,
    config_maps: &Api<ConfigMap>,
    group: &str,
    namespace: &str,
    operator: &OperatorProcess,
) -> anyhow::Result<()> {
    let instance = json!({
        "apiVersion": format!("{group}/v1alpha1"), "kind": "WatchProbe",
        "metadata": {"name": "probe", "namespace": namespace},
        "spec": {"settings": "shared-settings"}
    });
    check(create(instances, &instance).await, operator);
    wait_for(TIMEOUT, "the instance to report what it waits for", || {
        let instances = instances.clone();
        async move {
            let probe = instances.get("probe").await?;
            Ok(probe.data["status"]["state"].as_str().is_some())
        }
    })
    .await?;
    assert!(config_maps.get_opt("probe-copy").await?.is_none());
    Ok(())
}

/// The external object appears: the instance goes ACTIVE without waiting for a re-check; the
/// external object changes: the child follows.
async fn external_object_wakes_the_instance(
    instances: &Api<DynamicObject>,
    config_maps: &Api<ConfigMap>,
    namespace: &str,
    operator: &OperatorProcess,
) -> anyhow::Result<()> {
    let settings: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "shared-settings", "namespace": namespace},
        "data": {"level": "debug"}
    }))?;
    config_maps
        .create(&PostParams::default(), &settings)
        .await?;
    wait_instance_state(instances, "probe", "ACTIVE", EVENT_DRIVEN, operator).await?;
    let copied = |expected: &'static str| {
        let config_maps = config_maps.clone();
        move || {
            let config_maps = config_maps.clone();
            async move {
                let copy = config_maps.get_opt("probe-copy").await?;
                Ok(copy
                    .and_then(|copy| copy.data)
                    .and_then(|data| data.get("level").cloned())
                    .as_deref()
                    == Some(expected))
            }
        }
    };
    check(
        wait_for(
            EVENT_DRIVEN,
            "the copy to hold the external value",
            copied("debug"),
        )
        .await,
        operator,
    );

    config_maps
        .patch(
            "shared-settings",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"level": "info"}})),
        )
        .await?;
    check(
        wait_for(
            EVENT_DRIVEN,
            "the copy to follow the external change",
            copied("info"),
        )
        .await,
        operator,
    );
    Ok(())
}

/// A child deleted behind the operator's back comes back.
async fn deleted_child_comes_back(
    config_maps: &Api<ConfigMap>,
    operator: &OperatorProcess,
) -> anyhow::Result<()> {
    let deleted_uid = config_maps
        .get("probe-copy")
        .await?
        .metadata
        .uid
        .unwrap_or_default();
    config_maps
        .delete("probe-copy", &DeleteParams::default())
        .await?;
    check(
        wait_for(EVENT_DRIVEN, "the deleted child to be recreated", || {
            let config_maps = config_maps.clone();
            let deleted_uid = deleted_uid.clone();
            async move {
                Ok(config_maps
                    .get_opt("probe-copy")
                    .await?
                    .and_then(|copy| copy.metadata.uid)
                    .is_some_and(|uid| uid != deleted_uid))
            }
        })
        .await,
        operator,
    );
    Ok(())
}

/// The metrics report the client's requests, the evaluation passes and the queue.
fn metrics_report_requests_evaluations_and_queue(operator: &OperatorProcess) -> anyhow::Result<()> {
    let metrics = scrape_metrics(operator)?;
    assert!(
        counter_value(&metrics, "rest_client_requests_total", "method=\"PATCH\"") > 0.0,
        "no PATCH counted:\n{metrics}"
    );
    assert!(
        counter_value(&metrics, "rest_client_requests_total", "method=\"GET\"") > 0.0,
        "no GET counted:\n{metrics}"
    );
    assert!(
        counter_value(&metrics, "cel_expr_eval_total", "") > 0.0,
        "no CEL evaluation counted:\n{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("dynamic_controller_queue_length ")),
        "no queue length:\n{metrics}"
    );
    Ok(())
}
