//! The node walk: every resource node in topological order through includeWhen, dependency
//! gating, forEach expansion, rendering, observation and readiness.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use kro_api::ErrorChain;
use kro_applyset::object::default_child_namespace;
use kro_applyset::{
    ChildMeta, CollectionPosition, InstanceRef, KroVersion, ObjectKey, check_duplicates,
    check_membership,
};
use kro_cel::{Activation, EvalError};
use kro_graph::{CompiledExpression, FieldPath, NodeKind, ResourceNode};
use serde_json::Value;

use crate::core::error::NodeError;
use crate::core::input::Gating;
use crate::core::plan::{ApplyItem, NodeOutcome, NodeState};
use crate::core::render::{cartesian, remove_at, set_at};
use crate::core::stamp::{ChildStamp, keep_recorded_version, maybe_foreign, metadata_field};
use crate::core::view::{ClusterView, KindMapping, object_annotations, object_labels};

/// What a node's resolution stopped at, short of being synced.
enum Stop {
    /// Excluded by includeWhen.
    Skip(String),
    /// Not resolvable yet (dependency not ready, data pending): IN_PROGRESS.
    Unresolved { waiting_for: String },
    /// Failed.
    Fail(NodeError),
}

/// Why an expression did not produce a value.
pub(super) enum EvalStop {
    Pending(String),
    Fail(NodeError),
}

/// The result of the walk.
pub(crate) struct WalkResult {
    pub nodes: Vec<NodeOutcome>,
    pub apply: Vec<ApplyItem>,
    /// Keys of every object the pass wants to exist.
    pub wanted: Vec<ObjectKey>,
    /// Some node could not be rendered (unresolved or failed): pruning is unsafe.
    pub incomplete: bool,
}

/// Walks the graph. `activation` holds `schema` and receives every observed node.
pub(crate) struct Walker<'a> {
    pub view: &'a dyn ClusterView,
    pub instance: &'a InstanceRef,
    pub max_collection_size: usize,
    pub activation: Activation,
    states: BTreeMap<&'a str, (NodeState, Option<String>)>,
    /// What dependents wait for.
    gating: Gating,
    /// The nodes whose every object was observed and bound this pass, ready or not (what
    /// [`Gating::Scope`] waits for).
    pub(super) in_scope: BTreeSet<String>,
    /// The node of every object rendered so far, in the order of [`WalkResult::wanted`].
    rendered_by: Vec<&'a str>,
    /// Fingerprints of the identities of [`WalkResult::wanted`], so that a node without a
    /// duplicate costs one lookup per object instead of a check over everything rendered so
    /// far; a match is confirmed by that check.
    rendered_identities: BTreeSet<u64>,
    /// The instance's ApplySet id (a SHA-256), computed once per walk.
    applyset_id: String,
    /// kro's labels and annotations on children, computed once per walk.
    stamp: ChildStamp,
    /// `metadata.namespace`.
    namespace_path: FieldPath,
    /// Values of expressions already evaluated this pass, by source (see
    /// [`Walker::evaluate_slot`]).
    memo: BTreeMap<&'a str, Option<Value>>,
}

/// A fingerprint of an object's identity (group, kind, namespace, name).
fn identity_fingerprint(key: &ObjectKey) -> u64 {
    let mut hasher = DefaultHasher::new();
    key.identity().hash(&mut hasher);
    hasher.finish()
}

impl<'a> Walker<'a> {
    pub(crate) fn new(
        view: &'a dyn ClusterView,
        instance: &'a InstanceRef,
        version: &'a KroVersion,
        max_collection_size: usize,
        activation: Activation,
        gating: Gating,
    ) -> Self {
        Self {
            view,
            instance,
            max_collection_size,
            activation,
            states: BTreeMap::new(),
            gating,
            in_scope: BTreeSet::new(),
            rendered_by: Vec::new(),
            rendered_identities: BTreeSet::new(),
            applyset_id: instance.applyset_id(),
            stamp: ChildStamp::new(instance, version),
            namespace_path: FieldPath::root().field("metadata").field("namespace"),
            memo: BTreeMap::new(),
        }
    }

    pub(crate) fn walk(
        mut self,
        nodes: impl Iterator<Item = &'a ResourceNode>,
    ) -> (WalkResult, Activation) {
        // One object per node unless collections expand.
        let (size, _) = nodes.size_hint();
        let mut result = WalkResult {
            nodes: Vec::with_capacity(size),
            apply: Vec::with_capacity(size),
            wanted: Vec::with_capacity(size),
            incomplete: false,
        };
        for node in nodes {
            let outcome = self.node(node, &mut result);
            if matches!(outcome.state, NodeState::InProgress | NodeState::Error) {
                result.incomplete = true;
            }
            self.states
                .insert(node.id(), (outcome.state, outcome.waiting_for.clone()));
            result.nodes.push(outcome);
        }
        (result, self.activation)
    }

    fn node(&mut self, node: &'a ResourceNode, result: &mut WalkResult) -> NodeOutcome {
        let id = node.id().to_owned();
        let outcome = |state, message: Option<String>, waiting_for: Option<String>| NodeOutcome {
            id: id.clone(),
            state,
            message,
            desired: Vec::new(),
            ready: state.is_terminal(),
            waiting_for,
            error: None,
        };
        match self.gate(node) {
            Ok(()) => {}
            Err(Stop::Skip(reason)) => return outcome(NodeState::Skipped, Some(reason), None),
            Err(Stop::Unresolved { waiting_for }) => {
                return outcome(
                    NodeState::InProgress,
                    Some(waiting_for.clone()),
                    Some(waiting_for),
                );
            }
            Err(Stop::Fail(error)) => return failed(&id, error),
        }
        let rendered = match self.render_all(node) {
            Ok(rendered) => rendered,
            Err(EvalStop::Pending(reason)) => {
                let waiting_for = format!("waiting for {id}: {reason}");
                return outcome(
                    NodeState::InProgress,
                    Some(waiting_for.clone()),
                    Some(waiting_for),
                );
            }
            Err(EvalStop::Fail(error)) => return failed(&id, error),
        };
        let step = match node.kind() {
            NodeKind::Template => self.template(node, rendered, result),
            NodeKind::External(selection) => self.external(node, *selection, &rendered),
        };
        match step {
            Ok(outcome) => outcome,
            Err(error) => failed(&id, error),
        }
    }

    /// Contagious skip, includeWhen, and "every dependency ready".
    fn gate(&self, node: &ResourceNode) -> Result<(), Stop> {
        let id = node.id();
        for dependency in node.dependencies() {
            if let Some((NodeState::Skipped, _)) = self.states.get(dependency.as_str()) {
                return Err(Stop::Skip(format!(
                    "skipped because dependency \"{dependency}\" is skipped"
                )));
            }
        }
        let mut waiting: Option<String> = None;
        for (index, condition) in node.include_when().iter().enumerate() {
            let field = format!("includeWhen[{index}]");
            if let Some(blocker) = self.first_unready(condition.dependencies()) {
                waiting.get_or_insert(blocker);
                continue;
            }
            match self.condition(id, &field, condition) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(Stop::Skip(format!(
                        "skipped: {field} `{}` is false",
                        condition.source()
                    )));
                }
                // A condition reading only `schema` cannot heal by waiting.
                Err(EvalStop::Pending(message)) if condition.dependencies().is_empty() => {
                    return Err(Stop::Fail(NodeError::Expression {
                        id: id.to_owned(),
                        field,
                        expression: condition.source().to_owned(),
                        message,
                    }));
                }
                Err(EvalStop::Pending(message)) => {
                    waiting.get_or_insert(format!(
                        "waiting for {id}: {field} data pending: {message}"
                    ));
                }
                Err(EvalStop::Fail(error)) => return Err(Stop::Fail(error)),
            }
        }
        if let Some(waiting_for) = waiting {
            return Err(Stop::Unresolved { waiting_for });
        }
        if let Some(waiting_for) = self.first_unready(node.dependencies()) {
            return Err(Stop::Unresolved { waiting_for });
        }
        Ok(())
    }

    /// The explanation of the first dependency a node must still wait for (not ready; under
    /// [`Gating::Scope`], not observed), following its own wait.
    fn first_unready(&self, dependencies: &[String]) -> Option<String> {
        dependencies
            .iter()
            .find_map(|dependency| match self.states.get(dependency.as_str()) {
                Some((state, _)) if state.is_terminal() => None,
                Some(_) if self.gating == Gating::Scope && self.in_scope.contains(dependency) => {
                    None
                }
                Some((_, Some(waiting_for))) => Some(waiting_for.clone()),
                Some((state, None)) => Some(format!(
                    "waiting for {dependency}: it is {}",
                    state.as_str()
                )),
                None => Some(format!("waiting for {dependency}: not evaluated yet")),
            })
    }

    /// Evaluates a boolean condition; `null` counts as false.
    fn condition(
        &self,
        id: &str,
        field: &str,
        condition: &CompiledExpression,
    ) -> Result<bool, EvalStop> {
        evaluate_condition(&self.activation, id, field, condition)
    }

    /// Renders the node's object (one per forEach item), without kro metadata.
    fn render_all(
        &mut self,
        node: &'a ResourceNode,
    ) -> Result<Vec<(Value, Option<CollectionPosition>)>, EvalStop> {
        let id = node.id();
        if node.for_each().is_empty() {
            return Ok(vec![(self.render(node)?, None)]);
        }
        let mut dimensions = Vec::new();
        for (index, dimension) in node.for_each().iter().enumerate() {
            let field = format!("forEach[{index}].{}", dimension.name());
            let program = dimension.expression().program();
            let value = program
                .evaluate_optional(&self.activation)
                .map_err(|error| eval_stop(id, &field, &error))?;
            let wrong = |found: &str| {
                EvalStop::Fail(NodeError::WrongType {
                    id: id.to_owned(),
                    field: field.clone(),
                    expression: program.source().to_owned(),
                    found: found.to_owned(),
                    expected: "a list",
                })
            };
            match value {
                Some(Value::Array(items)) => dimensions.push(items),
                Some(Value::Null) => return Err(wrong("null")),
                Some(other) => return Err(wrong(json_type(&other))),
                None => return Err(wrong("omit()")),
            }
        }
        let sizes: Vec<usize> = dimensions.iter().map(Vec::len).collect();
        let rows = cartesian(&sizes, self.max_collection_size).map_err(|()| {
            EvalStop::Fail(NodeError::CollectionTooLarge {
                id: id.to_owned(),
                limit: self.max_collection_size,
                sizes: sizes.clone(),
            })
        })?;
        let size = rows.len();
        let mut items = Vec::with_capacity(size);
        for (index, row) in rows.iter().enumerate() {
            for ((dimension, values), position) in node.for_each().iter().zip(&dimensions).zip(row)
            {
                let bound = self.activation.bind(dimension.name(), &values[*position]);
                if let Err(error) = bound {
                    self.unbind_iterators(node);
                    return Err(EvalStop::Fail(NodeError::Expression {
                        id: id.to_owned(),
                        field: format!("forEach.{}", dimension.name()),
                        expression: dimension.expression().source().to_owned(),
                        message: error.to_string(),
                    }));
                }
            }
            let rendered = self.render(node);
            self.unbind_iterators(node);
            items.push((rendered?, Some(CollectionPosition { index, size })));
        }
        Ok(items)
    }

    fn unbind_iterators(&mut self, node: &ResourceNode) {
        for dimension in node.for_each() {
            self.activation.unbind(dimension.name());
        }
    }

    /// Evaluates a slot's template, reusing the value of an identical template source
    /// evaluated earlier in the pass. Only outside forEach expansion: there every variable a
    /// template can read (`schema`, resource ids) is bound at most once per pass, so a
    /// successful value cannot change; iterators change per item, so expansion never memoises.
    fn evaluate_slot(
        &mut self,
        template: &'a kro_cel::Template,
        memoise: bool,
    ) -> Result<Option<Value>, EvalError> {
        if !memoise {
            return template.evaluate_optional(&self.activation);
        }
        if let Some(value) = self.memo.get(template.source()) {
            return Ok(value.clone());
        }
        let value = template.evaluate_optional(&self.activation)?;
        self.memo.insert(template.source(), value.clone());
        Ok(value)
    }

    /// Evaluates every slot into a copy of the node's object.
    fn render(&mut self, node: &'a ResourceNode) -> Result<Value, EvalStop> {
        let memoise = node.for_each().is_empty();
        let mut object = node.object().clone();
        for slot in node.slots() {
            match self.evaluate_slot(slot.template(), memoise) {
                Ok(Some(value)) => set_at(&mut object, slot.path(), value),
                Ok(None) => remove_at(&mut object, slot.path()),
                Err(error) => {
                    let section = match node.kind() {
                        NodeKind::Template => "template",
                        NodeKind::External(_) => "externalRef",
                    };
                    let field = if slot.path().segments().is_empty() {
                        section.to_owned()
                    } else {
                        format!("{section}.{}", slot.path())
                    };
                    return Err(eval_stop(node.id(), &field, &error));
                }
            }
        }
        Ok(object)
    }

    fn template(
        &mut self,
        node: &'a ResourceNode,
        rendered: Vec<(Value, Option<CollectionPosition>)>,
        result: &mut WalkResult,
    ) -> Result<NodeOutcome, NodeError> {
        let id = node.id();
        let target = node.mapping();
        let mut desired = Vec::with_capacity(rendered.len());
        let mut keys: Vec<ObjectKey> = Vec::with_capacity(rendered.len());
        for (mut object, position) in rendered {
            let key = self.finish_object(node, &target, &mut object, position)?;
            if let Some(first) = keys.iter().position(|k| k.identity() == key.identity()) {
                return Err(NodeError::IdentityCollision {
                    id: id.to_owned(),
                    key: Box::new(key),
                    first,
                    second: keys.len(),
                });
            }
            keys.push(key);
            desired.push(object);
        }
        self.check_duplicates(id, &keys, &result.wanted)?;
        let (observed, terminating) = self.observe(id, &target, &keys, &mut desired)?;

        self.rendered_by.extend(keys.iter().map(|_| id));
        self.rendered_identities
            .extend(keys.iter().map(identity_fingerprint));
        for (index, (key, body)) in keys.iter().zip(&desired).enumerate() {
            if !terminating.contains(&index) {
                result.apply.push(ApplyItem {
                    node_id: id.to_owned(),
                    key: key.clone(),
                    body: body.clone(),
                });
            }
        }

        let expected = keys.len();
        let terminating: Vec<String> = terminating.iter().map(|i| keys[*i].to_string()).collect();
        result.wanted.extend(keys);

        let all_observed = observed.len() == expected;
        if !observed.is_empty() || node.is_collection() {
            self.bind_observed(node, &observed)?;
        }
        let mut outcome = if !terminating.is_empty() {
            let waiting_for = format!(
                "waiting for {id}: {} is terminating",
                terminating.join(", ")
            );
            waiting(id, NodeState::Deleting, waiting_for)
        } else if !all_observed {
            let reason = if node.is_collection() {
                format!("{} of {expected} items observed", observed.len())
            } else {
                "not yet observed in the cluster".to_owned()
            };
            waiting(
                id,
                NodeState::WaitingForReadiness,
                format!("waiting for {id}: {reason}"),
            )
        } else {
            self.in_scope.insert(id.to_owned());
            self.readiness(node, &observed)?
        };
        outcome.desired = desired;
        Ok(outcome)
    }

    /// Fails when one of `keys` was rendered by an earlier node (`wanted`, rendered by
    /// [`Walker::rendered_by`]).
    fn check_duplicates(
        &self,
        id: &str,
        keys: &[ObjectKey],
        wanted: &[ObjectKey],
    ) -> Result<(), NodeError> {
        let clashes = keys.iter().any(|key| {
            self.rendered_identities
                .contains(&identity_fingerprint(key))
        });
        if !clashes {
            return Ok(());
        }
        // Rare: build the full report over everything rendered so far.
        let earlier = self.rendered_by.iter().copied().zip(wanted);
        check_duplicates(earlier.chain(keys.iter().map(|key| (id, key)))).map_err(|duplicates| {
            NodeError::Duplicate {
                id: id.to_owned(),
                duplicates,
            }
        })
    }

    /// Looks the rendered objects up in the cluster: fails on an object of another ApplySet,
    /// keeps the recorded kro version on the others. Returns the live objects and the indexes
    /// of the terminating ones.
    fn observe(
        &self,
        id: &str,
        target: &KindMapping,
        keys: &[ObjectKey],
        desired: &mut [Value],
    ) -> Result<(Vec<Arc<Value>>, Vec<usize>), NodeError> {
        let mut observed = Vec::with_capacity(keys.len());
        let mut terminating = Vec::new();
        for (index, (key, object)) in keys.iter().zip(desired.iter_mut()).enumerate() {
            let Some(live) = self.view.get(target, key.namespace.as_deref(), &key.name) else {
                continue;
            };
            if maybe_foreign(&live, &self.applyset_id) {
                let meta = ChildMeta {
                    key: key.clone(),
                    uid: String::new(),
                    labels: object_labels(&live),
                    annotations: object_annotations(&live),
                    terminating: false,
                };
                if let Err(conflict) = check_membership(&self.applyset_id, key, Some(&meta)) {
                    return Err(NodeError::Ownership {
                        id: id.to_owned(),
                        conflict,
                    });
                }
            }
            keep_recorded_version(object, &live)
                .map_err(|error| invalid_metadata(id, &error.to_string()))?;
            let deleting = live
                .get("metadata")
                .and_then(|m| m.get("deletionTimestamp"));
            if !matches!(deleting, None | Some(Value::Null)) {
                terminating.push(index);
            }
            observed.push(live);
        }
        Ok((observed, terminating))
    }

    /// Defaults the namespace, stamps kro's labels and annotations, and returns the key.
    fn finish_object(
        &self,
        node: &ResourceNode,
        target: &KindMapping,
        object: &mut Value,
        position: Option<CollectionPosition>,
    ) -> Result<ObjectKey, NodeError> {
        let id = node.id();
        let invalid = |field: &str, message: &str| NodeError::InvalidObject {
            id: id.to_owned(),
            field: format!("template.{field}"),
            message: message.to_owned(),
        };
        let name = metadata_field(object, "name")
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty())
            .ok_or_else(|| invalid("metadata.name", "expected a non-empty string"))?
            .to_owned();
        let namespace = if target.namespaced {
            let namespace = match metadata_field(object, "namespace") {
                None | Some(Value::Null) => None,
                Some(Value::String(ns)) if ns.is_empty() => None,
                Some(Value::String(ns)) => Some(ns.clone()),
                Some(_) => return Err(invalid("metadata.namespace", "expected a string")),
            };
            let namespace = namespace.unwrap_or_else(|| {
                default_child_namespace(self.instance.namespace.as_deref()).to_owned()
            });
            set_at(
                object,
                &self.namespace_path,
                Value::String(namespace.clone()),
            );
            Some(namespace)
        } else {
            remove_at(object, &self.namespace_path);
            None
        };
        // The apiVersion/kind are literal in the template; normalise them to the resolved kind.
        if let Value::Object(map) = object {
            map.insert("apiVersion".into(), Value::String(target.api_version()));
            map.insert("kind".into(), Value::String(target.kind.clone()));
        }
        self.stamp
            .stamp(object, id, node.wave(), position)
            .map_err(|error| invalid("metadata", &error.to_string()))?;
        Ok(ObjectKey {
            group: target.group.clone(),
            version: target.version.clone(),
            kind: target.kind.clone(),
            namespace,
            name,
        })
    }
}

fn invalid_metadata(id: &str, message: &str) -> NodeError {
    NodeError::InvalidObject {
        id: id.to_owned(),
        field: "template.metadata".to_owned(),
        message: message.to_owned(),
    }
}

pub(super) fn evaluate_condition(
    activation: &Activation,
    id: &str,
    field: &str,
    condition: &CompiledExpression,
) -> Result<bool, EvalStop> {
    let program = condition.program();
    match program.evaluate_value(activation) {
        Ok(value) if value.is_null() => Ok(false),
        Ok(value) => value.as_bool().ok_or_else(|| {
            EvalStop::Fail(NodeError::WrongType {
                id: id.to_owned(),
                field: field.to_owned(),
                expression: program.source().to_owned(),
                found: value.type_name(),
                expected: "a bool",
            })
        }),
        Err(error) => Err(eval_stop(id, field, &error)),
    }
}

fn eval_stop(id: &str, field: &str, error: &EvalError) -> EvalStop {
    if error.is_pending() {
        EvalStop::Pending(format!("{field} `{}`: {}", error.expression, error.message))
    } else {
        EvalStop::Fail(NodeError::Expression {
            id: id.to_owned(),
            field: field.to_owned(),
            expression: error.expression.clone(),
            message: error.message.clone(),
        })
    }
}

fn failed(id: &str, error: NodeError) -> NodeOutcome {
    NodeOutcome {
        id: id.to_owned(),
        state: NodeState::Error,
        message: Some(ErrorChain::new(&error).to_string()),
        desired: Vec::new(),
        ready: false,
        waiting_for: None,
        error: Some(error),
    }
}

pub(super) fn waiting(id: &str, state: NodeState, waiting_for: String) -> NodeOutcome {
    NodeOutcome {
        id: id.to_owned(),
        state,
        message: Some(waiting_for.clone()),
        desired: Vec::new(),
        ready: false,
        waiting_for: Some(waiting_for),
        error: None,
    }
}

pub(super) fn synced(id: &str) -> NodeOutcome {
    NodeOutcome {
        id: id.to_owned(),
        state: NodeState::Synced,
        message: None,
        desired: Vec::new(),
        ready: true,
        waiting_for: None,
        error: None,
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

#[cfg(test)]
mod tests {
    use kro_api::ResourceGraphDefinition;
    use kro_graph::{OfflineResolver, compile};
    use serde_json::json;

    use crate::core::{InMemoryView, Limits, NodeError, NodeState, PlanInput, RgdIdentity, plan};

    /// Three ConfigMaps; `second` renders the object `first` renders, `third` its own.
    const RGD: &str = r"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: twins
spec:
  schema:
    apiVersion: v1alpha1
    kind: Twins
    spec:
      name: string
  resources:
  - id: first
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}
  - id: second
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}
  - id: third
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}-third
";

    #[test]
    fn an_object_rendered_by_two_nodes_fails_the_second() {
        let rgd = ResourceGraphDefinition::from_yaml(RGD).expect("RGD parses");
        let graph = compile(&rgd, &OfflineResolver::new()).expect("RGD compiles");
        let instance = json!({
            "apiVersion": "kro.run/v1alpha1",
            "kind": "Twins",
            "metadata": {"name": "demo", "namespace": "team", "uid": "uid-1"},
            "spec": {"name": "same"},
        });
        let rgd = RgdIdentity {
            name: "twins".into(),
            uid: "rgd-uid".into(),
        };
        let plan = plan(&PlanInput {
            graph: &graph,
            instance: &instance,
            view: &InMemoryView::new(),
            now: "2025-01-01T00:00:00Z",
            kro_version: "v0.2.0",
            rgd: &rgd,
            limits: Limits::default(),
            previous_status: None,
            gating: crate::core::Gating::Readiness,
        });
        let states: Vec<(&str, NodeState)> = plan
            .nodes
            .iter()
            .map(|node| (node.id.as_str(), node.state))
            .collect();
        let failed = [
            ("first", NodeState::WaitingForReadiness),
            ("second", NodeState::Error),
            ("third", NodeState::WaitingForReadiness),
        ];
        for (id, state) in failed {
            assert!(states.contains(&(id, state)), "{id}: {states:?}");
        }
        let second = plan
            .nodes
            .iter()
            .find(|node| node.id == "second")
            .expect("second");
        let Some(NodeError::Duplicate { duplicates, .. }) = &second.error else {
            panic!("expected a duplicate error, got {:?}", second.error);
        };
        let [duplicate] = duplicates.duplicates.as_slice() else {
            panic!("expected one duplicate, got {duplicates:?}");
        };
        assert_eq!(
            (
                duplicate.first_node.as_str(),
                duplicate.second_node.as_str()
            ),
            ("first", "second")
        );
        assert_eq!(duplicate.key.name, "same");
        let applied: Vec<&str> = plan
            .apply
            .iter()
            .map(|item| item.node_id.as_str())
            .collect();
        assert_eq!(applied, ["first", "third"]);
    }
}
