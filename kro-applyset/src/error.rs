//! Typed errors. Every message names the field (label, annotation or JSON path), the offending
//! value and what was expected.

use thiserror::Error;

use crate::labels::{
    ADDITIONAL_NAMESPACES_ANNOTATION, APPLYSET_ID_LABEL, CONTAINS_GROUP_KINDS_ANNOTATION,
    INVENTORY_HASH_ANNOTATION, TOOLING_ANNOTATION,
};

/// A JSON object could not be read as Kubernetes object metadata.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ObjectError {
    /// A required field is absent, null or empty.
    #[error("{path}: expected {expected}, but it is missing")]
    Missing {
        /// Dotted JSON path of the field.
        path: String,
        /// What the field should hold.
        expected: &'static str,
    },
    /// A field holds a value of the wrong JSON type.
    #[error("{path}: expected {expected}, found {found}")]
    WrongType {
        /// Dotted JSON path of the field.
        path: String,
        /// What the field should hold.
        expected: &'static str,
        /// The JSON type actually found.
        found: &'static str,
    },
}

/// A parent's persisted ApplySet inventory (labels and annotations) does not validate.
///
/// Deletion relies on the inventory alone, so any of these blocks deletion.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InventoryError {
    /// The parent's `applyset.kubernetes.io/id` label is absent or differs from the id computed
    /// from the parent's name, namespace, kind and group.
    #[error(
        "label {APPLYSET_ID_LABEL}: expected {expected:?} (computed from the parent's name, namespace, kind and group), found {}",
        describe(.found.as_deref())
    )]
    IdLabel {
        /// The id computed for this parent.
        expected: String,
        /// The label value present, if any.
        found: Option<String>,
    },
    /// The `applyset.kubernetes.io/tooling` annotation is absent or not owned by kro.
    #[error(
        "annotation {TOOLING_ANNOTATION}: expected a value starting with \"kro/\", found {}",
        describe(.found.as_deref())
    )]
    Tooling {
        /// The annotation value present, if any.
        found: Option<String>,
    },
    /// A required inventory annotation is absent (it must exist even when empty).
    #[error("annotation {annotation}: expected to be present (possibly empty), but it is missing")]
    MissingAnnotation {
        /// The missing annotation key.
        annotation: &'static str,
    },
    /// An entry of `applyset.kubernetes.io/contains-group-kinds` is malformed.
    #[error(
        "annotation {CONTAINS_GROUP_KINDS_ANNOTATION}: entry {entry:?} is invalid: expected {expected}"
    )]
    GroupKind {
        /// The offending comma-separated entry (trimmed).
        entry: String,
        /// What a valid entry looks like.
        expected: String,
    },
    /// An entry of `applyset.kubernetes.io/additional-namespaces` is malformed.
    #[error(
        "annotation {ADDITIONAL_NAMESPACES_ANNOTATION}: entry {entry:?} is invalid: expected {expected}"
    )]
    Namespace {
        /// The offending comma-separated entry (trimmed).
        entry: String,
        /// What a valid entry looks like.
        expected: String,
    },
    /// The inventory hash annotation does not match the group-kinds and namespaces recorded.
    #[error(
        "annotation {INVENTORY_HASH_ANNOTATION}: expected {expected:?} (hash of the id, group-kinds and namespaces), found {found:?}"
    )]
    Hash {
        /// The hash computed from the parsed inventory.
        expected: String,
        /// The annotation value present.
        found: String,
    },
}

fn describe(value: Option<&str>) -> String {
    match value {
        Some(text) => format!("{text:?}"),
        None => "no value (absent)".to_owned(),
    }
}
