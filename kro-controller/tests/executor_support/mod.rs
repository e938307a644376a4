//! Helpers for the executor's integration tests against the test control plane.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kro_api::ResourceGraphDefinition;
use kro_controller::executor::KindApi as _;
use kro_controller::executor::{
    ChildEvent, ClusterResolver, Executor, ExecutorConfig, KindMapping, ObjectCache, ObjectKey,
    Outcome, compile_rgd,
};
use kro_graph::{CompileOptions, Graph};
use kro_integration_tests::wait_for;
use kro_runtime::core::{InstanceState, RgdIdentity};
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

/// The API group the tests give every RGD, so they never collide with the operator's tests
/// (which use `kro.run`) on the shared control plane.
pub const TEST_GROUP: &str = "executor.test.kro.run";

/// A client, a shared cache and a resolver.
pub struct Harness {
    pub client: Client,
    pub cache: ObjectCache,
    pub resolver: ClusterResolver,
}

impl Harness {
    pub async fn new() -> anyhow::Result<Self> {
        let client = kro_integration_tests::client().await?;
        Ok(Self {
            cache: ObjectCache::new(client.clone()),
            client,
            resolver: ClusterResolver::default(),
        })
    }

    /// Compiles `rgd` (moved into [`TEST_GROUP`]), installs its CRD and waits until it is
    /// established.
    pub async fn install(&self, mut rgd: Value) -> anyhow::Result<Engine> {
        rgd["spec"]["schema"]["group"] = json!(TEST_GROUP);
        let rgd: ResourceGraphDefinition = serde_json::from_value(rgd)?;
        let graph = compile_rgd(
            &self.client,
            &self.resolver,
            &rgd,
            &CompileOptions::default(),
        )
        .await
        .context("compiling the RGD")?;
        let crds: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let crd = graph.crd().clone();
        let crd_name = crd.metadata.name.clone().context("CRD without a name")?;
        crds.patch(
            &crd_name,
            &PatchParams::apply("kro-executor-tests").force(),
            &Patch::Apply(&crd),
        )
        .await
        .with_context(|| format!("applying CRD {crd_name}"))?;
        wait_for(
            Duration::from_secs(30),
            &format!("CRD {crd_name} established"),
            || {
                let crds = crds.clone();
                let crd_name = crd_name.clone();
                async move {
                    let crd = crds.get(&crd_name).await?;
                    Ok(crd
                        .status
                        .and_then(|s| s.conditions)
                        .is_some_and(|conditions| {
                            conditions
                                .iter()
                                .any(|c| c.type_ == "Established" && c.status == "True")
                        }))
                }
            },
        )
        .await?;
        let instance = graph.instance();
        let kind = KindMapping {
            group: instance.gvk().group.clone(),
            version: instance.gvk().version.clone(),
            kind: instance.gvk().kind.clone(),
            plural: instance.plural().to_owned(),
            namespaced: instance.namespaced(),
        };
        let rgd_name = rgd.metadata.name.clone().unwrap_or_default();
        let executor = Executor::new(
            self.client.clone(),
            self.cache.clone(),
            RgdIdentity {
                uid: format!("uid-{rgd_name}"),
                name: rgd_name,
            },
            ExecutorConfig::default(),
        );
        Ok(Engine {
            client: self.client.clone(),
            cache: self.cache.clone(),
            graph,
            executor: Arc::new(executor),
            kind,
        })
    }
}

/// One installed RGD: its graph, an executor and the instance kind.
pub struct Engine {
    pub client: Client,
    pub cache: ObjectCache,
    pub graph: Graph,
    pub executor: Arc<Executor>,
    pub kind: KindMapping,
}

/// What wakes the next reconcile of a convergence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// A child's watch event, or the outcome's requeue delay, as the operator does.
    EventsOrTimers,
    /// A child's watch event only.
    EventsOnly,
}

/// How a convergence went.
#[derive(Debug)]
pub struct Convergence {
    /// The last outcome.
    pub outcome: Outcome,
    /// Reconciles made.
    pub reconciles: usize,
    /// Reconciles triggered by a watch event of a child (the rest came from requeue hints).
    pub event_triggers: usize,
    /// Wall time from the first reconcile to the last.
    pub elapsed: Duration,
    /// Every outcome, in order.
    pub history: Vec<Outcome>,
}

impl Engine {
    pub fn api(&self, namespace: &str) -> Api<DynamicObject> {
        self.kind.api(self.client.clone(), Some(namespace))
    }

    /// Creates (or replaces the spec of) an instance from `value`, placed in `namespace`.
    pub async fn apply_instance(&self, namespace: &str, mut value: Value) -> anyhow::Result<()> {
        value["apiVersion"] = json!(self.kind.api_version());
        value["metadata"]["namespace"] = json!(namespace);
        let name = value["metadata"]["name"]
            .as_str()
            .context("instance without a name")?
            .to_owned();
        self.api(namespace)
            .patch(
                &name,
                &PatchParams::apply("kro-executor-tests-user").force(),
                &Patch::Apply(&value),
            )
            .await
            .with_context(|| format!("applying instance {namespace}/{name}"))?;
        Ok(())
    }

    /// Reconciles once with the current instance.
    pub async fn reconcile_once(&self, namespace: &str, name: &str) -> anyhow::Result<Outcome> {
        let instance = self.api(namespace).get(name).await?;
        Ok(self.executor.reconcile(&self.graph, &instance).await?)
    }

    /// Reconciles until `done` holds, waiting between reconciles for a child watch event of
    /// this instance (or the outcome's requeue delay), as the operator would.
    pub async fn converge(
        &self,
        namespace: &str,
        name: &str,
        timeout: Duration,
        done: impl Fn(&Outcome) -> bool,
    ) -> anyhow::Result<Convergence> {
        self.converge_waking(namespace, name, timeout, Wake::EventsOrTimers, done)
            .await
    }

    /// Reconciles until `done` holds, each reconcile after the first woken by a watch event of
    /// this instance's children and never by a timer (an outcome's `requeue_after`, a safety
    /// net, is ignored): fails when no event comes within the rest of `timeout`.
    pub async fn converge_from_events(
        &self,
        namespace: &str,
        name: &str,
        timeout: Duration,
        done: impl Fn(&Outcome) -> bool,
    ) -> anyhow::Result<Convergence> {
        self.converge_waking(namespace, name, timeout, Wake::EventsOnly, done)
            .await
    }

    async fn converge_waking(
        &self,
        namespace: &str,
        name: &str,
        timeout: Duration,
        wake: Wake,
        done: impl Fn(&Outcome) -> bool,
    ) -> anyhow::Result<Convergence> {
        let mut events = self.cache.subscribe();
        let key = self.instance_key(namespace, name);
        let started = Instant::now();
        let give_up = tokio::time::Instant::now() + timeout;
        let mut history = Vec::new();
        let mut event_triggers = 0;
        loop {
            // Events that arrived before this reconcile are reflected in the cache it reads;
            // the ones arriving during or after it trigger the next reconcile.
            while events.try_recv().is_some() {}
            let Some(instance) = self.api(namespace).get_opt(name).await? else {
                bail!("instance {namespace}/{name} does not exist");
            };
            let outcome = self.executor.reconcile(&self.graph, &instance).await?;
            history.push(outcome.clone());
            if done(&outcome) {
                return Ok(Convergence {
                    outcome,
                    reconciles: history.len(),
                    event_triggers,
                    elapsed: started.elapsed(),
                    history,
                });
            }
            if started.elapsed() > timeout {
                bail!(
                    "instance {namespace}/{name} did not converge in {timeout:?}; last outcome: {outcome:#?}"
                );
            }
            let deadline = match wake {
                Wake::EventsOnly => give_up,
                Wake::EventsOrTimers => {
                    let wait = outcome
                        .requeue_after
                        .unwrap_or(Duration::from_secs(10))
                        .min(Duration::from_secs(10));
                    tokio::time::Instant::now() + wait
                }
            };
            loop {
                match tokio::time::timeout_at(deadline, events.recv()).await {
                    Ok(Some(ChildEvent::Changed(changed))) if changed == key => {
                        event_triggers += 1;
                        break;
                    }
                    // Dropped events may have been this instance's.
                    Ok(Some(ChildEvent::Lagged { .. })) => {
                        event_triggers += 1;
                        break;
                    }
                    Ok(Some(ChildEvent::Changed(_))) => {}
                    _ if wake == Wake::EventsOrTimers => break,
                    Ok(_) => bail!("the cache's event stream ended"),
                    Err(_) => bail!(
                        "no watch event woke instance {namespace}/{name} within {timeout:?}; last outcome: {outcome:#?}"
                    ),
                }
            }
        }
    }

    fn instance_key(&self, namespace: &str, name: &str) -> ObjectKey {
        ObjectKey {
            group: self.kind.group.clone(),
            version: self.kind.version.clone(),
            kind: self.kind.kind.clone(),
            namespace: Some(namespace.to_owned()),
            name: name.to_owned(),
        }
    }

    /// Deletes the instance and reconciles until kro removed its finalizer and it is gone.
    pub async fn delete_and_finalize(
        &self,
        namespace: &str,
        name: &str,
    ) -> anyhow::Result<Convergence> {
        self.api(namespace)
            .delete(name, &kube::api::DeleteParams::default())
            .await?;
        let finalized = self
            .converge(namespace, name, Duration::from_secs(60), |outcome| {
                outcome.finalized
            })
            .await?;
        let api = self.api(namespace);
        wait_for(
            Duration::from_secs(20),
            &format!("instance {namespace}/{name} gone"),
            || {
                let api = api.clone();
                async move { Ok(api.get_opt(name).await?.is_none()) }
            },
        )
        .await?;
        Ok(finalized)
    }

    /// Reconciles until the instance is ACTIVE.
    pub async fn converge_active(
        &self,
        namespace: &str,
        name: &str,
    ) -> anyhow::Result<Convergence> {
        self.converge(namespace, name, Duration::from_secs(90), |outcome| {
            outcome.state == InstanceState::Active
        })
        .await
    }
}

/// A kind mapping for a built-in kind.
pub fn builtin(group: &str, version: &str, kind: &str, plural: &str) -> KindMapping {
    KindMapping {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        plural: plural.into(),
        namespaced: true,
    }
}

/// The ConfigMap kind.
pub fn config_maps() -> KindMapping {
    builtin("", "v1", "ConfigMap", "configmaps")
}

/// Reads one object as JSON, `None` when absent.
pub async fn get_json(
    client: &Client,
    kind: &KindMapping,
    namespace: &str,
    name: &str,
) -> anyhow::Result<Option<Value>> {
    let object = kind
        .api(client.clone(), Some(namespace))
        .get_opt(name)
        .await?;
    Ok(object.map(serde_json::to_value).transpose()?)
}

/// Parses one YAML document.
pub fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("valid YAML in the test")
}

/// The first document of a corpus file.
pub fn corpus_file(relative: &str) -> Value {
    let path = kro_integration_tests::corpus_root().join(relative);
    let text = std::fs::read_to_string(&path).expect("corpus file exists");
    let documents: Vec<Value> = serde_saphyr::from_multiple(&text).expect("valid corpus YAML");
    documents
        .into_iter()
        .find(|d| !d.is_null())
        .expect("a document")
}

impl Engine {
    /// Waits until the shared cache's view (metadata only) of an object satisfies `check` (so the next
    /// reconcile sees a change made outside the engine).
    pub async fn wait_cached(
        &self,
        kind: &KindMapping,
        namespace: &str,
        name: &str,
        check: impl Fn(Option<&Value>) -> bool,
    ) -> anyhow::Result<()> {
        use kro_controller::executor::CacheAnswer;
        self.cache.ensure_watch(kind);
        let started = Instant::now();
        loop {
            if let CacheAnswer::Answered(object) = self.cache.get(kind, Some(namespace), name)
                && check(object.as_deref())
            {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!(
                    "the cache never showed the expected {} {namespace}/{name}",
                    kind.kind
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub fn deployments() -> KindMapping {
    builtin("apps", "v1", "Deployment", "deployments")
}

pub fn services() -> KindMapping {
    builtin("", "v1", "Service", "services")
}

pub fn ingresses() -> KindMapping {
    builtin("networking.k8s.io", "v1", "Ingress", "ingresses")
}

pub fn label<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object["metadata"]["labels"][key].as_str()
}

/// A chain of three ConfigMaps, each derived from the one before: three apply-order waves.
pub const CHAIN_RGD: &str = r#"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: exec-chain
spec:
  schema:
    apiVersion: v1alpha1
    kind: ExecChain
    spec:
      target: string
  resources:
  - id: first
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.target}
      data:
        owner: ${schema.metadata.name}
  - id: second
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${first.metadata.name}-second
      data:
        from: ${first.data.owner}
  - id: third
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${second.metadata.name}-third
      data:
        from: ${second.data.from}
"#;
