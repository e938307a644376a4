//! The executor: runs [`kro_runtime::core::plan`] against a real API server through `kube::Client`.
//!
//! One [`Executor::reconcile`] of a live instance:
//! 1. plan against the shared watch cache ([`ObjectCache`]); reads the cache cannot answer are
//!    fetched live into a per-reconcile overlay and the plan is made again, until no read is
//!    missing (a plan made while reads were missing is never executed); a read the server
//!    refuses (403 Forbidden) counts as absent, and the nodes of that kind end in ERROR with
//!    the server's message, which names the verb and the resource the operator lacks;
//! 2. server-side apply the instance's finalizer and labels (`kro.run/labeller`), then its
//!    ApplySet metadata (`kro.run/applyset-parent`), each only when not already in place;
//! 3. apply the plan's items (`kro.run/applyset`, force) with bounded concurrency, skipping
//!    items whose observed object already holds every desired field and whose body was applied
//!    before; overlay the responses and plan again — a layer whose applied objects already
//!    satisfy their readiness unlocks the next layer in the same reconcile — until no new
//!    apply item appears;
//! 4. prune orphans when the plan allows it and no apply or read failed, in waves, with UID
//!    preconditions; shrink the ApplySet annotations only when every deletion succeeded;
//! 5. write `.status` through the status subresource, only when it changed.
//!
//! When something is not ready yet the [`Outcome`] says what it waits for; the watch event of
//! that object ([`ObjectCache::subscribe`]) should trigger the next reconcile, not a timer.
//!
//! Deleting instances never evaluate the graph: the instance's ApplySet inventory says where
//! the members are, the highest apply-order wave is deleted first, the finalizer is removed
//! once nothing is left.

mod cache;
mod compare;
mod error;
mod events;
mod externals;
mod members;
mod orphans;
mod rest;
mod schemas;
mod status;
mod view;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash as _, Hasher as _};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use kro_applyset::labels::{
    APPLYSET_ID_LABEL, CHILD_FIELD_MANAGER, FINALIZER, LABELLER_FIELD_MANAGER,
    PARENT_FIELD_MANAGER, TOOLING_ANNOTATION,
};
use kro_applyset::{ChildMeta, ObjectKey, ParentMetadata, check_membership};
use kro_graph::{Graph, NodeKind};
use kube::Client;
use kube::api::{DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Map, Value, json};

pub use cache::{
    CacheAnswer, DEFAULT_BODY_CAPACITY, InstanceKey, KindMapping, Lookup, ObjectCache, WriteGuard,
};
pub use compare::{contains, json_equal};
pub use error::Error;
pub use events::{ChildEvent, ChildEvents};
pub use externals::{ExternalRef, RefSelection};
pub use rest::RestMapper;
pub use schemas::{ClusterResolver, compile_rgd};
pub use status::{REASON_APPLY_FAILED, REASON_FORBIDDEN, mark_apply_errors};

use cache::{annotations_of, labels_of, part_of, uid_of};
use error::status_code;
use kro_runtime::core::{
    ApplyItem, DeletionOutcome, InstanceState, Limits, Plan, PlanInput, Requeue, ResourceTarget,
    RgdIdentity, carries_finalizer, instance_deletion_scope, plan, plan_deletion,
    vanished_instance_deletions, vanished_unfinalized,
};
use members::{DeleteResult, ListFrom, delete_all, list_members};
use status::mark_node_errors;
use view::{ExecutorView, Miss, Overlay, mapping_of};

/// Settings of an [`Executor`].
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// The kro version stamped on labels and the ApplySet tooling annotation.
    pub kro_version: String,
    /// At most this many apply or delete requests in flight per reconcile.
    pub concurrency: usize,
    /// At most this many rounds of live reads before a plan must settle.
    pub max_read_rounds: usize,
    /// At most this many apply rounds (plan → apply → plan) per reconcile.
    pub max_apply_rounds: usize,
    /// Collection size limit and retry interval given to the planner.
    pub limits: Limits,
    /// Delay before retrying after a failed apply (the cause, such as an admission policy,
    /// may go away without any event on the instance).
    pub apply_error_retry: Duration,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            kro_version: concat!("v", env!("CARGO_PKG_VERSION")).to_owned(),
            concurrency: 8,
            max_read_rounds: 16,
            max_apply_rounds: 32,
            limits: Limits::default(),
            apply_error_retry: Duration::from_secs(5),
        }
    }
}

/// A resource the instance waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingOn {
    /// The resource id.
    pub id: String,
    /// Its node state (`IN_PROGRESS`, `WAITING_FOR_READINESS`, `ERROR`, `DELETING`, ...).
    pub state: &'static str,
    /// What it waits for, or its error.
    pub reason: String,
}

/// Counters of one reconcile, for logs and benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileStats {
    /// Planning passes (including the ones repeated after live reads).
    pub plan_passes: usize,
    /// Live GET/LIST requests made for reads the cache could not answer.
    pub live_reads: usize,
    /// Server-side apply requests sent for children.
    pub applies: usize,
    /// Apply items skipped because the observed object already matched.
    pub skipped_applies: usize,
    /// Writes of the instance's metadata (labels, finalizer, ApplySet annotations).
    pub instance_writes: usize,
    /// Delete requests (prune or instance deletion).
    pub deletes: usize,
    /// Whether `.status` was written.
    pub status_written: bool,
    /// Time spent planning, summed over the passes: evaluating every CEL expression of the
    /// graph and rendering the templates (no I/O happens while planning).
    pub planning: Duration,
    /// The resource nodes as the last planning pass left them (empty for a deletion).
    pub nodes: Vec<NodeSummary>,
}

/// One resource node after planning, for the runtime metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSummary {
    /// The resource id.
    pub id: String,
    /// Its state.
    pub state: kro_runtime::core::NodeState,
    /// How many objects it rendered (a collection's size; 0 or 1 otherwise).
    pub rendered: usize,
}

/// The result of one reconcile.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The instance state written to `status.state`.
    pub state: InstanceState,
    /// Reconcile again after this delay even without an event (pending data, errors, UID
    /// conflicts). `None`: the next watch event (or the periodic resync) is enough.
    pub requeue_after: Option<Duration>,
    /// The resources that are not ready, in topological order.
    pub waiting_on: Vec<WaitingOn>,
    /// Whether the instance is gone from kro's point of view (deleted, finalizer removed).
    pub finalized: bool,
    /// Counters.
    pub stats: ReconcileStats,
    /// Wall time of the reconcile.
    pub elapsed: Duration,
}

/// What [`Executor::sweep_vanished_instance`] found, and what it deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VanishedInstance {
    /// The last state has no kro finalizer, or was marked for deletion: kro's deletion ran (or
    /// the finalizer was stripped on purpose), nothing is swept.
    Finalized,
    /// An instance of that name exists (the same object, or a new one that now owns the
    /// ApplySet): nothing is deleted.
    StillThere,
    /// The instance never got its ApplySet metadata, so no child was ever applied for it.
    NeverApplied,
    /// The members it left behind, each deleted with its UID precondition.
    Swept(Vec<ObjectKey>),
}

/// Remembers the last body applied to each object (with the UID it was applied to), so an
/// unchanged body on an object that still holds it needs no request.
#[derive(Debug, Default)]
struct AppliedMemo {
    bodies: Mutex<HashMap<ObjectKey, (String, u64)>>,
}

impl AppliedMemo {
    fn matches(&self, key: &ObjectKey, uid: &str, body_hash: u64) -> bool {
        self.lock()
            .get(key)
            .is_some_and(|(known_uid, known_hash)| known_uid == uid && *known_hash == body_hash)
    }

    fn record(&self, key: &ObjectKey, uid: &str, body_hash: u64) {
        self.lock().insert(key.clone(), (uid.to_owned(), body_hash));
    }

    fn forget(&self, key: &ObjectKey) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectKey, (String, u64)>> {
        self.bodies.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn body_hash(body: &Value) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    body.to_string().hash(&mut hasher);
    hasher.finish()
}

/// Reconciles instances of one RGD. Cheap to share (`Arc`); reconciles of different instances
/// may run concurrently, reconciles of one instance must not (the operator serialises them).
pub struct Executor {
    client: Client,
    cache: ObjectCache,
    rgd: RgdIdentity,
    config: ExecutorConfig,
    mapper: RestMapper,
    memo: AppliedMemo,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("rgd", &self.rgd)
            .field("config", &self.config)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

/// One live read's result.
enum Fetched {
    Object(Arc<Value>),
    Absent {
        namespace: Option<String>,
        name: String,
    },
    List {
        namespace: Option<String>,
        selector: kro_runtime::core::LabelSelector,
        objects: Vec<Arc<Value>>,
    },
    /// 403 Forbidden, with the server's message (which names the verb and the resource).
    Refused(String),
}

/// One apply's result.
enum Applied {
    Observed(Arc<Value>),
    Rejected(String),
    /// 403 Forbidden on the apply or on the read before it: a permission the operator lacks.
    Forbidden(String),
}

impl Executor {
    /// An executor for instances of the RGD `rgd`, reading through the shared `cache`.
    pub fn new(
        client: Client,
        cache: ObjectCache,
        rgd: RgdIdentity,
        config: ExecutorConfig,
    ) -> Self {
        Self {
            client,
            cache,
            rgd,
            config,
            mapper: RestMapper::new(),
            memo: AppliedMemo::default(),
        }
    }

    /// The shared cache (subscribe to it to reconcile on child events).
    pub fn cache(&self) -> &ObjectCache {
        &self.cache
    }

    /// The settings.
    pub fn config(&self) -> &ExecutorConfig {
        &self.config
    }

    /// Reconciles `instance` (an object of the graph's generated kind) once.
    ///
    /// # Errors
    /// Requests that failed for another reason than a per-resource rejection, an instance
    /// without name or UID, a blocked deletion, or reads that never settled.
    pub async fn reconcile(
        &self,
        graph: &Graph,
        instance: &DynamicObject,
    ) -> Result<Outcome, Error> {
        let started = Instant::now();
        self.mapper.learn_graph(graph);
        let mut instance = instance_json(graph, instance)?;
        let mut stats = ReconcileStats::default();
        let deleting = !matches!(
            instance.pointer("/metadata/deletionTimestamp"),
            None | Some(Value::Null)
        );
        let mut outcome = if deleting {
            self.reconcile_deletion(graph, &mut instance, &mut stats)
                .await?
        } else {
            self.reconcile_live(graph, &mut instance, &mut stats)
                .await?
        };
        outcome.stats = stats;
        outcome.elapsed = started.elapsed();
        Ok(outcome)
    }

    async fn reconcile_live(
        &self,
        graph: &Graph,
        instance: &mut Value,
        stats: &mut ReconcileStats,
    ) -> Result<Outcome, Error> {
        let mut external_kinds = BTreeSet::new();
        for node in graph.resources() {
            let target = ResourceTarget::of_node(node);
            match node.kind() {
                NodeKind::Template => self.cache.ensure_watch(&mapping_of(&target)),
                NodeKind::External(_) => {
                    external_kinds.insert((target.group.clone(), target.kind.clone()));
                }
            }
        }
        let targets: BTreeMap<&str, ResourceTarget> = graph
            .resources()
            .iter()
            .map(|node| (node.id(), ResourceTarget::of_node(node)))
            .collect();
        let now = now_rfc3339();
        let mut overlay = Overlay::default();
        let mut applied: Vec<ApplyItem> = Vec::new();
        let mut apply_errors: BTreeMap<String, String> = BTreeMap::new();
        // The nodes of `apply_errors` that failed for a missing permission.
        let mut forbidden: BTreeSet<String> = BTreeSet::new();
        let mut instance_prepared = false;
        let mut rounds = 0;
        let mut external_refs = BTreeSet::new();
        let final_plan = loop {
            let plan = self
                .settled_plan(
                    graph,
                    instance,
                    &mut overlay,
                    (&external_kinds, &mut external_refs),
                    &now,
                    stats,
                )
                .await?;
            let labels = if instance_prepared {
                None
            } else {
                instance_prepared = true;
                labels_body(instance, &plan)
            };
            let changed: Vec<ApplyItem> =
                plan.changed_since(&applied).into_iter().cloned().collect();
            rounds += 1;
            let done =
                changed.is_empty() || plan.suspended || rounds > self.config.max_apply_rounds;
            // Before applying, and on the first round even when nothing is to be applied (an
            // instance that waits still becomes an ApplySet parent, as upstream makes it).
            let first_round = rounds == 1 && !plan.suspended;
            let parent = plan
                .parent_metadata
                .as_ref()
                .filter(|_| !done || first_round)
                .and_then(|metadata| parent_body(instance, metadata));
            self.write_instance_metadata(instance, labels, parent, stats)
                .await?;
            if done {
                break plan;
            }
            let results = self
                .apply_items(&changed, &targets, &overlay, stats)
                .await?;
            for (item, result) in changed.into_iter().zip(results) {
                match result {
                    Applied::Observed(object) => {
                        apply_errors.remove(&item.node_id);
                        forbidden.remove(&item.node_id);
                        if let Some(target) = targets.get(item.node_id.as_str()) {
                            overlay.put(target, object);
                        }
                    }
                    Applied::Rejected(message) => {
                        forbidden.remove(&item.node_id);
                        apply_errors.insert(item.node_id.clone(), message);
                    }
                    Applied::Forbidden(message) => {
                        forbidden.insert(item.node_id.clone());
                        apply_errors.insert(item.node_id.clone(), message);
                    }
                }
                applied.retain(|previous| previous.key != item.key);
                applied.push(item);
            }
        };

        // A kind the operator may not read fails its nodes with the server's refusal, unless an
        // apply of the node failed with its own message.
        for (id, target) in &targets {
            if let Some(message) = overlay.refusal(target)
                && !apply_errors.contains_key(*id)
            {
                apply_errors.insert((*id).to_owned(), message.to_owned());
                forbidden.insert((*id).to_owned());
            }
        }
        // Missing permissions get a reason of their own: an admin fixes them, not the RGD author.
        let reason = if apply_errors.keys().all(|id| forbidden.contains(id)) {
            REASON_FORBIDDEN
        } else {
            REASON_APPLY_FAILED
        };

        let mut requeue_after = match final_plan.requeue {
            Requeue::After(delay) => Some(delay),
            Requeue::None | Requeue::AfterChange => None,
        };
        if let Some(prune) = final_plan
            .prune
            .as_ref()
            .filter(|_| apply_errors.is_empty())
        {
            let members: Vec<_> = list_members(
                &self.client,
                &self.cache,
                &self.mapper,
                &prune.scope(),
                ListFrom::Cache,
            )
            .await?
            .into_iter()
            .map(|member| member.meta)
            .collect();
            let prune_plan = prune.plan(&members);
            let mut conflicts = false;
            for wave in &prune_plan.waves {
                let deletions: Vec<_> = wave.deletions.iter().filter(|d| !d.terminating).collect();
                stats.deletes += deletions.len();
                let results = delete_all(
                    &self.client,
                    &self.mapper,
                    &deletions,
                    self.config.concurrency,
                )
                .await?;
                for (deletion, result) in deletions.iter().zip(results) {
                    self.memo.forget(&deletion.key);
                    conflicts |= result == DeleteResult::UidConflict;
                }
            }
            if conflicts {
                requeue_after = Some(Duration::from_secs(1));
            } else {
                self.write_parent_metadata(instance, &prune.completed_metadata(), stats)
                    .await?;
            }
        }

        let mut status = final_plan.status.clone();
        mark_node_errors(&mut status, &apply_errors, reason, &now);
        self.write_status(graph, instance, status, stats).await?;

        let mut state = final_plan.instance_state;
        let mut waiting_on: Vec<WaitingOn> = final_plan
            .nodes
            .iter()
            .filter(|node| !node.ready)
            .map(|node| WaitingOn {
                id: node.id.clone(),
                state: node.state.as_str(),
                reason: node
                    .waiting_for
                    .clone()
                    .or_else(|| node.message.clone())
                    .unwrap_or_default(),
            })
            .collect();
        if !apply_errors.is_empty() {
            state = InstanceState::Error;
            requeue_after = Some(requeue_after.map_or(self.config.apply_error_retry, |d| {
                d.min(self.config.apply_error_retry)
            }));
            for waiting in &mut waiting_on {
                if let Some(message) = apply_errors.get(&waiting.id) {
                    waiting.state = "ERROR";
                    waiting.reason.clone_from(message);
                }
            }
        }
        if let Some(key) = instance_key(graph, instance) {
            self.cache.watch_external_refs(&key, external_refs);
        }
        Ok(Outcome {
            state,
            requeue_after,
            waiting_on,
            finalized: false,
            stats: ReconcileStats::default(),
            elapsed: Duration::ZERO,
        })
    }

    /// Plans until every read was answered, fetching misses live between passes.
    async fn settled_plan(
        &self,
        graph: &Graph,
        instance: &Value,
        overlay: &mut Overlay,
        (external_kinds, external_refs): (&BTreeSet<(String, String)>, &mut BTreeSet<ExternalRef>),
        now: &str,
        stats: &mut ReconcileStats,
    ) -> Result<Plan, Error> {
        let mut last_misses = BTreeSet::new();
        for _ in 0..self.config.max_read_rounds {
            // The planner's view (`&dyn ClusterView`) is not `Sync`: keep it out of the
            // awaits below so the reconcile future stays `Send`.
            let (planned, misses) = {
                let view = ExecutorView::new(&self.cache, overlay, external_kinds);
                let planning_started = Instant::now();
                let planned = plan(&PlanInput {
                    graph,
                    instance,
                    view: &view,
                    now,
                    kro_version: &self.config.kro_version,
                    rgd: &self.rgd,
                    limits: self.config.limits,
                    previous_status: instance.get("status"),
                });
                stats.planning += planning_started.elapsed();
                let (misses, external_reads) = view.into_reads();
                external_refs.extend(external_reads);
                (planned, misses)
            };
            stats.plan_passes += 1;
            if misses.is_empty() {
                stats.nodes = planned
                    .nodes
                    .iter()
                    .map(|node| NodeSummary {
                        id: node.id.clone(),
                        state: node.state,
                        rendered: node.desired.len(),
                    })
                    .collect();
                return Ok(planned);
            }
            stats.live_reads += misses.len();
            // Independent reads: fetched concurrently, then laid into the overlay in order.
            let pending: Vec<_> = misses.iter().map(|miss| self.fetch_miss(miss)).collect();
            let fetched: Vec<Result<Fetched, Error>> = futures::stream::iter(pending)
                .buffered(self.config.concurrency.max(1))
                .collect()
                .await;
            for (miss, fetched) in misses.iter().zip(fetched) {
                let target = miss.target();
                match fetched? {
                    Fetched::Object(object) => {
                        self.cache.remember(&mapping_of(target), &object);
                        overlay.put(target, object);
                    }
                    Fetched::Absent { namespace, name } => {
                        overlay.put_absent(target, namespace.as_deref(), &name);
                    }
                    Fetched::List {
                        namespace,
                        selector,
                        objects,
                    } => {
                        for object in &objects {
                            self.cache.remember(&mapping_of(target), object);
                        }
                        overlay.put_list(target, namespace.as_deref(), &selector, objects);
                    }
                    Fetched::Refused(message) => overlay.put_refused(miss, message),
                }
            }
            last_misses = misses;
        }
        Err(Error::UnsettledReads {
            rounds: self.config.max_read_rounds,
            missing: last_misses
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    async fn fetch_miss(&self, miss: &Miss) -> Result<Fetched, Error> {
        match miss {
            Miss::Get {
                target,
                namespace,
                name,
            } => {
                let api = mapping_of(target).api(self.client.clone(), namespace.as_deref());
                let absent = || Fetched::Absent {
                    namespace: namespace.clone(),
                    name: name.clone(),
                };
                match api.get_opt(name).await {
                    Ok(Some(object)) => {
                        Ok(Fetched::Object(Arc::new(observed_json(&object, target))))
                    }
                    Ok(None) => Ok(absent()),
                    // A kind the server does not serve has no objects.
                    Err(error) if status_code(&error) == Some(404) => Ok(absent()),
                    // A missing permission belongs on the instance, not only in the log.
                    Err(kube::Error::Api(status)) if status.code == 403 => {
                        Ok(Fetched::Refused(status.message.clone()))
                    }
                    Err(source) => Err(Error::kube(format!("reading {miss}"), source)),
                }
            }
            Miss::List {
                target,
                namespace,
                selector,
            } => {
                let api = mapping_of(target).api(self.client.clone(), namespace.as_deref());
                let params = ListParams::default().labels(&selector.to_string());
                let objects = match api.list(&params).await {
                    Ok(list) => list
                        .items
                        .iter()
                        .map(|object| Arc::new(observed_json(object, target)))
                        .collect(),
                    Err(error) if status_code(&error) == Some(404) => Vec::new(),
                    Err(kube::Error::Api(status)) if status.code == 403 => {
                        return Ok(Fetched::Refused(status.message.clone()));
                    }
                    Err(source) => return Err(Error::kube(format!("reading {miss}"), source)),
                };
                Ok(Fetched::List {
                    namespace: namespace.clone(),
                    selector: selector.clone(),
                    objects,
                })
            }
        }
    }

    /// Writes the instance's kro labels and finalizer (`labels`, manager
    /// `kro.run/labeller`) and its ApplySet metadata (`parent`, manager
    /// `kro.run/applyset-parent`), each only when given. Two separate managers keep upstream's
    /// field ownership; when both are due they go out together, and the instance afterwards is
    /// the response that carries both (the write that committed last).
    async fn write_instance_metadata(
        &self,
        instance: &mut Value,
        labels: Option<Value>,
        parent: Option<Value>,
        stats: &mut ReconcileStats,
    ) -> Result<(), Error> {
        match (labels, parent) {
            (None, None) => Ok(()),
            (Some(body), None) => {
                self.apply_to_instance(instance, &body, LABELLER_FIELD_MANAGER, stats)
                    .await
            }
            (None, Some(body)) => {
                self.apply_to_instance(instance, &body, PARENT_FIELD_MANAGER, stats)
                    .await
            }
            (Some(labels), Some(parent)) => {
                let (labelled, parented) = futures::join!(
                    self.send_instance_apply(instance, &labels, LABELLER_FIELD_MANAGER),
                    self.send_instance_apply(instance, &parent, PARENT_FIELD_MANAGER),
                );
                let (labelled, parented) = (labelled?, parented?);
                stats.instance_writes += 2;
                let carries_both = |response: &Value| {
                    let metadata = &response["metadata"];
                    contains(&metadata["labels"], &labels["metadata"]["labels"])
                        && contains(metadata, &parent["metadata"])
                };
                let latest = if carries_both(&labelled) {
                    labelled
                } else {
                    parented
                };
                adopt_instance_response(instance, latest);
                Ok(())
            }
        }
    }

    /// ApplySet labels and annotations, written with `kro.run/applyset-parent` when not in
    /// place.
    async fn write_parent_metadata(
        &self,
        instance: &mut Value,
        metadata: &ParentMetadata,
        stats: &mut ReconcileStats,
    ) -> Result<(), Error> {
        self.write_instance_metadata(instance, None, parent_body(instance, metadata), stats)
            .await
    }

    async fn apply_to_instance(
        &self,
        instance: &mut Value,
        body: &Value,
        manager: &str,
        stats: &mut ReconcileStats,
    ) -> Result<(), Error> {
        let response = self.send_instance_apply(instance, body, manager).await?;
        stats.instance_writes += 1;
        adopt_instance_response(instance, response);
        Ok(())
    }

    /// Server-side applies `body` to the instance; the response as JSON with its kind.
    async fn send_instance_apply(
        &self,
        instance: &Value,
        body: &Value,
        manager: &str,
    ) -> Result<Value, Error> {
        let (kind, namespace, name) = self.instance_api_parts(instance)?;
        let api = kind.api(self.client.clone(), namespace.as_deref());
        let response = api
            .patch(
                &name,
                &PatchParams::apply(manager).force(),
                &Patch::Apply(body),
            )
            .await
            .map_err(|source| {
                Error::kube(
                    format!("applying {manager} metadata to instance {name}"),
                    source,
                )
            })?;
        Ok(observed_json_kind(&response, &kind))
    }

    async fn apply_items(
        &self,
        items: &[ApplyItem],
        targets: &BTreeMap<&str, ResourceTarget>,
        overlay: &Overlay,
        stats: &mut ReconcileStats,
    ) -> Result<Vec<Applied>, Error> {
        let view_kinds = BTreeSet::new();
        let view = ExecutorView::new(&self.cache, overlay, &view_kinds);
        let mut requests = Vec::new();
        let mut results: Vec<Option<Applied>> = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let target = targets
                .get(item.node_id.as_str())
                .ok_or_else(|| Error::UnknownKind {
                    key: item.key.clone(),
                })?;
            let hash = body_hash(&item.body);
            let observed = kro_runtime::core::ClusterView::get(
                &view,
                target,
                item.key.namespace.as_deref(),
                &item.key.name,
            );
            let unchanged = observed.as_ref().is_some_and(|observed| {
                let uid = uid_of(observed).unwrap_or_default();
                self.memo.matches(&item.key, uid, hash) && contains(observed, &item.body)
            });
            match observed {
                Some(observed) if unchanged => {
                    stats.skipped_applies += 1;
                    results.push(Some(Applied::Observed(observed)));
                }
                observed => {
                    results.push(None);
                    requests.push((index, item, target.clone(), hash, observed.is_none()));
                }
            }
        }
        stats.applies += requests.len();
        // Futures are built eagerly: a `map` closure over borrowed items would make the
        // reconcile future lose `Send` (rustc cannot prove it for every lifetime).
        let pending: Vec<_> = requests
            .into_iter()
            .map(|(index, item, target, hash, absent)| async move {
                (index, self.apply_one(item, &target, hash, absent).await)
            })
            .collect();
        let responses: Vec<(usize, Result<Applied, Error>)> = futures::stream::iter(pending)
            .buffer_unordered(self.config.concurrency.max(1))
            .collect()
            .await;
        for (index, response) in responses {
            if let Some(slot) = results.get_mut(index) {
                *slot = Some(response?);
            }
        }
        Ok(results
            .into_iter()
            .map(|result| result.unwrap_or_else(|| Applied::Rejected("no response".into())))
            .collect())
    }

    async fn apply_one(
        &self,
        item: &ApplyItem,
        target: &ResourceTarget,
        hash: u64,
        absent_from_cache: bool,
    ) -> Result<Applied, Error> {
        let write = self.cache.begin_write(
            &mapping_of(target),
            item.key.namespace.as_deref(),
            &item.key.name,
        );
        let result = self.send_apply(item, target, hash, absent_from_cache).await;
        write.finish(match &result {
            Ok(Applied::Observed(observed)) => Some(observed),
            _ => None,
        });
        result
    }

    async fn send_apply(
        &self,
        item: &ApplyItem,
        target: &ResourceTarget,
        hash: u64,
        absent_from_cache: bool,
    ) -> Result<Applied, Error> {
        let api = mapping_of(target).api(self.client.clone(), item.key.namespace.as_deref());
        // The cache never sees objects without kro's label (other tools' ApplySets, objects
        // made by hand): a forced apply would take them over. A creation is therefore first
        // applied without force, which the server refuses with a conflict when another manager
        // owns a field kro sets to another value (such as the ApplySet label); only then is the
        // live object looked at. A new object costs one request, not a read and a write. The
        // server does not refuse kro's own objects (same manager): the cache enters each write's
        // response when it returns, so another instance's object is not absent here (short of
        // a relist that started before the write, until the watch reports the object).
        if absent_from_cache {
            match api
                .patch(
                    &item.key.name,
                    &PatchParams::apply(CHILD_FIELD_MANAGER),
                    &Patch::Apply(&item.body),
                )
                .await
            {
                Ok(response) => return Ok(self.applied(item, target, hash, &response)),
                Err(kube::Error::Api(status)) if status.code == 409 => {}
                Err(error) => return self.apply_failed(item, error),
            }
            let live = match api.get_opt(&item.key.name).await {
                Ok(live) => live,
                // Without read access the take-over check cannot be made: nothing is applied,
                // and the node reports the refusal.
                Err(kube::Error::Api(status)) if status.code == 403 => {
                    self.memo.forget(&item.key);
                    return Ok(Applied::Forbidden(status.message.clone()));
                }
                Err(source) => return Err(Error::kube(format!("reading {}", item.key), source)),
            };
            if let Some(live) = live {
                let live = observed_json(&live, target);
                let current =
                    ChildMeta::from_object(&live).map_err(|source| Error::InvalidObject {
                        key: item.key.to_string(),
                        source,
                    })?;
                let applyset_id = part_of(&item.body).unwrap_or_default();
                if let Err(conflict) = check_membership(applyset_id, &item.key, Some(&current)) {
                    return Ok(Applied::Rejected(conflict.to_string()));
                }
            }
        }
        match api
            .patch(
                &item.key.name,
                &PatchParams::apply(CHILD_FIELD_MANAGER).force(),
                &Patch::Apply(&item.body),
            )
            .await
        {
            Ok(response) => Ok(self.applied(item, target, hash, &response)),
            Err(error) => self.apply_failed(item, error),
        }
    }

    /// Records an accepted apply: the memo of what was applied, and the response in the cache.
    fn applied(
        &self,
        item: &ApplyItem,
        target: &ResourceTarget,
        hash: u64,
        response: &DynamicObject,
    ) -> Applied {
        let observed = observed_json(response, target);
        let uid = uid_of(&observed).unwrap_or_default();
        self.memo.record(&item.key, uid, hash);
        let observed = Arc::new(observed);
        self.cache.remember(&mapping_of(target), &observed);
        Applied::Observed(observed)
    }

    /// A refused apply: missing permission and rejections are the node's error; anything else
    /// fails the reconcile.
    fn apply_failed(&self, item: &ApplyItem, error: kube::Error) -> Result<Applied, Error> {
        match error {
            kube::Error::Api(status) if status.code == 403 => {
                self.memo.forget(&item.key);
                Ok(Applied::Forbidden(status.message.clone()))
            }
            kube::Error::Api(status) if (400..500).contains(&status.code) => {
                self.memo.forget(&item.key);
                Ok(Applied::Rejected(status.message.clone()))
            }
            source => Err(Error::kube(format!("applying {}", item.key), source)),
        }
    }

    async fn write_status(
        &self,
        graph: &Graph,
        instance: &mut Value,
        status: Value,
        stats: &mut ReconcileStats,
    ) -> Result<(), Error> {
        let current = instance.get("status").cloned().unwrap_or(Value::Null);
        if json_equal(&current, &status) {
            return Ok(());
        }
        let (kind, namespace, name) = self.instance_api_parts(instance)?;
        let api = kind.api(self.client.clone(), namespace.as_deref());
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut body = instance.clone();
            if let Some(map) = body.as_object_mut() {
                map.insert("status".into(), status.clone());
            }
            let body: DynamicObject =
                serde_json::from_value(body).map_err(|_| Error::InvalidInstance {
                    field: "metadata",
                    expected: "Kubernetes object metadata",
                })?;
            match api
                .replace_status(&name, &PostParams::default(), &body)
                .await
            {
                Ok(response) => {
                    stats.status_written = true;
                    *instance = observed_json_kind(&response, &kind);
                    return Ok(());
                }
                Err(error) if status_code(&error) == Some(409) && attempt < 3 => {
                    let fresh = api.get(&name).await.map_err(|source| {
                        Error::kube(format!("reading instance {name}"), source)
                    })?;
                    *instance = instance_json(graph, &fresh)?;
                }
                Err(error) if status_code(&error) == Some(404) => return Ok(()),
                Err(source) => {
                    return Err(Error::kube(
                        format!("writing the status of instance {name}"),
                        source,
                    ));
                }
            }
        }
    }

    async fn reconcile_deletion(
        &self,
        graph: &Graph,
        instance: &mut Value,
        stats: &mut ReconcileStats,
    ) -> Result<Outcome, Error> {
        let finalizers: Vec<String> = instance
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let deleting = |waiting_on, finalized| Outcome {
            state: InstanceState::Deleting,
            requeue_after: None,
            waiting_on,
            finalized,
            stats: ReconcileStats::default(),
            elapsed: Duration::ZERO,
        };
        if let Some(key) = instance_key(graph, instance) {
            self.cache.watch_external_refs(&key, BTreeSet::new());
        }
        if !finalizers.iter().any(|f| f == FINALIZER) {
            return Ok(deleting(Vec::new(), true));
        }
        let (kind, namespace, name) = self.instance_api_parts(instance)?;
        if !never_applied(instance) {
            let blocked = |reason| deletion_blocked(namespace.as_deref(), &name, reason);
            let members = self
                .inventory_members(instance, ListFrom::Cache, blocked)
                .await?;
            let now = now_rfc3339();
            let step = plan_deletion(instance, &members, instance.get("status"), &now);
            match step.outcome {
                DeletionOutcome::Blocked { reason } => return Err(blocked(reason)),
                DeletionOutcome::Delete(wave) => {
                    let deletions: Vec<_> = wave.to_delete().collect();
                    stats.deletes += deletions.len();
                    delete_all(
                        &self.client,
                        &self.mapper,
                        &deletions,
                        self.config.concurrency,
                    )
                    .await?;
                    for deletion in &deletions {
                        self.memo.forget(&deletion.key);
                    }
                    self.write_status(graph, instance, step.status, stats)
                        .await?;
                    // The deletion events of this wave wake the next step; a kind whose watch is
                    // still listing (right after a restart) may report them only as part of its
                    // initial list, which publishes nothing for objects it never knew.
                    let kinds_synced = deletions.iter().all(|deletion| {
                        self.mapper
                            .known(&kro_applyset::GroupKind::new(
                                deletion.key.group.as_str(),
                                deletion.key.kind.as_str(),
                            ))
                            .is_some_and(|kind| self.cache.is_synced(&kind))
                    });
                    let requeue_after = if kinds_synced {
                        DELETION_SAFETY_REQUEUE
                    } else {
                        Duration::from_secs(1)
                    };
                    let waiting_on = wave
                        .members
                        .iter()
                        .map(|member| WaitingOn {
                            id: member.node_id.clone().unwrap_or_default(),
                            state: InstanceState::Deleting.as_str(),
                            reason: format!(
                                "waiting for {} to be deleted (apply-order wave {})",
                                member.key, wave.order
                            ),
                        })
                        .collect();
                    return Ok(Outcome {
                        requeue_after: Some(requeue_after),
                        ..deleting(waiting_on, false)
                    });
                }
                DeletionOutcome::Complete => {}
            }
        }
        let remaining: Vec<&String> = finalizers.iter().filter(|f| *f != FINALIZER).collect();
        let patch = json!({"metadata": {
            "finalizers": remaining,
            "resourceVersion": instance.pointer("/metadata/resourceVersion"),
        }});
        let api = kind.api(self.client.clone(), namespace.as_deref());
        match api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {
                stats.instance_writes += 1;
                Ok(deleting(Vec::new(), true))
            }
            // Changed meanwhile: the instance's own update event retries with the new version.
            Err(error) if status_code(&error) == Some(409) => Ok(Outcome {
                requeue_after: Some(Duration::from_millis(200)),
                ..deleting(Vec::new(), false)
            }),
            Err(error) if status_code(&error) == Some(404) => Ok(deleting(Vec::new(), true)),
            Err(source) => Err(Error::kube(
                format!("removing the finalizer of instance {name}"),
                source,
            )),
        }
    }

    /// Deletes what an instance left behind when it disappeared while it still carried kro's
    /// finalizer, so that kro never ran its deletion.
    ///
    /// The API server can let a delete remove an object whose finalizer was added concurrently
    /// (kubernetes issue 77988): kro's finalizer write succeeds, the instance is gone a moment
    /// later, and the children kro applies meanwhile would be left with no instance. Call this
    /// with the instance's last state (the watch's deletion event) once no reconcile of it is
    /// running. Members are listed from the server, not the watch, which may not have reported
    /// a child created a moment ago.
    ///
    /// # Errors
    /// Reading the instance, listing or deleting members failed, or the last state's inventory
    /// does not validate.
    pub async fn sweep_vanished_instance(
        &self,
        graph: &Graph,
        last_state: &DynamicObject,
    ) -> Result<VanishedInstance, Error> {
        self.mapper.learn_graph(graph);
        let instance = instance_json(graph, last_state)?;
        if !vanished_unfinalized(&instance) {
            return Ok(VanishedInstance::Finalized);
        }
        if never_applied(&instance) {
            return Ok(VanishedInstance::NeverApplied);
        }
        let (kind, namespace, name) = self.instance_api_parts(&instance)?;
        let api = kind.api(self.client.clone(), namespace.as_deref());
        let current = api
            .get_metadata_opt(&name)
            .await
            .map_err(|source| Error::kube(format!("reading instance {name}"), source))?;
        if current.is_some() {
            return Ok(VanishedInstance::StillThere);
        }
        if let Some(key) = instance_key(graph, &instance) {
            self.cache.watch_external_refs(&key, BTreeSet::new());
        }
        let blocked = |reason| deletion_blocked(namespace.as_deref(), &name, reason);
        let members = self
            .inventory_members(&instance, ListFrom::Server, blocked)
            .await?;
        let deletions = vanished_instance_deletions(&instance, &members).map_err(blocked)?;
        let requests: Vec<_> = deletions.iter().collect();
        delete_all(
            &self.client,
            &self.mapper,
            &requests,
            self.config.concurrency,
        )
        .await?;
        for deletion in &deletions {
            self.memo.forget(&deletion.key);
        }
        Ok(VanishedInstance::Swept(
            deletions.into_iter().map(|deletion| deletion.key).collect(),
        ))
    }

    /// The members of the ApplySet the instance's inventory records; `blocked` words the error
    /// of an inventory that does not validate.
    async fn inventory_members(
        &self,
        instance: &Value,
        from: ListFrom,
        blocked: impl Fn(String) -> Error,
    ) -> Result<Vec<Value>, Error> {
        let scope = instance_deletion_scope(instance).map_err(blocked)?;
        Ok(
            list_members(&self.client, &self.cache, &self.mapper, &scope, from)
                .await?
                .into_iter()
                .map(|member| Arc::unwrap_or_clone(member.object))
                .collect(),
        )
    }

    fn instance_api_parts(
        &self,
        instance: &Value,
    ) -> Result<(KindMapping, Option<String>, String), Error> {
        let api_version =
            instance
                .get("apiVersion")
                .and_then(Value::as_str)
                .ok_or(Error::InvalidInstance {
                    field: "apiVersion",
                    expected: "a string",
                })?;
        let kind_name =
            instance
                .get("kind")
                .and_then(Value::as_str)
                .ok_or(Error::InvalidInstance {
                    field: "kind",
                    expected: "a string",
                })?;
        let (group, _) = kro_applyset::object::split_api_version(api_version);
        let kind = self
            .mapper
            .known(&kro_applyset::GroupKind::new(group, kind_name))
            .ok_or(Error::InvalidInstance {
                field: "kind",
                expected: "the generated kind of the graph",
            })?;
        let name = instance
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .ok_or(Error::InvalidInstance {
                field: "metadata.name",
                expected: "a string",
            })?
            .to_owned();
        let namespace = instance
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|ns| !ns.is_empty())
            .map(str::to_owned);
        Ok((kind, namespace, name))
    }
}

/// How long a deleting instance waits for its wave's deletion events before looking again.
const DELETION_SAFETY_REQUEUE: Duration = Duration::from_secs(10);

/// The key under which the cache publishes events for `instance`.
fn instance_key(graph: &Graph, instance: &Value) -> Option<InstanceKey> {
    let gvk = graph.instance().gvk();
    Some(InstanceKey {
        group: gvk.group.clone(),
        version: gvk.version.clone(),
        kind: gvk.kind.clone(),
        namespace: instance
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|namespace| !namespace.is_empty())
            .map(str::to_owned),
        name: instance.pointer("/metadata/name")?.as_str()?.to_owned(),
    })
}

/// The instance as JSON, with `apiVersion`/`kind` filled from the graph when the object came
/// from a list (list items carry none).
fn instance_json(graph: &Graph, instance: &DynamicObject) -> Result<Value, Error> {
    if instance.metadata.uid.is_none() {
        return Err(Error::InvalidInstance {
            field: "metadata.uid",
            expected: "a string (an object read from the API server)",
        });
    }
    let mut value = serde_json::to_value(instance).map_err(|_| Error::InvalidInstance {
        field: "metadata",
        expected: "an object that serializes to JSON",
    })?;
    if let Some(map) = value.as_object_mut() {
        let gvk = graph.instance().gvk();
        map.entry("apiVersion")
            .or_insert_with(|| gvk.api_version().into());
        map.entry("kind").or_insert_with(|| gvk.kind.clone().into());
    }
    Ok(value)
}

fn observed_json(object: &DynamicObject, target: &ResourceTarget) -> Value {
    observed_json_kind(object, &mapping_of(target))
}

/// An object read or returned by the server, as the planner expects it: with `apiVersion` and
/// `kind`, without `managedFields`.
fn observed_json_kind(object: &DynamicObject, kind: &KindMapping) -> Value {
    let mut value = serde_json::to_value(object).unwrap_or(Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.entry("apiVersion")
            .or_insert_with(|| kind.api_version().into());
        map.entry("kind")
            .or_insert_with(|| kind.kind.clone().into());
        if let Some(metadata) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.remove("managedFields");
        }
    }
    value
}

/// An apply body for the instance holding only identity plus what `fill` adds to metadata.
/// The UID makes the apply conditional: an apply to a missing object creates it, so without the
/// UID a reconcile racing the instance's deletion would bring the instance back.
/// The instance as a metadata write returned it. The patch response carries the stored status;
/// the one kro is about to write is kept when it has none.
fn adopt_instance_response(instance: &mut Value, response: Value) {
    let status = instance.get("status").cloned();
    *instance = response;
    if instance.get("status").is_none()
        && let (Some(map), Some(status)) = (instance.as_object_mut(), status)
    {
        map.insert("status".into(), status);
    }
}

/// The error of a deletion the instance's inventory does not allow.
fn deletion_blocked(namespace: Option<&str>, name: &str, reason: String) -> Error {
    Error::DeletionBlocked {
        instance: format!("{}/{name}", namespace.unwrap_or_default()),
        reason,
    }
}

/// Whether the instance lacks its ApplySet metadata. It is written before any child is applied,
/// so without it no child was ever created (e.g. the instance was suspended from the start).
fn never_applied(instance: &Value) -> bool {
    !labels_of(instance).contains_key(APPLYSET_ID_LABEL)
        && !annotations_of(instance).contains_key(TOOLING_ANNOTATION)
}

/// The labeller's write (kro labels and finalizer), or `None` when both are in place.
fn labels_body(instance: &Value, plan: &Plan) -> Option<Value> {
    let has_finalizer = carries_finalizer(instance);
    let labels = json!(plan.labels_for_instance);
    let current_labels = instance
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or(json!({}));
    if has_finalizer && contains(&current_labels, &labels) {
        return None;
    }
    Some(instance_patch_body(instance, |metadata| {
        metadata.insert("labels".into(), labels);
        metadata.insert("finalizers".into(), json!([FINALIZER]));
    }))
}

/// The ApplySet parent's write (labels and annotations), or `None` when in place.
fn parent_body(instance: &Value, metadata: &ParentMetadata) -> Option<Value> {
    let desired = json!({"labels": metadata.labels, "annotations": metadata.annotations});
    let current = instance.get("metadata").cloned().unwrap_or(json!({}));
    if contains(&current, &desired) {
        return None;
    }
    Some(instance_patch_body(instance, |fields| {
        fields.insert("labels".into(), json!(metadata.labels));
        fields.insert("annotations".into(), json!(metadata.annotations));
    }))
}

fn instance_patch_body(instance: &Value, fill: impl FnOnce(&mut Map<String, Value>)) -> Value {
    let mut metadata = Map::new();
    for field in ["name", "namespace", "uid"] {
        if let Some(value) = instance.pointer(&format!("/metadata/{field}")) {
            metadata.insert(field.into(), value.clone());
        }
    }
    fill(&mut metadata);
    json!({
        "apiVersion": instance.get("apiVersion"),
        "kind": instance.get("kind"),
        "metadata": metadata,
    })
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compiles only if a reconcile can be spawned on a multi-threaded runtime.
    #[allow(dead_code)]
    fn reconcile_future_is_send(executor: &Executor, graph: &Graph, instance: &DynamicObject) {
        fn require_send<T: Send>(_: T) {}
        require_send(executor.reconcile(graph, instance));
    }

    #[test]
    fn body_hash_is_stable_and_sensitive() {
        let body = json!({"metadata": {"name": "a"}, "data": {"k": "v"}});
        assert_eq!(body_hash(&body), body_hash(&body.clone()));
        assert_ne!(
            body_hash(&body),
            body_hash(&json!({"metadata": {"name": "a"}, "data": {"k": "w"}}))
        );
    }

    #[test]
    fn memo_requires_the_same_uid_and_body() {
        let memo = AppliedMemo::default();
        let key = ObjectKey::namespaced("", "v1", "ConfigMap", "ns", "a");
        memo.record(&key, "uid-1", 7);
        assert!(memo.matches(&key, "uid-1", 7));
        assert!(
            !memo.matches(&key, "uid-2", 7),
            "a recreated object is applied again"
        );
        assert!(
            !memo.matches(&key, "uid-1", 8),
            "a changed body is applied again"
        );
        memo.forget(&key);
        assert!(!memo.matches(&key, "uid-1", 7));
    }

    #[test]
    fn instance_patch_bodies_carry_only_identity_and_the_owned_fields() {
        let instance = json!({
            "apiVersion": "kro.run/v1alpha1", "kind": "WebApp",
            "metadata": {"name": "web", "namespace": "team", "uid": "u", "labels": {"user": "x"}},
            "spec": {"replicas": 2}
        });
        let body = instance_patch_body(&instance, |metadata| {
            metadata.insert("finalizers".into(), json!([FINALIZER]));
        });
        assert_eq!(
            body,
            json!({
                "apiVersion": "kro.run/v1alpha1", "kind": "WebApp",
                "metadata": {"name": "web", "namespace": "team", "uid": "u",
                             "finalizers": ["kro.run/finalizer"]}
            })
        );
    }
}
