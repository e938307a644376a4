//! Error types: what went wrong ([`ErrorKind`]), where ([`SchemaError`]) and all of it at once
//! ([`SchemaErrors`]).

use std::fmt;

/// What is wrong with one piece of a schema. The [`SchemaError`] that carries it says where.
///
/// Every message names the marker (when one is involved) and what was expected instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The type part of a field (before the first `|`) is empty.
    #[error("empty type: expected a type such as `string` or `[]integer` before the first `|`")]
    EmptyType,

    /// `[]` or `map[string]` with nothing after it.
    #[error("type `{text}` has no {part}: expected e.g. `[]string` or `map[string]string`")]
    MissingElementType {
        /// The whole type text.
        text: String,
        /// `element type` or `value type`.
        part: &'static str,
    },

    /// `map[` without a closing `]`.
    #[error("malformed map type `{text}`: expected `map[string]<value type>`")]
    MalformedMap {
        /// The whole type text.
        text: String,
    },

    /// A map key type other than `string`.
    #[error("map key type must be `string`, got `{key}`")]
    MapKeyNotString {
        /// The key type that was given.
        key: String,
    },

    /// More than [`crate::MAX_TYPE_DEPTH`] nested `[]` / `map[string]` wrappers.
    #[error("type `{text}` nests {depth} arrays/maps: the maximum is {max}")]
    TypeTooDeep {
        /// The whole type text.
        text: String,
        /// How many wrappers it has.
        depth: usize,
        /// The limit.
        max: usize,
    },

    /// Characters that cannot form a type name.
    #[error(
        "`{text}` is not a valid type: expected string, integer, boolean, float, object, []T, \
         map[string]T or a type name from schema.types"
    )]
    InvalidType {
        /// The offending text.
        text: String,
    },

    /// A name that is neither built in nor declared in `schema.types`.
    #[error(
        "unknown type `{name}`: expected string, integer, boolean, float, object, []T, \
         map[string]T or a type declared in schema.types{hint}"
    )]
    UnknownType {
        /// The unknown name.
        name: String,
        /// A suggestion such as ` (did you mean `float`?)`, or empty.
        hint: String,
    },

    /// A marker that starts with `=`.
    #[error("marker without a key: expected `key=value`")]
    EmptyMarkerKey,

    /// A marker key kro does not know.
    #[error("unknown marker `{key}`: expected one of {known}")]
    UnknownMarker {
        /// The key that was given.
        key: String,
        /// The list of known markers.
        known: &'static str,
    },

    /// `key` with no `=value`.
    #[error("marker `{key}` has no value: expected `{key}=<value>`")]
    MarkerWithoutValue {
        /// The key.
        key: String,
    },

    /// A double quote that is never closed.
    #[error("marker `{marker}`: unclosed double quote: expected a closing `\"`")]
    UnclosedQuote {
        /// The marker key.
        marker: String,
    },

    /// A `[` or `{` that is never closed.
    #[error("marker `{marker}`: unclosed `{open}`: expected a matching `{close}`")]
    UnclosedBracket {
        /// The marker key.
        marker: String,
        /// The opening bracket.
        open: char,
        /// The bracket that would close it.
        close: char,
    },

    /// A closing bracket with no matching opener.
    #[error("marker `{marker}`: unexpected `{found}`: expected {expected}")]
    UnexpectedClosingBracket {
        /// The marker key.
        marker: String,
        /// The closing bracket found.
        found: char,
        /// What would have been valid there.
        expected: String,
    },

    /// A marker value of the wrong shape, e.g. `minimum=abc`.
    #[error("marker `{marker}`: expected {expected}, got `{value}`")]
    InvalidMarkerValue {
        /// The marker key.
        marker: &'static str,
        /// What the value should look like.
        expected: String,
        /// The value that was given.
        value: String,
    },

    /// `pattern` that the API server's regular-expression dialect (Go RE2) rejects.
    #[error("marker `pattern`: expected a Go RE2 regular expression, got `{pattern}`: {reason}")]
    InvalidPattern {
        /// The pattern.
        pattern: String,
        /// Why it does not compile.
        reason: String,
    },

    /// A marker on a type it does not apply to, e.g. `pattern` on an integer.
    #[error("marker `{marker}` applies only to {allowed} fields, not to `{found}`")]
    MarkerNotApplicable {
        /// The marker key.
        marker: &'static str,
        /// The types it applies to.
        allowed: &'static str,
        /// The type of the field.
        found: String,
    },

    /// Two markers that contradict each other.
    #[error("marker `{marker}`: {reason}")]
    ConflictingMarkers {
        /// The marker key.
        marker: &'static str,
        /// The contradiction and what is expected.
        reason: String,
    },

    /// A `default` that does not parse as, or does not satisfy, the field's schema.
    #[error("marker `default`: expected {expected}, got `{value}`")]
    InvalidDefault {
        /// What a valid default looks like, and why this one is not.
        expected: String,
        /// The default as written.
        value: String,
    },

    /// A schema value that is neither a type string nor a nested map of fields.
    #[error(
        "expected a type string (e.g. `string | required=true`) or a map of fields, got {found}"
    )]
    InvalidFieldValue {
        /// The JSON kind that was found.
        found: &'static str,
    },

    /// A value that must be a map of field names to types.
    #[error("expected a map of field names to types, got {found}")]
    ExpectedMap {
        /// The JSON kind that was found.
        found: &'static str,
    },

    /// Custom types that reference each other in a cycle.
    #[error(
        "cyclic dependency between custom types: {cycle}: expected types that do not reference themselves"
    )]
    CyclicTypes {
        /// The cycle, e.g. `A -> B -> A`.
        cycle: String,
    },

    /// Inline objects nested absurdly deep.
    #[error("objects nest deeper than {max} levels: expected a shallower schema")]
    ObjectTooDeep {
        /// The limit.
        max: usize,
    },

    /// A required RGD schema field is absent.
    #[error("missing required field: expected {expected}")]
    MissingField {
        /// What should be there.
        expected: String,
    },

    /// An RGD schema value of the wrong shape.
    #[error("expected {expected}, got {value}")]
    InvalidValue {
        /// What should be there.
        expected: String,
        /// What was found (already quoted where useful).
        value: String,
    },

    /// The same entry twice in a list that must not repeat.
    #[error("duplicate entry `{value}`: expected each entry once")]
    Duplicate {
        /// The repeated entry.
        value: String,
    },
}

impl ErrorKind {
    /// Attaches a field path.
    pub fn at(self, path: impl Into<String>) -> SchemaError {
        SchemaError {
            path: path.into(),
            kind: self,
        }
    }
}

/// One error at one place of a schema.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {kind}")]
pub struct SchemaError {
    /// Dotted path of the field, e.g. `spec.ports.name` or `types.Port.number`.
    pub path: String,
    /// What is wrong.
    pub kind: ErrorKind,
}

/// Every error found in a schema, in a stable order (the order of the sorted field paths).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SchemaErrors(pub Vec<SchemaError>);

impl SchemaErrors {
    /// The errors.
    pub fn errors(&self) -> &[SchemaError] {
        &self.0
    }

    /// How many errors there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates over the errors.
    pub fn iter(&self) -> std::slice::Iter<'_, SchemaError> {
        self.0.iter()
    }
}

impl fmt::Display for SchemaErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [] => f.write_str("no schema errors"),
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} schema errors:", many.len())?;
                for error in many {
                    write!(f, "\n  {error}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for SchemaErrors {}

impl From<SchemaError> for SchemaErrors {
    fn from(error: SchemaError) -> Self {
        Self(vec![error])
    }
}

impl IntoIterator for SchemaErrors {
    type Item = SchemaError;
    type IntoIter = std::vec::IntoIter<SchemaError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a SchemaErrors {
    type Item = &'a SchemaError;
    type IntoIter = std::slice::Iter<'a, SchemaError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Joins a parent path and a key with a dot (no leading dot at the root).
pub(crate) fn join_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// The JSON kind of a value, for messages.
pub(crate) fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "a map",
    }
}
