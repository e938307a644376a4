//! The bodies of kro's writes to the instance's own metadata: its labels and finalizer
//! (field manager `kro.run/labeller`) and its ApplySet parent labels and annotations (field
//! manager `kro.run/applyset-parent`). Each is `None` when already in place, so a settled
//! instance costs no write.

use kro_api::labels::FINALIZER;
use kro_applyset::ParentMetadata;
use serde_json::{Map, Value, json};

use crate::compare::contains;
use crate::core::{Plan, carries_finalizer};

/// The labeller's write (kro labels and finalizer), or `None` when both are in place.
pub(crate) fn labels_body(instance: &Value, plan: &Plan) -> Option<Value> {
    let has_finalizer = carries_finalizer(instance);
    let labels = json!(plan.labels_for_instance);
    let current_labels = instance
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or(json!({}));
    if has_finalizer && contains(&current_labels, &labels) {
        return None;
    }
    Some(instance_patch_body(instance, |metadata| {
        metadata.insert("labels".into(), labels);
        metadata.insert("finalizers".into(), json!([FINALIZER]));
    }))
}

/// The ApplySet parent's write (labels and annotations), or `None` when in place.
pub(crate) fn parent_body(instance: &Value, metadata: &ParentMetadata) -> Option<Value> {
    let desired = json!({"labels": metadata.labels, "annotations": metadata.annotations});
    let current = instance.get("metadata").cloned().unwrap_or(json!({}));
    if contains(&current, &desired) {
        return None;
    }
    Some(instance_patch_body(instance, |fields| {
        fields.insert("labels".into(), json!(metadata.labels));
        fields.insert("annotations".into(), json!(metadata.annotations));
    }))
}

/// An apply body for the instance holding only identity plus what `fill` adds to metadata.
/// The UID makes the apply conditional: an apply to a missing object creates it, so without the
/// UID a reconcile racing the instance's deletion would bring the instance back.
pub fn instance_patch_body(instance: &Value, fill: impl FnOnce(&mut Map<String, Value>)) -> Value {
    let mut metadata = Map::new();
    for field in ["name", "namespace", "uid"] {
        if let Some(value) = instance.pointer(&format!("/metadata/{field}")) {
            metadata.insert(field.into(), value.clone());
        }
    }
    fill(&mut metadata);
    json!({
        "apiVersion": instance.get("apiVersion"),
        "kind": instance.get("kind"),
        "metadata": metadata,
    })
}

/// The instance as a metadata write returned it. The response carries the stored status;
/// the one kro is about to write is kept when it has none.
pub fn adopt_instance_response(instance: &mut Value, response: Value) {
    let status = instance.get("status").cloned();
    *instance = response;
    if instance.get("status").is_none()
        && let (Some(map), Some(status)) = (instance.as_object_mut(), status)
    {
        map.insert("status".into(), status);
    }
}
