//! The CRD manifests of the RGD and GraphRevision kinds, built from the types' schemars schemas.

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceColumnDefinition, CustomResourceDefinition, CustomResourceDefinitionNames,
    CustomResourceDefinitionSpec, CustomResourceDefinitionVersion, CustomResourceSubresourceStatus,
    CustomResourceSubresources, CustomResourceValidation, JSONSchemaProps, SelectableField,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

use crate::revision::{GRAPH_REVISION_GROUP, GraphRevisionSpec, GraphRevisionStatus};
use crate::rgd::{
    RGD_GROUP, RGD_VERSION, ResourceGraphDefinitionSpec, ResourceGraphDefinitionStatus,
};

/// The CRD of `resourcegraphdefinitions.kro.run`: cluster-scoped, short name `rgd`, status
/// subresource, upstream's printer columns and CEL validation rules.
pub fn resource_graph_definition_crd() -> CustomResourceDefinition {
    let columns = vec![
        column("APIVERSION", "string", ".spec.schema.apiVersion", None),
        column("KIND", "string", ".spec.schema.kind", None),
        column("STATE", "string", ".status.state", None),
        column(
            "READY",
            "string",
            ".status.conditions[?(@.type==\"Ready\")].status",
            None,
        ),
        column(
            "TOPOLOGICALORDER",
            "string",
            ".status.topologicalOrder",
            Some(1),
        ),
        column("AGE", "date", ".metadata.creationTimestamp", None),
    ];
    build_crd(CrdParts {
        group: RGD_GROUP,
        kind: "ResourceGraphDefinition",
        plural: "resourcegraphdefinitions",
        short_name: "rgd",
        spec: with_required_scope(schema_of::<ResourceGraphDefinitionSpec>()),
        status: schema_of::<ResourceGraphDefinitionStatus>(),
        columns,
        selectable_fields: Vec::new(),
    })
}

/// The CRD of `graphrevisions.internal.kro.run`: cluster-scoped, short name `gr`, immutable spec,
/// selectable field `.spec.snapshot.name`.
pub fn graph_revision_crd() -> CustomResourceDefinition {
    let columns = vec![
        column("RGD", "string", ".spec.snapshot.name", Some(1)),
        column("REVISION", "integer", ".spec.revision", None),
        column(
            "HASH",
            "string",
            ".metadata.labels.kro\\.run/graph-revision-hash",
            Some(1),
        ),
        column(
            "READY",
            "string",
            ".status.conditions[?(@.type==\"Ready\")].status",
            None,
        ),
        column("AGE", "date", ".metadata.creationTimestamp", None),
    ];
    build_crd(CrdParts {
        group: GRAPH_REVISION_GROUP,
        kind: "GraphRevision",
        plural: "graphrevisions",
        short_name: "gr",
        spec: with_required_scope_in_snapshot(schema_of::<GraphRevisionSpec>()),
        status: schema_of::<GraphRevisionStatus>(),
        columns,
        selectable_fields: vec![SelectableField {
            json_path: ".spec.snapshot.name".to_owned(),
        }],
    })
}

struct CrdParts {
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    short_name: &'static str,
    spec: JSONSchemaProps,
    status: JSONSchemaProps,
    columns: Vec<CustomResourceColumnDefinition>,
    selectable_fields: Vec<SelectableField>,
}

fn build_crd(parts: CrdParts) -> CustomResourceDefinition {
    let typed = |type_: &str| JSONSchemaProps {
        type_: Some(type_.to_owned()),
        ..JSONSchemaProps::default()
    };
    let root = JSONSchemaProps {
        type_: Some("object".to_owned()),
        properties: Some(BTreeMap::from([
            ("apiVersion".to_owned(), typed("string")),
            ("kind".to_owned(), typed("string")),
            ("metadata".to_owned(), typed("object")),
            ("spec".to_owned(), parts.spec),
            ("status".to_owned(), parts.status),
        ])),
        ..JSONSchemaProps::default()
    };
    CustomResourceDefinition {
        metadata: ObjectMeta {
            name: Some(format!("{}.{}", parts.plural, parts.group)),
            ..ObjectMeta::default()
        },
        spec: CustomResourceDefinitionSpec {
            group: parts.group.to_owned(),
            names: CustomResourceDefinitionNames {
                kind: parts.kind.to_owned(),
                list_kind: Some(format!("{}List", parts.kind)),
                plural: parts.plural.to_owned(),
                singular: Some(parts.kind.to_lowercase()),
                short_names: Some(vec![parts.short_name.to_owned()]),
                categories: None,
            },
            scope: "Cluster".to_owned(),
            versions: vec![CustomResourceDefinitionVersion {
                name: RGD_VERSION.to_owned(),
                served: true,
                storage: true,
                schema: Some(CustomResourceValidation {
                    open_api_v3_schema: Some(root),
                }),
                subresources: Some(CustomResourceSubresources {
                    status: Some(CustomResourceSubresourceStatus(Value::Object(Map::new()))),
                    scale: None,
                }),
                additional_printer_columns: Some(parts.columns),
                selectable_fields: (!parts.selectable_fields.is_empty())
                    .then_some(parts.selectable_fields),
                ..CustomResourceDefinitionVersion::default()
            }],
            ..CustomResourceDefinitionSpec::default()
        },
        status: None,
    }
}

/// Marks `schema.scope` required, as upstream's CRD does: it has a default, so the API server
/// fills it in before validating and no RGD is refused for leaving it out.
fn with_required_scope(mut spec: JSONSchemaProps) -> JSONSchemaProps {
    let schema = spec
        .properties
        .as_mut()
        .and_then(|properties| properties.get_mut("schema"));
    if let Some(schema) = schema {
        let required = schema.required.get_or_insert_with(Vec::new);
        if !required.iter().any(|field| field == "scope") {
            required.push("scope".to_owned());
            required.sort();
        }
    }
    spec
}

/// [`with_required_scope`] for the RGD spec a GraphRevision carries in `snapshot.spec`.
fn with_required_scope_in_snapshot(mut spec: JSONSchemaProps) -> JSONSchemaProps {
    let snapshot_spec = spec
        .properties
        .as_mut()
        .and_then(|properties| properties.get_mut("snapshot"))
        .and_then(|snapshot| snapshot.properties.as_mut())
        .and_then(|properties| properties.remove_entry("spec"));
    if let (Some((key, inner)), Some(properties)) = (
        snapshot_spec,
        spec.properties
            .as_mut()
            .and_then(|properties| properties.get_mut("snapshot"))
            .and_then(|snapshot| snapshot.properties.as_mut()),
    ) {
        properties.insert(key, with_required_scope(inner));
    }
    spec
}

fn column(
    name: &str,
    type_: &str,
    json_path: &str,
    priority: Option<i32>,
) -> CustomResourceColumnDefinition {
    CustomResourceColumnDefinition {
        name: name.to_owned(),
        type_: type_.to_owned(),
        json_path: json_path.to_owned(),
        priority,
        ..CustomResourceColumnDefinition::default()
    }
}

/// The structural OpenAPI schema of `T`: schemars' OpenAPI 3 output with every subschema
/// inlined and the keywords Kubernetes rejects or that only restate serde defaults removed.
fn schema_of<T: schemars::JsonSchema>() -> JSONSchemaProps {
    let settings = SchemaSettings::openapi3().with(|settings| {
        settings.inline_subschemas = true;
        settings.meta_schema = None;
    });
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let mut value = schema.to_value();
    make_structural(&mut value);
    // The generated schema only uses keywords JSONSchemaProps models, so this cannot fail for
    // the types of this module; a failure would show up as an empty schema in the CRD test.
    serde_json::from_value(value).unwrap_or_default()
}

fn make_structural(value: &mut Value) {
    match value {
        Value::Object(map) => {
            // controller-gen lists required fields alphabetically; upstream's CRDs show that order.
            if let Some(Value::Array(required)) = map.get_mut("required") {
                required.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
            for key in ["$schema", "title", "nullable", "components", "$defs"] {
                map.remove(key);
            }
            // serde defaults for empty strings and collections and absent options are not API
            // defaults.
            if map.get("default").is_some_and(|d| {
                d.is_null() || d == &Value::Array(Vec::new()) || d.as_str() == Some("")
            }) || map
                .get("default")
                .is_some_and(|d| d.as_object().is_some_and(Map::is_empty))
            {
                map.remove("default");
            }
            // `Option<Enum>` comes out as `anyOf: [{enum schema}, {nullable}]`; keep the enum.
            if let Some(Value::Array(variants)) = map.get("anyOf").cloned() {
                let concrete: Vec<Value> = variants
                    .into_iter()
                    .filter(|v| v.get("nullable").is_none() || v.get("type").is_some())
                    .collect();
                if let [single] = concrete.as_slice()
                    && let Value::Object(inner) = single
                {
                    map.remove("anyOf");
                    for (k, v) in inner {
                        map.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
            }
            collapse_string_enum(map);
            for child in map.values_mut() {
                make_structural(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(make_structural),
        _ => {}
    }
}

/// Unit enums with documented variants come out as `oneOf` single-value string enums; Kubernetes
/// wants one `enum` on a string.
fn collapse_string_enum(map: &mut Map<String, Value>) {
    let Some(Value::Array(variants)) = map.get("oneOf") else {
        return;
    };
    let values: Option<Vec<Value>> = variants
        .iter()
        .map(|variant| match variant.get("enum") {
            Some(Value::Array(single)) if single.len() == 1 && single[0].is_string() => {
                Some(single[0].clone())
            }
            _ => None,
        })
        .collect();
    if let Some(values) = values {
        map.remove("oneOf");
        map.insert("type".to_owned(), Value::String("string".to_owned()));
        map.insert("enum".to_owned(), Value::Array(values));
    }
}
