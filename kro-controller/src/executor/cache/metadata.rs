//! Reading and trimming the metadata of watched and written objects.

use std::collections::BTreeMap;
use std::sync::Arc;

use kro_applyset::labels::{OWNED_LABEL, PART_OF_LABEL};
use kube::api::{DynamicObject, PartialObjectMeta};
use serde_json::Value;

use super::{KindMapping, ObjectName};

/// `metadata.uid` of an object.
pub(crate) fn uid_of(object: &Value) -> Option<&str> {
    object.pointer("/metadata/uid").and_then(Value::as_str)
}

/// The ApplySet an object is labelled a member of (`applyset.kubernetes.io/part-of`).
pub(crate) fn part_of(object: &Value) -> Option<&str> {
    label_of(object, PART_OF_LABEL)
}

pub(super) fn label_of<'a>(object: &'a Value, label: &str) -> Option<&'a str> {
    object.get("metadata")?.get("labels")?.get(label)?.as_str()
}

/// Whether an object carries `kro.run/owned=true`: only those are watched, so only those are
/// kept.
pub(super) fn is_kro_owned(object: &Value) -> bool {
    label_of(object, OWNED_LABEL) == Some("true")
}

/// `metadata.labels` of an object as a map (non-string values ignored).
pub(crate) fn labels_of(object: &Value) -> BTreeMap<String, String> {
    string_map(object.pointer("/metadata/labels"))
}

pub(super) fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// The annotation `kubectl apply` (client-side) leaves: a full copy of the object, never read.
pub(super) const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// An object's metadata as the cache keeps it: `apiVersion`, `kind` and `metadata` without
/// `managedFields` and the last-applied copy, which nothing reads.
pub(crate) fn to_cached_metadata(
    kind: &KindMapping,
    object: &PartialObjectMeta<DynamicObject>,
) -> Option<(ObjectName, Arc<Value>)> {
    let mut metadata = serde_json::to_value(&object.metadata).ok()?;
    strip_unread_metadata(&mut metadata);
    let name = object.metadata.name.clone()?;
    let namespace = object
        .metadata
        .namespace
        .clone()
        .filter(|ns| !ns.is_empty());
    let value = serde_json::json!({
        "apiVersion": kind.api_version(),
        "kind": kind.kind,
        "metadata": metadata,
    });
    Some(((namespace, name), Arc::new(value)))
}

pub(crate) fn resource_version(object: &Value) -> Option<&str> {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
}

/// `apiVersion`, `kind` and `metadata` of a full kro-managed object, as the watch would report
/// them; `None` for an object without kro's `kro.run/owned` label, which the watch never sees.
pub(super) fn owned_metadata(object: &Value) -> Option<Value> {
    if !is_kro_owned(object) {
        return None;
    }
    let mut metadata = object.get("metadata")?.clone();
    strip_unread_metadata(&mut metadata);
    Some(serde_json::json!({
        "apiVersion": object.get("apiVersion")?,
        "kind": object.get("kind")?,
        "metadata": metadata,
    }))
}

/// Drops `managedFields` and the client-side last-applied copy, which nothing reads.
pub(super) fn strip_unread_metadata(metadata: &mut Value) {
    if let Some(fields) = metadata.as_object_mut() {
        fields.remove("managedFields");
        if let Some(annotations) = fields.get_mut("annotations").and_then(Value::as_object_mut) {
            annotations.remove(LAST_APPLIED_ANNOTATION);
        }
    }
}
