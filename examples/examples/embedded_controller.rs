//! A custom controller for one RGD, embedding the kro engine without the kro operator.
//!
//! ```text
//! cargo run -p kro-examples --example embedded_controller -- <rgd.yaml>
//! ```
//!
//! It compiles the RGD against the cluster's schemas, installs the generated CRD, and runs a
//! kube-rs `Controller` on the generated kind. Each reconcile is one
//! [`kro_controller::Executor::reconcile`]; children's watch events (mapped to their instance
//! through kro's labels) trigger the next one, so readiness is picked up as soon as it changes.
//! The kubeconfig comes from the environment (`KUBECONFIG` or in-cluster).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kro_api::ResourceGraphDefinition;
use kro_controller::executor::{
    ClusterResolver, Error, Executor, ExecutorConfig, InstanceKey, ObjectCache, compile_rgd,
};
use kro_graph::{CompileOptions, Graph, NodeKind};
use kro_runtime::core::RgdIdentity;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::wait::{await_condition, conditions};
use kube::runtime::watcher;
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
        elapsed = ?outcome.elapsed,
        "reconciled"
    );
    // Readiness changes arrive as child watch events; only timed retries need a requeue.
    Ok(outcome
        .requeue_after
        .map_or_else(Action::await_change, Action::requeue))
}

// The signature is the one `Controller::run` requires.
#[allow(clippy::needless_pass_by_value)]
fn error_policy(instance: Arc<DynamicObject>, error: &Error, _: Arc<Context>) -> Action {
    tracing::warn!(instance = %instance.name_any(), %error, "reconcile failed");
    Action::requeue(Duration::from_secs(5))
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

    let resolver = ClusterResolver::default();
    let graph = compile_rgd(&client, &resolver, &rgd, &CompileOptions::default()).await?;

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd_name = graph
        .crd()
        .metadata
        .name
        .clone()
        .context("generated CRD has no name")?;
    crds.patch(
        &crd_name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(graph.crd()),
    )
    .await?;
    tokio::time::timeout(
        Duration::from_secs(60),
        await_condition(crds, &crd_name, conditions::is_crd_established()),
    )
    .await
    .context("the CRD did not become established")??;
    tracing::info!(crd = %crd_name, "CRD established");

    let gvk = graph.instance().gvk();
    let instance_resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(&gvk.group, &gvk.version, &gvk.kind),
        graph.instance().plural(),
    );
    let instances: Api<DynamicObject> = Api::all_with(client.clone(), &instance_resource);
    let mut controller = Controller::new_with(
        instances,
        watcher::Config::default(),
        instance_resource.clone(),
    );
    let mut watched = BTreeSet::new();
    for node in graph.resources() {
        let child = node.gvk();
        if !matches!(node.kind(), NodeKind::Template)
            || !watched.insert((child.group.clone(), child.kind.clone()))
        {
            continue;
        }
        let child_resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(&child.group, &child.version, &child.kind),
            node.plural(),
        );
        let owner_resource = instance_resource.clone();
        controller = controller.watches_with(
            Api::<DynamicObject>::all_with(client.clone(), &child_resource),
            child_resource,
            watcher::Config::default().labels("kro.run/owned=true"),
            move |child: DynamicObject| {
                InstanceKey::from_child_labels(child.labels())
                    .filter(|owner| {
                        owner.kind == owner_resource.kind && owner.group == owner_resource.group
                    })
                    .map(|owner| {
                        let reference = ObjectRef::new_with(&owner.name, owner_resource.clone());
                        match owner.namespace {
                            Some(namespace) => reference.within(&namespace),
                            None => reference,
                        }
                    })
            },
        );
    }

    let executor = Executor::new(
        client.clone(),
        ObjectCache::new(client.clone()),
        RgdIdentity {
            name: rgd.metadata.name.clone().unwrap_or_default(),
            uid: rgd
                .metadata
                .uid
                .clone()
                .unwrap_or_else(|| "embedded".to_owned()),
        },
        ExecutorConfig::default(),
    );
    let context = Arc::new(Context { graph, executor });
    controller
        .shutdown_on_signal()
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "controller event");
            }
        })
        .await;
    Ok(())
}
