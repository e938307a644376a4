//! kro's metadata on rendered children, and what the planner reads of a live child's.
//!
//! Every child of an instance carries the same kro labels but its node's own
//! (`kro.run/node-id` and the collection position): [`ChildStamp`] builds the shared ones, and
//! the ApplySet id among them, once per pass instead of once per child.

use std::collections::BTreeMap;

use kro_applyset::labels::{
    COLLECTION_INDEX_LABEL, COLLECTION_SIZE_LABEL, KRO_VERSION_LABEL, NODE_ID_LABEL, PART_OF_LABEL,
    label_value_token, stamp_metadata,
};
use kro_applyset::{
    CollectionPosition, InstanceRef, KroVersion, ObjectError, child_annotations, child_labels,
};
use serde_json::{Map, Value};

/// The labels and annotations kro stamps on the children of one instance.
pub(crate) struct ChildStamp {
    /// [`child_labels`] without the labels of the node and the collection position.
    shared: BTreeMap<String, String>,
    /// `shared` as JSON, copied whole into each child.
    shared_json: Map<String, Value>,
}

impl ChildStamp {
    pub(crate) fn new(instance: &InstanceRef, version: &KroVersion) -> Self {
        let mut shared = child_labels(instance, version, "", None);
        shared.remove(NODE_ID_LABEL);
        shared.remove(COLLECTION_INDEX_LABEL);
        shared.remove(COLLECTION_SIZE_LABEL);
        let shared_json = json_map(&shared);
        Self {
            shared,
            shared_json,
        }
    }

    /// Stamps `object` as `stamp_metadata(object, &child_labels(instance, version, node_id,
    /// position), &child_annotations(apply_order))` does.
    pub(crate) fn stamp(
        &self,
        object: &mut Value,
        node_id: &str,
        apply_order: u32,
        position: Option<CollectionPosition>,
    ) -> Result<(), ObjectError> {
        let node_label = label_value_token(node_id);
        // The common shape: metadata a map, labels and annotations absent, null or maps.
        if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut)
            && mergeable(metadata.get("labels"))
            && mergeable(metadata.get("annotations"))
        {
            let mut labels = self.shared_json.clone();
            labels.insert(
                NODE_ID_LABEL.to_owned(),
                Value::String(node_label.into_owned()),
            );
            if let Some(position) = position {
                labels.insert(
                    COLLECTION_INDEX_LABEL.to_owned(),
                    Value::String(position.index.to_string()),
                );
                labels.insert(
                    COLLECTION_SIZE_LABEL.to_owned(),
                    Value::String(position.size.to_string()),
                );
            }
            merge(metadata, "labels", labels);
            merge(
                metadata,
                "annotations",
                json_map(&child_annotations(apply_order)),
            );
            return Ok(());
        }
        let mut own = BTreeMap::from([(NODE_ID_LABEL.to_owned(), node_label.into_owned())]);
        if let Some(position) = position {
            own.insert(
                COLLECTION_INDEX_LABEL.to_owned(),
                position.index.to_string(),
            );
            own.insert(COLLECTION_SIZE_LABEL.to_owned(), position.size.to_string());
        }
        // The two label sets are disjoint: stamping one after the other writes their union.
        stamp_metadata(object, &self.shared, &child_annotations(apply_order))?;
        stamp_metadata(object, &own, &BTreeMap::new())
    }
}

fn json_map(entries: &BTreeMap<String, String>) -> Map<String, Value> {
    entries
        .iter()
        .map(|(key, value)| (key.clone(), Value::String(value.clone())))
        .collect()
}

/// Whether `stamp_metadata` writes into this metadata field without failing.
fn mergeable(field: Option<&Value>) -> bool {
    matches!(field, None | Some(Value::Null | Value::Object(_)))
}

/// Writes kro's entries over `metadata.<field>` (a [`mergeable`] field), as `stamp_metadata`
/// does: the object's own entries stay unless kro writes the same key.
fn merge(metadata: &mut Map<String, Value>, field: &str, mut kro: Map<String, Value>) {
    match metadata.get_mut(field) {
        Some(Value::Object(own)) => {
            for (key, value) in std::mem::take(own) {
                kro.entry(key).or_insert(value);
            }
            *own = kro;
        }
        _ => {
            metadata.insert(field.to_owned(), Value::Object(kro));
        }
    }
}

/// `metadata.<field>` of an object, as `object.pointer("/metadata/<field>")` finds it.
pub(crate) fn metadata_field<'v>(object: &'v Value, field: &str) -> Option<&'v Value> {
    object.get("metadata")?.get(field)
}

/// The string label `key` of a live object (`metadata.labels`; other values are no labels).
pub(crate) fn live_label<'v>(object: &'v Value, key: &str) -> Option<&'v str> {
    metadata_field(object, "labels")?
        .as_object()?
        .get(key)?
        .as_str()
}

/// Whether the live object may belong to another ApplySet than `applyset_id`: its `part-of`
/// label names another one. Only then does `check_membership` need the object's metadata.
pub(crate) fn maybe_foreign(live: &Value, applyset_id: &str) -> bool {
    live_label(live, PART_OF_LABEL).is_some_and(|owner| !owner.is_empty() && owner != applyset_id)
}

/// Keeps the `kro.run/kro-version` value an existing child carries: the label records the
/// version that created the child, so neither an upgrade of kro-rs nor a takeover from upstream
/// kro rewrites every child in the cluster. A child without the label (or with an empty one)
/// keeps the current version [`ChildStamp::stamp`] stamped.
pub(crate) fn keep_recorded_version(object: &mut Value, live: &Value) -> Result<(), ObjectError> {
    let Some(recorded) = live_label(live, KRO_VERSION_LABEL).filter(|value| !value.is_empty())
    else {
        return Ok(());
    };
    // The object is stamped: its labels are a map.
    if let Some(labels) = object
        .get_mut("metadata")
        .and_then(|metadata| metadata.get_mut("labels"))
        .and_then(Value::as_object_mut)
    {
        labels.insert(
            KRO_VERSION_LABEL.to_owned(),
            Value::String(recorded.to_owned()),
        );
        return Ok(());
    }
    let labels = BTreeMap::from([(KRO_VERSION_LABEL.to_owned(), recorded.to_owned())]);
    stamp_metadata(object, &labels, &BTreeMap::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn instance(namespace: Option<&str>) -> InstanceRef {
        InstanceRef {
            group: "kro.run".into(),
            version: "v1alpha1".into(),
            kind: "App".into(),
            namespace: namespace.map(str::to_owned),
            name: "demo".into(),
            uid: "uid-1".into(),
        }
    }

    #[test]
    fn stamps_what_child_labels_and_child_annotations_give() {
        let version = KroVersion::new("v0.9.0");
        let long_id = "a".repeat(80);
        let positions = [
            None,
            Some(CollectionPosition { index: 0, size: 1 }),
            Some(CollectionPosition { index: 3, size: 12 }),
        ];
        let objects = [
            json!({"metadata": {"name": "x"}}),
            json!({"metadata": {"name": "x", "labels": {"user": "yes", NODE_ID_LABEL: "mine"}}}),
            json!({"metadata": {"labels": null, "annotations": {"a": "b"}}}),
            json!({"metadata": {"labels": {"kro.run/owned": "false", "z": "1"}, "annotations": null}}),
            json!({"metadata": {"annotations": {"internal.kro.run/apply-order": "9", "x": "y"}}}),
            json!({"metadata": null}),
            json!({}),
        ];
        for namespace in [None, Some("team")] {
            let instance = instance(namespace);
            let stamp = ChildStamp::new(&instance, &version);
            for id in ["web", "Web_Config", long_id.as_str()] {
                for position in positions {
                    for object in &objects {
                        let mut expected = object.clone();
                        stamp_metadata(
                            &mut expected,
                            &child_labels(&instance, &version, id, position),
                            &child_annotations(4),
                        )
                        .expect("stamps");
                        let mut stamped = object.clone();
                        stamp.stamp(&mut stamped, id, 4, position).expect("stamps");
                        assert_eq!(stamped, expected, "{id} {position:?} {object}");
                    }
                }
            }
        }
    }

    #[test]
    fn refuses_what_stamp_metadata_refuses() {
        let version = KroVersion::new("v0.9.0");
        let instance = instance(Some("team"));
        let stamp = ChildStamp::new(&instance, &version);
        for object in [
            json!("text"),
            json!({"metadata": 1}),
            json!({"metadata": {"labels": []}}),
            json!({"metadata": {"annotations": "x"}}),
        ] {
            let expected = stamp_metadata(
                &mut object.clone(),
                &child_labels(&instance, &version, "web", None),
                &child_annotations(1),
            )
            .expect_err("refused");
            let error = stamp
                .stamp(&mut object.clone(), "web", 1, None)
                .expect_err("refused");
            assert_eq!(error.to_string(), expected.to_string(), "{object}");
        }
    }

    #[test]
    fn reads_string_labels_only() {
        let live = json!({"metadata": {"labels": {PART_OF_LABEL: "other", KRO_VERSION_LABEL: 3}}});
        assert_eq!(live_label(&live, PART_OF_LABEL), Some("other"));
        assert_eq!(live_label(&live, KRO_VERSION_LABEL), None);
        assert!(maybe_foreign(&live, "mine"));
        assert!(!maybe_foreign(&live, "other"));
        assert!(!maybe_foreign(&json!({"metadata": {}}), "mine"));
        assert!(!maybe_foreign(
            &json!({"metadata": {"labels": {PART_OF_LABEL: ""}}}),
            "mine"
        ));
    }
}

/// A child keeps the kro version it was created with, through whole planning passes.
#[cfg(test)]
mod recorded_version {
    use kro_api::ResourceGraphDefinition;
    use kro_applyset::labels::KRO_VERSION_LABEL;
    use kro_graph::{Graph, OfflineResolver, compile};
    use serde_json::{Value, json};

    use crate::core::{InMemoryView, Limits, Plan, PlanInput, RgdIdentity, plan};

    const RGD: &str = r"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: versioned
spec:
  schema:
    apiVersion: v1alpha1
    kind: Versioned
    spec:
      name: string
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}-config
      data:
        key: value
";

    const CURRENT: &str = "v0.2.0";

    fn graph() -> Graph {
        let rgd = ResourceGraphDefinition::from_yaml(RGD).expect("RGD parses");
        compile(&rgd, &OfflineResolver::new()).expect("RGD compiles")
    }

    fn instance() -> Value {
        json!({
            "apiVersion": "kro.run/v1alpha1",
            "kind": "Versioned",
            "metadata": {"name": "demo", "namespace": "team", "uid": "instance-uid", "generation": 1},
            "spec": {"name": "demo"},
        })
    }

    fn plan_over(graph: &Graph, view: &InMemoryView) -> Plan {
        let instance = instance();
        let rgd = RgdIdentity {
            name: "versioned".into(),
            uid: "rgd-uid".into(),
        };
        plan(&PlanInput {
            graph,
            instance: &instance,
            view,
            now: "2025-01-01T00:00:00Z",
            kro_version: CURRENT,
            rgd: &rgd,
            limits: Limits::default(),
            previous_status: None,
            gating: crate::core::Gating::Readiness,
        })
    }

    fn applied_version(plan: &Plan) -> Option<&str> {
        let [item] = plan.apply.as_slice() else {
            panic!("expected one apply item, got {}", plan.apply.len());
        };
        item.body
            .pointer("/metadata/labels")
            .and_then(|labels| labels.get(KRO_VERSION_LABEL))
            .and_then(Value::as_str)
    }

    /// The child as the API server stores it after the first apply, with `version` (or no
    /// version label at all) recorded.
    fn stored_child(graph: &Graph, version: Option<&str>) -> Value {
        let first = plan_over(graph, &InMemoryView::new());
        let mut child = first.apply[0].body.clone();
        child["metadata"]["uid"] = json!("child-uid");
        child["metadata"]["resourceVersion"] = json!("7");
        let labels = child["metadata"]["labels"]
            .as_object_mut()
            .expect("child labels");
        match version {
            Some(version) => {
                labels.insert(KRO_VERSION_LABEL.to_owned(), json!(version));
            }
            None => {
                labels.remove(KRO_VERSION_LABEL);
            }
        }
        child
    }

    #[test]
    fn new_child_gets_the_current_version() {
        let graph = graph();
        assert_eq!(
            applied_version(&plan_over(&graph, &InMemoryView::new())),
            Some(CURRENT)
        );
    }

    #[test]
    fn existing_child_keeps_the_version_that_created_it() {
        let graph = graph();
        let mut view = InMemoryView::new();
        view.insert(stored_child(&graph, Some("v0.9.4")))
            .expect("child is storable");
        let plan = plan_over(&graph, &view);
        assert_eq!(applied_version(&plan), Some("v0.9.4"));
        assert_eq!(
            plan.apply[0].body["data"],
            json!({"key": "value"}),
            "only the version label is taken from the live child"
        );
    }

    #[test]
    fn existing_child_without_a_version_gets_the_current_one() {
        let graph = graph();
        for recorded in [None, Some("")] {
            let mut view = InMemoryView::new();
            view.insert(stored_child(&graph, recorded))
                .expect("child is storable");
            assert_eq!(
                applied_version(&plan_over(&graph, &view)),
                Some(CURRENT),
                "recorded {recorded:?}"
            );
        }
    }
}
