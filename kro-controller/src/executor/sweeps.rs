//! The sweeps of children whose instance is gone: [`kro_runtime::machine::Sweep`] decides
//! (which instance vanished, which objects were its members, in which order they go), this
//! module lists what it asks for and issues the deletes.

use std::collections::BTreeSet;
use std::sync::Arc;

use kro_api::Instance;
use kro_applyset::{GroupKind, ObjectKey};
use kro_graph::Graph;
use kro_runtime::machine::{
    DeletionError, MachineError, Sweep, SweepResponse, SweepStep, VanishedInstance,
};
use kube::api::{DynamicObject, ListParams, ObjectList, PartialObjectMeta};
use serde_json::Value;

use super::Executor;
use super::cache::{KindApi as _, KindMapping};
use super::deletion::deletion_error;
use super::error::Error;
use super::instance::{instance_json, parse_instance};
use super::members::{ListFrom, list_members};

impl Executor {
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
        let last_state = parse_instance(instance_json(graph, last_state)?)?;
        self.drive_sweep(
            graph,
            Sweep::vanished(last_state.clone()),
            Some(&last_state),
        )
        .await
    }

    /// Deletes the children of instances of `graph`'s kind that no longer exist, and returns
    /// what it deleted.
    ///
    /// An instance deleted while no operator ran (its finalizer removed by hand, or lost to the
    /// API server's finalizer race) leaves its children behind, and no watch event will ever
    /// report it. Call this once the instance watch has listed the instances (at start-up and
    /// after every re-list). Children are listed first and the instances second, so a child of
    /// an instance created meanwhile is never taken for an orphan; deletes carry UID
    /// preconditions, and children whose instance name is in use again are left for that
    /// instance to adopt. Only the kinds the current graph applies are searched.
    ///
    /// # Errors
    /// A list or delete request failed.
    pub async fn sweep_orphans(&self, graph: &Graph) -> Result<Vec<ObjectKey>, Error> {
        self.mapper.learn_graph(graph);
        Ok(
            match self.drive_sweep(graph, Sweep::orphans(graph), None).await? {
                VanishedInstance::Swept(keys) => keys,
                // An orphan sweep has no last state to find finalized or still there.
                VanishedInstance::Finalized
                | VanishedInstance::StillThere
                | VanishedInstance::NeverApplied => Vec::new(),
            },
        )
    }

    /// Carries out `sweep`'s steps; `last_state` is the vanished instance's (`None` for an
    /// orphan sweep).
    async fn drive_sweep(
        &self,
        graph: &Graph,
        mut sweep: Sweep,
        last_state: Option<&Instance>,
    ) -> Result<VanishedInstance, Error> {
        let stopped = |error: DeletionError| match last_state {
            Some(last_state) => deletion_error(last_state, error),
            None => match error {
                DeletionError::Blocked { reason } => Error::DeletionBlocked {
                    instance: String::new(),
                    reason,
                },
                DeletionError::Protocol(source) => Error::Machine { source },
            },
        };
        loop {
            let response = match sweep.step().map_err(stopped)? {
                SweepStep::Done(found) => return Ok(found),
                SweepStep::ReadInstance => {
                    let last_state = last_state.ok_or(Error::Machine {
                        source: MachineError::UnexpectedResponse {
                            expected: "no instance read in an orphan sweep",
                        },
                    })?;
                    SweepResponse::InstanceExists(self.instance_exists(graph, last_state).await?)
                }
                SweepStep::ListMembers(scope) => {
                    // Gone for good: nothing need watch its external references any more.
                    if let Some(last_state) = last_state {
                        self.cache
                            .watch_external_refs(last_state.key(), BTreeSet::new());
                    }
                    let members = list_members(
                        &self.client,
                        &self.cache,
                        &self.mapper,
                        &scope,
                        ListFrom::Server,
                    )
                    .await?;
                    SweepResponse::Listed(
                        members
                            .into_iter()
                            .map(|member| Arc::unwrap_or_clone(member.object))
                            .collect(),
                    )
                }
                SweepStep::ListChildren { kinds, selector } => {
                    let selector = selector.to_string();
                    let mut children = Vec::new();
                    for target in kinds {
                        let group_kind = GroupKind::new(target.group, target.kind);
                        if let Some(kind) = self.mapper.known(&group_kind) {
                            children.extend(self.list_metadata(&kind, &selector).await?);
                        }
                    }
                    SweepResponse::Listed(children)
                }
                SweepStep::ListInstances => SweepResponse::Listed(
                    self.list_metadata(&graph.instance().mapping(), "").await?,
                ),
                SweepStep::Delete {
                    instance,
                    uid,
                    deletions,
                } => {
                    tracing::info!(
                        instance = %instance.name,
                        namespace = instance.namespace.as_deref().unwrap_or(""),
                        uid = %uid,
                        children = deletions.len(),
                        "deleting the children of an instance that no longer exists"
                    );
                    SweepResponse::Deleted(self.delete_wave_answers(&deletions).await?)
                }
            };
            sweep.respond(response).map_err(stopped)?;
        }
    }

    /// Whether an instance of `last_state`'s name exists (its metadata is read).
    async fn instance_exists(&self, graph: &Graph, last_state: &Instance) -> Result<bool, Error> {
        let (_, api) = self.instance_api(graph, last_state);
        let name = last_state.name();
        let current = api
            .get_metadata_opt(name)
            .await
            .map_err(|source| Error::kube(format!("reading instance {name}"), source))?;
        Ok(current.is_some())
    }

    /// Metadata of every object of `kind` in the cluster matching `selector`, as JSON with
    /// `apiVersion` and `kind` filled in (list items carry neither).
    async fn list_metadata(&self, kind: &KindMapping, selector: &str) -> Result<Vec<Value>, Error> {
        let api = kind.api(self.client.clone(), None);
        let params = ListParams::default().labels(selector);
        let list: ObjectList<PartialObjectMeta<DynamicObject>> =
            api.list_metadata(&params)
                .await
                .map_err(|source| Error::kube(format!("listing {}", kind.plural), source))?;
        Ok(list
            .items
            .into_iter()
            .filter_map(|object| serde_json::to_value(object.metadata).ok())
            .map(|metadata| {
                serde_json::json!({
                    "apiVersion": kind.api_version(),
                    "kind": kind.kind,
                    "metadata": metadata,
                })
            })
            .collect())
    }
}
