//! From raw captures to comparable snapshots, and the fingerprints that tell when a cluster has
//! settled.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::compare::{Class, EntryKey, Snapshot};
use super::normalize::{
    child_view, crd_view, instance_view, object_name, revision_view, rgd_view, scrub, uid_tokens,
};
use super::side::Raw;

/// Kinds whose Events are compared besides the instance kinds.
const KRO_KINDS: [&str; 2] = ["ResourceGraphDefinition", "GraphRevision"];

fn insert(snapshot: &mut Snapshot, class: Class, object: &Value, view: Value) {
    let (kind, name) = object_name(object);
    snapshot.insert(EntryKey { class, kind, name }, view);
}

/// The normalised snapshot of one cluster; `applied` is the outcome of each input object.
#[must_use]
pub fn snapshot(raw: &Raw, applied: &BTreeMap<(String, String), String>) -> Snapshot {
    let tokens = uid_tokens(
        raw.crds
            .iter()
            .chain(&raw.rgds)
            .chain(&raw.revisions)
            .chain(&raw.instances)
            .chain(&raw.children),
    );
    let mut out = Snapshot::new();
    for crd in &raw.crds {
        insert(&mut out, Class::Crd, crd, scrub(&crd_view(crd), &tokens));
    }
    for rgd in &raw.rgds {
        insert(&mut out, Class::Rgd, rgd, scrub(&rgd_view(rgd), &tokens));
    }
    for revision in &raw.revisions {
        let view = scrub(&revision_view(revision), &tokens);
        insert(&mut out, Class::GraphRevision, revision, view);
    }
    for instance in &raw.instances {
        let view = scrub(&instance_view(instance), &tokens);
        insert(&mut out, Class::Instance, instance, view);
    }
    for child in &raw.children {
        insert(
            &mut out,
            Class::Child,
            child,
            scrub(&child_view(child), &tokens),
        );
    }
    for ((kind, name), reasons) in event_reasons(raw) {
        let reasons: serde_json::Map<String, Value> =
            reasons.into_iter().map(|r| (r, json!(true))).collect();
        out.insert(
            EntryKey {
                class: Class::Events,
                kind,
                name,
            },
            json!({ "reasons": reasons }),
        );
    }
    for ((kind, name), outcome) in applied {
        out.insert(
            EntryKey {
                class: Class::Apply,
                kind: kind.clone(),
                name: name.clone(),
            },
            scrub(&json!({ "result": outcome }), &tokens),
        );
    }
    out
}

/// The set of Event reasons per kind of involved object, for Events about kro's objects and
/// instances or reported by a kro controller.
fn event_reasons(raw: &Raw) -> BTreeMap<(String, String), BTreeSet<String>> {
    let instance_kinds: BTreeSet<&str> = raw
        .crds
        .iter()
        .filter_map(|crd| crd.pointer("/spec/names/kind")?.as_str())
        .collect();
    let mut out: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for event in &raw.events {
        let kind = event
            .pointer("/involvedObject/kind")
            .and_then(Value::as_str)
            .unwrap_or("");
        let reporter = ["/reportingComponent", "/source/component"]
            .iter()
            .filter_map(|p| event.pointer(p).and_then(Value::as_str))
            .any(|component| component.contains("kro"));
        let about_kro = KRO_KINDS.contains(&kind) || instance_kinds.contains(kind);
        if !(about_kro || reporter) {
            continue;
        }
        if let Some(reason) = event.get("reason").and_then(Value::as_str) {
            out.entry((kind.to_owned(), "(all)".to_owned()))
                .or_default()
                .insert(reason.to_owned());
        }
    }
    out
}

/// What changes while a controller is still working: the RGDs' and instances' status,
/// finalizers and deletion, and which CRDs and GraphRevisions exist.
#[must_use]
pub fn fingerprint(raw: &Raw) -> String {
    let tokens = BTreeMap::new();
    let mut parts: Vec<String> = Vec::new();
    for rgd in &raw.rgds {
        parts.push(format!(
            "{:?} {}",
            object_name(rgd),
            scrub(&rgd_view(rgd), &tokens)
        ));
    }
    for instance in &raw.instances {
        let view = scrub(&instance_view(instance), &tokens);
        parts.push(format!("{:?} {view}", object_name(instance)));
    }
    for object in raw.crds.iter().chain(&raw.revisions) {
        parts.push(format!("{:?}", object_name(object)));
    }
    parts.sort();
    parts.join("\n")
}

/// The states both controllers should agree on once settled: each RGD's state and each
/// instance's state and Ready condition.
#[must_use]
pub fn summary(raw: &Raw) -> BTreeSet<String> {
    let state = |o: &Value| {
        o.pointer("/status/state")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let ready = |o: &Value| {
        o.pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|conditions| {
                conditions
                    .iter()
                    .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
            })
            .and_then(|c| c.get("status").and_then(Value::as_str))
            .unwrap_or("")
            .to_owned()
    };
    raw.rgds
        .iter()
        .map(|rgd| format!("{:?} {}", object_name(rgd), state(rgd)))
        .chain(
            raw.instances
                .iter()
                .map(|i| format!("{:?} {} {}", object_name(i), state(i), ready(i))),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_grouped_by_involved_kind() {
        let raw = Raw {
            crds: vec![
                json!({"kind": "CustomResourceDefinition", "metadata": {"name": "webapps.kro.run"}, "spec": {"names": {"kind": "WebApp"}}}),
            ],
            events: vec![
                json!({"involvedObject": {"kind": "WebApp"}, "reason": "Ready"}),
                json!({"involvedObject": {"kind": "WebApp"}, "reason": "Ready"}),
                json!({"involvedObject": {"kind": "Deployment"}, "reason": "ScalingReplicaSet", "source": {"component": "deployment-controller"}}),
                json!({"involvedObject": {"kind": "ConfigMap"}, "reason": "Odd", "reportingComponent": "kro-rs"}),
            ],
            ..Raw::default()
        };
        let reasons = event_reasons(&raw);
        let kinds: Vec<&str> = reasons.keys().map(|(kind, _)| kind.as_str()).collect();
        assert_eq!(kinds, ["ConfigMap", "WebApp"]);
    }

    #[test]
    fn fingerprints_ignore_timestamps() {
        let at = |time: &str| Raw {
            rgds: vec![
                json!({"kind": "ResourceGraphDefinition", "metadata": {"name": "a"},
                "status": {"state": "Active", "conditions": [{"type": "Ready", "lastTransitionTime": time}]}}),
            ],
            ..Raw::default()
        };
        assert_eq!(fingerprint(&at("t1")), fingerprint(&at("t2")));
        assert_eq!(summary(&at("t1")).len(), 1);
    }
}
