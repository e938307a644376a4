//! The reconcile of a live instance as a sans-I/O state machine.
//!
//! [`Reconcile`] makes every decision of one reconcile and performs none of its requests. The
//! driver (kro-controller's executor against a cluster, [`crate::preview`] offline) asks for
//! the next [`Step`], carries it out, and hands back the server's answer as a [`Response`]:
//!
//! 1. **Plan** against the driver's knowledge ([`KnownState`]) under the reconcile's overlay.
//!    Reads nobody can answer come out as [`Step::Read`]; their answers go into the overlay and
//!    the graph is planned again. A plan made while reads were missing is never acted on.
//! 2. **Prepare the instance**: [`Step::WriteInstanceMetadata`] with kro's labels and
//!    finalizer (first round) and the ApplySet parent metadata, written *before* any child is
//!    applied so a crash never forgets where members may be. A waiting instance still becomes
//!    an ApplySet parent on the first round, as upstream makes it.
//! 3. **Apply** what changed since the last round ([`Step::Apply`]); a change the driver
//!    applied before to an object that still holds it needs no request, and the machine
//!    answers it itself ([`KnownState::applied_before`], counted by
//!    [`Reconcile::skipped_applies`]). An object the driver does not know is applied without
//!    force first; on a conflict the machine reads it and lets `kro_applyset::check_membership`
//!    decide between a forced apply and the node's error (see `takeover`). Accepted objects
//!    go into
//!    the overlay, so a layer whose objects are ready at once unlocks the next layer in the
//!    same reconcile; rejections and refusals become that node's error. Rounds repeat until a
//!    plan brings nothing new, the instance is suspended, or the round bound is reached.
//! 4. **Prune** when the plan allows it and nothing failed: [`Step::ListMembers`], then one
//!    [`Step::Delete`] per wave (highest apply order first, UID preconditions), then the
//!    shrunk ApplySet annotations, unless a UID conflict leaves that for later.
//! 5. **Write the status** ([`Step::WriteStatus`]) when it differs from the stored one, with
//!    failed nodes marked; after a conflict the instance is read again ([`Step::ReadInstance`])
//!    and the write retried over it, at most [`MAX_STATUS_ATTEMPTS`] times. Then
//!    [`Step::Done`] with the [`Outcome`].
//!
//! [`DeletionReconcile`] does the same for an instance marked for deletion, and [`Sweep`] for
//! the children of an instance that is gone (no instance left to write to).
//!
//! The machine reads no clock (`now` is given) and keeps no global state; its step sequence
//! for a given instance, knowledge and answers is deterministic (snapshot-tested).

#[cfg(test)]
mod apply_tests;
mod deletion;
mod errors;
#[cfg(test)]
mod gating_tests;
mod overlay;
mod status;
#[cfg(test)]
mod status_tests;
#[cfg(test)]
mod tests;
mod view;
mod writes;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use kro_api::{Instance, InstanceError};
use kro_applyset::{ChildMeta, Deletion, ObjectKey, PrunePlan, PruneScope};
use kro_cel::Activation;
use kro_graph::{Graph, NodeKind};
use serde_json::Value;

use crate::core::{
    ApplyItem, Gating, InstanceState, KindMapping, Limits, Plan, PlanInput, PrunePlanInputs,
    Requeue, RgdIdentity, plan_with_activation,
};

pub use deletion::{
    DELETION_SAFETY_REQUEUE, DeletionDone, DeletionError, DeletionReconcile, DeletionResponse,
    DeletionStep, FinalizerAnswer, never_applied,
};
pub use errors::{REASON_APPLY_FAILED, REASON_FORBIDDEN, mark_apply_errors, mark_node_errors};
pub use overlay::Read;
pub use status::MAX_STATUS_ATTEMPTS;
pub use sweep::{Sweep, SweepResponse, SweepStep, VanishedInstance};
pub use view::{
    Complete, ExternalRead, Known, KnownState, Listing, RefSelection, selects_only_kro_children,
};
pub use writes::{adopt_instance_response, instance_patch_body};

use errors::NodeErrors;
use overlay::Overlay;
use status::StatusWrite;
use view::MachineView;
use writes::{labels_body, parent_body};

/// What a [`Reconcile`] needs besides the graph and the instance.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The kro version stamped on labels and the ApplySet tooling annotation.
    pub kro_version: String,
    /// The RGD whose instance this is.
    pub rgd: RgdIdentity,
    /// Collection size limit and retry interval given to the planner.
    pub limits: Limits,
    /// At most this many rounds of reads before a plan must settle.
    pub max_read_rounds: usize,
    /// At most this many apply rounds (plan → apply → plan) per reconcile.
    pub max_apply_rounds: usize,
    /// Delay before retrying after a failed apply (the cause, such as an admission policy,
    /// may go away without any event on the instance).
    pub apply_error_retry: Duration,
    /// What nodes wait for: readiness for RGD instances ([`Reconcile::new`]), scope for a
    /// Graph ([`Reconcile::for_graph`]).
    pub gating: Gating,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            kro_version: crate::core::DEFAULT_KRO_VERSION.to_owned(),
            rgd: RgdIdentity::default(),
            limits: Limits::default(),
            max_read_rounds: 16,
            max_apply_rounds: 32,
            apply_error_retry: Duration::from_secs(5),
            gating: Gating::Readiness,
        }
    }
}

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Perform these reads (GET or LIST, independent of each other) and answer
    /// [`Response::Read`] with one answer per read, in order.
    Read(Vec<Read>),
    /// Server-side apply `labels` with field manager `kro.run/labeller` and `parent` with
    /// `kro.run/applyset-parent` (force) to the instance, each when given; answer
    /// [`Response::InstanceWritten`] with the instance the last write returned.
    WriteInstanceMetadata {
        /// kro's labels and finalizer.
        labels: Option<Value>,
        /// The ApplySet parent labels and annotations.
        parent: Option<Value>,
    },
    /// Server-side apply each request's item (field manager `kro.run/applyset`, forced when
    /// the request says so; requests of one step may go concurrently); answer
    /// [`Response::Applied`] with one answer per request, in order.
    Apply(Vec<ApplyRequest>),
    /// List the ApplySet members in this scope; answer [`Response::Members`].
    ListMembers(PruneScope),
    /// Delete these objects, each with its UID precondition (one wave: they may go
    /// concurrently); answer [`Response::Deleted`].
    Delete(Vec<Deletion>),
    /// Write this `.status` through the status subresource over [`Reconcile::instance`] (its
    /// `resourceVersion` included); answer [`Response::StatusWritten`], or
    /// [`Response::StatusConflict`] when the server refused it with 409 Conflict.
    WriteStatus(Value),
    /// Read the instance again (GET); answer [`Response::InstanceRead`].
    ReadInstance,
    /// The reconcile is over.
    Done(Outcome),
}

/// One server-side apply the driver must send.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyRequest {
    /// What to apply.
    pub item: ApplyItem,
    /// Whether to force field ownership. An object the driver does not know may belong to
    /// someone else: its first apply goes without force, and a conflict
    /// ([`ApplyAnswer::Conflict`]) makes the machine read the object and check whether kro may
    /// take it over before a forced apply.
    pub force: bool,
}

/// The answer to one [`Read`].
#[derive(Debug, Clone, PartialEq)]
pub enum ReadAnswer {
    /// The object of a GET.
    Object(Arc<Value>),
    /// A GET found nothing (or the kind is not served).
    Absent,
    /// The objects of a LIST.
    Objects(Vec<Arc<Value>>),
    /// 403 Forbidden, with the server's message (which names the verb and the resource).
    Refused(String),
}

/// The answer to one apply.
#[derive(Debug, Clone, PartialEq)]
pub enum ApplyAnswer {
    /// Accepted: the object as the server returned it.
    Applied(Arc<Value>),
    /// Rejected by the server (validation, admission, a conflict with another ApplySet).
    Rejected(String),
    /// 403 Forbidden: a permission the operator lacks.
    Forbidden(String),
    /// An unforced apply was refused with 409 Conflict (another field manager owns a field
    /// kro sets), with the server's message.
    Conflict(String),
}

/// The answer to one delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteAnswer {
    /// Deleted, or already gone.
    Deleted,
    /// The object's UID differs from the member's: a new object took the name.
    UidConflict,
}

/// The driver's answer to the last [`Step`].
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// One answer per [`Step::Read`] read, in order.
    Read(Vec<ReadAnswer>),
    /// The instance after [`Step::WriteInstanceMetadata`].
    InstanceWritten(Value),
    /// One answer per [`Step::Apply`] item, in order.
    Applied(Vec<ApplyAnswer>),
    /// The members found for [`Step::ListMembers`].
    Members(Vec<ChildMeta>),
    /// One answer per [`Step::Delete`] object, in order.
    Deleted(Vec<DeleteAnswer>),
    /// The instance after [`Step::WriteStatus`]; `None` when it is gone.
    StatusWritten(Option<Value>),
    /// [`Step::WriteStatus`] was refused with 409 Conflict: the instance changed since it was
    /// read.
    StatusConflict,
    /// The instance read for [`Step::ReadInstance`]; `None` when it is gone.
    InstanceRead(Option<Value>),
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

/// What a deleting instance waits for: every member of the wave being deleted.
pub fn deletion_waiting_on(wave: &kro_applyset::DeletionWave) -> Vec<WaitingOn> {
    wave.members
        .iter()
        .map(|member| WaitingOn {
            id: member.node_id.clone().unwrap_or_default(),
            state: InstanceState::Deleting.as_str(),
            reason: format!(
                "waiting for {} to be deleted (apply-order wave {})",
                member.key, wave.order
            ),
        })
        .collect()
}

/// How a reconcile ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The instance state written to `status.state`.
    pub state: InstanceState,
    /// Reconcile again after this delay even without an event (pending data, errors, UID
    /// conflicts). `None`: the next watch event is enough.
    pub requeue_after: Option<Duration>,
    /// The resources that are not ready, in topological order.
    pub waiting_on: Vec<WaitingOn>,
    /// Every external reference the plans read: what the instance must watch.
    pub external_reads: BTreeSet<ExternalRead>,
    /// Whether the apply rounds reached a plan that brings nothing new (not cut by the bound).
    pub converged: bool,
}

/// A step the machine cannot take.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum MachineError {
    /// Reads kept missing after the bound on read rounds.
    #[error("reads did not settle after {rounds} rounds; still missing: {missing}")]
    UnsettledReads {
        /// The bound.
        rounds: usize,
        /// The reads still missing.
        missing: String,
    },
    /// A response that does not answer the last step.
    #[error("the response does not answer the last step: expected {expected}")]
    UnexpectedResponse {
        /// What the last step expects.
        expected: &'static str,
    },
    /// A write's response that is not this instance (or no instance at all).
    #[error("the instance written is not the instance reconciled")]
    OtherInstance(#[from] InstanceError),
    /// A response with another number of answers than the step asked for.
    #[error("{step} asked for {asked} answers, got {got}")]
    AnswerCount {
        /// The step.
        step: &'static str,
        /// How many it asked for.
        asked: usize,
        /// How many came.
        got: usize,
    },
    /// The status write conflicted with another writer of the instance on every attempt.
    #[error("the status write conflicted with another write of the instance {attempts} times")]
    StatusConflicts {
        /// How many attempts were made.
        attempts: usize,
    },
}

/// Where the machine is.
#[derive(Debug)]
enum Phase {
    /// The next step plans.
    Plan,
    Reading(Vec<Read>),
    /// Writing instance metadata; then apply these requests, or finish when `None`.
    Preparing(Option<Vec<ApplyRequest>>),
    /// The next step applies these requests.
    ApplyNext(Vec<ApplyRequest>),
    Applying(Vec<ApplyRequest>),
    /// The next step reads these items' objects, whose unforced apply met a conflict.
    TakeOverNext(Vec<ApplyItem>),
    /// Reading them, to decide whether kro may take them over.
    CheckingTakeOver(Vec<ApplyItem>),
    Finishing,
    Listing(PrunePlanInputs),
    /// The next step deletes wave `wave` or later of `plan`.
    Pruning(Pruning),
    Deleting(Pruning),
    WritingCompleted,
    WritingStatus(StatusWrite),
    /// The next step reads the instance again, then retries this status write.
    RereadNext(StatusWrite),
    Rereading(StatusWrite),
    /// The next step writes this status.
    WriteStatusNext(StatusWrite),
    /// The reconcile cannot go on (a status write that conflicted on its last attempt).
    Failed(MachineError),
    Done,
}

/// One reconcile of a live instance (see the module documentation).
#[derive(Debug)]
pub struct Reconcile<'g> {
    graph: &'g Graph,
    instance: Instance,
    now: String,
    settings: Settings,
    targets: BTreeMap<String, KindMapping>,
    external_kinds: BTreeSet<(String, String)>,
    overlay: Overlay,
    applied: Vec<ApplyItem>,
    errors: NodeErrors,
    external_reads: BTreeSet<ExternalRead>,
    apply_rounds: usize,
    read_rounds: usize,
    plan_passes: usize,
    instance_prepared: bool,
    last: Option<(Plan, Activation)>,
    converged: bool,
    prune_started: bool,
    prune_conflicts: bool,
    skipped_applies: usize,
    phase: Phase,
}

impl<'g> Reconcile<'g> {
    /// A reconcile of `instance` (of the graph's kind) at `now` (RFC 3339, used for condition
    /// transition times).
    pub fn new(graph: &'g Graph, instance: Instance, now: &str, settings: Settings) -> Self {
        let mut targets = BTreeMap::new();
        let mut external_kinds = BTreeSet::new();
        for node in graph.resources() {
            let target = node.mapping();
            if matches!(node.kind(), NodeKind::External(_)) {
                external_kinds.insert((target.group.clone(), target.kind.clone()));
            }
            targets.insert(node.id().to_owned(), target);
        }
        Self {
            graph,
            instance,
            now: now.to_owned(),
            settings,
            targets,
            external_kinds,
            overlay: Overlay::default(),
            applied: Vec::new(),
            errors: NodeErrors::default(),
            external_reads: BTreeSet::new(),
            apply_rounds: 0,
            read_rounds: 0,
            plan_passes: 0,
            instance_prepared: false,
            last: None,
            converged: false,
            prune_started: false,
            prune_conflicts: false,
            skipped_applies: 0,
            phase: Phase::Plan,
        }
    }

    /// A reconcile of a Graph object (the Graph kind of KREP-024) at `now`: the same steps as
    /// [`Reconcile::new`], with the Graph as the owner (ApplySet parent, finalizer and status
    /// holder) and nodes gated on scope ([`Gating::Scope`]): a node evaluates once what it
    /// references was applied and observed, ready or not. `graph` is the Graph's compiled node
    /// graph, which has no `schema` input and no status fields of its own.
    pub fn for_graph(graph: &'g Graph, owner: Instance, now: &str, settings: Settings) -> Self {
        Self::new(
            graph,
            owner,
            now,
            Settings {
                gating: Gating::Scope,
                ..settings
            },
        )
    }

    /// The instance as the machine last saw it (updated by every write's response).
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// The last settled plan and the CEL variables it ended with.
    pub fn last_plan(&self) -> Option<&(Plan, Activation)> {
        self.last.as_ref()
    }

    /// The last settled plan, taken out of the machine.
    pub fn into_last_plan(self) -> Option<(Plan, Activation)> {
        self.last
    }

    /// How many planning passes ran (including the ones repeated after reads).
    pub fn plan_passes(&self) -> usize {
        self.plan_passes
    }

    /// How many changed items the machine answered itself because the driver had applied the
    /// same body before and the object still held it ([`KnownState::applied_before`]).
    pub fn skipped_applies(&self) -> usize {
        self.skipped_applies
    }

    /// The target (kind, plural, scope) of resource node `id`.
    pub fn target(&self, node_id: &str) -> Option<&KindMapping> {
        self.targets.get(node_id)
    }

    /// The object this reconcile read or applied for `key`, if any.
    pub fn observed(&self, target: &KindMapping, key: &ObjectKey) -> Option<Arc<Value>> {
        self.overlay
            .get(target, key.namespace.as_deref(), &key.name)
            .cloned()
            .flatten()
    }

    /// The next step. `known` is the driver's knowledge of the cluster, consulted only when
    /// the step plans.
    ///
    /// # Errors
    /// [`MachineError::UnsettledReads`] when reads keep missing after the bound;
    /// [`MachineError::UnexpectedResponse`] when called while an answer is due.
    pub fn step(&mut self, known: &dyn KnownState) -> Result<Step, MachineError> {
        match std::mem::replace(&mut self.phase, Phase::Plan) {
            Phase::Plan => self.plan_step(known),
            Phase::Finishing => Ok(self.finish_step()),
            Phase::Pruning(pruning) => Ok(self.prune_step(pruning)),
            Phase::ApplyNext(items) => {
                self.phase = Phase::Applying(items.clone());
                Ok(Step::Apply(items))
            }
            Phase::TakeOverNext(contested) => Ok(self.take_over_reads(contested)),
            Phase::Done => {
                self.phase = Phase::Done;
                Ok(Step::Done(self.outcome()))
            }
            Phase::RereadNext(write) => {
                self.phase = Phase::Rereading(write);
                Ok(Step::ReadInstance)
            }
            Phase::WriteStatusNext(write) => {
                let status = write.status.clone();
                self.phase = Phase::WritingStatus(write);
                Ok(Step::WriteStatus(status))
            }
            Phase::Failed(error) => {
                self.phase = Phase::Failed(error.clone());
                Err(error)
            }
            waiting => {
                let expected = waiting.expected();
                self.phase = waiting;
                Err(MachineError::UnexpectedResponse { expected })
            }
        }
    }

    /// Hands back the driver's answer to the last step.
    ///
    /// # Errors
    /// A response that does not answer the last step, or with the wrong number of answers.
    pub fn respond(&mut self, response: Response) -> Result<(), MachineError> {
        match (std::mem::replace(&mut self.phase, Phase::Plan), response) {
            (Phase::Reading(reads), Response::Read(answers)) => {
                if let Err(error) = check_count("Read", reads.len(), answers.len()) {
                    self.phase = Phase::Reading(reads);
                    return Err(error);
                }
                for (read, answer) in reads.iter().zip(answers) {
                    self.overlay.answer(read, answer);
                }
            }
            (Phase::Preparing(next), Response::InstanceWritten(instance)) => {
                self.instance.adopt(instance)?;
                self.phase = match next {
                    // Every change was applied before: the next round plans.
                    Some(items) if items.is_empty() => Phase::Plan,
                    Some(items) => Phase::ApplyNext(items),
                    None => Phase::Finishing,
                };
            }
            (Phase::Applying(items), Response::Applied(answers)) => {
                if let Err(error) = check_count("Apply", items.len(), answers.len()) {
                    self.phase = Phase::Applying(items);
                    return Err(error);
                }
                self.answer_applies(items, answers);
            }
            (Phase::CheckingTakeOver(contested), Response::Read(answers)) => {
                if let Err(error) = check_count("Read", contested.len(), answers.len()) {
                    self.phase = Phase::CheckingTakeOver(contested);
                    return Err(error);
                }
                self.check_take_over(contested, answers)?;
            }
            (Phase::Listing(prune), Response::Members(members)) => {
                let plan = prune.plan(&members);
                self.phase = Phase::Pruning(Pruning {
                    prune,
                    plan,
                    wave: 0,
                });
            }
            (Phase::Deleting(pruning), Response::Deleted(answers)) => {
                let asked = wave_deletions(&pruning.plan, pruning.wave).len();
                if let Err(error) = check_count("Delete", asked, answers.len()) {
                    self.phase = Phase::Deleting(pruning);
                    return Err(error);
                }
                self.prune_conflicts |= answers.contains(&DeleteAnswer::UidConflict);
                self.phase = Phase::Pruning(Pruning {
                    wave: pruning.wave + 1,
                    ..pruning
                });
            }
            (Phase::WritingCompleted, Response::InstanceWritten(instance)) => {
                self.instance.adopt(instance)?;
                self.phase = Phase::Finishing;
            }
            (Phase::WritingStatus(_), Response::StatusWritten(instance)) => {
                if let Some(instance) = instance {
                    self.instance.adopt(instance)?;
                }
                self.phase = Phase::Done;
            }
            (Phase::WritingStatus(write), Response::StatusConflict) => {
                self.phase = match write.after_conflict() {
                    Ok(write) => Phase::RereadNext(write),
                    Err(error) => Phase::Failed(error),
                };
            }
            (Phase::Rereading(write), Response::InstanceRead(fresh)) => {
                // A vanished instance has no status to write.
                self.phase = match fresh {
                    Some(fresh) => {
                        let next = write.retry_over(&fresh);
                        match self.instance.adopt(fresh) {
                            Ok(()) => next.map_or(Phase::Done, Phase::WriteStatusNext),
                            // Another object took the name: the instance reconciled is gone.
                            Err(InstanceError::OtherObject { .. }) => Phase::Done,
                            Err(error) => Phase::Failed(error.into()),
                        }
                    }
                    None => Phase::Done,
                };
            }
            (phase, _) => {
                let expected = phase.expected();
                self.phase = phase;
                return Err(MachineError::UnexpectedResponse { expected });
            }
        }
        Ok(())
    }
}

fn check_count(step: &'static str, asked: usize, got: usize) -> Result<(), MachineError> {
    if asked == got {
        Ok(())
    } else {
        Err(MachineError::AnswerCount { step, asked, got })
    }
}

/// A prune in progress.
#[derive(Debug)]
struct Pruning {
    prune: PrunePlanInputs,
    plan: PrunePlan,
    /// The next wave to delete.
    wave: usize,
}

/// The deletions of wave `wave` the driver must send (objects already terminating are left
/// to finish).
fn wave_deletions(plan: &PrunePlan, wave: usize) -> Vec<Deletion> {
    plan.waves.get(wave).map_or_else(Vec::new, |wave| {
        wave.deletions
            .iter()
            .filter(|deletion| !deletion.terminating)
            .cloned()
            .collect()
    })
}

impl Phase {
    fn expected(&self) -> &'static str {
        match self {
            Self::Plan
            | Self::Finishing
            | Self::Pruning(_)
            | Self::ApplyNext(_)
            | Self::TakeOverNext(_)
            | Self::RereadNext(_)
            | Self::WriteStatusNext(_)
            | Self::Failed(_)
            | Self::Done => "no response (call step)",
            Self::Reading(_) | Self::CheckingTakeOver(_) => "Response::Read",
            Self::Preparing(_) | Self::WritingCompleted => "Response::InstanceWritten",
            Self::Applying(_) => "Response::Applied",
            Self::Listing(_) => "Response::Members",
            Self::Deleting(_) => "Response::Deleted",
            Self::WritingStatus(_) => "Response::StatusWritten or Response::StatusConflict",
            Self::Rereading(_) => "Response::InstanceRead",
        }
    }
}

mod steps;
mod sweep;
#[cfg(test)]
mod sweep_tests;
mod takeover;
