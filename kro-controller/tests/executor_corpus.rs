//! The executor against the real control plane (`scripts/testenv-up.sh`, `KRO_TEST_KUBECONFIG`):
//! the corpus fixtures and admission rejections.
//!
//! The engine is driven directly, without the operator: install the generated CRD, create an
//! instance, reconcile in a loop (waiting for child watch events between reconciles) until the
//! expected state.

mod executor_support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use executor_support::{CHAIN_RGD, Engine, Harness, builtin, config_maps, get_json, yaml};
use kro_controller::executor::KindApi as _;
use kro_controller::executor::{KindMapping, Outcome};
use kro_integration_tests::create_namespace;
use kro_runtime::core::InstanceState;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};

/// Every corpus RGD + instance pair (except the chained saas-multi-tenant example, whose
/// instances are reconciled by other RGDs' controllers) converges to ACTIVE with one object per
/// synced template node, labelled with its node id and instance.
#[tokio::test]
async fn corpus_fixtures_converge_with_their_children() -> anyhow::Result<()> {
    let harness = Harness::new().await?;
    let documents = kro_integration_tests::corpus_documents()?;
    apply_prerequisites(&harness, &documents).await?;
    let mut failures = Vec::new();
    let mut converged_count = 0;
    for (dir, (rgds, instances)) in &fixtures_by_dir(&documents) {
        let case = dir
            .strip_prefix(kro_integration_tests::corpus_root())
            .unwrap_or(dir)
            .display()
            .to_string();
        let [rgd] = rgds.as_slice() else {
            failures.push(format!("{case}: expected one RGD, found {}", rgds.len()));
            continue;
        };
        match converge_fixture(&harness, &case, rgd, instances).await {
            Ok(()) => converged_count += 1,
            Err(error) => failures.push(format!("{case}: {error:#}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} converged; failures:\n{}",
        converged_count,
        failures.join("\n")
    );
    assert!(converged_count >= 25, "only {converged_count} fixtures ran");
    Ok(())
}

/// Prerequisites the upstream fixtures expect (00-namespace.yaml, 01-external-configmap.yaml).
async fn apply_prerequisites(
    harness: &Harness,
    documents: &[kro_integration_tests::CorpusDocument],
) -> anyhow::Result<()> {
    for prerequisite in documents.iter().filter(|d| {
        d.path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("0"))
    }) {
        let kind = &prerequisite.value["kind"];
        let mapping = if kind == "Namespace" {
            kro_controller::executor::KindMapping {
                namespaced: false,
                ..builtin("", "v1", "Namespace", "namespaces")
            }
        } else {
            config_maps()
        };
        let name = prerequisite.value["metadata"]["name"]
            .as_str()
            .unwrap_or_default();
        let namespace = prerequisite.value["metadata"]["namespace"].as_str();
        mapping
            .api(harness.client.clone(), namespace)
            .patch(
                name,
                &PatchParams::apply("kro-executor-tests").force(),
                &Patch::Apply(&prerequisite.value),
            )
            .await?;
    }
    Ok(())
}

/// The fixtures the executor can converge on its own, by directory: (RGDs, instances).
fn fixtures_by_dir(
    documents: &[kro_integration_tests::CorpusDocument],
) -> BTreeMap<PathBuf, (Vec<Value>, Vec<Value>)> {
    let mut by_dir: BTreeMap<PathBuf, (Vec<Value>, Vec<Value>)> = BTreeMap::new();
    for document in documents {
        let Some(dir) = document.path.parent() else {
            continue;
        };
        // saas-multi-tenant chains RGDs: its instances create instances of other RGDs, which
        // need those RGDs' controllers (the operator). job-example waits for a Job to complete,
        // and the test control plane runs no job controller.
        if dir.ends_with("test/upgrade/fixtures")
            || dir.ends_with("saas-multi-tenant")
            || dir.ends_with("job-example")
        {
            continue;
        }
        let entry = by_dir.entry(dir.to_path_buf()).or_default();
        if document.value["kind"] == "ResourceGraphDefinition" {
            entry.0.push(document.value.clone());
        } else {
            entry.1.push(document.value.clone());
        }
    }
    by_dir
}

/// Installs `rgd`, then converges each instance, checks its children and deletes it.
async fn converge_fixture(
    harness: &Harness,
    case: &str,
    rgd: &Value,
    instances: &[Value],
) -> anyhow::Result<()> {
    let has_namespace_field = rgd["spec"]["schema"]["spec"].get("namespace").is_some();
    let engine = harness.install(rgd.clone()).await?;
    let ns = create_namespace(&harness.client, "exec-corpus").await?;
    for instance in instances {
        let mut instance = instance.clone();
        if has_namespace_field {
            instance["spec"]["namespace"] = json!(ns);
        }
        if case.ends_with("core-dns") {
            // Its cluster-scoped RBAC objects are named after spec.name: keep them apart
            // from other tests' instances of the same example.
            instance["spec"]["name"] = json!(ns);
            // The example's fixed cluster IP lies outside the test service range; pick
            // one per run so earlier runs' services do not hold it.
            let spread = ns
                .bytes()
                .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
            let ip = format!("10.96.{}.{}", 200 + spread % 50, 2 + (spread / 50) % 250);
            instance["spec"]["values"]["service"]["clusterIP"] = json!(ip);
            instance["spec"]["values"]["service"]["clusterIPs"] = json!([ip]);
        }
        let name = instance["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        engine.apply_instance(&ns, instance).await?;
        let converged = engine.converge_active(&ns, &name).await?;
        each_synced_node_has_one_object(harness, &engine, &ns, &name).await?;
        let deleted = engine.delete_and_finalize(&ns, &name).await?;
        let deletes: usize = deleted.history.iter().map(|o| o.stats.deletes).sum();
        eprintln!(
            "{case} {name}: ACTIVE after {} reconciles in {:?}; deleted ({deletes} deletes) in {} reconciles, {:?}",
            converged.reconciles, converged.elapsed, deleted.reconciles, deleted.elapsed
        );
    }
    Ok(())
}

/// Each single template node the status shows SYNCED has exactly one object labelled with its
/// node id and the instance's UID.
async fn each_synced_node_has_one_object(
    harness: &Harness,
    engine: &Engine,
    ns: &str,
    name: &str,
) -> anyhow::Result<()> {
    let status = get_json(&harness.client, &engine.kind, ns, name)
        .await?
        .map(|i| i["status"].clone())
        .unwrap_or_default();
    for node in engine.graph.resources() {
        if !matches!(node.kind(), kro_graph::NodeKind::Template) || node.is_collection() {
            continue;
        }
        let synced = status["resources"].as_array().is_some_and(|entries| {
            entries
                .iter()
                .any(|e| e["id"] == node.id() && e["state"] == "SYNCED")
        });
        if !synced {
            continue;
        }
        let kind = kro_controller::executor::KindMapping {
            group: node.gvk().group.clone(),
            version: node.gvk().version.clone(),
            kind: node.gvk().kind.clone(),
            plural: node.plural().to_owned(),
            namespaced: node.namespaced(),
        };
        let uid = engine
            .api(ns)
            .get(name)
            .await?
            .metadata
            .uid
            .unwrap_or_default();
        let selector = format!("kro.run/node-id={},kro.run/instance-id={uid}", node.id());
        let listed = kind
            .api(harness.client.clone(), None)
            .list(&kube::api::ListParams::default().labels(&selector))
            .await?;
        anyhow::ensure!(
            listed.items.len() == 1,
            "{name}: node {} has {} objects labelled {selector}",
            node.id(),
            listed.items.len()
        );
    }
    Ok(())
}

/// An admission rejection shows as ERROR with the server's message, and the instance recovers
/// once the cause is removed.
#[tokio::test]
async fn admission_rejection_is_an_error_that_recovers() -> anyhow::Result<()> {
    let harness = Harness::new().await?;
    let engine = harness.install(yaml(CHAIN_RGD)).await?;
    let ns = create_namespace(&harness.client, "exec-admission").await?;
    let policy = DenyPolicy::install(&harness, &ns).await?;

    engine
        .apply_instance(
            &ns,
            json!({"kind": "ExecChain", "metadata": {"name": "denied"}, "spec": {"target": "d"}}),
        )
        .await?;
    let failed = engine
        .converge(&ns, "denied", Duration::from_secs(30), |o| {
            o.state == InstanceState::Error
        })
        .await?
        .outcome;
    failure_names_the_policy(&harness, &engine, &ns, &failed).await?;

    // Remove the cause: the retry (requeue_after) converges.
    policy.remove(&harness).await?;
    let recovered = engine.converge_active(&ns, "denied").await?;
    assert!(recovered.outcome.waiting_on.is_empty());
    assert!(
        get_json(&harness.client, &config_maps(), &ns, "d-second-third")
            .await?
            .is_some()
    );
    Ok(())
}

/// A ValidatingAdmissionPolicy, bound to one namespace, that denies ConfigMaps with a `from`
/// key: the second and third nodes of the chain.
struct DenyPolicy {
    name: String,
    policies: KindMapping,
    bindings: KindMapping,
}

impl DenyPolicy {
    /// Installs the policy and its binding, and waits until they deny.
    async fn install(harness: &Harness, ns: &str) -> anyhow::Result<Self> {
        let name = format!("{ns}-deny");
        let policies = builtin(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingAdmissionPolicy",
            "validatingadmissionpolicies",
        );
        let policies = kro_controller::executor::KindMapping {
            namespaced: false,
            ..policies
        };
        let bindings = kro_controller::executor::KindMapping {
            kind: "ValidatingAdmissionPolicyBinding".into(),
            plural: "validatingadmissionpolicybindings".into(),
            ..policies.clone()
        };
        let apply = PatchParams::apply("kro-executor-tests").force();
        policies
            .api(harness.client.clone(), None)
            .patch(
                &name,
                &apply,
                &Patch::Apply(json!({
                    "apiVersion": "admissionregistration.k8s.io/v1",
                    "kind": "ValidatingAdmissionPolicy",
                    "metadata": {"name": name},
                    "spec": {
                        "failurePolicy": "Fail",
                        "matchConstraints": {"resourceRules": [{
                            "apiGroups": [""], "apiVersions": ["v1"],
                            "operations": ["CREATE", "UPDATE"], "resources": ["configmaps"]
                        }]},
                        "validations": [{
                            "expression": "!has(object.data) || !('from' in object.data)",
                            "message": "derived config maps are frozen by policy"
                        }]
                    }
                })),
            )
            .await?;
        bindings
            .api(harness.client.clone(), None)
            .patch(
                &name,
                &apply,
                &Patch::Apply(json!({
                    "apiVersion": "admissionregistration.k8s.io/v1",
                    "kind": "ValidatingAdmissionPolicyBinding",
                    "metadata": {"name": name},
                    "spec": {
                        "policyName": name,
                        "validationActions": ["Deny"],
                        "matchResources": {"namespaceSelector": {"matchLabels": {
                            "kubernetes.io/metadata.name": ns
                        }}}
                    }
                })),
            )
            .await?;
        // Policies take effect asynchronously: wait until a dry-run create is denied.
        let probe = config_maps().api(harness.client.clone(), Some(ns));
        kro_integration_tests::wait_for(Duration::from_secs(30), "the policy to deny", || {
            let probe = probe.clone();
            async move {
                let object: kube::api::DynamicObject = serde_json::from_value(json!({
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "probe"}, "data": {"from": "x"}
                }))?;
                let params = kube::api::PostParams {
                    dry_run: true,
                    ..Default::default()
                };
                Ok(probe.create(&params, &object).await.is_err())
            }
        })
        .await?;
        Ok(Self {
            name,
            policies,
            bindings,
        })
    }

    async fn remove(&self, harness: &Harness) -> anyhow::Result<()> {
        self.bindings
            .api(harness.client.clone(), None)
            .delete(&self.name, &DeleteParams::default())
            .await?;
        self.policies
            .api(harness.client.clone(), None)
            .delete(&self.name, &DeleteParams::default())
            .await?;
        Ok(())
    }
}

/// The denied node is ERROR with the policy's message, in the outcome and in the status; the
/// node before it was applied, the denied one was not.
async fn failure_names_the_policy(
    harness: &Harness,
    engine: &Engine,
    ns: &str,
    failed: &Outcome,
) -> anyhow::Result<()> {
    let second = failed
        .waiting_on
        .iter()
        .find(|w| w.id == "second")
        .expect("second is reported");
    assert_eq!(second.state, "ERROR");
    assert!(
        second
            .reason
            .contains("derived config maps are frozen by policy"),
        "{second:?}"
    );
    assert!(failed.requeue_after.is_some(), "{failed:?}");
    let status = get_json(&harness.client, &engine.kind, ns, "denied")
        .await?
        .expect("instance")["status"]
        .clone();
    assert_eq!(status["state"], "ERROR");
    let resources_ready = status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "ResourcesReady"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(resources_ready["status"], "False", "{status:#}");
    assert!(
        resources_ready["message"]
            .as_str()
            .is_some_and(|m| m.contains("frozen by policy")),
        "{status:#}"
    );
    assert!(
        get_json(&harness.client, &config_maps(), ns, "d")
            .await?
            .is_some()
    );
    assert!(
        get_json(&harness.client, &config_maps(), ns, "d-second")
            .await?
            .is_none()
    );
    Ok(())
}
