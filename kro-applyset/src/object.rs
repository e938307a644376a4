//! Minimal, client-agnostic views of Kubernetes objects: group-kinds, object keys and the
//! metadata of observed children.
//!
//! The crate never talks to an API server, so callers translate whatever object model they use
//! into these types (or build [`ChildMeta`] straight from a JSON object).

use std::collections::BTreeMap;

pub use kro_api::{GroupKind, ObjectIdentity, ObjectKey, split_api_version};
use serde::Serialize;
use serde_json::Value;

use crate::error::ObjectError;

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
