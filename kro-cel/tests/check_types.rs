//! Schema ⇄ type conversions, assignability ("expected vs output") and optional-read warnings.

mod check_common;

use check_common::*;
use kro_cel::{CelType, Checker, FieldCheckError, assignable, instance_schema_type};

fn parse(notation: &str) -> CelType {
    // Types are written in CEL notation through a tiny fixture environment.
    let env = kro_cel::TypeEnv::new();
    let expression = match notation {
        "int" => "1",
        "double" => "1.0",
        "string" => "''",
        "bool" => "true",
        "list(int)" => "[1]",
        "list(string)" => "['a']",
        "map(string, int)" => "{'a': 1}",
        "map(string, string)" => "{'a': 'b'}",
        "optional_type(int)" => "optional.of(1)",
        "dyn" => "dyn(1)",
        other => panic!("no fixture for {other}"),
    };
    Checker::new(&env)
        .check(expression)
        .expect("fixture checks")
        .output
}

#[test]
fn schema_types_follow_kubernetes_rules() {
    let cases = [
        (prop("integer"), "int"),
        (prop("number"), "double"),
        (prop("boolean"), "bool"),
        (prop("string"), "string"),
        (with_format("string", "byte"), "bytes"),
        (
            with_format("string", "date-time"),
            "google.protobuf.Timestamp",
        ),
        (with_format("string", "date"), "google.protobuf.Timestamp"),
        (
            with_format("string", "duration"),
            "google.protobuf.Duration",
        ),
        (array(prop("string")), "list(string)"),
        (prop("array"), "list(dyn)"),
        (string_map(prop("integer")), "map(string, int)"),
        (prop("object"), "map(string, dyn)"),
        (preserve_unknown(), "dyn"),
        (int_or_string(), "dyn"),
        (object(&[("a", prop("string"))], &[]), "object"),
    ];
    for (schema, expected) in cases {
        assert_eq!(
            CelType::from_schema(&schema).to_string(),
            expected,
            "{schema:?}"
        );
    }
}

#[test]
fn struct_fields_record_required_and_defaults() {
    let CelType::Struct(spec) = CelType::from_schema_named("spec", &spec_schema()) else {
        panic!("spec is a struct");
    };
    let name = &spec.fields["name"];
    assert!(name.required && !name.may_be_absent());
    let replicas = &spec.fields["replicas"];
    assert!(!replicas.required && replicas.has_default && !replicas.may_be_absent());
    assert!(spec.fields["image"].may_be_absent());
    assert_eq!(spec.fields["config"].ty.to_string(), "spec.config");
}

#[test]
fn cluster_scoped_instances_have_no_namespace() {
    let env = kro_cel::TypeEnv::new().with("schema", instance_schema_type(&spec_schema(), true));
    let error = Checker::new(&env)
        .check("schema.metadata.namespace")
        .expect_err("no namespace");
    assert_eq!(
        error.to_string(),
        "invalid CEL expression `schema.metadata.namespace` at line 1, column 16: type \"schema.metadata\" has no field \"namespace\""
    );
}

#[test]
fn types_convert_to_schemas_for_status_inference() {
    let cases = [
        (CelType::Bool, r#"{"type":"boolean"}"#),
        (CelType::Int, r#"{"type":"integer"}"#),
        (CelType::Uint, r#"{"type":"integer"}"#),
        (CelType::Double, r#"{"type":"number"}"#),
        (CelType::String, r#"{"type":"string"}"#),
        (CelType::Bytes, r#"{"format":"byte","type":"string"}"#),
        (
            CelType::Timestamp,
            r#"{"format":"date-time","type":"string"}"#,
        ),
        (
            CelType::Dyn,
            r#"{"x-kubernetes-preserve-unknown-fields":true}"#,
        ),
        (
            CelType::Null,
            r#"{"x-kubernetes-preserve-unknown-fields":true}"#,
        ),
        (
            CelType::list(CelType::Int),
            r#"{"items":{"type":"integer"},"type":"array"}"#,
        ),
        (
            CelType::map(CelType::String, CelType::String),
            r#"{"additionalProperties":{"type":"string"},"type":"object"}"#,
        ),
        (CelType::optional(CelType::String), r#"{"type":"string"}"#),
    ];
    for (ty, expected) in cases {
        let json = serde_json::to_string(&ty.to_schema()).expect("serializes");
        assert_eq!(json, expected, "{ty}");
    }
    let spec = CelType::from_schema(&object(
        &[("a", prop("string")), ("b", array(prop("integer")))],
        &["a"],
    ));
    assert_eq!(
        serde_json::to_string(&spec.to_schema()).expect("serializes"),
        r#"{"properties":{"a":{"type":"string"},"b":{"items":{"type":"integer"},"type":"array"}},"required":["a"],"type":"object"}"#
    );
    assert_eq!(CelType::from_schema(&spec.to_schema()), spec);
}

#[test]
fn assignability_follows_expected_vs_output_rules() {
    let spec = CelType::from_schema(&spec_schema());
    let small = CelType::from_schema(&object(&[("name", prop("string"))], &[]));
    let other = CelType::from_schema(&object(&[("other", prop("string"))], &[]));
    let accepted = [
        (parse("int"), parse("int")),
        (parse("dyn"), parse("int")),
        (parse("string"), parse("dyn")),
        (parse("optional_type(int)"), parse("int")),
        (parse("int"), CelType::optional(CelType::Int)),
        (parse("list(int)"), parse("list(int)")),
        (CelType::list(CelType::Dyn), parse("list(string)")),
        (parse("map(string, string)"), parse("map(string, string)")),
        (small.clone(), spec.clone()),
        (parse("map(string, string)"), small.clone()),
        (small.clone(), parse("map(string, string)")),
        (
            CelType::Condition,
            CelType::map(CelType::String, CelType::String),
        ),
    ];
    for (found, expected) in &accepted {
        assert!(
            assignable(found, expected),
            "{found} should fill {expected}"
        );
    }
    let rejected = [
        (parse("int"), parse("double")),
        (parse("int"), parse("string")),
        (parse("string"), parse("int")),
        (parse("list(int)"), parse("list(string)")),
        (parse("map(string, int)"), parse("map(string, string)")),
        (parse("list(int)"), parse("int")),
        (other, small.clone()),
        (spec, small.clone()),
        (parse("map(string, int)"), small),
        (CelType::Null, parse("string")),
        (CelType::Uint, parse("int")),
    ];
    for (found, expected) in &rejected {
        assert!(
            !assignable(found, expected),
            "{found} should not fill {expected}"
        );
    }
}

#[test]
fn field_mismatch_names_resource_path_expression_and_types() {
    let env = env(false);
    let checker = Checker::new(&env);
    let error = checker
        .check_field("deploy", "spec.replicas", "schema.spec.name", &CelType::Int)
        .expect_err("string into int");
    assert!(matches!(error, FieldCheckError::Mismatch(_)));
    assert_eq!(
        error.to_string(),
        "type mismatch in resource \"deploy\" at path \"spec.replicas\": expression \"schema.spec.name\" returns type \"string\" but expected \"int\""
    );
    let error = checker
        .check_field(
            "deploy",
            "spec.ratio",
            "schema.spec.replicas",
            &CelType::Double,
        )
        .expect_err("int into double");
    assert_eq!(
        error.to_string(),
        "type mismatch in resource \"deploy\" at path \"spec.ratio\": expression \"schema.spec.replicas\" returns type \"int\" but expected \"double\""
    );
    let error = checker
        .check_field("deploy", "spec.x", "schema.spec.nam", &CelType::String)
        .expect_err("unknown field");
    assert_eq!(
        error.to_string(),
        "invalid CEL expression `schema.spec.nam` at line 1, column 12: type \"schema.spec\" has no field \"nam\" (did you mean \"name\"?)"
    );
    let ok = checker
        .check_field(
            "deploy",
            "metadata.labels",
            "schema.spec.labels",
            &CelType::map(CelType::String, CelType::String),
        )
        .expect("labels fit");
    assert_eq!(ok.output.to_string(), "map(string, string)");
}

#[test]
fn unguarded_optional_reads_warn_and_guarded_ones_do_not() {
    let env = env(false);
    let checker = Checker::new(&env);
    let cases: &[(&str, &[&str])] = &[
        ("schema.spec.image", &["schema.spec.image"]),
        ("schema.spec.name", &[]),
        ("schema.spec.replicas", &[]),
        ("schema.spec.config.host", &[]),
        (
            "schema.spec.config.retries",
            &["schema.spec.config.retries"],
        ),
        ("has(schema.spec.image)", &[]),
        ("has(schema.spec.image) ? schema.spec.image : 'nginx'", &[]),
        ("!has(schema.spec.image) ? 'nginx' : schema.spec.image", &[]),
        ("has(schema.spec.image) && schema.spec.image != ''", &[]),
        ("!has(schema.spec.image) || schema.spec.image == ''", &[]),
        (
            "has(schema.spec.image) || schema.spec.image == ''",
            &["schema.spec.image"],
        ),
        ("schema.spec.?image.orValue('nginx')", &[]),
        ("schema.spec.?config.?retries.orValue(1)", &[]),
        ("has(schema.spec.labels)", &[]),
        ("schema.spec.labels.app", &["schema.spec.labels"]),
        ("schema.spec.extra.x", &["schema.spec.extra"]),
        (
            "deployment.status.availableReplicas == deployment.spec.replicas",
            &["deployment.status", "deployment.status.availableReplicas"],
        ),
        (
            "has(deployment.status.availableReplicas) && deployment.status.availableReplicas > 0",
            &["deployment.status"],
        ),
        (
            "schema.spec.items.map(i, i.value)",
            &["i.value", "schema.spec.items"],
        ),
        ("schema.spec.items.map(i, i.name)", &["schema.spec.items"]),
        (
            "schema.spec.image + schema.spec.image",
            &["schema.spec.image"],
        ),
        ("schema.metadata.name", &[]),
        ("schema.metadata.labels", &["schema.metadata.labels"]),
    ];
    for (expression, expected) in cases {
        let checked = checker.check(expression).expect("checks");
        let paths: Vec<&str> = checked
            .warnings
            .iter()
            .map(|w| w.field_path.as_str())
            .collect();
        assert_eq!(&paths, expected, "{expression}");
    }
    let warning = &checker.check("schema.spec.image").expect("checks").warnings[0];
    assert_eq!(
        warning.to_string(),
        "expression \"schema.spec.image\" reads optional field \"schema.spec.image\" that has no default and no has(), \".?\" or orValue() guard; it cannot be evaluated while the field is absent"
    );
}

#[test]
fn errors_point_at_the_offending_node() {
    let env = kro_cel::TypeEnv::new().with("schema", instance_schema_type(&spec_schema(), false));
    let checker = Checker::new(&env);
    let positions = |expression: &str| -> Vec<(usize, usize)> {
        checker
            .check(expression)
            .expect_err("rejected")
            .errors
            .iter()
            .map(|e| (e.line, e.column))
            .collect()
    };
    assert_eq!(
        positions("schema.spec.name +\n  schema.spec.nmae"),
        vec![(2, 14)]
    );
    assert_eq!(positions("schem.a + deploymnt.b"), vec![(1, 1), (1, 11)]);
    assert_eq!(positions("[1, 2].map(x, x + 'a')"), vec![(1, 17)]);
    assert_eq!(positions("1 +"), vec![(1, 4)]);
    let error = checker
        .check("size(schema.spec.name) + 'x'")
        .expect_err("rejected");
    assert_eq!(
        error.to_string(),
        "invalid CEL expression `size(schema.spec.name) + 'x'` at line 1, column 24: found no \
         matching overload for \"_+_\" applied to \"(int, string)\""
    );
    let two = checker.check("schem + zz").expect_err("rejected");
    assert_eq!(
        two.to_string(),
        "invalid CEL expression `schem + zz` at line 1, column 1: undeclared reference to \
         \"schem\" (did you mean \"schema\"?); at line 1, column 9: undeclared reference to \"zz\""
    );
}
