//! End to end: the WebApplication walkthrough against the operator binary and a real control
//! plane — RGD Active, instance children in dependency order, spec updates, includeWhen create
//! and prune, drift correction, deletion and `kubectl get rgd -o wide`.

mod e2e_support;

use std::time::Duration;

use e2e_support::{
    check, corpus_file, create, delete_and_wait, dynamic_api, isolate_rgd, rgd_api, start_operator,
    unique_group, wait_instance_state, wait_rgd_active,
};
use futures::TryStreamExt as _;
use kro_integration_tests::{OperatorProcess, client, create_namespace, wait_for};
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, WatchEvent, WatchParams};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(90);

/// The etcd revision at which the object `name` was created: the resourceVersion of its ADDED
/// event, replayed by a watch from `since` (a revision before the object existed).
///
/// Why not creationTimestamp: it has one-second resolution, so two objects created in the same
/// second (the usual case here) compare equal and any order passes. Nor the objects' current
/// resourceVersion: a Deployment's moves on with every status update. An etcd-backed API server's
/// resourceVersion is the etcd revision of the write, one counter for every key of every kind, so
/// the creation revisions of two objects order their creations exactly.
async fn creation_revision(
    api: &Api<DynamicObject>,
    name: &str,
    since: &str,
) -> anyhow::Result<u64> {
    let params = WatchParams::default()
        .fields(&format!("metadata.name={name}"))
        .timeout(20);
    let mut events = Box::pin(api.watch(&params, since).await?);
    while let Some(event) = events.try_next().await? {
        match event {
            WatchEvent::Added(object) => {
                let revision = object.metadata.resource_version.unwrap_or_default();
                return revision.parse().map_err(|error| {
                    anyhow::anyhow!(
                        "{name}: resourceVersion {revision:?} is not a revision: {error}"
                    )
                });
            }
            WatchEvent::Error(error) => anyhow::bail!("watching {name} from {since}: {error:?}"),
            _ => {}
        }
    }
    anyhow::bail!("no ADDED event for {name} since revision {since}")
}

/// The APIs of the instance and of the children the walkthrough looks at.
struct WebAppApis {
    instances: Api<DynamicObject>,
    deployments: Api<DynamicObject>,
    services: Api<DynamicObject>,
    ingresses: Api<DynamicObject>,
}

impl WebAppApis {
    fn new(client: &Client, api_version: &str, namespace: &str) -> Self {
        let namespace = Some(namespace);
        Self {
            instances: dynamic_api(client, api_version, "WebApp", "webapps", namespace),
            deployments: dynamic_api(client, "apps/v1", "Deployment", "deployments", namespace),
            services: dynamic_api(client, "v1", "Service", "services", namespace),
            ingresses: dynamic_api(
                client,
                "networking.k8s.io/v1",
                "Ingress",
                "ingresses",
                namespace,
            ),
        }
    }
}

#[tokio::test]
async fn webapp_walkthrough() -> anyhow::Result<()> {
    let client = client().await?;
    let operator = start_operator(&client, &["--allow-crd-deletion"]).await?;
    let namespace = create_namespace(&client, "kro-e2e-webapp").await?;
    let group = unique_group("webapp");

    let rgd_name = rgd_becomes_active(&client, &group, &operator).await?;
    let api_version = format!("{group}/v1alpha1");
    let apis = WebAppApis::new(&client, &api_version, &namespace);
    instance_creates_children_in_order(&apis, &api_version, &namespace, &operator).await?;
    spec_updates_roll_through(&apis, &operator).await?;
    drift_is_corrected(&apis, &operator).await?;
    kubectl_shows_the_rgd_columns(&rgd_name)?;
    deletion_removes_children_and_crd(&client, &apis, &rgd_name, &group, &operator).await
}

/// The RGD becomes Active with its topological order; returns its name.
async fn rgd_becomes_active(
    client: &Client,
    group: &str,
    operator: &OperatorProcess,
) -> anyhow::Result<String> {
    let rgd = isolate_rgd(
        corpus_file("examples/kubernetes/webapp/rg.yaml")?.remove(0),
        group,
    );
    let rgd_name = rgd["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    check(create(&rgd_api(client), &rgd).await, operator);
    let active = wait_rgd_active(client, &rgd_name, TIMEOUT, operator).await?;
    assert_eq!(
        active.data["status"]["topologicalOrder"],
        json!(["deployment", "service", "ingress"])
    );
    let conditions = active.data["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for type_ in [
        "GraphAccepted",
        "KindReady",
        "ControllerReady",
        "GraphRevisionsResolved",
        "Ready",
    ] {
        assert!(
            conditions
                .iter()
                .any(|c| c["type"] == type_ && c["status"] == "True"),
            "{type_} not True: {conditions:?}"
        );
    }
    Ok(rgd_name)
}

/// An instance: Deployment then Service, status projected, ACTIVE.
async fn instance_creates_children_in_order(
    apis: &WebAppApis,
    api_version: &str,
    namespace: &str,
    operator: &OperatorProcess,
) -> anyhow::Result<()> {
    let WebAppApis {
        instances,
        deployments,
        services,
        ingresses,
    } = apis;
    let instance = json!({
        "apiVersion": api_version, "kind": "WebApp",
        "metadata": {"name": "test-app", "namespace": namespace},
        "spec": {"name": "test-app", "namespace": namespace, "port": 80,
                 "ingress": {"enabled": false}, "service": {}}
    });
    // The revision before the instance exists: the watches below replay every write after it.
    let before_instance = services
        .list_metadata(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    check(create(instances, &instance).await, operator);
    let ready = wait_instance_state(instances, "test-app", "ACTIVE", TIMEOUT, operator).await?;
    assert_eq!(
        ready.data["status"]["availableReplicas"],
        json!(1),
        "{}",
        ready.data["status"]
    );
    let deployment_created = creation_revision(deployments, "test-app", &before_instance).await?;
    let service_created = creation_revision(services, "test-app", &before_instance).await?;
    assert!(
        deployment_created < service_created,
        "the Service (which reads the Deployment) must be created after it: Deployment at \
         revision {deployment_created}, Service at {service_created}"
    );
    let service = services.get("test-app").await?;
    let labels = service.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("kro.run/node-id").map(String::as_str),
        Some("service")
    );
    assert_eq!(
        labels.get("kro.run/instance-name").map(String::as_str),
        Some("test-app")
    );
    assert!(
        ingresses.get_opt("test-app").await?.is_none(),
        "ingress is disabled"
    );
    Ok(())
}

/// A merge patch of the instance's spec.
async fn patch_instance_spec(instances: &Api<DynamicObject>, spec: Value) -> anyhow::Result<()> {
    instances
        .patch(
            "test-app",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": spec })),
        )
        .await?;
    Ok(())
}

/// A spec update rolls through to the Deployment; includeWhen: enabling the ingress creates it,
/// disabling prunes it.
async fn spec_updates_roll_through(
    apis: &WebAppApis,
    operator: &OperatorProcess,
) -> anyhow::Result<()> {
    let WebAppApis {
        instances,
        deployments,
        ingresses,
        ..
    } = apis;
    patch_instance_spec(instances, json!({"image": "nginx:1.27"})).await?;
    check(
        wait_for(TIMEOUT, "the Deployment image to be updated", || async {
            let deployment = deployments.get("test-app").await?;
            Ok(deployment
                .data
                .pointer("/spec/template/spec/containers/0/image")
                == Some(&Value::from("nginx:1.27")))
        })
        .await,
        operator,
    );

    patch_instance_spec(instances, json!({"ingress": {"enabled": true}})).await?;
    check(
        wait_for(TIMEOUT, "the Ingress to be created", || async {
            Ok(ingresses.get_opt("test-app").await?.is_some())
        })
        .await,
        operator,
    );
    patch_instance_spec(instances, json!({"ingress": {"enabled": false}})).await?;
    check(
        wait_for(TIMEOUT, "the Ingress to be pruned", || async {
            Ok(ingresses.get_opt("test-app").await?.is_none())
        })
        .await,
        operator,
    );
    Ok(())
}

/// Drift: a field kro owns is put back; a deleted child is recreated.
async fn drift_is_corrected(apis: &WebAppApis, operator: &OperatorProcess) -> anyhow::Result<()> {
    let WebAppApis {
        deployments,
        services,
        ..
    } = apis;
    deployments
        .patch(
            "test-app",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await?;
    check(
        wait_for(
            TIMEOUT,
            "the Deployment replicas to be put back",
            || async {
                let deployment = deployments.get("test-app").await?;
                Ok(deployment.data.pointer("/spec/replicas") == Some(&Value::from(1)))
            },
        )
        .await,
        operator,
    );
    let old_uid = services.get("test-app").await?.metadata.uid;
    services.delete("test-app", &Default::default()).await?;
    check(
        wait_for(TIMEOUT, "the Service to be recreated", || async {
            Ok(services
                .get_opt("test-app")
                .await?
                .is_some_and(|service| service.metadata.uid != old_uid))
        })
        .await,
        operator,
    );
    Ok(())
}

/// kubectl shows the RGD's columns.
fn kubectl_shows_the_rgd_columns(rgd_name: &str) -> anyhow::Result<()> {
    let kubectl = std::env::var("KRO_TESTENV_BIN")
        .map(|dir| format!("{dir}/kubectl"))
        .unwrap_or_else(|_| "kubectl".to_owned());
    let output = std::process::Command::new(kubectl)
        .args(["--kubeconfig", &std::env::var("KRO_TEST_KUBECONFIG")?])
        .args(["get", "rgd", rgd_name, "-o", "wide"])
        .output()?;
    let table = String::from_utf8_lossy(&output.stdout);
    for column in [
        "APIVERSION",
        "KIND",
        "STATE",
        "TOPOLOGICALORDER",
        "WebApp",
        "Active",
    ] {
        assert!(
            table.contains(column),
            "missing {column} in:\n{table}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert!(table.contains("deployment"), "{table}");
    Ok(())
}

/// Deleting the instance removes the children, then the instance itself; deleting the RGD with
/// --allow-crd-deletion removes the generated CRD.
async fn deletion_removes_children_and_crd(
    client: &Client,
    apis: &WebAppApis,
    rgd_name: &str,
    group: &str,
    operator: &OperatorProcess,
) -> anyhow::Result<()> {
    check(
        delete_and_wait(&apis.instances, "test-app", TIMEOUT).await,
        operator,
    );
    assert!(apis.deployments.get_opt("test-app").await?.is_none());
    assert!(apis.services.get_opt("test-app").await?.is_none());

    check(
        delete_and_wait(&rgd_api(client), rgd_name, TIMEOUT).await,
        operator,
    );
    let crds = dynamic_api(
        client,
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        None,
    );
    let crd_name = format!("webapps.{group}");
    check(
        wait_for(TIMEOUT, "the generated CRD to be deleted", || async {
            Ok(crds.get_opt(&crd_name).await?.is_none())
        })
        .await,
        operator,
    );
    Ok(())
}
