//! Type-checks and evaluates CEL expressions the way kro does, against a typed `schema`.

use std::collections::BTreeMap;

use anyhow::ensure;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;
use kro_cel::{Activation, CelType, Checker, Environment, Template, TypeEnv, instance_schema_type};
use serde_json::json;

fn main() -> anyhow::Result<()> {
    let field = |ty: &str| JSONSchemaProps {
        type_: Some(ty.into()),
        ..Default::default()
    };
    let spec = JSONSchemaProps {
        type_: Some("object".into()),
        properties: Some(BTreeMap::from([
            ("greeting".into(), field("string")),
            ("replicas".into(), field("integer")),
        ])),
        required: Some(vec!["greeting".into(), "replicas".into()]),
        ..Default::default()
    };
    let types = TypeEnv::new().with("schema", instance_schema_type(&spec, false));
    let checker = Checker::new(&types);

    let expression = "schema.spec.replicas * 2";
    let checked = checker.check(expression)?;
    ensure!(
        checked.output == CelType::Int,
        "{expression}: {:?}",
        checked.output
    );
    println!("check {expression}: {:?}", checked.output);
    let typo = "schema.spec.greting";
    let errors = checker
        .check(typo)
        .err()
        .ok_or_else(|| anyhow::anyhow!("{typo} type-checked"))?;
    println!("check {typo}: error: {errors}");

    let env = Environment::new().with_variables(["schema"]);
    let mut activation = Activation::new();
    activation.bind(
        "schema",
        &json!({"spec": {"greeting": "hello", "replicas": 3}}),
    )?;
    let doubled = env.compile(expression)?.evaluate(&activation)?;
    ensure!(doubled == json!(6), "{expression} = {doubled}");
    println!("eval {expression}: {doubled}");
    let template = "${schema.spec.greeting}, world";
    let text = Template::compile(&env, template)?.evaluate(&activation)?;
    ensure!(text == json!("hello, world"), "{template} = {text}");
    println!("eval {template}: {text}");
    let pending = env.compile("schema.status.ready")?.evaluate(&activation);
    ensure!(
        pending.as_ref().is_err_and(kro_cel::EvalError::is_pending),
        "missing data is pending: {pending:?}"
    );
    println!("eval schema.status.ready: pending");
    Ok(())
}
