//! The node walk: every resource node in topological order through includeWhen, dependency
//! gating, forEach expansion, rendering, observation and readiness.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray,
};
use kro_applyset::labels::{KRO_VERSION_LABEL, stamp_metadata};
use kro_applyset::object::default_child_namespace;
use kro_applyset::{
    ChildMeta, CollectionPosition, InstanceRef, KroVersion, ObjectKey, check_duplicates,
    check_membership, child_annotations, child_labels,
};
use kro_cel::{Activation, CelValue, EvalError, json_to_cel_with_schema};
use kro_graph::{CompiledExpression, ExternalSelection, NodeKind, ResourceNode};
use serde_json::Value;

use crate::core::error::NodeError;
use crate::core::plan::{ApplyItem, NodeOutcome, NodeState};
use crate::core::render::{cartesian, remove_at, set_at};
use crate::core::selector::LabelSelector;
use crate::core::view::{ClusterView, ResourceTarget, object_annotations, object_labels};

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
enum EvalStop {
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
    pub version: &'a KroVersion,
    pub max_collection_size: usize,
    pub activation: Activation,
    states: BTreeMap<String, (NodeState, Option<String>)>,
    /// Rendered object identities across nodes, for duplicate detection.
    rendered: Vec<(String, ObjectKey)>,
    /// The identities of `rendered`, so that a node without a duplicate costs one lookup per
    /// object instead of a check over everything rendered so far.
    rendered_identities: BTreeSet<IdentityKey>,
    /// The instance's ApplySet id (a SHA-256), computed once per walk.
    applyset_id: String,
    /// Values of expressions already evaluated this pass, by source (see
    /// [`Walker::evaluate_slot`]).
    memo: HashMap<String, Option<Value>>,
}

/// An owned object identity: group, kind, namespace, name.
type IdentityKey = (String, String, Option<String>, String);

fn identity_key(key: &ObjectKey) -> IdentityKey {
    (
        key.group.clone(),
        key.kind.clone(),
        key.namespace.clone(),
        key.name.clone(),
    )
}

impl<'a> Walker<'a> {
    pub(crate) fn new(
        view: &'a dyn ClusterView,
        instance: &'a InstanceRef,
        version: &'a KroVersion,
        max_collection_size: usize,
        activation: Activation,
    ) -> Self {
        Self {
            view,
            instance,
            version,
            max_collection_size,
            activation,
            states: BTreeMap::new(),
            rendered: Vec::new(),
            rendered_identities: BTreeSet::new(),
            applyset_id: instance.applyset_id(),
            memo: HashMap::new(),
        }
    }

    pub(crate) fn walk<'g>(
        mut self,
        nodes: impl Iterator<Item = &'g ResourceNode>,
    ) -> (WalkResult, Activation) {
        let mut result = WalkResult {
            nodes: Vec::new(),
            apply: Vec::new(),
            wanted: Vec::new(),
            incomplete: false,
        };
        for node in nodes {
            let outcome = self.node(node, &mut result);
            if matches!(outcome.state, NodeState::InProgress | NodeState::Error) {
                result.incomplete = true;
            }
            self.states.insert(
                outcome.id.clone(),
                (outcome.state, outcome.waiting_for.clone()),
            );
            result.nodes.push(outcome);
        }
        (result, self.activation)
    }

    fn node(&mut self, node: &ResourceNode, result: &mut WalkResult) -> NodeOutcome {
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
            if let Some((NodeState::Skipped, _)) = self.states.get(dependency) {
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

    /// The explanation of the first dependency that is not ready, following its own wait.
    fn first_unready(&self, dependencies: &[String]) -> Option<String> {
        dependencies
            .iter()
            .find_map(|dependency| match self.states.get(dependency) {
                Some((state, _)) if state.is_terminal() => None,
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
        node: &ResourceNode,
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
        template: &kro_cel::Template,
        memoise: bool,
    ) -> Result<Option<Value>, EvalError> {
        if !memoise {
            return template.evaluate_optional(&self.activation);
        }
        if let Some(value) = self.memo.get(template.source()) {
            return Ok(value.clone());
        }
        let value = template.evaluate_optional(&self.activation)?;
        self.memo
            .insert(template.source().to_owned(), value.clone());
        Ok(value)
    }

    /// Evaluates every slot into a copy of the node's object.
    fn render(&mut self, node: &ResourceNode) -> Result<Value, EvalStop> {
        let memoise = node.for_each().is_empty();
        let section = match node.kind() {
            NodeKind::Template => "template",
            NodeKind::External(_) => "externalRef",
        };
        let mut object = node.object().clone();
        for slot in node.slots() {
            let field = if slot.path().segments().is_empty() {
                section.to_owned()
            } else {
                format!("{section}.{}", slot.path())
            };
            match self.evaluate_slot(slot.template(), memoise) {
                Ok(Some(value)) => set_at(&mut object, slot.path(), value),
                Ok(None) => remove_at(&mut object, slot.path()),
                Err(error) => return Err(eval_stop(node.id(), &field, &error)),
            }
        }
        Ok(object)
    }

    fn template(
        &mut self,
        node: &ResourceNode,
        rendered: Vec<(Value, Option<CollectionPosition>)>,
        result: &mut WalkResult,
    ) -> Result<NodeOutcome, NodeError> {
        let id = node.id();
        let target = ResourceTarget::of_node(node);
        let applyset_id = self.applyset_id.clone();
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
        let clashes = keys
            .iter()
            .any(|key| self.rendered_identities.contains(&identity_key(key)));
        if clashes {
            // Rare: build the full report over everything rendered so far.
            let candidates: Vec<(String, ObjectKey)> = self
                .rendered
                .iter()
                .cloned()
                .chain(keys.iter().map(|key| (id.to_owned(), key.clone())))
                .collect();
            if let Err(duplicates) =
                check_duplicates(candidates.iter().map(|(node, key)| (node.as_str(), key)))
            {
                return Err(NodeError::Duplicate {
                    id: id.to_owned(),
                    duplicates,
                });
            }
        }

        let mut observed = Vec::with_capacity(keys.len());
        let mut terminating = Vec::new();
        for (key, object) in keys.iter().zip(desired.iter_mut()) {
            let Some(live) = self.view.get(&target, key.namespace.as_deref(), &key.name) else {
                continue;
            };
            let meta = ChildMeta {
                key: key.clone(),
                uid: String::new(),
                labels: object_labels(&live),
                annotations: object_annotations(&live),
                terminating: !matches!(
                    live.get("metadata")
                        .and_then(|m| m.get("deletionTimestamp")),
                    None | Some(Value::Null)
                ),
            };
            if let Err(conflict) = check_membership(&applyset_id, key, Some(&meta)) {
                return Err(NodeError::Ownership {
                    id: id.to_owned(),
                    conflict,
                });
            }
            keep_recorded_version(object, &meta.labels)
                .map_err(|error| invalid_metadata(id, &error.to_string()))?;
            if meta.terminating {
                terminating.push(key.to_string());
            }
            observed.push(live);
        }

        self.rendered
            .extend(keys.iter().map(|key| (id.to_owned(), key.clone())));
        self.rendered_identities
            .extend(keys.iter().map(identity_key));
        for (key, body) in keys.iter().zip(&desired) {
            result.wanted.push(key.clone());
            if !terminating.contains(&key.to_string()) {
                result.apply.push(ApplyItem {
                    node_id: id.to_owned(),
                    key: key.clone(),
                    body: body.clone(),
                });
            }
        }

        let expected = keys.len();
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
            self.readiness(node, &observed)?
        };
        outcome.desired = desired;
        Ok(outcome)
    }

    /// Defaults the namespace, stamps kro's labels and annotations, and returns the key.
    fn finish_object(
        &self,
        node: &ResourceNode,
        target: &ResourceTarget,
        object: &mut Value,
        position: Option<CollectionPosition>,
    ) -> Result<ObjectKey, NodeError> {
        let id = node.id();
        let invalid = |field: &str, message: &str| NodeError::InvalidObject {
            id: id.to_owned(),
            field: format!("template.{field}"),
            message: message.to_owned(),
        };
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty())
            .ok_or_else(|| invalid("metadata.name", "expected a non-empty string"))?
            .to_owned();
        let namespace = if target.namespaced {
            let namespace = match object.pointer("/metadata/namespace") {
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
                &kro_graph::FieldPath::root()
                    .field("metadata")
                    .field("namespace"),
                Value::String(namespace.clone()),
            );
            Some(namespace)
        } else {
            remove_at(
                object,
                &kro_graph::FieldPath::root()
                    .field("metadata")
                    .field("namespace"),
            );
            None
        };
        // The apiVersion/kind are literal in the template; normalise them to the resolved kind.
        if let Value::Object(map) = object {
            map.insert("apiVersion".into(), Value::String(target.api_version()));
            map.insert("kind".into(), Value::String(target.kind.clone()));
        }
        let labels = child_labels(self.instance, self.version, id, position);
        let annotations = child_annotations(node.wave());
        stamp_metadata(object, &labels, &annotations)
            .map_err(|error| invalid("metadata", &error.to_string()))?;
        Ok(ObjectKey {
            group: target.group.clone(),
            version: target.version.clone(),
            kind: target.kind.clone(),
            namespace,
            name,
        })
    }

    fn external(
        &mut self,
        node: &ResourceNode,
        selection: ExternalSelection,
        rendered: &[(Value, Option<CollectionPosition>)],
    ) -> Result<NodeOutcome, NodeError> {
        let id = node.id();
        let target = ResourceTarget::of_node(node);
        let Some((reference, _)) = rendered.first() else {
            return Err(NodeError::InvalidObject {
                id: id.to_owned(),
                field: "externalRef".to_owned(),
                message: "nothing rendered".to_owned(),
            });
        };
        let namespace = match reference.pointer("/metadata/namespace") {
            Some(Value::String(ns)) if !ns.is_empty() => Some(ns.clone()),
            _ => None,
        };
        match selection {
            ExternalSelection::ByName => {
                let name = reference
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .filter(|name| !name.is_empty())
                    .ok_or_else(|| NodeError::InvalidObject {
                        id: id.to_owned(),
                        field: "externalRef.metadata.name".to_owned(),
                        message: "expected a non-empty string".to_owned(),
                    })?;
                let namespace = target.namespaced.then(|| {
                    namespace.unwrap_or_else(|| {
                        default_child_namespace(self.instance.namespace.as_deref()).to_owned()
                    })
                });
                let Some(live) = self.view.get(&target, namespace.as_deref(), name) else {
                    let location = match &namespace {
                        Some(ns) => format!("{ns}/{name}"),
                        None => name.to_owned(),
                    };
                    return Ok(waiting(
                        id,
                        NodeState::WaitingForReadiness,
                        format!(
                            "waiting for {id}: external {} {location} does not exist",
                            target.kind
                        ),
                    ));
                };
                let observed = vec![live];
                self.bind_observed(node, &observed)?;
                self.readiness(node, &observed)
            }
            ExternalSelection::BySelector => {
                let raw = reference
                    .pointer("/metadata/selector")
                    .cloned()
                    .unwrap_or(Value::Null);
                let selector =
                    LabelSelector::from_json(&raw).map_err(|source| NodeError::Selector {
                        id: id.to_owned(),
                        source,
                    })?;
                let scope = if target.namespaced {
                    namespace.as_deref()
                } else {
                    None
                };
                let mut observed = self.view.list(&target, scope, &selector);
                observed.sort_by_key(|object| sort_key(object));
                self.bind_observed(node, &observed)?;
                self.readiness(node, &observed)
            }
        }
    }

    /// Binds what the node observed under its id: the object, or the list of items. Each
    /// object is converted to CEL once per pass: readiness of a single object evaluates in the
    /// same activation.
    fn bind_observed(
        &mut self,
        node: &ResourceNode,
        observed: &[Arc<Value>],
    ) -> Result<(), NodeError> {
        let id = node.id();
        let value = if node.is_collection() {
            let list = Value::Array(observed.iter().map(|item| (**item).clone()).collect());
            convert(node, &list, &list_schema(node.schema()))?
        } else {
            let Some(object) = observed.first() else {
                return Ok(());
            };
            convert(node, object, node.schema())?
        };
        self.activation
            .bind_value(id, value)
            .map_err(|error| observed_error(id, &error.to_string()))
    }

    /// readyWhen over the observed object(s); without readyWhen, observed means ready.
    /// A single object is read from the walk's activation, where [`Walker::bind_observed`]
    /// bound it under its id (readyWhen is type-checked to read nothing else); collection
    /// items are bound one by one as `each`.
    fn readiness(
        &self,
        node: &ResourceNode,
        observed: &[Arc<Value>],
    ) -> Result<NodeOutcome, NodeError> {
        let id = node.id();
        if node.ready_when().is_empty() || self.view.assumed_ready(id) {
            return Ok(synced(id));
        }
        if !node.is_collection() {
            return self.ready_conditions(node, &self.activation, "");
        }
        for (position, item) in observed.iter().enumerate() {
            let mut activation = Activation::new();
            activation
                .bind_value("each", convert(node, item, node.schema())?)
                .map_err(|error| observed_error(id, &error.to_string()))?;
            let outcome =
                self.ready_conditions(node, &activation, &format!(" for item {position}"))?;
            if !outcome.ready {
                return Ok(outcome);
            }
        }
        Ok(synced(id))
    }

    /// Every readyWhen condition of `node` over `activation`: synced, or waiting on the first
    /// condition that does not hold.
    fn ready_conditions(
        &self,
        node: &ResourceNode,
        activation: &Activation,
        item_note: &str,
    ) -> Result<NodeOutcome, NodeError> {
        let id = node.id();
        for (index, condition) in node.ready_when().iter().enumerate() {
            let field = format!("readyWhen[{index}]");
            let reason = match evaluate_condition(activation, id, &field, condition) {
                Ok(true) => continue,
                Ok(false) => format!("readyWhen `{}` is false{item_note}", condition.source()),
                Err(EvalStop::Pending(message)) => format!(
                    "readyWhen `{}` data pending{item_note}: {message}",
                    condition.source()
                ),
                Err(EvalStop::Fail(error)) => return Err(error),
            };
            return Ok(waiting(
                id,
                NodeState::WaitingForReadiness,
                format!("waiting for {id}: {reason}"),
            ));
        }
        Ok(synced(id))
    }
}

/// Keeps the `kro.run/kro-version` value an existing child carries: the label records the
/// version that created the child, so neither an upgrade of kro-rs nor a takeover from upstream
/// kro rewrites every child in the cluster. A child without the label (or with an empty one)
/// keeps the current version [`child_labels`] stamped.
fn keep_recorded_version(
    object: &mut Value,
    live_labels: &BTreeMap<String, String>,
) -> Result<(), kro_applyset::ObjectError> {
    let Some(recorded) = live_labels
        .get(KRO_VERSION_LABEL)
        .filter(|value| !value.is_empty())
    else {
        return Ok(());
    };
    let labels = BTreeMap::from([(KRO_VERSION_LABEL.to_owned(), recorded.clone())]);
    stamp_metadata(object, &labels, &BTreeMap::new())
}

fn invalid_metadata(id: &str, message: &str) -> NodeError {
    NodeError::InvalidObject {
        id: id.to_owned(),
        field: "template.metadata".to_owned(),
        message: message.to_owned(),
    }
}

fn evaluate_condition(
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
        message: Some(error.to_string()),
        desired: Vec::new(),
        ready: false,
        waiting_for: None,
        error: Some(error),
    }
}

fn waiting(id: &str, state: NodeState, waiting_for: String) -> NodeOutcome {
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

fn synced(id: &str) -> NodeOutcome {
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

fn sort_key(object: &Value) -> (String, String) {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    (text("/metadata/namespace"), text("/metadata/name"))
}

fn list_schema(item: &JSONSchemaProps) -> JSONSchemaProps {
    JSONSchemaProps {
        type_: Some("array".to_owned()),
        items: Some(JSONSchemaPropsOrArray::Schema(Box::new(item.clone()))),
        ..JSONSchemaProps::default()
    }
}

/// Converts an observed object under its schema.
fn convert(
    node: &ResourceNode,
    value: &Value,
    schema: &JSONSchemaProps,
) -> Result<CelValue, NodeError> {
    json_to_cel_with_schema(value, schema)
        .map(CelValue::from_cel)
        .map_err(|error| observed_error(node.id(), &error.to_string()))
}

fn observed_error(id: &str, message: &str) -> NodeError {
    NodeError::ObservedObject {
        id: id.to_owned(),
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use kro_api::ResourceGraphDefinition;
    use kro_applyset::labels::KRO_VERSION_LABEL;
    use kro_graph::{Graph, OfflineResolver, compile};
    use serde_json::{Value, json};

    use crate::core::{InMemoryView, Limits, Plan, PlanInput, RgdIdentity, plan};

    const RGD: &str = r"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: versioned
spec:
  schema:
    apiVersion: v1alpha1
    kind: Versioned
    spec:
      name: string
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}-config
      data:
        key: value
";

    const CURRENT: &str = "v0.2.0";

    fn graph() -> Graph {
        let rgd = ResourceGraphDefinition::from_yaml(RGD).expect("RGD parses");
        compile(&rgd, &OfflineResolver::new()).expect("RGD compiles")
    }

    fn instance() -> Value {
        json!({
            "apiVersion": "kro.run/v1alpha1",
            "kind": "Versioned",
            "metadata": {"name": "demo", "namespace": "team", "uid": "instance-uid", "generation": 1},
            "spec": {"name": "demo"},
        })
    }

    fn plan_over(graph: &Graph, view: &InMemoryView) -> Plan {
        let instance = instance();
        let rgd = RgdIdentity {
            name: "versioned".into(),
            uid: "rgd-uid".into(),
        };
        plan(&PlanInput {
            graph,
            instance: &instance,
            view,
            now: "2025-01-01T00:00:00Z",
            kro_version: CURRENT,
            rgd: &rgd,
            limits: Limits::default(),
            previous_status: None,
        })
    }

    fn applied_version(plan: &Plan) -> Option<&str> {
        let [item] = plan.apply.as_slice() else {
            panic!("expected one apply item, got {}", plan.apply.len());
        };
        item.body
            .pointer("/metadata/labels")
            .and_then(|labels| labels.get(KRO_VERSION_LABEL))
            .and_then(Value::as_str)
    }

    /// The child as the API server stores it after the first apply, with `version` (or no
    /// version label at all) recorded.
    fn stored_child(graph: &Graph, version: Option<&str>) -> Value {
        let first = plan_over(graph, &InMemoryView::new());
        let mut child = first.apply[0].body.clone();
        child["metadata"]["uid"] = json!("child-uid");
        child["metadata"]["resourceVersion"] = json!("7");
        let labels = child["metadata"]["labels"]
            .as_object_mut()
            .expect("child labels");
        match version {
            Some(version) => {
                labels.insert(KRO_VERSION_LABEL.to_owned(), json!(version));
            }
            None => {
                labels.remove(KRO_VERSION_LABEL);
            }
        }
        child
    }

    #[test]
    fn new_child_gets_the_current_version() {
        let graph = graph();
        assert_eq!(
            applied_version(&plan_over(&graph, &InMemoryView::new())),
            Some(CURRENT)
        );
    }

    #[test]
    fn existing_child_keeps_the_version_that_created_it() {
        let graph = graph();
        let mut view = InMemoryView::new();
        view.insert(stored_child(&graph, Some("v0.9.4")))
            .expect("child is storable");
        let plan = plan_over(&graph, &view);
        assert_eq!(applied_version(&plan), Some("v0.9.4"));
        assert_eq!(
            plan.apply[0].body["data"],
            json!({"key": "value"}),
            "only the version label is taken from the live child"
        );
    }

    #[test]
    fn existing_child_without_a_version_gets_the_current_one() {
        let graph = graph();
        for recorded in [None, Some("")] {
            let mut view = InMemoryView::new();
            view.insert(stored_child(&graph, recorded))
                .expect("child is storable");
            assert_eq!(
                applied_version(&plan_over(&graph, &view)),
                Some(CURRENT),
                "recorded {recorded:?}"
            );
        }
    }
}
