//! Deleting instances: the ApplySet inventory says where the members are, the highest
//! apply-order wave goes first, and the finalizer is removed once nothing is left. The graph is
//! never evaluated.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use kro_api::Instance;
use kro_graph::Graph;
use kro_runtime::core::InstanceState;
use kro_runtime::machine::{
    DeletionError, DeletionReconcile, DeletionResponse, DeletionStep, FinalizerAnswer,
};
use kube::api::{Patch, PatchParams};
use serde_json::Value;

use super::error::status_code;
use super::instance::{StatusWritten, now_rfc3339};
use super::live::machine_error;
use super::members::{ListFrom, list_members};
use super::{Error, Executor, Outcome, ReconcileStats, WaitingOn};

impl Executor {
    /// One step of a deleting instance: [`DeletionReconcile`] decides, this carries it out.
    pub(super) async fn reconcile_deletion(
        &self,
        graph: &Graph,
        instance: Instance,
        stats: &mut ReconcileStats,
    ) -> Result<Outcome, Error> {
        self.cache
            .watch_external_refs(instance.key(), BTreeSet::new());
        let mut machine = DeletionReconcile::new(instance, &now_rfc3339());
        loop {
            let step = machine
                .step()
                .map_err(|error| deletion_error(machine.instance(), error))?;
            let response = match step {
                DeletionStep::Done(done) => {
                    return Ok(Outcome {
                        requeue_after: done.requeue_after,
                        ..deleting(done.waiting_on, done.finalized)
                    });
                }
                DeletionStep::ListMembers(scope) => DeletionResponse::Members(
                    list_members(
                        &self.client,
                        &self.cache,
                        &self.mapper,
                        &scope,
                        ListFrom::Cache,
                    )
                    .await?
                    .into_iter()
                    .map(|member| Arc::unwrap_or_clone(member.object))
                    .collect(),
                ),
                DeletionStep::Delete(deletions) => {
                    let watched = self.delete_wave(&deletions, stats).await?;
                    DeletionResponse::Deleted { watched }
                }
                DeletionStep::WriteStatus(status) => {
                    match self
                        .write_status(graph, machine.instance(), status, stats)
                        .await?
                    {
                        StatusWritten::Written(instance) => {
                            DeletionResponse::StatusWritten(Some(instance))
                        }
                        StatusWritten::Gone => DeletionResponse::StatusWritten(None),
                        StatusWritten::Conflict => DeletionResponse::StatusConflict,
                    }
                }
                DeletionStep::ReadInstance => DeletionResponse::InstanceRead(
                    self.read_instance(graph, machine.instance(), stats).await?,
                ),
                DeletionStep::RemoveFinalizer(patch) => DeletionResponse::FinalizerRemoved(
                    self.remove_finalizer(graph, machine.instance(), &patch, stats)
                        .await?,
                ),
            };
            machine
                .respond(response)
                .map_err(|error| deletion_error(machine.instance(), error))?;
        }
    }

    /// Deletes one wave; whether every deleted kind is watched and synced, so that the
    /// deletion events will wake the instance.
    async fn delete_wave(
        &self,
        deletions: &[kro_applyset::Deletion],
        stats: &mut ReconcileStats,
    ) -> Result<bool, Error> {
        stats.deletes += deletions.len();
        // A UID conflict needs no answer here: the next listing shows the new object.
        self.delete_wave_answers(deletions).await?;
        Ok(deletions.iter().all(|deletion| {
            self.mapper
                .known(&kro_applyset::GroupKind::new(
                    deletion.key.group.as_str(),
                    deletion.key.kind.as_str(),
                ))
                .is_some_and(|kind| self.cache.is_synced(&kind))
        }))
    }

    /// Sends the finalizer removal the machine built (a merge patch conditional on the
    /// instance's `resourceVersion`).
    async fn remove_finalizer(
        &self,
        graph: &Graph,
        instance: &Instance,
        patch: &Value,
        stats: &mut ReconcileStats,
    ) -> Result<FinalizerAnswer, Error> {
        let (_, api) = self.instance_api(graph, instance);
        match api
            .patch(
                instance.name(),
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await
        {
            Ok(_) => {
                stats.instance_writes += 1;
                Ok(FinalizerAnswer::Removed)
            }
            Err(error) if status_code(&error) == Some(409) => Ok(FinalizerAnswer::Conflict),
            Err(error) if status_code(&error) == Some(404) => Ok(FinalizerAnswer::Gone),
            Err(source) => Err(Error::kube(
                format!("removing the finalizer of instance {}", instance.name()),
                source,
            )),
        }
    }
}

/// The error of a deletion the instance's inventory does not allow.
fn deletion_blocked(namespace: Option<&str>, name: &str, reason: String) -> Error {
    Error::DeletionBlocked {
        instance: format!("{}/{name}", namespace.unwrap_or_default()),
        reason,
    }
}

/// The executor's error for a deletion the machine stopped.
pub(super) fn deletion_error(instance: &Instance, error: DeletionError) -> Error {
    match error {
        DeletionError::Blocked { reason } => {
            deletion_blocked(instance.namespace(), instance.name(), reason)
        }
        DeletionError::Protocol(source) => machine_error(instance, source),
    }
}

/// The outcome of a deletion step: nothing to retry on a timer unless the step says so.
fn deleting(waiting_on: Vec<WaitingOn>, finalized: bool) -> Outcome {
    Outcome {
        state: InstanceState::Deleting,
        requeue_after: None,
        waiting_on,
        finalized,
        stats: ReconcileStats::default(),
        elapsed: Duration::ZERO,
    }
}
