//! What one reconcile learned beyond the driver's cache: objects read live, apply responses,
//! objects known to be absent, live listings, and reads the server refused. Planning passes
//! read the overlay first, so a layer's apply responses unlock the next layer in the same
//! reconcile.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::ReadAnswer;
use crate::core::view::object_labels;
use crate::core::{KindMapping, LabelSelector};

/// Group, kind, namespace (empty when cluster-scoped) and name.
type ObjectId = (String, String, String, String);
/// Group, kind, namespace (empty for all namespaces) and the selector's query string.
type ListId = (String, String, String, String);

/// A read the driver's cache could not answer: the driver performs it and answers with a
/// [`ReadAnswer`](super::ReadAnswer).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Read {
    /// GET one object.
    Get {
        /// The kind.
        target: KindMapping,
        /// Its namespace.
        namespace: Option<String>,
        /// Its name.
        name: String,
    },
    /// LIST by label selector.
    List {
        /// The kind.
        target: KindMapping,
        /// The namespace, `None` for all.
        namespace: Option<String>,
        /// The selector.
        selector: LabelSelector,
    },
}

impl Read {
    /// The kind read.
    pub fn target(&self) -> &KindMapping {
        match self {
            Self::Get { target, .. } | Self::List { target, .. } => target,
        }
    }
}

impl std::fmt::Display for Read {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Get {
                target,
                namespace,
                name,
            } => write!(
                f,
                "GET {} {}/{name}",
                target.kind,
                namespace.as_deref().unwrap_or("")
            ),
            Self::List {
                target,
                namespace,
                selector,
            } => write!(
                f,
                "LIST {} in {} where {selector}",
                target.kind,
                namespace.as_deref().unwrap_or("all namespaces")
            ),
        }
    }
}

/// What this reconcile learned beyond the cache: live reads, apply responses, and reads the
/// server refused.
#[derive(Debug, Default)]
pub(crate) struct Overlay {
    /// `None` records an object known to be absent.
    objects: BTreeMap<ObjectId, Option<Arc<Value>>>,
    lists: BTreeMap<ListId, Vec<Arc<Value>>>,
    /// Group and kind → the server's message, for reads refused with 403 Forbidden.
    refused: BTreeMap<(String, String), String>,
}

impl Overlay {
    /// Records an observed object (a GET result or an apply response).
    pub(crate) fn put(&mut self, target: &KindMapping, object: Arc<Value>) {
        let namespace = object_namespace(&object, target);
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        self.objects.insert(
            (target.group.clone(), target.kind.clone(), namespace, name),
            Some(object),
        );
    }

    /// Records that an object does not exist.
    pub(crate) fn put_absent(&mut self, target: &KindMapping, namespace: Option<&str>, name: &str) {
        self.objects.insert(
            (
                target.group.clone(),
                target.kind.clone(),
                scoped_namespace(target, namespace),
                name.to_owned(),
            ),
            None,
        );
    }

    /// Records the result of a live LIST.
    pub(crate) fn put_list(
        &mut self,
        target: &KindMapping,
        namespace: Option<&str>,
        selector: &LabelSelector,
        objects: Vec<Arc<Value>>,
    ) {
        self.lists
            .insert(list_id(target, namespace, selector), objects);
    }

    /// Records a read the server refused (403 Forbidden). It is answered as absent, so planning
    /// settles and the kinds the operator may read still make progress; the refusal is kept for
    /// the status of the nodes of that kind.
    pub(crate) fn put_refused(&mut self, read: &Read, message: String) {
        match read {
            Read::Get {
                target,
                namespace,
                name,
            } => self.put_absent(target, namespace.as_deref(), name),
            Read::List {
                target,
                namespace,
                selector,
            } => self.put_list(target, namespace.as_deref(), selector, Vec::new()),
        }
        let target = read.target();
        self.refused
            .insert((target.group.clone(), target.kind.clone()), message);
    }

    /// Records the driver's answer to `read`.
    pub(crate) fn answer(&mut self, read: &Read, answer: ReadAnswer) {
        match (read, answer) {
            (_, ReadAnswer::Refused(message)) => self.put_refused(read, message),
            (Read::Get { target, .. }, ReadAnswer::Object(object)) => self.put(target, object),
            (
                Read::Get {
                    target,
                    namespace,
                    name,
                },
                ReadAnswer::Absent | ReadAnswer::Objects(_),
            ) => self.put_absent(target, namespace.as_deref(), name),
            (
                Read::List {
                    target,
                    namespace,
                    selector,
                },
                answer,
            ) => {
                let objects = match answer {
                    ReadAnswer::Objects(objects) => objects,
                    ReadAnswer::Object(object) => vec![object],
                    ReadAnswer::Absent | ReadAnswer::Refused(_) => Vec::new(),
                };
                self.put_list(target, namespace.as_deref(), selector, objects);
            }
        }
    }

    /// The server's message if a read of `target`'s kind was refused in this reconcile. RBAC
    /// usually grants a resource type as a whole, so one refusal stands for every node of the
    /// kind (under a grant limited to some names or namespaces, the allowed nodes are marked
    /// too).
    pub(crate) fn refusal(&self, target: &KindMapping) -> Option<&str> {
        self.refused
            .get(&(target.group.clone(), target.kind.clone()))
            .map(String::as_str)
    }

    pub(crate) fn get(
        &self,
        target: &KindMapping,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<&Option<Arc<Value>>> {
        self.objects.get(&(
            target.group.clone(),
            target.kind.clone(),
            scoped_namespace(target, namespace),
            name.to_owned(),
        ))
    }

    /// The objects a live LIST of this selector returned in this reconcile, if one ran.
    pub(crate) fn listed(
        &self,
        target: &KindMapping,
        namespace: Option<&str>,
        selector: &LabelSelector,
    ) -> Option<&[Arc<Value>]> {
        self.lists
            .get(&list_id(target, namespace, selector))
            .map(Vec::as_slice)
    }

    /// `base` with this overlay's objects of the same kind laid over it: replaced, removed when
    /// known absent, added when they match.
    pub(crate) fn merge_list(
        &self,
        target: &KindMapping,
        namespace: Option<&str>,
        selector: &LabelSelector,
        base: Vec<Arc<Value>>,
    ) -> Vec<Arc<Value>> {
        let mut merged: BTreeMap<(String, String), Arc<Value>> = base
            .into_iter()
            .map(|object| {
                let name = object
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                ((object_namespace(&object, target), name), object)
            })
            .collect();
        let wanted_namespace = namespace.filter(|_| target.namespaced);
        for ((group, kind, object_namespace, name), object) in &self.objects {
            if *group != target.group || *kind != target.kind {
                continue;
            }
            if wanted_namespace.is_some_and(|wanted| wanted != object_namespace) {
                continue;
            }
            let key = (object_namespace.clone(), name.clone());
            match object {
                Some(object) if selector.matches(&object_labels(object)) => {
                    merged.insert(key, object.clone());
                }
                _ => {
                    merged.remove(&key);
                }
            }
        }
        merged.into_values().collect()
    }
}

fn scoped_namespace(target: &KindMapping, namespace: Option<&str>) -> String {
    if target.namespaced {
        namespace.unwrap_or_default().to_owned()
    } else {
        String::new()
    }
}

fn object_namespace(object: &Value, target: &KindMapping) -> String {
    if target.namespaced {
        object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    } else {
        String::new()
    }
}

pub(crate) fn list_id(
    target: &KindMapping,
    namespace: Option<&str>,
    selector: &LabelSelector,
) -> ListId {
    (
        target.group.clone(),
        target.kind.clone(),
        scoped_namespace(target, namespace),
        selector.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config_map_target() -> KindMapping {
        KindMapping {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
            plural: "configmaps".into(),
            namespaced: true,
        }
    }

    fn config_map(namespace: &str, name: &str, labels: &Value) -> Arc<Value> {
        Arc::new(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": labels}
        }))
    }

    #[test]
    fn overlay_answers_gets_including_known_absence() {
        let target = config_map_target();
        let mut overlay = Overlay::default();
        overlay.put(&target, config_map("ns", "a", &json!({})));
        overlay.put_absent(&target, Some("ns"), "gone");
        assert!(matches!(
            overlay.get(&target, Some("ns"), "a"),
            Some(Some(_))
        ));
        assert!(matches!(
            overlay.get(&target, Some("ns"), "gone"),
            Some(None)
        ));
        assert!(overlay.get(&target, Some("other"), "a").is_none());
    }

    #[test]
    fn overlay_lays_apply_responses_over_listed_objects() {
        let target = config_map_target();
        let selector =
            LabelSelector::from_labels(BTreeMap::from([("app".to_owned(), "web".to_owned())]));
        let mut overlay = Overlay::default();
        // Newer version of a listed object, a new matching object, a removed one, and objects
        // that do not match (other namespace, other labels).
        overlay.put(
            &target,
            config_map("ns", "a", &json!({"app": "web", "v": "2"})),
        );
        overlay.put(&target, config_map("ns", "new", &json!({"app": "web"})));
        overlay.put_absent(&target, Some("ns"), "b");
        overlay.put(
            &target,
            config_map("elsewhere", "x", &json!({"app": "web"})),
        );
        overlay.put(&target, config_map("ns", "c", &json!({"app": "db"})));
        let base = vec![
            config_map("ns", "a", &json!({"app": "web", "v": "1"})),
            config_map("ns", "b", &json!({"app": "web"})),
            config_map("ns", "c", &json!({"app": "web"})),
        ];
        let merged = overlay.merge_list(&target, Some("ns"), &selector, base);
        let names: Vec<(&str, Option<&str>)> = merged
            .iter()
            .map(|o| {
                (
                    o["metadata"]["name"].as_str().unwrap_or_default(),
                    o["metadata"]["labels"]["v"].as_str(),
                )
            })
            .collect();
        assert_eq!(names, [("a", Some("2")), ("new", None)]);
    }

    #[test]
    fn refused_reads_answer_absent_and_are_kept_per_kind() {
        let target = config_map_target();
        let mut overlay = Overlay::default();
        assert!(overlay.refusal(&target).is_none());
        let get = Read::Get {
            target: target.clone(),
            namespace: Some("ns".into()),
            name: "a".into(),
        };
        overlay.put_refused(&get, "cannot get resource \"configmaps\"".into());
        assert!(matches!(overlay.get(&target, Some("ns"), "a"), Some(None)));
        let selector =
            LabelSelector::from_labels(BTreeMap::from([("app".to_owned(), "web".to_owned())]));
        let list = Read::List {
            target: target.clone(),
            namespace: None,
            selector: selector.clone(),
        };
        overlay.put_refused(&list, "cannot list resource \"configmaps\"".into());
        assert_eq!(
            overlay.lists.get(&list_id(&target, None, &selector)),
            Some(&Vec::new())
        );
        assert_eq!(
            overlay.refusal(&target),
            Some("cannot list resource \"configmaps\"")
        );
        let secret = KindMapping {
            kind: "Secret".into(),
            plural: "secrets".into(),
            ..target
        };
        assert!(overlay.refusal(&secret).is_none());
    }

    #[test]
    fn reads_print_as_requests() {
        let target = config_map_target();
        let get = Read::Get {
            target: target.clone(),
            namespace: Some("ns".into()),
            name: "a".into(),
        };
        assert_eq!(get.to_string(), "GET ConfigMap ns/a");
        let list = Read::List {
            target,
            namespace: None,
            selector: LabelSelector::from_labels(BTreeMap::from([(
                "app".to_owned(),
                "web".to_owned(),
            )])),
        };
        assert_eq!(
            list.to_string(),
            "LIST ConfigMap in all namespaces where app=web"
        );
    }
}
