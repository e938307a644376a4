//! Planning one instance of a 20-resource graph (10 ConfigMap → Deployment pairs in a chain)
//! in steady state: every child observed and ready, as in a periodic resync.
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use kro_api::ResourceGraphDefinition;
use kro_graph::{Graph, OfflineResolver, compile};
use kro_runtime::core::{InMemoryView, InstanceState, Limits, PlanInput, RgdIdentity, plan};
use serde_json::{Value, json};

fn twenty_resource_graph() -> Graph {
    let mut resources = String::new();
    for i in 0..10 {
        let name_source = if i == 0 {
            "schema.spec.name".to_owned()
        } else {
            format!("settings{}.metadata.name", i - 1)
        };
        resources.push_str(&format!(
            r#"
  - id: settings{i}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${{{name_source}}}-{i}
      data:
        image: ${{schema.spec.image}}
        tier: "t{i}"
  - id: workload{i}
    readyWhen:
      - ${{workload{i}.status.?availableReplicas.orValue(0) == workload{i}.spec.replicas}}
    template:
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: ${{settings{i}.metadata.name}}
        labels:
          tier: ${{settings{i}.data.tier}}
      spec:
        replicas: ${{schema.spec.replicas}}
        selector:
          matchLabels:
            app: workload{i}
        template:
          metadata:
            labels:
              app: workload{i}
          spec:
            containers:
              - name: main
                image: ${{settings{i}.data.image}}
"#
        ));
    }
    let text = format!(
        r#"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: bench
spec:
  schema:
    apiVersion: v1alpha1
    kind: PlanBench
    spec:
      name: string
      image: string | default=nginx
      replicas: integer | default=2
    status:
      available: ${{workload9.status.?availableReplicas.orValue(0)}}
      lastName: ${{settings9.metadata.name}}
  resources:
{resources}
"#
    );
    let rgd = ResourceGraphDefinition::from_yaml(&text).expect("bench RGD parses");
    compile(&rgd, &OfflineResolver::new()).expect("bench RGD compiles")
}

fn input<'a>(
    graph: &'a Graph,
    instance: &'a Value,
    view: &'a InMemoryView,
    rgd: &'a RgdIdentity,
) -> PlanInput<'a> {
    PlanInput {
        graph,
        instance,
        view,
        now: "2025-01-01T00:01:00Z",
        kro_version: "v0.9.0",
        rgd,
        limits: Limits::default(),
        previous_status: None,
        gating: kro_runtime::core::Gating::Readiness,
    }
}

fn bench(c: &mut Criterion) {
    let graph = twenty_resource_graph();
    assert_eq!(graph.resources().len(), 20);
    let instance = json!({
        "apiVersion": "kro.run/v1alpha1",
        "kind": "PlanBench",
        "metadata": {"name": "bench", "namespace": "default", "uid": "u-1", "generation": 1,
                     "creationTimestamp": "2025-01-01T00:00:00Z"},
        "spec": {"name": "bench", "image": "nginx", "replicas": 2}
    });
    let rgd = RgdIdentity {
        name: "bench".into(),
        uid: "rgd-1".into(),
    };
    // Converge: apply what each pass renders, with Deployments reported available.
    let mut view = InMemoryView::new();
    for _ in 0..25 {
        let pass = plan(&input(&graph, &instance, &view, &rgd));
        if pass.instance_state == InstanceState::Active {
            break;
        }
        for item in &pass.apply {
            let mut body = item.body.clone();
            if item.key.kind == "Deployment" {
                body["status"] = json!({"availableReplicas": 2});
            }
            view.insert(body).expect("storable");
        }
    }
    let steady = plan(&input(&graph, &instance, &view, &rgd));
    assert_eq!(steady.instance_state, InstanceState::Active);
    assert_eq!(steady.apply.len(), 20);

    c.bench_function("plan_20_resources_steady_state", |b| {
        b.iter(|| plan(&input(&graph, &instance, &view, &rgd)));
    });
    let empty = InMemoryView::new();
    c.bench_function("plan_20_resources_first_pass", |b| {
        b.iter(|| plan(&input(&graph, &instance, &empty, &rgd)));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
