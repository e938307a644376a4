//! Non-fatal findings of a compilation, located like [`crate::Problem`]s.

use std::fmt;

use crate::error::{Problem, ProblemKind};

/// A finding that does not stop compilation but deserves the author's attention, such as a read
/// of an instance field the user may never set (the resource would then wait forever).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Warning {
    resource: Option<String>,
    path: String,
    message: String,
    strict_error: bool,
}

impl Warning {
    /// A warning about resource `resource` at `path` (relative to the resource entry).
    pub fn resource(resource: &str, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            resource: Some(resource.to_owned()),
            path: path.into(),
            message: message.into(),
            strict_error: false,
        }
    }

    /// A warning outside any resource, at `path` (relative to the RGD spec).
    pub fn spec(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            resource: None,
            path: path.into(),
            message: message.into(),
            strict_error: false,
        }
    }

    /// A warning for input upstream kro v0.9.4 accepts (and kro-rs serves the same way) that
    /// kro-rs used to refuse: [`crate::Graph::strict_check`] turns it into an error.
    pub(crate) fn upstream_accepted(
        resource: Option<&str>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            resource: resource.map(str::to_owned),
            path: path.into(),
            message: message.into(),
            strict_error: true,
        }
    }

    /// Whether strict mode refuses the RGD for this warning: true for checks kro-rs relaxed
    /// because upstream kro v0.9.4 accepts the input (a repeated marker, `minimum` on a string,
    /// ...), false for advice such as an unguarded read of an optional instance field.
    pub fn is_strict_error(&self) -> bool {
        self.strict_error
    }

    /// The resource id, when the warning belongs to a resource.
    pub fn resource_id(&self) -> Option<&str> {
        self.resource.as_deref()
    }

    /// The field path: relative to the resource entry (`template.spec.replicas`,
    /// `includeWhen[0]`), or to the RGD spec (`schema.status.url`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What may go wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl Warning {
    /// The problem strict mode reports for this warning, at the same place.
    pub(crate) fn to_strict_problem(&self) -> Problem {
        let kind = ProblemKind::Strict {
            message: self.message.clone(),
        };
        match &self.resource {
            Some(id) => Problem::resource(id, self.path.clone(), kind),
            None => Problem::spec(self.path.clone(), kind),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.resource, self.path.is_empty()) {
            (Some(id), false) => write!(f, "resource \"{id}\" {}: {}", self.path, self.message),
            (Some(id), true) => write!(f, "resource \"{id}\": {}", self.message),
            (None, false) => write!(f, "{}: {}", self.path, self.message),
            (None, true) => f.write_str(&self.message),
        }
    }
}
