//! Crafted bad RGDs fail with the exact message, and every problem is reported together.

use kro_api::ResourceGraphDefinition;
use kro_graph::{OfflineResolver, compile};

fn rgd(resources: &str, status: &str) -> ResourceGraphDefinition {
    let text = format!(
        r#"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: crafted
spec:
  schema:
    apiVersion: v1alpha1
    kind: Crafted
    spec:
      name: string
      replicas: integer | default=1
      names: "[]string"
{status}
  resources:
{resources}
"#
    );
    ResourceGraphDefinition::from_yaml(&text).expect("parses")
}

fn config_map(id: &str, name: &str, data: &str) -> String {
    format!(
        r#"
  - id: {id}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: {name}
      data:
        value: {data}
"#
    )
}

fn messages(rgd: &ResourceGraphDefinition) -> Vec<String> {
    compile(rgd, &OfflineResolver::new())
        .expect_err("must not compile")
        .messages()
}

#[test]
fn cycle_reports_the_full_path() {
    let resources = [
        config_map("a", "${b.metadata.name}-a", "x"),
        config_map("b", "${c.metadata.name}-b", "x"),
        config_map("c", "${a.metadata.name}-c", "x"),
    ]
    .concat();
    assert_eq!(
        messages(&rgd(&resources, "")),
        ["resources: graph contains a cycle: a -> b -> c -> a"]
    );
}

#[test]
fn unknown_kind() {
    let resources = r#"
  - id: widget
    template:
      apiVersion: example.com/v1
      kind: Widget
      metadata:
        name: w
"#;
    assert_eq!(
        messages(&rgd(resources, "")),
        [
            "resource \"widget\" template: failed to get schema for resource widget: schema not found for example.com/v1, Kind=Widget"
        ]
    );
}

#[test]
fn bad_id() {
    let resources = config_map("My-Map", "x", "v");
    assert_eq!(
        messages(&rgd(&resources, "")),
        [
            "resource \"My-Map\" id: invalid resource id \"My-Map\": expected lowerCamelCase (^[a-z][a-zA-Z0-9]*$)"
        ]
    );
    let reserved = config_map("schema", "x", "v");
    assert_eq!(
        messages(&rgd(&reserved, "")),
        ["resource \"schema\" id: resource id \"schema\" is a reserved word"]
    );
}

#[test]
fn type_mismatch() {
    let resources = r#"
  - id: deployment
    template:
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: ${schema.spec.name}
      spec:
        replicas: ${schema.spec.name}
        selector: {}
        template: {}
"#;
    assert_eq!(
        messages(&rgd(resources, "")),
        [
            "resource \"deployment\" template.spec.replicas: type mismatch in resource \"deployment\" at path \"spec.replicas\": expression \"schema.spec.name\" returns type \"string\" but expected \"int\""
        ]
    );
}

#[test]
fn unused_iterator() {
    let resources = r#"
  - id: maps
    forEach:
      - item2: ${schema.spec.names}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}
      data:
        value: ${item2}
"#;
    assert_eq!(
        messages(&rgd(resources, "")),
        [
            "resource \"maps\" template.metadata.name: all forEach dimensions must be used to produce a unique resource identity: iterator \"item2\" is not used in metadata.name or metadata.namespace"
        ]
    );
}

#[test]
fn reserved_label() {
    let resources = r#"
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: x
        labels:
          kro.run/owned: "true"
"#;
    assert_eq!(
        messages(&rgd(resources, "")),
        [
            "resource \"config\" template.metadata.labels: label \"kro.run/owned\" uses the reserved prefix \"kro.run/\""
        ]
    );
}

#[test]
fn literal_status() {
    let status = "    status:\n      ready: \"yes\"\n      name: ${config.metadata.name}";
    let resources = config_map("config", "x", "v");
    assert_eq!(
        messages(&rgd(&resources, status)),
        ["schema.status.ready: status fields without expressions are not supported"]
    );
}

#[test]
fn literal_values_are_checked_against_the_schema() {
    let resources = r#"
  - id: service
    template:
      apiVersion: v1
      kind: Service
      metadata:
        name: x
      spec:
        colour: blue
        ports:
          - port: "eighty"
            targetPort: http
"#;
    assert_eq!(
        messages(&rgd(resources, "")),
        [
            "resource \"service\" template.spec.colour: schema not found for field spec.colour",
            "resource \"service\" template.spec.ports[0].port: expected integer type for path spec.ports[0].port, got string",
        ]
    );
}

#[test]
fn every_problem_is_reported_together() {
    let resources = [
        config_map("Bad", "x", "v"),
        config_map("dup", "x", "v"),
        config_map("dup", "x", "v"),
        r#"
  - id: ready
    readyWhen:
      - ${schema.spec.replicas > 0}
    includeWhen:
      - ${schema.spec.name}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: x
"#
        .to_owned(),
    ]
    .concat();
    assert_eq!(
        messages(&rgd(&resources, "")),
        [
            "resource \"Bad\" id: invalid resource id \"Bad\": expected lowerCamelCase (^[a-z][a-zA-Z0-9]*$)",
            "resource \"dup\" id: duplicate resource id \"dup\"",
            "resource \"ready\" includeWhen[0]: expression \"schema.spec.name\" returns type \"string\" but expected \"bool\"",
            "resource \"ready\" readyWhen[0]: readyWhen expressions may only reference the resource itself (\"ready\"), found \"schema\"",
        ]
    );
}
