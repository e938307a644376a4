//! Custom types from `schema.types`: structs, aliases, dependency order and cycles.

// Helpers take `json!` literals by value so call sites stay short.
#![allow(clippy::needless_pass_by_value)]

use kro_schema::SimpleSchema;
use serde_json::{Value, json};

fn convert(spec: Value, types: Value) -> Value {
    let schema = SimpleSchema::to_openapi(&spec, Some(&types))
        .unwrap_or_else(|errors| panic!("should convert: {errors}"));
    serde_json::to_value(schema).expect("serializes")
}

fn errors(spec: Value, types: Value) -> Vec<String> {
    match SimpleSchema::to_openapi(&spec, Some(&types)) {
        Ok(schema) => panic!("should fail, got {schema:?}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn struct_types_expand_inline() {
    let schema = convert(
        json!({"server": "Server", "servers": "[]Server", "byName": "map[string]Server"}),
        json!({"Server": {"host": "string | required=true", "port": "integer | default=80"}}),
    );
    let server = json!({
        "type": "object",
        "required": ["host"],
        "properties": {"host": {"type": "string"}, "port": {"type": "integer", "default": 80}}
    });
    assert_eq!(schema["properties"]["server"], server);
    assert_eq!(schema["properties"]["servers"]["items"], server);
    assert_eq!(
        schema["properties"]["byName"]["additionalProperties"],
        server
    );
}

#[test]
fn struct_types_get_the_implicit_default() {
    let schema = convert(
        json!({"c": "Config"}),
        json!({"Config": {"level": "string | default=info"}}),
    );
    assert_eq!(schema["properties"]["c"]["default"], json!({}));
}

#[test]
fn types_resolve_in_dependency_order_whatever_the_declaration_order() {
    let schema = convert(
        json!({"a": "A"}),
        json!({
            "A": {"b": "B", "bs": "[]B"},
            "B": {"c": "C"},
            "C": "string | minLength=1",
        }),
    );
    assert_eq!(
        schema["properties"]["a"]["properties"]["b"]["properties"]["c"],
        json!({"type": "string", "minLength": 1})
    );
    assert_eq!(
        schema["properties"]["a"]["properties"]["bs"]["items"]["properties"]["c"],
        json!({"type": "string", "minLength": 1})
    );
}

#[test]
fn aliases_propagate_markers_including_required() {
    let schema = convert(
        json!({
            "name": "Name",
            "other": "Name | maxLength=10 description=\"other\"",
            "optional": "Name | required=false",
        }),
        json!({"Name": "string | required=true minLength=3 description=\"a name\""}),
    );
    // `required=false` does not override the type's `required=true` (upstream keeps the field
    // required; kro-rs warns, see tests/warnings.rs).
    assert_eq!(schema["required"], json!(["name", "optional", "other"]));
    assert_eq!(
        schema["properties"]["name"],
        json!({"type": "string", "minLength": 3, "description": "a name"})
    );
    assert_eq!(
        schema["properties"]["other"],
        json!({"type": "string", "minLength": 3, "maxLength": 10, "description": "other"})
    );
}

#[test]
fn alias_of_alias_and_of_collections() {
    let schema = convert(
        json!({"ids": "Ids", "short": "Short"}),
        json!({
            "Name": "string | minLength=1",
            "Short": "Name | maxLength=5",
            "Ids": "[]Name | minItems=1",
        }),
    );
    assert_eq!(
        schema["properties"]["short"],
        json!({"type": "string", "minLength": 1, "maxLength": 5})
    );
    assert_eq!(
        schema["properties"]["ids"],
        json!({"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}})
    );
}

#[test]
fn alias_defaults_propagate_and_can_be_overridden() {
    let schema = convert(
        json!({"a": "Level", "b": "Level | default=debug"}),
        json!({"Level": "string | enum=\"info,debug\" default=info"}),
    );
    assert_eq!(schema["properties"]["a"]["default"], json!("info"));
    assert_eq!(schema["properties"]["b"]["default"], json!("debug"));
    assert_eq!(schema["default"], json!({}));
}

#[test]
fn cycles_are_reported_with_their_path() {
    assert_eq!(
        errors(
            json!({"a": "A"}),
            json!({"A": {"b": "B"}, "B": {"a": "[]A"}})
        ),
        [
            "types.A: cyclic dependency between custom types: A -> B -> A: expected types that do \
          not reference themselves"
        ]
    );
    assert_eq!(
        errors(json!({}), json!({"Node": {"children": "[]Node"}})),
        [
            "types.Node: cyclic dependency between custom types: Node -> Node: expected types that \
          do not reference themselves"
        ]
    );
}

#[test]
fn fields_using_a_broken_type_do_not_add_noise() {
    // Only the root cause is reported, not "unknown type A" at every use.
    let all = errors(
        json!({"x": "A", "y": "[]B"}),
        json!({"A": "integer | minimum=oops", "B": {"a": "A"}}),
    );
    assert_eq!(
        all,
        ["types.A: marker `minimum`: expected a finite number, got `oops`"]
    );
}

#[test]
fn unknown_reference_inside_a_type() {
    assert_eq!(
        errors(json!({"a": "A"}), json!({"A": {"b": "Missing"}})),
        [
            "types.A.b: unknown type `Missing`: expected string, integer, boolean, float, object, \
          []T, map[string]T or a type declared in schema.types"
        ]
    );
}

#[test]
fn bad_type_definitions() {
    assert_eq!(
        errors(json!({}), json!({"A": 3})),
        [
            "types.A: expected a type string (e.g. `string | required=true`) or a map of fields, got \
          a number"
        ]
    );
    assert_eq!(
        errors(json!({}), json!({"my type": "string"})),
        [
            "types.my type: `my type` is not a valid type: expected string, integer, boolean, \
          float, object, []T, map[string]T or a type name from schema.types"
        ]
    );
    assert_eq!(
        errors(json!({}), json!(["A"])),
        ["types: expected a map of field names to types, got a list"]
    );
}

#[test]
fn simple_schema_exposes_resolved_types() {
    let types = json!({"Port": {"n": "integer"}, "Name": "string"});
    let schema = SimpleSchema::new(Some(&types)).expect("resolves");
    assert_eq!(schema.type_names().collect::<Vec<_>>(), ["Name", "Port"]);
    assert_eq!(
        schema.custom_type("Name").and_then(|s| s.type_.as_deref()),
        Some("string")
    );
    let spec = schema.convert(&json!({"p": "Port"})).expect("converts");
    let props = spec.properties.expect("properties");
    assert_eq!(props["p"].type_.as_deref(), Some("object"));
    assert!(SimpleSchema::new(Some(&json!({"A": "B"}))).is_err());
}
