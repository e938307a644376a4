//! End to end: every example and fixture of the corpus reaches Active (RGD) and ACTIVE
//! (instance) under the operator binary.
//!
//! Isolation, so that earlier failed runs and other tests cannot collide with this one:
//! - each corpus directory gets its own API group (the three chained saas-multi-tenant RGDs share
//!   one and reference each other's kinds) and its own namespace (the fixtures share one, which
//!   stands for their `upgrade-test`);
//! - instance fields that name cluster-scoped children (the CoreDNS ClusterRole, the tenant
//!   Namespace) get this run's suffix, and `spec.namespace` points at the directory's namespace;
//! - the one identity that cannot be made unique, CoreDNS's fixed Service clusterIP, is freed from
//!   leftovers before the run;
//! - everything the test labelled is deleted at the start (leftovers) and at the end, pass or fail.

mod e2e_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use e2e_support::{
    OWNED_LABEL, SweptKind, create, create_test_namespace, dynamic_api, instance_api,
    label_for_test, remove_test_objects, rgd_api, start_operator, state_of,
};
use kro_integration_tests::{client, corpus_documents, corpus_root, unique_name, wait_for};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams};
use kube::{Client, ResourceExt as _};
use serde_json::Value;

const TEST: &str = "corpus";
const TIMEOUT: Duration = Duration::from_secs(90);
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(90);
/// The namespace the fixtures expect (their prerequisites create it).
const FIXTURE_NAMESPACE: &str = "upgrade-test";
/// The Service clusterIP the CoreDNS example pins: only one Service in the cluster can hold it.
const COREDNS_CLUSTER_IP: &str = "10.100.123.45";
/// Instance fields that name cluster-scoped children, by instance kind: they get the run suffix.
const CLUSTER_SCOPED_NAME_FIELDS: &[(&str, &str)] =
    &[("CoreDNSDeployment", "name"), ("Tenant", "tenantId")];
/// Cluster-scoped kinds the corpus creates, swept for children of force-deleted instances.
const SWEPT: &[SweptKind] = &[
    SweptKind {
        api_version: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        plural: "clusterroles",
    },
    SweptKind {
        api_version: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        plural: "clusterrolebindings",
    },
    SweptKind {
        api_version: "v1",
        kind: "Namespace",
        plural: "namespaces",
    },
];

/// One corpus directory: its documents, API group and namespace.
struct Directory {
    token: String,
    documents: Vec<Value>,
    group: String,
    namespace: String,
}

/// What the run created and waits on.
#[derive(Default)]
struct Created {
    rgd_names: Vec<String>,
    instances: Vec<(Api<DynamicObject>, String)>,
}

/// Rewrites `kro.run/v1alpha1` (the default group) and the fixtures' namespace everywhere in a
/// document, and gives an RGD a unique name and the test label.
fn isolate(document: &Value, directory: &Directory, run: &str) -> Value {
    let text = document
        .to_string()
        .replace(
            "\"kro.run/v1alpha1\"",
            &format!("\"{}/v1alpha1\"", directory.group),
        )
        .replace(
            &format!("\"{FIXTURE_NAMESPACE}\""),
            &format!("\"{}\"", directory.namespace),
        );
    let mut value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if value["kind"] == "ResourceGraphDefinition" {
        // The RGD itself stays in kro.run.
        value["apiVersion"] = Value::from("kro.run/v1alpha1");
        let kind = value["spec"]["schema"]["kind"]
            .as_str()
            .unwrap_or("x")
            .to_lowercase();
        value["metadata"] =
            serde_json::json!({"name": format!("rgd-{}-{run}-{kind}", directory.token)});
        value["spec"]["schema"]["group"] = Value::from(directory.group.as_str());
        label_for_test(&mut value, TEST);
    }
    value
}

/// Puts an instance into its directory's namespace, points a `spec.namespace` its RGD declares at
/// that namespace, and suffixes the fields that name cluster-scoped children.
fn place_instance(instance: &mut Value, rgd: Option<&Value>, namespace: &str, run: &str) {
    instance["metadata"]["namespace"] = Value::from(namespace);
    if rgd.is_some_and(|rgd| rgd["spec"]["schema"]["spec"].get("namespace").is_some()) {
        instance["spec"]["namespace"] = Value::from(namespace);
    }
    let kind = instance["kind"].as_str().unwrap_or_default().to_owned();
    for (field_kind, field) in CLUSTER_SCOPED_NAME_FIELDS {
        if kind == *field_kind
            && let Some(value) = instance["spec"][*field].as_str()
        {
            instance["spec"][*field] = Value::from(format!("{value}-{run}"));
        }
    }
}

/// Reads the corpus grouped by directory (relative path), sorted.
fn corpus_by_directory() -> anyhow::Result<BTreeMap<String, Vec<Value>>> {
    let root = corpus_root();
    let mut by_directory: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for document in corpus_documents()? {
        let directory = document
            .path
            .parent()
            .and_then(|parent| parent.strip_prefix(&root).ok())
            .map(Path::to_path_buf)
            .unwrap_or_default()
            .to_string_lossy()
            .to_lowercase();
        by_directory
            .entry(directory)
            .or_default()
            .push(document.value);
    }
    Ok(by_directory)
}

/// An RGD of this test from before it labelled its RGDs: `rgd-<directory>-<run>-<kind>` in an
/// `.e2e.kro.run` group.
fn is_unlabelled_corpus_rgd(rgd: &DynamicObject) -> bool {
    rgd.name_any().starts_with("rgd-")
        && rgd.data["spec"]["schema"]["group"]
            .as_str()
            .is_some_and(|group| group.ends_with(".e2e.kro.run"))
}

/// Frees the CoreDNS clusterIP from a kro-owned Service an interrupted run left behind.
async fn free_coredns_cluster_ip(client: &Client) -> anyhow::Result<()> {
    let services = dynamic_api(client, "v1", "Service", "services", None);
    let owned = services
        .list(&ListParams::default().labels(&format!("{OWNED_LABEL}=true")))
        .await?;
    for service in owned.items {
        if service.data["spec"]["clusterIP"] == COREDNS_CLUSTER_IP {
            let namespace = service.namespace().unwrap_or_default();
            let api = dynamic_api(client, "v1", "Service", "services", Some(&namespace));
            api.delete(&service.name_any(), &DeleteParams::background())
                .await?;
        }
    }
    wait_for(
        Duration::from_secs(30),
        "the CoreDNS clusterIP to be free",
        || async {
            let owned = services
                .list(&ListParams::default().labels(&format!("{OWNED_LABEL}=true")))
                .await?;
            Ok(!owned
                .items
                .iter()
                .any(|service| service.data["spec"]["clusterIP"] == COREDNS_CLUSTER_IP))
        },
    )
    .await
}

/// One namespace, group and token per corpus directory; the fixtures share one namespace, which
/// stands for their `upgrade-test`.
async fn isolated_directories(client: &Client, run: &str) -> anyhow::Result<Vec<Directory>> {
    let fixtures_namespace = create_test_namespace(client, TEST, "kro-e2e-fixtures").await?;
    let mut directories = Vec::new();
    for (path, documents) in corpus_by_directory()? {
        let last = path.rsplit('/').next().unwrap_or(&path);
        let token: String = last
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(16)
            .collect();
        let namespace = if path.starts_with("test/upgrade/fixtures") {
            fixtures_namespace.clone()
        } else {
            create_test_namespace(client, TEST, &format!("kro-e2e-{token}")).await?
        };
        let group = format!("{token}-{run}.e2e.kro.run");
        directories.push(Directory {
            token,
            documents,
            group,
            namespace,
        });
    }
    Ok(directories)
}

/// The isolated RGDs, and each instance paired with its RGD.
type Sorted = (Vec<Value>, Vec<(Value, Value)>);

/// Creates the ConfigMaps the examples read, and sorts the rest into RGDs and instances (each
/// with its RGD, which the instance API comes from).
async fn create_prerequisites_and_sort(
    client: &Client,
    directories: &[Directory],
    run: &str,
) -> anyhow::Result<Sorted> {
    let mut rgd_documents = Vec::new();
    let mut instances = Vec::new();
    for directory in directories {
        let isolated: Vec<Value> = directory
            .documents
            .iter()
            .map(|document| isolate(document, directory, run))
            .collect();
        for value in &isolated {
            match value["kind"].as_str() {
                // The fixtures' namespace is the test namespace that stands in for it.
                Some("Namespace") | None => {}
                Some("ConfigMap") => {
                    let configmaps = dynamic_api(
                        client,
                        "v1",
                        "ConfigMap",
                        "configmaps",
                        Some(&directory.namespace),
                    );
                    create(&configmaps, value).await?;
                }
                Some("ResourceGraphDefinition") => rgd_documents.push(value.clone()),
                Some(kind) => {
                    let rgd = isolated.iter().find(|candidate| {
                        candidate["kind"] == "ResourceGraphDefinition"
                            && candidate["spec"]["schema"]["kind"] == kind
                    });
                    let mut instance = value.clone();
                    place_instance(&mut instance, rgd, &directory.namespace, run);
                    let rgd = rgd.cloned().ok_or_else(|| {
                        anyhow::anyhow!("no RGD for {kind} in {}", directory.token)
                    })?;
                    instances.push((rgd, instance));
                }
            }
        }
    }
    Ok((rgd_documents, instances))
}

/// Creates every RGD and waits for all of them to be Active; the error names those that are not.
async fn create_rgds_and_wait_active(
    client: &Client,
    rgd_documents: &[Value],
    created: &mut Created,
) -> anyhow::Result<()> {
    let rgds = rgd_api(client);
    for rgd in rgd_documents {
        create(&rgds, rgd).await?;
        created.rgd_names.push(
            rgd["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    let names = created.rgd_names.clone();
    let all_active = wait_for(TIMEOUT, "every corpus RGD to be Active", || async {
        for name in &names {
            if state_of(&rgds.get(name).await?) != Some("Active") {
                return Ok(false);
            }
        }
        Ok(true)
    })
    .await;
    if let Err(error) = all_active {
        let mut report = String::new();
        for name in &names {
            let rgd = rgds.get(name).await?;
            if state_of(&rgd) != Some("Active") {
                report.push_str(&format!("{name}: {}\n", rgd.data["status"]));
            }
        }
        anyhow::bail!("{error:#}\nRGDs not Active:\n{report}");
    }
    Ok(())
}

/// Creates every instance and waits for all of them to be ACTIVE; the error names those that are
/// not.
async fn create_instances_and_wait_active(
    client: &Client,
    instances: &[(Value, Value)],
    created: &mut Created,
) -> anyhow::Result<()> {
    for (rgd, instance) in instances {
        let namespace = instance["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default();
        let api = instance_api(client, rgd, Some(namespace));
        create(&api, instance).await?;
        let name = instance["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        created.instances.push((api, name));
    }
    let instance_apis = &created.instances;
    let converged = wait_for(TIMEOUT, "every corpus instance to be ACTIVE", || async {
        for (api, name) in instance_apis {
            if state_of(&api.get(name).await?) != Some("ACTIVE") {
                return Ok(false);
            }
        }
        Ok(true)
    })
    .await;
    if let Err(error) = converged {
        let mut report = String::new();
        for (api, name) in instance_apis {
            let instance = api.get(name).await?;
            if state_of(&instance) != Some("ACTIVE") {
                let kind = instance
                    .types
                    .as_ref()
                    .map(|types| types.kind.clone())
                    .unwrap_or_default();
                report.push_str(&format!("{kind} {name}: {}\n", instance.data["status"]));
            }
        }
        anyhow::bail!("{error:#}\ninstances not ACTIVE:\n{report}");
    }
    Ok(())
}

/// The pinned clusterIP is in the service range: CoreDNS's Service holds it.
async fn coredns_holds_its_cluster_ip(
    client: &Client,
    directories: &[Directory],
) -> anyhow::Result<()> {
    let coredns = directories
        .iter()
        .find(|directory| directory.token == "coredns")
        .ok_or_else(|| anyhow::anyhow!("the corpus has no core-dns example"))?;
    let services = dynamic_api(
        client,
        "v1",
        "Service",
        "services",
        Some(&coredns.namespace),
    );
    let held = services
        .list(&ListParams::default().labels(&format!("{OWNED_LABEL}=true")))
        .await?
        .items
        .iter()
        .any(|service| service.data["spec"]["clusterIP"] == COREDNS_CLUSTER_IP);
    anyhow::ensure!(
        held,
        "no kro-owned Service in {} holds {COREDNS_CLUSTER_IP}",
        coredns.namespace
    );
    Ok(())
}

async fn run_corpus(client: &Client, created: &mut Created) -> anyhow::Result<()> {
    // Short, so that RGD names stay valid label values (63 characters).
    let run: String = unique_name("c").chars().rev().take(8).collect();
    let directories = isolated_directories(client, &run).await?;
    let (rgd_documents, instances) =
        create_prerequisites_and_sort(client, &directories, &run).await?;
    create_rgds_and_wait_active(client, &rgd_documents, created).await?;
    create_instances_and_wait_active(client, &instances, created).await?;
    coredns_holds_its_cluster_ip(client, &directories).await
}

#[tokio::test]
async fn every_corpus_rgd_and_instance_becomes_active() -> anyhow::Result<()> {
    let client = client().await?;
    let operator = start_operator(&client, &["--allow-crd-deletion"]).await?;
    // Leftovers that only a forced finalizer removal could delete are gone all the same: worth a
    // warning, not a failure of this run.
    if let Err(error) = remove_test_objects(
        &client,
        TEST,
        is_unlabelled_corpus_rgd,
        SWEPT,
        CLEANUP_TIMEOUT,
    )
    .await
    {
        eprintln!("warning: removing leftovers of earlier runs: {error:#}");
    }
    if let Err(error) = free_coredns_cluster_ip(&client).await {
        panic!("{error:#}\noperator log:\n{}", operator.log_tail(60));
    }
    let mut created = Created::default();
    let result = run_corpus(&client, &mut created).await;
    let cleaning = std::time::Instant::now();
    let cleaned = remove_test_objects(
        &client,
        TEST,
        is_unlabelled_corpus_rgd,
        SWEPT,
        CLEANUP_TIMEOUT,
    )
    .await;
    eprintln!("clean-up took {:?}", cleaning.elapsed());
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
