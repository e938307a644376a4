//! `kro.run/v1alpha1` ResourceGraphDefinition.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ParseError;
use crate::{free_form_object, plain_string, preserved_unknown_fields};

fn for_each_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "Collection dimensions: each entry maps one iterator name to a list expression.",
        "type": "array",
        "items": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "minProperties": 1,
            "maxProperties": 1,
        },
    })
}

/// The API group of ResourceGraphDefinitions.
pub const RGD_GROUP: &str = "kro.run";
/// The API version of ResourceGraphDefinitions.
pub const RGD_VERSION: &str = "v1alpha1";

/// A ResourceGraphDefinition: a new Kubernetes API (`spec.schema`) and the resources each of its
/// instances owns (`spec.resources`). Cluster-scoped.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGraphDefinition {
    /// Always `kro.run/v1alpha1`.
    #[serde(default = "rgd_api_version")]
    pub api_version: String,
    /// Always `ResourceGraphDefinition`.
    #[serde(default = "rgd_kind")]
    pub kind: String,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The desired API and resource graph.
    pub spec: ResourceGraphDefinitionSpec,
    /// What the controller observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ResourceGraphDefinitionStatus>,
}

fn rgd_api_version() -> String {
    format!("{RGD_GROUP}/{RGD_VERSION}")
}

fn rgd_kind() -> String {
    "ResourceGraphDefinition".to_owned()
}

impl ResourceGraphDefinition {
    /// An RGD named `name` with `spec`.
    pub fn new(name: &str, spec: ResourceGraphDefinitionSpec) -> Self {
        Self {
            api_version: rgd_api_version(),
            kind: rgd_kind(),
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                ..ObjectMeta::default()
            },
            spec,
            status: None,
        }
    }

    /// Parses one RGD from YAML (or JSON, which is YAML). A repeated map key keeps its last
    /// value, as `kubectl apply` does.
    ///
    /// # Errors
    /// Text that is not YAML or does not have the RGD's shape.
    pub fn from_yaml(text: &str) -> Result<Self, ParseError> {
        let mut options = serde_saphyr::Options::default();
        options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
        serde_saphyr::from_str_with_options(text, options)
            .map_err(|error| ParseError::new(error.to_string()))
    }
}

cluster_scoped_resource!(ResourceGraphDefinition, api_version: "kro.run/v1alpha1", group: RGD_GROUP, version: RGD_VERSION, plural: "resourcegraphdefinitions");

/// The desired state of a ResourceGraphDefinition.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGraphDefinitionSpec {
    /// The API that instances of this graph are created through.
    pub schema: Schema,
    /// The resources each instance owns or reads, in declaration order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
}

/// The generated API: its kind, version, group, scope, SimpleSchema spec and status projection.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Schema {
    /// The kind of the generated API, UpperCamelCase.
    #[schemars(
        regex(pattern = r"^[A-Z][a-zA-Z0-9]{0,62}$"),
        extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "kind is immutable"}])
    )]
    pub kind: String,
    /// The version of the generated API, such as `v1alpha1`.
    #[schemars(
        regex(pattern = r"^v[0-9]+(alpha[0-9]+|beta[0-9]+)?$"),
        extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "apiVersion is immutable"}])
    )]
    pub api_version: String,
    /// The API group of the generated API; `kro.run` when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        extend("default" = "kro.run"),
        extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "group is immutable"}])
    )]
    pub group: Option<String>,
    /// Whether instances are namespaced (the default) or cluster-scoped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        extend("default" = "Namespaced"),
        extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "scope is immutable"}])
    )]
    pub scope: Option<InstanceScope>,
    /// The instance `spec` in SimpleSchema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub spec: Option<Value>,
    /// Named custom types the spec may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub types: Option<Value>,
    /// The instance `status`: a map whose leaves are `${}` expressions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub status: Option<Value>,
    /// Printer columns of the generated CRD; kro's defaults when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_printer_columns: Vec<PrinterColumn>,
    /// Short names of the generated CRD.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 32),
        inner(length(max = 63), regex(pattern = r"^[a-z]([-a-z0-9]*[a-z0-9])?$")),
        extend("x-kubernetes-list-type" = "set")
    )]
    pub short_names: Vec<String>,
    /// Categories of the generated CRD.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 32),
        inner(length(max = 63), regex(pattern = r"^[a-z]([-a-z0-9]*[a-z0-9])?$")),
        extend("x-kubernetes-list-type" = "set")
    )]
    pub categories: Vec<String>,
    /// Labels and annotations for the generated CRD object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<SchemaMetadata>,
}

impl Schema {
    /// The API group, `kro.run` when unset or empty.
    pub fn group_or_default(&self) -> &str {
        self.group
            .as_deref()
            .filter(|group| !group.is_empty())
            .unwrap_or(RGD_GROUP)
    }

    /// The instance scope, `Namespaced` when unset.
    pub fn scope_or_default(&self) -> InstanceScope {
        self.scope.unwrap_or_default()
    }
}

/// Whether instances of the generated API are namespaced or cluster-scoped.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
pub enum InstanceScope {
    /// One instance per namespace and name.
    #[default]
    Namespaced,
    /// Cluster-wide instances.
    Cluster,
}

impl InstanceScope {
    /// `Namespaced` or `Cluster`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Namespaced => "Namespaced",
            Self::Cluster => "Cluster",
        }
    }
}

/// A printer column of the generated CRD.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrinterColumn {
    /// The column header.
    pub name: String,
    /// The OpenAPI type of the column (`string`, `integer`, `date`, ...).
    #[serde(rename = "type")]
    pub type_: String,
    /// The JSONPath of the value, relative to the object.
    pub json_path: String,
    /// A human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// An optional OpenAPI format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// 0 for the default view, higher for `-o wide`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
}

/// Labels and annotations for the generated CRD object.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchemaMetadata {
    /// Labels for the CRD.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations for the CRD.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// One node of the graph: a templated resource kro manages, or a reference to one it reads.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
// The rule is spelled as upstream's CRD spells it, so both CRDs compare equal.
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "(has(self.template) && !has(self.externalRef)) || (!has(self.template) && has(self.externalRef))",
    "message": "exactly one of template or externalRef must be provided"
}]))]
pub struct Resource {
    /// The node id, lowerCamelCase; the CEL variable other expressions read it through.
    pub id: String,
    /// The object to create, with `${}` expressions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub template: Option<Value>,
    /// An existing object (or set of objects) to read instead of creating one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_ref: Option<ExternalRef>,
    /// Conditions, all of which must hold before dependents may use this resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ready_when: Vec<String>,
    /// Conditions, all of which must hold for the resource to exist.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_when: Vec<String>,
    /// Collection dimensions: each entry maps one iterator name to a list expression.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "for_each_schema")]
    pub for_each: Vec<BTreeMap<String, String>>,
}

/// A reference to objects kro reads but never writes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalRef {
    /// The referenced object's API version.
    pub api_version: String,
    /// The referenced object's kind.
    pub kind: String,
    /// Which object(s): by name or by label selector.
    pub metadata: ExternalRefMetadata,
}

/// Identifies the externally referenced object(s).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
// Name and selector exclude each other; the graph compiler says so with the field path (the
// CRD carries no rule for it, as upstream's does not, so the same RGDs are admitted).
pub struct ExternalRefMetadata {
    /// The object's name (may contain `${}` expressions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub name: Option<String>,
    /// The object's namespace; the instance's namespace when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Selects a collection of objects by label. Free-form in the CRD, as upstream's, which
    /// also admits a `${}` expression that resolves to a selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserved_unknown_fields")]
    pub selector: Option<LabelSelector>,
}

/// A Kubernetes label selector.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Exact label matches.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One set-based label requirement.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelectorRequirement {
    /// The label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// The values for `In` and `NotIn`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// What the RGD controller observed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGraphDefinitionStatus {
    /// `Active` when the graph is accepted and its API and controller are ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "plain_string")]
    pub state: Option<RgdState>,
    /// Resource ids in topological order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topological_order: Vec<String>,
    /// `Ready`, `GraphAccepted`, `KindReady`, `ControllerReady`, `GraphRevisionsResolved`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Resources that depend on others, with their dependencies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceInformation>,
    /// The highest GraphRevision number ever issued; never decreases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_issued_revision: Option<i64>,
}

/// The state of an RGD.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum RgdState {
    /// Serving instances.
    Active,
    /// Not serving instances.
    Inactive,
}

/// A resource and the resources it depends on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceInformation {
    /// The resource id.
    #[serde(default)]
    pub id: String,
    /// Its direct dependencies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Dependency>,
}

/// A dependency of a resource.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Dependency {
    /// The id of the resource depended on.
    #[serde(default)]
    pub id: String,
}

/// A status condition, shaped like `metav1.Condition`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// The condition type, such as `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// A CamelCase reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the status last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub last_transition_time: Option<String>,
    /// The generation the condition was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub observed_generation: Option<i64>,
}
