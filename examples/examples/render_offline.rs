//! Renders, without a cluster, the objects kro would apply for an instance of an RGD.
//!
//! ```text
//! cargo run -p kro-examples --example render_offline -- \
//!     <rgd.yaml> <instance.yaml> [--assume-ready=<id> ...] [observed.yaml ...]
//! ```
//!
//! The RGD is compiled against the built-in Kubernetes schemas, and
//! [`kro_runtime::preview::Preview`] renders the instance: stored as the API server would store
//! it (CRD defaults, namespace, uid), then planned until no new object appears, each pass's
//! objects counting as applied for the next. Nothing makes an object ready offline: name the
//! resources to treat as ready with `--assume-ready=<id>`, or give observed objects (for example
//! a Deployment with a status). Objects go to stdout as YAML documents; per-resource states go
//! to stderr.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use kro_api::ResourceGraphDefinition;
use kro_examples::read_yaml_documents;
use kro_graph::{OfflineResolver, compile};
use kro_runtime::preview::Preview;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(rgd_path), Some(instance_path)) = (args.next(), args.next()) else {
        bail!(
            "usage: render_offline <rgd.yaml> <instance.yaml> [--assume-ready=<id> ...] [observed.yaml ...]"
        );
    };
    let rgd_text =
        std::fs::read_to_string(&rgd_path).with_context(|| format!("reading {rgd_path}"))?;
    let rgd = ResourceGraphDefinition::from_yaml(&rgd_text)
        .with_context(|| format!("parsing {rgd_path}"))?;
    let graph = compile(&rgd, &OfflineResolver::new())?;
    let instance = read_yaml_documents(&PathBuf::from(&instance_path))?
        .into_iter()
        .next()
        .context("the instance file is empty")?;

    let mut preview = Preview::new(&graph).now("2026-01-01T00:00:00Z");
    for arg in args {
        if let Some(id) = arg.strip_prefix("--assume-ready=") {
            preview = preview.assume_ready(id);
            continue;
        }
        for object in read_yaml_documents(&PathBuf::from(&arg))? {
            preview = preview.observed(object);
        }
    }
    let rendered = preview.render(&instance)?;

    if !rendered.settled.converged {
        eprintln!("warning: the apply set still changed at the pass limit");
    }
    let plan = rendered.plan();
    for node in &plan.nodes {
        eprintln!(
            "{:<24} {:<22} {}",
            node.id,
            node.state.as_str(),
            node.waiting_for
                .as_deref()
                .or(node.message.as_deref())
                .unwrap_or("")
        );
    }
    eprintln!("instance state: {}", plan.instance_state.as_str());
    for object in rendered.objects() {
        println!("---");
        print!("{}", serde_saphyr::to_string(object)?);
    }
    Ok(())
}
