//! Helpers shared by the end-to-end tests: the operator process, RGDs from the corpus with a
//! unique group per test, and waits on RGD and instance state.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context as _, bail};
use kro_integration_tests::{OperatorProcess, corpus_root, unique_name, wait_for};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use kube::{Client, ResourceExt as _};
use serde_json::Value;

/// The RGD API.
pub fn rgd_api(client: &Client) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kro.run", "v1alpha1", "ResourceGraphDefinition"),
        "resourcegraphdefinitions",
    );
    Api::all_with(client.clone(), &resource)
}

/// A dynamic API for `kind` (plural `plural`) in `namespace` (all namespaces when `None`).
pub fn dynamic_api(
    client: &Client,
    api_version: &str,
    kind: &str,
    plural: &str,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    match namespace {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
        None => Api::all_with(client.clone(), &resource),
    }
}

/// Starts the operator and waits until the RGD API is served (the operator installs it).
pub async fn start_operator(client: &Client, args: &[&str]) -> anyhow::Result<OperatorProcess> {
    let operator = OperatorProcess::start(args)?;
    wait_operator_serving(client, operator).await
}

/// Starts the operator against the control plane of `kubeconfig` (which `client` talks to) and
/// waits until the RGD API is served.
pub async fn start_operator_on(
    client: &Client,
    kubeconfig: &std::path::Path,
    args: &[&str],
) -> anyhow::Result<OperatorProcess> {
    let operator = OperatorProcess::start_with_kubeconfig(kubeconfig, args)?;
    wait_operator_serving(client, operator).await
}

async fn wait_operator_serving(
    client: &Client,
    mut operator: OperatorProcess,
) -> anyhow::Result<OperatorProcess> {
    let api = rgd_api(client);
    let served = wait_for(Duration::from_secs(60), "the RGD API to be served", || {
        let api = api.clone();
        async move { Ok(api.list(&Default::default()).await.is_ok()) }
    })
    .await;
    if let Err(error) = served {
        bail!("{error:#}\noperator log:\n{}", operator.log_tail(80));
    }
    if !operator.is_running() {
        bail!("the operator exited:\n{}", operator.log_tail(80));
    }
    Ok(operator)
}

/// The documents of a corpus file (path relative to the corpus root, `corpus_root`), as JSON.
pub fn corpus_file(relative: &str) -> anyhow::Result<Vec<Value>> {
    Ok(kro_test_support::try_read_documents(
        &corpus_root().join(relative),
    )?)
}

/// A unique API group for one test.
pub fn unique_group(prefix: &str) -> String {
    format!("{}.e2e.kro.run", unique_name(prefix))
}

/// Gives an RGD a unique name and group: `<name>-<suffix>` and `group`.
pub fn isolate_rgd(mut rgd: Value, group: &str) -> Value {
    let name = rgd["metadata"]["name"].as_str().unwrap_or("rgd").to_owned();
    let suffix = group.split('.').next().unwrap_or("x").to_owned();
    rgd["metadata"] = serde_json::json!({"name": format!("{}-{suffix}", name.replace('.', "-"))});
    rgd["spec"]["schema"]["group"] = Value::from(group);
    rgd
}

/// Creates an object (JSON) through `api`.
pub async fn create(api: &Api<DynamicObject>, object: &Value) -> anyhow::Result<DynamicObject> {
    let object: DynamicObject = serde_json::from_value(object.clone())?;
    api.create(&PostParams::default(), &object)
        .await
        .with_context(|| {
            format!(
                "creating {}",
                object.metadata.name.clone().unwrap_or_default()
            )
        })
}

/// `.status.state` of an object.
pub fn state_of(object: &DynamicObject) -> Option<&str> {
    object.data.pointer("/status/state").and_then(Value::as_str)
}

/// Waits until the RGD `name` is Active and returns it.
pub async fn wait_rgd_active(
    client: &Client,
    name: &str,
    timeout: Duration,
    operator: &OperatorProcess,
) -> anyhow::Result<DynamicObject> {
    let api = rgd_api(client);
    let waited = wait_for(timeout, &format!("RGD {name} to be Active"), || {
        let api = api.clone();
        async move {
            let rgd = api.get(name).await?;
            Ok(state_of(&rgd) == Some("Active"))
        }
    })
    .await;
    if let Err(error) = waited {
        let status = api
            .get(name)
            .await
            .map(|rgd| rgd.data["status"].to_string())
            .unwrap_or_default();
        bail!(
            "{error:#}\nstatus: {status}\noperator log:\n{}",
            operator.log_tail(80)
        );
    }
    Ok(api.get(name).await?)
}

/// Waits until the instance `name` reaches `state`.
pub async fn wait_instance_state(
    api: &Api<DynamicObject>,
    name: &str,
    state: &str,
    timeout: Duration,
    operator: &OperatorProcess,
) -> anyhow::Result<DynamicObject> {
    let waited = wait_for(
        timeout,
        &format!("instance {name} to be {state}"),
        || async {
            let instance = api.get(name).await?;
            Ok(state_of(&instance) == Some(state))
        },
    )
    .await;
    if let Err(error) = waited {
        let status = api
            .get(name)
            .await
            .map(|instance| instance.data["status"].to_string())
            .unwrap_or_default();
        bail!(
            "{error:#}\nstatus: {status}\noperator log:\n{}",
            operator.log_tail(80)
        );
    }
    Ok(api.get(name).await?)
}

/// Deletes an object and waits until it is gone.
pub async fn delete_and_wait(
    api: &Api<DynamicObject>,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
        Err(error) => return Err(error.into()),
    }
    wait_for(timeout, &format!("{name} to be deleted"), || async {
        Ok(api.get_opt(name).await?.is_none())
    })
    .await
}

/// Panics with the operator's log when `result` is an error.
pub fn check<T>(result: anyhow::Result<T>, operator: &OperatorProcess) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("{error:#}\noperator log:\n{}", operator.log_tail(80)),
    }
}

/// Label on every RGD and namespace an e2e test creates, naming the test: a later run finds what
/// an interrupted run left behind by it, and the test's own clean-up finds what it created.
pub const TEST_LABEL: &str = "e2e.kro.run/test";
/// The label kro puts on every child it manages.
pub const OWNED_LABEL: &str = "kro.run/owned";
/// The label naming the UID of a child's instance.
pub const INSTANCE_ID_LABEL: &str = "kro.run/instance-id";
/// The label naming the API group of a child's instance.
pub const INSTANCE_GROUP_LABEL: &str = "kro.run/instance-group";

/// A kind the clean-up sweeps for orphaned kro children.
#[derive(Debug, Clone, Copy)]
pub struct SweptKind {
    /// `group/version` (or `v1`).
    pub api_version: &'static str,
    /// The kind.
    pub kind: &'static str,
    /// Its plural resource name.
    pub plural: &'static str,
}

/// Adds `TEST_LABEL: test` to an object's labels.
pub fn label_for_test(object: &mut Value, test: &str) {
    if !object["metadata"]["labels"].is_object() {
        object["metadata"]["labels"] = serde_json::json!({});
    }
    object["metadata"]["labels"][TEST_LABEL] = Value::from(test);
}

/// Creates a namespace with a unique name labelled for `test` and returns its name.
pub async fn create_test_namespace(
    client: &Client,
    test: &str,
    prefix: &str,
) -> anyhow::Result<String> {
    let name = unique_name(prefix);
    let namespaces = dynamic_api(client, "v1", "Namespace", "namespaces", None);
    let namespace = serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "labels": {TEST_LABEL: test, "kro.run/test": "true"}}
    });
    create(&namespaces, &namespace).await?;
    Ok(name)
}

/// The API of the instances of an RGD (JSON), in `namespace` or in all namespaces.
pub fn instance_api(client: &Client, rgd: &Value, namespace: Option<&str>) -> Api<DynamicObject> {
    let schema = &rgd["spec"]["schema"];
    let group = schema["group"].as_str().unwrap_or("kro.run");
    let version = schema["apiVersion"].as_str().unwrap_or("v1alpha1");
    let kind = schema["kind"].as_str().unwrap_or_default();
    let plural = kro_schema::pluralize(&kind.to_lowercase());
    dynamic_api(
        client,
        &format!("{group}/{version}"),
        kind,
        &plural,
        namespace,
    )
}

/// Deletes `objects` (api, name), waits up to `timeout` for them to go, and then removes the
/// finalizers of those still there (their controller may be gone), so a clean-up never hangs.
pub async fn delete_all_and_wait(
    objects: &[(Api<DynamicObject>, String)],
    timeout: Duration,
) -> anyhow::Result<()> {
    for (api, name) in objects {
        match api.delete(name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => return Err(error).with_context(|| format!("deleting {name}")),
        }
    }
    let gone = wait_for(timeout, "the deleted objects to be gone", || async {
        for (api, name) in objects {
            if api.get_opt(name).await?.is_some() {
                return Ok(false);
            }
        }
        Ok(true)
    })
    .await;
    if gone.is_ok() {
        return Ok(());
    }
    let mut forced = Vec::new();
    for (api, name) in objects {
        if api.get_opt(name).await?.is_some() {
            let patch = Patch::Merge(serde_json::json!({"metadata": {"finalizers": null}}));
            match api.patch(name, &PatchParams::default(), &patch).await {
                Ok(_) => forced.push(name.clone()),
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(error) => return Err(error).with_context(|| format!("unblocking {name}")),
            }
        }
    }
    bail!("not deleted within {timeout:?}, finalizers removed by force: {forced:?}")
}

/// Deletes what runs of `test` created, this one included: the instances of the RGDs labelled
/// for the test (the operator, which must be running, prunes their children), those RGDs (and,
/// with `--allow-crd-deletion`, their CRDs), the test's namespaces, and the kro children of
/// `swept` kinds that belong to those RGDs' API groups (left when an instance was force-deleted).
/// RGDs without the label that `unlabelled` accepts (runs from before the label existed) count
/// too. Returns the first error after trying every step.
pub async fn remove_test_objects(
    client: &Client,
    test: &str,
    unlabelled: fn(&DynamicObject) -> bool,
    swept: &[SweptKind],
    timeout: Duration,
) -> anyhow::Result<()> {
    let selector = format!("{TEST_LABEL}={test}");
    let rgds = rgd_api(client);
    let listed: Vec<DynamicObject> = rgds
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|rgd| match rgd.labels().get(TEST_LABEL) {
            Some(label) => label == test,
            None => unlabelled(rgd),
        })
        .collect();
    let found = instances_of(client, &listed).await;
    // Instances that are another instance's children go with their parent, as they would for a
    // user; deleting them alongside would race the parent's own deletion of them.
    let mut first_error = delete_all_and_wait(&found.instances, timeout).await.err();
    if let Err(error) = delete_all_and_wait(&found.nested_instances, timeout).await {
        first_error.get_or_insert(error);
    }
    let rgd_names: Vec<(Api<DynamicObject>, String)> = listed
        .iter()
        .map(|rgd| (rgds.clone(), rgd.name_any()))
        .collect();
    if let Err(error) = delete_all_and_wait(&rgd_names, timeout).await {
        first_error.get_or_insert(error);
    }
    delete_labelled_namespaces(client, &selector).await?;
    sweep_owned(client, swept, &found.groups).await?;
    match first_error {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// The instances of a set of RGDs, and the groups of their kinds.
struct TestInstances {
    groups: BTreeSet<String>,
    /// Instances no other instance owns.
    instances: Vec<(Api<DynamicObject>, String)>,
    /// Instances that are another instance's children.
    nested_instances: Vec<(Api<DynamicObject>, String)>,
}

/// Lists the instances of every RGD in `listed`, split by whether another instance owns them.
async fn instances_of(client: &Client, listed: &[DynamicObject]) -> TestInstances {
    let mut found = TestInstances {
        groups: BTreeSet::new(),
        instances: Vec::new(),
        nested_instances: Vec::new(),
    };
    for rgd in listed {
        let spec = serde_json::json!({"spec": rgd.data["spec"].clone()});
        found.groups.insert(
            spec["spec"]["schema"]["group"]
                .as_str()
                .unwrap_or("kro.run")
                .to_owned(),
        );
        let all = instance_api(client, &spec, None);
        // The CRD may be gone already (404) or not yet served: nothing to delete then.
        if let Ok(list) = all.list(&ListParams::default()).await {
            for instance in list.items {
                let nested = instance
                    .labels()
                    .get(OWNED_LABEL)
                    .is_some_and(|owned| owned == "true");
                let entry = (
                    instance_api(client, &spec, instance.metadata.namespace.as_deref()),
                    instance.name_any(),
                );
                if nested {
                    found.nested_instances.push(entry);
                } else {
                    found.instances.push(entry);
                }
            }
        }
    }
    found
}

/// Starts deleting the namespaces labelled `selector` (in the background: their contents go
/// with them, and nothing waits on it).
async fn delete_labelled_namespaces(client: &Client, selector: &str) -> anyhow::Result<()> {
    let namespaces = dynamic_api(client, "v1", "Namespace", "namespaces", None);
    for namespace in namespaces
        .list(&ListParams::default().labels(selector))
        .await?
        .items
    {
        if namespace.metadata.deletion_timestamp.is_none() {
            let _ = namespaces
                .delete(&namespace.name_any(), &DeleteParams::background())
                .await;
        }
    }
    Ok(())
}

/// Deletes the kro-owned objects of the `swept` kinds whose instance group is one of `groups`:
/// the children of instances whose finalizers were removed by force.
async fn sweep_owned(
    client: &Client,
    swept: &[SweptKind],
    groups: &BTreeSet<String>,
) -> anyhow::Result<()> {
    for kind in swept {
        let all = dynamic_api(client, kind.api_version, kind.kind, kind.plural, None);
        let owned = all
            .list(&ListParams::default().labels(&format!("{OWNED_LABEL}=true")))
            .await?;
        for object in owned.items {
            let ours = object
                .labels()
                .get(INSTANCE_GROUP_LABEL)
                .is_some_and(|group| groups.contains(group));
            if ours {
                let api = match object.metadata.namespace.as_deref() {
                    Some(namespace) => dynamic_api(
                        client,
                        kind.api_version,
                        kind.kind,
                        kind.plural,
                        Some(namespace),
                    ),
                    None => all.clone(),
                };
                let _ = api
                    .delete(&object.name_any(), &DeleteParams::background())
                    .await;
            }
        }
    }
    Ok(())
}

/// The operator's whole log so far.
pub fn operator_log(operator: &OperatorProcess) -> String {
    operator.log_tail(usize::MAX)
}

/// The `host:port` the operator's metrics server listens on, read from its log.
pub fn metrics_address(operator: &OperatorProcess) -> Option<String> {
    operator_log(operator)
        .lines()
        .filter(|line| line.contains("serving") && line.contains("\"metrics\""))
        .find_map(|line| {
            let start = line.find("127.0.0.1:")?;
            let address: String = line[start..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                .collect();
            Some(address)
        })
}

/// The operator's Prometheus metrics page.
pub fn scrape_metrics(operator: &OperatorProcess) -> anyhow::Result<String> {
    use std::io::{Read as _, Write as _};
    let address = metrics_address(operator).context("no metrics address in the operator log")?;
    let mut stream = std::net::TcpStream::connect(&address)
        .with_context(|| format!("connecting to the metrics server at {address}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

/// The sum of a counter's samples whose labels contain `label_fragment` (0 when absent).
pub fn counter_value(metrics: &str, name: &str, label_fragment: &str) -> f64 {
    metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|line| line.contains(label_fragment))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// For [`remove_test_objects`]: no unlabelled RGD belongs to the test.
pub fn no_unlabelled(_: &DynamicObject) -> bool {
    false
}
