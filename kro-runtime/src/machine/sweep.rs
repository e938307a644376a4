//! Sweeps of children whose instance is gone with nobody left to delete them, as a sans-I/O
//! state machine. There is no instance to write a status or a finalizer to: a sweep lists,
//! decides with the pure rules of [`crate::core`], deletes with UID preconditions, and ends.
//!
//! - [`Sweep::vanished`]: an instance a watch saw disappear while it still carried kro's
//!   finalizer (its last state is known). Nothing is deleted when the last state shows kro's
//!   deletion ran ([`VanishedInstance::Finalized`]), when no child was ever applied
//!   ([`VanishedInstance::NeverApplied`]), or while an instance of that name exists
//!   ([`VanishedInstance::StillThere`]: it adopts or prunes them). Otherwise the members of
//!   its ApplySet are listed from the server and deleted, highest apply order first.
//! - [`Sweep::orphans`]: instances that disappeared while no watch ran (no last state). kro's
//!   children of the graph's kinds are listed *before* the instances, so a child of an
//!   instance created meanwhile never looks orphaned; [`crate::core::orphaned_instances`]
//!   decides, and each orphaned instance's members are deleted in turn.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use kro_api::labels::{INSTANCE_GROUP_LABEL, INSTANCE_KIND_LABEL, OWNED_LABEL};
use kro_api::{GroupKind, Instance};
use kro_applyset::{ChildMeta, Deletion, ObjectKey, ParentRef, PruneScope};
use kro_graph::{Graph, NodeKind, ResourceNode};
use serde_json::Value;

use super::{DeleteAnswer, DeletionError, MachineError, check_count, never_applied};
use crate::core::{
    KindMapping, LabelSelector, LiveInstance, OrphanedInstance, instance_deletion_scope,
    orphaned_instances, vanished_instance_deletions, vanished_unfinalized,
};

/// What a sweep of a vanished instance found, and what it deleted.
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
    /// The members it left behind that were deleted (a member recreated under another UID is
    /// kept); for an orphan sweep, those of every orphaned instance.
    Swept(Vec<ObjectKey>),
}

/// What the driver must do next for a sweep.
#[derive(Debug, Clone, PartialEq)]
pub enum SweepStep {
    /// Look the vanished instance up by its last state's name (its metadata is enough);
    /// answer [`SweepResponse::InstanceExists`].
    ReadInstance,
    /// List the members of the vanished instance's ApplySet from the server, not from a
    /// watch cache (which may not have reported a child created a moment ago); answer
    /// [`SweepResponse::Listed`] with the objects.
    ListMembers(PruneScope),
    /// List, in every namespace, the metadata of the objects of these kinds matching
    /// `selector`; answer [`SweepResponse::Listed`].
    ListChildren {
        /// The kinds the graph's templates apply, one per group and kind.
        kinds: Vec<KindMapping>,
        /// kro's ownership labels for the graph's instance kind.
        selector: LabelSelector,
    },
    /// List the metadata of every instance of the graph's kind, in every namespace; answer
    /// [`SweepResponse::Listed`].
    ListInstances,
    /// Delete what `instance` left behind, each object with its UID precondition, in this
    /// order (highest apply order first); answer [`SweepResponse::Deleted`].
    Delete {
        /// The instance that is gone.
        instance: ParentRef,
        /// Its UID.
        uid: String,
        /// The deletions.
        deletions: Vec<Deletion>,
    },
    /// The sweep is over.
    Done(VanishedInstance),
}

/// The driver's answer to the last [`SweepStep`].
#[derive(Debug, Clone, PartialEq)]
pub enum SweepResponse {
    /// Whether an instance of that name exists.
    InstanceExists(bool),
    /// The objects (or their metadata, with `apiVersion` and `kind`) listed.
    Listed(Vec<Value>),
    /// One answer per deletion, in order.
    Deleted(Vec<DeleteAnswer>),
}

#[derive(Debug)]
enum Phase {
    /// A vanished instance's last state, not looked at yet.
    Vanished(Instance),
    /// The next step lists the children of the graph's kinds.
    Orphans {
        kinds: Vec<KindMapping>,
        selector: LabelSelector,
        instance_kind: GroupKind,
    },
    ReadingInstance(Instance),
    ListingMembers(Instance),
    ListingChildren(GroupKind),
    ListingInstances(Vec<ChildMeta>, GroupKind),
    Deleting {
        deletions: Vec<Deletion>,
        rest: VecDeque<OrphanedInstance>,
    },
    Done(VanishedInstance),
}

/// One sweep (see the module documentation).
#[derive(Debug)]
pub struct Sweep {
    phase: Phase,
    /// The step an answer led to, handed out by the next [`Sweep::step`].
    queued: Option<SweepStep>,
    swept: Vec<ObjectKey>,
}

impl Sweep {
    /// The sweep of an instance whose deletion a watch reported, from its last state.
    pub fn vanished(last_state: Instance) -> Self {
        Self {
            phase: Phase::Vanished(last_state),
            queued: None,
            swept: Vec::new(),
        }
    }

    /// The sweep of the children of every instance of `graph`'s kind that no longer exists.
    pub fn orphans(graph: &Graph) -> Self {
        let gvk = graph.instance().gvk();
        let mut seen = BTreeSet::new();
        let kinds = graph
            .resources()
            .iter()
            .filter(|node| matches!(node.kind(), NodeKind::Template))
            .map(ResourceNode::mapping)
            .filter(|target| seen.insert((target.group.clone(), target.kind.clone())))
            .collect();
        let selector = LabelSelector::from_labels(BTreeMap::from([
            (OWNED_LABEL.to_owned(), "true".to_owned()),
            (INSTANCE_GROUP_LABEL.to_owned(), gvk.group.clone()),
            (INSTANCE_KIND_LABEL.to_owned(), gvk.kind.clone()),
        ]));
        Self {
            phase: Phase::Orphans {
                kinds,
                selector,
                instance_kind: gvk.group_kind(),
            },
            queued: None,
            swept: Vec::new(),
        }
    }

    /// The next step.
    ///
    /// # Errors
    /// [`DeletionError::Blocked`] when a vanished instance's inventory does not validate
    /// (nothing is deleted); a protocol error when an answer is due.
    pub fn step(&mut self) -> Result<SweepStep, DeletionError> {
        if let Some(step) = self.queued.take() {
            return Ok(step);
        }
        match std::mem::replace(&mut self.phase, Phase::Done(VanishedInstance::Finalized)) {
            Phase::Vanished(last_state) => Ok(self.look_at(last_state)),
            Phase::Orphans {
                kinds,
                selector,
                instance_kind,
            } => {
                self.phase = Phase::ListingChildren(instance_kind);
                Ok(SweepStep::ListChildren { kinds, selector })
            }
            Phase::Done(found) => Ok(self.done(found)),
            waiting => {
                let expected = waiting.expected();
                self.phase = waiting;
                Err(MachineError::UnexpectedResponse { expected }.into())
            }
        }
    }

    /// Hands back the driver's answer to the last step.
    ///
    /// # Errors
    /// [`DeletionError::Blocked`] when the listed members show the inventory is invalid; a
    /// protocol error for an answer that does not fit the step.
    pub fn respond(&mut self, response: SweepResponse) -> Result<(), DeletionError> {
        let next = self.next_after(response)?;
        self.queued = Some(next);
        Ok(())
    }

    fn look_at(&mut self, last_state: Instance) -> SweepStep {
        if !vanished_unfinalized(last_state.object()) {
            return self.done(VanishedInstance::Finalized);
        }
        if never_applied(last_state.object()) {
            return self.done(VanishedInstance::NeverApplied);
        }
        self.phase = Phase::ReadingInstance(last_state);
        SweepStep::ReadInstance
    }

    fn next_after(&mut self, response: SweepResponse) -> Result<SweepStep, DeletionError> {
        match (
            std::mem::replace(&mut self.phase, Phase::Done(VanishedInstance::Finalized)),
            response,
        ) {
            (Phase::ReadingInstance(_), SweepResponse::InstanceExists(true)) => {
                Ok(self.done(VanishedInstance::StillThere))
            }
            (Phase::ReadingInstance(last_state), SweepResponse::InstanceExists(false)) => {
                let scope = instance_deletion_scope(last_state.object())
                    .map_err(|reason| DeletionError::Blocked { reason })?;
                self.phase = Phase::ListingMembers(last_state);
                Ok(SweepStep::ListMembers(scope))
            }
            (Phase::ListingMembers(last_state), SweepResponse::Listed(members)) => {
                let blocked = |reason| DeletionError::Blocked { reason };
                let deletions =
                    vanished_instance_deletions(last_state.object(), &members).map_err(blocked)?;
                let gone = OrphanedInstance {
                    parent: ParentRef::from(last_state.key()),
                    uid: last_state.uid().to_owned(),
                    deletions,
                };
                Ok(self.next_instance(VecDeque::from([gone])))
            }
            (Phase::ListingChildren(instance_kind), SweepResponse::Listed(children)) => {
                // An object that is not a valid ApplySet member is no member to delete.
                let children: Vec<ChildMeta> = children
                    .iter()
                    .filter_map(|child| ChildMeta::from_object(child).ok())
                    .collect();
                if children.is_empty() {
                    return Ok(self.done(VanishedInstance::Swept(Vec::new())));
                }
                self.phase = Phase::ListingInstances(children, instance_kind);
                Ok(SweepStep::ListInstances)
            }
            (
                Phase::ListingInstances(children, instance_kind),
                SweepResponse::Listed(instances),
            ) => {
                let live: Vec<LiveInstance> = instances.iter().filter_map(live_instance).collect();
                let orphans =
                    orphaned_instances(&instance_kind.group, &instance_kind.kind, &live, &children);
                Ok(self.next_instance(orphans.into()))
            }
            (Phase::Deleting { deletions, rest }, SweepResponse::Deleted(answers)) => {
                if let Err(error) = check_count("Delete", deletions.len(), answers.len()) {
                    self.phase = Phase::Deleting { deletions, rest };
                    return Err(error.into());
                }
                // A member recreated under another UID is not the one that was left behind.
                self.swept.extend(
                    deletions
                        .into_iter()
                        .zip(answers)
                        .filter(|(_, answer)| *answer == DeleteAnswer::Deleted)
                        .map(|(deletion, _)| deletion.key),
                );
                Ok(self.next_instance(rest))
            }
            (phase, _) => {
                let expected = phase.expected();
                self.phase = phase;
                Err(MachineError::UnexpectedResponse { expected }.into())
            }
        }
    }

    /// The deletions of the next gone instance that left something, or the end.
    fn next_instance(&mut self, mut gone: VecDeque<OrphanedInstance>) -> SweepStep {
        while let Some(instance) = gone.pop_front() {
            if instance.deletions.is_empty() {
                continue;
            }
            self.phase = Phase::Deleting {
                deletions: instance.deletions.clone(),
                rest: gone,
            };
            return SweepStep::Delete {
                instance: instance.parent,
                uid: instance.uid,
                deletions: instance.deletions,
            };
        }
        let swept = std::mem::take(&mut self.swept);
        self.done(VanishedInstance::Swept(swept))
    }

    fn done(&mut self, found: VanishedInstance) -> SweepStep {
        self.phase = Phase::Done(found.clone());
        SweepStep::Done(found)
    }
}

impl Phase {
    fn expected(&self) -> &'static str {
        match self {
            Self::Vanished(_) | Self::Orphans { .. } | Self::Done(_) => "no response (call step)",
            Self::ReadingInstance(_) => "SweepResponse::InstanceExists",
            Self::ListingMembers(_) | Self::ListingChildren(_) | Self::ListingInstances(..) => {
                "SweepResponse::Listed"
            }
            Self::Deleting { .. } => "SweepResponse::Deleted",
        }
    }
}

/// An instance as the instance list reports it (metadata only suffices).
fn live_instance(object: &Value) -> Option<LiveInstance> {
    let text = |field: &str| object["metadata"][field].as_str().map(str::to_owned);
    Some(LiveInstance {
        namespace: text("namespace").filter(|namespace| !namespace.is_empty()),
        name: text("name")?,
        uid: text("uid")?,
    })
}
