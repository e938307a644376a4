//! The normalized spec hash that names GraphRevisions: FNV-64a (hex) of a canonical JSON form of
//! the RGD spec in which semantically equal specs coincide.
//!
//! Normalization: `group` defaults to `kro.run` and `scope` to `Namespaced`; absent, null and
//! empty lists or maps of the RGD's own fields are the same; resources are sorted by id;
//! `readyWhen` and `includeWhen` are sorted (they are AND-ed); `forEach` keeps its order (it is
//! the expansion order). Templates and schema maps are hashed verbatim, with keys sorted.

use serde_json::{Map, Value};

use crate::api::ResourceGraphDefinitionSpec;

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
    let mut text = String::new();
    write_canonical(&normalized(spec), &mut text);
    format!("{:016x}", fnv64a(text.as_bytes()))
}

/// The normalized JSON form of `spec` that [`spec_hash`] hashes.
pub fn normalized(spec: &ResourceGraphDefinitionSpec) -> Value {
    let schema = &spec.schema;
    let mut schema_json = Map::new();
    schema_json.insert("apiVersion".into(), schema.api_version.clone().into());
    schema_json.insert("kind".into(), schema.kind.clone().into());
    schema_json.insert("group".into(), schema.group_or_default().into());
    schema_json.insert("scope".into(), schema.scope_or_default().as_str().into());
    for (key, value) in [
        ("spec", &schema.spec),
        ("types", &schema.types),
        ("status", &schema.status),
    ] {
        insert_non_empty(&mut schema_json, key, value.clone().unwrap_or(Value::Null));
    }
    insert_non_empty(
        &mut schema_json,
        "additionalPrinterColumns",
        serde_json::to_value(&schema.additional_printer_columns).unwrap_or(Value::Null),
    );
    insert_non_empty(
        &mut schema_json,
        "shortNames",
        schema.short_names.clone().into(),
    );
    insert_non_empty(
        &mut schema_json,
        "categories",
        schema.categories.clone().into(),
    );
    if let Some(metadata) = &schema.metadata {
        let mut metadata_json = Map::new();
        insert_non_empty(
            &mut metadata_json,
            "labels",
            serde_json::to_value(&metadata.labels).unwrap_or(Value::Null),
        );
        insert_non_empty(
            &mut metadata_json,
            "annotations",
            serde_json::to_value(&metadata.annotations).unwrap_or(Value::Null),
        );
        insert_non_empty(&mut schema_json, "metadata", Value::Object(metadata_json));
    }

    let mut resources: Vec<&crate::api::Resource> = spec.resources.iter().collect();
    resources.sort_by(|a, b| a.id.cmp(&b.id));
    let resources: Vec<Value> = resources
        .into_iter()
        .map(|resource| {
            let mut json = Map::new();
            json.insert("id".into(), resource.id.clone().into());
            insert_non_empty(
                &mut json,
                "template",
                resource.template.clone().unwrap_or(Value::Null),
            );
            if let Some(external) = &resource.external_ref {
                insert_non_empty(
                    &mut json,
                    "externalRef",
                    serde_json::to_value(external).unwrap_or(Value::Null),
                );
            }
            let sorted = |list: &[String]| {
                let mut list = list.to_vec();
                list.sort();
                Value::from(list)
            };
            insert_non_empty(&mut json, "readyWhen", sorted(&resource.ready_when));
            insert_non_empty(&mut json, "includeWhen", sorted(&resource.include_when));
            insert_non_empty(
                &mut json,
                "forEach",
                serde_json::to_value(&resource.for_each).unwrap_or(Value::Null),
            );
            Value::Object(json)
        })
        .collect();

    let mut root = Map::new();
    root.insert("schema".into(), Value::Object(schema_json));
    insert_non_empty(&mut root, "resources", Value::Array(resources));
    Value::Object(root)
}

fn insert_non_empty(map: &mut Map<String, Value>, key: &str, value: Value) {
    let empty = match &value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.is_empty(),
        _ => false,
    };
    if !empty {
        map.insert(key.to_owned(), value);
    }
}

/// Compact JSON with object keys sorted, whatever map order serde_json was built with.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(child) = map.get(key) {
                    write_canonical(child, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
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
