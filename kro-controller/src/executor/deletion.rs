//! Deleting instances: the ApplySet inventory says where the members are, the highest
//! apply-order wave goes first, and the finalizer is removed once nothing is left. The graph is
//! never evaluated.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use kro_applyset::DeletionWave;
use kro_applyset::labels::{APPLYSET_ID_LABEL, FINALIZER, TOOLING_ANNOTATION};
use kro_graph::Graph;
use kro_runtime::core::{
    DeletionOutcome, InstanceState, instance_deletion_scope, plan_deletion,
    vanished_instance_deletions, vanished_unfinalized,
};
use kube::api::{DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use super::cache::{annotations_of, labels_of};
use super::error::status_code;
use super::instance::{instance_json, instance_key, now_rfc3339};
use super::members::{ListFrom, delete_all, list_members};
use super::{Error, Executor, KindMapping, Outcome, ReconcileStats, VanishedInstance, WaitingOn};

impl Executor {
    pub(super) async fn reconcile_deletion(
        &self,
        graph: &Graph,
        instance: &mut Value,
        stats: &mut ReconcileStats,
    ) -> Result<Outcome, Error> {
        let finalizers = finalizers_of(instance);
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
                    return self
                        .delete_wave(graph, instance, &wave, step.status, stats)
                        .await;
                }
                DeletionOutcome::Complete => {}
            }
        }
        self.remove_finalizer(
            instance,
            &finalizers,
            &kind,
            namespace.as_deref(),
            &name,
            stats,
        )
        .await
    }

    /// Deletes the wave's members that are not terminating yet, writes the deleting status,
    /// and waits for the wave to be gone.
    async fn delete_wave(
        &self,
        graph: &Graph,
        instance: &mut Value,
        wave: &DeletionWave,
        status: Value,
        stats: &mut ReconcileStats,
    ) -> Result<Outcome, Error> {
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
        self.write_status(graph, instance, status, stats).await?;
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
        Ok(Outcome {
            requeue_after: Some(requeue_after),
            ..deleting(waiting_on, false)
        })
    }

    /// Removes kro's finalizer, keeping the others, conditional on the instance's
    /// `resourceVersion`.
    async fn remove_finalizer(
        &self,
        instance: &Value,
        finalizers: &[String],
        kind: &KindMapping,
        namespace: Option<&str>,
        name: &str,
        stats: &mut ReconcileStats,
    ) -> Result<Outcome, Error> {
        let remaining: Vec<&String> = finalizers.iter().filter(|f| *f != FINALIZER).collect();
        let patch = json!({"metadata": {
            "finalizers": remaining,
            "resourceVersion": instance.pointer("/metadata/resourceVersion"),
        }});
        let api = kind.api(self.client.clone(), namespace);
        match api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
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
}

/// How long a deleting instance waits for its wave's deletion events before looking again.
const DELETION_SAFETY_REQUEUE: Duration = Duration::from_secs(10);
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

/// `metadata.finalizers` of the instance.
fn finalizers_of(instance: &Value) -> Vec<String> {
    instance
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
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
