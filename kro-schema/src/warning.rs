//! Warnings: input upstream kro v0.9.4 accepts and serves, which kro-rs once refused.
//!
//! Each one still yields a working CRD (the same one upstream generates), so it does not stop the
//! conversion; a caller that wants the old, stricter behaviour turns them into errors.

use std::fmt;

/// What is questionable about one piece of a schema. The [`SchemaWarning`] that carries it says
/// where.
///
/// Every message names the marker (when one is involved) and what kro does with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum WarningKind {
    /// A marker that is meant to appear once appears again; like upstream, the last one wins.
    #[error(
        "marker `{marker}` is given more than once: the last one (`{marker}={kept}`) is used, as \
         upstream kro does"
    )]
    RepeatedMarker {
        /// The marker key.
        marker: &'static str,
        /// The value that takes effect, as written.
        kept: String,
    },

    /// A marker on a type it has no effect on, e.g. `minimum` on a string. It is written to the
    /// CRD as upstream does; the API server accepts it and never applies it.
    #[error(
        "marker `{marker}` applies only to {allowed} fields, not to `{found}`: it is kept in the \
         CRD as upstream kro does, but has no effect"
    )]
    MarkerHasNoEffect {
        /// The marker key.
        marker: &'static str,
        /// The types it applies to.
        allowed: &'static str,
        /// The type of the field.
        found: String,
    },

    /// A lower bound above its upper bound: no value of the field can be valid.
    #[error(
        "marker `{lower}`={lower_value} is greater than `{upper}`={upper_value}: the API server \
         will reject every value of this field"
    )]
    InvertedBounds {
        /// The lower-bound marker.
        lower: &'static str,
        /// Its value.
        lower_value: String,
        /// The upper-bound marker.
        upper: &'static str,
        /// Its value.
        upper_value: String,
    },

    /// A negative length or item count.
    #[error("marker `{marker}`={value} is negative: {effect}")]
    NegativeCount {
        /// The marker key.
        marker: &'static str,
        /// The value as parsed.
        value: i64,
        /// What the API server makes of it.
        effect: &'static str,
    },

    /// A `default` list for a `listType=set` field that repeats an item: the API server accepts
    /// the CRD but rejects every instance that leaves the field out.
    #[error(
        "marker `default`: the list repeats {item} although the field is a set (`listType=set` or \
         `uniqueItems=true`): instances that leave the field out will be rejected"
    )]
    DefaultRepeatsSetItem {
        /// The repeated item, as JSON.
        item: String,
    },

    /// A field whose name is the empty string.
    #[error("empty field name: the field is kept as upstream kro does, but can hardly be used")]
    EmptyFieldName,

    /// A custom type named like a built-in one: the built-in wins and the definition is unused.
    #[error(
        "custom type `{name}` has the name of a built-in type: fields of type `{name}` use the \
         built-in type, so this definition is ignored, as upstream kro does"
    )]
    ShadowedTypeName {
        /// The name.
        name: String,
    },

    /// A pattern kro-rs cannot compile to check defaults against, though the API server's Go
    /// RE2 engine may accept it.
    #[error(
        "marker `pattern`: `{pattern}` is not checked by kro-rs ({reason}): it is kept as written"
    )]
    PatternNotChecked {
        /// The pattern.
        pattern: String,
        /// Why kro-rs could not compile it.
        reason: String,
    },

    /// Whitespace between a marker key and its `=`, e.g. `minimum =1`.
    #[error("marker `{marker}` has whitespace before `=`: expected `{marker}=<value>`")]
    SpaceBeforeEquals {
        /// The marker key.
        marker: String,
    },

    /// `required=false` on a field whose custom type says `required=true`: upstream keeps the
    /// field required, and so does kro-rs.
    #[error(
        "marker `required=false` does not override `required=true` of type `{alias}`: the field \
         stays required, as in upstream kro"
    )]
    RequiredNotOverridden {
        /// The custom type that makes the field required.
        alias: String,
    },
}

impl WarningKind {
    /// Attaches a field path.
    pub fn at(self, path: impl Into<String>) -> SchemaWarning {
        SchemaWarning {
            path: path.into(),
            kind: self,
        }
    }
}

/// One warning at one place of a schema.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaWarning {
    /// Dotted path of the field, e.g. `schema.spec.replicas` or `types.Port.number`.
    pub path: String,
    /// What is questionable.
    pub kind: WarningKind,
}

impl fmt::Display for SchemaWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.kind)
    }
}
