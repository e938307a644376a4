//! The executor's [`ClusterView`]: the shared watch cache, under a per-reconcile overlay of
//! live reads and apply responses, recording every read neither can answer.
//!
//! A read the cache cannot answer (an external reference, a kind whose watch has not synced, a
//! selector that may match objects kro does not own) is recorded as a miss and answered with
//! "absent". The executor then fetches the misses live into the overlay and plans again; a plan
//! made while misses were pending is never executed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use kro_applyset::labels::{INSTANCE_ID_LABEL, OWNED_LABEL, PART_OF_LABEL};
use serde_json::Value;

use super::cache::{CacheAnswer, KindMapping, Lookup, ObjectCache, labels_of};
use super::externals::{ExternalRef, RefSelection};
use kro_runtime::core::{ClusterView, LabelSelector, ResourceTarget};

/// Group, kind, namespace (empty when cluster-scoped) and name.
type ObjectId = (String, String, String, String);
/// Group, kind, namespace (empty for all namespaces) and the selector's query string.
type ListId = (String, String, String, String);

/// A read the cache could not answer.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Miss {
    /// GET one object.
    Get {
        /// The kind.
        target: ResourceTarget,
        /// Its namespace.
        namespace: Option<String>,
        /// Its name.
        name: String,
    },
    /// LIST by label selector.
    List {
        /// The kind.
        target: ResourceTarget,
        /// The namespace, `None` for all.
        namespace: Option<String>,
        /// The selector.
        selector: LabelSelector,
    },
}

impl Miss {
    /// The kind read.
    pub(crate) fn target(&self) -> &ResourceTarget {
        match self {
            Self::Get { target, .. } | Self::List { target, .. } => target,
        }
    }
}

impl std::fmt::Display for Miss {
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
    pub(crate) fn put(&mut self, target: &ResourceTarget, object: Arc<Value>) {
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
    pub(crate) fn put_absent(
        &mut self,
        target: &ResourceTarget,
        namespace: Option<&str>,
        name: &str,
    ) {
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
        target: &ResourceTarget,
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
    pub(crate) fn put_refused(&mut self, miss: &Miss, message: String) {
        match miss {
            Miss::Get {
                target,
                namespace,
                name,
            } => self.put_absent(target, namespace.as_deref(), name),
            Miss::List {
                target,
                namespace,
                selector,
            } => self.put_list(target, namespace.as_deref(), selector, Vec::new()),
        }
        let target = miss.target();
        self.refused
            .insert((target.group.clone(), target.kind.clone()), message);
    }

    /// The server's message if a read of `target`'s kind was refused in this reconcile. RBAC
    /// usually grants a resource type as a whole, so one refusal stands for every node of the
    /// kind (under a grant limited to some names or namespaces, the allowed nodes are marked
    /// too).
    pub(crate) fn refusal(&self, target: &ResourceTarget) -> Option<&str> {
        self.refused
            .get(&(target.group.clone(), target.kind.clone()))
            .map(String::as_str)
    }

    fn get(
        &self,
        target: &ResourceTarget,
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

    /// `base` with this overlay's objects of the same kind laid over it: replaced, removed when
    /// known absent, added when they match.
    fn merge_list(
        &self,
        target: &ResourceTarget,
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
                Some(object) if selector.matches(&labels_of(object)) => {
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

/// The view one planning pass reads.
pub(crate) struct ExecutorView<'a> {
    cache: &'a ObjectCache,
    overlay: &'a Overlay,
    /// Group-kinds read by external references: objects kro does not own are not in the cache,
    /// so a cache "absent" for them means nothing.
    external_kinds: &'a BTreeSet<(String, String)>,
    misses: Mutex<BTreeSet<Miss>>,
    /// Every read of an external reference (answered or not): what the instance must watch.
    external_reads: Mutex<BTreeSet<ExternalRef>>,
}

impl<'a> ExecutorView<'a> {
    pub(crate) fn new(
        cache: &'a ObjectCache,
        overlay: &'a Overlay,
        external_kinds: &'a BTreeSet<(String, String)>,
    ) -> Self {
        Self {
            cache,
            overlay,
            external_kinds,
            misses: Mutex::new(BTreeSet::new()),
            external_reads: Mutex::new(BTreeSet::new()),
        }
    }

    /// The reads that were answered "absent" for lack of knowledge (sorted), and the external
    /// references read.
    pub(crate) fn into_reads(self) -> (BTreeSet<Miss>, BTreeSet<ExternalRef>) {
        (
            self.misses
                .into_inner()
                .unwrap_or_else(PoisonError::into_inner),
            self.external_reads
                .into_inner()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    fn read_external(
        &self,
        target: &ResourceTarget,
        namespace: Option<&str>,
        selection: RefSelection,
    ) {
        self.external_reads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(ExternalRef {
                kind: mapping_of(target),
                namespace: namespace.filter(|_| target.namespaced).map(str::to_owned),
                selection,
            });
    }

    fn miss(&self, miss: Miss) {
        self.misses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(miss);
    }

    fn is_external(&self, target: &ResourceTarget) -> bool {
        self.external_kinds
            .contains(&(target.group.clone(), target.kind.clone()))
    }
}

/// Whether every object the selector matches must carry `kro.run/owned=true` (and so is in the
/// cache): kro's own bookkeeping labels are only ever set on kro children.
fn selects_only_kro_children(selector: &LabelSelector) -> bool {
    selector
        .match_labels
        .get(OWNED_LABEL)
        .is_some_and(|value| value == "true")
        || selector.match_labels.contains_key(INSTANCE_ID_LABEL)
        || selector.match_labels.contains_key(PART_OF_LABEL)
}

impl ClusterView for ExecutorView<'_> {
    fn get(
        &self,
        target: &ResourceTarget,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Arc<Value>> {
        let external = self.is_external(target);
        if external {
            self.read_external(target, namespace, RefSelection::Name(name.to_owned()));
        }
        if let Some(known) = self.overlay.get(target, namespace, name) {
            return known.clone();
        }
        let kind = mapping_of(target);
        match self.cache.lookup(&kind, namespace, name) {
            CacheAnswer::Answered(Lookup::Body(object)) => Some(object),
            CacheAnswer::Answered(Lookup::Absent) if !external => None,
            CacheAnswer::Answered(Lookup::Absent | Lookup::MetadataOnly(_))
            | CacheAnswer::NotSynced => {
                self.miss(Miss::Get {
                    target: target.clone(),
                    namespace: namespace.filter(|_| target.namespaced).map(str::to_owned),
                    name: name.to_owned(),
                });
                None
            }
        }
    }

    fn list(
        &self,
        target: &ResourceTarget,
        namespace: Option<&str>,
        selector: &LabelSelector,
    ) -> Vec<Arc<Value>> {
        if self.is_external(target) {
            self.read_external(
                target,
                namespace,
                RefSelection::Labels(selector.to_string()),
            );
        }
        if let Some(listed) = self
            .overlay
            .lists
            .get(&list_id(target, namespace, selector))
        {
            return self
                .overlay
                .merge_list(target, namespace, selector, listed.clone());
        }
        if selects_only_kro_children(selector) {
            let kind = mapping_of(target);
            if let CacheAnswer::Answered(listed) = self
                .cache
                .list(&kind, namespace, |labels| selector.matches(labels))
            {
                // The cache lists metadata; each member's body comes from the overlay, the kept
                // bodies or a live read (recorded as a miss like any other).
                let bodies = listed
                    .iter()
                    .filter_map(|metadata| {
                        let name = metadata.pointer("/metadata/name").and_then(Value::as_str)?;
                        let namespace = metadata
                            .pointer("/metadata/namespace")
                            .and_then(Value::as_str);
                        self.get(target, namespace, name)
                    })
                    .collect();
                return self.overlay.merge_list(target, namespace, selector, bodies);
            }
        }
        self.miss(Miss::List {
            target: target.clone(),
            namespace: namespace.filter(|_| target.namespaced).map(str::to_owned),
            selector: selector.clone(),
        });
        Vec::new()
    }
}

/// The cache's mapping of a planner target.
pub(crate) fn mapping_of(target: &ResourceTarget) -> KindMapping {
    KindMapping {
        group: target.group.clone(),
        version: target.version.clone(),
        kind: target.kind.clone(),
        plural: target.plural.clone(),
        namespaced: target.namespaced,
    }
}

fn scoped_namespace(target: &ResourceTarget, namespace: Option<&str>) -> String {
    if target.namespaced {
        namespace.unwrap_or_default().to_owned()
    } else {
        String::new()
    }
}

fn object_namespace(object: &Value, target: &ResourceTarget) -> String {
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

fn list_id(target: &ResourceTarget, namespace: Option<&str>, selector: &LabelSelector) -> ListId {
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

    fn config_map_target() -> ResourceTarget {
        ResourceTarget {
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
        let get = Miss::Get {
            target: target.clone(),
            namespace: Some("ns".into()),
            name: "a".into(),
        };
        overlay.put_refused(&get, "cannot get resource \"configmaps\"".into());
        assert!(matches!(overlay.get(&target, Some("ns"), "a"), Some(None)));
        let selector =
            LabelSelector::from_labels(BTreeMap::from([("app".to_owned(), "web".to_owned())]));
        let list = Miss::List {
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
        let secret = ResourceTarget {
            kind: "Secret".into(),
            plural: "secrets".into(),
            ..target
        };
        assert!(overlay.refusal(&secret).is_none());
    }

    #[test]
    fn only_selectors_on_kro_bookkeeping_labels_are_answered_from_the_cache() {
        let select = |key: &str, value: &str| {
            LabelSelector::from_labels(BTreeMap::from([(key.to_owned(), value.to_owned())]))
        };
        assert!(selects_only_kro_children(&select(OWNED_LABEL, "true")));
        assert!(selects_only_kro_children(&select(INSTANCE_ID_LABEL, "uid")));
        assert!(selects_only_kro_children(&select(
            PART_OF_LABEL,
            "applyset-x-v1"
        )));
        assert!(!selects_only_kro_children(&select(OWNED_LABEL, "false")));
        assert!(!selects_only_kro_children(&select("app", "web")));
        assert!(!selects_only_kro_children(&LabelSelector::everything()));
    }

    #[test]
    fn misses_read_as_requests() {
        let target = config_map_target();
        let get = Miss::Get {
            target: target.clone(),
            namespace: Some("ns".into()),
            name: "a".into(),
        };
        assert_eq!(get.to_string(), "GET ConfigMap ns/a");
        let list = Miss::List {
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
