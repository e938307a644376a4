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

mod apply;
mod cache;
mod deletion;
mod error;
mod events;
mod externals;
mod instance;
mod live;
mod members;
mod memo;
mod rest;
mod schemas;
mod sweeps;
#[cfg(test)]
mod tests;
mod view;

use std::time::{Duration, Instant};

use kro_api::Instance;
pub use kro_api::ObjectKey;
use kro_graph::Graph;
use kro_runtime::core::{InstanceState, Limits, RgdIdentity};
use kube::Client;
use kube::api::DynamicObject;

pub use cache::{
    CacheAnswer, DEFAULT_BODY_CAPACITY, KindApi, KindMapping, Lookup, ObjectCache, WriteGuard,
};
pub use error::Error;
pub use events::{ChildEvent, ChildEvents};
pub use externals::{ExternalRef, RefSelection};
pub use kro_runtime::compare::{contains, json_equal};
pub use kro_runtime::machine::{
    REASON_APPLY_FAILED, REASON_FORBIDDEN, VanishedInstance, WaitingOn, mark_apply_errors,
};
pub use rest::RestMapper;
pub use schemas::{ClusterResolver, compile_rgd};

use instance::{instance_json, parse_instance};
use memo::AppliedMemo;

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
        let instance = parse_instance(instance_json(graph, instance)?)?;
        self.reconcile_instance(graph, instance).await
    }

    /// [`Executor::reconcile`] of an instance already parsed (an object of the graph's
    /// generated kind).
    ///
    /// # Errors
    /// As [`Executor::reconcile`].
    pub async fn reconcile_instance(
        &self,
        graph: &Graph,
        instance: Instance,
    ) -> Result<Outcome, Error> {
        let started = Instant::now();
        self.mapper.learn_graph(graph);
        let mut stats = ReconcileStats::default();
        let mut outcome = if instance.is_deleting() {
            self.reconcile_deletion(graph, instance, &mut stats).await?
        } else {
            self.reconcile_live(graph, instance, &mut stats).await?
        };
        outcome.stats = stats;
        outcome.elapsed = started.elapsed();
        Ok(outcome)
    }
}
