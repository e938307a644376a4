//! Group-kind to REST mapping: plural, version and scope.
//!
//! The compiled graph knows the mapping of every kind it applies; prune and deletion also meet
//! group-kinds remembered in the instance's ApplySet inventory from older revisions of the
//! graph, which are looked up through discovery once and remembered.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use kro_applyset::{GroupKind, KindScope};
use kro_graph::Graph;
use kube::Client;
use kube::discovery::{self, Scope};

use super::cache::KindMapping;
use super::error::{Error, status_code};

/// Remembered mappings; `None` records a group-kind the server does not serve.
#[derive(Debug, Default)]
pub struct RestMapper {
    known: Mutex<BTreeMap<GroupKind, Option<KindMapping>>>,
}

impl RestMapper {
    /// An empty mapper.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the mapping of every kind `graph` applies or reads, and of its instance kind.
    pub fn learn_graph(&self, graph: &Graph) {
        let mut known = self.lock();
        for node in graph.resources() {
            let gvk = node.gvk();
            known.insert(
                GroupKind::new(gvk.group.clone(), gvk.kind.clone()),
                Some(KindMapping {
                    group: gvk.group.clone(),
                    version: gvk.version.clone(),
                    kind: gvk.kind.clone(),
                    plural: node.plural().to_owned(),
                    namespaced: node.namespaced(),
                }),
            );
        }
        let instance = graph.instance();
        let gvk = instance.gvk();
        known.insert(
            GroupKind::new(gvk.group.clone(), gvk.kind.clone()),
            Some(KindMapping {
                group: gvk.group.clone(),
                version: gvk.version.clone(),
                kind: gvk.kind.clone(),
                plural: instance.plural().to_owned(),
                namespaced: instance.namespaced(),
            }),
        );
    }

    /// The mapping of `group_kind`, asking discovery when it is not known yet. `Ok(None)` when
    /// the server does not serve it (e.g. its CRD was deleted).
    ///
    /// # Errors
    /// Discovery failed for another reason than the group being absent.
    pub async fn resolve(
        &self,
        client: &Client,
        group_kind: &GroupKind,
    ) -> Result<Option<KindMapping>, Error> {
        if let Some(known) = self.lock().get(group_kind) {
            return Ok(known.clone());
        }
        let mapping = match discovery::group(client, &group_kind.group).await {
            Ok(group) => {
                group
                    .recommended_kind(&group_kind.kind)
                    .map(|(resource, capabilities)| KindMapping {
                        group: resource.group,
                        version: resource.version,
                        kind: resource.kind,
                        plural: resource.plural,
                        namespaced: matches!(capabilities.scope, Scope::Namespaced),
                    })
            }
            Err(kube::Error::Discovery(_)) => None,
            Err(error) if status_code(&error) == Some(404) => None,
            Err(source) => {
                return Err(Error::kube(
                    format!("discovering API group {:?}", group_kind.group),
                    source,
                ));
            }
        };
        self.lock().insert(group_kind.clone(), mapping.clone());
        Ok(mapping)
    }

    /// The scope of an already resolved group-kind, for [`kro_applyset::PruneScope::list_requests`].
    pub fn scope_of(&self, group_kind: &GroupKind) -> KindScope {
        match self.lock().get(group_kind) {
            Some(Some(mapping)) if mapping.namespaced => KindScope::Namespaced,
            Some(Some(_)) => KindScope::Cluster,
            _ => KindScope::Unknown,
        }
    }

    /// The mapping of an already resolved group-kind.
    pub fn known(&self, group_kind: &GroupKind) -> Option<KindMapping> {
        self.lock().get(group_kind).cloned().flatten()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<GroupKind, Option<KindMapping>>> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
