//! [`Object`]: the map representation of bound data. The `cel` crate's maps hash every key
//! with SipHash on every lookup; an object keeps its fields sorted by name and finds one by a
//! binary search over short string comparisons, and is built from JSON without hashing.
//!
//! Objects live only inside kro-cel: the evaluator reads them in place, and every value handed
//! to the `cel` crate, to a library function or to a caller ([`crate::CelValue::as_cel`]) is
//! first made plain ([`to_plain`]).

use cel::objects::{Key, Map, Opaque, OptionalValue, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// A map with string keys, sorted by key.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Object {
    fields: Vec<(Box<str>, Value)>,
}

impl Opaque for Object {
    fn runtime_type_name(&self) -> &str {
        "map"
    }
}

impl Object {
    /// An object of these fields, which must have distinct names.
    pub(crate) fn new(mut fields: Vec<(Box<str>, Value)>) -> Self {
        // Fields from JSON come sorted (serde_json's maps are ordered by key).
        if !fields.is_sorted_by(|a, b| a.0 < b.0) {
            fields.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        }
        Object { fields }
    }

    /// The value of field `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        // Kubernetes objects have few fields per level: a scan comparing lengths first beats
        // a binary search's ordered comparisons.
        if self.fields.len() <= 12 {
            return self
                .fields
                .iter()
                .find(|(key, _)| key.len() == name.len() && key.as_bytes() == name.as_bytes())
                .map(|(_, value)| value);
        }
        self.fields
            .binary_search_by(|(key, _)| (**key).cmp(name))
            .ok()
            .map(|index| &self.fields[index].1)
    }

    /// The fields, sorted by name.
    pub(crate) fn fields(&self) -> &[(Box<str>, Value)] {
        &self.fields
    }

    /// The number of fields.
    pub(crate) fn len(&self) -> usize {
        self.fields.len()
    }
}

/// The object `value` is, if it is one.
pub(crate) fn as_object(value: &Value) -> Option<&Object> {
    match value {
        Value::Opaque(o) => o.downcast_ref::<Object>(),
        _ => None,
    }
}

/// Wraps an object as a value.
pub(crate) fn object_value(object: Object) -> Value {
    Value::Opaque(Arc::new(object))
}

/// Converts JSON without a schema, as [`crate::json_to_cel`] does, with objects for maps.
pub(crate) fn from_json(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Array(items) => {
            Value::List(Arc::new(items.iter().map(from_json).collect()))
        }
        serde_json::Value::Object(fields) => {
            let fields = fields
                .iter()
                .map(|(k, v)| (Box::from(k.as_str()), from_json(v)))
                .collect();
            object_value(Object::new(fields))
        }
        other => crate::value::json_to_cel(other),
    }
}

/// `value` with every object inside it made a `cel` crate map; `None` when there is none.
fn plain(value: &Value) -> Option<Value> {
    match value {
        Value::List(items) => {
            let first = items.iter().position(|item| plain(item).is_some())?;
            let mut out: Vec<Value> = items[..first].to_vec();
            for item in &items[first..] {
                out.push(plain(item).unwrap_or_else(|| item.clone()));
            }
            Some(Value::List(Arc::new(out)))
        }
        Value::Map(map) => {
            map.map.values().find_map(plain)?;
            let converted: HashMap<Key, Value> = map
                .map
                .iter()
                .map(|(k, v)| (k.clone(), plain(v).unwrap_or_else(|| v.clone())))
                .collect();
            Some(Value::Map(Map {
                map: Arc::new(converted),
            }))
        }
        Value::Opaque(o) => {
            if let Some(object) = o.downcast_ref::<Object>() {
                let converted: HashMap<Key, Value> = object
                    .fields
                    .iter()
                    .map(|(k, v)| {
                        (
                            Key::String(Arc::new(k.to_string())),
                            plain(v).unwrap_or_else(|| v.clone()),
                        )
                    })
                    .collect();
                return Some(Value::Map(Map {
                    map: Arc::new(converted),
                }));
            }
            let inner = o.downcast_ref::<OptionalValue>()?.value()?;
            Some(Value::Opaque(Arc::new(OptionalValue::of(plain(inner)?))))
        }
        _ => None,
    }
}

/// `value` as the `cel` crate and the library functions know it: objects become maps.
pub(crate) fn to_plain(value: Value) -> Value {
    plain(&value).unwrap_or(value)
}
