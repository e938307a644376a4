//! Planning to a fixed point without a cluster: every pass's apply items are overlaid on the
//! observed state as if the API server had accepted them, and the graph is planned again until
//! the apply set stops changing. This is the executor's plan → apply → plan loop with the
//! server replaced by a merge, so offline tools (`kro render`) show what the operator applies.

use std::collections::BTreeMap;
use std::sync::Arc;

use kro_cel::Activation;
use serde_json::Value;

use crate::core::plan::{ApplyItem, Plan};
use crate::core::selector::LabelSelector;
use crate::core::view::{ClusterView, InMemoryView, ResourceTarget, object_labels, view_key};
use crate::core::{PlanInput, plan_with_activation};

/// The result of [`settle`].
#[derive(Debug)]
pub struct Settled {
    /// The last pass: its apply items are the objects the operator applies, in topological
    /// order; its nodes say what each resource still waits for.
    pub plan: Plan,
    /// How many passes ran.
    pub passes: usize,
    /// Whether the apply set stopped changing within the pass bound.
    pub converged: bool,
    /// The simulated objects: every applied body merged over its observed object.
    pub applied: InMemoryView,
    /// The CEL variables of the last pass (see [`crate::core::plan_with_activation`]).
    pub activation: Activation,
}

/// Plans `input` repeatedly, overlaying each pass's new or changed apply items on
/// `input.view` (merged into any observed object with the same identity, whose `status` is
/// kept), until no apply item changes or `max_passes` passes ran.
pub fn settle(input: &PlanInput<'_>, max_passes: usize) -> Settled {
    let mut overlay = InMemoryView::new();
    let mut applied: Vec<ApplyItem> = Vec::new();
    let mut passes = 0;
    loop {
        let layered = LayeredView {
            base: input.view,
            overlay: &overlay,
        };
        let (pass, activation) = plan_with_activation(&PlanInput {
            view: &layered,
            ..*input
        });
        passes += 1;
        let changed: Vec<ApplyItem> = pass.changed_since(&applied).into_iter().cloned().collect();
        if changed.is_empty() || passes >= max_passes.max(1) {
            return Settled {
                converged: changed.is_empty(),
                plan: pass,
                passes,
                applied: overlay,
                activation,
            };
        }
        for item in changed {
            let target = target_of(&item);
            let namespace = item.key.namespace.as_deref();
            let observed = overlay
                .get(&target, namespace, &item.key.name)
                .or_else(|| input.view.get(&target, namespace, &item.key.name));
            let merged = merge_applied(observed.as_deref(), &item.body);
            // An apply body always has apiVersion, kind and metadata.name (the planner set them).
            if overlay.insert(merged).is_ok() {
                match applied.iter_mut().find(|done| done.key == item.key) {
                    Some(done) => *done = item,
                    None => applied.push(item),
                }
            }
        }
    }
}

/// What the API server stores after a server-side apply of `desired` over `observed`, as far
/// as planning can tell: maps merge recursively, other values (lists included) are replaced,
/// and the observed `status` is kept (the main resource endpoint ignores `status`).
pub fn merge_applied(observed: Option<&Value>, desired: &Value) -> Value {
    let mut merged = match observed {
        Some(observed) => {
            let mut merged = observed.clone();
            merge_into(&mut merged, desired);
            merged
        }
        None => desired.clone(),
    };
    if let Value::Object(map) = &mut merged {
        match observed.and_then(|observed| observed.get("status")) {
            Some(status) => {
                map.insert("status".to_owned(), status.clone());
            }
            None => {
                map.remove("status");
            }
        }
    }
    merged
}

fn merge_into(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                match target.get_mut(key) {
                    Some(existing) => merge_into(existing, value),
                    None => {
                        target.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

fn target_of(item: &ApplyItem) -> ResourceTarget {
    ResourceTarget {
        group: item.key.group.clone(),
        version: item.key.version.clone(),
        kind: item.key.kind.clone(),
        // Lookups are by group and kind; the plural is never consulted.
        plural: String::new(),
        namespaced: item.key.namespace.is_some(),
    }
}

/// The observed state with the simulated applies on top: an object of the overlay hides the
/// base object with the same identity.
struct LayeredView<'a> {
    base: &'a dyn ClusterView,
    overlay: &'a InMemoryView,
}

impl ClusterView for LayeredView<'_> {
    fn get(
        &self,
        target: &ResourceTarget,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Arc<Value>> {
        self.overlay
            .get(target, namespace, name)
            .or_else(|| self.base.get(target, namespace, name))
    }

    fn list(
        &self,
        target: &ResourceTarget,
        namespace: Option<&str>,
        selector: &LabelSelector,
    ) -> Vec<Arc<Value>> {
        let mut objects: BTreeMap<_, Arc<Value>> = BTreeMap::new();
        for object in self.base.list(target, namespace, selector) {
            if let Ok(key) = view_key(&object) {
                objects.insert(key, object);
            }
        }
        let overlaid = self.overlay.objects().filter_map(|object| {
            let key = view_key(object).ok()?;
            (key.0 == target.group
                && key.1 == target.kind
                && namespace.is_none_or(|wanted| wanted == key.2))
            .then(|| (key, Arc::clone(object)))
        });
        for (key, object) in overlaid {
            // The overlay decides whether an object it holds matches, not the base copy.
            objects.remove(&key);
            if selector.matches(&object_labels(&object)) {
                objects.insert(key, object);
            }
        }
        objects.into_values().collect()
    }

    fn assumed_ready(&self, node_id: &str) -> bool {
        self.base.assumed_ready(node_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_keeps_observed_status_and_unrelated_fields() {
        let observed = json!({
            "metadata": {"name": "a", "uid": "u-1", "labels": {"x": "1"}},
            "spec": {"replicas": 1, "ports": [1, 2]},
            "status": {"ready": true}
        });
        let desired = json!({
            "metadata": {"name": "a", "labels": {"y": "2"}},
            "spec": {"replicas": 3, "ports": [3]},
            "status": {"ready": false}
        });
        assert_eq!(
            merge_applied(Some(&observed), &desired),
            json!({
                "metadata": {"name": "a", "uid": "u-1", "labels": {"x": "1", "y": "2"}},
                "spec": {"replicas": 3, "ports": [3]},
                "status": {"ready": true}
            })
        );
        assert_eq!(
            merge_applied(None, &desired),
            json!({"metadata": {"name": "a", "labels": {"y": "2"}}, "spec": {"replicas": 3, "ports": [3]}})
        );
    }
}
