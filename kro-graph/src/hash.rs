//! The normalized spec hash that names GraphRevisions: FNV-64a (hex) of the JSON encoding of the
//! normalized RGD spec, written the way upstream's Go `encoding/json` writes its structs.
//!
//! Normalization: `group` defaults to `kro.run` and `scope` to `Namespaced`; absent, null and
//! empty lists or maps are the same; resources are sorted by id; `readyWhen` and `includeWhen`
//! are sorted (they are AND-ed); `forEach` keeps its order (it is the expansion order); raw
//! extensions (`schema.spec`, `types`, `status`, templates, external selectors) are
//! canonicalised as a Go decode/encode round trip makes them: keys sorted, numbers as float64;
//! an absent one is `null`, but `{}` stays `{}` (a Go `RawExtension` keeps its bytes).
//!
//! Encoding, as Go's `encoding/json` writes it: no spaces; struct fields in declaration order,
//! `omitempty` fields dropped when empty; map keys sorted; `<`, `>`, `&`, U+2028 and U+2029
//! escaped as `\u003c`, `\u003e`, `\u0026`, `\u2028`, `\u2029`; float64 numbers in shortest form,
//! with an exponent (`1e+21`, `1e-7`) outside `[1e-6, 1e21)`. An absent raw extension encodes as
//! `null` (it is a struct, which `omitempty` never drops).
//!
//! Field order and `omitempty`, from upstream v0.9.4's Go types (`api/v1alpha1`); the hash is
//! checked against upstream's own Go code in CI (`scripts/upstream-spec-hash.sh`):
//! - spec: `schema`, `resources`
//! - schema: `kind`, `apiVersion`, `group`, `spec`, `types`, `status`, `scope`,
//!   `additionalPrinterColumns`, `shortNames`, `categories`, `metadata` (a pointer: written,
//!   possibly as `{}`, whenever the RGD has it)
//! - resource: `id`, `template`, `externalRef`, `readyWhen`, `includeWhen`, `forEach`
//! - externalRef: `apiVersion`, `kind`, `metadata{name, namespace, selector}`; the selector is a
//!   raw extension, so it is always written (`null` when absent)
//! - printer column: `name`, `type`, `format`, `description`, `priority`, `jsonPath`
//!   (Kubernetes' `CustomResourceColumnDefinition`)

use std::fmt::Write as _;

use kro_cel::gojson::{write_float, write_string};
use serde_json::{Map, Value};

use kro_api::{
    ExternalRef, LabelSelector, PrinterColumn, Resource, ResourceGraphDefinitionSpec, Schema,
};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, 64 bits.
pub fn fnv64a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
    })
}

/// The normalized spec hash: 16 lowercase hex digits.
pub fn spec_hash(spec: &ResourceGraphDefinitionSpec) -> String {
    format!("{:016x}", fnv64a(canonical_json(spec).as_bytes()))
}

/// The exact text [`spec_hash`] hashes: the normalized spec in Go's JSON encoding.
pub fn canonical_json(spec: &ResourceGraphDefinitionSpec) -> String {
    let mut out = String::new();
    write_go(&spec_value(spec), &mut out);
    out
}

/// The normalized spec as a JSON value. Its content equals [`canonical_json`]'s, but
/// `serde_json` maps keep their keys sorted, so the field order differs.
pub fn normalized(spec: &ResourceGraphDefinitionSpec) -> Value {
    to_json(&spec_value(spec))
}

/// A JSON value whose objects keep the order they were built in (Go struct field order).
enum GoValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    List(Vec<GoValue>),
    Object(Vec<(&'static str, GoValue)>),
    /// A Go map: keys written sorted (a `BTreeMap` or a sorted `serde_json` map).
    Map(Vec<(String, GoValue)>),
}

/// Builds a Go struct: fields in order, `omitempty` ones dropped when empty.
#[derive(Default)]
struct Fields(Vec<(&'static str, GoValue)>);

impl Fields {
    fn always(mut self, name: &'static str, value: GoValue) -> Self {
        self.0.push((name, value));
        self
    }

    fn omit_empty(self, name: &'static str, value: GoValue) -> Self {
        let empty = match &value {
            GoValue::Null => true,
            GoValue::Bool(b) => !b,
            GoValue::Int(i) => *i == 0,
            GoValue::Float(f) => *f == 0.0,
            GoValue::String(s) => s.is_empty(),
            GoValue::List(items) => items.is_empty(),
            GoValue::Map(entries) => entries.is_empty(),
            // A struct (or a pointer to one) is never empty for `omitempty`.
            GoValue::Object(_) => false,
        };
        if empty {
            self
        } else {
            self.always(name, value)
        }
    }

    fn build(self) -> GoValue {
        GoValue::Object(self.0)
    }
}

fn string(value: &str) -> GoValue {
    GoValue::String(value.to_owned())
}

fn strings(values: &[String]) -> GoValue {
    GoValue::List(values.iter().map(|v| string(v)).collect())
}

fn sorted_strings(values: &[String]) -> GoValue {
    let mut sorted = values.to_vec();
    sorted.sort();
    strings(&sorted)
}

fn string_map<'a>(entries: impl IntoIterator<Item = (&'a String, &'a String)>) -> GoValue {
    let mut entries: Vec<(String, GoValue)> = entries
        .into_iter()
        .map(|(k, v)| (k.clone(), string(v)))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    GoValue::Map(entries)
}

/// A raw extension after a Go decode/encode round trip; `null` when absent or null.
fn raw_extension(value: Option<&Value>) -> GoValue {
    match value {
        None | Some(Value::Null) => GoValue::Null,
        Some(value) => decoded(value),
    }
}

/// `value` as Go decodes it into `interface{}`: every number a float64, maps unordered.
fn decoded(value: &Value) -> GoValue {
    match value {
        Value::Null => GoValue::Null,
        Value::Bool(b) => GoValue::Bool(*b),
        Value::Number(n) => GoValue::Float(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => GoValue::String(s.clone()),
        Value::Array(items) => GoValue::List(items.iter().map(decoded).collect()),
        Value::Object(map) => {
            let mut entries: Vec<(String, GoValue)> =
                map.iter().map(|(k, v)| (k.clone(), decoded(v))).collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            GoValue::Map(entries)
        }
    }
}

fn spec_value(spec: &ResourceGraphDefinitionSpec) -> GoValue {
    let mut resources: Vec<&Resource> = spec.resources.iter().collect();
    resources.sort_by(|a, b| a.id.cmp(&b.id));
    Fields::default()
        .always("schema", schema_value(&spec.schema))
        .omit_empty(
            "resources",
            GoValue::List(resources.into_iter().map(resource_value).collect()),
        )
        .build()
}

fn schema_value(schema: &Schema) -> GoValue {
    let group = match schema.group.as_deref() {
        None | Some("") => kro_api::RGD_GROUP,
        Some(group) => group,
    };
    let metadata = schema.metadata.as_ref().map_or(GoValue::Null, |metadata| {
        Fields::default()
            .omit_empty("labels", string_map(&metadata.labels))
            .omit_empty("annotations", string_map(&metadata.annotations))
            .build()
    });
    Fields::default()
        .omit_empty("kind", string(&schema.kind))
        .omit_empty("apiVersion", string(&schema.api_version))
        .omit_empty("group", string(group))
        .always("spec", raw_extension(schema.spec.as_ref()))
        .always("types", raw_extension(schema.types.as_ref()))
        .always("status", raw_extension(schema.status.as_ref()))
        .omit_empty("scope", string(schema.scope_or_default().as_str()))
        .omit_empty(
            "additionalPrinterColumns",
            GoValue::List(
                schema
                    .additional_printer_columns
                    .iter()
                    .map(printer_column_value)
                    .collect(),
            ),
        )
        .omit_empty("shortNames", strings(&schema.short_names))
        .omit_empty("categories", strings(&schema.categories))
        .omit_empty("metadata", metadata)
        .build()
}

fn printer_column_value(column: &PrinterColumn) -> GoValue {
    Fields::default()
        .always("name", string(&column.name))
        .always("type", string(&column.type_))
        .omit_empty(
            "format",
            string(column.format.as_deref().unwrap_or_default()),
        )
        .omit_empty(
            "description",
            string(column.description.as_deref().unwrap_or_default()),
        )
        .omit_empty(
            "priority",
            GoValue::Int(column.priority.unwrap_or(0).into()),
        )
        .always("jsonPath", string(&column.json_path))
        .build()
}

fn resource_value(resource: &Resource) -> GoValue {
    Fields::default()
        .omit_empty("id", string(&resource.id))
        .always("template", raw_extension(resource.template.as_ref()))
        .omit_empty(
            "externalRef",
            resource
                .external_ref
                .as_ref()
                .map_or(GoValue::Null, external_ref_value),
        )
        .omit_empty("readyWhen", sorted_strings(&resource.ready_when))
        .omit_empty("includeWhen", sorted_strings(&resource.include_when))
        .omit_empty(
            "forEach",
            GoValue::List(resource.for_each.iter().map(string_map).collect()),
        )
        .build()
}

fn external_ref_value(external: &ExternalRef) -> GoValue {
    let metadata = &external.metadata;
    Fields::default()
        .always("apiVersion", string(&external.api_version))
        .always("kind", string(&external.kind))
        .always(
            "metadata",
            Fields::default()
                .omit_empty("name", string(metadata.name.as_deref().unwrap_or_default()))
                .omit_empty(
                    "namespace",
                    string(metadata.namespace.as_deref().unwrap_or_default()),
                )
                .always(
                    "selector",
                    metadata
                        .selector
                        .as_ref()
                        .map_or(GoValue::Null, selector_value),
                )
                .build(),
        )
        .build()
}

/// The selector as its raw extension holds it: the object as written, decoded as Go decodes it.
fn selector_value(selector: &LabelSelector) -> GoValue {
    serde_json::to_value(selector).map_or(GoValue::Null, |value| decoded(&value))
}

fn write_go(value: &GoValue, out: &mut String) {
    match value {
        GoValue::Null => out.push_str("null"),
        GoValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        GoValue::Int(i) => {
            let _ = write!(out, "{i}");
        }
        GoValue::Float(f) => write_float(*f, out),
        GoValue::String(s) => write_string(s, out),
        GoValue::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go(item, out);
            }
            out.push(']');
        }
        GoValue::Object(fields) => {
            out.push('{');
            for (i, (key, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_go(item, out);
            }
            out.push('}');
        }
        GoValue::Map(entries) => {
            out.push('{');
            for (i, (key, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_go(item, out);
            }
            out.push('}');
        }
    }
}

fn to_json(value: &GoValue) -> Value {
    match value {
        GoValue::Null => Value::Null,
        GoValue::Bool(b) => Value::Bool(*b),
        GoValue::Int(i) => Value::from(*i),
        GoValue::Float(f) => Value::from(*f),
        GoValue::String(s) => Value::String(s.clone()),
        GoValue::List(items) => Value::Array(items.iter().map(to_json).collect()),
        GoValue::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), to_json(v)))
                .collect::<Map<String, Value>>(),
        ),
        GoValue::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect::<Map<String, Value>>(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv64a_matches_the_reference_value() {
        assert_eq!(format!("{:016x}", fnv64a(b"abc")), "e71fa2190541574b");
        assert_eq!(format!("{:016x}", fnv64a(b"")), "cbf29ce484222325");
    }
}
