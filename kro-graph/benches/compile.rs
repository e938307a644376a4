//! Compiling a 20-resource RGD with resolved schemas cached.
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use kro_api::ResourceGraphDefinition;
use kro_graph::{OfflineResolver, compile};

fn twenty_resources() -> ResourceGraphDefinition {
    let mut resources = String::new();
    for i in 0..10 {
        let previous = if i == 0 {
            "schema.spec.name".to_owned()
        } else {
            format!("config{}.metadata.name", i - 1)
        };
        resources.push_str(&format!(
            r#"
  - id: config{i}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${{{previous}}}-{i}
      data:
        image: ${{schema.spec.image}}
  - id: app{i}
    readyWhen:
      - ${{app{i}.status.?availableReplicas.orValue(0) == app{i}.spec.replicas}}
    includeWhen:
      - ${{schema.spec.replicas > 0}}
    template:
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: ${{config{i}.metadata.name}}
      spec:
        replicas: ${{schema.spec.replicas}}
        selector:
          matchLabels:
            app: app{i}
        template:
          metadata:
            labels:
              app: app{i}
          spec:
            containers:
              - name: main
                image: ${{config{i}.data.image}}
                ports:
                  - containerPort: 8080
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
    kind: Bench
    spec:
      name: string
      image: string | default=nginx
      replicas: integer | default=1
    status:
      ready: ${{app9.status.?availableReplicas.orValue(0)}}
  resources:
{resources}
"#
    );
    ResourceGraphDefinition::from_yaml(&text).expect("bench RGD parses")
}

/// Compiles the RGD repeatedly with a warm resolver.
fn bench(c: &mut Criterion) {
    let rgd = twenty_resources();
    let resolver = OfflineResolver::new();
    let graph = compile(&rgd, &resolver).expect("compiles");
    assert_eq!(graph.resources().len(), 20);
    c.bench_function("compile_20_resources", |b| {
        b.iter(|| compile(&rgd, &resolver).expect("compiles"));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
