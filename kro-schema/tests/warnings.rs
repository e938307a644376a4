//! Input upstream kro v0.9.4 serves, which kro-rs once refused: each converts to the schema
//! upstream generates (checked against upstream's own code and the API server's CRD validation
//! while writing these) and carries a warning that names the field path and the marker.

// Helpers take `json!` literals by value so call sites stay short.
#![allow(clippy::needless_pass_by_value)]

use kro_schema::{CrdSpec, SimpleSchema, WarningKind};
use serde_json::{Value, json};

/// The converted schema of `spec` and its warnings, rendered.
fn convert(spec: Value, types: Option<Value>) -> (Value, Vec<String>) {
    let (schema, warnings) = SimpleSchema::to_openapi_with_warnings(&spec, types.as_ref())
        .unwrap_or_else(|errors| panic!("{spec} should convert: {errors}"));
    let rendered = warnings.iter().map(ToString::to_string).collect();
    (serde_json::to_value(schema).expect("serializes"), rendered)
}

/// The schema of the single field `f` and the warnings.
fn field(text: &str) -> (Value, Vec<String>) {
    let (schema, warnings) = convert(json!({ "f": text }), None);
    (schema["properties"]["f"].clone(), warnings)
}

#[test]
fn a_repeated_marker_takes_the_last_value() {
    let (schema, warnings) = field(r#"string | default="a" default="b""#);
    assert_eq!(schema, json!({"type": "string", "default": "b"}));
    assert_eq!(
        warnings,
        [
            "spec.f: marker `default` is given more than once: the last one (`default=b`) is used, \
          as upstream kro does"
        ]
    );
    let (schema, warnings) = field("integer | minimum=1 minimum=2 description=x description=y");
    assert_eq!(
        schema,
        json!({"type": "integer", "minimum": 2.0, "description": "y"})
    );
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("marker `minimum` is given more than once"));
    assert!(warnings[1].contains("marker `description` is given more than once"));
    let (schema, _) = field(r#"string | enum="a,b" enum="c""#);
    assert_eq!(schema["enum"], json!(["c"]));
}

#[test]
fn a_repeated_required_marker_lists_the_field_as_upstream_does() {
    // Upstream appends the name once per `required=true`.
    let (schema, warnings) = convert(json!({"f": "string | required=true required=true"}), None);
    assert_eq!(schema["required"], json!(["f", "f"]));
    assert_eq!(warnings.len(), 1);
    let (schema, _) = convert(json!({"f": "string | required=true required=false"}), None);
    assert_eq!(schema["required"], json!(["f"]));
    let (schema, _) = convert(json!({"f": "string | required=false required=true"}), None);
    assert_eq!(schema["required"], json!(["f"]));
    // The same marker twice with another value is refused, as upstream refuses it.
    let errors =
        SimpleSchema::to_openapi(&json!({"f": "[]string | listType=set listType=map"}), None)
            .expect_err("contradicting list types");
    assert!(
        errors
            .to_string()
            .contains("conflicts with the earlier `listType=set`")
    );
}

#[test]
fn minimum_and_maximum_on_other_types_are_kept_in_the_crd() {
    for (text, ty) in [
        ("string | minimum=1", "string"),
        ("boolean | minimum=1", "boolean"),
        ("[]string | minimum=1", "[]string"),
        ("object | minimum=1", "object"),
    ] {
        let (schema, warnings) = field(text);
        assert_eq!(schema["minimum"], json!(1.0), "{text}");
        assert_eq!(
            warnings,
            [format!(
                "spec.f: marker `minimum` applies only to integer and float fields, not to `{ty}`: \
                 it is kept in the CRD as upstream kro does, but has no effect"
            )],
            "{text}"
        );
    }
    let (schema, warnings) = field("map[string]string | maximum=1");
    assert_eq!(schema["maximum"], json!(1.0));
    assert!(warnings[0].contains("marker `maximum` applies only to integer and float fields"));
}

#[test]
fn inverted_and_negative_bounds_are_kept_in_the_crd() {
    let (schema, warnings) = field("integer | minimum=5 maximum=1");
    assert_eq!(
        schema,
        json!({"type": "integer", "minimum": 5.0, "maximum": 1.0})
    );
    assert_eq!(
        warnings,
        [
            "spec.f: marker `minimum`=5 is greater than `maximum`=1: the API server will reject \
          every value of this field"
        ]
    );
    let (_, warnings) = field("string | minLength=5 maxLength=1");
    assert!(warnings[0].contains("marker `minLength`=5 is greater than `maxLength`=1"));
    let (_, warnings) = field("[]string | minItems=5 maxItems=1");
    assert!(warnings[0].contains("marker `minItems`=5 is greater than `maxItems`=1"));

    let (schema, warnings) = field("string | minLength=-1");
    assert_eq!(schema["minLength"], json!(-1));
    assert_eq!(
        warnings,
        ["spec.f: marker `minLength`=-1 is negative: it has no effect"]
    );
    let (schema, warnings) = field("[]string | maxItems=-1");
    assert_eq!(schema["maxItems"], json!(-1));
    assert_eq!(
        warnings,
        [
            "spec.f: marker `maxItems`=-1 is negative: the API server will reject every value of \
          this field"
        ]
    );
}

#[test]
fn a_set_default_that_repeats_an_item_is_kept() {
    let (schema, warnings) = field(r#"[]string | uniqueItems=true default=["a","a"]"#);
    assert_eq!(schema["default"], json!(["a", "a"]));
    assert_eq!(
        warnings,
        [
            "spec.f: marker `default`: the list repeats \"a\" although the field is a set \
          (`listType=set` or `uniqueItems=true`): instances that leave the field out will be \
          rejected"
        ]
    );
}

#[test]
fn names_upstream_tolerates() {
    let (schema, warnings) = convert(json!({"": "string"}), None);
    assert_eq!(schema["properties"][""], json!({"type": "string"}));
    assert_eq!(
        warnings,
        ["spec.: empty field name: the field is kept as upstream kro does, but can hardly be used"]
    );
    let (schema, warnings) = convert(
        json!({"a": "string"}),
        Some(json!({"string": {"x": "integer"}})),
    );
    assert_eq!(schema["properties"]["a"], json!({"type": "string"}));
    assert_eq!(
        warnings,
        [
            "types.string: custom type `string` has the name of a built-in type: fields of type \
          `string` use the built-in type, so this definition is ignored, as upstream kro does"
        ]
    );
}

#[test]
fn required_false_does_not_override_a_required_type() {
    let types = json!({"Name": "string | required=true"});
    let (schema, warnings) = convert(json!({"a": "Name | required=false"}), Some(types.clone()));
    assert_eq!(schema["required"], json!(["a"]));
    assert_eq!(
        warnings,
        [
            "spec.a: marker `required=false` does not override `required=true` of type `Name`: the \
          field stays required, as in upstream kro"
        ]
    );
    // Upstream lists the field once for the type and once for the marker.
    let (schema, warnings) = convert(json!({"a": "Name | required=true"}), Some(types));
    assert_eq!(schema["required"], json!(["a", "a"]));
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn whitespace_before_equals_is_tolerated() {
    let (schema, warnings) = field("integer | minimum =1");
    assert_eq!(schema["minimum"], json!(1.0));
    assert_eq!(
        warnings,
        ["spec.f: marker `minimum` has whitespace before `=`: expected `minimum=<value>`"]
    );
}

#[test]
fn crd_spec_carries_the_warnings_with_rgd_paths() {
    let schema = json!({
        "apiVersion": "v1alpha1",
        "kind": "App",
        "spec": {"name": "string | minimum=1", "size": "integer | default=1 default=2"},
        "types": {"integer": "string"},
    });
    let (spec, warnings) = CrdSpec::from_rgd_schema_with_warnings(&schema).expect("converts");
    let properties = spec.spec_schema.properties.expect("properties");
    assert_eq!(properties["name"].minimum, Some(1.0));
    let paths: Vec<(&str, &WarningKind)> = warnings
        .iter()
        .map(|warning| (warning.path.as_str(), &warning.kind))
        .collect();
    assert!(
        matches!(
            paths.as_slice(),
            [
                ("schema.types.integer", WarningKind::ShadowedTypeName { .. }),
                (
                    "schema.spec.name",
                    WarningKind::MarkerHasNoEffect {
                        marker: "minimum",
                        ..
                    }
                ),
                (
                    "schema.spec.size",
                    WarningKind::RepeatedMarker {
                        marker: "default",
                        ..
                    }
                ),
            ]
        ),
        "{paths:?}"
    );
    // The plain constructor accepts the same schema and drops the warnings.
    assert!(CrdSpec::from_rgd_schema(&schema).is_ok());
}
