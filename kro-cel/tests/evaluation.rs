//! Templates, references, schema-aware conversion, determinism, budgets and feature gates.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray,
};
use kro_cel::{
    Activation, Budget, Environment, ErrorKind, FUNCTIONS, Library, Program, Segment, Template,
    TemplateError, scan,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

fn schema_activation() -> Activation {
    let mut activation = Activation::new();
    activation
        .bind(
            "schema",
            &json!({"spec": {"name": "web", "replicas": 3, "tags": ["a", "b"]}}),
        )
        .expect("binds");
    activation
}

fn expression(source: &str, offset: usize) -> Segment {
    Segment::Expression {
        source: source.to_owned(),
        offset,
    }
}

fn literal(text: &str) -> Segment {
    Segment::Literal(text.to_owned())
}

#[test]
fn scanner_splits_literals_and_expressions() {
    assert_eq!(scan("${a}").expect("scans"), vec![expression("a", 2)]);
    assert_eq!(
        scan("x-${a}-${b.c}").expect("scans"),
        vec![
            literal("x-"),
            expression("a", 4),
            literal("-"),
            expression("b.c", 9)
        ]
    );
    assert_eq!(scan("plain").expect("scans"), vec![literal("plain")]);
    assert_eq!(scan("").expect("scans"), Vec::<Segment>::new());
}

#[test]
fn scanner_counts_braces_outside_double_quotes_only() {
    assert_eq!(
        scan("${{'a': 1}}").expect("scans"),
        vec![expression("{'a': 1}", 2)]
    );
    assert_eq!(
        scan(r#"${"}" + x}"#).expect("scans"),
        vec![expression(r#""}" + x"#, 2)]
    );
    assert_eq!(
        scan(r#"${"a\"}" + x}"#).expect("scans"),
        vec![expression(r#""a\"}" + x"#, 2)]
    );
    // Single quotes do not protect braces: the expression ends at the first `}`.
    assert_eq!(
        scan("${'}'}").expect("scans"),
        vec![expression("'", 2), literal("'}")]
    );
}

#[test]
fn scanner_rejects_nested_expressions_unless_inside_a_string_literal() {
    let nested = scan("${a(${b})}").expect_err("nested is an error");
    assert_eq!(
        nested,
        TemplateError::Nested {
            template: "${a(${b})}".to_owned(),
            offset: 4
        }
    );
    assert!(
        nested
            .to_string()
            .contains("nested expressions are not allowed")
    );
    assert_eq!(
        scan(r#"${"${VAR}"}"#).expect("scans"),
        vec![expression(r#""${VAR}""#, 2)]
    );
    assert!(matches!(
        scan("${a ${b}"),
        Err(TemplateError::Nested { offset: 4, .. })
    ));
}

#[test]
fn unterminated_expressions_are_literal_text() {
    assert_eq!(
        scan("${schema.spec.name").expect("scans"),
        vec![literal("${schema.spec.name")]
    );
    assert_eq!(
        scan("a-${x}-${unterminated").expect("scans"),
        vec![
            literal("a-"),
            expression("x", 4),
            literal("-${unterminated")
        ]
    );
    assert_eq!(
        scan("cost: $5 {ok}").expect("scans"),
        vec![literal("cost: $5 {ok}")]
    );
}

#[test]
fn offsets_count_characters_not_bytes() {
    assert_eq!(
        scan("é-${x}").expect("scans"),
        vec![literal("é-"), expression("x", 4)]
    );
}

#[test]
fn standalone_templates_keep_the_native_type() {
    let env = Environment::new();
    let activation = schema_activation();
    let template = Template::compile(&env, "${schema.spec.replicas}").expect("compiles");
    assert!(template.is_standalone());
    assert_eq!(template.evaluate(&activation).expect("evaluates"), json!(3));
    let list = Template::compile(&env, "${schema.spec.tags}").expect("compiles");
    assert_eq!(
        list.evaluate(&activation).expect("evaluates"),
        json!(["a", "b"])
    );
    // Surrounding whitespace makes it a string template.
    let spaced = Template::compile(&env, " ${schema.spec.name}").expect("compiles");
    assert!(!spaced.is_standalone());
    assert_eq!(
        spaced.evaluate(&activation).expect("evaluates"),
        json!(" web")
    );
}

#[test]
fn string_templates_concatenate_strings_and_reject_other_types() {
    let env = Environment::new();
    let activation = schema_activation();
    let template = Template::compile(&env, "${schema.spec.name}-${string(schema.spec.replicas)}")
        .expect("compiles");
    assert_eq!(
        template.evaluate(&activation).expect("evaluates"),
        json!("web-3")
    );
    assert_eq!(
        template.to_cel(),
        r#"(schema.spec.name) + "-" + (string(schema.spec.replicas))"#
    );
    let wrong = Template::compile(&env, "n-${schema.spec.replicas}").expect("compiles");
    let error = wrong.evaluate(&activation).expect_err("an int part fails");
    assert_eq!(error.kind(), ErrorKind::NoSuchOverload);
    assert!(
        error.message.contains("expected a string, got int"),
        "{}",
        error.message
    );
    let pending = Template::compile(&env, "n-${schema.spec.missing}").expect("compiles");
    assert!(
        pending
            .evaluate(&activation)
            .expect_err("missing")
            .is_pending()
    );
}

#[test]
fn block_scalars_with_and_without_trailing_newline() {
    let env = Environment::new();
    let activation = schema_activation();
    // `|-` strips the final newline: still standalone, even across lines.
    let stripped = Template::compile(&env, "${schema.spec.replicas +\n  1}").expect("compiles");
    assert!(stripped.is_standalone());
    assert_eq!(stripped.evaluate(&activation).expect("evaluates"), json!(4));
    // `|` keeps it: a string template.
    let kept = Template::compile(&env, "${schema.spec.name}\n").expect("compiles");
    assert!(!kept.is_standalone());
    assert_eq!(
        kept.evaluate(&activation).expect("evaluates"),
        json!("web\n")
    );
}

#[test]
fn plain_text_templates_evaluate_to_themselves() {
    let env = Environment::new();
    let template = Template::compile(&env, "just text").expect("compiles");
    assert!(!template.has_expressions());
    assert_eq!(
        template.evaluate(&Activation::new()).expect("evaluates"),
        json!("just text")
    );
}

#[test]
fn template_compile_errors_point_into_the_template() {
    let env = Environment::new();
    let error = Template::compile(&env, "abc-${schema.spec.((}").expect_err("bad syntax");
    let TemplateError::Compile { offset, source, .. } = &error else {
        panic!("expected a compile error, got {error:?}");
    };
    assert_eq!(*offset, 6);
    assert_eq!(source.expression, "schema.spec.((");
    // The template error names the template and the expression's place; the compile error is
    // its source, not repeated in its message.
    assert_eq!(
        error.to_string(),
        "template `abc-${schema.spec.((}`, expression at character 6"
    );
    assert!(!error.to_string().contains(&source.to_string()), "{error}");
    let cause = std::error::Error::source(&error).expect("a source");
    assert_eq!(cause.to_string(), source.to_string());
    assert_eq!(source.line, 1);
    assert!(
        (12..=14).contains(&source.column),
        "column {}",
        source.column
    );
}

#[test]
fn compile_errors_name_the_undeclared_variable_and_its_position() {
    let env = Environment::new().with_variables(["schema"]);
    let error = env
        .compile("schema.spec.x + deploymnt.status.y")
        .expect_err("undeclared");
    assert_eq!((error.line, error.column), (1, 17));
    assert!(error.message.contains("`deploymnt`"), "{}", error.message);
    assert!(error.message.contains("schema"), "{}", error.message);
    // Comprehension variables are not references.
    env.compile("schema.spec.tags.map(t, t + 'x')")
        .expect("comprehension variables are in scope");
    env.compile("cel.bind(v, schema.spec.name, v)")
        .expect("bind variables are in scope");
    env.compile("hash.sha256(schema.spec.name)")
        .expect("namespaces are not variables");
}

#[test]
fn references_follow_field_paths_and_respect_scopes() {
    let env = Environment::new();
    let program = env
        .compile(
            "schema.spec.name + deployment.status.?ready.orValue('') + \
             schema.spec.items.map(i, i.name + other.x).join(',') + \
             {'a': 1}.transformMap(k, v, v + z).size() + cel.bind(b, schema.metadata, b.name)",
        )
        .expect("compiles");
    let names: Vec<String> = program
        .references()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        names,
        vec![
            "deployment.status.ready",
            "other.x",
            "schema.metadata",
            "schema.spec.items",
            "schema.spec.name",
            "z",
        ]
    );
    let has = env
        .compile("has(schema.spec.port) && hash.md5('x') != b''")
        .expect("compiles");
    let names: Vec<String> = has.references().iter().map(ToString::to_string).collect();
    assert_eq!(names, vec!["schema.spec.port"]);
}

#[test]
fn map_iteration_and_output_are_sorted_every_time() {
    let env = Environment::new();
    let program = env
        .compile("m.map(k, k) + m.transformList(k, v, k + v) + [json.marshal(m)]")
        .expect("compiles");
    let map: serde_json::Map<String, serde_json::Value> = (0..40)
        .map(|i| (format!("k{i:02}"), json!(format!("v{i}"))))
        .collect();
    let mut first = None;
    for _ in 0..20 {
        let mut activation = Activation::new();
        activation
            .bind("m", &serde_json::Value::Object(map.clone()))
            .expect("binds");
        let result = program.evaluate(&activation).expect("evaluates");
        let text = serde_json::to_string(&result).expect("serializes");
        match &first {
            None => first = Some(text),
            Some(expected) => assert_eq!(&text, expected),
        }
    }
    let first = first.expect("evaluated");
    assert!(first.starts_with(r#"["k00","k01","k02""#), "{first}");
}

#[test]
fn schema_aware_conversion() {
    let props =
        |entries: Vec<(&str, JSONSchemaProps)>| -> Option<BTreeMap<String, JSONSchemaProps>> {
            Some(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
            )
        };
    let typed = |t: &str, format: Option<&str>| JSONSchemaProps {
        type_: Some(t.to_owned()),
        format: format.map(str::to_owned),
        ..Default::default()
    };
    let schema = JSONSchemaProps {
        type_: Some("object".to_owned()),
        properties: props(vec![
            ("count", typed("integer", None)),
            ("ratio", typed("number", None)),
            ("secret", typed("string", Some("byte"))),
            ("when", typed("string", Some("date-time"))),
            (
                "ports",
                JSONSchemaProps {
                    type_: Some("array".to_owned()),
                    items: Some(JSONSchemaPropsOrArray::Schema(Box::new(typed(
                        "integer", None,
                    )))),
                    ..Default::default()
                },
            ),
        ]),
        ..Default::default()
    };
    let mut activation = Activation::new();
    activation
        .bind_with_schema(
            "obj",
            &json!({"count": 3.0, "ratio": 2, "secret": "aGVsbG8=", "when": "2026-01-02T03:04:05Z", "ports": [80.0, 443]}),
            &schema,
        )
        .expect("binds");
    let env = Environment::new();
    let eval = |source: &str| {
        env.compile(source)
            .expect("compiles")
            .evaluate(&activation)
            .expect("evaluates")
    };
    assert_eq!(eval("obj.count + 1"), json!(4));
    assert_eq!(eval("type(obj.ratio) == double"), json!(true));
    assert_eq!(eval("string(obj.secret)"), json!("hello"));
    assert_eq!(eval("obj.when.getFullYear()"), json!(2026));
    assert_eq!(eval("obj.when"), json!("2026-01-02T03:04:05Z"));
    assert_eq!(eval("obj.ports.sum()"), json!(523));
    let bytes_out = env
        .compile("obj.secret")
        .expect("compiles")
        .evaluate(&activation);
    let error = bytes_out.expect_err("bytes are not written");
    assert_eq!(error.kind(), ErrorKind::Conversion);
    assert!(
        error.message.contains("encode it explicitly"),
        "{}",
        error.message
    );

    let mut bad = Activation::new();
    let error = bad
        .bind_with_schema("obj", &json!({"ports": [1.5]}), &schema)
        .expect_err("a fraction is not an integer");
    assert_eq!(error.path, "obj.ports[0]");
    assert!(
        error.message.contains("expected an integer"),
        "{}",
        error.message
    );
}

#[test]
fn schema_less_integers_are_ints() {
    let mut activation = Activation::new();
    activation
        .bind("x", &json!({"n": 7, "big": 18446744073709551615u64}))
        .expect("binds");
    let env = Environment::new();
    let eval = |source: &str| {
        env.compile(source)
            .expect("compiles")
            .evaluate(&activation)
            .expect("evaluates")
    };
    assert_eq!(eval("type(x.n) == int"), json!(true));
    assert_eq!(eval("type(x.big) == double"), json!(true));
}

#[test]
fn budget_stops_runaway_loops() {
    let env = Environment::new().with_budget(Budget {
        max_cost: 1_000,
        ..Budget::default()
    });
    let program = env
        .compile("lists.range(100).all(i, lists.range(100).all(j, true))")
        .expect("compiles");
    let error = program
        .evaluate(&Activation::new())
        .expect_err("10,000 iterations exceed 1,000");
    assert_eq!(error.kind(), ErrorKind::BudgetExceeded);
    let cheap = env
        .compile("lists.range(10).all(i, lists.range(10).all(j, true))")
        .expect("compiles");
    assert_eq!(
        cheap
            .evaluate(&Activation::new())
            .expect("100 iterations fit"),
        json!(true)
    );
}

#[test]
fn deadline_stops_slow_evaluations() {
    let env = Environment::new().with_budget(Budget {
        max_cost: u64::MAX,
        timeout: Some(Duration::from_millis(20)),
        max_ast_nodes: 10_000,
    });
    let program = env
        .compile("lists.range(3000).all(i, lists.range(3000).all(j, i + j >= 0))")
        .expect("compiles");
    let error = program.evaluate(&Activation::new()).expect_err("times out");
    assert_eq!(error.kind(), ErrorKind::BudgetExceeded);
    assert!(error.message.contains("deadline"), "{}", error.message);
}

#[test]
fn ast_size_is_limited_at_compile_time() {
    let env = Environment::new().with_budget(Budget {
        max_ast_nodes: 10,
        ..Budget::default()
    });
    let error = env
        .compile("1 + 2 + 3 + 4 + 5 + 6 + 7 + 8")
        .expect_err("too large");
    assert!(
        error.message.contains("more than the limit"),
        "{}",
        error.message
    );
}

#[test]
fn omit_requires_its_feature_gate_and_removes_what_holds_it() {
    let gated = Environment::new();
    let error = gated.compile("true ? omit() : 1").expect_err("gate off");
    assert!(
        error.message.contains("CELOmitFunction"),
        "{}",
        error.message
    );
    let env = Environment::new().with_omit(true);
    let activation = Activation::new();
    let eval = |s: &str| {
        env.compile(s)
            .expect("compiles")
            .evaluate_optional(&activation)
            .expect("evaluates")
    };
    assert_eq!(eval("{'a': omit(), 'b': 1}"), Some(json!({"b": 1})));
    assert_eq!(eval("[1, omit(), 2]"), Some(json!([1, 2])));
    assert_eq!(eval("omit()"), None);
    let error = env
        .compile("omit()")
        .expect("compiles")
        .evaluate(&activation)
        .expect_err("omitted");
    assert_eq!(error.kind(), ErrorKind::Omitted);
}

#[test]
fn programs_are_send_sync_and_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Program>();
    assert_send_sync::<Activation>();
    assert_send_sync::<Template>();
    let program = Environment::new()
        .compile("schema.spec.replicas * 2")
        .expect("compiles");
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let program = program.clone();
            std::thread::spawn(move || program.evaluate(&schema_activation()).expect("evaluates"))
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().expect("thread finishes"), json!(6));
    }
}

#[test]
fn evaluate_value_exposes_the_cel_value() {
    let program = Environment::new()
        .compile("schema.spec.name")
        .expect("compiles");
    let value = program
        .evaluate_value(&schema_activation())
        .expect("evaluates");
    assert_eq!(value.type_name(), "string");
    assert_eq!(value.as_str(), Some("web"));
    let mut activation = Activation::new();
    activation.bind_value("prev", value).expect("binds");
    let reuse = Environment::new().compile("prev + '!'").expect("compiles");
    assert_eq!(
        reuse.evaluate(&activation).expect("evaluates"),
        json!("web!")
    );
}

#[test]
fn function_list_covers_every_library() {
    let has = |name: &str, receiver: bool, arity: usize| {
        FUNCTIONS
            .iter()
            .any(|f| f.name == name && f.receiver == receiver && f.arity == arity)
    };
    for (name, receiver, arity) in [
        ("hash.fnv64a", false, 1),
        ("json.unmarshal", false, 1),
        ("random.seededInt", false, 3),
        ("merge", true, 1),
        ("deepMerge", true, 1),
        ("lists.insertAtIndex", false, 3),
        ("omit", false, 0),
        ("runtime.condition", false, 2),
        ("sum", true, 0),
        ("indexOf", true, 1),
        ("findAll", true, 2),
        ("getQuery", true, 0),
        ("compareTo", true, 1),
        ("containsCIDR", true, 1),
        ("semver", false, 2),
        ("transformMapEntry", true, 4),
        ("cel.bind", false, 3),
        ("first", true, 0),
        ("sortBy", true, 2),
    ] {
        assert!(
            has(name, receiver, arity),
            "{name} receiver={receiver} arity={arity} missing"
        );
    }
    assert!(FUNCTIONS.iter().any(|f| f.library == Library::Kubernetes));
    assert!(
        FUNCTIONS
            .iter()
            .filter(|f| f.library == Library::Internal)
            .all(|f| f.name.starts_with('@'))
    );
}

#[test]
fn every_registered_library_function_is_callable() {
    // A call with wrong argument types reaches the function table: the error is a missing
    // overload, never an undeclared function.
    let env = Environment::new().with_omit(true);
    let activation = Activation::new();
    // Macros (they take variable names) and internal helpers cannot be called like this.
    for function in FUNCTIONS.iter().filter(|f| {
        !matches!(f.library, Library::Macro | Library::Internal) && !f.arg_types.contains(&"ident")
    }) {
        let args = vec!["[[[]]]"; function.arity].join(", ");
        let source = if function.receiver {
            format!("{{}}.{}({args})", function.name)
        } else {
            format!("{}({args})", function.name)
        };
        let program = env.compile(&source).expect("compiles");
        if let Err(error) = program.evaluate_value(&activation) {
            assert!(
                !error.message.contains("Undeclared"),
                "{source}: {}",
                error.message
            );
        }
    }
}

#[test]
fn duration_and_date_formats_convert_like_the_api_server() {
    let schema = JSONSchemaProps {
        type_: Some("object".to_owned()),
        properties: Some(BTreeMap::from([
            (
                "timeout".to_owned(),
                JSONSchemaProps {
                    type_: Some("string".to_owned()),
                    format: Some("duration".to_owned()),
                    ..Default::default()
                },
            ),
            (
                "day".to_owned(),
                JSONSchemaProps {
                    type_: Some("string".to_owned()),
                    format: Some("date".to_owned()),
                    ..Default::default()
                },
            ),
        ])),
        ..Default::default()
    };
    let env = Environment::new();
    for (timeout, expected) in [
        ("1h30m", json!("1h30m0s")),
        ("1.5s", json!("1.5s")),
        ("-300ms", json!("-300ms")),
        ("0", json!("0s")),
    ] {
        let mut activation = Activation::new();
        activation
            .bind_with_schema(
                "x",
                &json!({"timeout": timeout, "day": "2024-02-29"}),
                &schema,
            )
            .expect("binds");
        let program = env.compile("x.timeout").expect("compiles");
        assert_eq!(program.evaluate(&activation).expect("evaluates"), expected);
        let day = env.compile("x.day.getDayOfMonth()").expect("compiles");
        assert_eq!(day.evaluate(&activation).expect("evaluates"), json!(28));
    }
    for bad in ["1x", "", "h", "1.s5"] {
        let error = Activation::new()
            .bind_with_schema("x", &json!({"timeout": bad}), &schema)
            .expect_err("not a duration");
        assert_eq!(error.path, "x.timeout", "{bad}");
        assert!(error.message.contains("format: duration"), "{bad}");
    }
}
