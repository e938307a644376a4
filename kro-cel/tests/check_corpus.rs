//! Every `${}` expression of every RGD in the shared corpus type-checks, with `schema` typed from
//! the RGD's SimpleSchema (converted by a small hand-written converter below) and other resources
//! declared `dyn` until the graph crate supplies their schemas.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSON, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use kro_cel::{CelType, Checker, TypeEnv, assignable, instance_schema_type};
use serde_json::Value;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus");

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("corpus dir")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

fn scalar(type_name: &str) -> JSONSchemaProps {
    JSONSchemaProps {
        type_: Some(type_name.to_string()),
        ..Default::default()
    }
}

/// SimpleSchema type text (`string`, `[]integer`, `map[string]T`, custom names) to a schema.
fn simple_type(text: &str, types: &BTreeMap<String, JSONSchemaProps>) -> JSONSchemaProps {
    let text = text.trim();
    if let Some(element) = text.strip_prefix("[]") {
        return JSONSchemaProps {
            items: Some(JSONSchemaPropsOrArray::Schema(Box::new(simple_type(
                element, types,
            )))),
            ..scalar("array")
        };
    }
    if let Some(rest) = text.strip_prefix("map[") {
        let (_, value) = rest.split_once(']').expect("map value type");
        return JSONSchemaProps {
            additional_properties: Some(JSONSchemaPropsOrBool::Schema(Box::new(simple_type(
                value, types,
            )))),
            ..scalar("object")
        };
    }
    match text {
        "string" | "integer" | "boolean" | "number" => scalar(text),
        "float" => scalar("number"),
        "object" => JSONSchemaProps {
            x_kubernetes_preserve_unknown_fields: Some(true),
            ..scalar("object")
        },
        custom => types
            .get(custom)
            .cloned()
            .unwrap_or_else(|| panic!("unknown SimpleSchema type {custom}")),
    }
}

/// A SimpleSchema field: a `type | marker=value ...` string or a nested object.
fn simple_field(
    value: &Value,
    types: &BTreeMap<String, JSONSchemaProps>,
) -> (JSONSchemaProps, bool) {
    match value {
        Value::String(text) => {
            let mut parts = text.splitn(2, '|');
            let mut schema = simple_type(parts.next().unwrap_or_default(), types);
            let markers = parts.next().unwrap_or_default();
            let required = markers.contains("required=true");
            if let Some(start) = markers.find("default=") {
                let raw = markers[start + "default=".len()..]
                    .split_whitespace()
                    .next()
                    .unwrap_or_default();
                let default = serde_json::from_str(raw).unwrap_or(Value::String(raw.to_string()));
                schema.default = Some(JSON(default));
            }
            (schema, required)
        }
        Value::Object(fields) => {
            let mut schema = simple_object(fields, types);
            // kro defaults an object to `{}` when it has defaulted fields, so it is present.
            let defaulted = schema
                .properties
                .as_ref()
                .is_some_and(|p| p.values().any(|f| f.default.is_some()));
            if defaulted {
                schema.default = Some(JSON(serde_json::json!({})));
            }
            (schema, false)
        }
        other => panic!("unexpected SimpleSchema value {other}"),
    }
}

fn simple_object(
    fields: &serde_json::Map<String, Value>,
    types: &BTreeMap<String, JSONSchemaProps>,
) -> JSONSchemaProps {
    let mut properties = BTreeMap::new();
    let mut required = Vec::new();
    for (name, value) in fields {
        let (schema, is_required) = simple_field(value, types);
        if is_required {
            required.push(name.clone());
        }
        properties.insert(name.clone(), schema);
    }
    JSONSchemaProps {
        properties: Some(properties),
        required: (!required.is_empty()).then_some(required),
        ..scalar("object")
    }
}

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
    let mut files = Vec::new();
    yaml_files(Path::new(CORPUS), &mut files);
    let mut rgds = 0;
    let mut checked = 0;
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable");
        // One upstream example repeats a key; the API server keeps the last one.
        let mut options = serde_saphyr::Options::default();
        options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
        let documents: Vec<Value> =
            serde_saphyr::from_multiple_with_options(&text, options).expect("valid YAML");
        for rgd in documents
            .iter()
            .filter(|d| d["kind"] == "ResourceGraphDefinition")
        {
            rgds += 1;
            let schema = &rgd["spec"]["schema"];
            let mut types = BTreeMap::new();
            if let Some(custom) = schema["types"].as_object() {
                for (name, definition) in custom {
                    let (converted, _) = simple_field(definition, &types);
                    types.insert(name.clone(), converted);
                }
            }
            let spec_fields = schema["spec"].as_object().cloned().unwrap_or_default();
            let spec = simple_object(&spec_fields, &types);
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
                        Ok(result)
                            if !standalone && !assignable(&result.output, &CelType::String) =>
                        {
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
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(rgds >= 25, "found only {rgds} RGDs");
    assert!(checked >= 100, "checked only {checked} expressions");
}
