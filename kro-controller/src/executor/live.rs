//! One reconcile of a live instance: plan, prepare the instance, apply in rounds, prune, write
//! the status.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use kro_graph::{Graph, NodeKind};
use kro_runtime::core::{
    ApplyItem, InstanceState, Plan, PlanInput, PrunePlanInputs, Requeue, ResourceTarget, plan,
};
use kube::api::ListParams;
use serde_json::Value;

use super::apply::Applied;
use super::error::status_code;
use super::instance::{instance_key, labels_body, now_rfc3339, observed_json, parent_body};
use super::members::{DeleteResult, ListFrom, delete_all, list_members};
use super::status::mark_node_errors;
use super::view::{ExecutorView, Miss, Overlay, mapping_of};
use super::{
    Error, Executor, ExternalRef, NodeSummary, Outcome, REASON_APPLY_FAILED, REASON_FORBIDDEN,
    ReconcileStats, WaitingOn,
};

/// What the apply rounds of a reconcile leave behind.
struct AppliedRounds {
    /// The plan that ended the rounds.
    plan: Plan,
    /// Objects read live or returned by applies during the reconcile.
    overlay: Overlay,
    errors: NodeErrors,
    /// The external references the plans read.
    external_refs: BTreeSet<ExternalRef>,
}

/// The nodes whose apply failed, with the server's message.
#[derive(Default)]
struct NodeErrors {
    messages: BTreeMap<String, String>,
    /// The nodes of `messages` that failed for a missing permission.
    forbidden: BTreeSet<String>,
}

impl NodeErrors {
    /// Records one apply's result; the observed object when it was accepted.
    fn record(&mut self, node_id: &str, result: Applied) -> Option<Arc<Value>> {
        match result {
            Applied::Observed(object) => {
                self.messages.remove(node_id);
                self.forbidden.remove(node_id);
                Some(object)
            }
            Applied::Rejected(message) => {
                self.forbidden.remove(node_id);
                self.messages.insert(node_id.to_owned(), message);
                None
            }
            Applied::Forbidden(message) => {
                self.forbidden.insert(node_id.to_owned());
                self.messages.insert(node_id.to_owned(), message);
                None
            }
        }
    }

    /// A kind the operator may not read fails its nodes with the server's refusal, unless an
    /// apply of the node failed with its own message.
    fn add_read_refusals(&mut self, targets: &BTreeMap<&str, ResourceTarget>, overlay: &Overlay) {
        for (id, target) in targets {
            if let Some(message) = overlay.refusal(target)
                && !self.messages.contains_key(*id)
            {
                self.messages.insert((*id).to_owned(), message.to_owned());
                self.forbidden.insert((*id).to_owned());
            }
        }
    }

    /// Missing permissions get a reason of their own: an admin fixes them, not the RGD author.
    fn reason(&self) -> &'static str {
        if self.messages.keys().all(|id| self.forbidden.contains(id)) {
            REASON_FORBIDDEN
        } else {
            REASON_APPLY_FAILED
        }
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

impl Executor {
    pub(super) async fn reconcile_live(
        &self,
        graph: &Graph,
        instance: &mut Value,
        stats: &mut ReconcileStats,
    ) -> Result<Outcome, Error> {
        let external_kinds = self.watch_template_kinds(graph);
        let targets: BTreeMap<&str, ResourceTarget> = graph
            .resources()
            .iter()
            .map(|node| (node.id(), ResourceTarget::of_node(node)))
            .collect();
        let now = now_rfc3339();
        let AppliedRounds {
            plan: final_plan,
            overlay,
            mut errors,
            external_refs,
        } = self
            .apply_rounds(graph, instance, &targets, &external_kinds, &now, stats)
            .await?;
        errors.add_read_refusals(&targets, &overlay);
        let reason = errors.reason();

        let mut requeue_after = match final_plan.requeue {
            Requeue::After(delay) => Some(delay),
            Requeue::None | Requeue::AfterChange => None,
        };
        if let Some(prune) = final_plan
            .prune
            .as_ref()
            .filter(|_| errors.messages.is_empty())
            && self.prune_orphans(instance, prune, stats).await?
        {
            requeue_after = Some(Duration::from_secs(1));
        }

        let mut status = final_plan.status.clone();
        mark_node_errors(&mut status, &errors.messages, reason, &now);
        self.write_status(graph, instance, status, stats).await?;

        let outcome = self.live_outcome(&final_plan, &errors, requeue_after);
        if let Some(key) = instance_key(graph, instance) {
            self.cache.watch_external_refs(&key, external_refs);
        }
        Ok(outcome)
    }

    /// Starts the watches of the graph's template kinds; the (group, kind)s of its external
    /// references.
    fn watch_template_kinds(&self, graph: &Graph) -> BTreeSet<(String, String)> {
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
        external_kinds
    }

    /// Plans and applies what changed until a plan brings nothing new to apply (or is
    /// suspended, or the rounds run out), writing the instance's metadata before each apply.
    async fn apply_rounds(
        &self,
        graph: &Graph,
        instance: &mut Value,
        targets: &BTreeMap<&str, ResourceTarget>,
        external_kinds: &BTreeSet<(String, String)>,
        now: &str,
        stats: &mut ReconcileStats,
    ) -> Result<AppliedRounds, Error> {
        let mut overlay = Overlay::default();
        let mut applied: Vec<ApplyItem> = Vec::new();
        let mut errors = NodeErrors::default();
        let mut instance_prepared = false;
        let mut rounds = 0;
        let mut external_refs = BTreeSet::new();
        let final_plan = loop {
            let plan = self
                .settled_plan(
                    graph,
                    instance,
                    &mut overlay,
                    (external_kinds, &mut external_refs),
                    now,
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
            let results = self.apply_items(&changed, targets, &overlay, stats).await?;
            for (item, result) in changed.into_iter().zip(results) {
                if let Some(object) = errors.record(&item.node_id, result)
                    && let Some(target) = targets.get(item.node_id.as_str())
                {
                    overlay.put(target, object);
                }
                applied.retain(|previous| previous.key != item.key);
                applied.push(item);
            }
        };
        Ok(AppliedRounds {
            plan: final_plan,
            overlay,
            errors,
            external_refs,
        })
    }

    /// Deletes the orphans `prune` finds, wave by wave with UID preconditions, then shrinks the
    /// ApplySet annotations. Returns whether a UID conflict left that for later.
    async fn prune_orphans(
        &self,
        instance: &mut Value,
        prune: &PrunePlanInputs,
        stats: &mut ReconcileStats,
    ) -> Result<bool, Error> {
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
        if !conflicts {
            self.write_parent_metadata(instance, &prune.completed_metadata(), stats)
                .await?;
        }
        Ok(conflicts)
    }

    /// The outcome of a live reconcile: the plan's state and waits, overridden by apply
    /// errors, which also bring the retry forward.
    fn live_outcome(
        &self,
        final_plan: &Plan,
        errors: &NodeErrors,
        mut requeue_after: Option<Duration>,
    ) -> Outcome {
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
        if !errors.messages.is_empty() {
            state = InstanceState::Error;
            requeue_after = Some(requeue_after.map_or(self.config.apply_error_retry, |d| {
                d.min(self.config.apply_error_retry)
            }));
            for waiting in &mut waiting_on {
                if let Some(message) = errors.messages.get(&waiting.id) {
                    waiting.state = "ERROR";
                    waiting.reason.clone_from(message);
                }
            }
        }
        Outcome {
            state,
            requeue_after,
            waiting_on,
            finalized: false,
            stats: ReconcileStats::default(),
            elapsed: Duration::ZERO,
        }
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
}
