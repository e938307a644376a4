//! The form in which instance controllers keep instances in their watch stores.
//!
//! An instance controller's store holds every instance of its RGD for the life of the operator,
//! and it was the largest part of an operator's memory: a `DynamicObject`'s spec and status are a
//! `serde_json` tree, where every small map (each condition, each label set) is a B-tree node of
//! several hundred bytes. [`StoredInstance`] keeps the typed metadata kube-runtime reads (names,
//! generation, deletion timestamp, annotations for triggers) and everything else as compact JSON
//! text, which a reconcile parses once into the `DynamicObject` the executor takes. Measured with
//! 1,000 instances of the benchmark RGD: about 10 KiB per instance as a tree, a third as text.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kro_api::{Instance, InstanceError, KindMapping};
use kube::api::{ApiResource, DynamicObject, TypeMeta};
use kube::core::{DynamicResourceScope, Resource};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// An instance as a controller's store keeps it: metadata (without `managedFields`, which nothing
/// reads) and the rest of the object as JSON text.
#[derive(Clone, Debug)]
pub struct StoredInstance {
    types: Option<TypeMeta>,
    metadata: ObjectMeta,
    /// Every top-level field but `apiVersion`, `kind` and `metadata`, as a JSON object.
    fields: Box<str>,
}

impl StoredInstance {
    /// The instance in full, as the executor reads it.
    pub fn to_dynamic(&self) -> DynamicObject {
        DynamicObject {
            types: self.types.clone(),
            metadata: self.metadata.clone(),
            // Written by `Value::to_string` in `From<DynamicObject>`: it always parses.
            data: serde_json::from_str(&self.fields)
                .unwrap_or_else(|_| Value::Object(Default::default())),
        }
    }
}

impl StoredInstance {
    /// The instance as kro's engine takes it, parsed once; `apiVersion` and `kind` come from
    /// `kind` when the watch's list left them out.
    ///
    /// # Errors
    /// The object lacks its name or UID.
    pub fn to_instance(&self, kind: &KindMapping) -> Result<Instance, InstanceError> {
        let mut object = match serde_json::from_str(&self.fields) {
            Ok(Value::Object(fields)) => fields,
            _ => serde_json::Map::new(),
        };
        let (api_version, kind_name) = match &self.types {
            Some(types) => (types.api_version.clone(), types.kind.clone()),
            None => (kind.api_version(), kind.kind.clone()),
        };
        object.insert("apiVersion".into(), api_version.into());
        object.insert("kind".into(), kind_name.into());
        let metadata =
            serde_json::to_value(&self.metadata).map_err(|_| InstanceError::NotAnObject)?;
        object.insert("metadata".into(), metadata);
        Instance::from_object(Value::Object(object))
    }
}

impl From<DynamicObject> for StoredInstance {
    fn from(object: DynamicObject) -> Self {
        let mut metadata = object.metadata;
        metadata.managed_fields = None;
        Self {
            types: object.types,
            metadata,
            fields: object.data.to_string().into_boxed_str(),
        }
    }
}

impl<'de> Deserialize<'de> for StoredInstance {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        DynamicObject::deserialize(deserializer).map(Self::from)
    }
}

impl Resource for StoredInstance {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn group(resource: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&resource.group)
    }

    fn version(resource: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&resource.version)
    }

    fn kind(resource: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&resource.kind)
    }

    fn api_version(resource: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&resource.api_version)
    }

    fn plural(resource: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&resource.plural)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stored_instances_give_back_the_object_without_managed_fields() {
        let wire = json!({
            "apiVersion": "kro.run/v1alpha1", "kind": "App",
            "metadata": {"name": "a", "namespace": "n", "generation": 3,
                         "labels": {"team": "x"},
                         "managedFields": [{"manager": "kubectl", "operation": "Apply"}]},
            "spec": {"replicas": 2, "names": ["a", "b"]},
            "status": {"state": "ACTIVE", "conditions": [{"type": "Ready", "status": "True"}]}
        });
        let stored: StoredInstance = serde_json::from_value(wire.clone()).expect("valid object");
        assert_eq!(stored.meta().generation, Some(3));
        assert!(stored.meta().managed_fields.is_none());
        let object = stored.to_dynamic();
        assert_eq!(object.data["spec"], wire["spec"]);
        assert_eq!(object.data["status"], wire["status"]);
        assert_eq!(object.metadata.labels, stored.metadata.labels);
        assert_eq!(
            object.types.map(|types| (types.api_version, types.kind)),
            Some(("kro.run/v1alpha1".to_owned(), "App".to_owned()))
        );
    }

    #[test]
    fn stored_instances_parse_into_the_engine_instance_once() {
        let kind = KindMapping::new(
            &kro_api::Gvk::new("kro.run", "v1alpha1", "App"),
            "apps",
            true,
        );
        let listed = json!({
            "metadata": {"name": "a", "namespace": "n", "uid": "u-1"},
            "spec": {"replicas": 2},
        });
        let stored: StoredInstance = serde_json::from_value(listed).expect("valid object");
        let instance = stored.to_instance(&kind).expect("an instance");
        assert_eq!(instance.key(), &kind.object_key(Some("n"), "a"));
        assert_eq!(instance.uid(), "u-1");
        assert_eq!(instance.object()["spec"]["replicas"], 2);
        assert_eq!(instance.object()["apiVersion"], "kro.run/v1alpha1");

        let no_uid: StoredInstance =
            serde_json::from_value(json!({"metadata": {"name": "a"}})).expect("valid object");
        assert_eq!(
            no_uid.to_instance(&kind),
            Err(InstanceError::MissingField {
                field: "metadata.uid"
            })
        );
    }
}
