//! kro's API, pure: the `kro.run/v1alpha1` ResourceGraphDefinition and `internal.kro.run/v1alpha1`
//! GraphRevision types (compatible with upstream kro's YAML) and the CRD manifests generated from
//! them, every `kro.run/*` label, annotation, finalizer and field-manager name ([`labels`]), the
//! identity of kinds and objects ([`Gvk`], [`GroupKind`], [`KindMapping`], [`ObjectKey`]) and
//! [`Instance`], an instance of a generated kind parsed once.
//!
//! Every other kro crate takes these names and types from here, so each is defined once. kro's
//! errors describe their own layer and leave their cause to `source()`; [`ErrorChain`] prints one
//! with its causes, as kro's status conditions, logs and CLI do.
#![forbid(unsafe_code)]

/// Implements k8s-openapi's `Resource`, `ListableResource` and `Metadata` for a
/// cluster-scoped kro kind whose `metadata` field holds its `ObjectMeta` (so kube-rs's `Api`
/// serves it); the kind and list kind are the type's name.
macro_rules! cluster_scoped_resource {
    ($ty:ident, api_version: $api_version:expr, group: $group:expr, version: $version:expr, plural: $plural:expr) => {
        impl k8s_openapi::Resource for $ty {
            const API_VERSION: &'static str = $api_version;
            const GROUP: &'static str = $group;
            const KIND: &'static str = stringify!($ty);
            const VERSION: &'static str = $version;
            const URL_PATH_SEGMENT: &'static str = $plural;
            type Scope = k8s_openapi::ClusterResourceScope;
        }

        impl k8s_openapi::ListableResource for $ty {
            const LIST_KIND: &'static str = concat!(stringify!($ty), "List");
        }

        impl k8s_openapi::Metadata for $ty {
            type Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

            fn metadata(&self) -> &Self::Ty {
                &self.metadata
            }

            fn metadata_mut(&mut self) -> &mut Self::Ty {
                &mut self.metadata
            }
        }
    };
}

pub mod conditions;
mod crd;
mod error;
mod identity;
mod instance;
pub mod labels;
mod revision;
mod rgd;

pub use error::{ErrorChain, ParseError};
pub use identity::{GroupKind, Gvk, KindMapping, ObjectIdentity, ObjectKey, split_api_version};
pub use instance::{Instance, InstanceError};

pub use crd::{graph_revision_crd, resource_graph_definition_crd};
pub use revision::{
    GRAPH_REVISION_GROUP, GraphRevision, GraphRevisionSnapshot, GraphRevisionSpec,
    GraphRevisionStatus,
};
pub use rgd::{
    Condition, Dependency, ExternalRef, ExternalRefMetadata, InstanceScope, LabelSelector,
    LabelSelectorRequirement, PrinterColumn, RGD_GROUP, RGD_VERSION, Resource,
    ResourceGraphDefinition, ResourceGraphDefinitionSpec, ResourceGraphDefinitionStatus,
    ResourceInformation, RgdState, Schema, SchemaMetadata,
};

use schemars::{Schema as JsonSchema, SchemaGenerator, json_schema};

/// Any value kept verbatim, not even typed (`x-kubernetes-preserve-unknown-fields` alone).
pub(crate) fn preserved_unknown_fields(_: &mut SchemaGenerator) -> JsonSchema {
    json_schema!({
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// A plain string in the CRD, for enums whose values the CRD does not restrict.
pub(crate) fn plain_string(_: &mut SchemaGenerator) -> JsonSchema {
    json_schema!({
        "type": "string",
    })
}

/// A free-form object kept verbatim (`x-kubernetes-preserve-unknown-fields`).
pub(crate) fn free_form_object(_: &mut SchemaGenerator) -> JsonSchema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

// The README's example runs as a doc test, so it cannot drift from the API.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    use k8s_openapi::{ListableResource, Resource};

    use super::*;

    #[test]
    fn kro_kinds_name_their_rest_resources() {
        assert_eq!(ResourceGraphDefinition::KIND, "ResourceGraphDefinition");
        assert_eq!(
            ResourceGraphDefinition::LIST_KIND,
            "ResourceGraphDefinitionList"
        );
        assert_eq!(ResourceGraphDefinition::API_VERSION, "kro.run/v1alpha1");
        assert_eq!(
            ResourceGraphDefinition::URL_PATH_SEGMENT,
            "resourcegraphdefinitions"
        );
        assert_eq!(GraphRevision::KIND, "GraphRevision");
        assert_eq!(GraphRevision::LIST_KIND, "GraphRevisionList");
        assert_eq!(GraphRevision::GROUP, "internal.kro.run");
        assert_eq!(GraphRevision::URL_PATH_SEGMENT, "graphrevisions");
    }
}
