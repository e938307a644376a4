//! What kro-graph asks of a compiled program: checking it without parsing again, `omit()` calls
//! and the literal condition types it declares.

mod check_common;

use check_common::env;
use kro_cel::{Checker, Environment};

#[test]
fn checking_a_compiled_program_equals_checking_its_text() {
    let env = env(true);
    let checker = Checker::new(&env);
    let environment = Environment::new().with_omit(true);
    for source in [
        "schema.spec.name + '-x'",
        "deployment.spec.replicas > 0",
        "deployment.status.availableReplicas == 1",
        "[1, 2].map(x, x * 2)",
        "schema.spec.nope",
        "schema.spec.name + 1",
        "runtime.newCondition({type: 'Ready', status: 'True'})",
    ] {
        let program = environment.compile(source).expect("compiles");
        assert_eq!(
            checker.check_program(&program),
            checker.check(source),
            "{source}"
        );
    }
}

#[test]
fn omit_calls_are_found_anywhere_in_the_expression() {
    let environment = Environment::new().with_omit(true);
    let calls = |source: &str| environment.compile(source).expect("compiles").calls_omit();
    assert!(calls("omit()"));
    assert!(calls("schema.spec.name == '' ? omit() : schema.spec.name"));
    assert!(calls("[1, 2].map(x, x > 1 ? x : omit())"));
    assert!(!calls("schema.spec.omitted"));
    assert!(!calls("'omit()'"));
}

#[test]
fn literal_condition_types_are_listed_in_source_order() {
    let environment = Environment::new();
    let types = |source: &str| {
        environment
            .compile(source)
            .expect("compiles")
            .literal_condition_types()
    };
    assert_eq!(
        types("runtime.newCondition({type: 'Ready', status: 'True'})"),
        ["Ready"]
    );
    assert_eq!(
        types(
            "[runtime.newCondition({status: 'True', type: \"B\"}), runtime.newCondition({type: 'A', status: 'False'})]"
        ),
        ["B", "A"]
    );
    assert!(types("runtime.newCondition({type: schema.spec.name, status: 'True'})").is_empty());
    assert!(types("{'type': 'Ready'}").is_empty());
}
