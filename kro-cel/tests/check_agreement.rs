//! Checker/evaluator agreement: expressions the checker accepts never fail with a type or
//! overload error when the crate's own [`Environment`] evaluates them on data that conforms to
//! the schema, and their values have the type the checker inferred.
//!
//! Two sources of expressions: a fixed list that covers the libraries and macros, and a grammar
//! (`check_grammar`) that generates well-typed expressions of every shape over a small typed
//! environment, plus ill-typed ones that both sides must refuse.

mod check_common;
mod check_grammar;

use base64::Engine as _;
use cel::Value;
use check_grammar::Grammar;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;
use kro_cel::{
    Activation, CelType, CelValue, Checker, Environment, ErrorKind, TypeEnv, assignable,
};
use proptest::prelude::*;
use serde_json::{Map, json};

/// Accepted expressions over `schema`: the standard library, macros (two-variable
/// comprehensions, `cel.bind`, `sortBy`, optionals) and the kro and Kubernetes libraries.
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
    "schema.spec.config",
    "has(schema.spec.items) ? schema.spec.items : []",
    // Two-variable comprehensions.
    "schema.spec.tags.all(i, t, i >= 0 && t != 'zzzz')",
    "schema.spec.tags.exists(i, t, i == 1 && t == 'a')",
    "schema.spec.tags.existsOne(i, t, i == 0)",
    "schema.spec.tags.transformList(i, t, t + string(i))",
    "schema.spec.tags.transformList(i, t, i > 0, size(t))",
    "schema.spec.tags.transformMap(i, t, t + '!')",
    "has(schema.spec.labels) ? schema.spec.labels.exists(k, v, k == v) : false",
    "has(schema.spec.labels) ? schema.spec.labels.transformMap(k, v, size(v)) : {}",
    "has(schema.spec.labels) ? schema.spec.labels.transformMap(k, v, k != '', v + k) : {}",
    "has(schema.spec.labels) ? schema.spec.labels.transformMapEntry(k, v, {k + '-x': v}) : {}",
    "has(schema.spec.labels) ? schema.spec.labels.transformList(k, v, [k, v]) : []",
    "has(schema.spec.ports) ? schema.spec.ports.transformMap(i, p, p + i) : {}",
    "has(schema.spec.items) ? schema.spec.items.transformList(i, item, item.name + string(i)) : []",
    "schema.spec.config.all(field, value, field != '')",
    // cel.bind and sortBy.
    "cel.bind(n, schema.spec.name, n + '-' + n)",
    "cel.bind(r, schema.spec.replicas, [r, r * 2])",
    "cel.bind(c, schema.spec.config, c.host + ':' + string(c.?retries.orValue(0)))",
    "schema.spec.tags.sortBy(t, size(t))",
    "has(schema.spec.items) ? schema.spec.items.sortBy(i, i.name).map(i, i.name) : []",
    "has(schema.spec.ports) ? schema.spec.ports.sortBy(p, -p) : []",
    // Optionals.
    "schema.spec.?image.optMap(i, size(i)).orValue(0)",
    "schema.spec.?image.optFlatMap(i, i == '' ? optional.none() : optional.of(i)).orValue('x')",
    "schema.spec.?labels[?'a'].orValue('none')",
    "optional.of(schema.spec.replicas).value() + 1",
    "[?schema.spec.?image, schema.spec.name]",
    "{?'image': schema.spec.?image, 'name': schema.spec.name}",
    "schema.spec.tags.first().orValue('')",
    "schema.spec.tags[?0].or(optional.of('none')).value()",
    // kro's libraries.
    "base64.encode(hash.sha256(schema.spec.name))",
    "base64.encode(hash.fnv64a(schema.spec.name))",
    "size(hash.md5(schema.spec.name))",
    "json.marshal(schema.spec.tags)",
    "json.marshal({'name': schema.spec.name, 'port': schema.spec.port})",
    "json.unmarshal('{\"a\": 1}')",
    "random.seededString(8, schema.spec.name)",
    "random.seededInt(0, 10, schema.spec.name)",
    "schema.metadata.labels.merge({'team': schema.spec.name})",
    "schema.spec.config.deepMerge({'host': 'x'})",
    "lists.insertAtIndex(schema.spec.tags, 0, schema.spec.name)",
    "lists.setAtIndex(schema.spec.tags, 0, 'x')",
    "lists.removeAtIndex(schema.spec.tags, 0)",
    "runtime.newCondition({type: 'Ready', status: schema.spec.enabled ? 'True' : 'False'})",
    "runtime.condition(schema, 'Ready').status",
    // Kubernetes libraries.
    "schema.spec.name.find('[a-c]+')",
    "schema.spec.name.findAll('[a-c]')",
    "schema.spec.tags.indexOf('a')",
    "lists.range(3).sum()",
    "has(schema.spec.ports) && size(schema.spec.ports) > 0 ? schema.spec.ports.max() : 0",
    "schema.spec.tags.isSorted()",
    "quantity('1Gi').add(quantity('1Mi')).asInteger()",
    "quantity(string(schema.spec.port) + 'Mi').isLessThan(quantity('1Gi'))",
    "url('https://example.com:8080/x?a=b').getPort()",
    "url('https://example.com/x?a=b').getQuery()",
    "isURL(schema.spec.name)",
    "ip('10.0.0.1').family()",
    "cidr('10.0.0.0/8').containsIP(ip('10.1.2.3'))",
    "cidr('10.0.0.0/8').masked()",
    "semver('1.2.3').isLessThan(semver('1.3.0'))",
    "isSemver(schema.spec.name)",
];

fn word() -> impl Strategy<Value = String> {
    "[a-c]{0,3}"
}

/// The whole `schema` object: the instance spec of `check_common::spec_schema()` plus the
/// metadata kro fills in.
fn instance_schema() -> JSONSchemaProps {
    use check_common::{object, preserve_unknown, prop};
    object(
        &[
            ("apiVersion", prop("string")),
            ("kind", prop("string")),
            ("metadata", preserve_unknown()),
            ("spec", check_common::spec_schema()),
        ],
        &["apiVersion", "kind", "metadata", "spec"],
    )
}

/// An instance `spec` that conforms to `check_common::spec_schema()`: required and defaulted
/// fields always present, the others sometimes.
fn spec_value() -> impl Strategy<Value = serde_json::Value> {
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
        prop::option::of(prop::collection::btree_map(word(), word(), 0..3)),
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
            let mut config = Map::new();
            config.insert("host".into(), json!(host));
            if let Some(retries) = retries {
                config.insert("retries".into(), json!(retries));
            }
            if let Some(seconds) = seconds {
                config.insert("timeout".into(), json!(format!("{seconds}s")));
            }
            let mut spec = Map::new();
            spec.insert("name".into(), json!(name));
            spec.insert("replicas".into(), json!(replicas));
            spec.insert("port".into(), json!(port));
            spec.insert("enabled".into(), json!(enabled));
            spec.insert("tags".into(), json!(tags));
            spec.insert("config".into(), serde_json::Value::Object(config));
            if let Some(image) = image {
                spec.insert("image".into(), json!(image));
            }
            if let Some(ratio) = ratio {
                spec.insert("ratio".into(), json!(ratio));
            }
            if let Some(labels) = labels {
                spec.insert("labels".into(), json!(labels));
            }
            if let Some(ports) = ports {
                spec.insert("ports".into(), json!(ports));
            }
            if let Some(seconds) = seconds {
                let created = chrono::DateTime::from_timestamp(seconds, 0).expect("in range");
                spec.insert("created".into(), json!(created.to_rfc3339()));
                let data = base64::engine::general_purpose::STANDARD.encode(host.as_bytes());
                spec.insert("data".into(), json!(data));
            }
            if let Some(items) = items {
                let items: Vec<serde_json::Value> = items
                    .into_iter()
                    .map(|(name, value)| match value {
                        Some(value) => json!({"name": name, "value": value}),
                        None => json!({"name": name}),
                    })
                    .collect();
                spec.insert("items".into(), json!(items));
            }
            if let Some(as_int) = int_or_string {
                let value = if as_int { json!(8080) } else { json!("http") };
                spec.insert("intOrString".into(), value);
            }
            serde_json::Value::Object(spec)
        },
    )
}

fn instance(spec: &serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "kro.run/v1alpha1",
        "kind": "Demo",
        "metadata": {
            "name": "demo",
            "namespace": "default",
            "uid": "0000",
            "resourceVersion": "1",
            "generation": 1,
            "labels": {"app": "demo"},
            "annotations": {},
        },
        "spec": spec,
    })
}

/// Failures that valid data can still cause: data not there yet, arithmetic, a library function
/// refusing its input (an index out of range, a duplicate map key).
fn is_data_error(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Pending | ErrorKind::Arithmetic | ErrorKind::InvalidArgument
    )
}

/// Whether `value` is a value of type `ty`.
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
        (Value::Map(map), CelType::Map(key, value)) => map
            .map
            .iter()
            .all(|(k, v)| value_fits(&Value::from(k), key) && value_fits(v, value)),
        (Value::Map(map), CelType::Struct(s)) => map.map.iter().all(|(k, v)| {
            let cel::objects::Key::String(name) = k else {
                return false;
            };
            match s.fields.get(name.as_str()) {
                Some(field) => value_fits(v, &field.ty),
                None => s.preserves_unknown_fields,
            }
        }),
        (Value::Map(map), CelType::Condition) => {
            map.map.values().all(|v| value_fits(v, &CelType::String))
        }
        (Value::Opaque(_), opaque) => {
            CelValue::from_cel(value.clone()).type_name() == opaque.to_string()
        }
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn accepted_expressions_never_fail_with_type_errors(spec in spec_value()) {
        let type_env = check_common::env(true);
        let checker = Checker::new(&type_env);
        let environment = Environment::new();
        let mut activation = Activation::new();
        activation
            .bind_with_schema("schema", &instance(&spec), &instance_schema())
            .expect("conforming data binds");
        for expression in EXPRESSIONS {
            let checked = checker.check(expression).unwrap_or_else(|e| panic!("{e}"));
            let program = environment.compile(expression).expect("compiles");
            match program.evaluate_value(&activation) {
                Ok(value) => prop_assert!(
                    value_fits(value.as_cel(), &checked.output),
                    "{expression}: value {value:?} is not a {}", checked.output
                ),
                Err(error) => prop_assert!(is_data_error(error.kind()), "{expression}: {error}"),
            }
        }
    }
}

/// The fixed cases' environment plus the grammar's own variables (`check_grammar::globals`).
fn grammar_env() -> TypeEnv {
    check_common::env(true)
        .with("u", CelType::Uint)
        .with("d", CelType::Double)
        .with("ints", CelType::list(CelType::Int))
        .with("counts", CelType::map(CelType::String, CelType::Int))
}

/// Values for the grammar's variables, conforming to `grammar_env()`.
#[derive(Debug, Clone)]
struct Bindings {
    spec: serde_json::Value,
    u: u64,
    d: f64,
    ints: Vec<i64>,
    counts: std::collections::BTreeMap<String, i64>,
}

fn bindings() -> impl Strategy<Value = Bindings> {
    (
        spec_value(),
        0u64..10,
        -4.0f64..4.0,
        prop::collection::vec(-3i64..4, 0..4),
        prop::collection::btree_map(word(), -3i64..4, 0..3),
    )
        .prop_map(|(spec, u, d, ints, counts)| Bindings {
            spec,
            u,
            d,
            ints,
            counts,
        })
}

fn activation(bindings: &Bindings) -> Activation {
    let mut activation = Activation::new();
    activation
        .bind_with_schema("schema", &instance(&bindings.spec), &instance_schema())
        .expect("conforming data binds");
    // JSON has no uint and writes 2.0 as 2: typed values keep the declared types.
    activation
        .bind_value("u", CelValue::from_cel(Value::UInt(bindings.u)))
        .expect("binds");
    activation
        .bind_value("d", CelValue::from_cel(Value::Float(bindings.d)))
        .expect("binds");
    activation
        .bind("ints", &json!(bindings.ints))
        .expect("binds");
    activation
        .bind("counts", &json!(bindings.counts))
        .expect("binds");
    activation
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// A generated well-typed expression is accepted with its type (or one assignable to it);
    /// evaluated, it gives a value of both that type and the checker's, or a data error. One in
    /// eight is built ill-typed instead: the checker rejects it and evaluation fails.
    #[test]
    fn generated_expressions_agree(
        bindings in bindings(),
        choices in prop::collection::vec(any::<u16>(), 0..64),
        ill_typed in prop::bool::weighted(0.125),
    ) {
        let type_env = grammar_env();
        let checker = Checker::new(&type_env);
        let activation = activation(&bindings);
        let mut grammar = Grammar::new(&choices);
        if ill_typed {
            let expression = grammar.ill_typed(3);
            prop_assert!(checker.check(&expression).is_err(), "{expression}: the checker accepts it");
            let evaluated = Environment::new()
                .compile(&expression)
                .map_err(|e| e.to_string())
                .and_then(|program| program.evaluate_value(&activation).map_err(|e| e.to_string()));
            prop_assert!(evaluated.is_err(), "{expression}: evaluates to {evaluated:?}");
            return Ok(());
        }
        let ty = grammar.ty();
        let expression = grammar.expr(&ty, 4);
        let checked = match checker.check(&expression) {
            Ok(checked) => checked,
            Err(errors) => {
                return Err(TestCaseError::fail(format!("{expression}: rejected: {errors}")));
            }
        };
        prop_assert!(
            assignable(&checked.output, &ty.cel()),
            "{expression}: checked as {}, built as {}", checked.output, ty.cel()
        );
        let program = Environment::new().compile(&expression).expect("compiles");
        match program.evaluate_value(&activation) {
            Ok(value) => {
                prop_assert!(
                    value_fits(value.as_cel(), &checked.output),
                    "{expression}: value {value:?} is not a {}", checked.output
                );
                prop_assert!(
                    value_fits(value.as_cel(), &ty.cel()),
                    "{expression}: value {value:?} is not a {}", ty.cel()
                );
            }
            Err(error) => prop_assert!(is_data_error(error.kind()), "{expression}: {error}"),
        }
    }
}

/// The checker keeps element types through the macro expansions.
#[test]
fn expansions_keep_element_types() {
    let env = check_common::env(false);
    let checker = Checker::new(&env);
    let cases = [
        ("{'a': 1}.transformMap(k, v, v + 1)", "map(string, int)"),
        (
            "schema.spec.ports.transformMap(i, p, p * 2)",
            "map(int, int)",
        ),
        (
            "schema.spec.labels.transformList(k, v, k + v)",
            "list(string)",
        ),
        (
            "schema.spec.items.transformMapEntry(i, item, {item.name: item})",
            "map(string, schema.spec.items[])",
        ),
        (
            "schema.spec.items.sortBy(i, i.name)",
            "list(schema.spec.items[])",
        ),
        ("cel.bind(c, schema.spec.config, c)", "schema.spec.config"),
        (
            "schema.spec.?config.optMap(c, c.host)",
            "optional_type(string)",
        ),
    ];
    for (expression, expected) in cases {
        let checked = checker.check(expression).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(checked.output.to_string(), expected, "{expression}");
    }
}
