//! Non-fatal findings of a compilation, located like [`crate::Problem`]s.

use std::fmt;

/// A finding that does not stop compilation but deserves the author's attention, such as a read
/// of an instance field the user may never set (the resource would then wait forever).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Warning {
    resource: Option<String>,
    path: String,
    message: String,
}

impl Warning {
    /// A warning about resource `resource` at `path` (relative to the resource entry).
    pub fn resource(resource: &str, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            resource: Some(resource.to_owned()),
            path: path.into(),
            message: message.into(),
        }
    }

    /// A warning outside any resource, at `path` (relative to the RGD spec).
    pub fn spec(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            resource: None,
            path: path.into(),
            message: message.into(),
        }
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
