//! An instance of an RGD's generated kind, parsed once where it enters kro.

use serde_json::Value;
use thiserror::Error;

use crate::identity::{Gvk, ObjectKey};

/// An object that cannot be an instance: it lacks a field every stored object has.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InstanceError {
    /// A required field is missing, empty or not a string.
    #[error("instance has no string `{field}`")]
    MissingField {
        /// The field path.
        field: &'static str,
    },
    /// The object is not a JSON object.
    #[error("instance is not a JSON object")]
    NotAnObject,
    /// A newer form of the instance names another object.
    #[error("the server returned {returned} for instance {instance}")]
    OtherObject {
        /// The instance.
        instance: String,
        /// What the server returned instead.
        returned: String,
    },
}

/// An instance as the API server stores it: its identity, read once, and the whole object.
///
/// The identity (kind, namespace, name, UID) never changes over the instance's life, so every
/// write to the instance addresses it through [`Instance::key`] and [`Instance::uid`] instead of
/// reading them from JSON again. [`Instance::adopt`] takes the server's newer form after a
/// write, refusing one that names another object.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    key: ObjectKey,
    uid: String,
    object: Value,
}

impl Instance {
    /// Reads the identity of `object` (`apiVersion`, `kind`, `metadata.name`, `metadata.uid`,
    /// `metadata.namespace` when present and not empty).
    ///
    /// # Errors
    /// The object is not a JSON object or lacks one of the required strings.
    pub fn from_object(object: Value) -> Result<Self, InstanceError> {
        if !object.is_object() {
            return Err(InstanceError::NotAnObject);
        }
        let text = |pointer: &str, field: &'static str| {
            object
                .pointer(pointer)
                .and_then(Value::as_str)
                .filter(|value| !value.is_empty())
                .ok_or(InstanceError::MissingField { field })
        };
        let gvk = Gvk::from_api_version(text("/apiVersion", "apiVersion")?, text("/kind", "kind")?);
        let name = text("/metadata/name", "metadata.name")?.to_owned();
        let uid = text("/metadata/uid", "metadata.uid")?.to_owned();
        let namespace = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|namespace| !namespace.is_empty())
            .map(str::to_owned);
        let key = ObjectKey {
            group: gvk.group,
            version: gvk.version,
            kind: gvk.kind,
            namespace,
            name,
        };
        Ok(Self { key, uid, object })
    }

    /// Which object this is.
    pub fn key(&self) -> &ObjectKey {
        &self.key
    }

    /// The instance's name.
    pub fn name(&self) -> &str {
        &self.key.name
    }

    /// The instance's namespace; `None` for a cluster-scoped instance.
    pub fn namespace(&self) -> Option<&str> {
        self.key.namespace.as_deref()
    }

    /// `metadata.uid`.
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// The whole object, as last returned by the server.
    pub fn object(&self) -> &Value {
        &self.object
    }

    /// The whole object, taken out.
    pub fn into_object(self) -> Value {
        self.object
    }

    /// `.status`, when the object has one.
    pub fn status(&self) -> Option<&Value> {
        self.object.get("status")
    }

    /// Whether `metadata.deletionTimestamp` is set: the instance is being deleted.
    pub fn is_deleting(&self) -> bool {
        !matches!(
            self.object.pointer("/metadata/deletionTimestamp"),
            None | Some(Value::Null)
        )
    }

    /// Replaces the object with a newer form of the same instance (a write's response, a fresh
    /// read).
    ///
    /// # Errors
    /// The newer form lacks its identity, names another object, or carries another UID (the
    /// instance was deleted and created again); the instance is left as it was.
    pub fn adopt(&mut self, newer: Value) -> Result<(), InstanceError> {
        let newer = Self::from_object(newer)?;
        if newer.key.identity() != self.key.identity() || newer.uid != self.uid {
            return Err(InstanceError::OtherObject {
                instance: format!("{} (uid {})", self.key, self.uid),
                returned: format!("{} (uid {})", newer.key, newer.uid),
            });
        }
        self.object = newer.object;
        Ok(())
    }

    /// Sets the object's `.status` (what kro is about to write, before the server answers).
    pub fn set_status(&mut self, status: Value) {
        if let Some(map) = self.object.as_object_mut() {
            map.insert("status".into(), status);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn web_app(uid: &str) -> Value {
        json!({
            "apiVersion": "kro.run/v1alpha1",
            "kind": "WebApp",
            "metadata": {"name": "shop", "namespace": "team", "uid": uid},
            "spec": {"replicas": 2},
        })
    }

    #[test]
    fn identity_is_read_once_from_the_object() {
        let instance = Instance::from_object(web_app("u-1")).expect("an instance");
        assert_eq!(
            instance.key(),
            &ObjectKey::namespaced("kro.run", "v1alpha1", "WebApp", "team", "shop")
        );
        assert_eq!(instance.uid(), "u-1");
        assert!(!instance.is_deleting());
        assert_eq!(instance.object()["spec"]["replicas"], 2);
    }

    #[test]
    fn objects_without_identity_are_refused() {
        let mut no_uid = web_app("u-1");
        no_uid["metadata"]["uid"] = json!("");
        assert_eq!(
            Instance::from_object(no_uid),
            Err(InstanceError::MissingField {
                field: "metadata.uid"
            })
        );
        assert_eq!(
            Instance::from_object(json!([1])),
            Err(InstanceError::NotAnObject)
        );
    }

    #[test]
    fn newer_forms_of_the_same_instance_are_adopted_others_refused() {
        let mut instance = Instance::from_object(web_app("u-1")).expect("an instance");
        let mut newer = web_app("u-1");
        newer["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        instance.adopt(newer).expect("same instance");
        assert!(instance.is_deleting());

        let error = instance
            .adopt(web_app("u-2"))
            .expect_err("a new object under the same name");
        assert!(error.to_string().contains("uid u-2"), "{error}");
        assert!(instance.is_deleting(), "left as it was");
    }
}
