//! The reconcile controllers kro runs: the ResourceGraphDefinition controller and, started by it
//! at run time, one instance controller per RGD.
//!
//! [`RgdController`] runs them. It waits for [`Leadership`], installs kro's own CRDs when
//! missing, and runs a controller over RGDs (plus the kro-owned generated CRDs, so that deleting
//! or editing one re-creates it). Each RGD reconcile compiles the graph against the cluster's
//! schemas, issues a GraphRevision, ensures the generated CRD, (re)starts the RGD's instance
//! controller and writes the RGD's conditions; deleting an RGD stops its instance controller,
//! optionally deletes the CRD and drops the finalizer. Each instance controller reconciles the
//! instances of its RGD with an [`Executor`](crate::Executor), retries failures with
//! upstream's backoff, and sweeps the children of instances that vanished.
//!
//! What the controllers take from the operator's flags is a [`ControllersConfig`]; what they
//! measure goes to a [`metrics::ControllerMetrics`] sink ([`metrics`]:
//! [`NoMetrics`](metrics::NoMetrics) drops it, the kro-rs operator serves it as upstream kro's
//! Prometheus families). Readiness (caches synced) is reported to a [`ReadinessSink`]: it turns
//! on once the RGD cache has synced; a standby replica reports ready after one successful read
//! of the RGD API, and writes nothing. With [`ControllersConfig::controller_warmup`], a standby
//! replica already lists and watches RGDs into the controller's cache, and reconciles every
//! cached RGD as soon as it leads.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use kro_controller::controllers::metrics::NoMetrics;
//! use kro_controller::controllers::{ControllersConfig, Leadership, RgdController};
//!
//! # async fn run(client: kube::Client) -> Result<(), kro_controller::controllers::ControllerError> {
//! let controller = RgdController::new(client, ControllersConfig::default(), Arc::new(NoMetrics));
//! let shutdown = async {
//!     let _ = tokio::signal::ctrl_c().await;
//! };
//! controller
//!     .run(Leadership::always(), Arc::new(|_ready: bool| {}), shutdown)
//!     .await
//! # }
//! ```

mod conditions;
mod config;
mod crd;
mod error;
mod instance_metrics;
mod instances;
mod leadership;
mod measured;
pub mod metrics;
mod orphans;
mod queue;
mod retry;
mod revisions;
mod rgd;
mod runner;
mod status;
mod stored_instance;

use std::future::Future;
use std::hash::{Hash as _, Hasher as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::{BoxFuture, Shared};
use futures::stream::BoxStream;
use futures::{FutureExt as _, StreamExt as _};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kro_api::ResourceGraphDefinition;
use kro_api::labels::ALLOW_BREAKING_CHANGES_ANNOTATION;
use kube::api::{Api, ListParams};
use kube::runtime::controller::{
    Action, Config as RunnerConfig, ReconcileReason, ReconcileRequest, trigger_self, trigger_with,
};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{PredicateConfig, WatchStreamExt as _, watcher};
use kube::{Client, ResourceExt as _};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::executor::{ClusterResolver, ObjectCache};

pub use config::ControllersConfig;
pub use crd::install_kro_crds;
pub use error::ControllerError;
pub use leadership::{Leadership, ReadinessSink};

use instances::InstanceControllers;
use metrics::ControllerMetrics;
use rgd::RgdContext;
use runner::Runner;

/// The name events are reported under.
pub const EVENT_REPORTER: &str = "kro";
/// How long start-up waits for kro's own CRDs to become Established.
const KRO_CRDS_TIMEOUT: Duration = Duration::from_secs(60);

/// What every controller is built from: the client, the settings and the metrics sink.
#[derive(Clone)]
pub(crate) struct Environment {
    /// The Kubernetes client.
    pub(crate) client: Client,
    /// The settings.
    pub(crate) config: Arc<ControllersConfig>,
    /// Where the controllers' metrics go.
    pub(crate) metrics: Arc<dyn ControllerMetrics>,
}

/// The RGD controller and the instance controllers it starts.
pub struct RgdController {
    env: Environment,
}

impl std::fmt::Debug for RgdController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RgdController")
            .field("config", &self.env.config)
            .finish_non_exhaustive()
    }
}

impl RgdController {
    /// The controllers on `client`, with `config`, reporting to `metrics`.
    #[must_use]
    pub fn new(
        client: Client,
        config: ControllersConfig,
        metrics: Arc<dyn ControllerMetrics>,
    ) -> Self {
        Self {
            env: Environment {
                client,
                config: Arc::new(config),
                metrics,
            },
        }
    }

    /// Runs the controllers until `shutdown` resolves or leadership is lost: waits for
    /// `leadership` (reporting `synced` ready once the RGD API answers), then installs kro's
    /// CRDs and reconciles RGDs and their instances; `synced` turns ready once the RGD cache
    /// has synced, and not ready again when the controllers stop. Returns once every
    /// controller stopped.
    ///
    /// # Errors
    /// kro's own CRDs cannot be installed.
    pub async fn run(
        self,
        leadership: Leadership,
        synced: Arc<dyn ReadinessSink>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ControllerError> {
        run(self.env, leadership, synced, shutdown.boxed().shared()).await
    }
}

/// The RGD trigger hash: generation, deletion and the allow-breaking-changes annotation; status
/// writes do not retrigger.
fn rgd_trigger_hash(rgd: &ResourceGraphDefinition) -> Option<u64> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    rgd.metadata.generation.hash(&mut hasher);
    rgd.metadata.deletion_timestamp.is_some().hash(&mut hasher);
    rgd.annotations()
        .get(ALLOW_BREAKING_CHANGES_ANNOTATION)
        .hash(&mut hasher);
    Some(hasher.finish())
}

/// Marks a standby replica ready once the RGD API answers.
async fn standby_readiness(client: Client, synced: Arc<dyn ReadinessSink>) {
    let api: Api<ResourceGraphDefinition> = Api::all(client);
    loop {
        match api.list(&ListParams::default().limit(1)).await {
            Ok(_) => {
                synced.set_ready(true);
                return;
            }
            // Not installed yet: the leader installs it; the API answered, which is what matters.
            Err(kube::Error::Api(status)) if status.code == 404 => {
                synced.set_ready(true);
                return;
            }
            Err(error) => tracing::debug!(%error, "RGD API not reachable yet"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The RGD watch the controller consumes: a reflector filling `store`, the RGDs to reconcile,
/// and the references to reconcile once on start (the cache a warm-up filled).
struct RgdWatch {
    store: reflector::Store<ResourceGraphDefinition>,
    objects: BoxStream<'static, Result<ResourceGraphDefinition, watcher::Error>>,
    initial: Vec<ObjectRef<ResourceGraphDefinition>>,
    warm_task: Option<tokio::task::JoinHandle<()>>,
}

/// A warm RGD watch ([`ControllersConfig::controller_warmup`]): started before leading, it keeps
/// the cache current while this replica stands by and forwards changes once
/// [`WarmRgdWatch::lead`] ran.
struct WarmRgdWatch {
    store: reflector::Store<ResourceGraphDefinition>,
    leading: Arc<AtomicBool>,
    cache_synced: Arc<AtomicBool>,
    receiver: mpsc::UnboundedReceiver<Result<ResourceGraphDefinition, watcher::Error>>,
    task: tokio::task::JoinHandle<()>,
}

/// The RGD watcher stream: reflected into `writer`, marking `on_synced` at each complete list,
/// filtered to the changes that need a reconcile.
fn rgd_objects(
    client: Client,
    writer: reflector::store::Writer<ResourceGraphDefinition>,
    on_synced: impl Fn() + Send + 'static,
) -> impl futures::Stream<Item = Result<ResourceGraphDefinition, watcher::Error>> + Send + 'static {
    let api: Api<ResourceGraphDefinition> = Api::all(client);
    watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .inspect(move |event| {
            if matches!(event, Ok(watcher::Event::InitDone)) {
                tracing::info!("RGD cache synced");
                on_synced();
            }
        })
        .applied_objects()
        .predicate_filter(rgd_trigger_hash, PredicateConfig::default())
}

impl WarmRgdWatch {
    fn start(client: Client, synced: Arc<dyn ReadinessSink>) -> Self {
        let (store, writer) = reflector::store::<ResourceGraphDefinition>();
        let leading = Arc::new(AtomicBool::new(false));
        let cache_synced = Arc::new(AtomicBool::new(false));
        let (sender, receiver) = mpsc::unbounded_channel();
        let objects = {
            let cache_synced = Arc::clone(&cache_synced);
            rgd_objects(client, writer, move || {
                cache_synced.store(true, Ordering::SeqCst);
                synced.set_ready(true);
            })
        };
        let forward = Arc::clone(&leading);
        let task = tokio::spawn(objects.for_each(move |item| {
            // Before leading only the cache is kept; the first reconciles come from it.
            if forward.load(Ordering::SeqCst) {
                let _ = sender.send(item);
            }
            futures::future::ready(())
        }));
        tracing::info!("controller warm-up: watching RGDs while standing by");
        Self {
            store,
            leading,
            cache_synced,
            receiver,
            task,
        }
    }

    /// Switches to leading: changes flow to the controller from now on, and every cached RGD is
    /// reconciled once.
    fn lead(self, synced: &dyn ReadinessSink) -> RgdWatch {
        self.leading.store(true, Ordering::SeqCst);
        synced.set_ready(false);
        if self.cache_synced.load(Ordering::SeqCst) {
            synced.set_ready(true);
        }
        let initial = self
            .store
            .state()
            .iter()
            .map(|rgd| ObjectRef::from_obj(rgd.as_ref()))
            .collect();
        let mut receiver = self.receiver;
        let objects = futures::stream::poll_fn(move |cx| receiver.poll_recv(cx)).boxed();
        RgdWatch {
            store: self.store,
            objects,
            initial,
            warm_task: Some(self.task),
        }
    }
}

/// The RGD watch started on leading (no warm-up).
fn cold_rgd_watch(client: Client, synced: &Arc<dyn ReadinessSink>) -> RgdWatch {
    let (store, writer) = reflector::store::<ResourceGraphDefinition>();
    synced.set_ready(false);
    let list_synced = Arc::clone(synced);
    RgdWatch {
        store,
        objects: rgd_objects(client, writer, move || list_synced.set_ready(true)).boxed(),
        initial: Vec::new(),
        warm_task: None,
    }
}

async fn run(
    env: Environment,
    leadership: Leadership,
    synced: Arc<dyn ReadinessSink>,
    shutdown: Shared<BoxFuture<'static, ()>>,
) -> Result<(), ControllerError> {
    let Leadership { acquired, lost } = leadership;
    let warm = env
        .config
        .controller_warmup
        .then(|| WarmRgdWatch::start(env.client.clone(), Arc::clone(&synced)));
    let standby = tokio::spawn(standby_readiness(env.client.clone(), Arc::clone(&synced)));
    let leading = tokio::select! {
        () = shutdown.clone() => false,
        acquired = acquired => acquired,
    };
    standby.abort();
    if !leading {
        if let Some(warm) = warm {
            warm.task.abort();
        }
        return Ok(());
    }
    tracing::info!("leading: starting the controllers");
    let mut watch = match warm {
        Some(warm) => warm.lead(synced.as_ref()),
        None => cold_rgd_watch(env.client.clone(), &synced),
    };
    let warm_task = watch.warm_task.take();
    let stopping = async move {
        tokio::select! {
            () = shutdown => {}
            () = lost => {}
        }
    };
    let result = run_controllers(env, watch, stopping).await;
    if let Some(task) = warm_task {
        task.abort();
    }
    synced.set_ready(false);
    tracing::info!("controllers stopped");
    result
}

/// The references of the RGDs whose generated CRD changed: from the CRD's RGD-name label.
fn owned_crd_triggers(
    client: Client,
    queue: queue::QueueTracker<ObjectRef<ResourceGraphDefinition>>,
) -> impl futures::Stream<Item = Result<ReconcileRequest<ResourceGraphDefinition>, watcher::Error>>
+ Send
+ 'static {
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    let owned_crds =
        watcher::Config::default().labels(&format!("{}=true", kro_api::labels::OWNED_LABEL));
    trigger_with(
        watcher(crds, owned_crds).touched_objects(),
        move |crd: CustomResourceDefinition| {
            let object_ref = crd
                .labels()
                .get(kro_api::labels::RGD_NAME_LABEL)
                .map(|name| ObjectRef::<ResourceGraphDefinition>::new(name))?;
            queue.add(object_ref.clone());
            Some(ReconcileRequest {
                obj_ref: object_ref,
                reason: ReconcileReason::RelatedObjectUpdated {
                    obj_ref: Box::new(ObjectRef::from_obj(&crd).erase()),
                },
            })
        },
    )
}

/// Installs kro's CRDs and runs the RGD controller (and the instance controllers it starts)
/// until `stopping` resolves (shutdown or lost leadership).
async fn run_controllers(
    env: Environment,
    watch: RgdWatch,
    stopping: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControllerError> {
    crd::install_kro_crds(&env.client, KRO_CRDS_TIMEOUT).await?;

    let stop = CancellationToken::new();
    let client = env.client.clone();
    let cache = ObjectCache::new(client.clone());
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: EVENT_REPORTER.to_owned(),
            instance: None,
        },
    );
    let instances = Arc::new(InstanceControllers::new(
        env.clone(),
        cache,
        recorder.clone(),
        stop.clone(),
    ));
    let rgd_context = Arc::new(RgdContext {
        env: env.clone(),
        resolver: ClusterResolver::default(),
        instances: Arc::clone(&instances),
        recorder,
    });
    let measured = Arc::new(measured::MeasuredRgd::new(
        rgd_context,
        env.config.resource_graph_definition_concurrent_reconciles,
    ));
    let concurrency = u16::try_from(env.config.resource_graph_definition_concurrent_reconciles)
        .unwrap_or(u16::MAX);

    let objects = {
        let queue = measured.queue.clone();
        watch.objects.inspect(move |result| {
            if let Ok(rgd) = result {
                queue.add(ObjectRef::from_obj(rgd));
            }
        })
    };
    for object_ref in &watch.initial {
        measured.queue.add(object_ref.clone());
    }
    let initial = futures::stream::iter(watch.initial)
        .map(|object_ref| Ok(ReconcileRequest::from(object_ref)));
    Runner::new(
        watch.store,
        RunnerConfig::default().concurrency(concurrency),
    )
    .trigger(trigger_self(objects, ()))
    .trigger(owned_crd_triggers(client, measured.queue.clone()))
    .trigger(initial)
    .run(
        measured::reconcile_measured,
        rgd_error_policy,
        measured,
        stopping,
    )
    .for_each(|result| {
        if let Err(error) = result {
            tracing::debug!(%error, "RGD controller event");
        }
        futures::future::ready(())
    })
    .await;
    stop.cancel();
    instances.stop_all().await;
    Ok(())
}

// kube-runtime's error policy signature takes the Arcs by value.
#[allow(clippy::needless_pass_by_value)]
fn rgd_error_policy(
    rgd: Arc<ResourceGraphDefinition>,
    error: &ControllerError,
    ctx: Arc<measured::MeasuredRgd>,
) -> Action {
    tracing::warn!(rgd = %rgd.name_any(), error = %kro_api::ErrorChain::new(error), "RGD reconcile failed");
    Action::requeue(
        ctx.inner
            .env
            .config
            .rgd_progress_requeue_delay
            .max(Duration::from_secs(1)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn rgd_trigger_ignores_status_but_sees_the_breaking_changes_annotation() {
        let mut rgd = ResourceGraphDefinition::default();
        rgd.metadata.generation = Some(1);
        let base = rgd_trigger_hash(&rgd);
        rgd.status = Some(Default::default());
        assert_eq!(base, rgd_trigger_hash(&rgd));
        rgd.metadata.annotations = Some(BTreeMap::from([(
            ALLOW_BREAKING_CHANGES_ANNOTATION.to_owned(),
            "true".to_owned(),
        )]));
        assert_ne!(base, rgd_trigger_hash(&rgd));
    }
}
