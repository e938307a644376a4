//! Conversions between JSON and CEL values.
//!
//! JSON to CEL: integers become `int` (never `uint`, which would break `x + 1`); with a schema,
//! `format: byte` strings become bytes, `format: date-time` and `date` strings timestamps,
//! `format: duration` strings durations (as the type checker types them), and whole floats are
//! accepted for `integer` fields. CEL to JSON: timestamps become RFC 3339 strings in
//! UTC with a `Z`, durations Go duration strings (`1h30m0s`), an absent optional `null`, map keys
//! are written sorted, and bytes are rejected (the user must encode them explicitly).

use crate::error::ConversionError;
use crate::eval::object::{ObjectBuilder, Raw, from_json, object_value};
use crate::library::omit::is_omit;
use base64::Engine as _;
use cel::objects::{Key, Map, OptionalValue, Value};
use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use std::collections::HashMap;
use std::sync::Arc;

/// Converts JSON to a CEL value without a schema: numbers that are integers become `int`,
/// other numbers `double`; strings stay strings.
pub fn json_to_cel(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => number_without_schema(n),
        serde_json::Value::String(s) => Value::String(Arc::new(s.clone())),
        serde_json::Value::Array(items) => {
            Value::List(Arc::new(items.iter().map(json_to_cel).collect()))
        }
        serde_json::Value::Object(fields) => {
            let map: HashMap<Key, Value> = fields
                .iter()
                .map(|(k, v)| (Key::String(Arc::new(k.clone())), json_to_cel(v)))
                .collect();
            Value::Map(Map { map: Arc::new(map) })
        }
    }
}

fn number_without_schema(n: &serde_json::Number) -> Value {
    if let Some(i) = n.as_i64() {
        Value::Int(i)
    } else {
        // Integers above i64::MAX have no `int` form; a double keeps their magnitude.
        Value::Float(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// Converts JSON to a CEL value following an OpenAPI schema (see the module documentation).
///
/// JSON objects become kro-cel's own maps (their fields sorted by name; see the crate README,
/// "Evaluation"), which kro-cel's evaluator reads without hashing. Hand the value to kro-cel
/// ([`crate::CelValue::from_cel`], [`crate::Activation::bind_value`]);
/// [`crate::CelValue::as_cel`] gives it with the `cel` crate's maps.
///
/// # Errors
/// A value that contradicts its schema: a fractional number in an `integer` field, invalid
/// base64 in a `format: byte` field, an invalid timestamp in a `format: date-time` field.
pub fn json_to_cel_with_schema(
    json: &serde_json::Value,
    schema: &JSONSchemaProps,
) -> Result<Value, ConversionError> {
    convert_with_schema(json, Some(schema), &Location::Root)
}

/// Where a value is, rendered only for an error message.
enum Location<'a> {
    Root,
    Field(&'a Location<'a>, &'a str),
    Index(&'a Location<'a>, usize),
}

impl Location<'_> {
    fn render(&self) -> String {
        match self {
            Location::Root => String::new(),
            Location::Field(parent, name) => {
                let mut path = parent.render();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(name);
                path
            }
            Location::Index(parent, index) => format!("{}[{index}]", parent.render()),
        }
    }
}

fn convert_with_schema(
    json: &serde_json::Value,
    schema: Option<&JSONSchemaProps>,
    at: &Location<'_>,
) -> Result<Value, ConversionError> {
    let Some(schema) = schema else {
        return Ok(from_json(json));
    };
    let error = |message: String| ConversionError {
        path: at.render(),
        message,
    };
    match json {
        serde_json::Value::Number(n) if schema.type_.as_deref() == Some("integer") => {
            if let Some(i) = n.as_i64() {
                return Ok(Value::Int(i));
            }
            let f = n.as_f64().unwrap_or(f64::NAN);
            // Whole doubles are accepted where the schema says integer: clients that went through
            // a float64 (JavaScript, Go's interface{}) send `3.0` for 3.
            if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 {
                Ok(Value::Int(f as i64))
            } else {
                Err(error(format!("expected an integer, found {n}")))
            }
        }
        serde_json::Value::Number(n) if schema.type_.as_deref() == Some("number") => {
            Ok(Value::Float(n.as_f64().unwrap_or(f64::NAN)))
        }
        serde_json::Value::String(s) if schema.x_kubernetes_int_or_string != Some(true) => {
            convert_string(s, schema.format.as_deref()).map_err(error)
        }
        serde_json::Value::Array(items) => {
            let item_schema = match &schema.items {
                Some(JSONSchemaPropsOrArray::Schema(s)) => Some(s.as_ref()),
                Some(JSONSchemaPropsOrArray::Schemas(list)) => list.first(),
                None => None,
            };
            let mut out = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                out.push(convert_with_schema(
                    item,
                    item_schema,
                    &Location::Index(at, index),
                )?);
            }
            Ok(Value::List(Arc::new(out)))
        }
        serde_json::Value::Object(fields) => {
            let additional = match &schema.additional_properties {
                Some(JSONSchemaPropsOrBool::Schema(s)) => Some(s.as_ref()),
                _ => None,
            };
            let mut object = ObjectBuilder::for_json(fields);
            for (name, field) in fields {
                let field_schema = schema
                    .properties
                    .as_ref()
                    .and_then(|p| p.get(name))
                    .or(additional);
                match field {
                    serde_json::Value::String(text) if plain_string(field_schema) => {
                        object.text(name, text);
                    }
                    _ => object.value(
                        name,
                        convert_with_schema(field, field_schema, &Location::Field(at, name))?,
                    ),
                }
            }
            Ok(object_value(object.build()))
        }
        other => Ok(json_to_cel(other)),
    }
}

/// Whether a string under `schema` converts to a plain string (see [`convert_with_schema`]).
fn plain_string(schema: Option<&JSONSchemaProps>) -> bool {
    schema.is_none_or(|schema| {
        schema.x_kubernetes_int_or_string == Some(true)
            || !matches!(
                schema.format.as_deref(),
                Some("byte" | "date-time" | "date" | "duration")
            )
    })
}

/// A string under its schema `format`.
fn convert_string(s: &str, format: Option<&str>) -> Result<Value, String> {
    match format {
        Some("byte") => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map(|b| Value::Bytes(Arc::new(b)))
            .map_err(|e| format!("expected base64 (format: byte): {e}")),
        Some("date-time") => DateTime::parse_from_rfc3339(s)
            .map(Value::Timestamp)
            .map_err(|e| format!("expected an RFC 3339 timestamp (format: date-time): {e}")),
        Some("date") => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(|date| Value::Timestamp(date.and_time(chrono::NaiveTime::MIN).and_utc().into()))
            .map_err(|e| format!("expected a full-date such as 2024-01-31 (format: date): {e}")),
        Some("duration") => parse_go_duration(s).map(Value::Duration).ok_or_else(|| {
            format!("expected a duration such as 1h30m or 300ms (format: duration), found {s:?}")
        }),
        _ => Ok(Value::String(Arc::new(s.to_owned()))),
    }
}

/// How bytes are written when converting CEL to JSON.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum BytesPolicy {
    /// Bytes are an error: kro requires templates to encode them explicitly.
    Reject,
    /// Bytes become standard base64, as Go's `encoding/json` writes `[]byte` (used by
    /// `json.marshal`).
    Base64,
}

/// Converts a CEL value to JSON (see the module documentation). `omit()` sentinels inside maps
/// and lists drop their key or element; a top-level `omit()` returns `Ok(None)`.
///
/// # Errors
/// Bytes, non-finite doubles, `uint`s above `i64::MAX`, and values without a JSON form (types,
/// Kubernetes opaque values such as quantities).
pub fn cel_to_json(value: &Value) -> Result<Option<serde_json::Value>, ConversionError> {
    to_json(value, BytesPolicy::Reject, &mut String::new())
}

pub(crate) fn to_json(
    value: &Value,
    bytes: BytesPolicy,
    path: &mut String,
) -> Result<Option<serde_json::Value>, ConversionError> {
    let json = match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::UInt(u) => match i64::try_from(*u) {
            Ok(i) => serde_json::Value::from(i),
            Err(_) => {
                return Err(conversion_error(
                    path,
                    format!("uint {u} does not fit a 64-bit integer"),
                ));
            }
        },
        Value::Float(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => serde_json::Value::Number(n),
            None => {
                return Err(conversion_error(
                    path,
                    format!("double {f} has no JSON form"),
                ));
            }
        },
        Value::String(s) => serde_json::Value::String(s.as_str().to_owned()),
        Value::Bytes(b) => match bytes {
            BytesPolicy::Base64 => serde_json::Value::String(
                base64::engine::general_purpose::STANDARD.encode(b.as_slice()),
            ),
            BytesPolicy::Reject => {
                return Err(conversion_error(
                    path,
                    "bytes cannot be written to JSON: encode it explicitly, for example with \
                     base64.encode() or string()"
                        .to_owned(),
                ));
            }
        },
        Value::Timestamp(t) => serde_json::Value::String(rfc3339(t)),
        Value::Duration(d) => serde_json::Value::String(go_duration(d)),
        Value::List(items) => list_to_json(items, bytes, path)?,
        Value::Map(map) => {
            let mut entries: Vec<(String, &Value)> =
                map.map.iter().map(|(k, v)| (key_string(k), v)).collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let base = path.len();
            let mut out = serde_json::Map::new();
            for (name, item) in entries {
                if let Some(json) = field_to_json(&name, item, bytes, path, base)? {
                    out.insert(name, json);
                }
            }
            serde_json::Value::Object(out)
        }
        Value::Opaque(_) => return opaque_to_json(value, bytes, path),
        Value::Struct(_) | Value::Function(..) => {
            return Err(conversion_error(
                path,
                format!("a {:?} value has no JSON form", value.type_of()),
            ));
        }
    };
    Ok(Some(json))
}

/// The error at `path` (`<result>` for the value itself).
fn conversion_error(path: &str, message: String) -> ConversionError {
    ConversionError {
        path: if path.is_empty() {
            "<result>".to_owned()
        } else {
            path.to_owned()
        },
        message,
    }
}

fn list_to_json(
    items: &[Value],
    bytes: BytesPolicy,
    path: &mut String,
) -> Result<serde_json::Value, ConversionError> {
    let base = path.len();
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        path.push_str(&format!("[{index}]"));
        if let Some(json) = to_json(item, bytes, path)? {
            out.push(json);
        }
        path.truncate(base);
    }
    Ok(serde_json::Value::Array(out))
}

/// One field of a map or object, with `name` appended to `path` while it converts (`path` is
/// `base` long again afterwards).
fn field_to_json(
    name: &str,
    item: &Value,
    bytes: BytesPolicy,
    path: &mut String,
    base: usize,
) -> Result<Option<serde_json::Value>, ConversionError> {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(name);
    let json = to_json(item, bytes, path);
    path.truncate(base);
    json
}

/// kro's opaque values: `omit()` (no value), objects read from the cluster, optionals; any
/// other opaque value has no JSON form.
fn opaque_to_json(
    value: &Value,
    bytes: BytesPolicy,
    path: &mut String,
) -> Result<Option<serde_json::Value>, ConversionError> {
    if is_omit(value) {
        return Ok(None);
    }
    if let Some(object) = crate::eval::object::as_object(value) {
        let base = path.len();
        let mut out = serde_json::Map::new();
        for (name, item) in object.raw_fields() {
            let json = match item {
                Raw::Text(text) => Some(serde_json::Value::String(text.to_owned())),
                Raw::Value(item) => field_to_json(name, item, bytes, path, base)?,
            };
            if let Some(json) = json {
                out.insert(name.to_owned(), json);
            }
        }
        return Ok(Some(serde_json::Value::Object(out)));
    }
    let Value::Opaque(opaque) = value else {
        return Err(conversion_error(path, "not an opaque value".to_owned()));
    };
    if let Some(optional) = opaque.downcast_ref::<OptionalValue>() {
        return match optional.value() {
            Some(inner) => to_json(inner, bytes, path),
            None => Ok(Some(serde_json::Value::Null)),
        };
    }
    Err(conversion_error(
        path,
        format!(
            "a value of type {} has no JSON form: convert it first (for example with \
             string())",
            opaque.runtime_type_name()
        ),
    ))
}

/// A map key as a JSON object key. Only string keys appear in Kubernetes objects; other key
/// types are written in their CEL literal form so the output stays deterministic.
fn key_string(key: &Key) -> String {
    match key {
        Key::String(s) => s.as_str().to_owned(),
        Key::Int(i) => i.to_string(),
        Key::Uint(u) => u.to_string(),
        Key::Bool(b) => b.to_string(),
    }
}

/// RFC 3339 in UTC with a `Z`, as Go's `time.RFC3339` writes it (no fractional seconds).
pub(crate) fn rfc3339(t: &DateTime<chrono::FixedOffset>) -> String {
    t.with_timezone(&Utc)
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A duration as Go's `time.ParseDuration` reads it: an optional sign, then one or more decimal
/// numbers each followed by a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), or a bare `0`.
pub(crate) fn parse_go_duration(text: &str) -> Option<chrono::Duration> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Some(chrono::Duration::zero());
    }
    if rest.is_empty() {
        return None;
    }
    let mut nanos: i128 = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let unit_nanos: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() {
            return None;
        }
        let whole: i128 = if whole.is_empty() {
            0
        } else {
            whole.parse().ok()?
        };
        nanos = nanos.checked_add(whole.checked_mul(unit_nanos)?)?;
        let mut scale = unit_nanos;
        for digit in fraction.chars() {
            scale /= 10;
            nanos += i128::from(digit.to_digit(10)?) * scale;
        }
        rest = after;
    }
    let nanos = i64::try_from(if negative { -nanos } else { nanos }).ok()?;
    Some(chrono::Duration::nanoseconds(nanos))
}

/// A duration as Go's `time.Duration.String()` writes it: `1h30m0s`, `1.5s`, `300ms`, `0s`.
pub(crate) fn go_duration(d: &chrono::Duration) -> String {
    let nanos: i128 = i128::from(d.num_seconds()) * 1_000_000_000 + i128::from(d.subsec_nanos());
    if nanos == 0 {
        return "0s".to_owned();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    let with_fraction = |whole: u128, frac: u128, digits: usize| {
        if frac == 0 {
            whole.to_string()
        } else {
            let f = format!("{frac:0digits$}");
            format!("{whole}.{}", f.trim_end_matches('0'))
        }
    };
    if u < 1_000_000_000 {
        let (unit, div, digits) = if u < 1_000 {
            ("ns", 1, 0)
        } else if u < 1_000_000 {
            ("µs", 1_000, 3)
        } else {
            ("ms", 1_000_000, 6)
        };
        return format!("{sign}{}{unit}", with_fraction(u / div, u % div, digits));
    }
    let secs = u / 1_000_000_000;
    let frac = u % 1_000_000_000;
    let (hours, minutes, seconds) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let mut out = sign.to_owned();
    if hours > 0 {
        out.push_str(&format!("{hours}h{minutes}m"));
    } else if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&with_fraction(seconds, frac, 9));
    out.push('s');
    out
}
