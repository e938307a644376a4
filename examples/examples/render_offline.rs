//! Renders, without a cluster, the objects kro would apply for an instance of an RGD.
//!
//! ```text
//! cargo run -p kro-examples --example render_offline -- <rgd.yaml> <instance.yaml> [observed.yaml ...]
//! ```
//!
//! The RGD is compiled against the built-in Kubernetes schemas. The instance gets the generated
//! CRD's defaults (as the API server would), then [`kro_runtime::core::settle`] plans over an
//! in-memory view: each pass "applies" its objects into the view, so dependents resolve in the
//! next pass, until no new object appears. Extra files seed the view with observed objects (for example a
//! Deployment with a status, to get past a readyWhen). Objects go to stdout as YAML documents;
//! per-resource states go to stderr.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;
use kro_api::ResourceGraphDefinition;
use kro_examples::read_yaml_documents;
use kro_graph::{OfflineResolver, compile};
use kro_runtime::core::{InMemoryView, Limits, PlanInput, RgdIdentity, settle};
use serde_json::{Value, json};

/// Passes are bounded by the graph's depth; this is a safety net for cyclic renders.
const MAX_PASSES: usize = 64;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let (Some(rgd_path), Some(instance_path)) = (args.next(), args.next()) else {
        bail!("usage: render_offline <rgd.yaml> <instance.yaml> [observed.yaml ...]");
    };
    let rgd_text = std::fs::read_to_string(&rgd_path)
        .with_context(|| format!("reading {}", rgd_path.display()))?;
    let rgd = ResourceGraphDefinition::from_yaml(&rgd_text)
        .with_context(|| format!("parsing {}", rgd_path.display()))?;
    let graph = compile(&rgd, &OfflineResolver::new())?;

    let mut instance = read_yaml_documents(&instance_path)?
        .into_iter()
        .next()
        .context("the instance file is empty")?;
    if let Some(schema) = graph
        .crd()
        .spec
        .versions
        .first()
        .and_then(|version| version.schema.as_ref())
        .and_then(|validation| validation.open_api_v3_schema.as_ref())
    {
        apply_defaults(&mut instance, schema);
    }
    // What the API server would have set on a stored object.
    let metadata = &mut instance["metadata"];
    if metadata["namespace"].is_null() && graph.instance().namespaced() {
        metadata["namespace"] = json!("default");
    }
    if metadata["uid"].is_null() {
        metadata["uid"] = json!("00000000-0000-0000-0000-000000000000");
    }
    if metadata["generation"].is_null() {
        metadata["generation"] = json!(1);
    }

    let mut view = InMemoryView::new();
    for path in args {
        for object in read_yaml_documents(&path)? {
            view.insert(object)
                .with_context(|| format!("an object of {}", path.display()))?;
        }
    }

    let rgd_identity = RgdIdentity {
        name: rgd.metadata.name.unwrap_or_default(),
        uid: "offline".to_owned(),
    };
    let settled = settle(
        &PlanInput {
            graph: &graph,
            instance: &instance,
            view: &view,
            now: "2026-01-01T00:00:00Z",
            kro_version: "v0.0.0-offline",
            rgd: &rgd_identity,
            limits: Limits::default(),
            previous_status: None,
        },
        MAX_PASSES,
    );
    if !settled.converged {
        eprintln!("warning: the apply set still changed after {MAX_PASSES} passes");
    }
    let planned = settled.plan;

    for node in &planned.nodes {
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
    eprintln!("instance state: {}", planned.instance_state.as_str());
    for item in &planned.apply {
        println!("---");
        print!("{}", serde_saphyr::to_string(&item.body)?);
    }
    Ok(())
}

/// Fills missing fields that have a schema `default`, recursing into objects that exist (or
/// were just defaulted), like the API server's structural defaulting.
fn apply_defaults(value: &mut Value, schema: &JSONSchemaProps) {
    let Some(properties) = &schema.properties else {
        return;
    };
    let Some(object) = value.as_object_mut() else {
        return;
    };
    for (name, property) in properties {
        if !object.contains_key(name)
            && let Some(default) = &property.default
        {
            object.insert(name.clone(), default.0.clone());
        }
        if let Some(child) = object.get_mut(name) {
            apply_defaults(child, property);
        }
    }
}
