//! The view one planning pass of the machine reads: the reconcile's [`Overlay`] over what the
//! driver already knows ([`KnownState`]), recording every read neither can answer.
//!
//! A read nobody can answer is answered "absent" to the planner and recorded as a [`Read`];
//! the machine asks the driver to perform those reads and plans again. A plan made while reads
//! were missing is never acted on.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::Arc;

use kro_api::labels::{INSTANCE_ID_LABEL, OWNED_LABEL, PART_OF_LABEL};
use kro_applyset::ObjectKey;
use serde_json::Value;

use super::overlay::{Overlay, Read};
use crate::core::{ClusterView, InMemoryView, KindMapping, LabelSelector};

/// What the driver knows about one object without asking the API server.
#[derive(Debug, Clone)]
pub enum Known {
    /// The object, as the server last served it.
    Object(Arc<Value>),
    /// The object does not exist (the driver sees every object of the kind).
    Absent,
    /// No object kro owns has that name; objects kro does not own are not seen (a watch cache
    /// of kro's children). An external reference must then be read live.
    NoKroObject,
    /// The driver does not know (a watch not synced yet, only metadata kept).
    Unknown,
}

/// What the driver knows about the objects matching a label selector.
#[derive(Debug, Clone)]
pub enum Listing {
    /// Every matching object.
    Objects(Vec<Arc<Value>>),
    /// The names (namespace, name) of every matching object; bodies are looked up one by one.
    Names(Vec<(Option<String>, String)>),
    /// The driver does not know: the list is read live.
    Unknown,
}

/// The driver's knowledge of the cluster, consulted by every planning pass before the
/// reconcile's own overlay of live reads and apply responses.
pub trait KnownState {
    /// One object by kind, namespace and name.
    fn get(&self, target: &KindMapping, namespace: Option<&str>, name: &str) -> Known;

    /// The objects of a kind matching `selector` (`namespace` `None`: every namespace).
    fn list(
        &self,
        target: &KindMapping,
        namespace: Option<&str>,
        selector: &LabelSelector,
    ) -> Listing;

    /// Whether the resource node `node_id` counts as ready whatever its readiness conditions
    /// say (offline previews).
    fn assumed_ready(&self, _node_id: &str) -> bool {
        false
    }

    /// Whether the driver already applied `body` to the object `key` while it had UID `uid`.
    /// When the observed object still holds the body, applying it again would change nothing,
    /// so the machine answers that apply itself. A driver that keeps no such memory answers
    /// `false` (every changed item is then applied).
    fn applied_before(&self, _key: &ObjectKey, _uid: &str, _body: &Value) -> bool {
        false
    }
}

/// Any [`ClusterView`] is complete knowledge: what it lacks does not exist.
pub struct Complete<'a>(pub &'a dyn ClusterView);

impl KnownState for Complete<'_> {
    fn get(&self, target: &KindMapping, namespace: Option<&str>, name: &str) -> Known {
        self.0
            .get(target, namespace, name)
            .map_or(Known::Absent, Known::Object)
    }

    fn list(
        &self,
        target: &KindMapping,
        namespace: Option<&str>,
        selector: &LabelSelector,
    ) -> Listing {
        Listing::Objects(self.0.list(target, namespace, selector))
    }

    fn assumed_ready(&self, node_id: &str) -> bool {
        self.0.assumed_ready(node_id)
    }
}

impl KnownState for InMemoryView {
    fn get(&self, target: &KindMapping, namespace: Option<&str>, name: &str) -> Known {
        Complete(self).get(target, namespace, name)
    }

    fn list(
        &self,
        target: &KindMapping,
        namespace: Option<&str>,
        selector: &LabelSelector,
    ) -> Listing {
        Complete(self).list(target, namespace, selector)
    }
}

/// How an external reference selects what it reads.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefSelection {
    /// One object by name.
    Name(String),
    /// Every object matching a label selector (in its query-string form, `a=b,c in (d)`).
    Labels(String),
}

/// One read of an external reference: what the instance must watch to notice changes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExternalRead {
    /// The kind read.
    pub target: KindMapping,
    /// The namespace read; `None` for cluster-scoped kinds or all namespaces.
    pub namespace: Option<String>,
    /// The name or selector.
    pub selection: RefSelection,
}

/// Whether every object `selector` matches must carry kro's bookkeeping labels, so that a
/// cache of kro's own children answers the list: those labels are only ever set on kro
/// children.
pub fn selects_only_kro_children(selector: &LabelSelector) -> bool {
    selector
        .match_labels
        .get(OWNED_LABEL)
        .is_some_and(|value| value == "true")
        || selector.match_labels.contains_key(INSTANCE_ID_LABEL)
        || selector.match_labels.contains_key(PART_OF_LABEL)
}

/// One pass's view; `into_reads` hands back what it could not answer.
pub(crate) struct MachineView<'a> {
    known: &'a dyn KnownState,
    overlay: &'a Overlay,
    /// Group-kinds read by external references.
    external_kinds: &'a BTreeSet<(String, String)>,
    reads: RefCell<BTreeSet<Read>>,
    external_reads: RefCell<BTreeSet<ExternalRead>>,
}

impl<'a> MachineView<'a> {
    pub(crate) fn new(
        known: &'a dyn KnownState,
        overlay: &'a Overlay,
        external_kinds: &'a BTreeSet<(String, String)>,
    ) -> Self {
        Self {
            known,
            overlay,
            external_kinds,
            reads: RefCell::new(BTreeSet::new()),
            external_reads: RefCell::new(BTreeSet::new()),
        }
    }

    /// The reads answered "absent" for lack of knowledge (sorted), and the external
    /// references read.
    pub(crate) fn into_reads(self) -> (BTreeSet<Read>, BTreeSet<ExternalRead>) {
        (self.reads.into_inner(), self.external_reads.into_inner())
    }

    fn is_external(&self, target: &KindMapping) -> bool {
        self.external_kinds
            .contains(&(target.group.clone(), target.kind.clone()))
    }

    fn read_external(
        &self,
        target: &KindMapping,
        namespace: Option<&str>,
        selection: RefSelection,
    ) {
        self.external_reads.borrow_mut().insert(ExternalRead {
            target: target.clone(),
            namespace: scoped(target, namespace),
            selection,
        });
    }
}

fn scoped(target: &KindMapping, namespace: Option<&str>) -> Option<String> {
    namespace.filter(|_| target.namespaced).map(str::to_owned)
}

impl ClusterView for MachineView<'_> {
    fn get(&self, target: &KindMapping, namespace: Option<&str>, name: &str) -> Option<Arc<Value>> {
        let external = self.is_external(target);
        if external {
            self.read_external(target, namespace, RefSelection::Name(name.to_owned()));
        }
        if let Some(known) = self.overlay.get(target, namespace, name) {
            return known.clone();
        }
        match self.known.get(target, namespace, name) {
            Known::Object(object) => Some(object),
            Known::Absent => None,
            Known::NoKroObject if !external => None,
            Known::NoKroObject | Known::Unknown => {
                self.reads.borrow_mut().insert(Read::Get {
                    target: target.clone(),
                    namespace: scoped(target, namespace),
                    name: name.to_owned(),
                });
                None
            }
        }
    }

    fn list(
        &self,
        target: &KindMapping,
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
        if let Some(listed) = self.overlay.listed(target, namespace, selector) {
            return self
                .overlay
                .merge_list(target, namespace, selector, listed.to_vec());
        }
        let objects = match self.known.list(target, namespace, selector) {
            Listing::Objects(objects) => objects,
            // Each member's body comes from the overlay, the driver or a live read.
            Listing::Names(names) => names
                .iter()
                .filter_map(|(namespace, name)| self.get(target, namespace.as_deref(), name))
                .collect(),
            Listing::Unknown => {
                self.reads.borrow_mut().insert(Read::List {
                    target: target.clone(),
                    namespace: scoped(target, namespace),
                    selector: selector.clone(),
                });
                return Vec::new();
            }
        };
        self.overlay
            .merge_list(target, namespace, selector, objects)
    }

    fn assumed_ready(&self, node_id: &str) -> bool {
        self.known.assumed_ready(node_id)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn only_selectors_on_kro_bookkeeping_labels_are_answered_by_a_cache_of_children() {
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
}
