//! CRDs registered with the offline resolver behave like served kinds: templates may set
//! `apiVersion`, `kind` and `metadata` even when the CRD's schema does not declare them.

use kro_api::ResourceGraphDefinition;
use kro_graph::{OfflineResolver, compile};

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {type: integer}
"#;

const RGD: &str = r#"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: widgets
spec:
  schema:
    apiVersion: v1alpha1
    kind: WidgetSet
    spec:
      name: string
      size: integer | default=1
  resources:
    - id: widget
      template:
        apiVersion: example.com/v1
        kind: Widget
        metadata:
          name: ${schema.spec.name}
          labels:
            team: platform
        spec:
          size: ${schema.spec.size}
"#;

#[test]
fn a_crd_without_object_fields_in_its_schema_can_be_templated() {
    let resolver = OfflineResolver::new();
    resolver.register_crd_yaml(CRD).expect("the CRD registers");
    let rgd = ResourceGraphDefinition::from_yaml(RGD).expect("the RGD parses");
    let graph = compile(&rgd, &resolver).unwrap_or_else(|e| panic!("compiles: {e}"));
    assert_eq!(graph.topological_ids(), vec!["widget".to_owned()]);
}

#[test]
fn a_wrong_literal_in_a_registered_crd_is_still_reported() {
    let resolver = OfflineResolver::new();
    resolver.register_crd_yaml(CRD).expect("the CRD registers");
    let bad = RGD.replace("size: ${schema.spec.size}", "size: large");
    let rgd = ResourceGraphDefinition::from_yaml(&bad).expect("the RGD parses");
    let error = compile(&rgd, &resolver).expect_err("a string where an integer is expected");
    assert!(error.to_string().contains("spec.size"), "{error}");
}
