//! The reconcile of a deleting instance as a sans-I/O state machine. The graph is never
//! evaluated: the instance's ApplySet inventory says where the members are, the highest
//! apply-order wave is deleted first, and kro's finalizer is removed once nothing is left.
//!
//! Steps: [`DeletionStep::ListMembers`] (unless the instance never got its ApplySet metadata,
//! so no child was ever applied), then either [`DeletionStep::Delete`] of one wave followed by
//! [`DeletionStep::WriteStatus`] (when the status changed; after a conflict the instance is
//! read again and the write retried, as for a live instance) and a wait for the wave's
//! deletion events, or [`DeletionStep::RemoveFinalizer`] when no member is left.

use std::time::Duration;

use kro_api::labels::{APPLYSET_ID_LABEL, FINALIZER, TOOLING_ANNOTATION};
use kro_api::{Instance, InstanceError};
use kro_applyset::{Deletion as MemberDeletion, PruneScope};
use serde_json::{Value, json};

use super::{MachineError, StatusWrite, WaitingOn, deletion_waiting_on};
use crate::core::view::{object_annotations, object_labels};
use crate::core::{DeletionOutcome, carries_finalizer, instance_deletion_scope, plan_deletion};

/// How long a deleting instance waits for its wave's deletion events before looking again.
pub const DELETION_SAFETY_REQUEUE: Duration = Duration::from_secs(10);
/// The wait when the deleted kinds are not watched yet (right after a restart a watch still
/// listing reports deletions only as part of its initial list, which wakes nobody).
const UNWATCHED_DELETION_REQUEUE: Duration = Duration::from_secs(1);
/// The wait after the finalizer removal lost a race with another write of the instance.
const FINALIZER_CONFLICT_REQUEUE: Duration = Duration::from_millis(200);

/// What the driver must do next for a deleting instance.
#[derive(Debug, Clone, PartialEq)]
pub enum DeletionStep {
    /// List the members in this scope; answer [`DeletionResponse::Members`] with the objects.
    ListMembers(PruneScope),
    /// Delete these members, each with its UID precondition; answer
    /// [`DeletionResponse::Deleted`].
    Delete(Vec<MemberDeletion>),
    /// Write this `.status` through the status subresource over
    /// [`DeletionReconcile::instance`]; answer [`DeletionResponse::StatusWritten`], or
    /// [`DeletionResponse::StatusConflict`] when the server refused it with 409 Conflict.
    WriteStatus(Value),
    /// Read the instance again (GET); answer [`DeletionResponse::InstanceRead`].
    ReadInstance,
    /// Merge-patch the instance with this body (kro's finalizer removed, the others kept,
    /// conditional on the `resourceVersion` it carries); answer
    /// [`DeletionResponse::FinalizerRemoved`].
    RemoveFinalizer(Value),
    /// The step is over.
    Done(DeletionDone),
}

/// The driver's answer to the last [`DeletionStep`].
#[derive(Debug, Clone, PartialEq)]
pub enum DeletionResponse {
    /// The members listed.
    Members(Vec<Value>),
    /// The wave's deletes were sent; `watched` says whether every deleted kind is watched, so
    /// that the deletion events will wake the instance.
    Deleted {
        /// Whether the deletions' kinds are watched and synced.
        watched: bool,
    },
    /// The instance after the status write; `None` when it is gone.
    StatusWritten(Option<Value>),
    /// The status write was refused with 409 Conflict: the instance changed since it was read.
    StatusConflict,
    /// The instance read for [`DeletionStep::ReadInstance`]; `None` when it is gone.
    InstanceRead(Option<Value>),
    /// How the finalizer removal went.
    FinalizerRemoved(FinalizerAnswer),
}

/// The server's answer to the finalizer removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalizerAnswer {
    /// Removed.
    Removed,
    /// The instance changed meanwhile (409): its own update event retries.
    Conflict,
    /// The instance is gone already.
    Gone,
}

/// How a deletion step ended.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletionDone {
    /// The members of the wave being deleted.
    pub waiting_on: Vec<WaitingOn>,
    /// Look again after this delay even without an event.
    pub requeue_after: Option<Duration>,
    /// Whether kro is done with the instance (finalizer removed, or never held).
    pub finalized: bool,
}

/// Why a deleting instance cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeletionError {
    /// The inventory does not validate: nothing is deleted and the finalizer stays.
    #[error("deletion blocked: {reason}")]
    Blocked {
        /// Why, naming the offending label or annotation.
        reason: String,
    },
    /// A response that does not answer the last step, or a status write that kept
    /// conflicting ([`MachineError::StatusConflicts`]).
    #[error(transparent)]
    Protocol(#[from] MachineError),
}

#[derive(Debug)]
enum Phase {
    Start,
    Listing,
    Deleting {
        waiting_on: Vec<WaitingOn>,
        status: Value,
    },
    WritingStatus {
        waiting_on: Vec<WaitingOn>,
        requeue: Duration,
        write: StatusWrite,
    },
    /// Reading the instance again before retrying `write`.
    Rereading {
        waiting_on: Vec<WaitingOn>,
        requeue: Duration,
        write: StatusWrite,
    },
    RemovingFinalizer,
    Done(DeletionDone),
}

/// One reconcile of a deleting instance (see the module documentation).
#[derive(Debug)]
pub struct DeletionReconcile {
    instance: Instance,
    now: String,
    phase: Phase,
    /// The step an answer led to, handed out by the next [`DeletionReconcile::step`].
    queued: Option<DeletionStep>,
}

impl DeletionReconcile {
    /// A deletion step of `instance` (marked for deletion) at `now` (RFC 3339).
    pub fn new(instance: Instance, now: &str) -> Self {
        Self {
            instance,
            now: now.to_owned(),
            phase: Phase::Start,
            queued: None,
        }
    }

    /// The instance as the machine last saw it.
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// The next step.
    ///
    /// # Errors
    /// [`DeletionError::Blocked`] when the inventory does not validate; a protocol error when
    /// an answer is due.
    pub fn step(&mut self) -> Result<DeletionStep, DeletionError> {
        if let Some(step) = self.queued.take() {
            return Ok(step);
        }
        match std::mem::replace(&mut self.phase, Phase::Start) {
            Phase::Start => {
                if !carries_finalizer(self.instance.object()) {
                    return Ok(self.done(Vec::new(), None, true));
                }
                if never_applied(self.instance.object()) {
                    return Ok(self.remove_finalizer());
                }
                let scope = instance_deletion_scope(self.instance.object())
                    .map_err(|reason| DeletionError::Blocked { reason })?;
                self.phase = Phase::Listing;
                Ok(DeletionStep::ListMembers(scope))
            }
            Phase::Done(done) => {
                self.phase = Phase::Done(done.clone());
                Ok(DeletionStep::Done(done))
            }
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
    pub fn respond(&mut self, response: DeletionResponse) -> Result<(), DeletionError> {
        let next = self.next_after(response)?;
        self.queued = Some(next);
        Ok(())
    }

    fn next_after(&mut self, response: DeletionResponse) -> Result<DeletionStep, DeletionError> {
        match (std::mem::replace(&mut self.phase, Phase::Start), response) {
            (Phase::Listing, DeletionResponse::Members(members)) => {
                let previous = self.instance.status();
                let planned = plan_deletion(self.instance.object(), &members, previous, &self.now);
                match planned.outcome {
                    DeletionOutcome::Blocked { reason } => Err(DeletionError::Blocked { reason }),
                    DeletionOutcome::Complete => Ok(self.remove_finalizer()),
                    DeletionOutcome::Delete(wave) => {
                        let deletions: Vec<_> = wave.to_delete().cloned().collect();
                        self.phase = Phase::Deleting {
                            waiting_on: deletion_waiting_on(&wave),
                            status: planned.status,
                        };
                        Ok(DeletionStep::Delete(deletions))
                    }
                }
            }
            (Phase::Deleting { waiting_on, status }, DeletionResponse::Deleted { watched }) => {
                let requeue = if watched {
                    DELETION_SAFETY_REQUEUE
                } else {
                    UNWATCHED_DELETION_REQUEUE
                };
                let write = StatusWrite::first(self.instance.object(), status);
                Ok(self.write_status(waiting_on, requeue, write))
            }
            (
                Phase::WritingStatus {
                    waiting_on,
                    requeue,
                    ..
                },
                DeletionResponse::StatusWritten(instance),
            ) => {
                if let Some(instance) = instance {
                    self.instance.adopt(instance).map_err(MachineError::from)?;
                }
                Ok(self.done(waiting_on, Some(requeue), false))
            }
            (
                Phase::WritingStatus {
                    waiting_on,
                    requeue,
                    write,
                },
                DeletionResponse::StatusConflict,
            ) => {
                let write = write.after_conflict()?;
                self.phase = Phase::Rereading {
                    waiting_on,
                    requeue,
                    write,
                };
                Ok(DeletionStep::ReadInstance)
            }
            (
                Phase::Rereading {
                    waiting_on,
                    requeue,
                    write,
                },
                DeletionResponse::InstanceRead(fresh),
            ) => {
                // A vanished instance has no status to write; its deletion events follow.
                let write = match fresh {
                    Some(fresh) => {
                        let next = write.retry_over(&fresh);
                        match self.instance.adopt(fresh) {
                            Ok(()) => next,
                            // Another object took the name: the instance deleted is gone.
                            Err(InstanceError::OtherObject { .. }) => None,
                            Err(error) => return Err(MachineError::from(error).into()),
                        }
                    }
                    None => None,
                };
                Ok(self.write_status(waiting_on, requeue, write))
            }
            (Phase::RemovingFinalizer, DeletionResponse::FinalizerRemoved(answer)) => {
                Ok(match answer {
                    FinalizerAnswer::Removed | FinalizerAnswer::Gone => {
                        self.done(Vec::new(), None, true)
                    }
                    FinalizerAnswer::Conflict => {
                        self.done(Vec::new(), Some(FINALIZER_CONFLICT_REQUEUE), false)
                    }
                })
            }
            (phase, _) => {
                let expected = phase.expected();
                self.phase = phase;
                Err(MachineError::UnexpectedResponse { expected }.into())
            }
        }
    }

    /// Writes the deleting status when there is one to write, else ends the step.
    fn write_status(
        &mut self,
        waiting_on: Vec<WaitingOn>,
        requeue: Duration,
        write: Option<StatusWrite>,
    ) -> DeletionStep {
        let Some(write) = write else {
            return self.done(waiting_on, Some(requeue), false);
        };
        let status = write.status.clone();
        self.phase = Phase::WritingStatus {
            waiting_on,
            requeue,
            write,
        };
        DeletionStep::WriteStatus(status)
    }

    fn remove_finalizer(&mut self) -> DeletionStep {
        let remaining: Vec<&str> = finalizers(self.instance.object())
            .filter(|finalizer| *finalizer != FINALIZER)
            .collect();
        self.phase = Phase::RemovingFinalizer;
        DeletionStep::RemoveFinalizer(json!({"metadata": {
            "finalizers": remaining,
            "resourceVersion": self.instance.object().pointer("/metadata/resourceVersion"),
        }}))
    }

    fn done(
        &mut self,
        waiting_on: Vec<WaitingOn>,
        requeue_after: Option<Duration>,
        finalized: bool,
    ) -> DeletionStep {
        let done = DeletionDone {
            waiting_on,
            requeue_after,
            finalized,
        };
        self.phase = Phase::Done(done.clone());
        DeletionStep::Done(done)
    }
}

impl Phase {
    fn expected(&self) -> &'static str {
        match self {
            Self::Start | Self::Done(_) => "no response (call step)",
            Self::Listing => "DeletionResponse::Members",
            Self::Deleting { .. } => "DeletionResponse::Deleted",
            Self::WritingStatus { .. } => {
                "DeletionResponse::StatusWritten or DeletionResponse::StatusConflict"
            }
            Self::Rereading { .. } => "DeletionResponse::InstanceRead",
            Self::RemovingFinalizer => "DeletionResponse::FinalizerRemoved",
        }
    }
}

fn finalizers(instance: &Value) -> impl Iterator<Item = &str> {
    instance
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// Whether the instance lacks its ApplySet metadata. It is written before any child is applied,
/// so without it no child was ever created (e.g. the instance was suspended from the start).
pub fn never_applied(instance: &Value) -> bool {
    !object_labels(instance).contains_key(APPLYSET_ID_LABEL)
        && !object_annotations(instance).contains_key(TOOLING_ANNOTATION)
}
