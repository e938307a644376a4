//! An embedded controller for the RGD, run as a test against the cluster of `KUBECONFIG`: it
//! installs the generated CRD, creates one instance, waits until kro reports it ACTIVE (its
//! Deployment available), deletes it, waits until kro has removed its children and its
//! finalizer, and exits 0. Anything else (a timeout included) exits 1.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use futures::{StreamExt as _, stream};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kro_api::{ErrorChain, ResourceGraphDefinition};
use kro_controller::executor::{ClusterResolver, Error, ExecutorConfig, compile_rgd};
use kro_controller::{Executor, ObjectCache, VanishedInstances, triggers};
use kro_graph::{CompileOptions, Graph};
use kro_runtime::core::RgdIdentity;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::controller::{self, Action, ReconcileRequest, trigger_self};
use kube::runtime::reflector::store::Writer;
use kube::runtime::wait::{await_condition, conditions};
use kube::runtime::{WatchStreamExt as _, applier, watcher};
use kube::{Client, ResourceExt as _};
use serde_json::json;

const FIELD_MANAGER: &str = "kro-consumer";
const NAMESPACE: &str = "kro-consumer";
const NAME: &str = "demo";
const TIMEOUT: Duration = Duration::from_secs(120);

struct Context {
    graph: Graph,
    executor: Executor,
}

async fn reconcile(instance: Arc<DynamicObject>, context: Arc<Context>) -> Result<Action, Error> {
    let outcome = context
        .executor
        .reconcile(&context.graph, &instance)
        .await?;
    println!(
        "reconciled {}: {}",
        instance.name_any(),
        outcome.state.as_str()
    );
    Ok(outcome
        .requeue_after
        .map_or_else(Action::await_change, Action::requeue))
}

// The signature is the one `applier` requires.
#[allow(clippy::needless_pass_by_value)]
fn error_policy(instance: Arc<DynamicObject>, error: &Error, _: Arc<Context>) -> Action {
    // The executor's error names what it was doing; `ErrorChain` adds the causes.
    let (name, error) = (instance.name_any(), ErrorChain::new(error));
    eprintln!("reconcile of {name} failed: {error}");
    Action::requeue(Duration::from_secs(2))
}

/// Runs the controller until the process ends.
async fn run_controller(client: Client, context: Arc<Context>, cache: ObjectCache) {
    let resource = kro_controller::instance_api_resource(&context.graph);
    let writer = Writer::new(resource.clone());
    let store = writer.as_reader();
    let (vanished, vanished_refs) = VanishedInstances::new(&resource);
    let instances = {
        let vanished = vanished.clone();
        watcher(Api::all_with(client, &resource), watcher::Config::default())
            .default_backoff()
            .reflect(writer)
            .inspect(move |event| {
                if let Ok(event) = event {
                    vanished.observe(event);
                }
            })
            .applied_objects()
    };
    let others = stream::select(triggers(&cache, &resource, store.clone()), vanished_refs)
        .map(|object_ref| Ok(ReconcileRequest::from(object_ref)));
    let queue = stream::select(trigger_self(instances, resource), others);
    applier(
        |instance, context| Box::pin(reconcile(instance, context)),
        error_policy,
        Arc::clone(&context),
        store,
        queue,
        controller::Config::default(),
    )
    .for_each(|result| {
        // Not found after a reconcile ended: the sweep cannot race one of the same instance.
        if let Err(controller::Error::ObjectNotFound(object_ref)) = result
            && let Some(last_state) = vanished.take(&object_ref)
        {
            tokio::spawn(sweep(Arc::clone(&context), last_state));
        }
        futures::future::ready(())
    })
    .await;
}

/// Deletes the children an instance that vanished with kro's finalizer left behind.
async fn sweep(context: Arc<Context>, last_state: DynamicObject) {
    let swept = context
        .executor
        .sweep_vanished_instance(&context.graph, &last_state)
        .await;
    println!("vanished {}: {swept:?}", last_state.name_any());
}

async fn install_crd(client: &Client, graph: &Graph) -> anyhow::Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = graph
        .crd()
        .metadata
        .name
        .clone()
        .context("CRD without name")?;
    let apply = PatchParams::apply(FIELD_MANAGER).force();
    crds.patch(&name, &apply, &Patch::Apply(graph.crd()))
        .await?;
    await_condition(crds, &name, conditions::is_crd_established()).await?;
    Ok(())
}

/// Polls `check` every half second until it returns `Some`.
async fn until<T, F, Fut>(what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    loop {
        if let Some(value) = check()
            .await
            .with_context(|| format!("waiting for {what}"))?
        {
            println!("{what}: done");
            return Ok(value);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Creates the instance, waits for ACTIVE, deletes it and waits until kro has finalized it.
async fn exercise(client: Client, resource: &ApiResource) -> anyhow::Result<()> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    // A previous run's namespace may still be terminating.
    until("no terminating namespace", || async {
        let current = namespaces.get_opt(NAMESPACE).await?;
        let terminating = current.is_some_and(|ns| ns.metadata.deletion_timestamp.is_some());
        Ok((!terminating).then_some(()))
    })
    .await?;
    let namespace =
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}});
    let apply = PatchParams::apply(FIELD_MANAGER);
    namespaces
        .patch(NAMESPACE, &apply, &Patch::Apply(&namespace))
        .await?;
    let instances: Api<DynamicObject> = Api::namespaced_with(client.clone(), NAMESPACE, resource);
    let instance: DynamicObject = serde_json::from_value(json!({
        "apiVersion": resource.api_version, "kind": resource.kind,
        "metadata": {"name": NAME},
        "spec": {"greeting": "hi from a consumer", "replicas": 1}
    }))?;
    instances.create(&PostParams::default(), &instance).await?;

    let active = until("instance ACTIVE", || async {
        let current = instances.get(NAME).await?;
        let state = current.data.pointer("/status/state").cloned();
        Ok((state == Some(json!("ACTIVE"))).then_some(current))
    })
    .await?;
    let status = &active.data["status"];
    ensure!(status["availableReplicas"] == json!(1), "status: {status}");
    ensure!(status["service"] == json!(NAME), "status: {status}");
    let configs: Api<ConfigMap> = Api::namespaced(client.clone(), NAMESPACE);
    let config = configs.get(&format!("{NAME}-config")).await?;
    let greeting = config.data.unwrap_or_default().remove("greeting");
    ensure!(
        greeting.as_deref() == Some("hi from a consumer"),
        "{greeting:?}"
    );

    instances.delete(NAME, &DeleteParams::default()).await?;
    until("instance finalized and gone", || async {
        Ok(instances.get_opt(NAME).await?.is_none().then_some(()))
    })
    .await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    ensure!(
        deployments.get_opt(NAME).await?.is_none(),
        "the Deployment outlived its instance"
    );
    ensure!(
        configs.get_opt(&format!("{NAME}-config")).await?.is_none(),
        "the ConfigMap outlived its instance"
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let client = Client::try_default().await?;
    let rgd = ResourceGraphDefinition::from_yaml(kro_consumer::RGD)?;
    let graph = compile_rgd(
        &client,
        &ClusterResolver::default(),
        &rgd,
        &CompileOptions::default(),
    )
    .await?;
    install_crd(&client, &graph).await?;
    let resource = kro_controller::instance_api_resource(&graph);

    let cache = ObjectCache::new(client.clone());
    let identity = RgdIdentity {
        name: graph.name().to_owned(),
        uid: "kro-consumer".to_owned(),
    };
    let executor = Executor::new(
        client.clone(),
        cache.clone(),
        identity,
        ExecutorConfig::default(),
    );
    let context = Arc::new(Context { graph, executor });
    let controller = run_controller(client.clone(), context, cache);
    let test = tokio::time::timeout(TIMEOUT, exercise(client.clone(), &resource));
    tokio::select! {
        () = controller => bail!("the controller stopped"),
        result = test => {
            result.with_context(|| format!("not done within {TIMEOUT:?}"))??;
        }
    }
    // Leave the cluster as it was; the namespace controller empties the namespace.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.delete(
        &format!("{}.{}", resource.plural, resource.group),
        &DeleteParams::default(),
    )
    .await?;
    Api::<Namespace>::all(client)
        .delete(NAMESPACE, &DeleteParams::default())
        .await?;
    println!("embedded controller: instance went ACTIVE and was deleted");
    Ok(())
}
