//! The observed cluster state as the planner reads it: a synchronous lookup by name and by
//! label selector, implemented by the caller (watch caches, files, or [`InMemoryView`]).

use std::collections::BTreeMap;
use std::sync::Arc;

pub use kro_api::KindMapping;
use kro_applyset::object::split_api_version;
use serde_json::Value;

use crate::core::error::ViewError;
use crate::core::selector::LabelSelector;

/// Read access to the observed state of the cluster.
///
/// Implementations return full object JSON as the API server serves it. Lookups are by group
/// and kind; the version of the target is a hint (a cache may hold another served version).
pub trait ClusterView {
    /// The live object, if it exists (full object JSON).
    fn get(&self, target: &KindMapping, namespace: Option<&str>, name: &str) -> Option<Arc<Value>>;

    /// Objects of that kind matching a label selector (namespace `None` = all namespaces).
    fn list(
        &self,
        target: &KindMapping,
        namespace: Option<&str>,
        selector: &LabelSelector,
    ) -> Vec<Arc<Value>>;

    /// Whether resource node `node_id` counts as ready as soon as it is observed, whatever its
    /// readyWhen says. An offline preview stands in for the controllers that would make it
    /// ready; a view of a real cluster keeps the default, `false`.
    fn assumed_ready(&self, node_id: &str) -> bool {
        let _ = node_id;
        false
    }
}

/// Map key of [`InMemoryView`]: group, kind, namespace (empty when cluster-scoped), name.
type ViewKey = (String, String, String, String);

/// A [`ViewKey`] or its borrowed form, so that a lookup builds no key.
trait KeyParts {
    fn parts(&self) -> (&str, &str, &str, &str);
}

impl KeyParts for ViewKey {
    fn parts(&self) -> (&str, &str, &str, &str) {
        (&self.0, &self.1, &self.2, &self.3)
    }
}

impl KeyParts for (&str, &str, &str, &str) {
    fn parts(&self) -> (&str, &str, &str, &str) {
        *self
    }
}

impl<'a> std::borrow::Borrow<dyn KeyParts + 'a> for ViewKey {
    fn borrow(&self) -> &(dyn KeyParts + 'a) {
        self
    }
}

// Ordered as the tuple `ViewKey` is, field by field.
impl Ord for dyn KeyParts + '_ {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.parts().cmp(&other.parts())
    }
}

impl PartialOrd for dyn KeyParts + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for dyn KeyParts + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn KeyParts + '_ {}

/// A [`ClusterView`] backed by a map: for tests, the CLI and embedders, and for overlaying the
/// server's apply responses between passes.
#[derive(Debug, Clone, Default)]
pub struct InMemoryView {
    objects: BTreeMap<ViewKey, Arc<Value>>,
}

impl InMemoryView {
    /// An empty view.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `object`, replacing any object with the same group, kind, namespace and name.
    ///
    /// # Errors
    /// The object lacks a string `apiVersion`, `kind` or `metadata.name`.
    pub fn insert(&mut self, object: Value) -> Result<(), ViewError> {
        let key = view_key(&object)?;
        self.objects.insert(key, Arc::new(object));
        Ok(())
    }

    /// Removes the object with the same identity as `object`, returning whether one was stored.
    ///
    /// # Errors
    /// As [`InMemoryView::insert`].
    pub fn remove(&mut self, object: &Value) -> Result<bool, ViewError> {
        let key = view_key(object)?;
        Ok(self.objects.remove(&key).is_some())
    }

    /// Number of stored objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether the view holds no object.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Every stored object, sorted by group, kind, namespace and name.
    pub fn objects(&self) -> impl Iterator<Item = &Arc<Value>> {
        self.objects.values()
    }
}

impl ClusterView for InMemoryView {
    fn get(&self, target: &KindMapping, namespace: Option<&str>, name: &str) -> Option<Arc<Value>> {
        let key = (
            target.group.as_str(),
            target.kind.as_str(),
            namespace.unwrap_or_default(),
            name,
        );
        self.objects.get(&key as &dyn KeyParts).cloned()
    }

    fn list(
        &self,
        target: &KindMapping,
        namespace: Option<&str>,
        selector: &LabelSelector,
    ) -> Vec<Arc<Value>> {
        self.objects
            .iter()
            .filter(|((group, kind, ns, _), _)| {
                *group == target.group
                    && *kind == target.kind
                    && namespace.is_none_or(|wanted| wanted == ns)
            })
            .filter(|(_, object)| selector.matches(&object_labels(object)))
            .map(|(_, object)| Arc::clone(object))
            .collect()
    }
}

pub(crate) fn view_key(object: &Value) -> Result<ViewKey, ViewError> {
    let text = |path: &[&str]| {
        path.iter()
            .try_fold(object, |value, step| value.get(step))
            .and_then(Value::as_str)
    };
    let api_version = text(&["apiVersion"]).ok_or(ViewError::MissingField {
        field: "apiVersion",
    })?;
    let kind = text(&["kind"]).ok_or(ViewError::MissingField { field: "kind" })?;
    let name = text(&["metadata", "name"]).ok_or(ViewError::MissingField {
        field: "metadata.name",
    })?;
    let namespace = text(&["metadata", "namespace"]).unwrap_or_default();
    let (group, _) = split_api_version(api_version);
    Ok((
        group.to_owned(),
        kind.to_owned(),
        namespace.to_owned(),
        name.to_owned(),
    ))
}

/// `metadata.labels` of an object as a map (non-string values ignored).
pub(crate) fn object_labels(object: &Value) -> BTreeMap<String, String> {
    string_map(object, "labels")
}

/// `metadata.annotations` of an object as a map (non-string values ignored).
pub(crate) fn object_annotations(object: &Value) -> BTreeMap<String, String> {
    string_map(object, "annotations")
}

fn string_map(object: &Value, field: &str) -> BTreeMap<String, String> {
    object
        .get("metadata")
        .and_then(|metadata| metadata.get(field))
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}
