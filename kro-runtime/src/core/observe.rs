//! Observing a node's objects in the cluster: external references read by name or selector,
//! observed objects bound for dependents (converted to CEL once per pass), and readiness.

use std::sync::Arc;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray,
};
use kro_applyset::CollectionPosition;
use kro_applyset::object::default_child_namespace;
use kro_cel::{Activation, CelValue};
use kro_graph::{ExternalSelection, ResourceNode};
use serde_json::Value;

use crate::core::error::NodeError;
use crate::core::plan::{NodeOutcome, NodeState};
use crate::core::selector::LabelSelector;
use crate::core::walk::{EvalStop, Walker, evaluate_condition, synced, waiting};

impl Walker<'_> {
    pub(super) fn external(
        &mut self,
        node: &ResourceNode,
        selection: ExternalSelection,
        rendered: &[(Value, Option<CollectionPosition>)],
    ) -> Result<NodeOutcome, NodeError> {
        let id = node.id();
        let target = node.mapping();
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
                self.in_scope.insert(id.to_owned());
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
                self.in_scope.insert(id.to_owned());
                self.readiness(node, &observed)
            }
        }
    }

    /// Binds what the node observed under its id: the object, or the list of items. Each
    /// object is converted to CEL once per pass: readiness of a single object evaluates in the
    /// same activation.
    pub(super) fn bind_observed(
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
    pub(super) fn readiness(
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
                // The message names the condition, its expression and what is missing, once.
                Err(EvalStop::Pending(message)) => format!("{message}{item_note}"),
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
    CelValue::from_json_with_schema(value, schema)
        .map_err(|error| observed_error(node.id(), &error.to_string()))
}

fn observed_error(id: &str, message: &str) -> NodeError {
    NodeError::ObservedObject {
        id: id.to_owned(),
        message: message.to_owned(),
    }
}
