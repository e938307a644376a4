//! Compiles the RGD offline and prints, as YAML, the objects an instance gets, with the
//! Deployment taken as available (offline, nothing runs its Pods).

use anyhow::Context as _;
use kro_api::ResourceGraphDefinition;
use kro_graph::{OfflineResolver, compile};
use kro_runtime::preview::Preview;
use serde_json::json;

fn main() -> anyhow::Result<()> {
    let rgd = ResourceGraphDefinition::from_yaml(kro_consumer::RGD)?;
    let graph = compile(&rgd, &OfflineResolver::new()).context("compiling the RGD")?;
    println!("# order: {}", graph.topological_ids().join(" -> "));

    let instance = json!({
        "apiVersion": "example.com/v1alpha1",
        "kind": "ConsumerApp",
        "metadata": {"name": "demo"},
        "spec": {"replicas": 2}
    });
    let rendered = Preview::new(&graph)
        .assume_ready("deployment")
        .render(&instance)?;
    println!("# state: {}", rendered.plan().instance_state.as_str());
    for object in rendered.objects() {
        println!("---");
        print!("{}", serde_saphyr::to_string(object)?);
    }
    Ok(())
}
