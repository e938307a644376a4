//! `internal.kro.run/v1alpha1` GraphRevision: an immutable snapshot of an RGD spec.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::rgd::{Condition, ResourceGraphDefinitionSpec, ResourceInformation};

/// The API group of GraphRevisions.
pub const GRAPH_REVISION_GROUP: &str = "internal.kro.run";

/// An immutable, numbered snapshot of a ResourceGraphDefinition's spec. Cluster-scoped.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphRevision {
    /// Always `internal.kro.run/v1alpha1`.
    #[serde(default = "revision_api_version")]
    pub api_version: String,
    /// Always `GraphRevision`.
    #[serde(default = "revision_kind")]
    pub kind: String,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The revision number and snapshot.
    pub spec: GraphRevisionSpec,
    /// The compilation outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<GraphRevisionStatus>,
}

fn revision_api_version() -> String {
    format!("{GRAPH_REVISION_GROUP}/v1alpha1")
}

fn revision_kind() -> String {
    "GraphRevision".to_owned()
}

impl GraphRevision {
    /// A revision named `name` with `spec`.
    pub fn new(name: &str, spec: GraphRevisionSpec) -> Self {
        Self {
            api_version: revision_api_version(),
            kind: revision_kind(),
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                ..ObjectMeta::default()
            },
            spec,
            status: None,
        }
    }
}

cluster_scoped_resource!(GraphRevision, api_version: "internal.kro.run/v1alpha1", group: GRAPH_REVISION_GROUP, version: "v1alpha1", plural: "graphrevisions");

/// The revision number and the RGD snapshot it froze.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "spec is immutable"}]))]
pub struct GraphRevisionSpec {
    /// The revision number, starting at 1.
    #[schemars(range(min = 1))]
    pub revision: i64,
    /// The RGD spec this revision froze.
    pub snapshot: GraphRevisionSnapshot,
}

/// The RGD a revision was taken from and its spec at that time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GraphRevisionSnapshot {
    /// The RGD's name.
    pub name: String,
    /// The RGD's `metadata.generation` when the snapshot was taken.
    pub generation: i64,
    /// The RGD's spec.
    pub spec: ResourceGraphDefinitionSpec,
}

/// The outcome of compiling a revision.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GraphRevisionStatus {
    /// Resource ids in topological order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topological_order: Vec<String>,
    /// `GraphVerified` and `Ready`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Resources that depend on others, with their dependencies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceInformation>,
}
