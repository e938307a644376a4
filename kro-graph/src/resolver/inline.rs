//! Turns an OpenAPI v3 component schema with `$ref`s into one self-contained schema.
//!
//! `$ref: "#/components/schemas/<name>"` and `allOf: [{$ref}]` wrappers are replaced by the
//! referenced schema (sibling keywords such as `default` win). A reference to a schema that is
//! already being expanded (a recursive type, such as JSONSchemaProps) and anything deeper than
//! [`MAX_DEPTH`] becomes a free-form, preserve-unknown-fields object. The API server's
//! int-or-string (`format: int-or-string`) and scalar `oneOf`s (Quantity) become
//! `x-kubernetes-int-or-string`, which is how CRD schemas spell them.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;
use serde_json::{Map, Value};

/// Deepest schema nesting kept; deeper subtrees are left unchecked.
pub const MAX_DEPTH: usize = 48;

const REF_PREFIX: &str = "#/components/schemas/";

/// Keywords JSONSchemaProps models; everything else (`readOnly`,
/// `x-kubernetes-group-version-kind`, ...) is dropped.
const KEPT_KEYWORDS: &[&str] = &[
    "type",
    "format",
    "properties",
    "items",
    "additionalProperties",
    "required",
    "default",
    "enum",
    "nullable",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "pattern",
    "uniqueItems",
    "multipleOf",
    "description",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-validations",
];

/// The self-contained schema of component `name` of `components`.
///
/// # Errors
/// The name of the component that is missing (the root one or a referenced one).
pub fn inline_component(
    components: &Map<String, Value>,
    name: &str,
) -> Result<JSONSchemaProps, String> {
    let root = components
        .get(name)
        .ok_or_else(|| format!("component schema \"{name}\" not found"))?;
    let mut stack = vec![name.to_owned()];
    let value = inline(root, components, &mut stack, 0)?;
    serde_json::from_value(value).map_err(|e| format!("component schema \"{name}\": {e}"))
}

/// A schema accepting anything, left unchecked.
fn free_form() -> Value {
    let mut map = Map::new();
    map.insert("type".into(), "object".into());
    map.insert("x-kubernetes-preserve-unknown-fields".into(), true.into());
    Value::Object(map)
}

fn inline(
    node: &Value,
    components: &Map<String, Value>,
    stack: &mut Vec<String>,
    depth: usize,
) -> Result<Value, String> {
    let Value::Object(map) = node else {
        return Ok(node.clone());
    };
    if depth > MAX_DEPTH {
        return Ok(free_form());
    }
    if let Some(Value::String(reference)) = map.get("$ref") {
        let expanded = expand_ref(reference, components, stack, depth)?;
        return merge_siblings(expanded, map, components, stack, depth);
    }
    if let Some(Value::Array(all_of)) = map.get("allOf")
        && all_of.len() == 1
    {
        let expanded = inline(&all_of[0], components, stack, depth)?;
        return merge_siblings(expanded, map, components, stack, depth);
    }
    let mut out = Map::new();
    if map.get("format").and_then(Value::as_str) == Some("int-or-string") || is_scalar_one_of(map) {
        out.insert("x-kubernetes-int-or-string".into(), true.into());
        if let Some(default) = map.get("default") {
            out.insert("default".into(), default.clone());
        }
        return Ok(Value::Object(out));
    }
    for (key, value) in map {
        if !KEPT_KEYWORDS.contains(&key.as_str()) {
            continue;
        }
        let inlined = match key.as_str() {
            "properties" => match value {
                Value::Object(properties) => {
                    let mut inlined = Map::new();
                    for (name, schema) in properties {
                        inlined.insert(name.clone(), inline(schema, components, stack, depth + 1)?);
                    }
                    Value::Object(inlined)
                }
                other => other.clone(),
            },
            "items" | "additionalProperties" if value.is_object() => {
                inline(value, components, stack, depth + 1)?
            }
            _ => value.clone(),
        };
        out.insert(key.clone(), inlined);
    }
    Ok(Value::Object(out))
}

fn expand_ref(
    reference: &str,
    components: &Map<String, Value>,
    stack: &mut Vec<String>,
    depth: usize,
) -> Result<Value, String> {
    let name = reference.strip_prefix(REF_PREFIX).unwrap_or(reference);
    if stack.iter().any(|open| open == name) {
        return Ok(free_form());
    }
    let target = components
        .get(name)
        .ok_or_else(|| format!("referenced schema \"{name}\" not found"))?;
    stack.push(name.to_owned());
    let result = inline(target, components, stack, depth);
    stack.pop();
    result
}

/// Keywords next to a `$ref`/`allOf` (such as `default`) override the referenced schema's.
fn merge_siblings(
    expanded: Value,
    wrapper: &Map<String, Value>,
    components: &Map<String, Value>,
    stack: &mut Vec<String>,
    depth: usize,
) -> Result<Value, String> {
    let siblings: Map<String, Value> = wrapper
        .iter()
        .filter(|(key, _)| key.as_str() != "$ref" && key.as_str() != "allOf")
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    if siblings.is_empty() {
        return Ok(expanded);
    }
    let Value::Object(mut merged) = expanded else {
        return Ok(expanded);
    };
    if let Value::Object(siblings) = inline(&Value::Object(siblings), components, stack, depth)? {
        merged.extend(siblings);
    }
    Ok(Value::Object(merged))
}

/// `oneOf` of scalar types without a `type` of its own (Quantity: string or number).
fn is_scalar_one_of(map: &Map<String, Value>) -> bool {
    !map.contains_key("type")
        && map
            .get("oneOf")
            .and_then(Value::as_array)
            .is_some_and(|alternatives| {
                !alternatives.is_empty()
                    && alternatives.iter().all(|alternative| {
                        matches!(
                            alternative.get("type").and_then(Value::as_str),
                            Some("string" | "integer" | "number")
                        )
                    })
            })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refs_and_all_of_are_inlined_and_recursion_is_cut() {
        let components = json!({
            "Node": {"type": "object", "properties": {
                "child": {"$ref": "#/components/schemas/Node"},
                "port": {"allOf": [{"$ref": "#/components/schemas/IntOrString"}], "default": 80},
                "size": {"$ref": "#/components/schemas/Quantity"},
            }},
            "IntOrString": {"format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}]},
            "Quantity": {"oneOf": [{"type": "string"}, {"type": "number"}]},
        });
        let Value::Object(components) = components else {
            unreachable!()
        };
        let schema = inline_component(&components, "Node").expect("inlines");
        let properties = schema.properties.expect("properties");
        assert_eq!(
            properties["child"].x_kubernetes_preserve_unknown_fields,
            Some(true)
        );
        assert_eq!(properties["port"].x_kubernetes_int_or_string, Some(true));
        assert!(properties["port"].default.is_some());
        assert_eq!(properties["size"].x_kubernetes_int_or_string, Some(true));
    }
}
