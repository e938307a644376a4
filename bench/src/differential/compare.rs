//! Compares two normalised snapshots and names each difference with a stable key such as
//! `instance.status.conditions[Ready].message` or `child.annotations.internal.kro.run/apply-order`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

/// What a snapshot entry is; the first segment of every difference key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// A CRD generated from an RGD.
    Crd,
    /// An RGD.
    Rgd,
    /// A GraphRevision.
    GraphRevision,
    /// An instance of a generated CRD.
    Instance,
    /// An object kro created for an instance.
    Child,
    /// The reasons of the Events about one kind of object.
    Events,
    /// Whether the API server accepted an input object.
    Apply,
}

impl Class {
    /// The key prefix.
    #[must_use]
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Crd => "crd",
            Self::Rgd => "rgd",
            Self::GraphRevision => "graphrevision",
            Self::Instance => "instance",
            Self::Child => "child",
            Self::Events => "events",
            Self::Apply => "apply",
        }
    }
}

/// One object of a snapshot: its class, kind and `namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct EntryKey {
    /// What it is.
    pub class: Class,
    /// Its kind.
    pub kind: String,
    /// `namespace/name`, or the name of a cluster-scoped object.
    pub name: String,
}

/// One cluster, normalised: each object's compared fields.
pub type Snapshot = BTreeMap<EntryKey, Value>;

/// One difference between the clusters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// `class.path`, e.g. `instance.status.conditions[Ready].message`.
    pub key: String,
    /// The object's kind.
    pub kind: String,
    /// The object's `namespace/name`.
    pub name: String,
    /// Upstream kro's value (`None`: absent).
    pub upstream: Option<Value>,
    /// kro-rs's value (`None`: absent).
    pub kro_rs: Option<Value>,
}

/// The RGD conditions' path, whose order is not compared (see `diff_lists`).
const RGD_CONDITIONS: &str = "rgd.status.conditions";

/// Every difference between `upstream` and `kro_rs`, in key order.
#[must_use]
pub fn diff(upstream: &Snapshot, kro_rs: &Snapshot) -> Vec<Difference> {
    let keys: BTreeSet<&EntryKey> = upstream.keys().chain(kro_rs.keys()).collect();
    let mut out = Vec::new();
    for entry in keys {
        let mut found = Vec::new();
        let prefix = entry.class.prefix();
        // No Events about a kind is an empty set of reasons, so each reason is its own key.
        let none = (entry.class == Class::Events).then(|| serde_json::json!({"reasons": {}}));
        let (a, b) = (upstream.get(entry), kro_rs.get(entry));
        match (a.or(none.as_ref()), b.or(none.as_ref())) {
            (Some(a), Some(b)) => diff_values(prefix, Some(a), Some(b), &mut found),
            (a, b) => found.push((
                format!("{prefix}.present"),
                a.map(|_| Value::from("present")),
                b.map(|_| Value::from("present")),
            )),
        }
        out.extend(found.into_iter().map(|(key, upstream, kro_rs)| Difference {
            key,
            kind: entry.kind.clone(),
            name: entry.name.clone(),
            upstream,
            kro_rs,
        }));
    }
    out
}

type Found = Vec<(String, Option<Value>, Option<Value>)>;

/// Recurses into objects and keyed lists; reports a leaf, a list of scalars, or a subtree present
/// on one side only as one difference.
fn diff_values(path: &str, a: Option<&Value>, b: Option<&Value>, out: &mut Found) {
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for key in keys {
                diff_values(&format!("{path}.{key}"), x.get(key), y.get(key), out);
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => diff_lists(path, x, y, out),
        (a, b) if a != b => out.push((path.to_owned(), a.cloned(), b.cloned())),
        _ => {}
    }
}

/// The field that identifies the items of a list of objects, if every item has a distinct one.
fn list_key(items: &[Value]) -> Option<&'static str> {
    ["type", "name", "id"].into_iter().find(|field| {
        let names: Option<Vec<&str>> = items
            .iter()
            .map(|item| item.get(*field).and_then(Value::as_str))
            .collect();
        names.is_some_and(|names| {
            let unique: BTreeSet<&&str> = names.iter().collect();
            unique.len() == names.len()
        })
    })
}

fn diff_lists(path: &str, x: &[Value], y: &[Value], out: &mut Found) {
    let all_objects = x.iter().chain(y).all(Value::is_object);
    let key = if all_objects && !x.is_empty() && !y.is_empty() {
        list_key(x)
            .zip(list_key(y))
            .and_then(|(a, b)| (a == b).then_some(a))
    } else {
        None
    };
    match key {
        Some(field) => {
            let ids = |items: &[Value]| -> Vec<String> {
                items
                    .iter()
                    .filter_map(|item| item.get(field).and_then(Value::as_str).map(str::to_owned))
                    .collect()
            };
            let (ids_x, ids_y) = (ids(x), ids(y));
            let common_x: Vec<&String> = ids_x.iter().filter(|id| ids_y.contains(id)).collect();
            let common_y: Vec<&String> = ids_y.iter().filter(|id| ids_x.contains(id)).collect();
            // Order matters for conditions (tools print them in order); only the relative order
            // of items on both sides is reported here, missing items are reported below. An
            // RGD's conditions are the exception: both sides order them by transition time,
            // and upstream's times depend on when its separate GraphRevision controller
            // finishes a compile (one reconcile or two), so its order varies from run to run.
            // Nor is the order of an RGD resource's dependencies: upstream lists them as it
            // walks the template's fields, which come out of a Go map in no fixed order.
            let unordered = path == RGD_CONDITIONS
                || (path.starts_with("rgd.status.resources[") && path.ends_with("].dependencies"));
            if common_x != common_y && !unordered {
                out.push((
                    format!("{path}.order"),
                    Some(Value::from(ids_x.clone())),
                    Some(Value::from(ids_y.clone())),
                ));
            }
            let find = |items: &[Value], id: &str| {
                items
                    .iter()
                    .find(|item| item.get(field).and_then(Value::as_str) == Some(id))
                    .cloned()
            };
            let mut seen = BTreeSet::new();
            for id in ids_x.iter().chain(&ids_y) {
                if seen.insert(id.clone()) {
                    let (a, b) = (find(x, id), find(y, id));
                    diff_values(&format!("{path}[{id}]"), a.as_ref(), b.as_ref(), out);
                }
            }
        }
        None if all_objects && x.len() == y.len() => {
            for (index, (a, b)) in x.iter().zip(y).enumerate() {
                diff_values(&format!("{path}[{index}]"), Some(a), Some(b), out);
            }
        }
        None if x != y => out.push((
            path.to_owned(),
            Some(Value::from(x.to_vec())),
            Some(Value::from(y.to_vec())),
        )),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn snapshot(class: Class, value: Value) -> Snapshot {
        let key = EntryKey {
            class,
            kind: "WebApp".into(),
            name: "default/a".into(),
        };
        [(key, value)].into_iter().collect()
    }

    fn keys(found: &[Difference]) -> Vec<&str> {
        found.iter().map(|d| d.key.as_str()).collect()
    }

    #[test]
    fn conditions_are_compared_by_type_and_order() {
        let upstream = snapshot(
            Class::Instance,
            json!({"status": {"conditions": [
                {"type": "InstanceManaged", "status": "True", "message": "a"},
                {"type": "Ready", "status": "True", "message": "b"}]}}),
        );
        let kro_rs = snapshot(
            Class::Instance,
            json!({"status": {"conditions": [
                {"type": "Ready", "status": "True", "message": "b"},
                {"type": "InstanceManaged", "status": "True", "message": "c"}]}}),
        );
        let found = diff(&upstream, &kro_rs);
        assert_eq!(
            keys(&found),
            [
                "instance.status.conditions.order",
                "instance.status.conditions[InstanceManaged].message"
            ]
        );
        assert_eq!(found[1].upstream, Some(json!("a")));
        assert_eq!(found[1].kro_rs, Some(json!("c")));
    }

    #[test]
    fn rgd_condition_and_dependency_order_is_not_compared_but_content_is() {
        let upstream = snapshot(
            Class::Rgd,
            json!({"status": {
                "conditions": [{"type": "GraphAccepted", "status": "True"},
                               {"type": "KindReady", "status": "True"}],
                "resources": [{"id": "ingress", "dependencies": [{"id": "service"}, {"id": "deployment"}]}]}}),
        );
        let kro_rs = snapshot(
            Class::Rgd,
            json!({"status": {
                "conditions": [{"type": "KindReady", "status": "False"},
                               {"type": "GraphAccepted", "status": "True"}],
                "resources": [{"id": "ingress", "dependencies": [{"id": "deployment"}, {"id": "service"}]}]}}),
        );
        assert_eq!(
            keys(&diff(&upstream, &kro_rs)),
            ["rgd.status.conditions[KindReady].status"]
        );
    }

    #[test]
    fn one_sided_subtrees_and_objects_are_one_difference() {
        let upstream = snapshot(Class::Instance, json!({"status": {"state": "ACTIVE"}}));
        let kro_rs = snapshot(
            Class::Instance,
            json!({"status": {"state": "ACTIVE", "resources": [{"id": "x"}]}}),
        );
        let found = diff(&upstream, &kro_rs);
        assert_eq!(keys(&found), ["instance.status.resources"]);
        assert_eq!(found[0].upstream, None);
        let found = diff(&upstream, &Snapshot::new());
        assert_eq!(keys(&found), ["instance.present"]);
        assert_eq!(found[0].kro_rs, None);
    }

    #[test]
    fn labels_with_dots_keep_their_name_in_the_key() {
        let upstream = snapshot(
            Class::Child,
            json!({"annotations": {"internal.kro.run/apply-order": "1"}}),
        );
        let kro_rs = snapshot(
            Class::Child,
            json!({"annotations": {"internal.kro.run/apply-order": "2"}}),
        );
        assert_eq!(
            keys(&diff(&upstream, &kro_rs)),
            ["child.annotations.internal.kro.run/apply-order"]
        );
    }

    #[test]
    fn scalar_lists_are_compared_whole_and_positional_lists_by_index() {
        let upstream = snapshot(
            Class::Rgd,
            json!({"order": ["a", "b"], "c": [{"x": 1}, {"x": 2}]}),
        );
        let kro_rs = snapshot(
            Class::Rgd,
            json!({"order": ["b", "a"], "c": [{"x": 1}, {"x": 3}]}),
        );
        assert_eq!(keys(&diff(&upstream, &kro_rs)), ["rgd.c[1].x", "rgd.order"]);
        assert!(diff(&upstream, &upstream).is_empty());
    }
}
