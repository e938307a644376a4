//! Rules added after the first compiler: duplicate condition types, CustomResourceDefinition
//! templates, where `omit()` may not appear, and which optional reads deserve a warning.

use kro_api::ResourceGraphDefinition;
use kro_graph::{CompileOptions, Graph, OfflineResolver, compile_with};

/// An RGD with `scope`, `status` (indented under `schema`) and `resources`.
fn rgd(scope: &str, status: &str, resources: &str) -> ResourceGraphDefinition {
    let text = format!(
        r#"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: rules
spec:
  schema:
    apiVersion: v1alpha1
    kind: Rules
    scope: {scope}
    spec:
      name: string
      required: string | required=true
      replicas: integer | default=1
{status}
  resources:
{resources}
"#
    );
    ResourceGraphDefinition::from_yaml(&text).expect("parses")
}

fn options(omit_enabled: bool) -> CompileOptions {
    CompileOptions {
        omit_enabled,
        ..CompileOptions::default()
    }
}

fn compiles(rgd: &ResourceGraphDefinition, omit_enabled: bool) -> Graph {
    compile_with(rgd, &OfflineResolver::new(), &options(omit_enabled)).expect("compiles")
}

fn messages(rgd: &ResourceGraphDefinition, omit_enabled: bool) -> Vec<String> {
    compile_with(rgd, &OfflineResolver::new(), &options(omit_enabled))
        .expect_err("must not compile")
        .messages()
}

const CONFIG: &str = r#"
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.required}
        namespace: default
      data:
        value: fixed
"#;

fn conditions(entries: &[&str]) -> String {
    let mut status = String::from("    status:\n      conditions:\n");
    for entry in entries {
        status.push_str(&format!("        - '{entry}'\n"));
    }
    status
}

#[test]
fn two_conditions_declaring_one_literal_type_warn_and_strict_mode_refuses_them() {
    // Upstream accepts the RGD and drops both conditions at run time, as kro-rs's runtime does.
    let status = conditions(&[
        r#"${runtime.newCondition({type: "DatabaseReady", status: "True"})}"#,
        r#"${runtime.newCondition({type: "CacheReady", status: "True"})}"#,
        r#"${runtime.newCondition({type: "DatabaseReady", status: "False"})}"#,
    ]);
    let graph = compiles(&rgd("Namespaced", &status, CONFIG), false);
    let warnings: Vec<String> = graph.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            r#"schema.status.conditions[2]: condition type "DatabaseReady" is already declared by schema.status.conditions[0]: instances drop both and report the duplicate, as upstream kro does"#
        ]
    );
    assert!(graph.warnings()[0].is_strict_error());
    assert_eq!(
        graph.strict_check().expect_err("strict").messages(),
        [
            r#"schema.status.conditions[2]: condition type "DatabaseReady" is already declared by schema.status.conditions[0]: instances drop both and report the duplicate, as upstream kro does (refused in strict mode)"#
        ]
    );
}

#[test]
fn one_condition_may_name_its_type_in_both_branches() {
    let status = conditions(&[
        r#"${schema.spec.replicas > 0 ? runtime.newCondition({type: "Scaled", status: "True"}) : runtime.newCondition({type: "Scaled", status: "False"})}"#,
        r#"${runtime.newCondition({type: "Configured", status: "True"})}"#,
    ]);
    let graph = compiles(&rgd("Namespaced", &status, CONFIG), false);
    assert_eq!(graph.instance().conditions().len(), 2);
}

const CRD_TEMPLATE: &str = r#"
  - id: crd
    template:
      apiVersion: apiextensions.k8s.io/v1
      kind: CustomResourceDefinition
      metadata:
        name: ${schema.spec.required + ".example.com"}
        labels:
          owner: ${schema.spec.required}
      spec:
        group: example.com
        notAFieldOfTheSchema: 3
        names:
          kind: Example
          plural: examples
        scope: Namespaced
        versions: []
"#;

#[test]
fn crd_templates_are_not_checked_against_their_schema() {
    let graph = compiles(&rgd("Namespaced", "", CRD_TEMPLATE), false);
    let crd = graph.resource("crd").expect("crd node");
    assert_eq!(crd.slots().len(), 2);
    assert_eq!(crd.gvk().kind, "CustomResourceDefinition");
}

#[test]
fn crd_templates_only_take_expressions_in_metadata() {
    let resources = CRD_TEMPLATE.replace(
        "group: example.com",
        "group: ${schema.spec.required}\n        versions: ${[]}",
    );
    let resources = resources.replace("        versions: []\n", "");
    assert_eq!(
        messages(&rgd("Namespaced", "", &resources), false),
        [
            r#"resource "crd" template.spec.group: CustomResourceDefinition templates may only use expressions in metadata, found "${schema.spec.required}""#,
            r#"resource "crd" template.spec.versions: CustomResourceDefinition templates may only use expressions in metadata, found "${[]}""#,
        ]
    );
}

const OMIT_RESOURCES: &str = r#"
  - id: config
    includeWhen:
      - '${schema.spec.replicas > 0 ? true : omit()}'
    readyWhen:
      - '${config.data.size() > 0 ? true : omit()}'
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: '${schema.spec.required == "" ? omit() : schema.spec.required}'
      data:
        value: ${omit()}
  - id: copies
    forEach:
      - copy: '${schema.spec.replicas > 1 ? [1, 2] : omit()}'
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.required + string(copy)}
"#;

#[test]
fn omit_is_rejected_where_a_value_is_required() {
    let status = "    status:\n      name: '${schema.spec.required == \"\" ? omit() : schema.spec.required}'";
    assert_eq!(
        messages(&rgd("Namespaced", status, OMIT_RESOURCES), true),
        [
            r#"resource "config" template.metadata.name: omit() is not allowed in metadata.name, found "${schema.spec.required == "" ? omit() : schema.spec.required}""#,
            r#"resource "config" includeWhen[0]: omit() is not allowed in includeWhen, found "schema.spec.replicas > 0 ? true : omit()""#,
            r#"resource "config" readyWhen[0]: omit() is not allowed in readyWhen, found "config.data.size() > 0 ? true : omit()""#,
            r#"resource "copies" forEach[0].copy: omit() is not allowed in forEach, found "schema.spec.replicas > 1 ? [1, 2] : omit()""#,
            r#"schema.status.name: omit() is not allowed in status, found "${schema.spec.required == "" ? omit() : schema.spec.required}""#,
        ]
    );
}

#[test]
fn omit_is_allowed_in_other_template_fields() {
    let resources = r#"
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.required}
        namespace: '${schema.spec.required == "" ? omit() : schema.spec.required}'
      data:
        value: ${omit()}
"#;
    let graph = compiles(&rgd("Namespaced", "", resources), true);
    assert_eq!(graph.resource("config").expect("config").slots().len(), 3);
}

#[test]
fn omit_cannot_drop_the_namespace_of_a_namespaced_child_of_a_cluster_instance() {
    let resources = r#"
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.required}
        namespace: '${schema.spec.required == "" ? omit() : schema.spec.required}'
"#;
    assert_eq!(
        messages(&rgd("Cluster", "", resources), true),
        [
            r#"resource "config" template.metadata.namespace: omit() is not allowed in metadata.namespace of a namespaced resource in a cluster-scoped instance, found "${schema.spec.required == "" ? omit() : schema.spec.required}""#
        ]
    );
}

#[test]
fn warnings_name_unguarded_reads_of_the_instance_only() {
    let resources = r#"
  - id: app
    includeWhen:
      - ${schema.spec.name != "off"}
    template:
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: ${schema.spec.required}
      spec:
        replicas: ${schema.spec.replicas}
        selector:
          matchLabels:
            app: web
        template:
          metadata:
            labels:
              app: web
          spec:
            containers:
              - name: main
                image: ${schema.spec.name}
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.required}-config
      data:
        available: ${string(app.status.availableReplicas)}
        guarded: ${schema.spec.?name.orValue("none")}
"#;
    let status = "    status:\n      available: ${app.status.availableReplicas}\n      name: ${schema.spec.name}";
    let graph = compiles(&rgd("Namespaced", status, resources), false);
    let located: Vec<(Option<&str>, &str)> = graph
        .warnings()
        .iter()
        .map(|w| (w.resource_id(), w.path()))
        .collect();
    assert_eq!(
        located,
        [
            (
                Some("app"),
                "template.spec.template.spec.containers[0].image"
            ),
            (Some("app"), "includeWhen[0]"),
            (None, "schema.status.name"),
        ]
    );
    let optional = "reads optional field \"schema.spec.name\" that has no default and no has(), \".?\" or orValue() guard; it cannot be evaluated while the field is absent";
    assert_eq!(
        graph.warnings()[1].to_string(),
        format!(
            "resource \"app\" includeWhen[0]: expression \"schema.spec.name != \"off\"\" {optional}"
        )
    );
    assert_eq!(
        graph.warnings()[2].to_string(),
        format!("schema.status.name: expression \"schema.spec.name\" {optional}")
    );
    assert!(
        graph.warnings()[0]
            .message()
            .starts_with("expression \"schema.spec.name\" reads")
    );
}

/// An RGD whose `spec.schema.spec` is `fields` (indented under `spec`).
fn rgd_with_fields(fields: &str) -> ResourceGraphDefinition {
    let text = format!(
        r#"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: lenient
spec:
  schema:
    apiVersion: v1alpha1
    kind: Lenient
    spec:
{fields}
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${{schema.spec.name}}
      data:
        value: fixed
"#
    );
    ResourceGraphDefinition::from_yaml(&text).expect("parses")
}

#[test]
fn schema_checks_upstream_does_not_have_are_warnings_that_strict_mode_refuses() {
    let fields = r#"      name: string | default="a" default="b"
      size: string | minimum=1
      low: integer | minimum=5 maximum=1"#;
    let graph = compiles(&rgd_with_fields(fields), false);
    let warnings: Vec<String> = graph.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "schema.spec.low: marker `minimum`=5 is greater than `maximum`=1: the API server will \
             reject every value of this field",
            "schema.spec.name: marker `default` is given more than once: the last one \
             (`default=b`) is used, as upstream kro does",
            "schema.spec.size: marker `minimum` applies only to integer and float fields, not to \
             `string`: it is kept in the CRD as upstream kro does, but has no effect",
        ]
    );
    assert!(graph.warnings().iter().all(|w| w.is_strict_error()));
    assert!(graph.warnings().iter().all(|w| w.resource_id().is_none()));
    assert_eq!(graph.warnings()[1].path(), "schema.spec.name");

    // The CRD is upstream's: the last default, `minimum` kept on the string.
    let spec = &graph.crd_spec().spec_schema;
    let properties = spec.properties.as_ref().expect("properties");
    assert_eq!(
        properties["name"].default.as_ref().map(|d| &d.0),
        Some(&serde_json::json!("b"))
    );
    assert_eq!(properties["size"].minimum, Some(1.0));

    let refused = graph
        .strict_check()
        .expect_err("strict mode refuses")
        .messages();
    assert_eq!(refused.len(), 3);
    assert_eq!(
        refused[1],
        "schema.spec.name: marker `default` is given more than once: the last one (`default=b`) \
         is used, as upstream kro does (refused in strict mode)"
    );
}

#[test]
fn advice_is_not_refused_in_strict_mode() {
    let graph = compiles(&rgd_with_fields("      name: string | default=a"), false);
    assert!(graph.warnings().is_empty());
    assert!(graph.strict_check().is_ok());
    // An unguarded read of an optional field is advice, not a relaxed check.
    let status = "    status:\n      name: ${schema.spec.name}";
    let graph = compiles(&rgd("Namespaced", status, CONFIG), false);
    assert_eq!(graph.warnings().len(), 1);
    assert!(!graph.warnings()[0].is_strict_error());
    assert!(graph.strict_check().is_ok());
}
