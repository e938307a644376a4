//! SimpleSchema maps to OpenAPI v3 (`JSONSchemaProps`): fields, markers and implicit defaults.

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSON, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool, ValidationRule,
};
use serde_json::Value;

use crate::error::{ErrorKind, SchemaError, SchemaErrors, join_path, json_kind};
use crate::field::{TypeExpr, parse_field_checked, type_hint};
use crate::markers::{ListType, Marker};
use crate::types::{ResolvedType, TypeTable, resolve_types};
use crate::values::default_value;
use crate::warning::{SchemaWarning, WarningKind};

/// How deep inline objects may nest; far beyond real schemas, it only stops runaway input.
pub const MAX_OBJECT_DEPTH: usize = 64;

/// The message kro puts on `immutable=true` rules.
pub const IMMUTABLE_MESSAGE: &str = "field is immutable";
/// The message kro puts on `validation=` rules.
pub const VALIDATION_MESSAGE: &str = "validation failed";

/// A SimpleSchema with its custom types resolved, ready to convert field maps.
#[derive(Debug, Clone, Default)]
pub struct SimpleSchema {
    types: TypeTable,
}

impl SimpleSchema {
    /// Resolves `schema.types` (a map of struct or alias definitions; `None` for no types).
    /// Warnings are dropped; [`SimpleSchema::to_openapi_with_warnings`] returns them.
    pub fn new(types: Option<&Value>) -> Result<Self, SchemaErrors> {
        let (types, errors, _) = resolve_types(types, "types");
        if errors.is_empty() {
            Ok(Self { types })
        } else {
            Err(SchemaErrors(errors))
        }
    }

    /// Converts an instance `spec` map using this schema's custom types; error paths start with
    /// `spec`. Warnings are dropped.
    pub fn convert(&self, spec: &Value) -> Result<JSONSchemaProps, SchemaErrors> {
        let mut converter = Converter::new(&self.types);
        let schema = converter.root(spec, "spec");
        converter.finish(schema)
    }

    /// Converts `spec` with the custom types in `types`, collecting every error of both.
    /// Warnings are dropped; [`SimpleSchema::to_openapi_with_warnings`] returns them.
    pub fn to_openapi(
        spec: &Value,
        types: Option<&Value>,
    ) -> Result<JSONSchemaProps, SchemaErrors> {
        convert_spec(spec, types, "spec", "types").map(|(schema, _)| schema)
    }

    /// Like [`SimpleSchema::to_openapi`], also returning the warnings: input upstream kro
    /// accepts that kro-rs converts the way upstream does but would rather not see.
    pub fn to_openapi_with_warnings(
        spec: &Value,
        types: Option<&Value>,
    ) -> Result<(JSONSchemaProps, Vec<SchemaWarning>), SchemaErrors> {
        convert_spec(spec, types, "spec", "types")
    }

    /// The resolved OpenAPI schema of a custom type.
    pub fn custom_type(&self, name: &str) -> Option<&JSONSchemaProps> {
        self.types.get(name).map(|resolved| &resolved.schema)
    }

    /// The names of the resolved custom types, sorted.
    pub fn type_names(&self) -> impl Iterator<Item = &str> {
        self.types.names()
    }
}

/// Converts `spec` and `types`, paths prefixed with the given roots.
pub(crate) fn convert_spec(
    spec: &Value,
    types: Option<&Value>,
    spec_path: &str,
    types_path: &str,
) -> Result<(JSONSchemaProps, Vec<SchemaWarning>), SchemaErrors> {
    let (table, mut errors, mut warnings) = resolve_types(types, types_path);
    let mut converter = Converter::new(&table);
    let schema = converter.root(spec, spec_path);
    errors.append(&mut converter.errors);
    warnings.append(&mut converter.warnings);
    if errors.is_empty() {
        Ok((schema, warnings))
    } else {
        Err(SchemaErrors(errors))
    }
}

/// Walks SimpleSchema values, building schemas and collecting errors instead of stopping.
pub(crate) struct Converter<'t> {
    types: &'t TypeTable,
    pub(crate) errors: Vec<SchemaError>,
    pub(crate) warnings: Vec<SchemaWarning>,
}

/// A field's schema and how many times upstream lists it in its parent's `required` (once per
/// `required=true` marker, plus once for a custom type that says `required=true`).
pub(crate) type FieldSchema = (JSONSchemaProps, usize);

impl<'t> Converter<'t> {
    pub(crate) fn new(types: &'t TypeTable) -> Self {
        Self {
            types,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn finish(self, schema: JSONSchemaProps) -> Result<JSONSchemaProps, SchemaErrors> {
        if self.errors.is_empty() {
            Ok(schema)
        } else {
            Err(SchemaErrors(self.errors))
        }
    }

    fn warn(&mut self, path: &str, kind: WarningKind) {
        self.warnings.push(kind.at(path));
    }

    /// A top-level map (`spec`); absent or null means no fields.
    pub(crate) fn root(&mut self, value: &Value, path: &str) -> JSONSchemaProps {
        match value {
            Value::Null => object_schema(BTreeMap::new(), Vec::new()),
            Value::Object(fields) => self.object(path, fields, 0),
            other => {
                self.errors.push(
                    ErrorKind::ExpectedMap {
                        found: json_kind(other),
                    }
                    .at(path),
                );
                object_schema(BTreeMap::new(), Vec::new())
            }
        }
    }

    /// An inline struct: one property per key, `required` sorted, implicit `{}` default.
    pub(crate) fn object(
        &mut self,
        path: &str,
        fields: &serde_json::Map<String, Value>,
        depth: usize,
    ) -> JSONSchemaProps {
        if depth > MAX_OBJECT_DEPTH {
            self.errors.push(
                ErrorKind::ObjectTooDeep {
                    max: MAX_OBJECT_DEPTH,
                }
                .at(path),
            );
            return object_schema(BTreeMap::new(), Vec::new());
        }
        let mut properties = BTreeMap::new();
        let mut required = Vec::new();
        for (name, value) in fields {
            let field_path = join_path(path, name);
            if name.is_empty() {
                self.warn(&field_path, WarningKind::EmptyFieldName);
            }
            if let Some((schema, required_count)) = self.value(&field_path, value, depth) {
                required.extend(std::iter::repeat_n(name.clone(), required_count));
                properties.insert(name.clone(), schema);
            }
        }
        object_schema(properties, required)
    }

    /// A field value: a type string or a nested map.
    pub(crate) fn value(&mut self, path: &str, value: &Value, depth: usize) -> Option<FieldSchema> {
        match value {
            Value::String(text) => self.field(path, text),
            Value::Object(fields) => Some((self.object(path, fields, depth + 1), 0)),
            other => {
                self.errors.push(
                    ErrorKind::InvalidFieldValue {
                        found: json_kind(other),
                    }
                    .at(path),
                );
                None
            }
        }
    }

    /// A field string: its type's schema with its markers applied, and how often it is
    /// required.
    pub(crate) fn field(&mut self, path: &str, text: &str) -> Option<FieldSchema> {
        let (spec, marker_warnings) = match parse_field_checked(text) {
            Ok(parsed) => parsed,
            Err(kind) => {
                self.errors.push(kind.at(path));
                return None;
            }
        };
        for warning in marker_warnings {
            self.warn(path, warning);
        }
        let (mut schema, alias_required) = match self.type_schema(&spec.ty) {
            Ok(resolved) => resolved,
            Err(Some(kind)) => {
                self.errors.push(kind.at(path));
                return None;
            }
            // The custom type itself is broken and already reported.
            Err(None) => return None,
        };
        let before = self.errors.len();
        let field = FieldMarkers {
            ty: &spec.ty,
            markers: &spec.markers,
            alias_required,
        };
        let required = self.apply_markers(path, &mut schema, &field);
        if self.errors.len() > before {
            return None;
        }
        Some((schema, required))
    }

    /// The schema of a type; `Err(None)` when it names a custom type that failed to resolve.
    fn type_schema(&self, ty: &TypeExpr) -> Result<(JSONSchemaProps, bool), Option<ErrorKind>> {
        let atomic = |name: &str| JSONSchemaProps {
            type_: Some(name.to_owned()),
            ..Default::default()
        };
        Ok(match ty {
            TypeExpr::String => (atomic("string"), false),
            TypeExpr::Integer => (atomic("integer"), false),
            TypeExpr::Boolean => (atomic("boolean"), false),
            TypeExpr::Float => (atomic("number"), false),
            TypeExpr::Object => (
                JSONSchemaProps {
                    type_: Some("object".into()),
                    x_kubernetes_preserve_unknown_fields: Some(true),
                    ..Default::default()
                },
                false,
            ),
            TypeExpr::Array(inner) => {
                let (items, _) = self.type_schema(inner)?;
                (
                    JSONSchemaProps {
                        type_: Some("array".into()),
                        items: Some(JSONSchemaPropsOrArray::Schema(Box::new(items))),
                        ..Default::default()
                    },
                    false,
                )
            }
            TypeExpr::Map(inner) => {
                let (values, _) = self.type_schema(inner)?;
                (
                    JSONSchemaProps {
                        type_: Some("object".into()),
                        additional_properties: Some(JSONSchemaPropsOrBool::Schema(Box::new(
                            values,
                        ))),
                        ..Default::default()
                    },
                    false,
                )
            }
            TypeExpr::Custom(name) => match self.types.get(name) {
                Some(ResolvedType { schema, required }) => (schema.clone(), *required),
                None if self.types.is_broken(name) => return Err(None),
                None => {
                    return Err(Some(ErrorKind::UnknownType {
                        name: name.clone(),
                        hint: type_hint(name),
                    }));
                }
            },
        })
    }

    /// Applies markers in order, as upstream does (a repeated marker overrides the earlier one),
    /// then the default (which must satisfy the finished schema). Returns how many times the
    /// field goes into its parent's `required`.
    fn apply_markers(
        &mut self,
        path: &str,
        schema: &mut JSONSchemaProps,
        field: &FieldMarkers<'_>,
    ) -> usize {
        let mut required = usize::from(field.alias_required);
        let mut default = None;
        let mut lists = ListMarkers::default();
        let found = field.ty.to_string();
        let kind = schema.type_.clone().unwrap_or_default();
        let is_free_form = schema.x_kubernetes_preserve_unknown_fields == Some(true);
        for warning in repeated_markers(field.markers) {
            self.warn(path, warning);
        }
        for marker in field.markers {
            let only = |allowed_kinds: &[&str], allowed: &'static str| {
                if allowed_kinds.contains(&kind.as_str()) && !is_free_form {
                    Ok(())
                } else {
                    Err(ErrorKind::MarkerNotApplicable {
                        marker: marker.key(),
                        allowed,
                        found: found.clone(),
                    })
                }
            };
            let result = match marker {
                Marker::Required(flag) => {
                    if *flag {
                        required += 1;
                    } else if field.alias_required {
                        self.warn(
                            path,
                            WarningKind::RequiredNotOverridden {
                                alias: found.clone(),
                            },
                        );
                    }
                    Ok(())
                }
                Marker::Default(raw) => {
                    default = Some(raw.as_str());
                    Ok(())
                }
                Marker::Description(text) => {
                    schema.description = Some(text.clone());
                    Ok(())
                }
                Marker::Enum(entries) => only(&["string", "integer"], "string and integer")
                    .and_then(|()| enum_values(&kind, entries))
                    .map(|values| schema.enum_ = Some(values)),
                Marker::Minimum(_) | Marker::Maximum(_) => {
                    if only(&["integer", "number"], "integer and float").is_err() {
                        self.warn(path, no_effect(marker, "integer and float", &found));
                    }
                    apply_bound(schema, marker);
                    Ok(())
                }
                Marker::Pattern(pattern) => {
                    only(&["string"], "string").map(|()| schema.pattern = Some(pattern.clone()))
                }
                Marker::MinLength(_) | Marker::MaxLength(_) => {
                    only(&["string"], "string").map(|()| self.apply_count(path, schema, marker))
                }
                Marker::MinItems(_) | Marker::MaxItems(_) => {
                    only(&["array"], "array").map(|()| self.apply_count(path, schema, marker))
                }
                Marker::UniqueItems(flag) => {
                    only(&["array"], "array").map(|()| lists.unique |= *flag)
                }
                Marker::ListType(list_type) => {
                    only(&["array"], "array").and_then(|()| lists.set_type(*list_type))
                }
                Marker::ListMapKey(key) => {
                    only(&["array"], "array").map(|()| lists.map_keys.push(key.clone()))
                }
                Marker::Immutable(flag) => {
                    if *flag {
                        push_rule(schema, "self == oldSelf", IMMUTABLE_MESSAGE);
                    }
                    Ok(())
                }
                Marker::Validation(rule) => {
                    push_rule(schema, rule, VALIDATION_MESSAGE);
                    Ok(())
                }
            };
            if let Err(kind) = result {
                self.errors.push(kind.at(path));
            }
        }
        self.finish_field(path, schema, &lists, &found, default);
        required
    }

    /// What only the whole field can tell: list markers together, bounds, and the default.
    fn finish_field(
        &mut self,
        path: &str,
        schema: &mut JSONSchemaProps,
        lists: &ListMarkers,
        found: &str,
        default: Option<&str>,
    ) {
        for error in apply_list_markers(schema, lists, found) {
            self.errors.push(error.at(path));
        }
        for warning in inverted_bounds(schema) {
            self.warn(path, warning);
        }
        if let Some(raw) = default {
            match default_value(schema, raw) {
                Ok((value, warning)) => {
                    schema.default = Some(JSON(value));
                    if let Some(warning) = warning {
                        self.warn(path, warning);
                    }
                }
                Err(kind) => self.errors.push(kind.at(path)),
            }
        }
    }

    /// Sets `minLength`, `maxLength`, `minItems` or `maxItems`, warning when it is negative (the
    /// API server accepts that, as upstream does).
    fn apply_count(&mut self, path: &str, schema: &mut JSONSchemaProps, marker: &Marker) {
        let (slot, value, effect) = match marker {
            Marker::MinLength(n) => (&mut schema.min_length, *n, NO_EFFECT),
            Marker::MaxLength(n) => (&mut schema.max_length, *n, REJECTS_EVERY_VALUE),
            Marker::MinItems(n) => (&mut schema.min_items, *n, NO_EFFECT),
            Marker::MaxItems(n) => (&mut schema.max_items, *n, REJECTS_EVERY_VALUE),
            _ => return,
        };
        *slot = Some(value);
        if value < 0 {
            self.warn(
                path,
                WarningKind::NegativeCount {
                    marker: marker.key(),
                    value,
                    effect,
                },
            );
        }
    }
}

const NO_EFFECT: &str = "it has no effect";
const REJECTS_EVERY_VALUE: &str = "the API server will reject every value of this field";

/// One field's type and markers.
struct FieldMarkers<'a> {
    ty: &'a TypeExpr,
    markers: &'a [Marker],
    /// Whether its custom type says `required=true`.
    alias_required: bool,
}

fn apply_bound(schema: &mut JSONSchemaProps, marker: &Marker) {
    match marker {
        Marker::Minimum(bound) => schema.minimum = Some(*bound),
        Marker::Maximum(bound) => schema.maximum = Some(*bound),
        _ => {}
    }
}

fn no_effect(marker: &Marker, allowed: &'static str, found: &str) -> WarningKind {
    WarningKind::MarkerHasNoEffect {
        marker: marker.key(),
        allowed,
        found: found.to_owned(),
    }
}

/// One warning per marker key that is given more than once (other than `validation` and
/// `listMapKey`), naming the value that takes effect: the last one.
fn repeated_markers(markers: &[Marker]) -> Vec<WarningKind> {
    let mut counts: BTreeMap<&'static str, (usize, &Marker)> = BTreeMap::new();
    let mut order = Vec::new();
    for marker in markers.iter().filter(|marker| !marker.repeatable()) {
        let entry = counts.entry(marker.key()).or_insert((0, marker));
        entry.0 += 1;
        entry.1 = marker;
        if entry.0 == 2 {
            order.push(marker.key());
        }
    }
    order
        .into_iter()
        .filter_map(|key| counts.get(key))
        .map(|(_, last)| WarningKind::RepeatedMarker {
            marker: last.key(),
            kept: marker_value(last),
        })
        .collect()
}

/// A marker's value for messages.
fn marker_value(marker: &Marker) -> String {
    match marker {
        Marker::Required(flag) | Marker::UniqueItems(flag) | Marker::Immutable(flag) => {
            flag.to_string()
        }
        Marker::Default(text)
        | Marker::Description(text)
        | Marker::Pattern(text)
        | Marker::ListMapKey(text)
        | Marker::Validation(text) => text.clone(),
        Marker::Enum(entries) => entries.join(","),
        Marker::Minimum(number) | Marker::Maximum(number) => number.to_string(),
        Marker::MinLength(count)
        | Marker::MaxLength(count)
        | Marker::MinItems(count)
        | Marker::MaxItems(count) => count.to_string(),
        Marker::ListType(list_type) => list_type.as_str().to_owned(),
    }
}

/// An object schema; empty `required` is omitted, as the API server would.
fn object_schema(
    properties: BTreeMap<String, JSONSchemaProps>,
    mut required: Vec<String>,
) -> JSONSchemaProps {
    // Sorted like upstream; a name required twice (a required custom type with `required=true`,
    // or a repeated marker) is listed twice, as upstream does.
    required.sort();
    // Nested defaults only apply when the parent exists, so a parent whose children have
    // defaults defaults to `{}`; a required child would make that `{}` invalid.
    let default = (required.is_empty() && properties.values().any(|p| p.default.is_some()))
        .then(|| JSON(Value::Object(serde_json::Map::new())));
    JSONSchemaProps {
        type_: Some("object".into()),
        properties: Some(properties),
        required: (!required.is_empty()).then_some(required),
        default,
        ..Default::default()
    }
}

fn push_rule(schema: &mut JSONSchemaProps, rule: &str, message: &str) {
    schema
        .x_kubernetes_validations
        .get_or_insert_with(Vec::new)
        .push(ValidationRule {
            rule: rule.to_owned(),
            message: Some(message.to_owned()),
            ..Default::default()
        });
}

fn enum_values(kind: &str, entries: &[String]) -> Result<Vec<JSON>, ErrorKind> {
    entries
        .iter()
        .map(|entry| {
            if kind == "integer" {
                entry
                    .parse::<i64>()
                    .map(|number| JSON(Value::from(number)))
                    .map_err(|_| ErrorKind::InvalidMarkerValue {
                        marker: "enum",
                        expected: "a comma-separated list of integers".into(),
                        value: entry.clone(),
                    })
            } else {
                Ok(JSON(Value::String(entry.clone())))
            }
        })
        .collect()
}

/// The list markers of one field, applied together because they constrain each other.
#[derive(Default)]
struct ListMarkers {
    unique: bool,
    list_type: Option<ListType>,
    map_keys: Vec<String>,
}

impl ListMarkers {
    /// Records `listType`; a second one with another value contradicts the first (upstream
    /// refuses that too).
    fn set_type(&mut self, list_type: ListType) -> Result<(), ErrorKind> {
        match self.list_type {
            Some(earlier) if earlier != list_type => Err(ErrorKind::ConflictingMarkers {
                marker: "listType",
                reason: format!(
                    "`listType={}` conflicts with the earlier `listType={}`: expected one list type",
                    list_type.as_str(),
                    earlier.as_str()
                ),
            }),
            _ => {
                self.list_type = Some(list_type);
                Ok(())
            }
        }
    }
}

fn apply_list_markers(
    schema: &mut JSONSchemaProps,
    lists: &ListMarkers,
    found: &str,
) -> Vec<ErrorKind> {
    let mut errors = Vec::new();
    if lists.unique {
        match lists.list_type {
            Some(other @ (ListType::Atomic | ListType::Map)) => {
                errors.push(ErrorKind::ConflictingMarkers {
                    marker: "uniqueItems",
                    reason: format!(
                        "`uniqueItems=true` means `listType=set`, which conflicts with \
                         `listType={}`: expected only one of them",
                        other.as_str()
                    ),
                });
                return errors;
            }
            _ => schema.x_kubernetes_list_type = Some("set".into()),
        }
    }
    if let Some(list_type) = lists.list_type {
        schema.x_kubernetes_list_type = Some(list_type.as_str().into());
    }
    if !lists.map_keys.is_empty() {
        schema.x_kubernetes_list_map_keys = Some(lists.map_keys.clone());
    }
    let effective = schema.x_kubernetes_list_type.as_deref();
    let items = match &schema.items {
        Some(JSONSchemaPropsOrArray::Schema(items)) => Some(items.as_ref()),
        _ => None,
    };
    let items_are_objects = items.is_some_and(|items| items.type_.as_deref() == Some("object"));
    match effective {
        Some("map") => {
            let keys = schema
                .x_kubernetes_list_map_keys
                .as_deref()
                .unwrap_or_default();
            if !items_are_objects {
                errors.push(ErrorKind::ConflictingMarkers {
                    marker: "listType",
                    reason: format!(
                        "`listType=map` needs a list of objects, got `{found}`: expected e.g. \
                         `[]Port` with a struct type `Port`"
                    ),
                });
            } else if keys.is_empty() {
                errors.push(ErrorKind::ConflictingMarkers {
                    marker: "listType",
                    reason: "`listType=map` needs at least one `listMapKey=<field>`".into(),
                });
            } else if let Some(items) = items {
                for key in keys {
                    if let Some(error) = map_key_error(items, key) {
                        errors.push(error);
                    }
                }
            }
        }
        Some("set") if items_are_objects => errors.push(ErrorKind::ConflictingMarkers {
            marker: if lists.unique {
                "uniqueItems"
            } else {
                "listType"
            },
            reason: format!(
                "a set (`listType=set` or `uniqueItems=true`) needs scalar items, got `{found}`: \
                 expected `listType=map` with `listMapKey` for lists of objects"
            ),
        }),
        _ => {}
    }
    if !lists.map_keys.is_empty() && effective != Some("map") {
        errors.push(ErrorKind::ConflictingMarkers {
            marker: "listMapKey",
            reason: format!(
                "`listMapKey` requires `listType=map`, got {}",
                effective.map_or("no listType".to_owned(), |t| format!("`listType={t}`"))
            ),
        });
    }
    errors
}

/// The API server requires each map key to be a field of the items that is required or defaulted.
fn map_key_error(items: &JSONSchemaProps, key: &str) -> Option<ErrorKind> {
    if items.x_kubernetes_preserve_unknown_fields == Some(true) && items.properties.is_none() {
        return None;
    }
    let properties = items.properties.as_ref();
    let Some(field) = properties.and_then(|props| props.get(key)) else {
        let names: Vec<&str> = properties
            .into_iter()
            .flatten()
            .map(|(n, _)| n.as_str())
            .collect();
        return Some(ErrorKind::ConflictingMarkers {
            marker: "listMapKey",
            reason: format!(
                "`{key}` is not a field of the list items: expected one of {}",
                if names.is_empty() {
                    "(no fields)".to_owned()
                } else {
                    names.join(", ")
                }
            ),
        });
    };
    if matches!(field.type_.as_deref(), Some("object" | "array")) {
        return Some(ErrorKind::ConflictingMarkers {
            marker: "listMapKey",
            reason: format!(
                "`{key}` must be a scalar field of the list items: expected a string, integer, \
                 boolean or float field"
            ),
        });
    }
    let required = items.required.iter().flatten().any(|name| name == key);
    if !required && field.default.is_none() {
        return Some(ErrorKind::ConflictingMarkers {
            marker: "listMapKey",
            reason: format!(
                "`{key}` must be required or have a default in the list items: expected \
                 `required=true` or `default=...` on it"
            ),
        });
    }
    None
}

fn inverted_bounds(schema: &JSONSchemaProps) -> Vec<WarningKind> {
    fn pair<T: PartialOrd + ToString>(
        lower: &'static str,
        low: Option<T>,
        upper: &'static str,
        high: Option<T>,
    ) -> Option<WarningKind> {
        let (low, high) = (low?, high?);
        (low > high).then(|| WarningKind::InvertedBounds {
            lower,
            lower_value: low.to_string(),
            upper,
            upper_value: high.to_string(),
        })
    }
    [
        pair("minimum", schema.minimum, "maximum", schema.maximum),
        pair(
            "minLength",
            schema.min_length,
            "maxLength",
            schema.max_length,
        ),
        pair("minItems", schema.min_items, "maxItems", schema.max_items),
    ]
    .into_iter()
    .flatten()
    .collect()
}
