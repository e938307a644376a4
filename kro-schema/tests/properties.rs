//! Property tests: the parsers never panic, and a few invariants hold for any input.

use kro_schema::{
    SimpleSchema, TypeExpr, diff_schemas, parse_field, parse_markers, parse_type, pluralize,
};
use proptest::prelude::*;
use serde_json::Value;

fn type_expr() -> impl Strategy<Value = TypeExpr> {
    let leaf = prop_oneof![
        Just(TypeExpr::String),
        Just(TypeExpr::Integer),
        Just(TypeExpr::Boolean),
        Just(TypeExpr::Float),
        Just(TypeExpr::Object),
        "[A-Z][a-zA-Z0-9]{0,8}".prop_map(TypeExpr::Custom),
    ];
    leaf.prop_recursive(8, 16, 1, |inner| {
        prop_oneof![
            inner.clone().prop_map(|t| TypeExpr::Array(Box::new(t))),
            inner.prop_map(|t| TypeExpr::Map(Box::new(t))),
        ]
    })
}

/// Marker-ish text: real keys, odd values, quotes, brackets and escapes.
fn marker_text() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("required"),
        Just("default"),
        Just("description"),
        Just("enum"),
        Just("minimum"),
        Just("maximum"),
        Just("pattern"),
        Just("minLength"),
        Just("maxLength"),
        Just("minItems"),
        Just("maxItems"),
        Just("uniqueItems"),
        Just("listType"),
        Just("listMapKey"),
        Just("immutable"),
        Just("validation"),
        Just("bogus"),
        Just(""),
    ];
    let value = prop_oneof![
        "[a-z0-9]{0,6}",
        "-?[0-9]{1,4}(\\.[0-9]{1,3})?",
        Just("true".to_owned()),
        "\"[a-z ,\\\\\"\\[\\]{}]{0,10}\"",
        "\\[[0-9, \"a]{0,8}\\]",
        "\\{[\"a-z:0-9 ]{0,10}\\}",
        "[\\[\\]{}\"\\\\= |]{0,6}",
    ];
    prop::collection::vec((key, value), 0..5).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    })
}

fn field_text() -> impl Strategy<Value = String> {
    (type_expr(), marker_text(), any::<bool>()).prop_map(|(ty, markers, pipe)| {
        if pipe {
            format!("{ty} | {markers}")
        } else {
            ty.to_string()
        }
    })
}

/// Small arbitrary JSON, biased toward SimpleSchema-looking strings.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        field_text().prop_map(Value::String),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{0,4}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parse_field_never_panics_on_any_string(text in "\\PC{0,64}") {
        let _ = parse_field(&text);
    }

    #[test]
    fn parse_markers_never_panics_on_marker_like_text(text in marker_text()) {
        let _ = parse_markers(&text);
    }

    #[test]
    fn parse_field_never_panics_on_field_like_text(text in field_text()) {
        let _ = parse_field(&text);
    }

    #[test]
    fn types_round_trip_through_display(ty in type_expr()) {
        let text = ty.to_string();
        prop_assert_eq!(parse_type(&text), Ok(ty));
    }

    #[test]
    fn every_error_has_a_path_and_conversion_never_panics(
        spec in json_value(),
        types in prop::option::of(json_value()),
    ) {
        if let Err(errors) = SimpleSchema::to_openapi(&spec, types.as_ref()) {
            prop_assert!(!errors.is_empty());
            for error in &errors {
                prop_assert!(!error.path.is_empty(), "{}", error);
            }
        }
    }

    #[test]
    fn conversion_is_deterministic_and_self_diff_is_empty(spec in json_value()) {
        let first = SimpleSchema::to_openapi(&spec, None);
        let second = SimpleSchema::to_openapi(&spec, None);
        prop_assert_eq!(&first, &second);
        if let Ok(schema) = first {
            prop_assert!(!diff_schemas("spec", &schema, &schema).has_changes());
        }
    }

    #[test]
    fn pluralize_never_panics_and_keeps_the_stem(word in "[a-zA-Zé]{0,16}") {
        let plural = pluralize(&word);
        prop_assert_eq!(plural.is_empty(), word.is_empty());
    }
}
