//! End to end: least privilege. The shipped aggregated RBAC of `deploy/manifests` is applied
//! under names of this run, the operator runs as its service account (a token from the
//! TokenRequest API, nothing else), and a cluster admin grants kinds through extra ClusterRoles
//! carrying the aggregation label:
//! - the kinds granted (ConfigMaps and the generated kinds) reach ACTIVE;
//! - a Secret child, and an external reference to a Secret, are not granted: their instances
//!   report ERROR with a `Ready` condition naming the verb and the resource the server refused,
//!   and no Secret is created;
//! - granting reads of Secrets resolves the external reference, and the Secret child then names
//!   the write it may not make; granting writes too lets it converge. The operator is never
//!   restarted: it retries on its own.
//!
//! The aggregation selector of this run's role also requires a label naming the run, so runs
//! against one control plane (or a kro-rs installed in it) never grant each other anything.

mod e2e_rbac_rgds;
mod e2e_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use e2e_rbac_rgds::rgds;
use e2e_support::{
    SweptKind, TEST_LABEL, create, dynamic_api, instance_api, label_for_test, no_unlabelled,
    remove_test_objects, rgd_api, state_of, unique_group, wait_instance_state, wait_rgd_active,
};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use kro_integration_tests::reliability::record;
use kro_integration_tests::{
    KUBECONFIG_ENV, OperatorProcess, client, unique_name, wait_for, workspace_root,
};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, ResourceExt as _};
use serde_json::{Value, json};

const TEST: &str = "rbac";
const TIMEOUT: Duration = Duration::from_secs(90);
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(45);
/// Leftovers of an interrupted run have no operator to release them: their finalizers go after
/// this long.
const LEFTOVER_TIMEOUT: Duration = Duration::from_secs(10);
const CATEGORY: &str = "least privilege";
/// The label the shipped aggregated ClusterRole selects.
const AGGREGATE_LABEL: &str = "rbac.kro.run/aggregate-to-controller";
/// Narrows this run's aggregation to this run's roles.
const RUN_LABEL: &str = "e2e.kro.run/rbac-run";
/// Every verb the operator uses on a child or instance kind.
const ALL_VERBS: [&str; 7] = [
    "get", "list", "watch", "create", "update", "patch", "delete",
];
const READ_VERBS: [&str; 3] = ["get", "list", "watch"];
const WRITE_VERBS: [&str; 4] = ["create", "update", "patch", "delete"];
const SWEPT: &[SweptKind] = &[
    SweptKind {
        api_version: "v1",
        kind: "ConfigMap",
        plural: "configmaps",
    },
    SweptKind {
        api_version: "v1",
        kind: "Secret",
        plural: "secrets",
    },
];
/// The generated kinds of the three RGDs: (RGD suffix, kind).
const KINDS: [(&str, &str); 3] = [
    ("config", "RbacConfig"),
    ("secret", "RbacSecret"),
    ("external", "RbacExternal"),
];
/// The Secret the external reference reads, created by the test (as an admin).
const SOURCE_SECRET: &str = "rbac-source";

fn yaml_documents(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let documents: Vec<Value> = serde_saphyr::from_multiple(&text)
        .with_context(|| format!("parsing {}", path.display()))?;
    Ok(documents.into_iter().filter(|d| !d.is_null()).collect())
}

/// The objects `kubectl apply -k deploy/manifests` installs in aggregation mode (the
/// kustomization's `rbac-unrestricted.yaml` replaced by `rbac-aggregated.yaml`, as its comment
/// says), without the CRDs (the operator installs them) and the Deployment and Service (the
/// operator runs here as a local process).
fn shipped_objects() -> anyhow::Result<Vec<Value>> {
    let dir = workspace_root().join("deploy/manifests");
    let kustomization = yaml_documents(&dir.join("kustomization.yaml"))?;
    let resources = kustomization
        .first()
        .and_then(|k| k["resources"].as_array())
        .context("kustomization.yaml has no resources")?;
    let mut objects = Vec::new();
    for file in resources {
        let file = file.as_str().context("a resource that is not a string")?;
        if file.contains('/') {
            continue;
        }
        let file = if file == "rbac-unrestricted.yaml" {
            "rbac-aggregated.yaml"
        } else {
            file
        };
        for object in yaml_documents(&dir.join(file))? {
            if !matches!(object["kind"].as_str(), Some("Deployment" | "Service")) {
                objects.push(object);
            }
        }
    }
    Ok(objects)
}

/// Renames `object` into this run: the namespace is `namespace`, cluster-scoped names get
/// `:<run>`, and the aggregation selects only roles labelled with the run.
fn isolate(mut object: Value, run: &str, namespace: &str) -> anyhow::Result<Value> {
    let kind = object["kind"].as_str().unwrap_or_default().to_owned();
    let name = object["metadata"]["name"]
        .as_str()
        .context("an object without a name")?
        .to_owned();
    match kind.as_str() {
        "Namespace" => object["metadata"]["name"] = json!(namespace),
        "ServiceAccount" => object["metadata"]["namespace"] = json!(namespace),
        "ClusterRole" => {
            object["metadata"]["name"] = json!(format!("{name}:{run}"));
            if let Some(selectors) = object
                .pointer_mut("/aggregationRule/clusterRoleSelectors")
                .and_then(Value::as_array_mut)
            {
                for selector in selectors {
                    selector["matchLabels"][RUN_LABEL] = json!(run);
                }
            }
        }
        "ClusterRoleBinding" => {
            object["metadata"]["name"] = json!(format!("{name}:{run}"));
            let role = object["roleRef"]["name"].as_str().unwrap_or_default();
            object["roleRef"]["name"] = json!(format!("{role}:{run}"));
            for subject in object["subjects"].as_array_mut().into_iter().flatten() {
                if subject["kind"] == "ServiceAccount" {
                    subject["namespace"] = json!(namespace);
                }
            }
        }
        other => bail!("unexpected {other} {name} in deploy/manifests"),
    }
    label_for_test(&mut object, TEST);
    object["metadata"]["labels"][RUN_LABEL] = json!(run);
    Ok(object)
}

/// A ClusterRole the aggregated role picks up, granting `rules`.
fn grant(name: &str, run: &str, rules: &Value) -> Value {
    let mut role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": format!("kro:e2e:{name}:{run}"),
            "labels": {AGGREGATE_LABEL: "true", RUN_LABEL: run}
        },
        "rules": rules
    });
    label_for_test(&mut role, TEST);
    role
}

fn api_of(client: &Client, object: &Value) -> anyhow::Result<Api<DynamicObject>> {
    let namespace = object["metadata"]["namespace"].as_str();
    let (api_version, kind, plural) = match object["kind"].as_str() {
        Some("Namespace") => ("v1", "Namespace", "namespaces"),
        Some("ServiceAccount") => ("v1", "ServiceAccount", "serviceaccounts"),
        Some("ClusterRole") => (
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            "clusterroles",
        ),
        Some("ClusterRoleBinding") => (
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
        ),
        other => bail!("no API for {other:?}"),
    };
    Ok(dynamic_api(client, api_version, kind, plural, namespace))
}

/// Waits until the aggregated role `role` allows `verbs` on `resource` in `group`.
async fn wait_aggregated(
    client: &Client,
    role: &str,
    group: &str,
    resource: &str,
    verbs: &[&str],
) -> anyhow::Result<()> {
    let roles = dynamic_api(
        client,
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
        "clusterroles",
        None,
    );
    let has = |rule: &Value, field: &str, item: &str| {
        rule[field]
            .as_array()
            .is_some_and(|items| items.iter().any(|v| v == item))
    };
    let waited = wait_for(
        Duration::from_secs(30),
        &format!("{role} to aggregate {verbs:?} on {resource} (API group {group:?})"),
        || async {
            let aggregated = roles.get(role).await?;
            let rules = aggregated.data["rules"].as_array().cloned();
            Ok(rules.into_iter().flatten().any(|rule| {
                has(&rule, "apiGroups", group)
                    && has(&rule, "resources", resource)
                    && verbs.iter().all(|verb| has(&rule, "verbs", verb))
            }))
        },
    )
    .await;
    waited.context(
        "the clusterrole-aggregation-controller of kube-controller-manager fills aggregated \
         roles: does the control plane run it (scripts/testenv-up.sh starts it)?",
    )
}

/// A kubeconfig for the service account `namespace/name`: the admin kubeconfig's cluster
/// (server and CA) with a token from the TokenRequest API as the only credential.
async fn service_account_kubeconfig(
    client: &Client,
    namespace: &str,
    name: &str,
) -> anyhow::Result<PathBuf> {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let request: TokenRequest =
        serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 3600}}))?;
    let token = accounts
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .with_context(|| format!("requesting a token for {namespace}/{name}"))?
        .status
        .context("the TokenRequest response has no status")?
        .token;
    let admin =
        std::env::var(KUBECONFIG_ENV).with_context(|| format!("{KUBECONFIG_ENV} is not set"))?;
    let mut kubeconfig = yaml_documents(Path::new(&admin))?
        .pop()
        .context("an empty kubeconfig")?;
    kubeconfig["users"] = json!([{"name": "kro-operator", "user": {"token": token}}]);
    for context in kubeconfig["contexts"].as_array_mut().into_iter().flatten() {
        context["context"]["user"] = json!("kro-operator");
    }
    let path = std::env::temp_dir().join(format!("{}.kubeconfig", unique_name("kro-e2e-rbac")));
    let mut file = {
        use std::os::unix::fs::OpenOptionsExt as _;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?
    };
    std::io::Write::write_all(&mut file, kubeconfig.to_string().as_bytes())?;
    Ok(path)
}

async fn client_from(path: &Path) -> anyhow::Result<Client> {
    let kubeconfig = Kubeconfig::read_from(path)?;
    let mut config =
        Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    config.proxy_url = None;
    Ok(Client::try_from(config)?)
}

/// Starts the operator with `kubeconfig`'s credentials and waits until it serves the RGD API.
async fn start_operator_as(client: &Client, kubeconfig: &Path) -> anyhow::Result<OperatorProcess> {
    let mut operator =
        OperatorProcess::start_with_kubeconfig(kubeconfig, &["--allow-crd-deletion"])?;
    let rgds = rgd_api(client);
    let served = wait_for(TIMEOUT, "the RGD API to be served", || async {
        Ok(rgds.list(&ListParams::default()).await.is_ok())
    })
    .await;
    if let Err(error) = served {
        bail!("{error:#}\noperator log:\n{}", operator.log_tail(80));
    }
    ensure!(
        operator.is_running(),
        "the operator exited:\n{}",
        operator.log_tail(80)
    );
    Ok(operator)
}

/// `cannot <verb> resource "<resource>"`, the part of a Forbidden message that names what was
/// refused (the rest names this run's service account and namespace).
fn refused(message: &str) -> Option<String> {
    let start = message.find("cannot ")?;
    let rest = &message[start..];
    let resource = rest.find("resource \"")? + "resource \"".len();
    let end = resource + rest[resource..].find('"')?;
    Some(rest[..=end].to_owned())
}

/// The `Ready` reason of a missing permission (`kro_controller::executor::REASON_FORBIDDEN`).
const REASON_FORBIDDEN: &str = "ResourceAccessForbidden";

/// What the instance's `Ready` condition says the server refused about Secrets.
fn secret_refusals(instance: &DynamicObject) -> Vec<String> {
    instance.data["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|condition| condition["type"] == "Ready" && condition["status"] == "False")
        .filter(|condition| condition["reason"] == REASON_FORBIDDEN)
        .filter_map(|condition| condition["message"].as_str())
        .filter_map(refused)
        .filter(|refusal| refusal.ends_with("resource \"secrets\""))
        .collect()
}

/// Waits until instance `name` reports a refused Secret access with one of `verbs` and returns
/// the refusal.
async fn wait_refusal(
    instances: &Api<DynamicObject>,
    name: &str,
    verbs: &[&str],
    operator: &OperatorProcess,
) -> anyhow::Result<(DynamicObject, String)> {
    let names_a_verb = |refusal: &String| {
        verbs
            .iter()
            .any(|verb| refusal.starts_with(&format!("cannot {verb} ")))
    };
    let waited = wait_for(
        TIMEOUT,
        &format!("instance {name} to name a refused {verbs:?} on Secrets"),
        || async {
            let instance = instances.get(name).await?;
            Ok(secret_refusals(&instance).iter().any(names_a_verb))
        },
    )
    .await;
    if let Err(error) = waited {
        let status = instances
            .get(name)
            .await
            .map(|instance| instance.data["status"].to_string())
            .unwrap_or_default();
        bail!(
            "{error:#}\nstatus: {status}\noperator log:\n{}",
            operator.log_tail(80)
        );
    }
    let instance = instances.get(name).await?;
    let refusal = secret_refusals(&instance)
        .into_iter()
        .find(names_a_verb)
        .context("the refusal went away")?;
    Ok((instance, refusal))
}

/// The state and message of resource `id` in the instance's `status.resources`.
fn resource_entry(instance: &DynamicObject, id: &str) -> Option<(String, String)> {
    instance.data["status"]["resources"]
        .as_array()?
        .iter()
        .find(|entry| entry["id"] == id)
        .map(|entry| {
            (
                entry["state"].as_str().unwrap_or_default().to_owned(),
                entry["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
}

struct Run {
    client: Client,
    run: String,
    namespace: String,
    group: String,
    /// The aggregated ClusterRole of this run.
    role: String,
}

impl Run {
    fn instances(&self, kind: &str) -> Api<DynamicObject> {
        let definition = json!({"spec": {"schema": {
            "group": self.group, "apiVersion": "v1alpha1", "kind": kind
        }}});
        instance_api(&self.client, &definition, Some(&self.namespace))
    }

    /// Installs the shipped RBAC under this run's names, plus the grant of ConfigMaps and the
    /// generated kinds, and waits until the aggregated role holds them.
    async fn install_rbac(&self) -> anyhow::Result<()> {
        for object in shipped_objects()? {
            let object = isolate(object, &self.run, &self.namespace)?;
            create(&api_of(&self.client, &object)?, &object).await?;
        }
        let generated: Vec<String> = KINDS
            .iter()
            .flat_map(|(_, kind)| {
                let plural = kro_schema::pluralize(&kind.to_lowercase());
                [
                    plural.clone(),
                    format!("{plural}/status"),
                    format!("{plural}/finalizers"),
                ]
            })
            .collect();
        let role = grant(
            "instances-and-configmaps",
            &self.run,
            &json!([
                {"apiGroups": [self.group], "resources": generated, "verbs": ALL_VERBS},
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ALL_VERBS}
            ]),
        );
        create(&api_of(&self.client, &role)?, &role).await?;
        wait_aggregated(&self.client, &self.role, "", "configmaps", &ALL_VERBS).await
    }

    /// Grants `verbs` on Secrets through one more aggregated role, `name`.
    async fn grant_secrets(&self, name: &str, verbs: &[&str]) -> anyhow::Result<()> {
        let role = grant(
            name,
            &self.run,
            &json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": verbs}]),
        );
        create(&api_of(&self.client, &role)?, &role).await?;
        wait_aggregated(&self.client, &self.role, "", "secrets", verbs).await
    }
}

async fn least_privilege(fixture: &Run, kubeconfig: &Path) -> anyhow::Result<()> {
    service_account_may_not_list_secrets(fixture, kubeconfig).await?;

    let mut operator = start_operator_as(&fixture.client, kubeconfig).await?;
    let pid = operator.pid();
    let objects = Objects {
        secrets: Api::namespaced(fixture.client.clone(), &fixture.namespace),
        config_maps: Api::namespaced(fixture.client.clone(), &fixture.namespace),
    };
    let source: Secret = serde_json::from_value(json!({
        "metadata": {"name": SOURCE_SECRET, "namespace": fixture.namespace},
        "data": {"token": "c291cmNl"}
    }))?;
    objects
        .secrets
        .create(&PostParams::default(), &source)
        .await?;

    create_rgds_and_instances(fixture, &operator).await?;
    granted_kinds_become_active(fixture, &objects, &operator).await?;
    secret_child_names_the_refusal(fixture, &objects, &operator).await?;
    external_reference_names_the_refusal(fixture, &objects, &operator).await?;
    granting_reads_resolves_the_reference(fixture, &objects, &operator).await?;
    granting_writes_converges(fixture, &objects, &mut operator, pid).await?;

    remove_test_objects(&fixture.client, TEST, no_unlabelled, SWEPT, CLEANUP_TIMEOUT)
        .await
        .context("clean-up")
}

/// The namespaced objects the checks look at, read as the cluster admin.
struct Objects {
    secrets: Api<Secret>,
    config_maps: Api<ConfigMap>,
}

/// The kubeconfig really is the service account's: Secrets are not granted.
async fn service_account_may_not_list_secrets(
    fixture: &Run,
    kubeconfig: &Path,
) -> anyhow::Result<()> {
    let restricted = client_from(kubeconfig).await?;
    let refused_list = Api::<Secret>::namespaced(restricted, &fixture.namespace)
        .list(&ListParams::default())
        .await;
    ensure!(
        matches!(&refused_list, Err(kube::Error::Api(status)) if status.code == 403),
        "the service account may list Secrets: {refused_list:?}"
    );
    Ok(())
}

/// Every RGD Active, then one instance of each kind.
async fn create_rgds_and_instances(
    fixture: &Run,
    operator: &OperatorProcess,
) -> anyhow::Result<()> {
    let definitions = rgds(&fixture.run, &fixture.group);
    for definition in &definitions {
        create(&rgd_api(&fixture.client), definition).await?;
    }
    for definition in &definitions {
        let name = definition["metadata"]["name"].as_str().unwrap_or_default();
        wait_rgd_active(&fixture.client, name, TIMEOUT, operator).await?;
    }
    // Each instance is named after its RGD, so their children's names never collide.
    for (name, kind) in KINDS {
        let instance = json!({
            "apiVersion": format!("{}/v1alpha1", fixture.group), "kind": kind,
            "metadata": {"name": name, "namespace": fixture.namespace},
            "spec": {}
        });
        create(&fixture.instances(kind), &instance).await?;
    }
    Ok(())
}

/// Granted kinds only: ACTIVE.
async fn granted_kinds_become_active(
    fixture: &Run,
    objects: &Objects,
    operator: &OperatorProcess,
) -> anyhow::Result<()> {
    let config = fixture.instances("RbacConfig");
    wait_instance_state(&config, "config", "ACTIVE", TIMEOUT, operator).await?;
    ensure!(
        objects
            .config_maps
            .get_opt("config-config")
            .await?
            .is_some()
    );
    record(
        CATEGORY,
        "RGD whose children are all granted (ConfigMaps), operator as its service account",
        1,
        "RGD Active, instance ACTIVE, ConfigMap created",
    );
    Ok(())
}

/// A Secret child: the instance names the refused verb and resource; no Secret exists; the
/// granted sibling is applied all the same.
async fn secret_child_names_the_refusal(
    fixture: &Run,
    objects: &Objects,
    operator: &OperatorProcess,
) -> anyhow::Result<()> {
    let secret = fixture.instances("RbacSecret");
    let (instance, refusal) = wait_refusal(&secret, "secret", &ALL_VERBS, operator).await?;
    ensure!(
        state_of(&instance) == Some("ERROR"),
        "state {:?}: {}",
        state_of(&instance),
        instance.data["status"]
    );
    let (node_state, node_message) =
        resource_entry(&instance, "secret").context("no status entry for the Secret node")?;
    ensure!(
        node_state == "ERROR" && refused(&node_message).is_some(),
        "Secret node: {node_state} {node_message}"
    );
    ensure!(
        objects.secrets.get_opt("secret-secret").await?.is_none(),
        "the Secret was created without permission"
    );
    ensure!(
        objects
            .config_maps
            .get_opt("secret-config")
            .await?
            .is_some()
    );
    record(
        CATEGORY,
        "RGD with a Secret child, Secrets not granted",
        1,
        &format!(
            "instance ERROR, Ready False ({REASON_FORBIDDEN}) naming `{refusal}`, Secret node ERROR, no Secret \
             created, ConfigMap sibling applied"
        ),
    );
    Ok(())
}

/// An external reference the operator may not read: named the same way.
async fn external_reference_names_the_refusal(
    fixture: &Run,
    objects: &Objects,
    operator: &OperatorProcess,
) -> anyhow::Result<()> {
    let external = fixture.instances("RbacExternal");
    let (instance, refusal) = wait_refusal(&external, "external", &READ_VERBS, operator).await?;
    ensure!(
        state_of(&instance) == Some("ERROR"),
        "state {:?}: {}",
        state_of(&instance),
        instance.data["status"]
    );
    let (node_state, _) =
        resource_entry(&instance, "source").context("no status entry for the external node")?;
    ensure!(node_state == "ERROR", "external node: {node_state}");
    ensure!(
        objects
            .config_maps
            .get_opt("external-copy")
            .await?
            .is_none()
    );
    record(
        CATEGORY,
        "externalRef to a Secret, Secrets not granted (a refused read)",
        1,
        &format!(
            "instance ERROR, Ready False ({REASON_FORBIDDEN}) naming `{refusal}`, dependent ConfigMap not created"
        ),
    );
    Ok(())
}

/// Reading Secrets granted: the external reference resolves, and the Secret child now names
/// the write it may not make. The operator retries on its own, without a restart.
async fn granting_reads_resolves_the_reference(
    fixture: &Run,
    objects: &Objects,
    operator: &OperatorProcess,
) -> anyhow::Result<()> {
    let external = fixture.instances("RbacExternal");
    let secret = fixture.instances("RbacSecret");
    fixture.grant_secrets("secrets-read", &READ_VERBS).await?;
    wait_instance_state(&external, "external", "ACTIVE", TIMEOUT, operator).await?;
    let (_, write_refusal) = wait_refusal(&secret, "secret", &WRITE_VERBS, operator).await?;
    ensure!(
        objects.secrets.get_opt("secret-secret").await?.is_none(),
        "the Secret was created without permission"
    );
    record(
        CATEGORY,
        "Secrets granted read-only afterwards (another aggregated ClusterRole)",
        1,
        &format!(
            "externalRef instance ACTIVE; Secret-child instance names `{write_refusal}`, no \
             Secret created"
        ),
    );
    Ok(())
}

/// Writing granted too: the Secret child converges, and the operator (process `pid`) was never
/// restarted.
async fn granting_writes_converges(
    fixture: &Run,
    objects: &Objects,
    operator: &mut OperatorProcess,
    pid: u32,
) -> anyhow::Result<()> {
    let secret = fixture.instances("RbacSecret");
    fixture.grant_secrets("secrets-write", &WRITE_VERBS).await?;
    wait_instance_state(&secret, "secret", "ACTIVE", TIMEOUT, operator).await?;
    ensure!(objects.secrets.get_opt("secret-secret").await?.is_some());
    let copy = objects
        .config_maps
        .get_opt("external-copy")
        .await?
        .and_then(|copy| copy.data)
        .and_then(|data| data.get("type").cloned());
    ensure!(copy.as_deref() == Some("Opaque"), "copied {copy:?}");
    ensure!(
        operator.is_running() && operator.pid() == pid,
        "the operator restarted"
    );
    record(
        CATEGORY,
        "Secrets granted read and write afterwards (two aggregated ClusterRoles)",
        1,
        "both instances ACTIVE without an operator restart; Secret created, external Secret read",
    );
    Ok(())
}

/// Deletes the CRDs generated for this run's group (after a failure, when no operator was left
/// to delete them with their RGDs).
async fn remove_generated_crds(client: &Client, group: &str) -> anyhow::Result<()> {
    let crds = dynamic_api(
        client,
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        None,
    );
    for (_, kind) in KINDS {
        let name = format!("{}.{group}", kro_schema::pluralize(&kind.to_lowercase()));
        match crds.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

/// Deletes the cluster-scoped RBAC objects of every run of this test.
async fn remove_rbac(client: &Client) -> anyhow::Result<()> {
    let selector = format!("{TEST_LABEL}={TEST}");
    for (kind, plural) in [
        ("ClusterRoleBinding", "clusterrolebindings"),
        ("ClusterRole", "clusterroles"),
    ] {
        let api = dynamic_api(client, "rbac.authorization.k8s.io/v1", kind, plural, None);
        for object in api
            .list(&ListParams::default().labels(&selector))
            .await?
            .items
        {
            match api
                .delete(&object.name_any(), &DeleteParams::default())
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(error) => return Err(error.into()),
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn aggregated_rbac_grants_only_what_it_lists() -> anyhow::Result<()> {
    let client = client().await?;
    if let Err(error) =
        remove_test_objects(&client, TEST, no_unlabelled, SWEPT, LEFTOVER_TIMEOUT).await
    {
        eprintln!("warning: removing leftovers of earlier runs: {error:#}");
    }
    let run = unique_name("rbac");
    let fixture = Run {
        client: client.clone(),
        namespace: format!("kro-e2e-{run}"),
        group: unique_group("rbac"),
        role: format!("kro:controller:{run}"),
        run,
    };
    let installed = fixture.install_rbac().await;
    let result = match installed {
        Ok(()) => match service_account_kubeconfig(&client, &fixture.namespace, "kro").await {
            Ok(kubeconfig) => {
                let result = least_privilege(&fixture, &kubeconfig).await;
                let _ = std::fs::remove_file(&kubeconfig);
                result
            }
            Err(error) => Err(error),
        },
        Err(error) => Err(error),
    };
    // Whatever failed, nothing of this run may grant anything afterwards.
    let removed = remove_rbac(&client).await;
    if result.is_err() {
        let _ = remove_test_objects(&client, TEST, no_unlabelled, SWEPT, LEFTOVER_TIMEOUT).await;
        let _ = remove_generated_crds(&client, &fixture.group).await;
    }
    result?;
    removed
}
