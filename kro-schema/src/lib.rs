#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod crd;
mod diff;
mod error;
mod field;
mod markers;
mod openapi;
mod pluralize;
mod types;
mod values;
mod warning;

pub use crate::crd::{
    CrdOptions, CrdSpec, DEFAULT_GROUP, RESOURCES_STATUS_FIELD, Scope, crd_from_rgd_schema,
    default_printer_columns, generate_crd, status_schema,
};
pub use crate::diff::{ChangeKind, SchemaChange, SchemaDiff, diff_crds, diff_schemas};
pub use crate::error::{ErrorKind, SchemaError, SchemaErrors};
pub use crate::field::{FieldSpec, MAX_TYPE_DEPTH, TypeExpr, parse_field, parse_type};
pub use crate::markers::{ListType, Marker, parse_markers};
pub use crate::openapi::{IMMUTABLE_MESSAGE, MAX_OBJECT_DEPTH, SimpleSchema, VALIDATION_MESSAGE};
pub use crate::pluralize::pluralize;
pub use crate::warning::{SchemaWarning, WarningKind};

/// The OpenAPI types this crate produces, re-exported so users need no direct `k8s-openapi`
/// dependency to name them.
pub use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps,
};
