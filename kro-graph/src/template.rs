//! Walking a template: literal values checked against the resource's schema, and every string
//! with `${}` collected as an expression slot at its field path.

use std::fmt;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use kro_cel::{CelType, Segment};
use serde_json::Value;

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathSegment {
    /// A map key or object field.
    Field(String),
    /// A list index.
    Index(usize),
}

/// A path to a field inside an object, such as `spec.containers[0].image`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldPath(Vec<PathSegment>);

impl FieldPath {
    /// The empty path (the object itself).
    pub fn root() -> Self {
        Self::default()
    }

    /// The steps, outermost first.
    pub fn segments(&self) -> &[PathSegment] {
        &self.0
    }

    /// This path extended by a field.
    pub fn field(&self, name: &str) -> Self {
        let mut segments = self.0.clone();
        segments.push(PathSegment::Field(name.to_owned()));
        Self(segments)
    }

    /// This path extended by an index.
    pub fn index(&self, index: usize) -> Self {
        let mut segments = self.0.clone();
        segments.push(PathSegment::Index(index));
        Self(segments)
    }

    /// Whether this path is exactly the given field names.
    pub fn is_fields(&self, names: &[&str]) -> bool {
        self.0.len() == names.len()
            && self
                .0
                .iter()
                .zip(names)
                .all(|(segment, name)| matches!(segment, PathSegment::Field(f) if f == name))
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                PathSegment::Field(name) if i == 0 => f.write_str(name)?,
                PathSegment::Field(name) => write!(f, ".{name}")?,
                PathSegment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// A string holding `${}` expressions, found at `path`.
#[derive(Clone, Debug)]
pub(crate) struct RawSlot {
    pub path: FieldPath,
    pub source: String,
    pub segments: Vec<Segment>,
}

impl RawSlot {
    pub fn is_standalone(&self) -> bool {
        matches!(self.segments.as_slice(), [Segment::Expression { .. }])
    }

    pub fn expressions(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Expression { source, .. } => Some(source.as_str()),
            Segment::Literal(_) => None,
        })
    }
}

/// A problem found while walking, at a path.
pub(crate) struct WalkProblem {
    pub path: FieldPath,
    pub message: String,
}

/// Collects the expression slots of `value` and checks its literals against `schema` (`None`:
/// unchecked). Map keys are never expressions.
pub(crate) fn walk(
    value: &Value,
    schema: Option<&JSONSchemaProps>,
    path: &FieldPath,
    slots: &mut Vec<RawSlot>,
    problems: &mut Vec<WalkProblem>,
) {
    let schema = schema.filter(|s| !is_unchecked(s));
    match value {
        Value::String(text) => match kro_cel::scan(text) {
            Err(error) => problems.push(WalkProblem {
                path: path.clone(),
                message: kro_api::ErrorChain::new(&error).to_string(),
            }),
            Ok(segments)
                if segments
                    .iter()
                    .any(|s| matches!(s, Segment::Expression { .. })) =>
            {
                slots.push(RawSlot {
                    path: path.clone(),
                    source: text.clone(),
                    segments,
                });
            }
            Ok(_) => expect_kind(schema, "string", path, problems),
        },
        Value::Object(map) => {
            expect_kind(schema, "object", path, problems);
            for (key, child) in map {
                let child_path = path.field(key);
                let child_schema = match schema {
                    None => None,
                    Some(s) => match child_schema(s, key) {
                        ChildSchema::Known(c) => Some(c),
                        ChildSchema::Unchecked => None,
                        ChildSchema::Unknown => {
                            problems.push(WalkProblem {
                                message: format!("schema not found for field {child_path}"),
                                path: child_path,
                            });
                            continue;
                        }
                    },
                };
                walk(child, child_schema, &child_path, slots, problems);
            }
        }
        Value::Array(items) => {
            expect_kind(schema, "array", path, problems);
            let item_schema = schema.and_then(|s| match &s.items {
                Some(JSONSchemaPropsOrArray::Schema(items)) => Some(items.as_ref()),
                _ => None,
            });
            for (index, item) in items.iter().enumerate() {
                walk(item, item_schema, &path.index(index), slots, problems);
            }
        }
        Value::Bool(_) => expect_kind(schema, "boolean", path, problems),
        Value::Number(number) => {
            let kind = if number.is_i64() || number.is_u64() {
                "integer"
            } else {
                "number"
            };
            expect_kind(schema, kind, path, problems);
        }
        Value::Null => {}
    }
}

/// Subtrees whose content the schema does not describe.
fn is_unchecked(schema: &JSONSchemaProps) -> bool {
    schema.x_kubernetes_preserve_unknown_fields == Some(true) && schema.properties.is_none()
        || schema.type_.is_none()
            && schema.x_kubernetes_int_or_string != Some(true)
            && schema.properties.is_none()
            && schema.items.is_none()
            && schema.additional_properties.is_none()
        || schema.any_of.is_some()
        || schema.one_of.is_some()
}

enum ChildSchema<'a> {
    Known(&'a JSONSchemaProps),
    Unchecked,
    Unknown,
}

fn child_schema<'a>(schema: &'a JSONSchemaProps, key: &str) -> ChildSchema<'a> {
    if let Some(child) = schema.properties.as_ref().and_then(|p| p.get(key)) {
        return ChildSchema::Known(child);
    }
    match &schema.additional_properties {
        Some(JSONSchemaPropsOrBool::Schema(values)) => return ChildSchema::Known(values),
        Some(JSONSchemaPropsOrBool::Bool(true)) => return ChildSchema::Unchecked,
        _ => {}
    }
    if schema.x_kubernetes_preserve_unknown_fields == Some(true)
        || schema.properties.as_ref().is_none_or(|p| p.is_empty())
    {
        ChildSchema::Unchecked
    } else {
        ChildSchema::Unknown
    }
}

fn expect_kind(
    schema: Option<&JSONSchemaProps>,
    found: &str,
    path: &FieldPath,
    problems: &mut Vec<WalkProblem>,
) {
    let Some(schema) = schema else {
        return;
    };
    let fits = if schema.x_kubernetes_int_or_string == Some(true) {
        matches!(found, "string" | "integer")
    } else {
        match schema.type_.as_deref() {
            None => true,
            Some("number") => matches!(found, "number" | "integer"),
            Some(expected) => expected == found,
        }
    };
    if !fits {
        let expected = if schema.x_kubernetes_int_or_string == Some(true) {
            "integer or string"
        } else {
            schema.type_.as_deref().unwrap_or("any")
        };
        let shown = if path.segments().is_empty() {
            "<root>".to_owned()
        } else {
            path.to_string()
        };
        problems.push(WalkProblem {
            path: path.clone(),
            message: format!("expected {expected} type for path {shown}, got {found}"),
        });
    }
}

/// The CEL type of the field at `path` inside a value of type `root`.
pub(crate) fn type_at(root: &CelType, path: &FieldPath) -> CelType {
    let mut current = root;
    for segment in path.segments() {
        current = match (current, segment) {
            (CelType::Struct(object), PathSegment::Field(name)) => match object.fields.get(name) {
                Some(field) => &field.ty,
                None => return CelType::Dyn,
            },
            (CelType::Map(_, value), PathSegment::Field(_)) => value,
            (CelType::List(element), PathSegment::Index(_)) => element,
            _ => return CelType::Dyn,
        };
    }
    current.clone()
}
