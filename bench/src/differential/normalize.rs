//! Turns what one cluster holds into what can be compared with the other cluster: values that
//! differ on every run (uids, resourceVersions, timestamps, allocated IPs, generated names, the
//! controller's own version) are replaced by stable tokens, and each object is cut down to the
//! fields the comparison covers.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value, json};

/// A UUID as the API server writes them (uids, and anything derived by embedding one).
static UUID: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").ok()
});

/// A ReplicaSet name in a Deployment condition message: its suffix hashes the pod template,
/// which differs wherever the template holds a value seeded by a uid.
static REPLICASET: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r#"ReplicaSet "([a-z0-9.-]+)-[bcdfghjklmnpqrstvwxz2456789]{6,10}""#).ok()
});

/// Fields that only say when something happened; their presence is all that is stable.
const TIME_FIELDS: [&str; 6] = [
    "lastTransitionTime",
    "lastUpdateTime",
    "lastHeartbeatTime",
    "lastProbeTime",
    "creationTimestamp",
    "lastScaleTime",
];

/// The label both controllers stamp with their own version (they are different programs).
pub const VERSION_LABEL: &str = "kro.run/kro-version";
/// The ApplySet tooling annotation, `kro/<version>`: the version part differs for the same reason.
const TOOLING_ANNOTATION: &str = "applyset.kubernetes.io/tooling";

/// `Kind namespace/name` (or `Kind name` for cluster-scoped objects).
#[must_use]
pub fn object_name(object: &Value) -> (String, String) {
    let kind = text(object, "/kind");
    let name = shown_name(object);
    match object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
    {
        Some(namespace) if !namespace.is_empty() => (kind, format!("{namespace}/{name}")),
        _ => (kind, name),
    }
}

fn text(object: &Value, pointer: &str) -> String {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The name, with the random suffix of a `generateName` replaced by `*`.
fn shown_name(object: &Value) -> String {
    match object
        .pointer("/metadata/generateName")
        .and_then(Value::as_str)
    {
        Some(prefix) if !prefix.is_empty() => format!("{prefix}*"),
        _ => text(object, "/metadata/name"),
    }
}

/// Maps every object's uid to a token naming the object, so a uid in a label, an owner reference
/// or a selector compares equal across clusters when it names the same object.
#[must_use]
pub fn uid_tokens<'a>(objects: impl IntoIterator<Item = &'a Value>) -> BTreeMap<String, String> {
    objects
        .into_iter()
        .filter_map(|object| {
            let uid = object.pointer("/metadata/uid")?.as_str()?.to_owned();
            let (kind, name) = object_name(object);
            Some((uid, format!("<uid of {kind} {name}>")))
        })
        .collect()
}

/// Replaces uids (known ones by their object's token, others by `<uid>`) in every string, and
/// drops timestamps, at any depth.
#[must_use]
pub fn scrub(value: &Value, tokens: &BTreeMap<String, String>) -> Value {
    match value {
        Value::String(text) => Value::String(scrub_text(text, tokens)),
        Value::Array(items) => Value::Array(items.iter().map(|v| scrub(v, tokens)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(key, _)| !TIME_FIELDS.contains(&key.as_str()))
                .map(|(key, v)| (scrub_text(key, tokens), scrub(v, tokens)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn scrub_text(text: &str, tokens: &BTreeMap<String, String>) -> String {
    let text = match REPLICASET.as_ref() {
        Some(replicaset) => replicaset.replace_all(text, r#"ReplicaSet "$1-<hash>""#),
        None => std::borrow::Cow::Borrowed(text),
    };
    let text = text.as_ref();
    match UUID.as_ref() {
        Some(uuid) if uuid.is_match(text) => uuid
            .replace_all(text, |caps: &regex::Captures<'_>| {
                tokens
                    .get(&caps[0])
                    .cloned()
                    .unwrap_or_else(|| "<uid>".to_owned())
            })
            .into_owned(),
        _ => text.to_owned(),
    }
}

/// Labels with the controller's version replaced.
fn labels(object: &Value) -> Value {
    let mut labels = object
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let Some(version) = labels.get_mut(VERSION_LABEL) {
        *version = json!("<kro-version>");
    }
    labels
}

/// Annotations with the controller's version in the ApplySet tooling annotation replaced.
fn annotations(object: &Value) -> Value {
    let mut annotations = object
        .pointer("/metadata/annotations")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let Some(tooling) = annotations.get_mut(TOOLING_ANNOTATION)
        && tooling.as_str().is_some_and(|t| t.starts_with("kro/"))
    {
        *tooling = json!("kro/<kro-version>");
    }
    annotations
}

fn metadata_field(object: &Value, field: &str) -> Value {
    object
        .pointer(&format!("/metadata/{field}"))
        .cloned()
        .unwrap_or(Value::Null)
}

/// Inserts `value` unless it is null (absent and null compare the same).
fn put(map: &mut Map<String, Value>, key: &str, value: Value) {
    if !value.is_null() {
        map.insert(key.to_owned(), value);
    }
}

/// The metadata kro writes on objects it owns: labels, annotations and owner references.
fn owned_metadata(object: &Value) -> Map<String, Value> {
    let mut view = Map::new();
    view.insert("labels".into(), labels(object));
    view.insert("annotations".into(), annotations(object));
    put(
        &mut view,
        "ownerReferences",
        metadata_field(object, "ownerReferences"),
    );
    view
}

/// A generated CRD: its metadata that kro writes, and its spec.
#[must_use]
pub fn crd_view(object: &Value) -> Value {
    let mut view = owned_metadata(object);
    put(
        &mut view,
        "spec",
        object.get("spec").cloned().unwrap_or_default(),
    );
    Value::Object(view)
}

/// A child: labels, annotations, owner references, and every top-level field but metadata and
/// status (its spec, or `data`, `rules`, ... for kinds without one), with allocated values masked.
#[must_use]
pub fn child_view(object: &Value) -> Value {
    let mut view = owned_metadata(object);
    put(
        &mut view,
        "finalizers",
        metadata_field(object, "finalizers"),
    );
    if let Some(map) = object.as_object() {
        for (key, value) in map {
            if !matches!(key.as_str(), "metadata" | "status" | "apiVersion" | "kind") {
                view.insert(key.clone(), value.clone());
            }
        }
    }
    if let Some(spec) = view.get_mut("spec") {
        mask_allocated(spec);
    }
    Value::Object(view)
}

/// Service IPs and node ports are allocated by the API server at random.
fn mask_allocated(spec: &mut Value) {
    if let Some(ip) = spec.get_mut("clusterIP")
        && ip.as_str() != Some("None")
    {
        *ip = json!("<allocated>");
    }
    if let Some(Value::Array(ips)) = spec.get_mut("clusterIPs") {
        for ip in ips.iter_mut().filter(|ip| ip.as_str() != Some("None")) {
            *ip = json!("<allocated>");
        }
    }
    if let Some(port) = spec.get_mut("healthCheckNodePort") {
        *port = json!("<allocated>");
    }
    if let Some(Value::Array(ports)) = spec.get_mut("ports") {
        for port in ports {
            if let Some(node_port) = port.get_mut("nodePort") {
                *node_port = json!("<allocated>");
            }
        }
    }
}

/// An instance: metadata kro writes (labels, annotations, finalizers), whether it is being
/// deleted, and its whole status.
#[must_use]
pub fn instance_view(object: &Value) -> Value {
    let mut view = Map::new();
    view.insert("labels".into(), labels(object));
    view.insert("annotations".into(), annotations(object));
    put(
        &mut view,
        "finalizers",
        metadata_field(object, "finalizers"),
    );
    if object.pointer("/metadata/deletionTimestamp").is_some() {
        view.insert("deleting".into(), json!(true));
    }
    put(
        &mut view,
        "status",
        object.get("status").cloned().unwrap_or_default(),
    );
    Value::Object(view)
}

/// An RGD: finalizers and its whole status (state, conditions, topologicalOrder, resources).
#[must_use]
pub fn rgd_view(object: &Value) -> Value {
    let mut view = Map::new();
    put(
        &mut view,
        "finalizers",
        metadata_field(object, "finalizers"),
    );
    put(
        &mut view,
        "status",
        object.get("status").cloned().unwrap_or_default(),
    );
    Value::Object(view)
}

/// A GraphRevision: its labels (the spec hash among them).
#[must_use]
pub fn revision_view(object: &Value) -> Value {
    json!({"labels": labels(object)})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_become_tokens_naming_their_object() {
        let owner = json!({"kind": "WebApp", "metadata": {"name": "a", "namespace": "ns", "uid": "0b9f3c1e-1111-4222-8333-444455556666"}});
        let tokens = uid_tokens([&owner]);
        let child = json!({"metadata": {"labels": {"kro.run/instance-id": "0b9f3c1e-1111-4222-8333-444455556666", "other": "x-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"}}, "lastTransitionTime": "now"});
        let scrubbed = scrub(&child, &tokens);
        assert_eq!(
            scrubbed,
            json!({"metadata": {"labels": {"kro.run/instance-id": "<uid of WebApp ns/a>", "other": "x-<uid>"}}})
        );
        assert_eq!(
            scrub(
                &json!("ReplicaSet \"app-5c46c858c5\" has successfully progressed."),
                &tokens
            ),
            json!("ReplicaSet \"app-<hash>\" has successfully progressed.")
        );
    }

    #[test]
    fn views_mask_versions_and_allocations() {
        let service = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "s", "labels": {"kro.run/kro-version": "v0.9.4"}, "annotations": {"applyset.kubernetes.io/tooling": "kro/v0.9.4"}, "resourceVersion": "7"},
            "spec": {"clusterIP": "10.0.0.3", "clusterIPs": ["10.0.0.3"], "ports": [{"port": 80, "nodePort": 30001}]},
            "status": {"loadBalancer": {}}
        });
        assert_eq!(
            child_view(&service),
            json!({
                "labels": {"kro.run/kro-version": "<kro-version>"},
                "annotations": {"applyset.kubernetes.io/tooling": "kro/<kro-version>"},
                "spec": {"clusterIP": "<allocated>", "clusterIPs": ["<allocated>"], "ports": [{"port": 80, "nodePort": "<allocated>"}]}
            })
        );
    }

    #[test]
    fn generated_names_lose_their_suffix() {
        let pod = json!({"kind": "Pod", "metadata": {"name": "web-x7k2p", "generateName": "web-", "namespace": "d"}});
        assert_eq!(object_name(&pod), ("Pod".into(), "d/web-*".into()));
        let crd = json!({"kind": "CustomResourceDefinition", "metadata": {"name": "a.b"}});
        assert_eq!(
            object_name(&crd),
            ("CustomResourceDefinition".into(), "a.b".into())
        );
    }

    #[test]
    fn instance_view_keeps_status_and_deletion() {
        let instance = json!({"kind": "X", "metadata": {"name": "i", "finalizers": ["kro.run/finalizer"], "deletionTimestamp": "t"}, "spec": {"a": 1}, "status": {"state": "DELETING"}});
        assert_eq!(
            instance_view(&instance),
            json!({"labels": {}, "annotations": {}, "finalizers": ["kro.run/finalizer"], "deleting": true, "status": {"state": "DELETING"}})
        );
    }
}
