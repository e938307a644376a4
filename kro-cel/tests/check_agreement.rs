//! Checker/evaluator agreement: expressions the checker accepts never fail with a type or
//! overload error when evaluated on data that conforms to the schema, and their values have the
//! type the checker inferred.

mod check_common;

use std::collections::HashMap;
use std::sync::Arc;

use cel::{Context, Env, ExecutionError, Value};
use kro_cel::{CelType, Checker};
use proptest::prelude::*;

/// Accepted expressions over `schema`, using only the standard library.
const EXPRESSIONS: &[&str] = &[
    "schema.spec.name",
    "schema.spec.name + '-' + string(schema.spec.replicas)",
    "schema.spec.replicas * 2 + schema.spec.port",
    "schema.spec.replicas > 1 && schema.spec.enabled",
    "schema.spec.enabled ? schema.spec.name : 'off'",
    "size(schema.spec.tags)",
    "schema.spec.tags.map(t, t + '!')",
    "schema.spec.tags.filter(t, size(t) > 1)",
    "schema.spec.tags.exists(t, t == 'a')",
    "schema.spec.tags.all(t, t.startsWith('a') || t.endsWith('b'))",
    "'a' in schema.spec.tags",
    "schema.spec.config.host.contains('x')",
    "has(schema.spec.image) ? schema.spec.image : 'nginx'",
    "schema.spec.?image.orValue('nginx')",
    "schema.spec.?config.?retries.orValue(0) + 1",
    "has(schema.spec.labels) ? size(schema.spec.labels) : 0",
    "has(schema.spec.labels) ? schema.spec.labels.map(k, k + '=' + schema.spec.labels[k]) : []",
    "has(schema.spec.ratio) ? schema.spec.ratio * 2.0 : 0.0",
    "has(schema.spec.ports) ? schema.spec.ports.map(p, p + 1) : []",
    "has(schema.spec.items) ? schema.spec.items.map(i, i.name) : []",
    "has(schema.spec.items) ? schema.spec.items.filter(i, has(i.value) && i.value > 0).map(i, i.value) : []",
    "has(schema.spec.created) ? string(schema.spec.created) : ''",
    "has(schema.spec.config.timeout) ? schema.spec.config.timeout + duration('1s') : duration('0s')",
    "has(schema.spec.data) ? size(schema.spec.data) : 0",
    "schema.metadata.name + '.' + schema.metadata.namespace",
    "schema.metadata.generation + 1",
    "{'name': schema.spec.name, 'replicas': schema.spec.replicas}",
    "[schema.spec.name, schema.spec.config.host]",
    "schema.spec.tags + ['extra']",
    "int(schema.spec.replicas) == schema.spec.replicas",
    "double(schema.spec.port) / 2.0",
    "schema.spec.name.size() + schema.spec.tags.size()",
    "schema.spec.tags.exists_one(t, t == 'b')",
    "schema.spec.name < schema.spec.config.host",
    "type(schema.spec.name) == string",
    "has(schema.spec.intOrString) ? string(schema.spec.intOrString) : ''",
    "schema.spec.replicas >= 1.5",
    "dyn(schema.spec.port) == 80",
];

fn text(s: &str) -> Value {
    Value::String(Arc::new(s.to_string()))
}

fn object(fields: Vec<(&str, Value)>) -> Value {
    let map: HashMap<String, Value> = fields
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    Value::from(map)
}

fn list(items: Vec<Value>) -> Value {
    Value::List(Arc::new(items))
}

fn word() -> impl Strategy<Value = String> {
    "[a-c]{0,3}"
}

/// An instance `spec` that conforms to `check_common::spec_schema()`: required and defaulted
/// fields always present, the others sometimes.
fn spec_value() -> impl Strategy<Value = Value> {
    let required = (
        word(),
        -5i64..5,
        0i64..100,
        any::<bool>(),
        prop::collection::vec(word(), 0..4),
        word(),
    );
    let optional = (
        prop::option::of(word()),
        prop::option::of(-10.0f64..10.0),
        prop::option::of(prop::collection::vec((word(), word()), 0..3)),
        prop::option::of(prop::collection::vec(-3i64..3, 0..3)),
        prop::option::of(0i64..5),
        prop::option::of(0i64..1_000_000),
        prop::option::of(prop::collection::vec(
            (word(), prop::option::of(-2i64..3)),
            0..3,
        )),
        prop::option::of(prop::bool::ANY),
    );
    (required, optional).prop_map(
        |(
            (name, replicas, port, enabled, tags, host),
            (image, ratio, labels, ports, retries, seconds, items, int_or_string),
        )| {
            let mut config = vec![("host", text(&host))];
            if let Some(retries) = retries {
                config.push(("retries", Value::Int(retries)));
            }
            if let Some(seconds) = seconds {
                config.push((
                    "timeout",
                    Value::Duration(chrono::Duration::seconds(seconds)),
                ));
            }
            let mut fields = vec![
                ("name", text(&name)),
                ("replicas", Value::Int(replicas)),
                ("port", Value::Int(port)),
                ("enabled", Value::Bool(enabled)),
                ("tags", list(tags.iter().map(|t| text(t)).collect())),
                ("config", object(config)),
            ];
            if let Some(image) = image {
                fields.push(("image", text(&image)));
            }
            if let Some(ratio) = ratio {
                fields.push(("ratio", Value::Float(ratio)));
            }
            if let Some(labels) = labels {
                let labels: HashMap<String, Value> =
                    labels.into_iter().map(|(k, v)| (k, text(&v))).collect();
                fields.push(("labels", Value::from(labels)));
            }
            if let Some(ports) = ports {
                fields.push(("ports", list(ports.into_iter().map(Value::Int).collect())));
            }
            if let Some(seconds) = seconds {
                let created = chrono::DateTime::from_timestamp(seconds, 0)
                    .expect("in range")
                    .fixed_offset();
                fields.push(("created", Value::Timestamp(created)));
                fields.push(("data", Value::Bytes(Arc::new(host.into_bytes()))));
            }
            if let Some(items) = items {
                let items = items
                    .into_iter()
                    .map(|(name, value)| {
                        let mut item = vec![("name", text(&name))];
                        if let Some(value) = value {
                            item.push(("value", Value::Int(value)));
                        }
                        object(item)
                    })
                    .collect();
                fields.push(("items", list(items)));
            }
            if let Some(as_int) = int_or_string {
                fields.push((
                    "intOrString",
                    if as_int {
                        Value::Int(8080)
                    } else {
                        text("http")
                    },
                ));
            }
            object(fields)
        },
    )
}

fn schema_value(spec: Value) -> Value {
    let metadata = object(vec![
        ("name", text("demo")),
        ("namespace", text("default")),
        ("uid", text("0000")),
        ("resourceVersion", text("1")),
        ("generation", Value::Int(1)),
    ]);
    object(vec![
        ("apiVersion", text("kro.run/v1alpha1")),
        ("kind", text("Demo")),
        ("metadata", metadata),
        ("spec", spec),
    ])
}

fn is_type_error(error: &ExecutionError) -> bool {
    !matches!(
        error,
        ExecutionError::NoSuchKey(_)
            | ExecutionError::IndexOutOfBounds(_)
            | ExecutionError::DivisionByZero(_)
            | ExecutionError::RemainderByZero(_)
            | ExecutionError::Overflow(..)
            | ExecutionError::FunctionError { .. }
    )
}

fn value_fits(value: &Value, ty: &CelType) -> bool {
    match (value, ty) {
        (_, CelType::Dyn) => true,
        (Value::Int(_), CelType::Int)
        | (Value::UInt(_), CelType::Uint)
        | (Value::Float(_), CelType::Double)
        | (Value::String(_), CelType::String)
        | (Value::Bool(_), CelType::Bool)
        | (Value::Bytes(_), CelType::Bytes)
        | (Value::Duration(_), CelType::Duration)
        | (Value::Timestamp(_), CelType::Timestamp) => true,
        (Value::List(items), CelType::List(element)) => {
            items.iter().all(|i| value_fits(i, element))
        }
        (Value::Map(map), CelType::Map(_, v)) => map.map.values().all(|i| value_fits(i, v)),
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn accepted_expressions_never_fail_with_type_errors(spec in spec_value()) {
        let env = check_common::env(false);
        let checker = Checker::new(&env);
        let cel_env = Arc::new(Env::stdlib());
        let mut context = Context::with_env(Arc::clone(&cel_env));
        context.add_variable_from_value("schema", schema_value(spec));
        for expression in EXPRESSIONS {
            let checked = checker.check(expression).unwrap_or_else(|e| panic!("{e}"));
            let program = cel_env.compile(expression).expect("compiles");
            match program.execute(&context) {
                Ok(value) => prop_assert!(
                    value_fits(&value, &checked.output),
                    "{expression}: value {value:?} is not a {}", checked.output
                ),
                Err(error) => prop_assert!(!is_type_error(&error), "{expression}: {error:?}"),
            }
        }
    }
}
