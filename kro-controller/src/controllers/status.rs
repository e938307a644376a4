//! The parts of the RGD status derived from a compiled graph.

use kro_api::{Dependency, ResourceInformation};
use kro_graph::Graph;

/// `{id, dependencies:[{id}]}` for each resource with at least one dependency, in topological
/// order.
#[must_use]
pub fn resources_info(graph: &Graph) -> Vec<ResourceInformation> {
    graph
        .topological_order()
        .filter(|node| !node.dependencies().is_empty())
        .map(|node| ResourceInformation {
            id: node.id().to_owned(),
            dependencies: node
                .dependencies()
                .iter()
                .map(|id| Dependency { id: id.clone() })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kro_api::ResourceGraphDefinition;
    use kro_graph::{OfflineResolver, compile};

    #[test]
    fn only_resources_with_dependencies_are_listed_in_topological_order() {
        let rgd = ResourceGraphDefinition::from_yaml(
            r#"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: app}
spec:
  schema: {apiVersion: v1alpha1, kind: App, spec: {name: string}}
  resources:
  - id: service
    template: {apiVersion: v1, kind: Service, metadata: {name: "${config.metadata.name}"}}
  - id: config
    template: {apiVersion: v1, kind: ConfigMap, metadata: {name: "${schema.spec.name}"}}
"#,
        )
        .expect("valid rgd");
        let graph = compile(&rgd, &OfflineResolver::new()).expect("compiles");
        let info = resources_info(&graph);
        assert_eq!(info.len(), 1);
        assert_eq!(info[0].id, "service");
        assert_eq!(info[0].dependencies[0].id, "config");
    }
}
