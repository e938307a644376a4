//! OpenAPI v3 schema ⇄ CEL type conversions.

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};

use super::{CelType, FieldType, StructType};

pub(super) fn from_schema(name: &str, schema: &JSONSchemaProps) -> CelType {
    if schema.x_kubernetes_int_or_string == Some(true) {
        return CelType::Dyn;
    }
    let preserves_unknown = schema.x_kubernetes_preserve_unknown_fields == Some(true);
    match schema.type_.as_deref() {
        Some("integer") => CelType::Int,
        Some("number") => CelType::Double,
        Some("boolean") => CelType::Bool,
        Some("string") => match schema.format.as_deref() {
            Some("byte") => CelType::Bytes,
            Some("date-time" | "date") => CelType::Timestamp,
            Some("duration") => CelType::Duration,
            _ => CelType::String,
        },
        Some("array") => match &schema.items {
            Some(JSONSchemaPropsOrArray::Schema(items)) => {
                CelType::list(from_schema(&format!("{name}[]"), items))
            }
            _ => CelType::list(CelType::Dyn),
        },
        Some("object") => object_type(name, schema, preserves_unknown),
        None if schema.properties.is_some() => object_type(name, schema, preserves_unknown),
        _ => CelType::Dyn,
    }
}

fn object_type(name: &str, schema: &JSONSchemaProps, preserves_unknown: bool) -> CelType {
    if let Some(properties) = schema.properties.as_ref().filter(|p| !p.is_empty()) {
        let required = schema.required.as_deref().unwrap_or_default();
        let fields = properties
            .iter()
            .map(|(field, prop)| {
                let field_type = FieldType {
                    ty: from_schema(&format!("{name}.{field}"), prop),
                    required: required.iter().any(|r| r == field),
                    has_default: prop.default.is_some(),
                };
                (field.clone(), field_type)
            })
            .collect();
        let mut struct_type = StructType::new(name, fields);
        struct_type.preserves_unknown_fields = preserves_unknown;
        return CelType::object(struct_type);
    }
    match &schema.additional_properties {
        Some(JSONSchemaPropsOrBool::Schema(values)) => {
            CelType::map(CelType::String, from_schema(&format!("{name}{{}}"), values))
        }
        _ if preserves_unknown => CelType::Dyn,
        // An object without properties or additionalProperties holds arbitrary keys as far as
        // the checker can tell, so its values are `dyn` rather than a closed, empty struct.
        _ => CelType::map(CelType::String, CelType::Dyn),
    }
}

fn typed(type_: &str) -> JSONSchemaProps {
    JSONSchemaProps {
        type_: Some(type_.to_string()),
        ..JSONSchemaProps::default()
    }
}

fn preserve_unknown() -> JSONSchemaProps {
    JSONSchemaProps {
        x_kubernetes_preserve_unknown_fields: Some(true),
        ..JSONSchemaProps::default()
    }
}

pub(super) fn to_schema(ty: &CelType) -> JSONSchemaProps {
    match ty {
        CelType::Bool => typed("boolean"),
        CelType::Int | CelType::Uint => typed("integer"),
        CelType::Double => typed("number"),
        CelType::String | CelType::Type => typed("string"),
        CelType::Bytes => JSONSchemaProps {
            format: Some("byte".to_string()),
            ..typed("string")
        },
        CelType::Timestamp => JSONSchemaProps {
            format: Some("date-time".to_string()),
            ..typed("string")
        },
        CelType::Duration => JSONSchemaProps {
            format: Some("duration".to_string()),
            ..typed("string")
        },
        CelType::List(element) => JSONSchemaProps {
            items: Some(JSONSchemaPropsOrArray::Schema(Box::new(to_schema(element)))),
            ..typed("array")
        },
        CelType::Map(_, value) => JSONSchemaProps {
            additional_properties: Some(JSONSchemaPropsOrBool::Schema(Box::new(to_schema(value)))),
            ..typed("object")
        },
        CelType::Struct(s) => struct_schema(&s.fields, s.preserves_unknown_fields),
        CelType::Condition => struct_schema(&CelType::condition_fields(), false),
        CelType::Optional(inner) => to_schema(inner),
        CelType::Dyn
        | CelType::Null
        | CelType::Param(_)
        | CelType::Url
        | CelType::Ip
        | CelType::Cidr
        | CelType::Quantity
        | CelType::Semver => preserve_unknown(),
    }
}

fn struct_schema(fields: &BTreeMap<String, FieldType>, preserves_unknown: bool) -> JSONSchemaProps {
    let properties: BTreeMap<String, JSONSchemaProps> = fields
        .iter()
        .map(|(name, field)| (name.clone(), to_schema(&field.ty)))
        .collect();
    let required: Vec<String> = fields
        .iter()
        .filter(|(_, field)| field.required)
        .map(|(name, _)| name.clone())
        .collect();
    JSONSchemaProps {
        properties: Some(properties),
        required: (!required.is_empty()).then_some(required),
        x_kubernetes_preserve_unknown_fields: preserves_unknown.then_some(true),
        ..typed("object")
    }
}

/// The CEL type of a Kubernetes `ObjectMeta`, named `name`. `name`, `namespace`, `uid`,
/// `resourceVersion`, `generation` and `creationTimestamp` are marked required because the API
/// server sets them on every stored namespaced object; `namespace` is left out when
/// `with_namespace` is false (cluster-scoped objects).
pub fn object_meta_type(name: &str, with_namespace: bool) -> CelType {
    let string_map = || CelType::map(CelType::String, CelType::String);
    let owner_reference = CelType::object(StructType::new(
        format!("{name}.ownerReferences[]"),
        [
            ("apiVersion", FieldType::required(CelType::String)),
            ("kind", FieldType::required(CelType::String)),
            ("name", FieldType::required(CelType::String)),
            ("uid", FieldType::required(CelType::String)),
            ("controller", FieldType::optional(CelType::Bool)),
            ("blockOwnerDeletion", FieldType::optional(CelType::Bool)),
        ]
        .into_iter()
        .map(|(field, ty)| (field.to_string(), ty))
        .collect(),
    ));
    let mut fields: BTreeMap<String, FieldType> = [
        ("name", FieldType::required(CelType::String)),
        ("generateName", FieldType::optional(CelType::String)),
        ("uid", FieldType::required(CelType::String)),
        ("resourceVersion", FieldType::required(CelType::String)),
        ("generation", FieldType::required(CelType::Int)),
        ("creationTimestamp", FieldType::required(CelType::Timestamp)),
        ("deletionTimestamp", FieldType::optional(CelType::Timestamp)),
        (
            "deletionGracePeriodSeconds",
            FieldType::optional(CelType::Int),
        ),
        ("labels", FieldType::optional(string_map())),
        ("annotations", FieldType::optional(string_map())),
        (
            "ownerReferences",
            FieldType::optional(CelType::list(owner_reference)),
        ),
        (
            "finalizers",
            FieldType::optional(CelType::list(CelType::String)),
        ),
        (
            "managedFields",
            FieldType::optional(CelType::list(CelType::Dyn)),
        ),
    ]
    .into_iter()
    .map(|(field, ty)| (field.to_string(), ty))
    .collect();
    if with_namespace {
        fields.insert(
            "namespace".to_string(),
            FieldType::required(CelType::String),
        );
    }
    CelType::object(StructType::new(name, fields))
}

/// The type of the `schema` variable of an RGD: `apiVersion`, `kind`, the full `metadata`
/// (without `namespace` for cluster-scoped instances) and `spec` typed from `spec_schema`. The
/// instance's `status` is never readable.
pub fn instance_schema_type(spec_schema: &JSONSchemaProps, cluster_scoped: bool) -> CelType {
    let spec = match from_schema("schema.spec", spec_schema) {
        // An empty spec schema still yields an object, so reading it is not an error.
        CelType::Map(..) => CelType::object(StructType::new("schema.spec", BTreeMap::new())),
        other => other,
    };
    let fields = [
        ("apiVersion", FieldType::required(CelType::String)),
        ("kind", FieldType::required(CelType::String)),
        (
            "metadata",
            FieldType::required(object_meta_type("schema.metadata", !cluster_scoped)),
        ),
        ("spec", FieldType::required(spec)),
    ]
    .into_iter()
    .map(|(field, ty)| (field.to_string(), ty))
    .collect();
    CelType::object(StructType::new("schema", fields))
}
