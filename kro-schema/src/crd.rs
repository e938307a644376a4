//! The generated CRD: names, version, root and status schemas, printer columns, labels.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceColumnDefinition, CustomResourceDefinition, CustomResourceDefinitionNames,
    CustomResourceDefinitionSpec, CustomResourceDefinitionVersion, CustomResourceSubresourceStatus,
    CustomResourceSubresources, CustomResourceValidation, JSONSchemaProps, JSONSchemaPropsOrArray,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use crate::error::{ErrorKind, SchemaError, SchemaErrors, json_kind};
use crate::openapi::convert_spec;
use kro_api::labels::{KRO_VERSION_LABEL, OWNED_LABEL, RGD_ID_LABEL, RGD_NAME_LABEL};

use crate::pluralize::pluralize;
use crate::warning::SchemaWarning;

/// The API group used when `schema.group` is absent.
pub const DEFAULT_GROUP: &str = "kro.run";

/// At most this many short names or categories.
const MAX_NAME_LIST: usize = 32;

/// Whether instances are namespaced or cluster-wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Scope {
    /// One instance per namespace and name (the default).
    #[default]
    Namespaced,
    /// Instances are cluster-scoped.
    Cluster,
}

impl Scope {
    /// The CRD `spec.scope` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Namespaced => "Namespaced",
            Self::Cluster => "Cluster",
        }
    }
}

/// Everything an RGD's `spec.schema` says about the API it defines, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct CrdSpec {
    /// The single version, e.g. `v1alpha1`.
    pub api_version: String,
    /// The kind, e.g. `WebApp`.
    pub kind: String,
    /// The API group, `kro.run` unless given.
    pub group: String,
    /// Namespaced or cluster-scoped.
    pub scope: Scope,
    /// The OpenAPI schema of the instance `spec`.
    pub spec_schema: JSONSchemaProps,
    /// Printer columns given by the RGD (empty means kro's defaults).
    pub printer_columns: Vec<CustomResourceColumnDefinition>,
    /// `kubectl` short names.
    pub short_names: Vec<String>,
    /// `kubectl get <category>` groups.
    pub categories: Vec<String>,
    /// Labels for the CRD object from `schema.metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// Annotations for the CRD object from `schema.metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
}

impl CrdSpec {
    /// Reads and validates an RGD's `spec.schema`; collects every error, with paths starting at
    /// `schema` (e.g. `schema.spec.replicas`). Warnings are dropped:
    /// [`CrdSpec::from_rgd_schema_with_warnings`] returns them.
    pub fn from_rgd_schema(schema: &Value) -> Result<Self, SchemaErrors> {
        Self::from_rgd_schema_with_warnings(schema).map(|(spec, _)| spec)
    }

    /// Like [`CrdSpec::from_rgd_schema`], also returning the warnings: input upstream kro v0.9.4
    /// accepts and kro-rs converts the same way, though it deserves the author's attention
    /// (a repeated marker, `minimum` on a string, ...). A caller that wants the stricter
    /// behaviour refuses a schema with warnings.
    pub fn from_rgd_schema_with_warnings(
        schema: &Value,
    ) -> Result<(Self, Vec<SchemaWarning>), SchemaErrors> {
        let mut errors = Vec::new();
        let Value::Object(fields) = schema else {
            let expected = "a map with `apiVersion`, `kind` and `spec`";
            return Err(invalid("schema", expected, schema).into());
        };
        let field = |name: &str| fields.get(name).filter(|value| !value.is_null());

        let kind = schema_kind(field("kind"), &mut errors);
        let api_version = schema_api_version(field("apiVersion"), &mut errors);
        let group = schema_group(field("group"), &mut errors);
        let scope = schema_scope(field("scope"), &mut errors);
        let (spec_schema, warnings) = spec_schema(field("spec"), field("types"), &mut errors);
        let printer_columns = printer_columns(field("additionalPrinterColumns"), &mut errors);
        let short_names = name_list(field("shortNames"), "schema.shortNames", &mut errors);
        let categories = name_list(field("categories"), "schema.categories", &mut errors);
        let (labels, annotations) = schema_metadata(field("metadata"), &mut errors);

        if !errors.is_empty() {
            return Err(SchemaErrors(errors));
        }
        let spec = Self {
            api_version,
            kind,
            group,
            scope,
            spec_schema,
            printer_columns,
            short_names,
            categories,
            labels,
            annotations,
        };
        Ok((spec, warnings))
    }

    /// The plural resource name: the lower-cased kind, pluralized like Go's flect.
    pub fn plural(&self) -> String {
        pluralize(&self.kind.to_lowercase())
    }

    /// The singular resource name: the lower-cased kind.
    pub fn singular(&self) -> String {
        self.kind.to_lowercase()
    }

    /// The list kind: `<Kind>List`.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// The CRD object name: `<plural>.<group>`.
    pub fn crd_name(&self) -> String {
        format!("{}.{}", self.plural(), self.group)
    }
}

/// Extra metadata for the generated CRD; kro's own labels win over `schema.metadata.labels`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CrdOptions {
    /// Labels added to the CRD object.
    pub labels: BTreeMap<String, String>,
    /// Annotations added to the CRD object.
    pub annotations: BTreeMap<String, String>,
}

impl CrdOptions {
    /// The labels kro puts on every CRD it owns.
    pub fn kro_owned(rgd_name: &str, rgd_uid: &str, kro_version: &str) -> Self {
        let labels = [
            (OWNED_LABEL, "true"),
            (KRO_VERSION_LABEL, kro_version),
            (RGD_ID_LABEL, rgd_uid),
            (RGD_NAME_LABEL, rgd_name),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
        Self {
            labels,
            annotations: BTreeMap::new(),
        }
    }
}

/// Builds the CRD. `status` is the status schema inferred from the RGD's status expressions
/// (`None` for none); kro's `state` and `conditions` are added unless the RGD defines them.
pub fn generate_crd(
    spec: &CrdSpec,
    status: Option<JSONSchemaProps>,
    options: &CrdOptions,
) -> CustomResourceDefinition {
    let mut labels = spec.labels.clone();
    labels.extend(options.labels.clone());
    let mut annotations = spec.annotations.clone();
    annotations.extend(options.annotations.clone());

    let root = JSONSchemaProps {
        type_: Some("object".into()),
        properties: Some(BTreeMap::from([
            ("apiVersion".to_owned(), typed("string")),
            ("kind".to_owned(), typed("string")),
            ("metadata".to_owned(), typed("object")),
            ("spec".to_owned(), spec.spec_schema.clone()),
            ("status".to_owned(), status_schema(status)),
        ])),
        ..Default::default()
    };
    let printer_columns = if spec.printer_columns.is_empty() {
        default_printer_columns()
    } else {
        spec.printer_columns.clone()
    };

    CustomResourceDefinition {
        metadata: ObjectMeta {
            name: Some(spec.crd_name()),
            labels: (!labels.is_empty()).then_some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..Default::default()
        },
        spec: CustomResourceDefinitionSpec {
            group: spec.group.clone(),
            names: CustomResourceDefinitionNames {
                kind: spec.kind.clone(),
                list_kind: Some(spec.list_kind()),
                plural: spec.plural(),
                singular: Some(spec.singular()),
                short_names: (!spec.short_names.is_empty()).then(|| spec.short_names.clone()),
                categories: (!spec.categories.is_empty()).then(|| spec.categories.clone()),
            },
            scope: spec.scope.as_str().to_owned(),
            versions: vec![CustomResourceDefinitionVersion {
                name: spec.api_version.clone(),
                served: true,
                storage: true,
                schema: Some(CustomResourceValidation {
                    open_api_v3_schema: Some(root),
                }),
                subresources: Some(CustomResourceSubresources {
                    status: Some(CustomResourceSubresourceStatus(Value::Object(
                        serde_json::Map::new(),
                    ))),
                    scale: None,
                }),
                additional_printer_columns: Some(printer_columns),
                ..Default::default()
            }],
            ..Default::default()
        },
        status: None,
    }
}

/// Builds the CRD straight from an RGD's `spec.schema`, with an empty inferred status and no
/// ownership labels: what an API-server round-trip test needs.
pub fn crd_from_rgd_schema(schema: &Value) -> Result<CustomResourceDefinition, SchemaErrors> {
    let spec = CrdSpec::from_rgd_schema(schema)?;
    Ok(generate_crd(&spec, None, &CrdOptions::default()))
}

/// kro's columns when the RGD gives none: State, Ready and Age, with upstream kro's descriptions
/// (tools that compare generated CRDs see the same columns from either implementation).
pub fn default_printer_columns() -> Vec<CustomResourceColumnDefinition> {
    let column = |name: &str, type_: &str, json_path: &str, description: &str| {
        CustomResourceColumnDefinition {
            name: name.to_owned(),
            type_: type_.to_owned(),
            json_path: json_path.to_owned(),
            description: Some(description.to_owned()),
            ..Default::default()
        }
    };
    vec![
        column(
            "State",
            "string",
            ".status.state",
            "The state of a ResourceGraphDefinition instance",
        ),
        column(
            "Ready",
            "string",
            ".status.conditions[?(@.type==\"Ready\")].status",
            "Whether a ResourceGraphDefinition instance is ready",
        ),
        column(
            "Age",
            "date",
            ".metadata.creationTimestamp",
            "Age of the resource",
        ),
    ]
}

/// The status schema: the inferred one plus kro's `state`, `conditions` and `resources`, each added
/// only when the RGD does not define a status field of that name.
///
/// `resources` is kro-rs's explanation of the instance: one entry per resource of the graph with
/// its state, what it waits for and how long it took to become ready. Upstream kro has no such
/// field; it is why an instance is IN_PROGRESS, readable with `kubectl get -o yaml`.
pub fn status_schema(inferred: Option<JSONSchemaProps>) -> JSONSchemaProps {
    let mut status = inferred.unwrap_or_default();
    status.type_ = Some("object".into());
    let properties = status.properties.get_or_insert_with(BTreeMap::new);
    properties
        .entry("state".to_owned())
        .or_insert_with(|| typed("string"));
    properties
        .entry("conditions".to_owned())
        .or_insert_with(conditions_schema);
    properties
        .entry(RESOURCES_STATUS_FIELD.to_owned())
        .or_insert_with(resources_schema);
    status
}

/// The status field in which kro-rs explains the state of each resource (see [`status_schema`]).
pub const RESOURCES_STATUS_FIELD: &str = "resources";

fn resources_schema() -> JSONSchemaProps {
    let mut fields: BTreeMap<String, JSONSchemaProps> = ["id", "state", "message", "waitingFor"]
        .into_iter()
        .map(|name| (name.to_owned(), typed("string")))
        .collect();
    fields.insert("readyAfterSeconds".to_owned(), typed("integer"));
    JSONSchemaProps {
        type_: Some("array".into()),
        x_kubernetes_list_type: Some("map".into()),
        x_kubernetes_list_map_keys: Some(vec!["id".into()]),
        items: Some(JSONSchemaPropsOrArray::Schema(Box::new(JSONSchemaProps {
            type_: Some("object".into()),
            required: Some(vec!["id".into()]),
            properties: Some(fields),
            ..Default::default()
        }))),
        ..Default::default()
    }
}

fn conditions_schema() -> JSONSchemaProps {
    let mut fields: BTreeMap<String, JSONSchemaProps> =
        ["type", "status", "reason", "message", "lastTransitionTime"]
            .into_iter()
            .map(|name| (name.to_owned(), typed("string")))
            .collect();
    fields.insert("observedGeneration".to_owned(), typed("integer"));
    JSONSchemaProps {
        type_: Some("array".into()),
        items: Some(JSONSchemaPropsOrArray::Schema(Box::new(JSONSchemaProps {
            type_: Some("object".into()),
            properties: Some(fields),
            ..Default::default()
        }))),
        ..Default::default()
    }
}

fn typed(type_: &str) -> JSONSchemaProps {
    JSONSchemaProps {
        type_: Some(type_.to_owned()),
        ..Default::default()
    }
}

fn invalid(path: &str, expected: &str, value: &Value) -> SchemaError {
    let value = match value {
        Value::String(text) => format!("`{text}`"),
        other => json_kind(other).to_owned(),
    };
    ErrorKind::InvalidValue {
        expected: expected.to_owned(),
        value,
    }
    .at(path)
}

fn required_string(
    value: Option<&Value>,
    path: &str,
    errors: &mut Vec<SchemaError>,
    expected: &str,
) -> Option<String> {
    match value {
        Some(Value::String(text)) => Some(text.clone()),
        Some(other) => {
            errors.push(invalid(path, expected, other));
            None
        }
        None => {
            errors.push(
                ErrorKind::MissingField {
                    expected: expected.to_owned(),
                }
                .at(path),
            );
            None
        }
    }
}

fn schema_kind(value: Option<&Value>, errors: &mut Vec<SchemaError>) -> String {
    required_string(value, "schema.kind", errors, "a kind such as `WebApp`")
        .filter(|kind| {
            check(
                is_kind(kind),
                "an UpperCamelCase kind of 1 to 63 letters and digits (`^[A-Z][a-zA-Z0-9]{0,62}$`)",
                kind,
                "schema.kind",
                errors,
            )
        })
        .unwrap_or_default()
}

fn schema_api_version(value: Option<&Value>, errors: &mut Vec<SchemaError>) -> String {
    required_string(
        value,
        "schema.apiVersion",
        errors,
        "a version such as `v1alpha1`",
    )
    .filter(|version| check(is_version(version), "a version such as `v1`, `v1alpha1` or `v2beta3` (`^v[0-9]+(alpha[0-9]+|beta[0-9]+)?$`)", version, "schema.apiVersion", errors))
    .unwrap_or_default()
}

fn schema_group(value: Option<&Value>, errors: &mut Vec<SchemaError>) -> String {
    match value {
        None => DEFAULT_GROUP.to_owned(),
        Some(Value::String(group)) => {
            check(
                is_group(group),
                "a DNS subdomain with at least one dot, such as `example.com`",
                group,
                "schema.group",
                errors,
            );
            group.clone()
        }
        Some(other) => {
            errors.push(invalid("schema.group", "a string", other));
            DEFAULT_GROUP.to_owned()
        }
    }
}

fn schema_scope(value: Option<&Value>, errors: &mut Vec<SchemaError>) -> Scope {
    match value {
        None => Scope::Namespaced,
        Some(Value::String(scope)) if scope == "Namespaced" => Scope::Namespaced,
        Some(Value::String(scope)) if scope == "Cluster" => Scope::Cluster,
        Some(other) => {
            errors.push(invalid("schema.scope", "`Namespaced` or `Cluster`", other));
            Scope::Namespaced
        }
    }
}

/// The instance `spec` schema, its fields written in SimpleSchema over the custom `types`.
fn spec_schema(
    spec: Option<&Value>,
    types: Option<&Value>,
    errors: &mut Vec<SchemaError>,
) -> (JSONSchemaProps, Vec<SchemaWarning>) {
    match convert_spec(
        spec.unwrap_or(&Value::Null),
        types,
        "schema.spec",
        "schema.types",
    ) {
        Ok(converted) => converted,
        Err(spec_errors) => {
            errors.extend(spec_errors);
            (JSONSchemaProps::default(), Vec::new())
        }
    }
}

/// The CRD's own labels and annotations, from `schema.metadata`.
fn schema_metadata(
    value: Option<&Value>,
    errors: &mut Vec<SchemaError>,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    match value {
        None => (BTreeMap::new(), BTreeMap::new()),
        Some(Value::Object(metadata)) => (
            string_map(metadata.get("labels"), "schema.metadata.labels", errors),
            string_map(
                metadata.get("annotations"),
                "schema.metadata.annotations",
                errors,
            ),
        ),
        Some(other) => {
            errors.push(invalid(
                "schema.metadata",
                "a map with `labels` and `annotations`",
                other,
            ));
            (BTreeMap::new(), BTreeMap::new())
        }
    }
}

fn check(ok: bool, expected: &str, value: &str, path: &str, errors: &mut Vec<SchemaError>) -> bool {
    if !ok {
        errors.push(
            ErrorKind::InvalidValue {
                expected: expected.to_owned(),
                value: format!("`{value}`"),
            }
            .at(path),
        );
    }
    ok
}

fn is_kind(kind: &str) -> bool {
    let mut chars = kind.chars();
    chars.next().is_some_and(|first| first.is_ascii_uppercase())
        && kind.len() <= 63
        && chars.all(|c| c.is_ascii_alphanumeric())
}

fn is_version(version: &str) -> bool {
    let Some(rest) = version.strip_prefix('v') else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return false;
    }
    let rest = &rest[digits..];
    let stage = rest
        .strip_prefix("alpha")
        .or_else(|| rest.strip_prefix("beta"));
    match stage {
        None => rest.is_empty(),
        Some(number) => !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// A DNS-1123 subdomain with a dot, as the API server requires for CRD groups.
fn is_group(group: &str) -> bool {
    group.len() <= 253
        && group.contains('.')
        && group.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// `^[a-z]([-a-z0-9]*[a-z0-9])?$`, at most 63 characters.
fn is_short_name(name: &str) -> bool {
    name.len() <= 63
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn name_list(value: Option<&Value>, path: &str, errors: &mut Vec<SchemaError>) -> Vec<String> {
    let items = match value {
        None => return Vec::new(),
        Some(Value::Array(items)) => items,
        Some(other) => {
            errors.push(invalid(path, "a list of names", other));
            return Vec::new();
        }
    };
    if items.len() > MAX_NAME_LIST {
        errors.push(
            ErrorKind::InvalidValue {
                expected: format!("at most {MAX_NAME_LIST} names"),
                value: format!("{} names", items.len()),
            }
            .at(path),
        );
    }
    let mut seen = BTreeSet::new();
    let mut names = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{index}]");
        let expected =
            "a lower-case name of at most 63 characters (`^[a-z]([-a-z0-9]*[a-z0-9])?$`)";
        match item {
            Value::String(name) if is_short_name(name) => {
                if seen.insert(name.clone()) {
                    names.push(name.clone());
                } else {
                    errors.push(
                        ErrorKind::Duplicate {
                            value: name.clone(),
                        }
                        .at(item_path),
                    );
                }
            }
            other => errors.push(invalid(&item_path, expected, other)),
        }
    }
    names
}

fn string_map(
    value: Option<&Value>,
    path: &str,
    errors: &mut Vec<SchemaError>,
) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    match value {
        None | Some(Value::Null) => {}
        Some(Value::Object(entries)) => {
            for (key, value) in entries {
                match value {
                    Value::String(text) => {
                        map.insert(key.clone(), text.clone());
                    }
                    other => errors.push(invalid(&format!("{path}.{key}"), "a string", other)),
                }
            }
        }
        Some(other) => errors.push(invalid(path, "a map of strings", other)),
    }
    map
}

fn printer_columns(
    value: Option<&Value>,
    errors: &mut Vec<SchemaError>,
) -> Vec<CustomResourceColumnDefinition> {
    const PATH: &str = "schema.additionalPrinterColumns";
    let items = match value {
        None => return Vec::new(),
        Some(Value::Array(items)) => items,
        Some(other) => {
            errors.push(invalid(PATH, "a list of printer columns", other));
            return Vec::new();
        }
    };
    let mut columns = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let path = format!("{PATH}[{index}]");
        match serde_json::from_value::<CustomResourceColumnDefinition>(item.clone()) {
            Ok(column) => {
                const TYPES: [&str; 5] = ["integer", "number", "string", "boolean", "date"];
                let before = errors.len();
                // k8s-openapi fills absent required strings with "", so check them here.
                for (field, value, expected) in [
                    ("name", &column.name, "a column name"),
                    (
                        "jsonPath",
                        &column.json_path,
                        "a JSONPath such as `.spec.image`",
                    ),
                ] {
                    if value.is_empty() {
                        errors.push(
                            ErrorKind::MissingField {
                                expected: expected.into(),
                            }
                            .at(format!("{path}.{field}")),
                        );
                    }
                }
                if !TYPES.contains(&column.type_.as_str()) {
                    errors.push(
                        ErrorKind::InvalidValue {
                            expected: "one of integer, number, string, boolean, date".into(),
                            value: format!("`{}`", column.type_),
                        }
                        .at(format!("{path}.type")),
                    );
                }
                if errors.len() == before {
                    columns.push(column);
                }
            }
            Err(error) => errors.push(
                ErrorKind::InvalidValue {
                    expected: "a column with `name`, `type` and `jsonPath`".into(),
                    value: error.to_string(),
                }
                .at(path),
            ),
        }
    }
    columns
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_and_kind_patterns() {
        for ok in ["v1", "v1alpha1", "v2beta3", "v10"] {
            assert!(is_version(ok), "{ok}");
        }
        for bad in ["v", "1", "v1alpha", "v1gamma1", "V1", "v1beta1x"] {
            assert!(!is_version(bad), "{bad}");
        }
        assert!(is_kind("WebApp"));
        assert!(!is_kind("webApp"));
        assert!(!is_kind("Web-App"));
        assert!(!is_kind(&format!("A{}", "b".repeat(63))));
    }

    #[test]
    fn group_and_short_names() {
        assert!(is_group("kro.run"));
        assert!(is_group("a-b.example.com"));
        assert!(!is_group("kro"));
        assert!(!is_group("Kro.run"));
        assert!(!is_group("-a.b"));
        assert!(is_short_name("wa"));
        assert!(is_short_name("web-app2"));
        assert!(!is_short_name("2wa"));
        assert!(!is_short_name("wa-"));
    }
}
