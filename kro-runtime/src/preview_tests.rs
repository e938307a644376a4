use kro_api::ResourceGraphDefinition;
use kro_graph::{OfflineResolver, compile};
use serde_json::json;

use super::*;
use crate::core::{InMemoryView, InstanceState, PlanInput, settle};

/// A Deployment whose readiness needs a controller, a Service reading it, an optional Ingress
/// reading the Service.
const WEBAPP: &str = r#"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: webapplication
spec:
  schema:
    apiVersion: v1alpha1
    kind: WebApplication
    spec:
      name: string | required=true
      image: string | default="nginx:1.27"
      replicas: integer | default=2
      ingress:
        enabled: boolean | default=false
    status:
      availableReplicas: ${deployment.status.?availableReplicas.orValue(0)}
  resources:
    - id: deployment
      readyWhen:
        - ${deployment.status.?availableReplicas.orValue(0) == deployment.spec.replicas}
      template:
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: ${schema.spec.name}
        spec:
          replicas: ${schema.spec.replicas}
          selector:
            matchLabels:
              app: ${schema.spec.name}
          template:
            metadata:
              labels:
                app: ${schema.spec.name}
            spec:
              containers:
                - name: web
                  image: ${schema.spec.image}
    - id: service
      template:
        apiVersion: v1
        kind: Service
        metadata:
          name: ${schema.spec.name}
        spec:
          selector: ${deployment.spec.selector.matchLabels}
          ports:
            - port: 80
    - id: ingress
      includeWhen:
        - ${schema.spec.ingress.enabled}
      template:
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata:
          name: ${schema.spec.name}
        spec:
          defaultBackend:
            service:
              name: ${service.metadata.name}
              port:
                number: 80
"#;

fn graph() -> Graph {
    let rgd = ResourceGraphDefinition::from_yaml(WEBAPP).expect("RGD parses");
    compile(&rgd, &OfflineResolver::new()).expect("RGD compiles")
}

/// An instance as a user writes it: no namespace, uid, generation or defaulted fields.
fn shop() -> Value {
    json!({
        "apiVersion": "kro.run/v1alpha1",
        "kind": "WebApplication",
        "metadata": {"name": "shop"},
        "spec": {"name": "shop", "ingress": {"enabled": true}}
    })
}

fn kinds(rendered: &Rendered) -> Vec<String> {
    rendered
        .objects()
        .map(|object| object["kind"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn a_resource_assumed_ready_unlocks_its_dependents() {
    let graph = graph();
    let waiting = Preview::new(&graph).render(&shop()).expect("renders");
    assert_eq!(kinds(&waiting), ["Deployment"]);
    let deployment = &waiting.plan().nodes[0];
    assert_eq!(deployment.state, NodeState::WaitingForReadiness);
    assert_ne!(waiting.plan().instance_state, InstanceState::Active);

    let ready = Preview::new(&graph)
        .assume_ready("deployment")
        .render(&shop())
        .expect("renders");
    assert_eq!(kinds(&ready), ["Deployment", "Service", "Ingress"]);
    assert_eq!(
        ready
            .objects()
            .nth(1)
            .map(|service| &service["spec"]["selector"]),
        Some(&json!({"app": "shop"}))
    );
    assert_eq!(ready.plan().instance_state, InstanceState::Active);
    assert!(ready.settled.converged);
    assert!(!ready.has_errors());
}

#[test]
fn an_observed_status_satisfies_ready_when_without_assumptions() {
    let graph = graph();
    let live = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "shop", "namespace": "default"},
        "spec": {"replicas": 2},
        "status": {"availableReplicas": 2}
    });
    let rendered = Preview::new(&graph)
        .observed(live)
        .render(&shop())
        .expect("renders");
    assert_eq!(kinds(&rendered), ["Deployment", "Service", "Ingress"]);
    assert_eq!(rendered.plan().status["availableReplicas"], 2);
}

#[test]
fn the_instance_is_stored_as_the_api_server_would() {
    let graph = graph();
    let rendered = Preview::new(&graph).render(&shop()).expect("renders");
    let metadata = &rendered.instance["metadata"];
    assert_eq!(metadata["namespace"], DEFAULT_NAMESPACE);
    assert_eq!(metadata["generation"], 1);
    let uid = preview_uid(DEFAULT_NAMESPACE, "shop");
    assert_eq!(metadata["uid"], uid.as_str());
    assert_ne!(uid, preview_uid("other", "shop"));
    assert_eq!(uid.len(), 36);
    // CRD defaults, including inside an object the user gave.
    assert_eq!(
        rendered.instance["spec"],
        json!({"name": "shop", "image": "nginx:1.27", "replicas": 2,
               "ingress": {"enabled": true}})
    );
    let deployment = rendered.objects().next().expect("the Deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    assert_eq!(
        deployment["metadata"]["labels"]["kro.run/instance-id"],
        uid.as_str()
    );
    assert_eq!(
        rendered.plan().labels_for_instance["kro.run/resource-graph-definition-name"],
        "webapplication"
    );

    // What the user set is kept.
    let mut given = shop();
    given["metadata"] = json!({"name": "shop", "namespace": "team", "uid": "u-1", "generation": 4});
    let rendered = Preview::new(&graph).render(&given).expect("renders");
    assert_eq!(
        rendered.instance["metadata"],
        json!({"name": "shop", "namespace": "team", "uid": "u-1", "generation": 4})
    );
}

#[test]
fn planning_an_instance_without_a_uid_fails_instead_of_stamping_an_empty_id() {
    let graph = graph();
    let mut instance = shop();
    instance["metadata"]["namespace"] = json!("default");
    let view = InMemoryView::new();
    let input = PlanInput::builder(&graph, &instance, &view).build();
    let settled = settle(&input, 8);
    let error = settled.plan.instance_error.as_deref().unwrap_or_default();
    assert!(error.contains("metadata.uid"), "{error}");
    assert!(settled.plan.apply.is_empty());
    assert!(settled.plan.parent_metadata.is_none());
    assert_eq!(settled.plan.instance_state, InstanceState::Error);

    instance["metadata"]["uid"] = json!("");
    let plan = crate::core::plan(&PlanInput::builder(&graph, &instance, &view).build());
    assert!(plan.instance_error.is_some(), "an empty uid is no uid");
}

#[test]
fn unusable_inputs_are_reported() {
    let graph = graph();
    let preview = || Preview::new(&graph);
    assert!(matches!(
        preview().assume_ready("database").render(&shop()),
        Err(PreviewError::UnknownResource(id)) if id == "database"
    ));
    let no_name = json!({"kind": "Deployment", "metadata": {"name": "x"}});
    assert!(matches!(
        preview()
            .observed(shop())
            .observed(json!({"kind": "x"}))
            .observed(no_name)
            .render(&shop()),
        Err(PreviewError::Observed { index: 1, .. })
    ));
    let mut other = shop();
    other["kind"] = json!("Database");
    assert!(matches!(
        preview().render(&other),
        Err(PreviewError::WrongKind { found, .. }) if found == "kro.run/v1alpha1 Database"
    ));
    let mut unnamed = shop();
    unnamed["metadata"] = json!({});
    assert!(matches!(
        preview().render(&unnamed),
        Err(PreviewError::MissingName)
    ));
    assert!(matches!(
        preview().render(&json!("shop")),
        Err(PreviewError::NotAnObject)
    ));
}

#[test]
fn time_version_and_rgd_reach_the_plan() {
    let graph = graph();
    let rendered = Preview::new(&graph)
        .now("2030-01-01T00:00:00Z")
        .kro_version("v1.2.3")
        .rgd(RgdIdentity {
            name: "renamed".into(),
            uid: "rgd-uid".into(),
        })
        .render(&shop())
        .expect("renders");
    let labels = &rendered.objects().next().expect("the Deployment")["metadata"]["labels"];
    assert_eq!(labels["kro.run/kro-version"], "v1.2.3");
    assert_eq!(
        rendered.plan().labels_for_instance["kro.run/resource-graph-definition-id"],
        "rgd-uid"
    );
    let conditions = rendered.plan().status["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        conditions
            .iter()
            .all(|c| c["lastTransitionTime"] == "2030-01-01T00:00:00Z"),
        "{conditions:?}"
    );
}
