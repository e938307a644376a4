//! Rendering instances offline: the instance is defaulted as the API server would, observed
//! files stand in for the cluster, and the planning core runs its plan → apply → plan loop
//! (`kro_runtime::core::settle`) so that dependents of ready resources render too.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use kro_graph::Graph;
use kro_runtime::core::{
    InMemoryView, Limits, NodeState, PlanInput, RgdIdentity, Settled, apply_instance_defaults,
    settle,
};
use serde_json::{Map, Value};

use crate::source::{Document, read_documents};

/// The kro version the operator stamps on labels by default (the executor's default).
pub const DEFAULT_KRO_VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));

/// The namespace an instance without one lands in (`kubectl apply` with the default context).
pub const DEFAULT_NAMESPACE: &str = "default";

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
}

/// One instance rendered.
pub struct RenderedInstance {
    /// `namespace/name` (or `name`) of the instance.
    pub name: String,
    /// The settled plan.
    pub settled: Settled,
}

impl RenderedInstance {
    /// Every object the operator applies, in topological order.
    pub fn objects(&self) -> impl Iterator<Item = &Value> {
        self.settled.plan.apply.iter().map(|item| &item.body)
    }

    /// Whether a node failed or the instance itself is unusable.
    pub fn has_errors(&self) -> bool {
        self.settled.plan.instance_error.is_some()
            || self
                .settled
                .plan
                .nodes
                .iter()
                .any(|node| node.state == NodeState::Error)
    }

    /// What each node ended as, one line per node, for stderr.
    pub fn node_report(&self) -> Vec<String> {
        let plan = &self.settled.plan;
        let mut lines = vec![format!(
            "instance {}: {} after {} pass{}{}",
            self.name,
            plan.instance_state.as_str(),
            self.settled.passes,
            if self.settled.passes == 1 { "" } else { "es" },
            if self.settled.converged {
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

/// Renders one prepared instance (see [`prepare_instance`]).
pub fn render_instance(
    graph: &Graph,
    instance: &Value,
    context: &RenderContext<'_>,
) -> RenderedInstance {
    let input = PlanInput {
        graph,
        instance,
        view: context.observed,
        now: context.now,
        kro_version: context.kro_version,
        rgd: context.rgd,
        limits: Limits::default(),
        previous_status: instance.get("status"),
    };
    // Every pass resolves at least one more layer of the graph; two extra passes confirm the
    // fixed point.
    let settled = settle(&input, graph.resources().len() + 2);
    RenderedInstance {
        name: instance_name(instance),
        settled,
    }
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

/// An instance as the API server would store it: CRD defaults applied, the namespace
/// defaulted to `default` for namespaced kinds, and a placeholder `metadata.uid` when the file
/// has none (see [`placeholder_uid`]).
///
/// # Errors
/// The instance has no `metadata.name`.
pub fn prepare_instance(graph: &Graph, raw: &Value) -> anyhow::Result<Value> {
    let mut instance = raw.clone();
    apply_instance_defaults(graph, &mut instance);
    let Some(object) = instance.as_object_mut() else {
        bail!("the instance is not a map");
    };
    let metadata = object
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(metadata) = metadata.as_object_mut() else {
        bail!("instance metadata: expected a map");
    };
    let Some(name) = metadata
        .get("name")
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
    else {
        bail!("instance metadata.name: expected a non-empty string");
    };
    if graph.instance().namespaced() {
        let has_namespace = metadata
            .get("namespace")
            .and_then(Value::as_str)
            .is_some_and(|ns| !ns.is_empty());
        if !has_namespace {
            metadata.insert(
                "namespace".to_owned(),
                Value::String(DEFAULT_NAMESPACE.to_owned()),
            );
        }
    } else {
        metadata.remove("namespace");
    }
    let namespace = metadata
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let has_uid = metadata
        .get("uid")
        .and_then(Value::as_str)
        .is_some_and(|uid| !uid.is_empty());
    if !has_uid {
        metadata.insert(
            "uid".to_owned(),
            Value::String(placeholder_uid(&namespace, &name)),
        );
    }
    Ok(instance)
}

/// A deterministic UUID-shaped uid for an instance read from a file: two FNV-1a hashes of
/// `namespace/name` with different offsets, formatted 8-4-4-4-12. The same instance always
/// gets the same uid, so the `kro.run/instance-id` label and the ApplySet id are stable across
/// runs (a live instance has the API server's uid instead).
pub fn placeholder_uid(namespace: &str, name: &str) -> String {
    fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
        bytes.iter().fold(seed, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }
    let key = format!("{namespace}/{name}");
    let high = fnv1a(0xcbf2_9ce4_8422_2325, key.as_bytes());
    let low = fnv1a(0x84222325_cbf29ce4, key.as_bytes());
    let hex = format!("{high:016x}{low:016x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
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
    fn placeholder_uids_are_stable_and_distinct() {
        let uid = placeholder_uid("default", "test-app");
        assert_eq!(uid, placeholder_uid("default", "test-app"));
        assert_ne!(uid, placeholder_uid("other", "test-app"));
        assert_eq!(uid.len(), 36);
        assert_eq!(uid.matches('-').count(), 4);
    }

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
