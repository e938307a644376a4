//! A custom controller for one RGD, embedding the kro engine without the kro operator.
//!
//! ```text
//! cargo run -p kro-examples --example embedded_controller -- <rgd.yaml>
//! ```
//!
//! It compiles the RGD against the cluster's schemas, installs the generated CRD, and
//! reconciles every instance of the generated kind with [`kro_controller::Executor`], on kube's
//! stable [`applier`]. The queue takes three streams: the instance watch, changes of the
//! instances' children and external references ([`kro_controller::triggers`], so readiness is
//! picked up as soon as it changes), and instances that vanished with kro's finalizer
//! ([`VanishedInstances`], swept once the controller reports them gone). The kubeconfig comes
//! from the environment (`KUBECONFIG` or in-cluster).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures::{StreamExt as _, stream};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kro_api::ResourceGraphDefinition;
use kro_controller::executor::{ClusterResolver, Error, ExecutorConfig, compile_rgd};
use kro_controller::{Executor, ObjectCache, VanishedInstances, child_kinds, triggers};
use kro_graph::{CompileOptions, Graph};
use kro_runtime::core::RgdIdentity;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::controller::{self, Action, ReconcileRequest, trigger_self};
use kube::runtime::reflector::store::Writer;
use kube::runtime::wait::{await_condition, conditions};
use kube::runtime::{WatchStreamExt as _, applier, watcher};
use kube::{Client, ResourceExt as _};

const FIELD_MANAGER: &str = "kro-embedded-controller";

struct Context {
    graph: Graph,
    executor: Executor,
}

async fn reconcile(instance: Arc<DynamicObject>, context: Arc<Context>) -> Result<Action, Error> {
    let outcome = context
        .executor
        .reconcile(&context.graph, &instance)
        .await?;
    tracing::info!(
        instance = %instance.name_any(),
        state = outcome.state.as_str(),
        waiting_on = ?outcome.waiting_on.iter().map(|w| &w.id).collect::<Vec<_>>(),
        "reconciled"
    );
    // Readiness changes arrive as child events; only timed retries need a requeue.
    Ok(outcome
        .requeue_after
        .map_or_else(Action::await_change, Action::requeue))
}

// The signature is the one `applier` requires.
#[allow(clippy::needless_pass_by_value)]
fn error_policy(instance: Arc<DynamicObject>, error: &Error, _: Arc<Context>) -> Action {
    tracing::warn!(instance = %instance.name_any(), %error, "reconcile failed");
    Action::requeue(Duration::from_secs(5))
}

async fn sweep(context: Arc<Context>, last_state: DynamicObject) {
    match context
        .executor
        .sweep_vanished_instance(&context.graph, &last_state)
        .await
    {
        Ok(found) => tracing::warn!(instance = %last_state.name_any(), ?found, "vanished instance"),
        Err(error) => tracing::error!(instance = %last_state.name_any(), %error, "sweep failed"),
    }
}

/// Applies the graph's CRD and waits until the API server serves it.
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
    let established = await_condition(crds, &name, conditions::is_crd_established());
    tokio::time::timeout(Duration::from_secs(60), established)
        .await
        .context("the CRD did not become established")??;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let Some(path) = std::env::args_os().nth(1) else {
        bail!("usage: embedded_controller <rgd.yaml>");
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {}", path.to_string_lossy()))?;
    let rgd = ResourceGraphDefinition::from_yaml(&text)?;
    let client = Client::try_default().await?;
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
    for kind in child_kinds(&graph) {
        cache.ensure_watch(&kind);
    }
    let identity = RgdIdentity {
        name: graph.name().to_owned(),
        uid: rgd
            .metadata
            .uid
            .clone()
            .unwrap_or_else(|| "embedded".into()),
    };
    let executor = Executor::new(
        client.clone(),
        cache.clone(),
        identity,
        ExecutorConfig::default(),
    );
    let context = Arc::new(Context { graph, executor });

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
    let queue = stream::select(trigger_self(instances, resource.clone()), others);
    let results = applier(
        |instance, context| Box::pin(reconcile(instance, context)),
        error_policy,
        Arc::clone(&context),
        store,
        queue,
        controller::Config::default(),
    )
    .for_each(|result| {
        match result {
            Err(controller::Error::ObjectNotFound(object_ref)) => {
                if let Some(last_state) = vanished.take(&object_ref) {
                    tokio::spawn(sweep(Arc::clone(&context), last_state));
                }
            }
            Err(error) => tracing::debug!(%error, "controller event"),
            Ok(_) => {}
        }
        futures::future::ready(())
    });
    tokio::select! {
        () = results => {}
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted"),
    }
    Ok(())
}
