//! Compile errors: every problem of an RGD, each with its resource id and field path.

use std::fmt;

use kro_api::ErrorChain;

use crate::resolver::ResolveError;

/// What is wrong, without where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProblemKind {
    /// A name (kind, id, iterator, ...) breaks its naming rule.
    #[error("invalid {what} \"{value}\": expected {expected}")]
    InvalidName {
        /// What the name names: `resource id`, `forEach iterator`, ...
        what: &'static str,
        /// The name as written.
        value: String,
        /// The rule.
        expected: &'static str,
    },
    /// A reserved word used as a resource id or iterator name.
    #[error("{what} \"{value}\" is a reserved word")]
    Reserved {
        /// What the name names.
        what: &'static str,
        /// The name as written.
        value: String,
    },
    /// Two resources with the same id.
    #[error("duplicate resource id \"{id}\"")]
    DuplicateId {
        /// The id.
        id: String,
    },
    /// A structural rule of the RGD is broken (missing field, wrong shape, bad combination).
    #[error("{message}")]
    Invalid {
        /// What is wrong and what was expected.
        message: String,
    },
    /// A label or annotation kro reserves for itself.
    #[error("{what} \"{key}\" uses the reserved prefix \"{prefix}\"")]
    ReservedPrefix {
        /// `label` or `annotation`.
        what: &'static str,
        /// The key.
        key: String,
        /// The reserved prefix it starts with.
        prefix: &'static str,
    },
    /// The resource's kind could not be resolved to a schema (the
    /// [`source`](std::error::Error::source) says why).
    #[error("failed to get schema for resource {id}")]
    Schema {
        /// The resource id.
        id: String,
        /// Why.
        source: ResolveError,
    },
    /// `spec.schema` (SimpleSchema, kind, version, group, ...) is invalid.
    #[error("{message}")]
    InstanceSchema {
        /// kro-schema's message, with its path.
        message: String,
    },
    /// A literal template value does not fit the resource's schema.
    #[error("{message}")]
    Literal {
        /// What was found and what the schema expects.
        message: String,
    },
    /// A `${}` expression does not scan, parse, type-check or fit its field.
    #[error("{message}")]
    Expression {
        /// kro-cel's message, naming the expression.
        message: String,
    },
    /// A warning refused because of strict mode (see [`crate::Graph::strict_check`]): input
    /// upstream kro accepts but kro-rs's stricter checks do not.
    #[error("{message} (refused in strict mode)")]
    Strict {
        /// The warning's message.
        message: String,
    },
    /// The dependency graph has a cycle.
    #[error("graph contains a cycle: {}", .path.join(" -> "))]
    Cycle {
        /// The ids along the cycle, first id repeated at the end.
        path: Vec<String>,
    },
    /// The spec is larger than [`crate::CompileLimits::max_spec_bytes`].
    #[error(
        "the ResourceGraphDefinition spec is {bytes} bytes as JSON, more than the limit of {limit} bytes"
    )]
    SpecTooLarge {
        /// The size of the spec written as compact JSON.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// More resources than [`crate::CompileLimits::max_resources`].
    #[error("{count} resources are declared, more than the limit of {limit}")]
    TooManyResources {
        /// How many resources the spec declares.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// An expression longer than [`crate::CompileLimits::max_expression_bytes`].
    #[error("expression \"{excerpt}\" is {bytes} bytes long, more than the limit of {limit} bytes")]
    ExpressionTooLong {
        /// The start of the expression.
        excerpt: String,
        /// The length of the expression source.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
}

/// One problem, located by resource id (when it belongs to one) and field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    resource: Option<String>,
    path: String,
    kind: ProblemKind,
}

impl Problem {
    /// A problem of resource `resource` at `path` (relative to the resource entry).
    pub fn resource(resource: &str, path: impl Into<String>, kind: ProblemKind) -> Self {
        Self {
            resource: Some(resource.to_owned()),
            path: path.into(),
            kind,
        }
    }

    /// A problem outside any resource, at `path` (relative to the RGD spec).
    pub fn spec(path: impl Into<String>, kind: ProblemKind) -> Self {
        Self {
            resource: None,
            path: path.into(),
            kind,
        }
    }

    /// The resource id, when the problem belongs to a resource.
    pub fn resource_id(&self) -> Option<&str> {
        self.resource.as_deref()
    }

    /// The field path: relative to the resource entry (`template.spec.replicas`,
    /// `includeWhen[0]`), or to the RGD spec (`schema.status.url`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong.
    pub fn kind(&self) -> &ProblemKind {
        &self.kind
    }
}

/// A problem is a diagnostic: it shows where it is and what is wrong, with the causes of what is
/// wrong ([`ErrorChain`] of its kind), and has no [`source`](std::error::Error::source) of its own.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = ErrorChain::new(&self.kind);
        match (&self.resource, self.path.is_empty()) {
            (Some(id), false) => write!(f, "resource \"{id}\" {}: {kind}", self.path),
            (Some(id), true) => write!(f, "resource \"{id}\": {kind}"),
            (None, false) => write!(f, "{}: {kind}", self.path),
            (None, true) => write!(f, "{kind}"),
        }
    }
}

impl std::error::Error for Problem {}

/// Every problem found in an RGD, in a stable order (by where they occur in the RGD).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", join(.problems))]
pub struct CompileError {
    problems: Vec<Problem>,
}

fn join(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl CompileError {
    pub(crate) fn new(problems: Vec<Problem>) -> Self {
        Self { problems }
    }

    /// Every problem.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// Every problem rendered as a line each.
    pub fn messages(&self) -> Vec<String> {
        self.problems.iter().map(ToString::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use kro_api::Gvk;

    use super::*;

    #[test]
    fn a_schema_problem_names_the_resource_and_its_location_shows_the_cause() {
        let kind = ProblemKind::Schema {
            id: "widget".to_owned(),
            source: ResolveError::NotFound {
                gvk: Gvk::from_api_version("example.com/v1", "Widget"),
            },
        };
        let cause = "schema not found for example.com/v1, Kind=Widget";
        // The kind says what failed; why is its source.
        assert_eq!(kind.to_string(), "failed to get schema for resource widget");
        assert_eq!(
            std::error::Error::source(&kind).map(ToString::to_string),
            Some(cause.to_owned())
        );
        // The problem, a diagnostic with no source of its own, shows both once, as before.
        let problem = Problem::resource("widget", "template", kind);
        assert_eq!(
            problem.to_string(),
            format!(
                "resource \"widget\" template: failed to get schema for resource widget: {cause}"
            )
        );
        assert!(std::error::Error::source(&problem).is_none());
        assert_eq!(
            CompileError::new(vec![problem.clone(), problem]).to_string(),
            format!(
                "resource \"widget\" template: failed to get schema for resource widget: {cause}; \
                 resource \"widget\" template: failed to get schema for resource widget: {cause}"
            )
        );
    }
}
