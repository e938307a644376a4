//! Helpers shared by the end-to-end tests: the operator process, RGDs from the corpus with a
//! unique group per test, and waits on RGD and instance state.
#![allow(dead_code)]

use std::time::Duration;

use anyhow::{Context as _, bail};
use kro_integration_tests::{OperatorProcess, corpus_root, unique_name, wait_for};
use kube::Client;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, PostParams};
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
    let mut operator = OperatorProcess::start(args)?;
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

/// A corpus document (path relative to the corpus root) as JSON; the first document of the file.
pub fn corpus_file(relative: &str) -> anyhow::Result<Vec<Value>> {
    let path = corpus_root().join(relative);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut options = serde_saphyr::Options::default();
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    let values: Vec<Value> = serde_saphyr::from_multiple_with_options(&text, options)
        .with_context(|| format!("parsing {}", path.display()))?;
    Ok(values
        .into_iter()
        .filter(|value| !value.is_null())
        .collect())
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
