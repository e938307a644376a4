//! What kube-rs needs to reach the objects of a kind: the kro identity types
//! ([`KindMapping`], [`ObjectKey`], from `kro_api`) in kube-rs's terms.

use kro_api::KindMapping;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};

use super::StoreKey;

/// The kube-rs forms of a [`KindMapping`]: its `ApiResource` and a dynamic `Api`.
pub trait KindApi {
    /// The kube-rs resource description.
    fn api_resource(&self) -> ApiResource;

    /// A dynamic API for objects of this kind in `namespace` (all namespaces, or the cluster
    /// scope, when `None` or when the kind is cluster-scoped).
    fn api(&self, client: Client, namespace: Option<&str>) -> Api<DynamicObject>;
}

impl KindApi for KindMapping {
    fn api_resource(&self) -> ApiResource {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(&self.group, &self.version, &self.kind),
            &self.plural,
        )
    }

    fn api(&self, client: Client, namespace: Option<&str>) -> Api<DynamicObject> {
        let resource = self.api_resource();
        match namespace {
            Some(namespace) if self.namespaced => {
                Api::namespaced_with(client, namespace, &resource)
            }
            _ => Api::all_with(client, &resource),
        }
    }
}

/// The cache's key of a kind's store: one store per group, version and kind.
pub(super) fn store_key(kind: &KindMapping) -> StoreKey {
    kind.gvk()
}
