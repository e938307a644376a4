//! Typed errors of the planning core. Node errors name the resource id, the field path and the
//! expression; they end up in the node's message and the instance's conditions, with their causes
//! ([`kro_api::ErrorChain`]).

use kro_applyset::{DuplicateResources, ObjectKey, OwnershipConflict};
use thiserror::Error;

/// An object handed to [`crate::core::InMemoryView`] that cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ViewError {
    /// A field every Kubernetes object has is missing or not a string.
    #[error("object has no string `{field}`")]
    MissingField {
        /// The missing field path.
        field: &'static str,
    },
}

/// A label selector that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("label selector at `{path}`: {message}")]
pub struct SelectorError {
    /// Field path inside the selector (`matchExpressions[0].operator`).
    pub path: String,
    /// What was expected.
    pub message: String,
}

impl SelectorError {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Why a resource node failed this pass (the node is ERROR; the instance is ERROR).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NodeError {
    /// An expression failed for a reason waiting will not fix.
    #[error("resource \"{id}\" {field}: expression `{expression}` failed: {message}")]
    Expression {
        /// The resource id.
        id: String,
        /// Where the expression sits (`template.spec.replicas`, `includeWhen[0]`, ...).
        field: String,
        /// The expression source.
        expression: String,
        /// The evaluation error.
        message: String,
    },
    /// An expression returned a value of the wrong type.
    #[error(
        "resource \"{id}\" {field}: expression `{expression}` returned {found}, expected {expected}"
    )]
    WrongType {
        /// The resource id.
        id: String,
        /// Where the expression sits.
        field: String,
        /// The expression source.
        expression: String,
        /// What the expression returned.
        found: String,
        /// What the field needs.
        expected: &'static str,
    },
    /// forEach expands to more items than allowed.
    #[error(
        "resource \"{id}\" forEach: the collection has more than {limit} items (dimension sizes {sizes:?}); raise the maximum collection size or shrink the input lists"
    )]
    CollectionTooLarge {
        /// The resource id.
        id: String,
        /// The configured maximum.
        limit: usize,
        /// The size of every dimension.
        sizes: Vec<usize>,
    },
    /// Two items of one collection render the same object.
    #[error(
        "resource \"{id}\" forEach: identity collision: items {first} and {second} both render {key}; every item needs a unique name/namespace"
    )]
    IdentityCollision {
        /// The resource id.
        id: String,
        /// The object key.
        key: Box<ObjectKey>,
        /// Expansion position of the first item.
        first: usize,
        /// Expansion position of the second item.
        second: usize,
    },
    /// The rendered object lacks something every object needs.
    #[error("resource \"{id}\" {field}: {message}")]
    InvalidObject {
        /// The resource id.
        id: String,
        /// The offending field.
        field: String,
        /// What was expected.
        message: String,
    },
    /// The observed object contradicts the resource's schema.
    #[error("resource \"{id}\": observed object does not match its schema: {message}")]
    ObservedObject {
        /// The resource id.
        id: String,
        /// The conversion error.
        message: String,
    },
    /// The external reference's selector does not parse (the
    /// [`source`](std::error::Error::source) says where and why).
    #[error("resource \"{id}\" externalRef.metadata.selector")]
    Selector {
        /// The resource id.
        id: String,
        /// The parse error.
        source: SelectorError,
    },
    /// The object belongs to another ApplySet.
    #[error("resource \"{id}\": {conflict}")]
    Ownership {
        /// The resource id.
        id: String,
        /// The conflict, naming the owner.
        conflict: Box<OwnershipConflict>,
    },
    /// Another node renders the same object.
    #[error("resource \"{id}\": {duplicates}")]
    Duplicate {
        /// The resource id.
        id: String,
        /// The duplicate renders.
        duplicates: DuplicateResources,
    },
}

/// The instance object handed to the planner is unusable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InstanceError {
    /// A required instance field is missing.
    #[error("instance has no string `{field}`")]
    MissingField {
        /// The field path.
        field: &'static str,
    },
    /// The instance has no `metadata.uid`: it was not read from the API server.
    #[error(
        "instance has no `metadata.uid`: plan objects as the API server stores them \
         (kro_runtime::preview fills one for an instance read from a file)"
    )]
    MissingUid,
    /// The instance's remembered ApplySet inventory does not parse (the
    /// [`source`](std::error::Error::source) names the label or annotation).
    #[error("instance ApplySet inventory annotations are invalid")]
    Inventory(#[from] kro_applyset::InventoryError),
}
