//! Structural defaulting as the API server performs it on a stored custom resource, for
//! callers whose instance comes from a file rather than from the API server.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray,
};
use kro_graph::Graph;
use serde_json::Value;

/// Fills every absent property that has a `default` in the graph's generated CRD schema,
/// recursing into present objects and list items (the API server's structural defaulting).
/// Does nothing when the CRD has no schema.
pub fn apply_instance_defaults(graph: &Graph, instance: &mut Value) {
    let schema = graph
        .crd()
        .spec
        .versions
        .first()
        .and_then(|version| version.schema.as_ref())
        .and_then(|schema| schema.open_api_v3_schema.as_ref());
    if let Some(schema) = schema {
        apply_defaults(instance, schema);
    }
}

fn apply_defaults(value: &mut Value, schema: &JSONSchemaProps) {
    match value {
        Value::Object(map) => {
            let Some(properties) = &schema.properties else {
                return;
            };
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
