//! Interoperability of kro-applyset with a real KEP-3659 peer: `kubectl` 1.36, built from the same
//! Kubernetes module as the test API server, with `KUBECTL_APPLYSET=true`.
//!
//! 1. An ApplySet written by kro-applyset (tooling `kro/...`) is recognised by kubectl as a valid
//!    ApplySet that it must not touch: kubectl refuses to prune it and names kro's tooling.
//! 2. On a test copy whose tooling annotation says kubectl, `kubectl apply --prune --dry-run=server`
//!    prunes exactly the orphans that kro-applyset computes, across two group-kinds, one of which
//!    is only remembered in the parent's annotations.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kro_applyset::{ChildMeta, Inventory, ObjectKey, ParentMetadata, ParentRef, find_orphans};
use kro_integration_tests::{client, create_namespace, unique_name};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, PostParams};
use kube::runtime::wait::{await_condition, conditions::is_crd_established};
use serde_json::{Value, json};

const KRO_TOOLING: &str = "kro/v0.1.0";
const KUBECTL_TOOLING: &str = "kubectl/v1.36.3";

fn kubectl() -> anyhow::Result<PathBuf> {
    let bin = std::env::var("KRO_TESTENV_BIN")
        .context("KRO_TESTENV_BIN is not set: source the control plane's env file")?;
    Ok(PathBuf::from(bin).join("kubectl"))
}

struct KubectlOutput {
    success: bool,
    stdout: String,
    stderr: String,
}

fn run_kubectl(args: &[&str], manifest: &str) -> anyhow::Result<KubectlOutput> {
    let kubeconfig = std::env::var(kro_integration_tests::KUBECONFIG_ENV)?;
    let dir = std::env::temp_dir().join(unique_name("kro-applyset-it"));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("manifest.json");
    std::fs::write(&file, manifest)?;
    let output = Command::new(kubectl()?)
        .args(args)
        .arg("-f")
        .arg(&file)
        .env("KUBECONFIG", kubeconfig)
        .env("KUBECTL_APPLYSET", "true")
        .output()
        .context("running kubectl")?;
    std::fs::remove_dir_all(&dir)?;
    Ok(KubectlOutput {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

fn config_map(namespace: &str, name: &str) -> ObjectKey {
    ObjectKey::namespaced("", "v1", "ConfigMap", namespace, name)
}

fn secret(namespace: &str, name: &str) -> ObjectKey {
    ObjectKey::namespaced("", "v1", "Secret", namespace, name)
}

fn manifest_of(key: &ObjectKey, applyset_id: &str) -> Value {
    json!({
        "apiVersion": key.api_version(),
        "kind": key.kind,
        "metadata": {
            "name": key.name,
            "namespace": key.namespace,
            "labels": { "applyset.kubernetes.io/part-of": applyset_id },
        },
        "data": {},
    })
}

/// A parent kind that kubectl accepts as an ApplySet parent, like the kinds kro generates.
async fn create_parent_crd(client: &kube::Client, group: &str) -> anyhow::Result<ApiResource> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = format!("widgets.{group}");
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": { "name": name, "labels": { "applyset.kubernetes.io/is-parent-type": "true" } },
        "spec": {
            "group": group,
            "names": { "kind": "Widget", "listKind": "WidgetList", "plural": "widgets", "singular": "widget" },
            "scope": "Namespaced",
            "versions": [{
                "name": "v1alpha1", "served": true, "storage": true,
                "schema": { "openAPIV3Schema": { "type": "object", "x-kubernetes-preserve-unknown-fields": true } }
            }]
        }
    }))?;
    crds.create(&PostParams::default(), &crd).await?;
    tokio::time::timeout(
        Duration::from_secs(30),
        await_condition(crds, &name, is_crd_established()),
    )
    .await??;
    let gvk = GroupVersionKind::gvk(group, "v1alpha1", "Widget");
    Ok(ApiResource::from_gvk_with_plural(&gvk, "widgets"))
}

/// Creates the parent with the metadata kro-applyset computes, and its members.
async fn create_applyset(
    client: &kube::Client,
    parent_api: &Api<DynamicObject>,
    parent: &ParentRef,
    tooling: &str,
    members: &[ObjectKey],
) -> anyhow::Result<()> {
    let id = parent.applyset_id();
    // The parent remembers every member's group-kind, as after an earlier pass that applied them.
    let inventory = Inventory::from_applied(parent.namespace.as_deref(), members);
    let metadata = ParentMetadata::new(&id, tooling, &inventory);
    let widget: DynamicObject = serde_json::from_value(json!({
        "apiVersion": format!("{}/v1alpha1", parent.group),
        "kind": parent.kind,
        "metadata": {
            "name": parent.name,
            "namespace": parent.namespace,
            "labels": metadata.labels,
            "annotations": metadata.annotations,
        },
    }))?;
    parent_api.create(&PostParams::default(), &widget).await?;
    for member in members {
        let api: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            member.namespace.as_deref().unwrap_or("default"),
            &ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk(&member.group, &member.version, &member.kind),
                &format!("{}s", member.kind.to_lowercase()),
            ),
        );
        let object: DynamicObject = serde_json::from_value(manifest_of(member, &id))?;
        api.create(&PostParams::default(), &object).await?;
    }
    Ok(())
}

/// Every object of the set's group-kinds in `namespace` labelled part-of `id`, as kro would list them.
async fn observe_members(
    client: &kube::Client,
    namespace: &str,
    id: &str,
) -> anyhow::Result<Vec<ChildMeta>> {
    let selector = ListParams::default().labels(&format!("applyset.kubernetes.io/part-of={id}"));
    let mut observed = Vec::new();
    for (kind, plural) in [("ConfigMap", "configmaps"), ("Secret", "secrets")] {
        let resource =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", kind), plural);
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
        for item in api.list(&selector).await? {
            let mut value = serde_json::to_value(&item)?;
            value["apiVersion"] = json!("v1");
            value["kind"] = json!(kind);
            observed.push(ChildMeta::from_object(&value)?);
        }
    }
    Ok(observed)
}

/// The input kubectl applies: kubectl adds the part-of label itself and rejects input that has it.
fn manifest_list(keys: &[ObjectKey]) -> anyhow::Result<String> {
    let items: Vec<Value> = keys
        .iter()
        .map(|k| {
            json!({
                "apiVersion": k.api_version(), "kind": k.kind,
                "metadata": { "name": k.name, "namespace": k.namespace },
                "data": {},
            })
        })
        .collect();
    Ok(serde_json::to_string(
        &json!({ "apiVersion": "v1", "kind": "List", "items": items }),
    )?)
}

#[tokio::test]
async fn kubectl_recognises_kro_applysets_and_agrees_on_orphans() -> anyhow::Result<()> {
    let client = client().await?;
    let ns = create_namespace(&client, "kro-it-applyset").await?;
    let group = format!("{}.test.kro.run", unique_name("as"));
    let parent_resource = create_parent_crd(&client, &group).await?;
    let parents: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &parent_resource);

    let kro_parent = kubectl_refuses_to_prune_kros_applyset(&client, &parents, &ns, &group).await?;
    kubectl_copy_prunes_what_kro_computes(&client, &parents, &ns, &group, &kro_parent).await
}

/// 1. kro's ApplySet: kubectl must recognise it and refuse to prune it. Returns its parent.
async fn kubectl_refuses_to_prune_kros_applyset(
    client: &kube::Client,
    parents: &Api<DynamicObject>,
    ns: &str,
    group: &str,
) -> anyhow::Result<ParentRef> {
    let kro_parent = ParentRef {
        group: group.to_owned(),
        kind: "Widget".into(),
        namespace: Some(ns.to_owned()),
        name: "owned-by-kro".into(),
    };
    let kro_members = vec![
        config_map(ns, "kro-keep"),
        config_map(ns, "kro-orphan"),
        secret(ns, "kro-orphan-secret"),
    ];
    create_applyset(client, parents, &kro_parent, KRO_TOOLING, &kro_members).await?;
    let applyset_flag = format!("--applyset=widgets.{group}/owned-by-kro");
    let refused = run_kubectl(
        &[
            "apply",
            "--prune",
            &applyset_flag,
            "-n",
            ns,
            "--server-side",
        ],
        &manifest_list(&kro_members[..1])?,
    )?;
    assert!(
        !refused.success,
        "kubectl pruned kro's ApplySet: {}",
        refused.stdout
    );
    assert!(
        refused.stderr.contains("managed by tooling \"kro\""),
        "kubectl did not name kro's tooling: {}",
        refused.stderr
    );
    // Nothing was pruned.
    let still_there = observe_members(client, ns, &kro_parent.applyset_id()).await?;
    assert_eq!(still_there.len(), kro_members.len());
    Ok(kro_parent)
}

/// 2. A copy managed by "kubectl": its dry-run prune list must equal kro-applyset's orphans.
async fn kubectl_copy_prunes_what_kro_computes(
    client: &kube::Client,
    parents: &Api<DynamicObject>,
    ns: &str,
    group: &str,
    kro_parent: &ParentRef,
) -> anyhow::Result<()> {
    let copy_parent = ParentRef {
        name: "kubectl-copy".into(),
        ..kro_parent.clone()
    };
    let copy_id = copy_parent.applyset_id();
    let copy_members = vec![
        config_map(ns, "copy-keep-a"),
        config_map(ns, "copy-keep-b"),
        config_map(ns, "copy-orphan"),
        secret(ns, "copy-orphan-secret"),
    ];
    create_applyset(
        client,
        parents,
        &copy_parent,
        KUBECTL_TOOLING,
        &copy_members,
    )
    .await?;
    let applied = copy_members[..2].to_vec();
    let observed = observe_members(client, ns, &copy_id).await?;
    assert_eq!(observed.len(), copy_members.len());
    let computed: BTreeSet<String> = find_orphans(&copy_id, &observed, &applied)
        .into_iter()
        .map(|o| format!("{}/{}", o.key.kind.to_lowercase(), o.key.name))
        .collect();
    assert_eq!(
        computed,
        BTreeSet::from([
            "configmap/copy-orphan".to_owned(),
            "secret/copy-orphan-secret".to_owned()
        ])
    );

    let pruned_by_kubectl = kubectl_dry_run_prunes(ns, group, &applied)?;
    assert_eq!(
        pruned_by_kubectl.0, computed,
        "kubectl output was:\n{}",
        pruned_by_kubectl.1
    );
    Ok(())
}

/// What `kubectl apply --prune --dry-run=server` of `applied` to the kubectl-managed copy would
/// prune (as `kind/name`), with kubectl's whole output for the failure message.
fn kubectl_dry_run_prunes(
    ns: &str,
    group: &str,
    applied: &[ObjectKey],
) -> anyhow::Result<(BTreeSet<String>, String)> {
    let copy_flag = format!("--applyset=widgets.{group}/kubectl-copy");
    let dry_run = run_kubectl(
        &[
            "apply",
            "--prune",
            &copy_flag,
            "-n",
            ns,
            "--server-side",
            "--dry-run=server",
        ],
        &manifest_list(applied)?,
    )?;
    if !dry_run.success {
        bail!(
            "kubectl dry-run prune failed: {}{}",
            dry_run.stdout,
            dry_run.stderr
        );
    }
    let pruned_by_kubectl: BTreeSet<String> = dry_run
        .stdout
        .lines()
        .filter(|line| line.contains(" pruned"))
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    Ok((pruned_by_kubectl, dry_run.stdout))
}
