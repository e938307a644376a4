//! Converting every corpus RGD schema to a CRD.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use kro_schema::{CrdOptions, CrdSpec, generate_crd, parse_field};

fn convert_corpus(c: &mut Criterion) {
    let rgds = kro_test_support::rgd_documents();
    assert!(!rgds.is_empty(), "the corpus has RGDs");
    let options = CrdOptions::kro_owned("bench", "uid", "v0.0.0");

    c.bench_function(
        &format!("corpus: {} RGD schemas to CRDs", rgds.len()),
        |b| {
            b.iter(|| {
                for rgd in &rgds {
                    let spec = CrdSpec::from_rgd_schema(std::hint::black_box(
                        &rgd.value["spec"]["schema"],
                    ))
                    .expect("corpus schema converts");
                    std::hint::black_box(generate_crd(&spec, None, &options));
                }
            });
        },
    );

    let largest = rgds
        .iter()
        .max_by_key(|rgd| rgd.value["spec"]["schema"].to_string().len())
        .expect("non-empty corpus");
    c.bench_function(&format!("largest schema ({})", largest.name()), |b| {
        b.iter(|| CrdSpec::from_rgd_schema(std::hint::black_box(&largest.value["spec"]["schema"])));
    });

    c.bench_function("parse_field with markers", |b| {
        b.iter(|| {
            parse_field(std::hint::black_box(
                r#"[]string | minItems=1 maxItems=10 uniqueItems=true description="ports" default=["a"]"#,
            ))
        });
    });
}

criterion_group!(benches, convert_corpus);
criterion_main!(benches);
