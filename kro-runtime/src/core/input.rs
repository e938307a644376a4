//! The inputs of one planning pass.

use std::time::Duration;

use kro_graph::Graph;
use serde_json::Value;

use crate::core::view::ClusterView;

/// The ResourceGraphDefinition the instance belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RgdIdentity {
    /// RGD `metadata.name`.
    pub name: String,
    /// RGD `metadata.uid`.
    pub uid: String,
}

/// Bounds and intervals of a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum number of items a forEach collection may expand to (`--rgd-max-collection-size`).
    pub max_collection_size: usize,
    /// Delay before retrying a pass that waits on pending data or failed
    /// (`--instance-requeue-interval`).
    pub requeue_interval: Duration,
}

impl Default for Limits {
    /// Upstream's defaults: 1000 items, 3 seconds.
    fn default() -> Self {
        Self {
            max_collection_size: 1000,
            requeue_interval: Duration::from_secs(3),
        }
    }
}

/// What a node waits for before it evaluates: the difference between the two kinds of graph
/// kro runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Gating {
    /// A node evaluates once every dependency is ready (its `readyWhen` holds): how instances
    /// of an RGD reconcile, as upstream kro does.
    #[default]
    Readiness,
    /// A node evaluates once every dependency was applied and its object observed, ready or
    /// not (the Graph kind of KREP-024: readiness feeds only the Ready condition).
    Scope,
}

/// Everything [`crate::core::plan`] reads. Time is an input: the core never reads a clock.
#[derive(Clone, Copy)]
pub struct PlanInput<'a> {
    /// The compiled graph.
    pub graph: &'a Graph,
    /// The full instance object (metadata, spec and the current status).
    pub instance: &'a Value,
    /// The observed cluster state.
    pub view: &'a dyn ClusterView,
    /// The pass's time, RFC 3339 (stamped on condition transitions).
    pub now: &'a str,
    /// The kro version (labels and ApplySet tooling).
    pub kro_version: &'a str,
    /// The RGD the instance belongs to.
    pub rgd: &'a RgdIdentity,
    /// Bounds and intervals.
    pub limits: Limits,
    /// The instance's current status, for stable `lastTransitionTime` and `readyAfterSeconds`.
    pub previous_status: Option<&'a Value>,
    /// What nodes wait for.
    pub gating: Gating,
}
