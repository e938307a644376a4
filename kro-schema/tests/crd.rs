//! CRD generation from an RGD's `spec.schema`.

// Helpers take `json!` literals by value so call sites stay short.
#![allow(clippy::needless_pass_by_value)]

use std::collections::BTreeMap;

use kro_schema::{
    CrdOptions, CrdSpec, JSONSchemaProps, Scope, crd_from_rgd_schema, generate_crd, status_schema,
};
use serde_json::{Value, json};

fn minimal() -> Value {
    json!({"apiVersion": "v1alpha1", "kind": "WebApp", "spec": {"name": "string"}})
}

fn errors(schema: Value) -> Vec<String> {
    match CrdSpec::from_rgd_schema(&schema) {
        Ok(spec) => panic!("should fail, got {spec:?}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn names_version_and_subresource() {
    let crd = crd_from_rgd_schema(&minimal()).expect("converts");
    let value = serde_json::to_value(&crd).expect("serializes");
    assert_eq!(value["metadata"], json!({"name": "webapps.kro.run"}));
    assert_eq!(
        value["spec"]["names"],
        json!({"kind": "WebApp", "listKind": "WebAppList", "plural": "webapps", "singular": "webapp"})
    );
    assert_eq!(value["spec"]["group"], json!("kro.run"));
    assert_eq!(value["spec"]["scope"], json!("Namespaced"));
    let versions = value["spec"]["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0]["name"], json!("v1alpha1"));
    assert_eq!(versions[0]["served"], json!(true));
    assert_eq!(versions[0]["storage"], json!(true));
    assert_eq!(versions[0]["subresources"], json!({"status": {}}));
}

#[test]
fn root_schema_shape() {
    let crd = crd_from_rgd_schema(&minimal()).expect("converts");
    let value = serde_json::to_value(&crd).expect("serializes");
    let root = &value["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    assert_eq!(root["type"], json!("object"));
    assert_eq!(root["properties"]["apiVersion"], json!({"type": "string"}));
    assert_eq!(root["properties"]["kind"], json!({"type": "string"}));
    assert_eq!(root["properties"]["metadata"], json!({"type": "object"}));
    assert_eq!(
        root["properties"]["spec"],
        json!({"type": "object", "properties": {"name": {"type": "string"}}})
    );
    assert_eq!(
        root["properties"]["status"],
        json!({
            "type": "object",
            "properties": {
                "state": {"type": "string"},
                "conditions": {"type": "array", "items": {"type": "object", "properties": {
                    "type": {"type": "string"},
                    "status": {"type": "string"},
                    "reason": {"type": "string"},
                    "message": {"type": "string"},
                    "lastTransitionTime": {"type": "string"},
                    "observedGeneration": {"type": "integer"}
                }}},
                "resources": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["id"],
                    "items": {"type": "object", "required": ["id"], "properties": {
                        "id": {"type": "string"},
                        "state": {"type": "string"},
                        "message": {"type": "string"},
                        "waitingFor": {"type": "string"},
                        "readyAfterSeconds": {"type": "integer"}
                    }}
                }
            }
        })
    );
}

#[test]
fn default_printer_columns() {
    let crd = crd_from_rgd_schema(&minimal()).expect("converts");
    let value = serde_json::to_value(&crd).expect("serializes");
    assert_eq!(
        value["spec"]["versions"][0]["additionalPrinterColumns"],
        json!([
            {"name": "State", "type": "string", "jsonPath": ".status.state",
             "description": "The state of a ResourceGraphDefinition instance"},
            {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status",
             "description": "Whether a ResourceGraphDefinition instance is ready"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp",
             "description": "Age of the resource"}
        ])
    );
}

#[test]
fn explicit_group_scope_names_columns_and_metadata() {
    let mut schema = minimal();
    schema["group"] = json!("apps.example.com");
    schema["scope"] = json!("Cluster");
    schema["shortNames"] = json!(["wa", "web"]);
    schema["categories"] = json!(["all", "apps"]);
    schema["additionalPrinterColumns"] =
        json!([{"name": "Image", "type": "string", "jsonPath": ".spec.image", "priority": 1}]);
    schema["metadata"] = json!({
        "labels": {"team": "a", "kro.run/owned": "false"},
        "annotations": {"note": "x"}
    });
    let spec = CrdSpec::from_rgd_schema(&schema).expect("converts");
    assert_eq!(spec.scope, Scope::Cluster);
    let crd = generate_crd(
        &spec,
        None,
        &CrdOptions::kro_owned("web", "uid-7", "v0.9.0"),
    );
    let value = serde_json::to_value(&crd).expect("serializes");
    assert_eq!(value["metadata"]["name"], json!("webapps.apps.example.com"));
    // kro's labels win over the RGD's.
    assert_eq!(
        value["metadata"]["labels"],
        json!({
            "team": "a",
            "kro.run/owned": "true",
            "kro.run/kro-version": "v0.9.0",
            "kro.run/resource-graph-definition-id": "uid-7",
            "kro.run/resource-graph-definition-name": "web"
        })
    );
    assert_eq!(value["metadata"]["annotations"], json!({"note": "x"}));
    assert_eq!(value["spec"]["scope"], json!("Cluster"));
    assert_eq!(value["spec"]["names"]["shortNames"], json!(["wa", "web"]));
    assert_eq!(value["spec"]["names"]["categories"], json!(["all", "apps"]));
    assert_eq!(
        value["spec"]["versions"][0]["additionalPrinterColumns"],
        json!([{"name": "Image", "type": "string", "jsonPath": ".spec.image", "priority": 1}])
    );
}

#[test]
fn inferred_status_keeps_user_fields_and_adds_state_and_conditions_once() {
    let mut user = BTreeMap::new();
    user.insert(
        "url".to_owned(),
        JSONSchemaProps {
            type_: Some("string".into()),
            ..Default::default()
        },
    );
    user.insert(
        "state".to_owned(),
        JSONSchemaProps {
            type_: Some("integer".into()),
            ..Default::default()
        },
    );
    let status = status_schema(Some(JSONSchemaProps {
        type_: Some("object".into()),
        properties: Some(user),
        ..Default::default()
    }));
    let props = status.properties.expect("properties");
    assert_eq!(
        props.keys().collect::<Vec<_>>(),
        ["conditions", "resources", "state", "url"]
    );
    // A user-defined `state` is not overwritten.
    assert_eq!(props["state"].type_.as_deref(), Some("integer"));
}

#[test]
fn status_is_passed_into_the_crd() {
    let spec = CrdSpec::from_rgd_schema(&minimal()).expect("converts");
    let mut fields = BTreeMap::new();
    fields.insert(
        "replicas".to_owned(),
        JSONSchemaProps {
            type_: Some("integer".into()),
            ..Default::default()
        },
    );
    let status = JSONSchemaProps {
        type_: Some("object".into()),
        properties: Some(fields),
        ..Default::default()
    };
    let crd = generate_crd(&spec, Some(status), &CrdOptions::default());
    let value = serde_json::to_value(&crd).expect("serializes");
    let status = &value["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"];
    assert_eq!(status["properties"]["replicas"], json!({"type": "integer"}));
    assert!(status["properties"].get("conditions").is_some());
}

#[test]
fn yaml_is_deterministic() {
    let schema = json!({
        "apiVersion": "v1", "kind": "Thing",
        "spec": {"z": "string", "a": {"m": "integer | default=1"}, "list": "[]string"},
        "types": {"T": {"x": "string"}},
    });
    let render =
        || serde_saphyr::to_string(&crd_from_rgd_schema(&schema).expect("converts")).expect("yaml");
    let first = render();
    for _ in 0..5 {
        assert_eq!(render(), first);
    }
    let a = first.find("      a:").expect("a");
    let z = first.find("      z:").expect("z");
    assert!(a < z, "properties are sorted:\n{first}");
}

#[test]
fn schema_level_errors() {
    assert_eq!(
        errors(json!("x")),
        ["schema: expected a map with `apiVersion`, `kind` and `spec`, got `x`"]
    );
    assert_eq!(
        errors(json!({"spec": {}})),
        [
            "schema.kind: missing required field: expected a kind such as `WebApp`",
            "schema.apiVersion: missing required field: expected a version such as `v1alpha1`",
        ]
    );
    assert_eq!(
        errors(json!({"kind": "webApp", "apiVersion": "1"})),
        [
            "schema.kind: expected an UpperCamelCase kind of 1 to 63 letters and digits \
             (`^[A-Z][a-zA-Z0-9]{0,62}$`), got `webApp`",
            "schema.apiVersion: expected a version such as `v1`, `v1alpha1` or `v2beta3` \
             (`^v[0-9]+(alpha[0-9]+|beta[0-9]+)?$`), got `1`",
        ]
    );
    assert_eq!(
        errors(json!({"kind": 3, "apiVersion": "v1"})),
        ["schema.kind: expected a kind such as `WebApp`, got a number"]
    );
    let base = |extra: Value| {
        let mut schema = minimal();
        for (key, value) in extra.as_object().expect("map") {
            schema[key] = value.clone();
        }
        errors(schema)
    };
    assert_eq!(
        base(json!({"group": "example"})),
        [
            "schema.group: expected a DNS subdomain with at least one dot, such as `example.com`, got `example`"
        ]
    );
    assert_eq!(
        base(json!({"group": 1})),
        ["schema.group: expected a string, got a number"]
    );
    assert_eq!(
        base(json!({"scope": "Global"})),
        ["schema.scope: expected `Namespaced` or `Cluster`, got `Global`"]
    );
    assert_eq!(
        base(json!({"shortNames": ["ok", "Bad", "ok"]})),
        [
            "schema.shortNames[1]: expected a lower-case name of at most 63 characters \
             (`^[a-z]([-a-z0-9]*[a-z0-9])?$`), got `Bad`",
            "schema.shortNames[2]: duplicate entry `ok`: expected each entry once",
        ]
    );
    let many: Vec<String> = (0..33).map(|i| format!("n{i}")).collect();
    assert_eq!(
        base(json!({"categories": many})),
        ["schema.categories: expected at most 32 names, got 33 names"]
    );
    assert_eq!(
        base(
            json!({"additionalPrinterColumns": [{"name": "x", "type": "float", "jsonPath": ".a"}]})
        ),
        [
            "schema.additionalPrinterColumns[0].type: expected one of integer, number, string, \
          boolean, date, got `float`"
        ]
    );
    assert_eq!(
        base(json!({"additionalPrinterColumns": [{"type": "string"}]})),
        [
            "schema.additionalPrinterColumns[0].name: missing required field: expected a column name",
            "schema.additionalPrinterColumns[0].jsonPath: missing required field: expected a \
             JSONPath such as `.spec.image`",
        ]
    );
    let malformed = base(json!({"additionalPrinterColumns": [{"name": 3}]}));
    assert_eq!(malformed.len(), 1);
    assert!(
        malformed[0].starts_with(
            "schema.additionalPrinterColumns[0]: expected a column with `name`, `type` and `jsonPath`, got "
        ),
        "{malformed:?}"
    );
    assert_eq!(
        base(json!({"metadata": {"labels": {"a": 1}}})),
        ["schema.metadata.labels.a: expected a string, got a number"]
    );
    assert_eq!(
        base(json!({"spec": {"n": "integer | default=x"}, "types": {"T": "Nope"}})),
        [
            "schema.types.T: unknown type `Nope`: expected string, integer, boolean, float, \
             object, []T, map[string]T or a type declared in schema.types",
            "schema.spec.n: marker `default`: expected an integer, got `x`",
        ]
    );
}

#[test]
fn crd_spec_accessors() {
    let mut schema = minimal();
    schema["kind"] = json!("NetworkPolicy");
    let spec = CrdSpec::from_rgd_schema(&schema).expect("converts");
    assert_eq!(spec.plural(), "networkpolicies");
    assert_eq!(spec.singular(), "networkpolicy");
    assert_eq!(spec.list_kind(), "NetworkPolicyList");
    assert_eq!(spec.crd_name(), "networkpolicies.kro.run");
}
