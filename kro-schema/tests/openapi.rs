//! SimpleSchema to OpenAPI: every type, every marker and every error, compared as JSON.

// Helpers take `json!` literals by value so call sites stay short.
#![allow(clippy::needless_pass_by_value)]

use kro_schema::SimpleSchema;
use serde_json::{Value, json};

fn convert(spec: Value) -> Value {
    convert_with_types(spec, None)
}

fn convert_with_types(spec: Value, types: Option<Value>) -> Value {
    let schema = SimpleSchema::to_openapi(&spec, types.as_ref())
        .unwrap_or_else(|errors| panic!("{spec} should convert: {errors}"));
    serde_json::to_value(schema).expect("serializes")
}

/// The converted schema of the single field `f`.
fn field(text: &str) -> Value {
    convert(json!({ "f": text }))["properties"]["f"].clone()
}

fn errors(spec: Value, types: Option<Value>) -> Vec<String> {
    match SimpleSchema::to_openapi(&spec, types.as_ref()) {
        Ok(schema) => panic!("{spec} should fail, got {schema:?}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

/// The single error of the field `f`.
fn field_error(text: &str) -> String {
    let mut all = errors(json!({ "f": text }), None);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

#[test]
fn atomic_types() {
    assert_eq!(field("string"), json!({"type": "string"}));
    assert_eq!(field("integer"), json!({"type": "integer"}));
    assert_eq!(field("boolean"), json!({"type": "boolean"}));
    assert_eq!(field("float"), json!({"type": "number"}));
    assert_eq!(
        field("object"),
        json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
    );
}

#[test]
fn collections() {
    assert_eq!(
        field("[]string"),
        json!({"type": "array", "items": {"type": "string"}})
    );
    assert_eq!(
        field("map[string]integer"),
        json!({"type": "object", "additionalProperties": {"type": "integer"}})
    );
    assert_eq!(
        field("[]map[string][]float"),
        json!({"type": "array", "items": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "number"}}
        }})
    );
    assert_eq!(
        field("map[string]object"),
        json!({"type": "object", "additionalProperties": {
            "type": "object", "x-kubernetes-preserve-unknown-fields": true
        }})
    );
}

#[test]
fn inline_structs_and_required() {
    let schema = convert(json!({
        "name": "string | required=true",
        "nested": {"a": "integer | required=true", "b": "string"},
        "optional": "string | required=false",
    }));
    assert_eq!(
        schema,
        json!({
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string"},
                "nested": {
                    "type": "object",
                    "required": ["a"],
                    "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}
                },
                "optional": {"type": "string"}
            }
        })
    );
}

#[test]
fn required_list_is_sorted() {
    let schema = convert(json!({
        "zeta": "string | required=true",
        "alpha": "string | required=true",
        "mid": "string | required=true",
    }));
    assert_eq!(schema["required"], json!(["alpha", "mid", "zeta"]));
}

#[test]
fn empty_and_null_spec() {
    assert_eq!(
        convert(json!({})),
        json!({"type": "object", "properties": {}})
    );
    assert_eq!(
        convert(Value::Null),
        json!({"type": "object", "properties": {}})
    );
}

#[test]
fn defaults_by_type() {
    assert_eq!(field("string | default=nginx")["default"], json!("nginx"));
    assert_eq!(field("string | default=\"a b\"")["default"], json!("a b"));
    // Escaped properly: a quote inside a string default cannot break the CRD.
    assert_eq!(
        field(r#"string | default="say \"hi\"""#)["default"],
        json!("say \"hi\"")
    );
    assert_eq!(field("string | default=100")["default"], json!("100"));
    assert_eq!(field("integer | default=-3")["default"], json!(-3));
    assert_eq!(field("float | default=1.5")["default"], json!(1.5));
    assert_eq!(field("float | default=2")["default"], json!(2));
    assert_eq!(field("boolean | default=true")["default"], json!(true));
    assert_eq!(field("boolean | default=False")["default"], json!(false));
    assert_eq!(
        field("[]integer | default=[80, 443]")["default"],
        json!([80, 443])
    );
    assert_eq!(
        field(r#"map[string]string | default={"a": "b"}"#)["default"],
        json!({"a": "b"})
    );
    assert_eq!(
        field(r#"object | default={"x": [1]}"#)["default"],
        json!({"x": [1]})
    );
}

#[test]
fn implicit_object_default() {
    // A child default and no required child: the parent defaults to `{}`, up to the root.
    let schema = convert(json!({"outer": {"inner": {"x": "integer | default=1"}}}));
    assert_eq!(schema["default"], json!({}));
    assert_eq!(schema["properties"]["outer"]["default"], json!({}));
    assert_eq!(
        schema["properties"]["outer"]["properties"]["inner"]["default"],
        json!({})
    );
    // A required sibling blocks it.
    let schema = convert(json!({"o": {"x": "integer | default=1", "y": "string | required=true"}}));
    assert!(schema["properties"]["o"].get("default").is_none());
    // ... and so the root has no defaulted child either.
    assert!(schema.get("default").is_none());
    // No defaults below: no implicit default.
    let schema = convert(json!({"o": {"x": "integer"}}));
    assert!(schema["properties"]["o"].get("default").is_none());
    assert!(schema.get("default").is_none());
}

#[test]
fn description_marker() {
    assert_eq!(
        field(r#"string | description="The name, with \"quotes\"""#),
        json!({"type": "string", "description": "The name, with \"quotes\""})
    );
}

#[test]
fn enum_marker() {
    assert_eq!(
        field(r#"string | enum="a, b,c" default=b"#),
        json!({"type": "string", "enum": ["a", "b", "c"], "default": "b"})
    );
    assert_eq!(field("integer | enum=\"1,2,3\"")["enum"], json!([1, 2, 3]));
}

#[test]
fn numeric_bounds() {
    assert_eq!(
        field("integer | minimum=1 maximum=10"),
        json!({"type": "integer", "minimum": 1.0, "maximum": 10.0})
    );
    assert_eq!(field("float | minimum=-0.5")["minimum"], json!(-0.5));
}

#[test]
fn string_markers() {
    assert_eq!(
        field(r#"string | pattern="^[a-z]+$" minLength=1 maxLength=63"#),
        json!({"type": "string", "pattern": "^[a-z]+$", "minLength": 1, "maxLength": 63})
    );
    // Backslashes other than `\"` and `\\` are kept for the regex.
    assert_eq!(
        field(r#"string | pattern="^\d+$""#)["pattern"],
        json!("^\\d+$")
    );
}

#[test]
fn array_markers() {
    assert_eq!(
        field("[]string | minItems=1 maxItems=3 uniqueItems=true"),
        json!({
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "maxItems": 3,
            "x-kubernetes-list-type": "set"
        })
    );
    assert!(
        field("[]string | uniqueItems=false")
            .get("x-kubernetes-list-type")
            .is_none()
    );
    assert_eq!(
        field("[]string | listType=atomic")["x-kubernetes-list-type"],
        json!("atomic")
    );
    assert_eq!(
        field("[]string | uniqueItems=true listType=set")["x-kubernetes-list-type"],
        json!("set")
    );
}

#[test]
fn list_map_with_struct_items() {
    let schema = convert_with_types(
        json!({"ports": "[]Port | listType=map listMapKey=name listMapKey=protocol"}),
        Some(json!({"Port": {
            "name": "string | required=true",
            "protocol": "string | default=TCP",
            "port": "integer"
        }})),
    );
    let ports = &schema["properties"]["ports"];
    assert_eq!(ports["x-kubernetes-list-type"], json!("map"));
    assert_eq!(
        ports["x-kubernetes-list-map-keys"],
        json!(["name", "protocol"])
    );
    assert_eq!(ports["items"]["required"], json!(["name"]));
}

#[test]
fn immutable_and_validation_markers() {
    assert_eq!(
        field(r#"string | immutable=true validation="self.size() > 2" validation="self != 'x'""#),
        json!({
            "type": "string",
            "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "field is immutable"},
                {"rule": "self.size() > 2", "message": "validation failed"},
                {"rule": "self != 'x'", "message": "validation failed"}
            ]
        })
    );
    assert!(
        field("string | immutable=false")
            .get("x-kubernetes-validations")
            .is_none()
    );
}

#[test]
fn markers_on_inline_struct_fields_are_independent() {
    let schema = convert(json!({
        "a": {"x": "integer | default=1"},
        "b": "[]string | default=[\"x\"]"
    }));
    assert_eq!(schema["properties"]["b"]["default"], json!(["x"]));
}

// ---------- errors ----------

#[test]
fn type_errors() {
    assert_eq!(
        field_error("number"),
        "spec.f: unknown type `number`: expected string, integer, boolean, float, object, []T, \
         map[string]T or a type declared in schema.types (did you mean `float`?)"
    );
    assert_eq!(
        field_error("Widget"),
        "spec.f: unknown type `Widget`: expected string, integer, boolean, float, object, []T, \
         map[string]T or a type declared in schema.types"
    );
    assert_eq!(
        field_error("[]"),
        "spec.f: type `[]` has no element type: expected e.g. `[]string` or `map[string]string`"
    );
    assert_eq!(
        field_error("map[string]"),
        "spec.f: type `map[string]` has no value type: expected e.g. `[]string` or \
         `map[string]string`"
    );
    assert_eq!(
        field_error("map[int]string"),
        "spec.f: map key type must be `string`, got `int`"
    );
    assert_eq!(
        field_error("map[string"),
        "spec.f: malformed map type `map[string`: expected `map[string]<value type>`"
    );
    assert_eq!(
        field_error("| default=1"),
        "spec.f: empty type: expected a type such as `string` or `[]integer` before the first `|`"
    );
    assert_eq!(
        field_error("a b"),
        "spec.f: `a b` is not a valid type: expected string, integer, boolean, float, object, \
         []T, map[string]T or a type name from schema.types"
    );
}

#[test]
fn structure_errors() {
    assert_eq!(
        errors(json!({"f": 3}), None),
        [
            "spec.f: expected a type string (e.g. `string | required=true`) or a map of fields, got \
          a number"
        ]
    );
    assert_eq!(
        errors(json!(["a"]), None),
        ["spec: expected a map of field names to types, got a list"]
    );
    let mut deep = json!("string");
    for _ in 0..70 {
        deep = json!({ "x": deep });
    }
    let all = errors(deep, None);
    assert_eq!(all.len(), 1);
    assert!(
        all[0].ends_with(": objects nest deeper than 64 levels: expected a shallower schema"),
        "{all:?}"
    );
}

#[test]
fn marker_applicability_errors() {
    let cases = [
        (
            "integer | enum=\"a\"",
            "spec.f: marker `enum`: expected a comma-separated list of integers, got `a`",
        ),
        (
            "boolean | enum=\"true\"",
            "spec.f: marker `enum` applies only to string and integer fields, not to `boolean`",
        ),
        (
            "integer | pattern=\"a\"",
            "spec.f: marker `pattern` applies only to string fields, not to `integer`",
        ),
        (
            "[]string | minLength=1",
            "spec.f: marker `minLength` applies only to string fields, not to `[]string`",
        ),
        (
            "object | maxLength=1",
            "spec.f: marker `maxLength` applies only to string fields, not to `object`",
        ),
        (
            "string | minItems=1",
            "spec.f: marker `minItems` applies only to array fields, not to `string`",
        ),
        (
            "map[string]string | maxItems=1",
            "spec.f: marker `maxItems` applies only to array fields, not to `map[string]string`",
        ),
        (
            "string | uniqueItems=true",
            "spec.f: marker `uniqueItems` applies only to array fields, not to `string`",
        ),
        (
            "string | listType=set",
            "spec.f: marker `listType` applies only to array fields, not to `string`",
        ),
        (
            "string | listMapKey=a",
            "spec.f: marker `listMapKey` applies only to array fields, not to `string`",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(field_error(text), expected, "{text}");
    }
}

#[test]
fn marker_conflict_errors() {
    let cases = [
        (
            "[]string | uniqueItems=true listType=map listMapKey=a",
            "spec.f: marker `uniqueItems`: `uniqueItems=true` means `listType=set`, which conflicts with `listType=map`: expected only one of them",
        ),
        (
            "[]string | listType=atomic uniqueItems=true",
            "spec.f: marker `uniqueItems`: `uniqueItems=true` means `listType=set`, which conflicts with `listType=atomic`: expected only one of them",
        ),
        (
            "[]string | listType=map listMapKey=a",
            "spec.f: marker `listType`: `listType=map` needs a list of objects, got `[]string`: expected e.g. `[]Port` with a struct type `Port`",
        ),
        (
            "[]string | listMapKey=a",
            "spec.f: marker `listMapKey`: `listMapKey` requires `listType=map`, got no listType",
        ),
        (
            "[]string | listType=atomic listMapKey=a",
            "spec.f: marker `listMapKey`: `listMapKey` requires `listType=map`, got `listType=atomic`",
        ),
        (
            "[]string | listType=set listType=atomic",
            "spec.f: marker `listType`: `listType=atomic` conflicts with the earlier `listType=set`: expected one list type",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(field_error(text), expected, "{text}");
    }
}

#[test]
fn list_map_key_errors() {
    let types = json!({"Port": {
        "name": "string",
        "id": "integer | required=true",
        "tags": "[]string | required=true"
    }});
    let case = |text: &str| errors(json!({"ports": text}), Some(types.clone()));
    assert_eq!(
        case("[]Port | listType=map"),
        ["spec.ports: marker `listType`: `listType=map` needs at least one `listMapKey=<field>`"]
    );
    assert_eq!(
        case("[]Port | listType=map listMapKey=nope"),
        [
            "spec.ports: marker `listMapKey`: `nope` is not a field of the list items: expected one of id, name, tags"
        ]
    );
    assert_eq!(
        case("[]Port | listType=map listMapKey=name"),
        [
            "spec.ports: marker `listMapKey`: `name` must be required or have a default in the list items: expected `required=true` or `default=...` on it"
        ]
    );
    assert_eq!(
        case("[]Port | listType=map listMapKey=tags"),
        [
            "spec.ports: marker `listMapKey`: `tags` must be a scalar field of the list items: expected a string, integer, boolean or float field"
        ]
    );
    assert_eq!(
        case("[]Port | uniqueItems=true"),
        [
            "spec.ports: marker `uniqueItems`: a set (`listType=set` or `uniqueItems=true`) needs scalar items, got `[]Port`: expected `listType=map` with `listMapKey` for lists of objects"
        ]
    );
}

#[test]
fn default_errors() {
    let cases = [
        (
            "integer | default=abc",
            "spec.f: marker `default`: expected an integer, got `abc`",
        ),
        (
            "integer | default=1.5",
            "spec.f: marker `default`: expected an integer, got `1.5`",
        ),
        (
            "float | default=x",
            "spec.f: marker `default`: expected a finite number, got `x`",
        ),
        (
            "boolean | default=yes",
            "spec.f: marker `default`: expected `true` or `false`, got `yes`",
        ),
        (
            "[]string | default=abc",
            "spec.f: marker `default`: expected a JSON list such as `[\"a\", \"b\"]`, got `abc`",
        ),
        (
            "map[string]string | default=[1]",
            "spec.f: marker `default`: expected a JSON object such as `{\"key\": \"value\"}`, got `[1]`",
        ),
        (
            "[]string | default=[80]",
            "spec.f: marker `default`: expected a value that satisfies the field's schema (`[0]` must be a string, not a number), got `[80]`",
        ),
        (
            "string | enum=\"a,b\" default=c",
            "spec.f: marker `default`: expected a value that satisfies the field's schema (the value must be one of \"a\", \"b\"), got `c`",
        ),
        (
            "integer | minimum=5 default=1",
            "spec.f: marker `default`: expected a value that satisfies the field's schema (the value must be >= 5), got `1`",
        ),
        (
            "string | pattern=\"^a\" default=b",
            "spec.f: marker `default`: expected a value that satisfies the field's schema (the value must match `^a`), got `b`",
        ),
        (
            "string | maxLength=1 default=ab",
            "spec.f: marker `default`: expected a value that satisfies the field's schema (the value must be at most 1 characters long), got `ab`",
        ),
        (
            "[]string | maxItems=1 default=[\"a\",\"b\"]",
            "spec.f: marker `default`: expected a value that satisfies the field's schema (the value must have at most 1 items), got `[\"a\",\"b\"]`",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(field_error(text), expected, "{text}");
    }
}

#[test]
fn struct_default_errors() {
    let types = json!({"Port": {"name": "string | required=true", "port": "integer"}});
    assert_eq!(
        errors(
            json!({"p": r#"Port | default={"port": 1}"#}),
            Some(types.clone())
        ),
        [
            "spec.p: marker `default`: expected a value that satisfies the field's schema (the value is missing the required field `name`), got `{\"port\": 1}`"
        ]
    );
    assert_eq!(
        errors(
            json!({"p": r#"Port | default={"name": "a", "x": 1}"#}),
            Some(types)
        ),
        [
            "spec.p: marker `default`: expected a value that satisfies the field's schema (`.x` is not a field of the schema), got `{\"name\": \"a\", \"x\": 1}`"
        ]
    );
}

#[test]
fn marker_syntax_errors_carry_the_path() {
    assert_eq!(
        field_error("string | colour=red"),
        "spec.f: unknown marker `colour`: expected one of required, default, description, enum, \
         minimum, maximum, pattern, minLength, maxLength, minItems, maxItems, uniqueItems, \
         listType, listMapKey, immutable, validation"
    );
    assert_eq!(
        field_error("string | pattern=\"(?<=a)b\""),
        "spec.f: marker `pattern`: expected a Go RE2 regular expression, got `(?<=a)b`: \
         look-around, including look-ahead and look-behind, is not supported"
    );
}

#[test]
fn every_error_is_collected() {
    let all = errors(
        json!({
            "a": "integer | minimum=x",
            "b": "Nope",
            "c": {"d": "string | minItems=1", "e": "[]"},
        }),
        None,
    );
    assert_eq!(
        all,
        [
            "spec.a: marker `minimum`: expected a finite number, got `x`",
            "spec.b: unknown type `Nope`: expected string, integer, boolean, float, object, []T, \
             map[string]T or a type declared in schema.types",
            "spec.c.d: marker `minItems` applies only to array fields, not to `string`",
            "spec.c.e: type `[]` has no element type: expected e.g. `[]string` or \
             `map[string]string`",
        ]
    );
}

#[test]
fn several_errors_of_one_field_are_all_reported() {
    let all = errors(json!({"f": "string | minItems=1 maxItems=3"}), None);
    assert_eq!(
        all,
        [
            "spec.f: marker `minItems` applies only to array fields, not to `string`",
            "spec.f: marker `maxItems` applies only to array fields, not to `string`",
        ]
    );
}

#[test]
fn schema_errors_display_lists_every_error() {
    let errors =
        SimpleSchema::to_openapi(&json!({"a": "x y", "b": "[]"}), None).expect_err("fails");
    assert_eq!(errors.len(), 2);
    assert_eq!(
        errors.to_string(),
        "2 schema errors:\n  spec.a: `x y` is not a valid type: expected string, integer, \
         boolean, float, object, []T, map[string]T or a type name from schema.types\n  spec.b: \
         type `[]` has no element type: expected e.g. `[]string` or `map[string]string`"
    );
}
