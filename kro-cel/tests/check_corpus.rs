//! Every `${}` expression of every RGD in the corpus type-checks, with `schema` typed from
//! the RGD's SimpleSchema (converted by `kro-schema`, as the controller does) and other resources
//! declared `dyn` until the graph crate supplies their schemas.

use kro_cel::{CelType, Checker, TypeEnv, assignable, instance_schema_type};
use kro_schema::SimpleSchema;
use serde_json::Value;

/// The `${...}` expressions of a string value, by brace counting that skips double-quoted
/// literals, and whether the value is exactly one expression.
fn expressions(text: &str) -> (Vec<String>, bool) {
    let chars: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut spans = Vec::new();
    let mut i = 0;
    while i + 1 < chars.len() {
        if chars[i] == '$' && chars[i + 1] == '{' {
            let start = i + 2;
            let mut depth = 1;
            let mut j = start;
            let mut in_string = false;
            while j < chars.len() {
                let c = chars[j];
                if in_string {
                    if c == '\\' {
                        j += 1;
                    } else if c == '"' {
                        in_string = false;
                    }
                } else if c == '"' {
                    in_string = true;
                } else if c == '{' {
                    depth += 1;
                } else if c == '}' {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                j += 1;
            }
            if j < chars.len() {
                found.push(chars[start..j].iter().collect::<String>());
                spans.push((i, j + 1));
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
    let standalone = spans.len() == 1 && spans[0] == (0, chars.len());
    (found, standalone)
}

fn collect_strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

#[test]
fn every_corpus_rgd_expression_type_checks() {
    let mut rgds = 0;
    let mut checked = 0;
    let mut failures = Vec::new();
    for document in kro_test_support::rgd_documents() {
        let (file, rgd) = (&document.path, &document.value);
        rgds += 1;
        let schema = &rgd["spec"]["schema"];
        let spec = SimpleSchema::new(schema.get("types"))
            .and_then(|simple| simple.convert(&schema["spec"]))
            .unwrap_or_else(|e| panic!("{}: invalid SimpleSchema: {e}", file.display()));
        let mut env = TypeEnv::new();
        env.declare("schema", instance_schema_type(&spec, false));
        env.declare("each", CelType::Dyn);
        for resource in rgd["spec"]["resources"].as_array().into_iter().flatten() {
            if let Some(id) = resource["id"].as_str() {
                env.declare(id, CelType::Dyn);
            }
            for iterator in resource["forEach"].as_array().into_iter().flatten() {
                for name in iterator.as_object().into_iter().flat_map(|o| o.keys()) {
                    env.declare(name.clone(), CelType::Dyn);
                }
            }
        }
        let checker = Checker::new(&env);
        let mut strings = Vec::new();
        collect_strings(&rgd["spec"]["resources"], &mut strings);
        collect_strings(&schema["status"], &mut strings);
        for value in strings {
            let (found, standalone) = expressions(value);
            for expression in found {
                checked += 1;
                match checker.check(&expression) {
                    Ok(result) if !standalone && !assignable(&result.output, &CelType::String) => {
                        failures.push(format!(
                            "{}: string template part \"{expression}\" returns {}",
                            file.display(),
                            result.output
                        ));
                    }
                    Ok(_) => {}
                    Err(errors) => failures.push(format!("{}: {errors}", file.display())),
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(rgds >= 25, "found only {rgds} RGDs");
    assert!(checked >= 100, "checked only {checked} expressions");
}
