//! Compile time and cached evaluation of typical kro expressions.

use criterion::{Criterion, criterion_main};
use kro_cel::{Activation, Environment, Template};
use serde_json::json;
use std::hint::black_box;

fn activation() -> Activation {
    let items: Vec<serde_json::Value> = (0..100)
        .map(|i| json!({"name": format!("item-{i}"), "port": 8000 + i, "enabled": i % 2 == 0}))
        .collect();
    let mut activation = Activation::new();
    activation
        .bind(
            "schema",
            &json!({
                "metadata": {"name": "demo", "namespace": "default"},
                "spec": {"name": "web", "replicas": 3, "items": items}
            }),
        )
        .expect("the fixture binds");
    activation
}

fn benches(c: &mut Criterion) {
    let env = Environment::new();
    let activation = activation();

    c.bench_function("compile/field_access", |b| {
        b.iter(|| {
            env.compile(black_box("schema.spec.name"))
                .expect("compiles")
        });
    });
    c.bench_function("compile/map_filter", |b| {
        b.iter(|| {
            env.compile(black_box(
                "schema.spec.items.filter(i, i.enabled).map(i, i.port)",
            ))
            .expect("compiles")
        });
    });

    let field = env.compile("schema.spec.name").expect("compiles");
    c.bench_function("eval/field_access", |b| {
        b.iter(|| field.evaluate(black_box(&activation)).expect("evaluates"));
    });

    let template = Template::compile(&env, "${schema.metadata.name}-${schema.spec.name}-svc")
        .expect("compiles");
    c.bench_function("eval/string_template", |b| {
        b.iter(|| {
            template
                .evaluate(black_box(&activation))
                .expect("evaluates")
        });
    });

    let concat = env
        .compile(
            "schema.metadata.name + '-' + schema.spec.name + '-' + string(schema.spec.replicas)",
        )
        .expect("compiles");
    c.bench_function("eval/concatenation", |b| {
        b.iter(|| concat.evaluate(black_box(&activation)).expect("evaluates"));
    });

    let map = env
        .compile("schema.spec.items.map(i, i.port)")
        .expect("compiles");
    c.bench_function("eval/map_100", |b| {
        b.iter(|| map.evaluate(black_box(&activation)).expect("evaluates"));
    });

    let filter = env
        .compile("schema.spec.items.filter(i, i.enabled)")
        .expect("compiles");
    c.bench_function("eval/filter_100", |b| {
        b.iter(|| filter.evaluate(black_box(&activation)).expect("evaluates"));
    });
}

/// The benchmark group; `criterion_group!` generates an undocumented function.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(eval, super::benches);
}
criterion_main!(group::eval);
