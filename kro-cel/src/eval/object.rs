//! [`Object`]: the map representation of bound data. The `cel` crate's maps hash every key
//! with SipHash on every lookup; an object keeps its fields sorted by name and finds one by
//! comparing short strings, and is built from JSON without hashing.
//!
//! An object holds its field names, and the text of its string fields, in one buffer: building
//! one allocates twice (the buffer and the field list) whatever its size, instead of once per
//! name and twice per string value. A string field becomes a `cel` value when it is first read
//! (most of an observed Kubernetes object is never read by an expression).
//!
//! Objects live only inside kro-cel: the evaluator reads them in place, and every value handed
//! to the `cel` crate, to a library function or to a caller ([`crate::CelValue::as_cel`]) is
//! first made plain ([`to_plain`]).

use cel::objects::{Key, Map, Opaque, OptionalValue, Value};
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

/// A map with string keys, sorted by key.
pub(crate) struct Object {
    /// Every field name and string value, back to back.
    text: String,
    /// Sorted by name.
    fields: Vec<Field>,
}

struct Field {
    name: Range<usize>,
    value: Slot,
}

enum Slot {
    Value(Value),
    /// A string in the text buffer, made a value when first read.
    Text(Range<usize>, OnceLock<Value>),
}

/// A field's value as it is held (see [`Object::raw_fields`]).
pub(crate) enum Raw<'a> {
    Value(&'a Value),
    Text(&'a str),
}

impl Opaque for Object {
    fn runtime_type_name(&self) -> &str {
        "map"
    }
}

impl PartialEq for Object {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.fields().eq(other.fields())
    }
}

impl Eq for Object {}

impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields: Vec<(&str, &Value)> = self.fields().collect();
        f.debug_struct("Object").field("fields", &fields).finish()
    }
}

impl Object {
    fn slice(&self, range: &Range<usize>) -> &str {
        self.text.get(range.clone()).unwrap_or_default()
    }

    fn value_of<'s>(&'s self, slot: &'s Slot) -> &'s Value {
        match slot {
            Slot::Value(value) => value,
            Slot::Text(range, value) => {
                value.get_or_init(|| Value::String(Arc::new(self.slice(range).to_owned())))
            }
        }
    }

    /// The value of field `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        let name = name.as_bytes();
        let bytes = self.text.as_bytes();
        let field = if self.fields.len() <= 12 {
            // Kubernetes objects have few fields per level: a scan comparing lengths and first
            // bytes first beats a binary search's ordered comparisons.
            let first = name.first().copied();
            self.fields.iter().find(|f| {
                f.name.end - f.name.start == name.len()
                    && bytes.get(f.name.start).copied() == first
                    && bytes.get(f.name.clone()) == Some(name)
            })
        } else {
            self.fields
                .binary_search_by(|f| bytes.get(f.name.clone()).unwrap_or_default().cmp(name))
                .ok()
                .map(|index| &self.fields[index])
        }?;
        Some(self.value_of(&field.value))
    }

    /// The fields, sorted by name.
    pub(crate) fn fields(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.fields
            .iter()
            .map(|f| (self.slice(&f.name), self.value_of(&f.value)))
    }

    /// The fields, sorted by name, with string values not read yet as text.
    pub(crate) fn raw_fields(&self) -> impl Iterator<Item = (&str, Raw<'_>)> {
        self.fields.iter().map(|f| {
            let value = match &f.value {
                Slot::Value(value) => Raw::Value(value),
                Slot::Text(range, value) => match value.get() {
                    Some(value) => Raw::Value(value),
                    None => Raw::Text(self.slice(range)),
                },
            };
            (self.slice(&f.name), value)
        })
    }

    /// The field names, sorted.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| self.slice(&f.name))
    }

    /// The number of fields.
    pub(crate) fn len(&self) -> usize {
        self.fields.len()
    }
}

/// Builds an [`Object`]; fields must have distinct names.
pub(crate) struct ObjectBuilder {
    text: String,
    fields: Vec<Field>,
}

impl ObjectBuilder {
    /// A builder for the fields of a JSON object, sized for its names and string values.
    pub(crate) fn for_json(fields: &serde_json::Map<String, serde_json::Value>) -> Self {
        let text = fields
            .iter()
            .map(|(name, value)| {
                name.len()
                    + match value {
                        serde_json::Value::String(s) => s.len(),
                        _ => 0,
                    }
            })
            .sum();
        ObjectBuilder {
            text: String::with_capacity(text),
            fields: Vec::with_capacity(fields.len()),
        }
    }

    fn push_text(&mut self, text: &str) -> Range<usize> {
        let start = self.text.len();
        self.text.push_str(text);
        start..self.text.len()
    }

    /// Adds a field.
    pub(crate) fn value(&mut self, name: &str, value: Value) {
        let name = self.push_text(name);
        self.fields.push(Field {
            name,
            value: Slot::Value(value),
        });
    }

    /// Adds a string field.
    pub(crate) fn text(&mut self, name: &str, text: &str) {
        let name = self.push_text(name);
        let text = self.push_text(text);
        self.fields.push(Field {
            name,
            value: Slot::Text(text, OnceLock::new()),
        });
    }

    /// The object.
    pub(crate) fn build(mut self) -> Object {
        // Fields from JSON come sorted (serde_json's maps are ordered by key).
        let bytes = self.text.as_bytes();
        let name = |f: &Field| bytes.get(f.name.clone()).unwrap_or_default();
        if !self.fields.is_sorted_by(|a, b| name(a) < name(b)) {
            self.fields.sort_unstable_by(|a, b| name(a).cmp(name(b)));
        }
        Object {
            text: self.text,
            fields: self.fields,
        }
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

/// Converts JSON without a schema, as [`crate::value::json_to_cel`] does, with objects for maps.
pub(crate) fn from_json(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Array(items) => {
            Value::List(Arc::new(items.iter().map(from_json).collect()))
        }
        serde_json::Value::Object(fields) => {
            let mut object = ObjectBuilder::for_json(fields);
            for (name, value) in fields {
                match value {
                    serde_json::Value::String(text) => object.text(name, text),
                    other => object.value(name, from_json(other)),
                }
            }
            object_value(object.build())
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
                    .fields()
                    .map(|(k, v)| {
                        (
                            Key::String(Arc::new(k.to_owned())),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(json: &serde_json::Value) -> Value {
        from_json(json)
    }

    #[test]
    fn strings_read_or_not_are_the_same_value() {
        let data = json!({"b": "two", "a": 1, "c": ["x"], "d": {"e": "f"}});
        let (read, unread) = (object(&data), object(&data));
        let object = as_object(&read).expect("an object");
        assert_eq!(
            object.get("b"),
            Some(&Value::String(Arc::new("two".into())))
        );
        assert_eq!(read, unread);
        assert_eq!(format!("{read:?}"), format!("{unread:?}"));
        for value in [&read, &unread] {
            assert_eq!(
                crate::value::cel_to_json(value).expect("converts"),
                Some(data.clone())
            );
        }
        assert_ne!(
            read,
            self::object(&json!({"b": "three", "a": 1, "c": ["x"], "d": {"e": "f"}}))
        );
    }

    #[test]
    fn debug_shows_the_fields_in_order() {
        let value = object(&json!({"b": "two", "a": 1}));
        let object = as_object(&value).expect("an object");
        assert_eq!(
            format!("{object:?}"),
            r#"Object { fields: [("a", Int(1)), ("b", String("two"))] }"#
        );
    }

    #[test]
    fn finds_fields_in_small_and_large_objects() {
        for count in [3, 12, 13, 40] {
            let fields: serde_json::Map<String, serde_json::Value> = (0..count)
                .map(|i| (format!("field{i}"), json!(format!("value{i}"))))
                .collect();
            let value = object(&serde_json::Value::Object(fields));
            let object = as_object(&value).expect("an object");
            assert_eq!(object.len(), count);
            for i in 0..count {
                assert_eq!(
                    object.get(&format!("field{i}")),
                    Some(&Value::String(Arc::new(format!("value{i}"))))
                );
            }
            assert_eq!(object.get("field"), None);
            assert_eq!(object.get("zzz"), None);
            assert!(object.names().is_sorted());
        }
    }

    #[test]
    fn a_builder_sorts_its_fields() {
        let mut builder = ObjectBuilder {
            text: String::new(),
            fields: Vec::new(),
        };
        builder.text("z", "last");
        builder.value("a", Value::Int(1));
        builder.text("m", "middle");
        let object = builder.build();
        let names: Vec<&str> = object.names().collect();
        assert_eq!(names, ["a", "m", "z"]);
        assert_eq!(
            object.get("m"),
            Some(&Value::String(Arc::new("middle".into())))
        );
    }
}
