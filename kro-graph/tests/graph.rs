//! What a compiled graph exposes: slots, collections, external selectors, status schema, hash.

use kro_api::ResourceGraphDefinition;
use kro_cel::CelType;
use kro_graph::{ExternalSelection, NodeKind, OfflineResolver, compile};

const RGD: &str = r#"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: shapes
spec:
  schema:
    apiVersion: v1alpha1
    kind: Shapes
    spec:
      names: "[]string"
      port: integer | default=80
    status:
      count: ${size(maps)}
      first: ${maps[0].metadata.name}
      port: "port-${string(schema.spec.port)}"
  resources:
  - id: maps
    forEach:
    - entry: ${schema.spec.names}
    readyWhen:
    - ${each.metadata.name != ""}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${entry}
      data:
        port: ${string(schema.spec.port)}
  - id: secrets
    externalRef:
      apiVersion: v1
      kind: Secret
      metadata:
        selector:
          matchLabels:
            app: ${schema.metadata.name}
"#;

fn graph() -> kro_graph::Graph {
    let rgd = ResourceGraphDefinition::from_yaml(RGD).expect("parses");
    compile(&rgd, &OfflineResolver::new()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn collections_and_selectors_are_lists() {
    let graph = graph();
    let maps = graph.resource("maps").expect("maps");
    assert!(maps.is_collection());
    assert_eq!(maps.for_each()[0].name(), "entry");
    assert_eq!(
        maps.for_each()[0].expression().output_type(),
        &CelType::list(CelType::String)
    );
    let paths: Vec<String> = maps.slots().iter().map(|s| s.path().to_string()).collect();
    assert_eq!(paths, ["data.port", "metadata.name"]);
    let secrets = graph.resource("secrets").expect("secrets");
    assert!(matches!(
        secrets.kind(),
        NodeKind::External(ExternalSelection::BySelector)
    ));
    assert_eq!(secrets.plural(), "secrets");
    assert_eq!(
        secrets.slots()[0].path().to_string(),
        "metadata.selector.matchLabels.app"
    );
}

#[test]
fn status_schema_is_inferred_from_expression_types() {
    let graph = graph();
    let status = graph.instance().status_schema();
    let properties = status.properties.as_ref().expect("properties");
    assert_eq!(properties["count"].type_.as_deref(), Some("integer"));
    assert_eq!(properties["first"].type_.as_deref(), Some("string"));
    assert_eq!(properties["port"].type_.as_deref(), Some("string"));
    assert_eq!(graph.instance().dependencies(), ["maps"]);
    let crd = graph.crd();
    assert_eq!(crd.metadata.name.as_deref(), Some("shapes.kro.run"));
    let root = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("schema");
    let status = &root.properties.as_ref().expect("root properties")["status"];
    let status_properties = status.properties.as_ref().expect("status properties");
    assert!(status_properties.contains_key("count"));
    assert!(status_properties.contains_key("state"));
}

#[test]
fn hash_ignores_resource_order_and_condition_order() {
    let mut rgd = ResourceGraphDefinition::from_yaml(RGD).expect("parses");
    let original = kro_graph::hash::spec_hash(&rgd.spec);
    rgd.spec.resources.reverse();
    rgd.spec.resources[1]
        .ready_when
        .insert(0, "${each.metadata.uid != \"\"}".to_owned());
    let with_condition = kro_graph::hash::spec_hash(&rgd.spec);
    assert_ne!(original, with_condition);
    rgd.spec.resources[1].ready_when.reverse();
    assert_eq!(kro_graph::hash::spec_hash(&rgd.spec), with_condition);
    rgd.spec.schema.group = Some("kro.run".to_owned());
    rgd.spec.schema.scope = Some(kro_api::InstanceScope::Namespaced);
    assert_eq!(kro_graph::hash::spec_hash(&rgd.spec), with_condition);
    rgd.spec.schema.scope = Some(kro_api::InstanceScope::Cluster);
    assert_ne!(kro_graph::hash::spec_hash(&rgd.spec), with_condition);
}

#[test]
fn graph_is_send_sync_and_shared() {
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    let graph = graph();
    assert_send_sync(&graph);
    let clone = graph.clone();
    assert_eq!(clone.spec_hash(), graph.spec_hash());
    assert_eq!(clone.topological_ids(), ["maps", "secrets"]);
}
