//! The CEL expression set shared with the cel-go benchmark (`bench/celgo`): every case of
//! `bench/cel-cases.json`, compiled once and evaluated against variables bound once.
//!
//! As on the Go side, an evaluation produces a CEL value (`Program::evaluate_value`, the
//! counterpart of cel-go's `Program.Eval`); a `${}` template renders its string.

use criterion::{Criterion, criterion_main};
use kro_cel::{Activation, Environment, Program, Template};
use serde_json::Value;
use std::hint::black_box;

enum Compiled {
    Expression(Program),
    Template(Template),
}

fn load() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/cel-cases.json");
    let text = std::fs::read_to_string(path).expect("bench/cel-cases.json is readable");
    serde_json::from_str(&text).expect("bench/cel-cases.json is JSON")
}

fn benches(c: &mut Criterion) {
    let file = load();
    let variables = file["variables"]
        .as_object()
        .expect("the case file has variables");
    let env = Environment::new();
    let mut activation = Activation::new();
    for (name, value) in variables {
        activation.bind(name, value).expect("the variables bind");
    }
    let cases = file["cases"].as_array().expect("the case file has cases");
    let mut group = c.benchmark_group("cel");
    for case in cases {
        let name = case["name"].as_str().expect("a case has a name");
        let compiled = match (case["expression"].as_str(), case["template"].as_str()) {
            (Some(expression), _) => {
                Compiled::Expression(env.compile(expression).expect("the case compiles"))
            }
            (None, Some(template)) => {
                Compiled::Template(Template::compile(&env, template).expect("the case compiles"))
            }
            (None, None) => panic!("case {name} has neither an expression nor a template"),
        };
        match &compiled {
            Compiled::Expression(program) => {
                program
                    .evaluate_value(&activation)
                    .unwrap_or_else(|e| panic!("case {name}: {e}"));
                group.bench_function(name, |b| {
                    b.iter(|| program.evaluate_value(black_box(&activation)));
                });
            }
            Compiled::Template(template) => {
                template
                    .evaluate(&activation)
                    .unwrap_or_else(|e| panic!("case {name}: {e}"));
                group.bench_function(name, |b| {
                    b.iter(|| template.evaluate(black_box(&activation)));
                });
            }
        }
    }
    group.finish();
}

/// The benchmark group; `criterion_group!` generates an undocumented function.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(cases, super::benches);
}
criterion_main!(group::cases);
