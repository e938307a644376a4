//! CEL types as the checker sees them: conversion from OpenAPI v3 schemas, conversion back to
//! schemas (for inferred status fields), and the types of the `schema` variable's metadata.

mod schema;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;

pub use schema::{instance_schema_type, object_meta_type};

/// A CEL type, in the vocabulary of cel-go's checker plus the opaque types of the Kubernetes and kro
/// libraries.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CelType {
    /// `int`: 64-bit signed integer.
    Int,
    /// `uint`: 64-bit unsigned integer.
    Uint,
    /// `double`: 64-bit float.
    Double,
    /// `string`.
    String,
    /// `bool`.
    Bool,
    /// `bytes`.
    Bytes,
    /// `null_type`.
    Null,
    /// `google.protobuf.Timestamp`.
    Timestamp,
    /// `google.protobuf.Duration`.
    Duration,
    /// `list(T)`.
    List(Box<CelType>),
    /// `map(K, V)`.
    Map(Box<CelType>, Box<CelType>),
    /// An object with known fields (an OpenAPI object with `properties`). Shared, so cloning a
    /// large object type (a Deployment's) costs one reference count.
    Struct(Arc<StructType>),
    /// `optional_type(T)`.
    Optional(Box<CelType>),
    /// `dyn`: any value, checked at run time.
    Dyn,
    /// `type`: the type of a type value such as `int`.
    Type,
    /// A type parameter of a generic function signature (`T`, `K`, `V`), or the still-unknown
    /// element type of an empty literal (`_`). Never the type of a declared variable.
    Param(String),
    /// `net.URL` from the Kubernetes URL library.
    Url,
    /// `net.IP` from the Kubernetes IP library.
    Ip,
    /// `net.CIDR` from the Kubernetes CIDR library.
    Cidr,
    /// `kubernetes.Quantity` from the Kubernetes quantity library.
    Quantity,
    /// `kubernetes.Semver` from the Kubernetes semver library.
    Semver,
    /// `kro.run.Condition`, built by `runtime.newCondition` and `runtime.condition`.
    Condition,
}

/// An object type with known fields.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StructType {
    /// The type's name, used in messages (for example `schema.spec`).
    pub name: String,
    /// The known fields, sorted by name.
    pub fields: BTreeMap<String, FieldType>,
    /// Fields not listed are allowed and typed `dyn` (`x-kubernetes-preserve-unknown-fields`).
    pub preserves_unknown_fields: bool,
}

/// A field of a [`StructType`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldType {
    /// The field's value type.
    pub ty: CelType,
    /// Listed in the schema's `required`, so always present in valid data.
    pub required: bool,
    /// The schema gives a `default`, so the API server fills the field in.
    pub has_default: bool,
}

impl FieldType {
    /// A required field of type `ty`.
    pub fn required(ty: CelType) -> Self {
        Self {
            ty,
            required: true,
            has_default: false,
        }
    }

    /// An optional field of type `ty` without a default.
    pub fn optional(ty: CelType) -> Self {
        Self {
            ty,
            required: false,
            has_default: false,
        }
    }

    /// Whether the field may be absent from valid data (not required and no default).
    pub fn may_be_absent(&self) -> bool {
        !self.required && !self.has_default
    }
}

impl StructType {
    /// A closed struct type named `name` with `fields`.
    pub fn new(name: impl Into<String>, fields: BTreeMap<String, FieldType>) -> Self {
        Self {
            name: name.into(),
            fields,
            preserves_unknown_fields: false,
        }
    }
}

impl CelType {
    /// An object type with known fields.
    pub fn object(struct_type: StructType) -> Self {
        CelType::Struct(Arc::new(struct_type))
    }

    /// `list(element)`.
    pub fn list(element: CelType) -> Self {
        CelType::List(Box::new(element))
    }

    /// `map(key, value)`.
    pub fn map(key: CelType, value: CelType) -> Self {
        CelType::Map(Box::new(key), Box::new(value))
    }

    /// `optional_type(inner)`.
    pub fn optional(inner: CelType) -> Self {
        CelType::Optional(Box::new(inner))
    }

    /// The type of an OpenAPI v3 schema, following Kubernetes' rules (integer→int,
    /// number→double, `format: byte`→bytes, `date-time`→timestamp, int-or-string and
    /// preserve-unknown-fields→dyn). The schema must be free of `$ref`.
    pub fn from_schema(schema: &JSONSchemaProps) -> Self {
        schema::from_schema("object", schema)
    }

    /// Like [`CelType::from_schema`], naming struct types after `name` (nested ones get
    /// `name.field`), so messages say which object a field belongs to.
    pub fn from_schema_named(name: &str, schema: &JSONSchemaProps) -> Self {
        schema::from_schema(name, schema)
    }

    /// The OpenAPI v3 schema describing values of this type, used to infer status fields of a
    /// generated CRD. `dyn`, `null` and library types become preserve-unknown-fields.
    pub fn to_schema(&self) -> JSONSchemaProps {
        schema::to_schema(self)
    }

    /// Whether this is `dyn`.
    pub fn is_dyn(&self) -> bool {
        matches!(self, CelType::Dyn)
    }

    /// Whether this type mentions a type parameter anywhere.
    pub fn has_params(&self) -> bool {
        match self {
            CelType::Param(_) => true,
            CelType::List(e) | CelType::Optional(e) => e.has_params(),
            CelType::Map(k, v) => k.has_params() || v.has_params(),
            _ => false,
        }
    }

    /// This type with every type parameter replaced by `dyn`.
    pub fn without_params(&self) -> CelType {
        match self {
            CelType::Param(_) => CelType::Dyn,
            CelType::List(e) => CelType::list(e.without_params()),
            CelType::Optional(e) => CelType::optional(e.without_params()),
            CelType::Map(k, v) => CelType::map(k.without_params(), v.without_params()),
            other => other.clone(),
        }
    }

    /// The fields of a `kro.run.Condition`.
    pub fn condition_fields() -> BTreeMap<String, FieldType> {
        ["type", "status", "reason", "message"]
            .into_iter()
            .map(|name| (name.to_string(), FieldType::required(CelType::String)))
            .collect()
    }
}

impl fmt::Display for CelType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CelType::Int => f.write_str("int"),
            CelType::Uint => f.write_str("uint"),
            CelType::Double => f.write_str("double"),
            CelType::String => f.write_str("string"),
            CelType::Bool => f.write_str("bool"),
            CelType::Bytes => f.write_str("bytes"),
            CelType::Null => f.write_str("null_type"),
            CelType::Timestamp => f.write_str("google.protobuf.Timestamp"),
            CelType::Duration => f.write_str("google.protobuf.Duration"),
            CelType::List(e) => write!(f, "list({e})"),
            CelType::Map(k, v) => write!(f, "map({k}, {v})"),
            CelType::Struct(s) => f.write_str(&s.name),
            CelType::Optional(e) => write!(f, "optional_type({e})"),
            CelType::Dyn => f.write_str("dyn"),
            CelType::Type => f.write_str("type"),
            CelType::Param(name) => f.write_str(name),
            CelType::Url => f.write_str("net.URL"),
            CelType::Ip => f.write_str("net.IP"),
            CelType::Cidr => f.write_str("net.CIDR"),
            CelType::Quantity => f.write_str("kubernetes.Quantity"),
            CelType::Semver => f.write_str("kubernetes.Semver"),
            CelType::Condition => f.write_str("kro.run.Condition"),
        }
    }
}
