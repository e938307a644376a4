//! kro-rs names GraphRevisions by the same spec hash as upstream kro v0.9.4, so a cluster that
//! switches implementations keeps its revisions. Every RGD of upstream's examples and upgrade
//! fixtures, plus a few crafted edge cases, is stored on a private control plane (kro's RGD CRD
//! defaults and prunes it), read back, and hashed twice: by `kro_graph::hash::spec_hash` and by
//! upstream's own Go code (`testenv/upstream-kro/spechash`, built against the v0.9.4 module).
//!
//! No operator runs on that control plane: the RGDs are only stored, never reconciled.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail, ensure};
use kro_api::ResourceGraphDefinition;
use kro_integration_tests::testenv::PrivateControlPlane;
use kro_integration_tests::{upstream_module_dir, workspace_root, yaml_documents_under};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use kube::runtime::wait::{await_condition, conditions::is_crd_established};
use serde_json::{Value, json};

/// RGDs the upstream files do not cover: an empty `types: {}`, `metadata: {}`, numbers Go writes
/// with exponents, characters Go's encoder escapes, readyWhen out of order, an external selector.
const CRAFTED: &str = r#"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: crafted-edges}
spec:
  schema:
    apiVersion: v1alpha1
    kind: HashEdges
    types: {}
    metadata: {}
    spec:
      name: string | default="a<b>&c"
    status:
      ready: ${cm.metadata.name != ""}
  resources:
  - id: cm
    readyWhen:
    - ${cm.metadata.name != ""}
    - ${cm.data != null}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "${schema.spec.name}"}
      data:
        tiny: "0.0000001"
      binaryData: {}
    includeWhen: ["${true}"]
  - id: found
    externalRef:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        selector:
          matchLabels: {app: x}
          matchExpressions:
          - {key: tier, operator: In, values: [web, api]}
---
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: crafted-numbers}
spec:
  schema:
    apiVersion: v1alpha1
    kind: HashNumbers
    group: numbers.example.com
    scope: Cluster
    shortNames: [hn]
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size, priority: 1, description: the size}
    spec:
      size: integer | default=3 minimum=1
  resources:
  - id: job
    template:
      apiVersion: batch/v1
      kind: Job
      metadata: {name: "x${schema.spec.size}"}
      spec:
        backoffLimit: 1e21
        activeDeadlineSeconds: 0.000001
        parallelism: 1.5
        template:
          spec:
            restartPolicy: Never
            containers: [{name: c, image: busybox}]
"#;

/// The upstream RGDs and the crafted ones, each renamed so that names never collide.
fn rgds_to_store() -> anyhow::Result<Vec<Value>> {
    let upstream = upstream_module_dir()?;
    let mut documents: Vec<Value> =
        yaml_documents_under(&upstream, &["examples/kubernetes", "test/upgrade/fixtures"])?
            .into_iter()
            .map(|document| document.value)
            .collect();
    documents
        .extend(serde_saphyr::from_multiple::<Value>(CRAFTED).context("parsing the crafted RGDs")?);
    let mut rgds: Vec<Value> = documents
        .into_iter()
        .filter(|d| d["kind"] == "ResourceGraphDefinition")
        .collect();
    for (index, rgd) in rgds.iter_mut().enumerate() {
        let name = rgd["metadata"]["name"].as_str().unwrap_or("rgd").to_owned();
        rgd["metadata"] = json!({"name": format!("h{index:02}-{name}")});
    }
    ensure!(
        rgds.len() >= 30,
        "expected upstream's ~30 RGDs, found {}",
        rgds.len()
    );
    Ok(rgds)
}

/// Builds upstream's hash program (cached by Go's build cache) and returns its path.
fn build_upstream_hasher() -> anyhow::Result<std::path::PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let binary = target.join("upstream-spechash");
    let status = Command::new("go")
        .args(["build", "-o"])
        .arg(&binary)
        .arg("./spechash")
        .current_dir(workspace_root().join("testenv/upstream-kro"))
        .env("GOFLAGS", "-modcacherw")
        .status()
        .context("running go build for testenv/upstream-kro/spechash")?;
    ensure!(
        status.success(),
        "building the upstream hash program failed"
    );
    Ok(binary)
}

/// Upstream's hash of every RGD in `list` (a Kubernetes List in JSON), by name.
fn upstream_hashes(
    binary: &std::path::Path,
    list: &Value,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut child = Command::new(binary)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(list.to_string().as_bytes())?;
    let output = child.wait_with_output()?;
    ensure!(
        output.status.success(),
        "upstream hash program failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)?
        .lines()
        .map(|line| {
            let (name, hash) = line.split_once('\t').context("a name<TAB>hash line")?;
            Ok((name.to_owned(), hash.to_owned()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_hashes_equal_upstreams_own() -> anyhow::Result<()> {
    let rgds = rgds_to_store()?;
    let hasher = build_upstream_hasher()?;
    let plane = PrivateControlPlane::start()?;
    let client = plane.client().await?;

    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    let crd = kro_api::resource_graph_definition_crd();
    crds.patch(
        "resourcegraphdefinitions.kro.run",
        &PatchParams::apply("spec-hash-test").force(),
        &Patch::Apply(&crd),
    )
    .await?;
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        await_condition(
            crds,
            "resourcegraphdefinitions.kro.run",
            is_crd_established(),
        ),
    )
    .await
    .context("the RGD CRD did not become Established")??;

    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kro.run", "v1alpha1", "ResourceGraphDefinition"),
        "resourcegraphdefinitions",
    );
    let api: Api<DynamicObject> = Api::all_with(client, &resource);
    for rgd in &rgds {
        let name = rgd["metadata"]["name"].as_str().context("name")?;
        api.patch(
            name,
            &PatchParams::apply("spec-hash-test"),
            &Patch::Apply(rgd),
        )
        .await
        .with_context(|| format!("storing RGD {name}"))?;
    }
    let stored = api.list(&ListParams::default()).await?;
    let items: Vec<Value> = stored
        .items
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()?;
    ensure!(
        items.len() == rgds.len(),
        "stored {} of {} RGDs",
        items.len(),
        rgds.len()
    );
    let upstream = upstream_hashes(&hasher, &json!({"items": items}))?;

    let mut differences = Vec::new();
    for item in &items {
        let rgd: ResourceGraphDefinition = serde_json::from_value(item.clone())?;
        let name = rgd.metadata.name.clone().unwrap_or_default();
        let ours = kro_graph::hash::spec_hash(&rgd.spec);
        match upstream.get(&name) {
            Some(theirs) if *theirs == ours => {}
            Some(theirs) => differences.push(format!(
                "{name}: kro-rs {ours}, upstream {theirs}\n  kro-rs hashed {}",
                kro_graph::hash::canonical_json(&rgd.spec)
            )),
            None => differences.push(format!("{name}: upstream printed no hash")),
        }
    }
    if !differences.is_empty() {
        bail!(
            "{} of {} spec hashes differ from upstream's:\n{}",
            differences.len(),
            items.len(),
            differences.join("\n")
        );
    }
    Ok(())
}
