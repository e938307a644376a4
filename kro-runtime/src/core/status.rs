//! The instance status: projected fields (best effort), kro's conditions and state, author
//! conditions, and the `resources` explanation.

use std::collections::BTreeMap;

use chrono::DateTime;
use kro_cel::Activation;
use kro_graph::Graph;
use kro_schema::RESOURCES_STATUS_FIELD;
use serde_json::{Map, Value, json};

use crate::core::conditions::{
    ConditionStatus, ConditionUpdate, GRAPH_RESOLVED, INSTANCE_MANAGED, REASON_ALL_RESOURCES_READY,
    REASON_MANAGED, REASON_NOT_READY, REASON_RESOLVED, REASON_RESOURCE_DELETING, RESOURCES_READY,
    condition_set, ready_is_true, stamp,
};
use crate::core::plan::{InstanceState, NodeOutcome, NodeState};
use crate::core::render::{drop_empty_containers, remove_at, set_at};

/// The status field kro owns for the instance state.
pub const STATE_FIELD: &str = "state";
/// The status field holding the conditions.
pub const CONDITIONS_FIELD: &str = "conditions";

/// Evaluates every status expression; fields whose expressions are pending or fail are left
/// out, so the projection is rebuilt from scratch each pass.
pub(crate) fn project_fields(graph: &Graph, activation: &Activation) -> Map<String, Value> {
    let mut status = graph.instance().status().clone();
    // Reverse document order keeps earlier list indexes valid while elements are removed.
    for slot in graph.instance().status_slots().iter().rev() {
        match slot.template().evaluate_optional(activation) {
            Ok(Some(value)) => set_at(&mut status, slot.path(), value),
            Ok(None) | Err(_) => remove_at(&mut status, slot.path()),
        }
    }
    drop_empty_containers(&mut status);
    let mut fields = match status {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    fields.remove(STATE_FIELD);
    fields
}

/// The result of the author conditions (`status.conditions` in the RGD).
pub(crate) struct AuthorConditions {
    /// The stamped conditions to write.
    pub conditions: Vec<Value>,
    /// Failures (expression errors, duplicate types); any makes the instance ERROR.
    pub failures: Vec<String>,
}

/// Evaluates the author conditions: results flattened in order; duplicate types are dropped
/// (all copies) and reported; a pending expression keeps the previous conditions of types no
/// other expression produced; a failing one is reported while the others are written.
pub(crate) fn author_conditions(
    graph: &Graph,
    activation: &Activation,
    previous: &[Value],
    generation: Option<i64>,
    now: &str,
) -> AuthorConditions {
    let mut produced: Vec<Value> = Vec::new();
    let mut failures = Vec::new();
    let mut any_pending = false;
    for (index, expression) in graph.instance().conditions().iter().enumerate() {
        let field = format!("status.conditions[{index}]");
        match expression.program().evaluate_optional(activation) {
            Ok(Some(Value::Array(items))) => produced.extend(items),
            Ok(Some(Value::Null) | None) => {}
            Ok(Some(item)) => produced.push(item),
            Err(error) if error.is_pending() => any_pending = true,
            Err(error) => failures.push(format!(
                "{field}: expression `{}` failed: {}",
                error.expression, error.message
            )),
        }
    }
    let type_of = |condition: &Value| {
        condition
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for condition in &produced {
        match type_of(condition) {
            Some(type_) => *counts.entry(type_).or_default() += 1,
            None => failures.push(format!(
                "status.conditions: a condition has no string `type`: {condition}"
            )),
        }
    }
    let duplicates: Vec<&String> = counts
        .iter()
        .filter(|(_, count)| **count > 1)
        .map(|(type_, _)| type_)
        .collect();
    for type_ in &duplicates {
        failures.push(format!(
            "status.conditions: condition type \"{type_}\" is produced more than once; every copy is dropped"
        ));
    }
    let text = |condition: &Value, field: &str| {
        condition
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let mut conditions: Vec<Value> = produced
        .iter()
        .filter_map(|condition| {
            let type_ = type_of(condition)?;
            if duplicates.contains(&&type_) {
                return None;
            }
            Some(stamp(
                &type_,
                &text(condition, "status"),
                &text(condition, "reason"),
                &text(condition, "message"),
                previous,
                generation,
                now,
            ))
        })
        .collect();
    if any_pending {
        for old in previous {
            let Some(type_) = type_of(old) else { continue };
            if !counts.contains_key(&type_) {
                conditions.push(old.clone());
            }
        }
    }
    AuthorConditions {
        conditions,
        failures,
    }
}

/// `ResourcesReady` from the node outcomes (and an instance-level problem, if any).
pub(crate) fn resources_ready(
    nodes: &[NodeOutcome],
    instance_error: Option<&str>,
) -> ConditionUpdate {
    if let Some(error) = instance_error {
        return ConditionUpdate::new(
            RESOURCES_READY,
            ConditionStatus::False,
            REASON_NOT_READY,
            format!("resource reconciliation failed: {error}"),
        );
    }
    // A resource that waits on another carries that one's explanation: say each once.
    let messages = |filter: &dyn Fn(&NodeOutcome) -> bool| {
        let mut said: Vec<&str> = Vec::new();
        for message in nodes
            .iter()
            .filter(|node| filter(node))
            .filter_map(|node| node.message.as_deref())
        {
            if !said.contains(&message) {
                said.push(message);
            }
        }
        said.join("; ")
    };
    if nodes.iter().any(|node| node.state == NodeState::Deleting) {
        return ConditionUpdate::new(
            RESOURCES_READY,
            ConditionStatus::False,
            REASON_RESOURCE_DELETING,
            messages(&|node| node.state == NodeState::Deleting),
        );
    }
    if nodes.iter().any(|node| node.state == NodeState::Error) {
        return ConditionUpdate::new(
            RESOURCES_READY,
            ConditionStatus::False,
            REASON_NOT_READY,
            format!(
                "resource error: {}",
                messages(&|node| node.state == NodeState::Error)
            ),
        );
    }
    if nodes.iter().all(|node| node.ready) {
        return ConditionUpdate::new(
            RESOURCES_READY,
            ConditionStatus::True,
            REASON_ALL_RESOURCES_READY,
            "all resources are created and ready",
        );
    }
    ConditionUpdate::new(
        RESOURCES_READY,
        ConditionStatus::False,
        REASON_NOT_READY,
        format!(
            "awaiting resource readiness: {}",
            messages(&|node| !node.ready)
        ),
    )
}

/// `InstanceManaged` True message (upstream kro's text).
pub(crate) const MANAGED_MESSAGE: &str = "instance is properly managed with finalizers and labels";
/// `GraphResolved` True message (upstream kro's text).
pub(crate) const RESOLVED_MESSAGE: &str = "runtime graph created and all resources resolved";

/// The built-in dependents for a pass that has a graph.
pub(crate) fn built_in_dependents(resources_ready: ConditionUpdate) -> Vec<ConditionUpdate> {
    vec![
        ConditionUpdate::new(
            INSTANCE_MANAGED,
            ConditionStatus::True,
            REASON_MANAGED,
            MANAGED_MESSAGE,
        ),
        ConditionUpdate::new(
            GRAPH_RESOLVED,
            ConditionStatus::True,
            REASON_RESOLVED,
            RESOLVED_MESSAGE,
        ),
        resources_ready,
    ]
}

/// The `status.resources` explanation: one entry per node, in topological order.
pub(crate) fn resources_explanation(
    nodes: &[NodeOutcome],
    previous_status: Option<&Value>,
    created: Option<&str>,
    now: &str,
) -> Value {
    let previous: BTreeMap<&str, &Value> = previous_status
        .and_then(|status| status.get(RESOURCES_STATUS_FIELD))
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter_map(|entry| Some((entry.get("id")?.as_str()?, entry)))
                .collect()
        })
        .unwrap_or_default();
    let elapsed = created.and_then(|created| seconds_between(created, now));
    let entries = nodes
        .iter()
        .map(|node| {
            let mut entry = Map::new();
            entry.insert("id".into(), json!(node.id));
            entry.insert("state".into(), json!(node.state.as_str()));
            if let Some(message) = &node.message {
                entry.insert("message".into(), json!(message));
            }
            if let Some(waiting_for) = &node.waiting_for {
                entry.insert("waitingFor".into(), json!(waiting_for));
            }
            let kept = previous
                .get(node.id.as_str())
                .and_then(|entry| entry.get("readyAfterSeconds"))
                .filter(|value| value.is_i64() || value.is_u64())
                .cloned();
            let ready_after = kept.or_else(|| {
                (node.state == NodeState::Synced)
                    .then_some(elapsed)
                    .flatten()
                    .map(|seconds| json!(seconds))
            });
            if let Some(seconds) = ready_after {
                entry.insert("readyAfterSeconds".into(), seconds);
            }
            Value::Object(entry)
        })
        .collect();
    Value::Array(entries)
}

/// Whole seconds from `from` to `to` (RFC 3339), never negative; `None` when either does not
/// parse.
pub(crate) fn seconds_between(from: &str, to: &str) -> Option<i64> {
    let from = DateTime::parse_from_rfc3339(from).ok()?;
    let to = DateTime::parse_from_rfc3339(to).ok()?;
    Some((to - from).num_seconds().max(0))
}

/// Assembles the status: projected fields, then kro's `state`, `conditions` and (unless the
/// RGD defines it) `resources`.
pub(crate) struct StatusParts {
    pub fields: Map<String, Value>,
    pub built_in: Vec<Value>,
    pub author: Option<AuthorConditions>,
    pub any_node_error: bool,
    pub resources: Option<Value>,
}

/// The final status and state.
pub(crate) fn assemble(parts: StatusParts) -> (Value, InstanceState) {
    let StatusParts {
        mut fields,
        built_in,
        author,
        any_node_error,
        resources,
    } = parts;
    let author_failed = author.as_ref().is_some_and(|a| !a.failures.is_empty());
    let state = if any_node_error || author_failed {
        InstanceState::Error
    } else if ready_is_true(&built_in) {
        InstanceState::Active
    } else {
        InstanceState::InProgress
    };
    fields.insert(STATE_FIELD.into(), json!(state.as_str()));
    let conditions = match author {
        Some(author) => author.conditions,
        None => built_in,
    };
    fields.insert(CONDITIONS_FIELD.into(), Value::Array(conditions));
    if let Some(resources) = resources {
        fields.insert(RESOURCES_STATUS_FIELD.into(), resources);
    }
    (Value::Object(fields), state)
}

/// The previous status's conditions (empty when none).
pub(crate) fn previous_conditions(previous_status: Option<&Value>) -> Vec<Value> {
    previous_status
        .and_then(|status| status.get(CONDITIONS_FIELD))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Builds the conditions for a pass with a graph.
pub(crate) fn built_in_conditions(
    resources_ready: ConditionUpdate,
    previous: &[Value],
    generation: Option<i64>,
    now: &str,
) -> Vec<Value> {
    condition_set(
        &built_in_dependents(resources_ready),
        previous,
        generation,
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_between_parses_rfc3339_and_clamps() {
        assert_eq!(
            seconds_between("2024-01-01T00:00:00Z", "2024-01-01T00:01:05Z"),
            Some(65)
        );
        assert_eq!(
            seconds_between("2024-01-01T00:01:00Z", "2024-01-01T00:00:00Z"),
            Some(0)
        );
        assert_eq!(seconds_between("yesterday", "2024-01-01T00:00:00Z"), None);
    }

    fn waiting(id: &str, message: &str) -> NodeOutcome {
        NodeOutcome {
            id: id.to_owned(),
            state: NodeState::InProgress,
            message: Some(message.to_owned()),
            desired: Vec::new(),
            ready: false,
            waiting_for: Some(message.to_owned()),
            error: None,
        }
    }

    #[test]
    fn a_wait_shared_by_dependents_is_said_once() {
        let source = "waiting for source: external ConfigMap ns/late does not exist";
        let nodes = [
            waiting("source", source),
            waiting("config", source),
            waiting(
                "other",
                "waiting for other: not yet observed in the cluster",
            ),
        ];
        let update = resources_ready(&nodes, None);
        assert_eq!(
            update.message,
            format!(
                "awaiting resource readiness: {source}; waiting for other: not yet observed in the cluster"
            )
        );
    }
}
