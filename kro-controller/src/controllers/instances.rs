//! Instance controllers: one kube-runtime controller per RGD (instances stored as
//! [`StoredInstance`]), started and stopped at run time without restarting the operator.
//!
//! Each controller has its own queue and `--dynamic-controller-concurrent-reconciles` workers, so
//! a busy RGD cannot starve the others (fairness across RGDs), while kube-runtime serialises the
//! reconciles of one instance and debounces its triggers. Triggers:
//! - the instance watch, filtered to generation changes, the suspend-annotation flip and the
//!   deletion timestamp (kro's own label and status writes do not retrigger);
//! - the executor's shared child watches ([`ObjectCache`]): every event on a kro-managed child is
//!   mapped through the child's `kro.run/instance-*` labels to its instance;
//! - a "re-enqueue everything" signal when the RGD's graph changes.

mod streams;
#[cfg(test)]
mod tests;
mod vanished;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use kro_api::Instance;
use kro_graph::Graph;
use kro_runtime::core::{InstanceState, Limits, RgdIdentity};
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::controller::{self, Action, Config as ControllerConfig, trigger_self};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::reflector::store::Writer;
use kube::{Resource as _, ResourceExt as _};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Environment;
use super::config::ControllersConfig;
use super::error::ControllerError;
use super::instance_metrics::InstanceTelemetry;
use super::metrics::{Ended, KindMapping};
use super::orphans::sweep_orphans_after_listing;
use super::retry::{RetryDecision, RetryPolicy};
use super::rgd::truncate;
use super::runner::Runner;
use super::stored_instance::StoredInstance;
use crate::Outcome;
use crate::embed::VanishedInstances;
use crate::executor::KindApi as _;
use crate::executor::{Executor, ExecutorConfig, ObjectCache};
use streams::{WatchSignals, instance_events, reconcile_triggers};
use vanished::sweep_vanished;

/// The annotation that suspends an instance's reconciliation.
const SUSPEND_ANNOTATION: &str = kro_applyset::labels::RECONCILE_ANNOTATION;

/// The metrics of the controller of `kind`.
fn telemetry(kind: &KindMapping, env: &Environment) -> InstanceTelemetry {
    InstanceTelemetry::new(
        env.metrics.as_ref(),
        kind,
        env.config.instance_condition_metrics,
    )
}

struct Running {
    kind: KindMapping,
    graph: Arc<RwLock<Arc<Graph>>>,
    requeue_all: mpsc::UnboundedSender<()>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// What every instance controller shares.
struct Shared {
    env: Environment,
    cache: ObjectCache,
    recorder: Recorder,
    /// Error requeues of every instance queue, with one token bucket for all, as upstream's
    /// single dynamic controller queue.
    retry: RetryPolicy,
}

/// The registry of running instance controllers, keyed by RGD name.
pub struct InstanceControllers {
    shared: Arc<Shared>,
    running: Mutex<BTreeMap<String, Running>>,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for InstanceControllers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceControllers")
            .field("running", &self.running_rgds())
            .finish_non_exhaustive()
    }
}

impl InstanceControllers {
    /// An empty registry; controllers stop when `shutdown` is cancelled.
    #[must_use]
    pub fn new(
        env: Environment,
        cache: ObjectCache,
        recorder: Recorder,
        shutdown: CancellationToken,
    ) -> Self {
        let retry = RetryPolicy::from_config(&env.config);
        Self {
            shared: Arc::new(Shared {
                env,
                cache,
                recorder,
                retry,
            }),
            running: Mutex::new(BTreeMap::new()),
            shutdown,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Running>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Names of the RGDs whose controllers run, sorted.
    #[must_use]
    pub fn running_rgds(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Serves `graph` for RGD `rgd_name`: starts a controller, or swaps the graph of the running
    /// one and re-enqueues every instance (a controller whose kind changed is replaced).
    ///
    /// # Errors
    /// A message when the controller cannot be started (shutdown in progress).
    pub fn ensure(&self, rgd: &RgdIdentity, graph: Arc<Graph>) -> Result<(), String> {
        let rgd_name = rgd.name.as_str();
        if self.shutdown.is_cancelled() {
            return Err("the operator is shutting down".to_owned());
        }
        let kind = graph.instance().mapping();
        let mut running = self.lock();
        if let Some(current) = running.get(rgd_name)
            && current.kind == kind
            && !current.task.is_finished()
        {
            let changed = {
                let mut slot = current
                    .graph
                    .write()
                    .unwrap_or_else(PoisonError::into_inner);
                let changed = slot.spec_hash() != graph.spec_hash();
                *slot = graph;
                changed
            };
            if changed {
                tracing::info!(rgd = %rgd_name, "graph changed; re-enqueueing every instance");
                let _ = current.requeue_all.send(());
            }
            return Ok(());
        }
        if let Some(previous) = running.remove(rgd_name) {
            previous.cancel.cancel();
        }
        let cancel = self.shutdown.child_token();
        let (requeue_all, requeue_rx) = mpsc::unbounded_channel();
        let graph = Arc::new(RwLock::new(graph));
        let task = tokio::spawn(run_controller(
            Arc::clone(&self.shared),
            rgd.clone(),
            kind.clone(),
            Arc::clone(&graph),
            requeue_rx,
            cancel.clone(),
        ));
        tracing::info!(rgd = %rgd_name, kind = %kind.kind, group = %kind.group, "instance controller started");
        running.insert(
            rgd_name.to_owned(),
            Running {
                kind,
                graph,
                requeue_all,
                cancel,
                task,
            },
        );
        Ok(())
    }

    /// Stops the controller of `rgd_name`, if any, and waits for it to finish.
    pub async fn stop(&self, rgd_name: &str) {
        let removed = self.lock().remove(rgd_name);
        if let Some(running) = removed {
            running.cancel.cancel();
            let _ = running.task.await;
            tracing::info!(rgd = %rgd_name, "instance controller stopped");
        }
    }

    /// Stops every controller and waits for them.
    pub async fn stop_all(&self) {
        let all: Vec<Running> = std::mem::take(&mut *self.lock()).into_values().collect();
        for running in &all {
            running.cancel.cancel();
        }
        for running in all {
            let _ = running.task.await;
        }
    }
}

/// What one instance controller's reconciles share.
struct InstanceContext {
    shared: Arc<Shared>,
    executor: Arc<Executor>,
    rgd: String,
    kind: KindMapping,
    api_resource: ApiResource,
    graph: Arc<RwLock<Arc<Graph>>>,
    failures: Mutex<HashMap<ObjectRef<StoredInstance>, u32>>,
    /// Metrics, and the triggers not yet picked up by a worker (`workqueue_depth`,
    /// `dynamic_controller_queue_length`).
    telemetry: Arc<InstanceTelemetry>,
}

/// The reference of instance `namespace/name`.
fn instance_ref(
    name: &str,
    namespace: Option<&str>,
    resource: &ApiResource,
) -> ObjectRef<StoredInstance> {
    let object_ref = ObjectRef::new_with(name, resource.clone());
    match namespace {
        Some(namespace) => object_ref.within(namespace),
        None => object_ref,
    }
}

async fn run_controller(
    shared: Arc<Shared>,
    rgd_identity: RgdIdentity,
    kind: KindMapping,
    graph: Arc<RwLock<Arc<Graph>>>,
    requeue_all: mpsc::UnboundedReceiver<()>,
    cancel: CancellationToken,
) {
    let rgd = rgd_identity.name.clone();
    let resource = kind.api_resource();
    let api: Api<StoredInstance> = Api::all_with(shared.env.client.clone(), &resource);
    let writer = Writer::new(resource.clone());
    let store = writer.as_reader();
    let telemetry = Arc::new(telemetry(&kind, &shared.env));
    telemetry.attached();
    let (vanished, vanished_refs) = VanishedInstances::<StoredInstance>::new(&resource);
    let (listed_tx, listed_rx) = mpsc::unbounded_channel();
    let signals = WatchSignals {
        vanished: vanished.clone(),
        listed_tx,
    };
    let instances = instance_events(api, writer, &store, &resource, &telemetry, signals);
    let triggers = reconcile_triggers(
        &shared.cache,
        &resource,
        &store,
        requeue_all,
        vanished_refs,
        &telemetry,
    );

    let config = &shared.env.config;
    let concurrency =
        u16::try_from(config.dynamic_controller_concurrent_reconciles).unwrap_or(u16::MAX);
    let executor = Arc::new(Executor::new(
        shared.env.client.clone(),
        shared.cache.clone(),
        rgd_identity,
        executor_config(config),
    ));
    let context = Arc::new(InstanceContext {
        shared: Arc::clone(&shared),
        executor,
        rgd: rgd.clone(),
        kind: kind.clone(),
        api_resource: resource.clone(),
        graph,
        failures: Mutex::new(HashMap::new()),
        telemetry: Arc::clone(&telemetry),
    });
    tokio::spawn(sweep_orphans_after_listing(
        Arc::clone(&context.executor),
        Arc::clone(&context.graph),
        rgd.clone(),
        listed_rx,
        cancel.clone(),
    ));
    Runner::new(store, ControllerConfig::default().concurrency(concurrency))
        .trigger(trigger_self(instances, resource.clone()))
        .trigger(triggers.map(|object_ref| Ok(controller::ReconcileRequest::from(object_ref))))
        .run(
            reconcile_instance,
            error_policy,
            Arc::clone(&context),
            cancel.cancelled_owned(),
        )
        .for_each(|result| {
            match result {
                // The instance is gone: no worker will take its trigger.
                Err(controller::Error::ObjectNotFound(object_ref)) => {
                    let stored_ref =
                        instance_ref(&object_ref.name, object_ref.namespace.as_deref(), &resource);
                    telemetry.gone(
                        &stored_ref,
                        object_ref.namespace.as_deref().unwrap_or_default(),
                        &object_ref.name,
                    );
                    if let Some(last_state) = vanished.take(&stored_ref) {
                        tokio::spawn(sweep_vanished(Arc::clone(&context), last_state));
                    }
                }
                Err(error) => tracing::debug!(rgd = %rgd, %error, "instance controller event"),
                Ok(_) => {}
            }
            futures::future::ready(())
        })
        .await;
    telemetry.detached();
}

/// The instance's conditions as `type -> (status, reason)`.
fn conditions_of(status: Option<&Value>) -> BTreeMap<String, (String, String)> {
    status
        .and_then(|status| status.get("conditions"))
        .and_then(Value::as_array)
        .map(|conditions| {
            conditions
                .iter()
                .filter_map(|condition| {
                    let type_ = condition.get("type")?.as_str()?.to_owned();
                    let status = condition.get("status")?.as_str()?.to_owned();
                    let reason = condition
                        .get("reason")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    Some((type_, (status, reason)))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn state_of(status: Option<&Value>) -> String {
    status
        .and_then(|status| status.get("state"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Events for condition transitions between `old` and `new`: (type, note, warning?).
fn condition_transitions(old: Option<&Value>, new: Option<&Value>) -> Vec<(String, String, bool)> {
    let before = conditions_of(old);
    conditions_of(new)
        .into_iter()
        .filter_map(|(type_, (status, reason))| {
            let previous = before.get(&type_).map(|(status, _)| status.as_str());
            if previous == Some(status.as_str()) {
                return None;
            }
            let note = format!("{} -> {status}: {reason}", previous.unwrap_or("none"));
            Some((type_, note, status != "True"))
        })
        .collect()
}

async fn reconcile_instance(
    stored: Arc<StoredInstance>,
    ctx: Arc<InstanceContext>,
) -> Result<Action, ControllerError> {
    let object_ref = ObjectRef::from_obj_with(stored.as_ref(), ctx.api_resource.clone());
    let work = ctx.telemetry.begin(&object_ref);
    match reconcile_tracked(stored, Arc::clone(&ctx)).await {
        Ok((action, ended)) => {
            ctx.telemetry.end(work, ended);
            Ok(action)
        }
        Err(error) => {
            let ended = match error {
                ControllerError::Panicked { .. } => Ended::Panicked,
                _ => Ended::Failed,
            };
            ctx.telemetry.end(work, ended);
            Err(error)
        }
    }
}

/// One reconcile, and how it ended for the metrics.
async fn reconcile_tracked(
    stored: Arc<StoredInstance>,
    ctx: Arc<InstanceContext>,
) -> Result<(Action, Ended), ControllerError> {
    let graph = Arc::clone(&ctx.graph.read().unwrap_or_else(PoisonError::into_inner));
    if stored.meta().deletion_timestamp.is_none() {
        ctx.telemetry.graph_resolved();
    }
    let action = format!(
        "reconciling {} {}/{}",
        ctx.kind.kind,
        stored.namespace().unwrap_or_default(),
        stored.name_any()
    );
    let instance = stored
        .to_instance(&ctx.kind)
        .map_err(|source| ControllerError::Instance {
            action: action.clone(),
            source,
        })?;
    let result = run_executor(
        Arc::clone(&ctx.executor),
        Arc::clone(&graph),
        instance.clone(),
    )
    .await;
    let outcome = result.map_err(|failure| match failure {
        EngineFailure::Engine(source) => ControllerError::Runtime { action, source },
        EngineFailure::Panicked(message) => ControllerError::Panicked { action, message },
    })?;
    tracing::debug!(
        rgd = %ctx.rgd,
        instance = %instance.name(),
        namespace = %instance.namespace().unwrap_or_default(),
        state = outcome.state.as_str(),
        elapsed_ms = outcome.elapsed.as_secs_f64() * 1000.0,
        planning_ms = outcome.stats.planning.as_secs_f64() * 1000.0,
        plan_passes = outcome.stats.plan_passes,
        live_reads = outcome.stats.live_reads,
        applies = outcome.stats.applies,
        skipped_applies = outcome.stats.skipped_applies,
        instance_writes = outcome.stats.instance_writes,
        deletes = outcome.stats.deletes,
        "instance reconciled"
    );
    let object_ref = ObjectRef::from_obj_with(stored.as_ref(), ctx.api_resource.clone());
    ctx.failures
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&object_ref);

    let from = state_of(instance.status());
    let to = outcome.state.as_str();
    if from != to && !outcome.finalized {
        ctx.telemetry.state_changed(&from, to);
    }
    ctx.telemetry.planned(&graph, &outcome.stats);
    report_conditions(&ctx, &instance, &outcome).await;
    if outcome.finalized {
        return Ok((Action::await_change(), Ended::Done));
    }
    #[cfg(debug_assertions)]
    if let Ok(tag) = std::env::var("KRO_DIFFERENTIAL_SELF_TEST") {
        self_test_tag(&ctx, &instance, &tag).await;
    }
    let requeue_interval = ctx.shared.env.config.instance_requeue_interval;
    let resync = ctx
        .shared
        .env
        .config
        .dynamic_controller_default_resync_period;
    Ok(match outcome.requeue_after {
        Some(delay) => (Action::requeue(delay), Ended::Waiting),
        // A safety net for waits no watch reports (e.g. an external object that appears later);
        // the watch event normally comes first.
        None if outcome.state != InstanceState::Active && !requeue_interval.is_zero() => (
            Action::requeue(requeue_interval.max(WAITING_RESYNC)),
            Ended::Waiting,
        ),
        // Children and external references are watched; the periodic resync of an ACTIVE
        // instance is only a safety net (upstream's default is ten hours).
        None if !resync.is_zero() => (Action::requeue(resync), Ended::Done),
        None => (Action::await_change(), Ended::Done),
    })
}

/// The condition events (`InstanceConditionEvents`) and condition durations
/// (`InstanceConditionMetrics`) after a reconcile, from the instance as written.
async fn report_conditions(ctx: &InstanceContext, instance: &Instance, outcome: &Outcome) {
    let namespace = instance.namespace().unwrap_or_default();
    let name = instance.name();
    if outcome.finalized {
        ctx.telemetry.evict(namespace, name);
        return;
    }
    let events = outcome.stats.status_written && ctx.shared.env.config.instance_condition_events;
    let durations = ctx.telemetry.conditions_enabled();
    if !outcome.stats.status_written {
        // Nothing was written: the conditions are the ones the reconcile started from.
        ctx.telemetry.conditions(namespace, name, instance.status());
        return;
    }
    if !events && !durations {
        return;
    }
    let Some(fresh) = read_instance(ctx, instance).await else {
        return;
    };
    if events {
        publish_condition_events(ctx, instance, &fresh).await;
    }
    ctx.telemetry
        .conditions(namespace, name, fresh.data.get("status"));
}

/// Debug builds only: `bench/differential.sh --self-test` proves the differential harness reports
/// a changed condition message, so this appends `tag` to `InstanceManaged`'s message.
#[cfg(debug_assertions)]
async fn self_test_tag(ctx: &InstanceContext, instance: &Instance, tag: &str) {
    let client = ctx.shared.env.client.clone();
    let api: Api<DynamicObject> = match instance.namespace() {
        Some(namespace) => Api::namespaced_with(client, namespace, &ctx.api_resource),
        None => Api::all_with(client, &ctx.api_resource),
    };
    let Ok(Some(mut fresh)) = api.get_opt(instance.name()).await else {
        return;
    };
    let conditions = fresh.data.pointer_mut("/status/conditions");
    for condition in conditions
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        let message = condition
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("");
        if condition.get("type") == Some(&Value::from("InstanceManaged")) && !message.ends_with(tag)
        {
            condition["message"] = Value::from(format!("{message}{tag}"));
        }
    }
    let params = kube::api::PostParams::default();
    let _ = api.replace_status(instance.name(), &params, &fresh).await;
}

/// How often an instance that waits without a requeue hint is looked at again at the latest.
const WAITING_RESYNC: Duration = Duration::from_secs(30);

/// Reads the instance again, as the reconcile wrote it.
async fn read_instance(ctx: &InstanceContext, instance: &Instance) -> Option<DynamicObject> {
    let api: Api<DynamicObject> = match instance.namespace() {
        Some(namespace) => {
            Api::namespaced_with(ctx.shared.env.client.clone(), namespace, &ctx.api_resource)
        }
        None => Api::all_with(ctx.shared.env.client.clone(), &ctx.api_resource),
    };
    match api.get_opt(instance.name()).await {
        Ok(fresh) => fresh,
        Err(error) => {
            tracing::debug!(rgd = %ctx.rgd, %error, "cannot read the instance for its conditions");
            None
        }
    }
}

/// Publishes one Event per condition transition from `instance` to `fresh`.
async fn publish_condition_events(
    ctx: &InstanceContext,
    instance: &Instance,
    fresh: &DynamicObject,
) {
    let reference = fresh.object_ref(&ctx.api_resource);
    for (reason, note, warning) in
        condition_transitions(instance.status(), fresh.data.get("status"))
    {
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason,
            note: Some(truncate(&note, 1000)),
            action: "Reconcile".to_owned(),
            secondary: None,
        };
        if let Err(error) = ctx.shared.recorder.publish(&event, &reference).await {
            tracing::debug!(rgd = %ctx.rgd, %error, "cannot publish event");
        }
    }
}

/// The executor's settings from the controllers' settings.
fn executor_config(config: &ControllersConfig) -> ExecutorConfig {
    ExecutorConfig {
        kro_version: super::rgd::KRO_VERSION.to_owned(),
        limits: Limits {
            max_collection_size: config.rgd_max_collection_size as usize,
            requeue_interval: config.instance_requeue_interval,
        },
        ..ExecutorConfig::default()
    }
}

/// Runs one executor reconcile. The executor's future holds a `&dyn ClusterView` (not `Sync`)
/// across awaits, so it is not `Send` and cannot run on the controller's task directly: it runs
/// on a blocking-pool thread that drives it on the current runtime.
async fn run_executor(
    executor: Arc<Executor>,
    graph: Arc<Graph>,
    instance: Instance,
) -> Result<Outcome, EngineFailure> {
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        handle.block_on(async move { executor.reconcile_instance(&graph, instance).await })
    })
    .await
    .map_err(|join| EngineFailure::Panicked(join.to_string()))?
    .map_err(EngineFailure::Engine)
}

/// Why the engine produced no outcome.
#[derive(Debug)]
enum EngineFailure {
    /// The executor returned an error.
    Engine(crate::executor::Error),
    /// The reconcile task panicked or was cancelled.
    Panicked(String),
}

/// Retries a failed instance with the larger of its exponential backoff and the shared token
/// bucket's wait, until `--dynamic-controller-default-queue-max-retries` retries failed too.
// kube-runtime's error policy signature takes the Arcs by value.
#[allow(clippy::needless_pass_by_value)]
fn error_policy(
    instance: Arc<StoredInstance>,
    error: &ControllerError,
    ctx: Arc<InstanceContext>,
) -> Action {
    let object_ref = ObjectRef::from_obj_with(instance.as_ref(), ctx.api_resource.clone());
    let mut failures = ctx.failures.lock().unwrap_or_else(PoisonError::into_inner);
    let attempts = failures.entry(object_ref.clone()).or_insert(0);
    *attempts = attempts.saturating_add(1);
    let attempts = *attempts;
    match ctx.shared.retry.on_failure(attempts, Instant::now()) {
        RetryDecision::Requeue(delay) => {
            tracing::warn!(rgd = %ctx.rgd, instance = %instance.name_any(), error = %kro_api::ErrorChain::new(error), ?delay, "instance reconcile failed");
            Action::requeue(delay)
        }
        RetryDecision::GiveUp => {
            failures.remove(&object_ref);
            tracing::error!(rgd = %ctx.rgd, instance = %instance.name_any(), error = %kro_api::ErrorChain::new(error), attempts, "instance reconcile failed; out of retries, waiting for its next change");
            Action::await_change()
        }
    }
}
