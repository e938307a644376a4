//! The reconcile controllers: the ResourceGraphDefinition controller and, started by it at run
//! time, one instance controller per RGD.
//!
//! [`RgdControllerService`] is the operator [`Service`] that runs them. It waits for leadership,
//! installs kro's own CRDs when missing, and runs a `kube::runtime::Controller` over RGDs (plus the
//! kro-owned generated CRDs, so that deleting or editing one re-creates it). Readiness
//! (`rgd-caches-synced`) turns on once the RGD cache has synced; a standby replica reports ready
//! after one successful read of the RGD API, and writes nothing. With `--leader-elect` and
//! `--enable-controller-warmup`, a standby replica already lists and watches RGDs into the
//! controller's cache, and reconciles every cached RGD as soon as it leads.

pub mod conditions;
pub mod crd;
pub mod error;
pub mod instance_metrics;
pub mod instances;
pub mod measured;
mod orphans;
pub mod retry;
pub mod revisions;
pub mod rgd;
pub mod status;
pub mod stored_instance;

use std::hash::{Hash as _, Hasher as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use futures::stream::BoxStream;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kro_api::ResourceGraphDefinition;
use kro_controller::executor::{ClusterResolver, ObjectCache};
use kube::ResourceExt as _;
use kube::api::{Api, ListParams};
use kube::runtime::controller::{Action, Config as ControllerConfig};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{Controller, PredicateConfig, WatchStreamExt as _, watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::health::ReadinessCheck;
use crate::operator::OperatorContext;
use crate::service::{Service, ServiceError, ServiceFuture};

pub use error::ControllerError;
pub use instances::InstanceControllers;
pub use kro_api::labels::ALLOW_BREAKING_CHANGES_ANNOTATION;
pub use rgd::{RgdContext, reconcile_rgd};

/// The name events are reported under.
pub const EVENT_REPORTER: &str = "kro";
/// How long start-up waits for kro's own CRDs to become Established.
const KRO_CRDS_TIMEOUT: Duration = Duration::from_secs(60);

/// The RGD controller and the instance controllers it starts, as one operator service.
pub struct RgdControllerService {
    context: OperatorContext,
    synced: ReadinessCheck,
}

impl std::fmt::Debug for RgdControllerService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RgdControllerService")
            .finish_non_exhaustive()
    }
}

impl RgdControllerService {
    /// The service; `synced` turns ready once the RGD cache has synced.
    #[must_use]
    pub fn new(context: OperatorContext, synced: ReadinessCheck) -> Self {
        Self { context, synced }
    }
}

impl Service for RgdControllerService {
    fn name(&self) -> &str {
        "rgd-controller"
    }

    fn run(self: Box<Self>, shutdown: CancellationToken) -> ServiceFuture {
        Box::pin(run(self.context, self.synced, shutdown))
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
async fn standby_readiness(context: OperatorContext, synced: ReadinessCheck) {
    let api: Api<ResourceGraphDefinition> = Api::all(context.client.clone());
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

/// A warm RGD watch (`--enable-controller-warmup`): started before leading, it keeps the cache
/// current while this replica stands by and forwards changes once [`WarmRgdWatch::lead`] ran.
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
    client: kube::Client,
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
    fn start(client: kube::Client, synced: ReadinessCheck) -> Self {
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
    fn lead(self, synced: &ReadinessCheck) -> RgdWatch {
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
fn cold_rgd_watch(client: kube::Client, synced: &ReadinessCheck) -> RgdWatch {
    let (store, writer) = reflector::store::<ResourceGraphDefinition>();
    synced.set_ready(false);
    let list_synced = synced.clone();
    RgdWatch {
        store,
        objects: rgd_objects(client, writer, move || list_synced.set_ready(true)).boxed(),
        initial: Vec::new(),
        warm_task: None,
    }
}

async fn run(
    context: OperatorContext,
    synced: ReadinessCheck,
    shutdown: CancellationToken,
) -> Result<(), ServiceError> {
    let warm = (context.config.enable_controller_warmup && context.config.leader_elect)
        .then(|| WarmRgdWatch::start(context.client.clone(), synced.clone()));
    let standby = tokio::spawn(standby_readiness(context.clone(), synced.clone()));
    let leading = tokio::select! {
        () = shutdown.cancelled() => false,
        acquired = context.leader.acquired() => acquired.is_ok(),
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
        Some(warm) => warm.lead(&synced),
        None => cold_rgd_watch(context.client.clone(), &synced),
    };
    let warm_task = watch.warm_task.take();
    let result = run_controllers(context, watch, shutdown).await;
    if let Some(task) = warm_task {
        task.abort();
    }
    synced.set_ready(false);
    tracing::info!("controllers stopped");
    result
}

/// Installs kro's CRDs and runs the RGD controller (and the instance controllers it starts)
/// until shutdown or lost leadership.
async fn run_controllers(
    context: OperatorContext,
    watch: RgdWatch,
    shutdown: CancellationToken,
) -> Result<(), ServiceError> {
    crd::install_kro_crds(&context.client, KRO_CRDS_TIMEOUT)
        .await
        .map_err(ServiceError::other)?;

    let stop = CancellationToken::new();
    let client = context.client.clone();
    let cache = ObjectCache::new(client.clone());
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: EVENT_REPORTER.to_owned(),
            instance: None,
        },
    );
    let instances = Arc::new(InstanceControllers::new(
        context.clone(),
        cache,
        recorder.clone(),
        stop.clone(),
    ));
    let rgd_context = Arc::new(RgdContext {
        operator: context.clone(),
        resolver: ClusterResolver::default(),
        instances: Arc::clone(&instances),
        recorder,
    });
    let measured = Arc::new(measured::MeasuredRgd::new(
        rgd_context,
        context
            .config
            .resource_graph_definition_concurrent_reconciles,
    ));

    let crds: Api<CustomResourceDefinition> = Api::all(client);
    let owned_crds =
        watcher::Config::default().labels(&format!("{}=true", kro_api::labels::OWNED_LABEL));
    let concurrency = u16::try_from(
        context
            .config
            .resource_graph_definition_concurrent_reconciles,
    )
    .unwrap_or(u16::MAX);

    let lost = context.leader.lost();
    let stopping = async move {
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = lost.cancelled() => {}
        }
    };
    let (objects, crd_queue, initial_queue) = {
        let queue = measured.queue.clone();
        let objects = watch.objects.inspect(move |result| {
            if let Ok(rgd) = result {
                queue.add(ObjectRef::from_obj(rgd));
            }
        });
        (objects, measured.queue.clone(), measured.queue.clone())
    };
    for object_ref in &watch.initial {
        initial_queue.add(object_ref.clone());
    }
    Controller::for_stream(objects, watch.store)
        .watches(crds, owned_crds, move |crd: CustomResourceDefinition| {
            let object_ref = crd
                .labels()
                .get(kro_api::labels::RGD_NAME_LABEL)
                .map(|name| ObjectRef::<ResourceGraphDefinition>::new(name))?;
            crd_queue.add(object_ref.clone());
            Some(object_ref)
        })
        .reconcile_on(futures::stream::iter(watch.initial))
        .with_config(ControllerConfig::default().concurrency(concurrency))
        .graceful_shutdown_on(stopping)
        .run(measured::reconcile_measured, rgd_error_policy, measured)
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
            .operator
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
