//! What an instance would become, without a cluster.
//!
//! [`Preview`] stores the instance as the API server would (CRD defaults, namespace, uid,
//! generation), then runs the planner's plan → apply → plan loop ([`core::settle`]) over an
//! in-memory stand-in for the cluster: each pass's objects count as applied, so their
//! dependents resolve in the next pass. No controller runs there, so an object whose
//! `readyWhen` reads its status (a Deployment's available replicas) stays not ready, and what
//! depends on it is not rendered, unless the preview is told to [`Preview::assume_ready`] it or
//! is given an [observed](Preview::observed) object with that status.
//!
//! ```
//! use kro_api::ResourceGraphDefinition;
//! use kro_graph::{OfflineResolver, compile};
//! use kro_runtime::preview::Preview;
//! use serde_json::json;
//!
//! let rgd = ResourceGraphDefinition::from_yaml(r#"
//! apiVersion: kro.run/v1alpha1
//! kind: ResourceGraphDefinition
//! metadata: {name: app}
//! spec:
//!   schema:
//!     apiVersion: v1alpha1
//!     kind: App
//!     spec: {name: string, replicas: "integer | default=2"}
//!   resources:
//!     - id: config
//!       readyWhen: ["${config.data.?ready.orValue('') == 'yes'}"]
//!       template:
//!         apiVersion: v1
//!         kind: ConfigMap
//!         metadata: {name: "${schema.spec.name}"}
//!         data: {replicas: "${string(schema.spec.replicas)}"}
//!     - id: copy
//!       template:
//!         apiVersion: v1
//!         kind: ConfigMap
//!         metadata: {name: "${config.metadata.name}-copy"}
//! "#)?;
//! let graph = compile(&rgd, &OfflineResolver::new())?;
//! let instance = json!({
//!     "apiVersion": "kro.run/v1alpha1", "kind": "App",
//!     "metadata": {"name": "demo"}, "spec": {"name": "demo"}
//! });
//!
//! // `config` never reports ready offline: `copy` waits for it.
//! let rendered = Preview::new(&graph).render(&instance)?;
//! assert_eq!(rendered.objects().count(), 1);
//!
//! let rendered = Preview::new(&graph).assume_ready("config").render(&instance)?;
//! let names: Vec<_> = rendered.objects().map(|o| o["metadata"]["name"].clone()).collect();
//! assert_eq!(names, ["demo", "demo-copy"]);
//! // The CRD default, and the namespace the API server would have given the instance.
//! assert_eq!(rendered.plan().apply[0].body["data"]["replicas"], "2");
//! assert_eq!(rendered.instance["metadata"]["namespace"], "default");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeSet;
use std::sync::Arc;

use kro_graph::Graph;
use serde_json::{Map, Value};
use thiserror::Error;

use crate::core::{
    self, ClusterView, InMemoryView, KindMapping, LabelSelector, Limits, NodeState, Plan,
    PlanInput, RgdIdentity, Settled, ViewError,
};

/// The namespace a namespaced instance without one is stored in (`kubectl`'s default).
pub const DEFAULT_NAMESPACE: &str = "default";

/// Why an instance cannot be previewed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PreviewError {
    /// The instance is not a JSON object with a metadata map.
    #[error("the instance is not an object with a `metadata` map")]
    NotAnObject,
    /// The instance has no name.
    #[error("instance metadata.name: expected a non-empty string")]
    MissingName,
    /// The instance is of another kind than the graph's generated one.
    #[error("the instance is a {found}, the graph serves {expected}")]
    WrongKind {
        /// `apiVersion` and `kind` of the graph's instances.
        expected: String,
        /// `apiVersion` and `kind` of the instance.
        found: String,
    },
    /// An observed object cannot stand in for a cluster object.
    #[error("observed object {index} (counting from 0)")]
    Observed {
        /// Its position among the objects given to [`Preview::observed`].
        index: usize,
        /// What it lacks.
        #[source]
        source: ViewError,
    },
    /// [`Preview::assume_ready`] named a resource the graph does not have.
    #[error("assume_ready: the graph has no resource `{0}`")]
    UnknownResource(String),
}

/// An offline render of instances of one graph (see the [module documentation](self)).
#[derive(Debug, Clone)]
#[must_use]
pub struct Preview<'g> {
    graph: &'g Graph,
    view: InMemoryView,
    invalid_observed: Option<(usize, ViewError)>,
    observed_count: usize,
    assumed_ready: BTreeSet<String>,
    now: String,
    kro_version: String,
    rgd: RgdIdentity,
    limits: Limits,
    max_passes: usize,
}

impl<'g> Preview<'g> {
    /// A preview of `graph` over an empty cluster, at [`core::DEFAULT_NOW`], stamping
    /// [`core::DEFAULT_KRO_VERSION`] and the RGD name the graph was compiled from.
    pub fn new(graph: &'g Graph) -> Self {
        Self {
            graph,
            view: InMemoryView::new(),
            invalid_observed: None,
            observed_count: 0,
            assumed_ready: BTreeSet::new(),
            now: core::DEFAULT_NOW.to_owned(),
            kro_version: core::DEFAULT_KRO_VERSION.to_owned(),
            rgd: RgdIdentity {
                name: graph.name().to_owned(),
                uid: String::new(),
            },
            limits: Limits::default(),
            // Every pass resolves at least one more layer; two more confirm the fixed point.
            max_passes: graph.resources().len() + 2,
        }
    }

    /// Resource `node_id` counts as ready as soon as it is rendered (or observed), whatever its
    /// `readyWhen` says, as if its controller had made it ready.
    pub fn assume_ready(mut self, node_id: impl Into<String>) -> Self {
        self.assumed_ready.insert(node_id.into());
        self
    }

    /// An object already in the cluster (full JSON, as the API server serves it): an external
    /// reference, or a child with the status its controller would write. An object that lacks
    /// `apiVersion`, `kind` or `metadata.name` fails [`Preview::render`].
    pub fn observed(mut self, object: Value) -> Self {
        let index = self.observed_count;
        self.observed_count += 1;
        if let Err(error) = self.view.insert(object) {
            self.invalid_observed.get_or_insert((index, error));
        }
        self
    }

    /// Every object of `view` as [observed](Preview::observed).
    pub fn observed_view(mut self, view: &InMemoryView) -> Self {
        for object in view.objects() {
            self.observed_count += 1;
            // Objects of a view always have the fields a view keys on.
            let _ = self.view.insert(object.as_ref().clone());
        }
        self
    }

    /// The pass time, RFC 3339 (only condition timestamps use it).
    pub fn now(mut self, now: impl Into<String>) -> Self {
        self.now = now.into();
        self
    }

    /// The kro version stamped on labels.
    pub fn kro_version(mut self, kro_version: impl Into<String>) -> Self {
        self.kro_version = kro_version.into();
        self
    }

    /// The RGD the instance belongs to (stamped on the instance's labels).
    pub fn rgd(mut self, rgd: RgdIdentity) -> Self {
        self.rgd = rgd;
        self
    }

    /// Bounds and intervals of a pass.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The instance as the API server would store it: `apiVersion` and `kind` of the graph,
    /// the CRD's defaults ([`core::apply_instance_defaults`]), namespace [`DEFAULT_NAMESPACE`]
    /// for a namespaced kind (none for a cluster-scoped one), [`preview_uid`] and generation 1
    /// when absent.
    ///
    /// # Errors
    /// The instance is not an object, has no name or is of another kind.
    pub fn prepare(&self, instance: &Value) -> Result<Value, PreviewError> {
        stored_instance(self.graph, instance)
    }

    /// Renders `instance` (see [`Preview::prepare`]) to the fixed point of the plan → apply →
    /// plan loop.
    ///
    /// # Errors
    /// The instance cannot be prepared, an observed object is invalid, or an assumed-ready
    /// resource is not in the graph.
    pub fn render(&self, instance: &Value) -> Result<Rendered, PreviewError> {
        if let Some((index, source)) = &self.invalid_observed {
            return Err(PreviewError::Observed {
                index: *index,
                source: source.clone(),
            });
        }
        if let Some(unknown) = self
            .assumed_ready
            .iter()
            .find(|id| self.graph.resource(id).is_none())
        {
            return Err(PreviewError::UnknownResource(unknown.clone()));
        }
        let instance = self.prepare(instance)?;
        let view = PreviewView {
            observed: &self.view,
            assumed_ready: &self.assumed_ready,
        };
        let input = PlanInput::builder(self.graph, &instance, &view)
            .now(&self.now)
            .kro_version(&self.kro_version)
            .rgd(&self.rgd)
            .limits(self.limits)
            .build();
        let settled = core::settle(&input, self.max_passes);
        Ok(Rendered { instance, settled })
    }
}

/// An instance rendered by [`Preview::render`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Rendered {
    /// The instance as it was planned (see [`Preview::prepare`]).
    pub instance: Value,
    /// The last pass and how the loop ended.
    pub settled: Settled,
}

impl Rendered {
    /// The last pass: nodes, status, and the objects to apply.
    pub fn plan(&self) -> &Plan {
        &self.settled.plan
    }

    /// Every object the operator would apply, in topological order.
    pub fn objects(&self) -> impl Iterator<Item = &Value> {
        self.settled.plan.apply.iter().map(|item| &item.body)
    }

    /// Whether a resource failed or the instance itself is unusable.
    pub fn has_errors(&self) -> bool {
        self.settled.plan.instance_error.is_some()
            || self
                .settled
                .plan
                .nodes
                .iter()
                .any(|node| node.state == NodeState::Error)
    }
}

/// The uid a previewed instance without one gets: UUID-shaped and derived from
/// `namespace/name` alone, so the `kro.run/instance-id` label and the ApplySet id of a preview
/// are the same on every run (a live instance has the API server's uid instead).
pub fn preview_uid(namespace: &str, name: &str) -> String {
    fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
        bytes.iter().fold(seed, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }
    let key = format!("{namespace}/{name}");
    let high = fnv1a(0xcbf2_9ce4_8422_2325, key.as_bytes());
    let low = fnv1a(0x8422_2325_cbf2_9ce4, key.as_bytes());
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

fn stored_instance(graph: &Graph, raw: &Value) -> Result<Value, PreviewError> {
    let gvk = graph.instance().gvk();
    let expected = (gvk.api_version(), gvk.kind.clone());
    let text = |field: &str| raw.get(field).and_then(Value::as_str);
    if let (Some(api_version), Some(kind)) = (text("apiVersion"), text("kind"))
        && (api_version, kind) != (expected.0.as_str(), expected.1.as_str())
    {
        return Err(PreviewError::WrongKind {
            expected: format!("{} {}", expected.0, expected.1),
            found: format!("{api_version} {kind}"),
        });
    }
    let mut instance = raw.clone();
    core::apply_instance_defaults(graph, &mut instance);
    let object = instance.as_object_mut().ok_or(PreviewError::NotAnObject)?;
    object.insert("apiVersion".to_owned(), Value::String(expected.0));
    object.insert("kind".to_owned(), Value::String(expected.1));
    let metadata = object
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or(PreviewError::NotAnObject)?;
    let name = metadata
        .get("name")
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty())
        .ok_or(PreviewError::MissingName)?
        .to_owned();
    let namespace = if graph.instance().namespaced() {
        let namespace = metadata
            .get("namespace")
            .and_then(Value::as_str)
            .filter(|ns| !ns.is_empty())
            .unwrap_or(DEFAULT_NAMESPACE)
            .to_owned();
        metadata.insert("namespace".to_owned(), Value::String(namespace.clone()));
        namespace
    } else {
        metadata.remove("namespace");
        String::new()
    };
    let has_uid = metadata
        .get("uid")
        .and_then(Value::as_str)
        .is_some_and(|uid| !uid.is_empty());
    if !has_uid {
        metadata.insert(
            "uid".to_owned(),
            Value::String(preview_uid(&namespace, &name)),
        );
    }
    if !metadata.get("generation").is_some_and(Value::is_i64) {
        metadata.insert("generation".to_owned(), Value::from(1));
    }
    Ok(instance)
}

/// The observed objects, with the preview's readiness assumptions.
struct PreviewView<'a> {
    observed: &'a InMemoryView,
    assumed_ready: &'a BTreeSet<String>,
}

impl ClusterView for PreviewView<'_> {
    fn get(&self, target: &KindMapping, namespace: Option<&str>, name: &str) -> Option<Arc<Value>> {
        self.observed.get(target, namespace, name)
    }

    fn list(
        &self,
        target: &KindMapping,
        namespace: Option<&str>,
        selector: &LabelSelector,
    ) -> Vec<Arc<Value>> {
        self.observed.list(target, namespace, selector)
    }

    fn assumed_ready(&self, node_id: &str) -> bool {
        self.assumed_ready.contains(node_id)
    }
}

#[cfg(test)]
#[path = "preview_tests.rs"]
mod tests;
