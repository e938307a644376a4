//! Property tests: the scanner and the evaluator never panic, scanning is lossless, and
//! JSON survives a round trip through CEL.

use kro_cel::{Activation, CelValue, Environment, Segment, Template, scan};
use proptest::prelude::*;
use serde_json::json;

fn template_text() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("${".to_owned()),
        Just("}".to_owned()),
        Just("{".to_owned()),
        Just("\"".to_owned()),
        Just("'".to_owned()),
        Just("\\".to_owned()),
        Just("$".to_owned()),
        Just("\n".to_owned()),
        "[a-z.]{0,6}",
        "\\PC{0,3}",
    ];
    prop::collection::vec(pieces, 0..12).prop_map(|parts| parts.concat())
}

fn expression_text() -> impl Strategy<Value = String> {
    let tokens = prop_oneof![
        Just("schema".to_owned()),
        Just(".spec".to_owned()),
        Just(".name".to_owned()),
        Just("[0]".to_owned()),
        Just(" + ".to_owned()),
        Just(" / ".to_owned()),
        Just("1".to_owned()),
        Just("'a'".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just(".map(x, x)".to_owned()),
        Just(".all(k, v, v)".to_owned()),
        Just("hash.sha256(".to_owned()),
        Just("json.unmarshal(".to_owned()),
        Just("quantity(".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just(", ".to_owned()),
        Just("?".to_owned()),
        Just(":".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        "[a-z0-9]{1,3}",
    ];
    prop::collection::vec(tokens, 1..10).prop_map(|parts| parts.concat())
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        (-1.0e6f64..1.0e6).prop_map(|f| json!(f)),
        "\\PC{0,8}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn scanning_never_panics_and_loses_nothing(template in template_text()) {
        if let Ok(segments) = scan(&template) {
            let rebuilt: String = segments
                .iter()
                .map(|s| match s {
                    Segment::Literal(text) => text.clone(),
                    Segment::Expression { source, .. } => format!("${{{source}}}"),
                })
                .collect();
            prop_assert_eq!(rebuilt, template);
        }
    }

    #[test]
    fn compiling_and_evaluating_never_panics(source in expression_text()) {
        let env = Environment::new();
        let mut activation = Activation::new();
        activation.bind("schema", &json!({"spec": {"name": "web"}})).expect("binds");
        if let Ok(program) = env.compile(&source) {
            let _ = program.evaluate(&activation);
            let _ = program.references();
        }
        if let Ok(template) = Template::compile(&env, &source) {
            let _ = template.evaluate(&activation);
        }
    }

    #[test]
    fn json_round_trips_through_cel(value in json_value()) {
        let back = CelValue::from_json(&value).to_json().expect("converts").expect("not omitted");
        prop_assert_eq!(back, value);
    }

    #[test]
    fn seeded_functions_are_deterministic(seed in "\\PC{0,12}", n in 1i64..40) {
        let env = Environment::new();
        let mut activation = Activation::new();
        activation.bind("seed", &json!(seed)).expect("binds");
        activation.bind("n", &json!(n)).expect("binds");
        let program = env
            .compile("[random.seededString(n, seed), string(random.seededInt(0, n, seed))]")
            .expect("compiles");
        let first = program.evaluate(&activation).expect("evaluates");
        prop_assert_eq!(&first, &program.evaluate(&activation).expect("evaluates"));
        let text = first[0].as_str().expect("a string").to_owned();
        prop_assert_eq!(text.len() as i64, n);
        prop_assert!(text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    }
}
