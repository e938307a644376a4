//! Shared helpers of the core tests: corpus loading, API-server-like defaulting, and a
//! simulated cluster that applies plans the way the executor will.
#![allow(dead_code)]

use std::fs;
use std::path::Path;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray,
};
use kro_api::ResourceGraphDefinition;
use kro_graph::{Graph, OfflineResolver, compile};
use kro_runtime::core::{InMemoryView, InstanceState, Limits, Plan, PlanInput, RgdIdentity, plan};
use serde_json::{Value, json};

pub const NOW: &str = "2025-01-01T00:00:30Z";
pub const CREATED: &str = "2025-01-01T00:00:00Z";
pub const VERSION: &str = "v0.9.0";

/// The text of a corpus file (see `kro_test_support`).
pub fn corpus(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}

pub fn compile_yaml(text: &str) -> Graph {
    let rgd = ResourceGraphDefinition::from_yaml(text).expect("RGD parses");
    compile(&rgd, &OfflineResolver::new()).expect("RGD compiles")
}

pub fn corpus_graph(path: &Path) -> Graph {
    compile_yaml(&corpus(path))
}

/// The YAML documents of a file, as JSON.
pub fn documents(text: &str) -> Vec<Value> {
    text.split("\n---")
        .map(str::trim)
        .filter(|doc| !doc.is_empty() && doc.lines().any(|l| !l.trim_start().starts_with('#')))
        .map(|doc| serde_saphyr::from_str::<Value>(doc).expect("YAML document parses"))
        .filter(|doc| !doc.is_null())
        .collect()
}

/// An instance as the API server would store it: defaults applied, uid, generation and
/// creation timestamp set, namespace defaulted for namespaced kinds.
pub fn stored_instance(graph: &Graph, mut instance: Value) -> Value {
    let schema = graph
        .crd()
        .spec
        .versions
        .first()
        .and_then(|version| version.schema.as_ref())
        .and_then(|schema| schema.open_api_v3_schema.as_ref())
        .expect("CRD has a schema")
        .clone();
    apply_defaults(&mut instance, &schema);
    let metadata = instance
        .as_object_mut()
        .expect("instance is an object")
        .entry("metadata")
        .or_insert_with(|| json!({}));
    let metadata = metadata.as_object_mut().expect("metadata is an object");
    metadata.insert("uid".into(), json!("0b5e7c1e-1111-4222-8333-444455556666"));
    metadata.insert("generation".into(), json!(1));
    metadata.insert("creationTimestamp".into(), json!(CREATED));
    if graph.instance().namespaced() && !metadata.contains_key("namespace") {
        metadata.insert("namespace".into(), json!("default"));
    }
    instance
}

/// Structural defaulting: absent properties with a default get it; present objects and list
/// items are defaulted recursively.
pub fn apply_defaults(value: &mut Value, schema: &JSONSchemaProps) {
    match value {
        Value::Object(map) => {
            if let Some(properties) = &schema.properties {
                for (name, property) in properties {
                    if !map.contains_key(name)
                        && let Some(default) = &property.default
                    {
                        map.insert(name.clone(), default.0.clone());
                    }
                    if let Some(child) = map.get_mut(name) {
                        apply_defaults(child, property);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(JSONSchemaPropsOrArray::Schema(item)) = &schema.items {
                for child in items {
                    apply_defaults(child, item);
                }
            }
        }
        _ => {}
    }
}

/// A simulated cluster: a view plus a uid counter; applies plans like the executor.
pub struct Cluster {
    pub view: InMemoryView,
    pub rgd: RgdIdentity,
    pub limits: Limits,
    next_uid: u64,
}

impl Default for Cluster {
    fn default() -> Self {
        Self::new()
    }
}

impl Cluster {
    pub fn new() -> Self {
        Self {
            view: InMemoryView::new(),
            rgd: RgdIdentity {
                name: "test-rgd".into(),
                uid: "rgd-uid-1".into(),
            },
            limits: Limits::default(),
            next_uid: 1,
        }
    }

    /// Stores an object as the API server would (with a uid).
    pub fn create(&mut self, mut object: Value) {
        if object.pointer("/metadata/uid").is_none() {
            let uid = format!("uid-{}", self.next_uid);
            self.next_uid += 1;
            if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                metadata.insert("uid".into(), json!(uid));
            }
        }
        self.view.insert(object).expect("object is storable");
    }

    pub fn plan(&self, graph: &Graph, instance: &Value, previous_status: Option<&Value>) -> Plan {
        plan(&PlanInput {
            graph,
            instance,
            view: &self.view,
            now: NOW,
            kro_version: VERSION,
            rgd: &self.rgd,
            limits: self.limits,
            previous_status,
            gating: kro_runtime::core::Gating::Readiness,
        })
    }

    /// Applies every item of `plan` like a forced server-side apply: the body is merged over the
    /// stored object, so fields set by others (status, extra keys) survive.
    pub fn apply(&mut self, plan: &Plan) {
        for item in &plan.apply {
            let existing = self
                .view
                .objects()
                .find(|o| {
                    o.pointer("/metadata/name") == item.body.pointer("/metadata/name")
                        && o.get("kind") == item.body.get("kind")
                        && o.pointer("/metadata/namespace")
                            == item.body.pointer("/metadata/namespace")
                })
                .map(|o| (**o).clone());
            let body = match existing {
                Some(mut existing) => {
                    merge(&mut existing, &item.body);
                    existing
                }
                None => item.body.clone(),
            };
            self.create(body);
        }
    }

    /// Plans and applies until a pass adds nothing new (the executor's fixed point).
    pub fn converge(&mut self, graph: &Graph, instance: &Value) -> Plan {
        let mut applied = Vec::new();
        let mut previous_status: Option<Value> = None;
        for _ in 0..20 {
            let plan = self.plan(graph, instance, previous_status.as_ref());
            if plan.changed_since(&applied).is_empty() {
                return plan;
            }
            self.apply(&plan);
            applied = plan.apply.clone();
            previous_status = Some(plan.status.clone());
        }
        panic!("no fixed point after 20 passes");
    }

    /// Converges, then lets the cluster's own controllers act ([`Cluster::simulate_controllers`])
    /// and converges again, until the instance is ACTIVE or five rounds passed: the plan of a
    /// settled cluster.
    pub fn settle(&mut self, graph: &Graph, instance: &Value) -> Plan {
        let mut plan = self.converge(graph, instance);
        for _ in 0..5 {
            if plan.instance_state == InstanceState::Active {
                break;
            }
            self.simulate_controllers();
            plan = self.converge(graph, instance);
        }
        plan
    }

    /// What the cluster's own controllers would do: Deployments become available, Jobs complete.
    pub fn simulate_controllers(&mut self) {
        let objects: Vec<Value> = self.view.objects().map(|o| (**o).clone()).collect();
        for object in objects {
            if object.get("status").is_some() {
                continue;
            }
            let name = object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            match object["kind"].as_str() {
                Some("Deployment") => {
                    let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
                    self.set_status(
                        "Deployment",
                        &name,
                        json!({"replicas": replicas, "availableReplicas": replicas, "readyReplicas": replicas}),
                    );
                }
                Some("Job") => {
                    self.set_status(
                        "Job",
                        &name,
                        json!({"completionTime": "2025-01-01T00:00:10Z", "succeeded": 1}),
                    );
                }
                _ => {}
            }
        }
    }

    /// Sets `status` on the stored object of that kind and name.
    pub fn set_status(&mut self, kind: &str, name: &str, status: Value) {
        let object = self
            .view
            .objects()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .map(|o| (**o).clone())
            .unwrap_or_else(|| panic!("{kind} {name} is stored"));
        let mut object = object;
        object["status"] = status;
        self.view.insert(object).expect("object is storable");
    }

    pub fn stored(&self, kind: &str, name: &str) -> Option<Value> {
        self.view
            .objects()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .map(|o| (**o).clone())
    }
}

/// The condition of `type_` in a status.
pub fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|conditions| conditions.iter().find(|c| c["type"] == type_))
        .unwrap_or_else(|| panic!("condition {type_} in {status}"))
}

/// The `status.resources` entry of `id`.
pub fn resource_entry<'a>(status: &'a Value, id: &str) -> &'a Value {
    status["resources"]
        .as_array()
        .and_then(|entries| entries.iter().find(|e| e["id"] == id))
        .unwrap_or_else(|| panic!("resources entry {id} in {status}"))
}

/// Deep-merges `patch` into `target` (maps merge, everything else is replaced).
pub fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                match target.get_mut(key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        target.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

/// A plan as plain data, every field the executor acts on or writes: what a change in planning
/// shows as a snapshot diff. Maps are sorted; lists keep the plan's order, which is part of it.
pub fn render_plan(plan: &Plan) -> Value {
    let nodes: Vec<Value> = plan
        .nodes
        .iter()
        .map(|node| {
            json!({
                "id": node.id,
                "state": node.state.as_str(),
                "ready": node.ready,
                "desired": node.desired.len(),
                "waitingFor": node.waiting_for,
                "message": node.message,
                "error": node.error.as_ref().map(ToString::to_string),
            })
        })
        .collect();
    let apply: Vec<Value> = plan
        .apply
        .iter()
        .map(|item| json!({"node": item.node_id, "key": item.key.to_string(), "body": item.body}))
        .collect();
    json!({
        "state": plan.instance_state.as_str(),
        "requeue": format!("{:?}", plan.requeue),
        "nodes": nodes,
        "apply": apply,
        "parentMetadata": plan.parent_metadata.as_ref().map(|metadata| json!({
            "labels": metadata.labels,
            "annotations": metadata.annotations,
        })),
        "prune": plan.prune.as_ref().map(|prune| json!({
            "applied": prune.applied.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "graphApplyOrders": prune.graph_apply_orders,
            "tooling": prune.tooling,
        })),
        "status": plan.status,
        "labelsForInstance": plan.labels_for_instance,
        "suspended": plan.suspended,
        "instanceError": plan.instance_error,
    })
}
