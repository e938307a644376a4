//! Minimal, client-agnostic views of Kubernetes objects: group-kinds, object keys and the
//! metadata of observed children.
//!
//! The crate never talks to an API server, so callers translate whatever object model they use
//! into these types (or build [`ChildMeta`] straight from a JSON object).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::error::ObjectError;

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

/// Identifies one object: group, version, kind, namespace and name.
///
/// `namespace` is `None` for cluster-scoped objects. For namespaced objects callers pass the
/// namespace the object actually lives in (see [`default_child_namespace`] for the fallback kro
/// uses when a template leaves it empty).
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
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
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

/// The namespace kro places a namespaced child in when its template leaves it empty: the parent's
/// namespace, or `default` when the parent is cluster-scoped.
pub fn default_child_namespace(parent_namespace: Option<&str>) -> &str {
    match parent_namespace {
        Some(namespace) if !namespace.is_empty() => namespace,
        _ => "default",
    }
}

/// The metadata of an observed child: what prune, deletion and conflict checks need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChildMeta {
    /// Which object this is.
    pub key: ObjectKey,
    /// `metadata.uid`; deletions use it as a precondition.
    pub uid: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// Whether `metadata.deletionTimestamp` is set (the object is already terminating).
    pub terminating: bool,
}

impl ChildMeta {
    /// Reads the metadata of a Kubernetes object given as JSON (`apiVersion`, `kind`,
    /// `metadata.{name,namespace,uid,labels,annotations,deletionTimestamp}`).
    ///
    /// An absent or empty `metadata.namespace` yields a cluster-scoped key; callers listing a
    /// namespaced kind always get the namespace back from the API server.
    pub fn from_object(object: &Value) -> Result<Self, ObjectError> {
        let api_version = required_str(object, &["apiVersion"])?;
        let kind = required_str(object, &["kind"])?;
        let name = required_str(object, &["metadata", "name"])?;
        let uid = required_str(object, &["metadata", "uid"])?;
        let namespace = optional_str(object, &["metadata", "namespace"])?
            .filter(|namespace| !namespace.is_empty())
            .map(str::to_owned);
        let (group, version) = split_api_version(api_version);
        let terminating = !matches!(
            lookup(object, &["metadata", "deletionTimestamp"]),
            None | Some(Value::Null)
        );
        Ok(Self {
            key: ObjectKey {
                group: group.to_owned(),
                version: version.to_owned(),
                kind: kind.to_owned(),
                namespace,
                name: name.to_owned(),
            },
            uid: uid.to_owned(),
            labels: string_map(object, "labels")?,
            annotations: string_map(object, "annotations")?,
            terminating,
        })
    }
}

/// Splits an `apiVersion` into group and version (`apps/v1` → `apps`, `v1`; `v1` → ``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

fn lookup<'a>(object: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter()
        .try_fold(object, |value, segment| value.get(segment))
}

fn optional_str<'a>(object: &'a Value, path: &[&str]) -> Result<Option<&'a str>, ObjectError> {
    match lookup(object, path) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(ObjectError::WrongType {
            path: path.join("."),
            expected: "a string",
            found: json_type_name(other),
        }),
    }
}

fn required_str<'a>(object: &'a Value, path: &[&str]) -> Result<&'a str, ObjectError> {
    match optional_str(object, path)? {
        Some(text) if !text.is_empty() => Ok(text),
        _ => Err(ObjectError::Missing {
            path: path.join("."),
            expected: "a non-empty string",
        }),
    }
}

fn string_map(object: &Value, field: &str) -> Result<BTreeMap<String, String>, ObjectError> {
    let path = ["metadata", field];
    match lookup(object, &path) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(entries)) => entries
            .iter()
            .map(|(key, value)| match value {
                Value::String(text) => Ok((key.clone(), text.clone())),
                other => Err(ObjectError::WrongType {
                    path: format!("metadata.{field}.{key}"),
                    expected: "a string",
                    found: json_type_name(other),
                }),
            })
            .collect(),
        Some(other) => Err(ObjectError::WrongType {
            path: path.join("."),
            expected: "a map of strings",
            found: json_type_name(other),
        }),
    }
}

fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
    fn default_namespace_falls_back_to_default_for_cluster_parents() {
        assert_eq!(default_child_namespace(Some("team")), "team");
        assert_eq!(default_child_namespace(Some("")), "default");
        assert_eq!(default_child_namespace(None), "default");
    }

    #[test]
    fn child_meta_reads_full_metadata() {
        let object = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "web",
                "namespace": "ns",
                "uid": "u-1",
                "labels": {"a": "1"},
                "annotations": {"b": "2"},
                "deletionTimestamp": "2025-01-01T00:00:00Z"
            }
        });
        let meta = ChildMeta::from_object(&object).expect("valid object");
        assert_eq!(
            meta.key,
            ObjectKey::namespaced("apps", "v1", "Deployment", "ns", "web")
        );
        assert_eq!(meta.uid, "u-1");
        assert_eq!(meta.labels.get("a").map(String::as_str), Some("1"));
        assert_eq!(meta.annotations.get("b").map(String::as_str), Some("2"));
        assert!(meta.terminating);
    }

    #[test]
    fn child_meta_core_group_cluster_scoped_without_optional_maps() {
        let object = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "team", "uid": "u-2", "namespace": ""}
        });
        let meta = ChildMeta::from_object(&object).expect("valid object");
        assert_eq!(
            meta.key,
            ObjectKey::cluster_scoped("", "v1", "Namespace", "team")
        );
        assert!(meta.labels.is_empty());
        assert!(!meta.terminating);
    }

    #[test]
    fn child_meta_errors_name_the_field() {
        let missing_uid =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
        let error = ChildMeta::from_object(&missing_uid).expect_err("uid is required");
        assert_eq!(
            error.to_string(),
            "metadata.uid: expected a non-empty string, but it is missing"
        );

        let bad_label = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "x", "uid": "u", "labels": {"n": 3}}
        });
        let error = ChildMeta::from_object(&bad_label).expect_err("labels are strings");
        assert_eq!(
            error.to_string(),
            "metadata.labels.n: expected a string, found a number"
        );

        let bad_kind =
            json!({"apiVersion": "v1", "kind": 7, "metadata": {"name": "x", "uid": "u"}});
        let error = ChildMeta::from_object(&bad_kind).expect_err("kind is a string");
        assert_eq!(error.to_string(), "kind: expected a string, found a number");
    }
}
