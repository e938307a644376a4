//! Typed identity of Kubernetes kinds and objects, shared by every kro crate: a kind
//! ([`Gvk`], [`GroupKind`]), a kind with its REST mapping ([`KindMapping`]) and one object
//! ([`ObjectKey`], [`ObjectIdentity`]).

use std::fmt;

use serde::Serialize;

/// Splits an `apiVersion` into group and version (`apps/v1` → `apps`, `v1`; `v1` → ``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

/// `group/version`, or `version` for the core group.
fn join_api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    }
}

/// A group, version and kind (kube-rs calls it `GroupVersionKind`). The core group is the empty
/// string.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Gvk {
    /// The API group (`apps`), empty for the core group.
    pub group: String,
    /// The version (`v1`).
    pub version: String,
    /// The kind (`Deployment`).
    pub kind: String,
}

impl Gvk {
    /// Builds a kind from its parts.
    pub fn new(
        group: impl Into<String>,
        version: impl Into<String>,
        kind: impl Into<String>,
    ) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
        }
    }

    /// Splits an `apiVersion` (`apps/v1` or `v1`) and pairs it with `kind`.
    pub fn from_api_version(api_version: &str, kind: &str) -> Self {
        let (group, version) = split_api_version(api_version);
        Self::new(group, version, kind)
    }

    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        join_api_version(&self.group, &self.version)
    }

    /// The kind without its version.
    pub fn group_kind(&self) -> GroupKind {
        GroupKind::new(self.group.clone(), self.kind.clone())
    }
}

impl fmt::Display for Gvk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, Kind={}", self.api_version(), self.kind)
    }
}

/// An API group and kind, the unit an ApplySet inventory records (`contains-group-kinds`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct GroupKind {
    /// API group; empty for the core group.
    pub group: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
}

impl GroupKind {
    /// Builds a group-kind from its parts.
    pub fn new(group: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            group: group.into(),
            kind: kind.into(),
        }
    }
}

/// Renders the KEP-3659 form: `Kind.group`, or just `Kind` for the core group.
impl fmt::Display for GroupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.kind)
        } else {
            write!(f, "{}.{}", self.kind, self.group)
        }
    }
}

/// A kind with its REST mapping: what a read, a watch or an apply of its objects needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct KindMapping {
    /// The API group, empty for the core group.
    pub group: String,
    /// The version, e.g. `v1`.
    pub version: String,
    /// The kind, e.g. `ConfigMap`.
    pub kind: String,
    /// The plural resource name, e.g. `configmaps`.
    pub plural: String,
    /// Whether objects of the kind live in a namespace.
    pub namespaced: bool,
}

impl KindMapping {
    /// The mapping of `gvk` to resource `plural`, namespaced or cluster-scoped.
    pub fn new(gvk: &Gvk, plural: impl Into<String>, namespaced: bool) -> Self {
        Self {
            group: gvk.group.clone(),
            version: gvk.version.clone(),
            kind: gvk.kind.clone(),
            plural: plural.into(),
            namespaced,
        }
    }

    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        join_api_version(&self.group, &self.version)
    }

    /// The group, version and kind.
    pub fn gvk(&self) -> Gvk {
        Gvk::new(self.group.clone(), self.version.clone(), self.kind.clone())
    }

    /// The kind without its version.
    pub fn group_kind(&self) -> GroupKind {
        GroupKind::new(self.group.clone(), self.kind.clone())
    }

    /// The key of the object `name` of this kind; `namespace` is dropped for a cluster-scoped
    /// kind, and an empty one counts as none.
    pub fn object_key(&self, namespace: Option<&str>, name: impl Into<String>) -> ObjectKey {
        ObjectKey {
            group: self.group.clone(),
            version: self.version.clone(),
            kind: self.kind.clone(),
            namespace: namespace
                .filter(|namespace| self.namespaced && !namespace.is_empty())
                .map(str::to_owned),
            name: name.into(),
        }
    }
}

/// Identifies one object: group, version, kind, namespace and name.
///
/// `namespace` is `None` for cluster-scoped objects. For namespaced objects callers pass the
/// namespace the object actually lives in (kro-applyset's `default_child_namespace` gives the
/// fallback kro uses when a template leaves it empty).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjectKey {
    /// API group; empty for the core group.
    pub group: String,
    /// API version, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `ConfigMap`.
    pub kind: String,
    /// Namespace, `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// Object name.
    pub name: String,
}

impl ObjectKey {
    /// Builds a key for a namespaced object.
    pub fn namespaced(
        group: impl Into<String>,
        version: impl Into<String>,
        kind: impl Into<String>,
        namespace: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            namespace: Some(namespace.into()),
            name: name.into(),
        }
    }

    /// Builds a key for a cluster-scoped object.
    pub fn cluster_scoped(
        group: impl Into<String>,
        version: impl Into<String>,
        kind: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            namespace: None,
            name: name.into(),
        }
    }

    /// The group-kind of this object.
    pub fn group_kind(&self) -> GroupKind {
        GroupKind::new(self.group.clone(), self.kind.clone())
    }

    /// The `apiVersion` string: `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        join_api_version(&self.group, &self.version)
    }

    /// The version-independent identity of the object.
    ///
    /// The same object can be served (and listed) at several versions, so membership and
    /// duplicate checks compare identities, never full keys.
    pub fn identity(&self) -> ObjectIdentity<'_> {
        ObjectIdentity {
            group: &self.group,
            kind: &self.kind,
            namespace: self.namespace.as_deref(),
            name: &self.name,
        }
    }
}

/// Renders `Kind.group/v namespace/name` (or `Kind.group/v name` when cluster-scoped), the form
/// used in every error message of this crate.
impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.api_version(), self.kind)?;
        match &self.namespace {
            Some(namespace) => write!(f, " {namespace}/{}", self.name),
            None => write!(f, " {}", self.name),
        }
    }
}

/// Version-independent identity of an object (group, kind, namespace, name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectIdentity<'a> {
    /// API group.
    pub group: &'a str,
    /// Kind.
    pub kind: &'a str,
    /// Namespace, `None` when cluster-scoped.
    pub namespace: Option<&'a str>,
    /// Name.
    pub name: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_split_and_join() {
        let apps = Gvk::from_api_version("apps/v1", "Deployment");
        assert_eq!((apps.group.as_str(), apps.version.as_str()), ("apps", "v1"));
        assert_eq!(apps.api_version(), "apps/v1");
        let core = Gvk::from_api_version("v1", "ConfigMap");
        assert_eq!(core.group, "");
        assert_eq!(core.to_string(), "v1, Kind=ConfigMap");
    }

    #[test]
    fn group_kind_renders_core_group_without_suffix() {
        assert_eq!(GroupKind::new("", "ConfigMap").to_string(), "ConfigMap");
        assert_eq!(
            GroupKind::new("apps", "Deployment").to_string(),
            "Deployment.apps"
        );
    }

    #[test]
    fn object_key_display_names_namespace_when_present() {
        let namespaced = ObjectKey::namespaced("apps", "v1", "Deployment", "ns", "web");
        assert_eq!(namespaced.to_string(), "apps/v1 Deployment ns/web");
        let cluster = ObjectKey::cluster_scoped("", "v1", "Namespace", "team-a");
        assert_eq!(cluster.to_string(), "v1 Namespace team-a");
    }

    #[test]
    fn identity_ignores_version() {
        let v1 = ObjectKey::namespaced("example.com", "v1", "Widget", "ns", "w");
        let v2 = ObjectKey::namespaced("example.com", "v2", "Widget", "ns", "w");
        assert_eq!(v1.identity(), v2.identity());
        assert_ne!(v1, v2);
    }

    #[test]
    fn kind_mappings_key_objects_by_their_scope() {
        let namespaces = KindMapping::new(&Gvk::new("", "v1", "Namespace"), "namespaces", false);
        assert_eq!(namespaces.object_key(Some("ns"), "a").namespace, None);
        let maps = KindMapping::new(&Gvk::new("", "v1", "ConfigMap"), "configmaps", true);
        assert_eq!(
            maps.object_key(Some("ns"), "a").namespace.as_deref(),
            Some("ns")
        );
        assert_eq!(maps.object_key(Some(""), "a").namespace, None);
        assert_eq!(maps.api_version(), "v1");
        assert_eq!(maps.group_kind(), GroupKind::new("", "ConfigMap"));
    }
}
