//! Turning a `default=` marker into JSON, and checking a JSON value against a schema the way
//! the API server checks defaults.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use serde_json::Value;

use crate::error::{ErrorKind, json_kind};
use crate::markers::{compile_pattern, parse_finite, parse_go_bool};
use crate::warning::WarningKind;

/// Parses the text of a `default=` marker according to the schema's type, then checks that the
/// value satisfies the schema (type, enum, bounds, pattern, required fields) as the API server
/// does when it accepts a CRD. A repeated item in a set is only a warning: the API server accepts
/// such a CRD (it rejects the instances that get the default).
pub(crate) fn default_value(
    schema: &JSONSchemaProps,
    raw: &str,
) -> Result<(Value, Option<WarningKind>), ErrorKind> {
    let bad = |expected: String| ErrorKind::InvalidDefault {
        expected,
        value: raw.to_owned(),
    };
    let value = match schema.type_.as_deref() {
        // Strings are JSON-escaped here, unlike upstream, so a `"` cannot break the CRD.
        Some("string") => Value::String(raw.to_owned()),
        Some("integer") => match raw.trim().parse::<i64>() {
            Ok(number) => Value::from(number),
            Err(_) => return Err(bad("an integer".into())),
        },
        Some("number") => match serde_json::from_str::<Value>(raw.trim()) {
            Ok(number @ Value::Number(_)) => number,
            _ => match parse_finite(raw).and_then(serde_json::Number::from_f64) {
                Some(number) => Value::Number(number),
                None => return Err(bad("a finite number".into())),
            },
        },
        Some("boolean") => match parse_go_bool(raw.trim()) {
            Some(flag) => Value::Bool(flag),
            None => return Err(bad("`true` or `false`".into())),
        },
        Some("array") => match serde_json::from_str::<Value>(raw) {
            Ok(list @ Value::Array(_)) => list,
            _ => return Err(bad("a JSON list such as `[\"a\", \"b\"]`".into())),
        },
        Some("object") => match serde_json::from_str::<Value>(raw) {
            Ok(map @ Value::Object(_)) => map,
            _ => return Err(bad("a JSON object such as `{\"key\": \"value\"}`".into())),
        },
        _ => match serde_json::from_str::<Value>(raw) {
            Ok(value) => value,
            Err(_) => return Err(bad("a JSON value".into())),
        },
    };
    if let Err(reason) = check_value(schema, &value, "") {
        return Err(bad(format!(
            "a value that satisfies the field's schema ({reason})"
        )));
    }
    let warning =
        repeated_set_item(schema, &value).map(|item| WarningKind::DefaultRepeatsSetItem {
            item: item.to_string(),
        });
    Ok((value, warning))
}

/// The first item a `listType=set` list (at any depth of `value`) repeats.
fn repeated_set_item<'v>(schema: &JSONSchemaProps, value: &'v Value) -> Option<&'v Value> {
    match value {
        Value::Array(items) => {
            if schema.x_kubernetes_list_type.as_deref() == Some("set") {
                let repeated = items
                    .iter()
                    .enumerate()
                    .find_map(|(index, item)| items[..index].contains(item).then_some(item));
                if repeated.is_some() {
                    return repeated;
                }
            }
            let Some(JSONSchemaPropsOrArray::Schema(item_schema)) = &schema.items else {
                return None;
            };
            items
                .iter()
                .find_map(|item| repeated_set_item(item_schema, item))
        }
        Value::Object(fields) => fields.iter().find_map(|(name, field)| {
            let field_schema = schema
                .properties
                .as_ref()
                .and_then(|props| props.get(name))
                .or(match &schema.additional_properties {
                    Some(JSONSchemaPropsOrBool::Schema(value_schema)) => {
                        Some(value_schema.as_ref())
                    }
                    _ => None,
                })?;
            repeated_set_item(field_schema, field)
        }),
        _ => None,
    }
}

/// Checks `value` against `schema`; the error names the sub-path (`.a[0]`) and the violation.
pub(crate) fn check_value(schema: &JSONSchemaProps, value: &Value, at: &str) -> Result<(), String> {
    let here = if at.is_empty() {
        "the value".to_owned()
    } else {
        format!("`{at}`")
    };
    if value.is_null() {
        return if schema.nullable == Some(true) {
            Ok(())
        } else {
            Err(format!("{here} is null"))
        };
    }
    if schema.x_kubernetes_int_or_string == Some(true) {
        if !(value.is_i64() || value.is_u64() || value.is_string()) {
            return Err(format!(
                "{here} must be an integer or a string, not {}",
                json_kind(value)
            ));
        }
    } else if let Some(ty) = schema.type_.as_deref() {
        let matches = match ty {
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => true,
        };
        if !matches {
            let wanted = match ty {
                "string" => "a string",
                "integer" => "an integer",
                "number" => "a number",
                "boolean" => "a boolean",
                "array" => "a list",
                _ => "an object",
            };
            return Err(format!("{here} must be {wanted}, not {}", json_kind(value)));
        }
    }
    if let Some(allowed) = &schema.enum_
        && !allowed.iter().any(|entry| &entry.0 == value)
    {
        let list: Vec<String> = allowed.iter().map(|entry| entry.0.to_string()).collect();
        return Err(format!("{here} must be one of {}", list.join(", ")));
    }
    check_number(schema, value, &here)?;
    check_string(schema, value, &here)?;
    match value {
        Value::Array(items) => check_items(schema, items, at, &here),
        Value::Object(fields) => check_fields(schema, fields, at, &here),
        _ => Ok(()),
    }
}

fn check_number(schema: &JSONSchemaProps, value: &Value, here: &str) -> Result<(), String> {
    let Some(number) = value.as_f64() else {
        return Ok(());
    };
    if let Some(minimum) = schema.minimum
        && number < minimum
    {
        return Err(format!("{here} must be >= {minimum}"));
    }
    if let Some(maximum) = schema.maximum
        && number > maximum
    {
        return Err(format!("{here} must be <= {maximum}"));
    }
    Ok(())
}

fn check_string(schema: &JSONSchemaProps, value: &Value, here: &str) -> Result<(), String> {
    let Some(text) = value.as_str() else {
        return Ok(());
    };
    let length = i64::try_from(text.chars().count()).unwrap_or(i64::MAX);
    if let Some(min) = schema.min_length
        && length < min
    {
        return Err(format!("{here} must be at least {min} characters long"));
    }
    if let Some(max) = schema.max_length
        && length > max
    {
        return Err(format!("{here} must be at most {max} characters long"));
    }
    if let Some(pattern) = &schema.pattern
        && let Ok(regex) = compile_pattern(pattern)
        // A pattern kro-rs cannot compile is left to the API server.
        && !regex.is_match(text)
    {
        return Err(format!("{here} must match `{pattern}`"));
    }
    Ok(())
}

fn check_items(
    schema: &JSONSchemaProps,
    items: &[Value],
    at: &str,
    here: &str,
) -> Result<(), String> {
    let count = i64::try_from(items.len()).unwrap_or(i64::MAX);
    if let Some(min) = schema.min_items
        && count < min
    {
        return Err(format!("{here} must have at least {min} items"));
    }
    if let Some(max) = schema.max_items
        && count > max
    {
        return Err(format!("{here} must have at most {max} items"));
    }
    if let Some(JSONSchemaPropsOrArray::Schema(item_schema)) = &schema.items {
        for (index, item) in items.iter().enumerate() {
            check_value(item_schema, item, &format!("{at}[{index}]"))?;
        }
    }
    Ok(())
}

fn check_fields(
    schema: &JSONSchemaProps,
    fields: &serde_json::Map<String, Value>,
    at: &str,
    here: &str,
) -> Result<(), String> {
    for name in schema.required.iter().flatten() {
        if !fields.contains_key(name) {
            return Err(format!("{here} is missing the required field `{name}`"));
        }
    }
    for (name, field) in fields {
        let field_at = format!("{at}.{name}");
        if let Some(field_schema) = schema.properties.as_ref().and_then(|props| props.get(name)) {
            check_value(field_schema, field, &field_at)?;
        } else if let Some(JSONSchemaPropsOrBool::Schema(value_schema)) =
            &schema.additional_properties
        {
            check_value(value_schema, field, &field_at)?;
        } else if schema.x_kubernetes_preserve_unknown_fields != Some(true)
            && !matches!(
                schema.additional_properties,
                Some(JSONSchemaPropsOrBool::Bool(true))
            )
        {
            return Err(format!("`{field_at}` is not a field of the schema"));
        }
    }
    Ok(())
}
