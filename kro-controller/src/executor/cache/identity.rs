//! Who a watched object is: its kind's REST mapping, and the instance that owns it.

use std::collections::BTreeMap;

use kro_applyset::labels::{
    INSTANCE_GROUP_LABEL, INSTANCE_KIND_LABEL, INSTANCE_NAME_LABEL, INSTANCE_NAMESPACE_LABEL,
    INSTANCE_VERSION_LABEL,
};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};

use super::StoreKey;

/// A kind with its REST mapping: what a watch, a GET or an apply needs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KindMapping {
    /// The API group, empty for the core group.
    pub group: String,
    /// The version.
    pub version: String,
    /// The kind.
    pub kind: String,
    /// The plural resource name.
    pub plural: String,
    /// Whether objects of the kind are namespaced.
    pub namespaced: bool,
}

impl KindMapping {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The kube-rs resource description.
    pub fn api_resource(&self) -> ApiResource {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(&self.group, &self.version, &self.kind),
            &self.plural,
        )
    }

    /// A dynamic API for objects of this kind in `namespace` (all namespaces, or the cluster
    /// scope, when `None` or when the kind is cluster-scoped).
    pub fn api(&self, client: Client, namespace: Option<&str>) -> Api<DynamicObject> {
        let resource = self.api_resource();
        match namespace {
            Some(namespace) if self.namespaced => {
                Api::namespaced_with(client, namespace, &resource)
            }
            _ => Api::all_with(client, &resource),
        }
    }

    pub(super) fn store_key(&self) -> StoreKey {
        (self.group.clone(), self.version.clone(), self.kind.clone())
    }
}

/// The instance a child belongs to, from the child's `kro.run/instance-*` labels.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceKey {
    /// The instance's API group.
    pub group: String,
    /// The instance's version.
    pub version: String,
    /// The instance's kind.
    pub kind: String,
    /// The instance's namespace; `None` for cluster-scoped instances.
    pub namespace: Option<String>,
    /// The instance's name.
    pub name: String,
}

impl InstanceKey {
    /// The owning instance of a kro child, or `None` if the labels do not name one.
    pub fn from_child_labels(labels: &BTreeMap<String, String>) -> Option<Self> {
        Some(Self {
            group: labels.get(INSTANCE_GROUP_LABEL)?.clone(),
            version: labels.get(INSTANCE_VERSION_LABEL)?.clone(),
            kind: labels.get(INSTANCE_KIND_LABEL)?.clone(),
            namespace: labels
                .get(INSTANCE_NAMESPACE_LABEL)
                .filter(|namespace| !namespace.is_empty())
                .cloned(),
            name: labels.get(INSTANCE_NAME_LABEL)?.clone(),
        })
    }
}
