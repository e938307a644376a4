//! The compiled graph: immutable, `Send + Sync`, cheap to clone, evaluated by the runtime.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps,
};
use kro_api::KindMapping;
use kro_cel::{CelType, Program, Template};
use kro_schema::{CrdOptions, CrdSpec, generate_crd};
use serde_json::Value;

use crate::error::{CompileError, Problem};
use crate::resolver::{Gvk, ResolvedKind};
use crate::template::FieldPath;
use crate::warning::Warning;

/// A compiled RGD. Clones share one allocation.
#[derive(Clone, Debug)]
pub struct Graph {
    pub(crate) inner: Arc<GraphInner>,
}

#[derive(Debug)]
pub(crate) struct GraphInner {
    pub name: String,
    pub instance: InstanceNode,
    pub resources: Vec<ResourceNode>,
    pub order: Vec<usize>,
    pub index: BTreeMap<String, usize>,
    pub crd_spec: CrdSpec,
    pub crd: CustomResourceDefinition,
    pub spec_hash: String,
    pub warnings: Vec<Warning>,
}

impl Graph {
    /// The RGD's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The instance node: the generated kind, its status expressions and conditions.
    pub fn instance(&self) -> &InstanceNode {
        &self.inner.instance
    }

    /// Every resource node, in declaration order.
    pub fn resources(&self) -> &[ResourceNode] {
        &self.inner.resources
    }

    /// The resource node `id`.
    pub fn resource(&self, id: &str) -> Option<&ResourceNode> {
        self.inner.index.get(id).map(|&i| &self.inner.resources[i])
    }

    /// Resource nodes in topological order (dependencies first, declaration order breaking
    /// ties).
    pub fn topological_order(&self) -> impl Iterator<Item = &ResourceNode> {
        self.inner.order.iter().map(|&i| &self.inner.resources[i])
    }

    /// Resource ids in topological order.
    pub fn topological_ids(&self) -> Vec<String> {
        self.topological_order()
            .map(|node| node.id().to_owned())
            .collect()
    }

    /// Resource ids grouped by apply-order wave, lowest wave first; ids within a wave in
    /// topological order. Deletion goes from the last wave to the first.
    pub fn waves(&self) -> Vec<Vec<String>> {
        let mut waves: BTreeMap<u32, Vec<String>> = BTreeMap::new();
        for node in self.topological_order() {
            waves
                .entry(node.wave())
                .or_default()
                .push(node.id().to_owned());
        }
        waves.into_values().collect()
    }

    /// The generated CRD, without ownership labels.
    pub fn crd(&self) -> &CustomResourceDefinition {
        &self.inner.crd
    }

    /// The generated CRD with extra labels and annotations (kro's ownership labels).
    pub fn crd_with_options(&self, options: &CrdOptions) -> CustomResourceDefinition {
        let status = self.inner.instance.status_schema.clone();
        generate_crd(&self.inner.crd_spec, Some(status), options)
    }

    /// The validated `spec.schema`: kind, version, group, scope and the instance spec schema.
    pub fn crd_spec(&self) -> &CrdSpec {
        &self.inner.crd_spec
    }

    /// The normalized spec hash (see [`crate::hash::spec_hash`]).
    pub fn spec_hash(&self) -> &str {
        &self.inner.spec_hash
    }

    /// Non-fatal findings, in the order they occur in the RGD: input upstream kro v0.9.4 accepts
    /// that kro-rs used to refuse (see [`Warning::is_strict_error`]), and reads of instance
    /// fields (`schema.*`) that may be absent, made without a `has()`, `.?` or `orValue()` guard.
    pub fn warnings(&self) -> &[Warning] {
        &self.inner.warnings
    }

    /// Strict mode: refuses the graph when it has a warning that strict mode turns into an error
    /// ([`Warning::is_strict_error`]), restoring kro-rs's stricter checks.
    ///
    /// # Errors
    /// One [`crate::ProblemKind::Strict`] problem per such warning, at the warning's place.
    pub fn strict_check(&self) -> Result<(), CompileError> {
        let problems: Vec<Problem> = self
            .inner
            .warnings
            .iter()
            .filter(|warning| warning.is_strict_error())
            .map(Warning::to_strict_problem)
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(CompileError::new(problems))
        }
    }
}

/// A compiled `${}` expression.
#[derive(Clone, Debug)]
pub struct CompiledExpression {
    pub(crate) program: Program,
    pub(crate) output: CelType,
    pub(crate) dependencies: Vec<String>,
}

impl CompiledExpression {
    /// The expression text (inside `${}`).
    pub fn source(&self) -> &str {
        self.program.source()
    }

    /// The compiled program.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The statically inferred result type.
    pub fn output_type(&self) -> &CelType {
        &self.output
    }

    /// The resource ids the expression reads, sorted.
    pub fn dependencies(&self) -> &[String] {
        &self.dependencies
    }
}

/// A field whose value comes from `${}` expressions.
#[derive(Clone, Debug)]
pub struct ExpressionSlot {
    pub(crate) path: FieldPath,
    pub(crate) template: Template,
    pub(crate) output: CelType,
    pub(crate) dependencies: Vec<String>,
}

impl ExpressionSlot {
    /// Where the value goes, relative to the object (template, external ref or status).
    pub fn path(&self) -> &FieldPath {
        &self.path
    }

    /// The compiled template: standalone (native type) or a string concatenation.
    pub fn template(&self) -> &Template {
        &self.template
    }

    /// True when the field is exactly one `${}` and keeps the expression's type.
    pub fn is_standalone(&self) -> bool {
        self.template.is_standalone()
    }

    /// The statically inferred type of the value (`string` for string templates).
    pub fn output_type(&self) -> &CelType {
        &self.output
    }

    /// The resource ids the slot reads, sorted.
    pub fn dependencies(&self) -> &[String] {
        &self.dependencies
    }
}

/// One forEach dimension: an iterator bound to each element of a list expression.
#[derive(Clone, Debug)]
pub struct ForEachDimension {
    pub(crate) name: String,
    pub(crate) expression: CompiledExpression,
}

impl ForEachDimension {
    /// The iterator variable.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The list expression.
    pub fn expression(&self) -> &CompiledExpression {
        &self.expression
    }
}

/// How an external reference selects objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExternalSelection {
    /// One object by `metadata.name`.
    ByName,
    /// Every object matching `metadata.selector`, exposed as a list.
    BySelector,
}

/// What a resource node is.
#[derive(Clone, Debug)]
pub enum NodeKind {
    /// A templated object kro applies (a collection when it has forEach dimensions).
    Template,
    /// An existing object kro only reads.
    External(ExternalSelection),
}

/// A compiled resource: what to render, when to include it, when it is ready.
#[derive(Clone, Debug)]
pub struct ResourceNode {
    pub(crate) id: String,
    pub(crate) kind: NodeKind,
    pub(crate) resolved: ResolvedKind,
    pub(crate) object: Value,
    pub(crate) slots: Vec<ExpressionSlot>,
    pub(crate) dependencies: Vec<String>,
    pub(crate) include_when: Vec<CompiledExpression>,
    pub(crate) ready_when: Vec<CompiledExpression>,
    pub(crate) for_each: Vec<ForEachDimension>,
    pub(crate) wave: u32,
    pub(crate) position: usize,
}

impl ResourceNode {
    /// The resource id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Template or external reference.
    pub fn kind(&self) -> &NodeKind {
        &self.kind
    }

    /// Whether the node stands for a list of objects (forEach, or an external selector).
    pub fn is_collection(&self) -> bool {
        !self.for_each.is_empty()
            || matches!(self.kind, NodeKind::External(ExternalSelection::BySelector))
    }

    /// The object's group, version and kind.
    pub fn gvk(&self) -> &Gvk {
        self.resolved.gvk()
    }

    /// The plural resource name.
    pub fn plural(&self) -> &str {
        self.resolved.plural()
    }

    /// Whether objects of this kind are namespaced.
    pub fn namespaced(&self) -> bool {
        self.resolved.namespaced()
    }

    /// The node's kind with its REST mapping.
    pub fn mapping(&self) -> KindMapping {
        KindMapping::new(self.gvk(), self.plural(), self.namespaced())
    }

    /// The object's OpenAPI schema (for schema-aware CEL bindings).
    pub fn schema(&self) -> &JSONSchemaProps {
        self.resolved.schema()
    }

    /// The object as written: the template, or the external reference
    /// (`{apiVersion, kind, metadata}`); strings holding `${}` are replaced by the slots.
    pub fn object(&self) -> &Value {
        &self.object
    }

    /// The expression slots of [`ResourceNode::object`], in document order.
    pub fn slots(&self) -> &[ExpressionSlot] {
        &self.slots
    }

    /// The ids of the resources this one depends on, in declaration order.
    pub fn dependencies(&self) -> &[String] {
        &self.dependencies
    }

    /// includeWhen conditions (all must hold).
    pub fn include_when(&self) -> &[CompiledExpression] {
        &self.include_when
    }

    /// readyWhen conditions (all must hold; for collections evaluated with `each`).
    pub fn ready_when(&self) -> &[CompiledExpression] {
        &self.ready_when
    }

    /// forEach dimensions, outermost first.
    pub fn for_each(&self) -> &[ForEachDimension] {
        &self.for_each
    }

    /// The apply-order wave (1 for nodes without dependencies).
    pub fn wave(&self) -> u32 {
        self.wave
    }

    /// The position in `spec.resources`.
    pub fn position(&self) -> usize {
        self.position
    }
}

/// The instance: the generated kind, its status projection and custom conditions.
#[derive(Clone, Debug)]
pub struct InstanceNode {
    pub(crate) gvk: Gvk,
    pub(crate) plural: String,
    pub(crate) namespaced: bool,
    pub(crate) status: Value,
    pub(crate) status_slots: Vec<ExpressionSlot>,
    pub(crate) conditions: Vec<CompiledExpression>,
    pub(crate) dependencies: Vec<String>,
    pub(crate) status_schema: JSONSchemaProps,
    pub(crate) spec_type: CelType,
}

impl InstanceNode {
    /// The generated kind.
    pub fn gvk(&self) -> &Gvk {
        &self.gvk
    }

    /// The plural resource name of the generated kind.
    pub fn plural(&self) -> &str {
        &self.plural
    }

    /// Whether instances are namespaced.
    pub fn namespaced(&self) -> bool {
        self.namespaced
    }

    /// The generated kind with its REST mapping.
    pub fn mapping(&self) -> KindMapping {
        KindMapping::new(&self.gvk, &self.plural, self.namespaced)
    }

    /// `spec.schema.status` as written, without the `conditions` key.
    pub fn status(&self) -> &Value {
        &self.status
    }

    /// The status expression slots, paths relative to `status`.
    pub fn status_slots(&self) -> &[ExpressionSlot] {
        &self.status_slots
    }

    /// Author conditions (`status.conditions` entries), in order.
    pub fn conditions(&self) -> &[CompiledExpression] {
        &self.conditions
    }

    /// The resources the status and conditions read, in declaration order.
    pub fn dependencies(&self) -> &[String] {
        &self.dependencies
    }

    /// The inferred status schema (without kro's `state` and `conditions`).
    pub fn status_schema(&self) -> &JSONSchemaProps {
        &self.status_schema
    }

    /// The CEL type of the `schema` variable.
    pub fn schema_type(&self) -> &CelType {
        &self.spec_type
    }
}
