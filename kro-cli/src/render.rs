//! Rendering instances offline through `kro_runtime::preview`: the instance is stored as the
//! API server would store it, observed files stand in for the cluster, and the planning core
//! runs its plan → apply → plan loop so that dependents of ready resources render too.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use kro_graph::Graph;
use kro_runtime::core::{InMemoryView, RgdIdentity};
use kro_runtime::preview::{Preview, Rendered};
use serde_json::Value;

use crate::source::{Document, read_documents};

/// The kro version the operator stamps on labels by default (the executor's default).
pub const DEFAULT_KRO_VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));

/// Everything a render needs besides the graph and the instance.
pub struct RenderContext<'a> {
    /// Objects standing in for the cluster.
    pub observed: &'a InMemoryView,
    /// The pass time, RFC 3339 (only condition timestamps use it; objects never do).
    pub now: &'a str,
    /// The kro version stamped on labels.
    pub kro_version: &'a str,
    /// The RGD the instance belongs to.
    pub rgd: &'a RgdIdentity,
    /// Resources treated as ready once rendered (`--assume-ready`).
    pub assume_ready: &'a [String],
}

impl RenderContext<'_> {
    fn preview<'g>(&self, graph: &'g Graph) -> Preview<'g> {
        self.assume_ready.iter().fold(
            Preview::new(graph)
                .observed_view(self.observed)
                .now(self.now)
                .kro_version(self.kro_version)
                .rgd(self.rgd.clone()),
            |preview, id| preview.assume_ready(id.as_str()),
        )
    }
}

/// One instance rendered.
pub struct RenderedInstance {
    /// `namespace/name` (or `name`) of the instance.
    pub name: String,
    /// The preview's result.
    pub rendered: Rendered,
}

impl RenderedInstance {
    /// Every object the operator applies, in topological order.
    pub fn objects(&self) -> impl Iterator<Item = &Value> {
        self.rendered.objects()
    }

    /// Whether a node failed or the instance itself is unusable.
    pub fn has_errors(&self) -> bool {
        self.rendered.has_errors()
    }

    /// What each node ended as, one line per node, for stderr.
    pub fn node_report(&self) -> Vec<String> {
        let settled = &self.rendered.settled;
        let plan = &settled.plan;
        let mut lines = vec![format!(
            "instance {}: {} after {} pass{}{}",
            self.name,
            plan.instance_state.as_str(),
            settled.passes,
            if settled.passes == 1 { "" } else { "es" },
            if settled.converged {
                ""
            } else {
                " (the apply set was still changing: pass limit reached)"
            }
        )];
        if let Some(error) = &plan.instance_error {
            lines.push(format!("  instance error: {error}"));
        }
        for node in &plan.nodes {
            let mut line = format!("  {} {}", node.id, node.state.as_str());
            if let Some(message) = &node.message {
                line.push_str(": ");
                line.push_str(message);
            }
            lines.push(line);
        }
        lines
    }
}

/// Renders one instance (prepared or not, see [`prepare_instance`]).
///
/// # Errors
/// The instance cannot be prepared, or an `--assume-ready` id is not a resource of the graph.
pub fn render_instance(
    graph: &Graph,
    instance: &Value,
    context: &RenderContext<'_>,
) -> anyhow::Result<RenderedInstance> {
    let rendered = context.preview(graph).render(instance)?;
    Ok(RenderedInstance {
        name: instance_name(&rendered.instance),
        rendered,
    })
}

/// The instances of the graph's kind in `file`, prepared for rendering.
///
/// # Errors
/// The file cannot be read, or holds no instance of the graph's kind.
pub fn read_instances(graph: &Graph, file: &Path) -> anyhow::Result<Vec<Value>> {
    let documents = read_documents(file)?;
    let instances: Vec<Value> = documents
        .iter()
        .filter(|document| is_instance_of(graph, &document.value))
        .map(|document| prepare_instance(graph, &document.value))
        .collect::<anyhow::Result<_>>()
        .with_context(|| file.display().to_string())?;
    if instances.is_empty() {
        let gvk = graph.instance().gvk();
        bail!(
            "{}: no instance of the RGD's kind (expected apiVersion {} and kind {})",
            file.display(),
            gvk.api_version(),
            gvk.kind
        );
    }
    Ok(instances)
}

/// Whether `object` is an instance of the graph's generated kind.
pub fn is_instance_of(graph: &Graph, object: &Value) -> bool {
    let gvk = graph.instance().gvk();
    object.get("kind").and_then(Value::as_str) == Some(gvk.kind.as_str())
        && object.get("apiVersion").and_then(Value::as_str) == Some(gvk.api_version().as_str())
}

/// An instance as the API server would store it ([`Preview::prepare`]): CRD defaults applied,
/// the namespace defaulted to `default` for namespaced kinds, a deterministic uid derived from
/// namespace and name when the file has none, generation 1.
///
/// # Errors
/// The instance has no `metadata.name`.
pub fn prepare_instance(graph: &Graph, raw: &Value) -> anyhow::Result<Value> {
    Ok(Preview::new(graph).prepare(raw)?)
}

/// `namespace/name`, or `name` for cluster-scoped instances.
pub fn instance_name(instance: &Value) -> String {
    let text = |pointer: &str| {
        instance
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    match text("/metadata/namespace") {
        "" => text("/metadata/name").to_owned(),
        namespace => format!("{namespace}/{}", text("/metadata/name")),
    }
}

/// Every object of the observed files, as a view.
///
/// # Errors
/// A file cannot be read, or one of its documents is not a Kubernetes object.
pub fn read_observed(files: &[PathBuf]) -> anyhow::Result<InMemoryView> {
    let mut view = InMemoryView::new();
    for file in files {
        for (index, Document { value, .. }) in read_documents(file)?.into_iter().enumerate() {
            view.insert(value).with_context(|| {
                format!(
                    "{}: document {}: not a Kubernetes object",
                    file.display(),
                    index + 1
                )
            })?;
        }
    }
    Ok(view)
}

/// The RGD identity the operator would use: its name and, when the file has one, its uid.
pub fn rgd_identity(name: &str, document: &Value) -> RgdIdentity {
    RgdIdentity {
        name: name.to_owned(),
        uid: document
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    }
}

/// `--now`, checked, or the current time.
///
/// # Errors
/// `now` is not RFC 3339.
pub fn pass_time(now: Option<&str>) -> anyhow::Result<String> {
    match now {
        Some(text) => {
            chrono::DateTime::parse_from_rfc3339(text).with_context(|| {
                format!("--now {text}: expected an RFC 3339 time such as 2025-01-01T00:00:00Z")
            })?;
            Ok(text.to_owned())
        }
        None => Ok(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    }
}

/// Objects as multi-document YAML, each document introduced by `---`.
///
/// # Errors
/// An object cannot be serialised.
pub fn yaml_documents<'a>(objects: impl Iterator<Item = &'a Value>) -> anyhow::Result<String> {
    let mut out = String::new();
    for object in objects {
        out.push_str("---\n");
        let text = serde_saphyr::to_string(object).context("serialising a rendered object")?;
        out.push_str(&text);
        if !text.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_time_accepts_rfc3339_only() {
        assert_eq!(
            pass_time(Some("2025-01-01T00:00:00Z")).expect("valid"),
            "2025-01-01T00:00:00Z"
        );
        let error = pass_time(Some("yesterday")).expect_err("invalid");
        assert!(error.to_string().contains("RFC 3339"), "{error}");
    }
}
