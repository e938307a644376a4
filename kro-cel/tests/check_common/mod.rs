//! Shared fixtures for the checker tests: a typed `schema` and a `deployment` resource.

#![allow(dead_code)]

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSON, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use kro_cel::{CelType, TypeEnv, instance_schema_type, object_meta_type};

pub fn prop(type_: &str) -> JSONSchemaProps {
    JSONSchemaProps {
        type_: Some(type_.to_string()),
        ..Default::default()
    }
}

pub fn with_format(type_: &str, format: &str) -> JSONSchemaProps {
    JSONSchemaProps {
        format: Some(format.to_string()),
        ..prop(type_)
    }
}

pub fn with_default(mut schema: JSONSchemaProps, value: serde_json::Value) -> JSONSchemaProps {
    schema.default = Some(JSON(value));
    schema
}

pub fn array(items: JSONSchemaProps) -> JSONSchemaProps {
    JSONSchemaProps {
        items: Some(JSONSchemaPropsOrArray::Schema(Box::new(items))),
        ..prop("array")
    }
}

pub fn string_map(values: JSONSchemaProps) -> JSONSchemaProps {
    JSONSchemaProps {
        additional_properties: Some(JSONSchemaPropsOrBool::Schema(Box::new(values))),
        ..prop("object")
    }
}

pub fn object(fields: &[(&str, JSONSchemaProps)], required: &[&str]) -> JSONSchemaProps {
    JSONSchemaProps {
        properties: Some(
            fields
                .iter()
                .map(|(name, schema)| (name.to_string(), schema.clone()))
                .collect::<BTreeMap<_, _>>(),
        ),
        required: Some(required.iter().map(|r| r.to_string()).collect()),
        ..prop("object")
    }
}

pub fn preserve_unknown() -> JSONSchemaProps {
    JSONSchemaProps {
        x_kubernetes_preserve_unknown_fields: Some(true),
        ..Default::default()
    }
}

pub fn int_or_string() -> JSONSchemaProps {
    JSONSchemaProps {
        x_kubernetes_int_or_string: Some(true),
        ..Default::default()
    }
}

/// The instance spec used by the tables.
pub fn spec_schema() -> JSONSchemaProps {
    object(
        &[
            ("name", prop("string")),
            (
                "replicas",
                with_default(prop("integer"), serde_json::json!(3)),
            ),
            ("image", prop("string")),
            ("port", prop("integer")),
            ("ratio", prop("number")),
            (
                "enabled",
                with_default(prop("boolean"), serde_json::json!(true)),
            ),
            ("labels", string_map(prop("string"))),
            ("tags", array(prop("string"))),
            ("ports", array(prop("integer"))),
            (
                "config",
                object(
                    &[
                        ("host", prop("string")),
                        ("timeout", with_format("string", "duration")),
                        ("retries", prop("integer")),
                    ],
                    &["host"],
                ),
            ),
            ("created", with_format("string", "date-time")),
            ("data", with_format("string", "byte")),
            ("extra", preserve_unknown()),
            ("intOrString", int_or_string()),
            (
                "items",
                array(object(
                    &[("name", prop("string")), ("value", prop("integer"))],
                    &["name"],
                )),
            ),
        ],
        &["name", "port", "tags", "config"],
    )
}

/// A Deployment-like resource type.
pub fn deployment_type() -> CelType {
    let schema = object(
        &[
            ("apiVersion", prop("string")),
            ("kind", prop("string")),
            (
                "spec",
                object(&[("replicas", prop("integer"))], &["replicas"]),
            ),
            (
                "status",
                object(
                    &[
                        ("availableReplicas", prop("integer")),
                        (
                            "conditions",
                            array(object(
                                &[("type", prop("string")), ("status", prop("string"))],
                                &["type", "status"],
                            )),
                        ),
                    ],
                    &[],
                ),
            ),
        ],
        &["spec"],
    );
    let mut ty = CelType::from_schema_named("deployment", &schema);
    if let CelType::Struct(s) = &mut ty {
        std::sync::Arc::make_mut(s).fields.insert(
            "metadata".to_string(),
            kro_cel::FieldType::required(object_meta_type("deployment.metadata", true)),
        );
    }
    ty
}

/// `schema`, `deployment`, and `runtime` when `with_runtime`.
pub fn env(with_runtime: bool) -> TypeEnv {
    let mut env = TypeEnv::new();
    env.declare("schema", instance_schema_type(&spec_schema(), false));
    env.declare("deployment", deployment_type());
    env.declare("pods", CelType::list(deployment_type()));
    env.declare("anything", CelType::Dyn);
    if with_runtime {
        env.declare("runtime", CelType::Dyn);
    }
    env
}
