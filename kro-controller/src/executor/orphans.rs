//! The orphan sweep: children of instances that disappeared while no watch saw them go.
//!
//! Which objects may be deleted is decided by `kro_runtime::core::orphaned_instances`; this
//! module lists what it needs from the server and issues the deletes.

use std::collections::BTreeSet;

use kro_applyset::labels::{INSTANCE_GROUP_LABEL, INSTANCE_KIND_LABEL, OWNED_LABEL};
use kro_applyset::{ChildMeta, GroupKind, ObjectKey};
use kro_graph::{Graph, NodeKind};
use kro_runtime::core::{LiveInstance, orphaned_instances};
use kube::api::{ListParams, ObjectList, PartialObjectMeta};
use serde_json::Value;

use super::Executor;
use super::cache::KindApi as _;
use super::cache::KindMapping;
use super::error::Error;
use super::members::delete_all;

impl Executor {
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
        let instance = graph.instance();
        let gvk = instance.gvk();
        let selector = format!(
            "{OWNED_LABEL}=true,{INSTANCE_GROUP_LABEL}={},{INSTANCE_KIND_LABEL}={}",
            gvk.group, gvk.kind
        );
        let mut children = Vec::new();
        for kind in self.child_kinds(graph) {
            for object in self.list_metadata(&kind, &selector).await? {
                if let Ok(child) = ChildMeta::from_object(&object) {
                    children.push(child);
                }
            }
        }
        if children.is_empty() {
            return Ok(Vec::new());
        }
        let instance_kind = KindMapping {
            group: gvk.group.clone(),
            version: gvk.version.clone(),
            kind: gvk.kind.clone(),
            plural: instance.plural().to_owned(),
            namespaced: instance.namespaced(),
        };
        let live: Vec<LiveInstance> = self
            .list_metadata(&instance_kind, "")
            .await?
            .iter()
            .filter_map(live_instance)
            .collect();
        let mut swept = Vec::new();
        for orphan in orphaned_instances(&gvk.group, &gvk.kind, &live, &children) {
            tracing::info!(
                instance = %orphan.parent.name,
                namespace = orphan.parent.namespace.as_deref().unwrap_or(""),
                uid = %orphan.uid,
                children = orphan.deletions.len(),
                "deleting the children of an instance that no longer exists"
            );
            let requests: Vec<_> = orphan.deletions.iter().collect();
            delete_all(
                &self.client,
                &self.mapper,
                &requests,
                self.config.concurrency,
            )
            .await?;
            for deletion in orphan.deletions {
                self.memo.forget(&deletion.key);
                swept.push(deletion.key);
            }
        }
        Ok(swept)
    }

    /// The distinct kinds the graph's templates apply, as the REST mapper knows them.
    fn child_kinds(&self, graph: &Graph) -> Vec<KindMapping> {
        let mut seen = BTreeSet::new();
        graph
            .resources()
            .iter()
            .filter(|node| matches!(node.kind(), NodeKind::Template))
            .filter_map(|node| {
                let gvk = node.gvk();
                let group_kind = GroupKind::new(gvk.group.clone(), gvk.kind.clone());
                seen.insert(group_kind.clone())
                    .then(|| self.mapper.known(&group_kind))
                    .flatten()
            })
            .collect()
    }

    /// Metadata of every object of `kind` in the cluster matching `selector`, as JSON with
    /// `apiVersion` and `kind` filled in (list items carry neither).
    async fn list_metadata(&self, kind: &KindMapping, selector: &str) -> Result<Vec<Value>, Error> {
        let api = kind.api(self.client.clone(), None);
        let params = ListParams::default().labels(selector);
        let list: ObjectList<PartialObjectMeta<kube::api::DynamicObject>> = api
            .list_metadata(&params)
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

fn live_instance(object: &Value) -> Option<LiveInstance> {
    let text = |field: &str| object["metadata"][field].as_str().map(str::to_owned);
    Some(LiveInstance {
        namespace: text("namespace").filter(|namespace| !namespace.is_empty()),
        name: text("name")?,
        uid: text("uid")?,
    })
}
