//! Apply failures and refused reads folded into the planned status.
//!
//! The planner does not see the apply responses' errors (it plans before applying), nor which of
//! its reads the server refused (they reach it as absent objects), so the machine marks the
//! failed nodes in the status it writes: the node's explanation entry, the instance state, and
//! `ResourcesReady`/`Ready` with the server's message.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{Value, json};

use super::ApplyAnswer;
use super::overlay::Overlay;
use crate::core::KindMapping;

/// The nodes whose apply (or read) failed in this reconcile, with the server's message.
#[derive(Debug, Default)]
pub(crate) struct NodeErrors {
    pub(crate) messages: BTreeMap<String, String>,
    /// The nodes of `messages` that failed for a missing permission.
    forbidden: BTreeSet<String>,
}

impl NodeErrors {
    /// Records one apply's answer; the observed object when it was accepted.
    pub(crate) fn record(&mut self, node_id: &str, answer: ApplyAnswer) -> Option<Arc<Value>> {
        match answer {
            ApplyAnswer::Applied(object) => {
                self.messages.remove(node_id);
                self.forbidden.remove(node_id);
                Some(object)
            }
            // A conflict reaches the errors only as a rejection (see `takeover`).
            ApplyAnswer::Rejected(message) | ApplyAnswer::Conflict(message) => {
                self.forbidden.remove(node_id);
                self.messages.insert(node_id.to_owned(), message);
                None
            }
            ApplyAnswer::Forbidden(message) => {
                self.forbidden.insert(node_id.to_owned());
                self.messages.insert(node_id.to_owned(), message);
                None
            }
        }
    }

    /// A kind the operator may not read fails its nodes with the server's refusal, unless an
    /// apply of the node failed with its own message.
    pub(crate) fn add_read_refusals(
        &mut self,
        targets: &BTreeMap<String, KindMapping>,
        overlay: &Overlay,
    ) {
        for (id, target) in targets {
            if let Some(message) = overlay.refusal(target)
                && !self.messages.contains_key(id)
            {
                self.messages.insert(id.clone(), message.to_owned());
                self.forbidden.insert(id.clone());
            }
        }
    }

    /// Missing permissions get a reason of their own: an admin fixes them, not the RGD author.
    pub(crate) fn reason(&self) -> &'static str {
        if self.messages.keys().all(|id| self.forbidden.contains(id)) {
            REASON_FORBIDDEN
        } else {
            REASON_APPLY_FAILED
        }
    }
}

/// `ResourcesReady` False reason when an apply failed.
pub const REASON_APPLY_FAILED: &str = "ResourceApplyFailed";

/// `ResourcesReady` False reason when every failure is a request the server refused with 403
/// Forbidden (a read or an apply): the operator lacks a permission, which the message names.
pub const REASON_FORBIDDEN: &str = "ResourceAccessForbidden";

/// Marks every node of `errors` (node id → the server's message) as ERROR in `status`.
pub fn mark_apply_errors(status: &mut Value, errors: &BTreeMap<String, String>, now: &str) {
    mark_node_errors(status, errors, REASON_APPLY_FAILED, now);
}

/// [`mark_apply_errors`] with the conditions' `reason`.
pub fn mark_node_errors(
    status: &mut Value,
    errors: &BTreeMap<String, String>,
    reason: &str,
    now: &str,
) {
    if errors.is_empty() {
        return;
    }
    let Some(status) = status.as_object_mut() else {
        return;
    };
    status.insert("state".into(), json!("ERROR"));
    if let Some(Value::Array(resources)) = status.get_mut(kro_schema::RESOURCES_STATUS_FIELD) {
        for entry in resources.iter_mut() {
            let Some(id) = entry.get("id").and_then(Value::as_str) else {
                continue;
            };
            if let Some(message) = errors.get(id)
                && let Some(entry) = entry.as_object_mut()
            {
                entry.insert("state".into(), json!("ERROR"));
                entry.insert("message".into(), json!(message));
                entry.remove("waitingFor");
            }
        }
    }
    let summary = errors
        .iter()
        .map(|(id, message)| format!("resource \"{id}\": {message}"))
        .collect::<Vec<_>>()
        .join("; ");
    if let Some(Value::Array(conditions)) = status.get_mut("conditions") {
        for condition in conditions.iter_mut() {
            let type_ = condition.get("type").and_then(Value::as_str);
            if !matches!(type_, Some("ResourcesReady" | "Ready")) {
                continue;
            }
            let Some(condition) = condition.as_object_mut() else {
                continue;
            };
            if condition.get("status").and_then(Value::as_str) != Some("False") {
                condition.insert("lastTransitionTime".into(), json!(now));
            }
            condition.insert("status".into(), json!("False"));
            condition.insert("reason".into(), json!(reason));
            condition.insert("message".into(), json!(summary));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_nodes_turn_the_instance_to_error_with_the_server_message() {
        let mut status = json!({
            "state": "IN_PROGRESS",
            "resources": [
                {"id": "config", "state": "SYNCED"},
                {"id": "deployment", "state": "WAITING_FOR_READINESS", "waitingFor": "x"}
            ],
            "conditions": [
                {"type": "ResourcesReady", "status": "False", "reason": "NotReady", "lastTransitionTime": "t0"},
                {"type": "Ready", "status": "Unknown", "reason": "NotReady", "lastTransitionTime": "t0"},
                {"type": "GraphResolved", "status": "True", "reason": "Resolved", "lastTransitionTime": "t0"}
            ]
        });
        let errors = BTreeMap::from([(
            "deployment".to_owned(),
            "admission webhook denied the request: no".to_owned(),
        )]);
        mark_apply_errors(&mut status, &errors, "t1");
        assert_eq!(status["state"], "ERROR");
        assert_eq!(status["resources"][0]["state"], "SYNCED");
        assert_eq!(status["resources"][1]["state"], "ERROR");
        assert_eq!(
            status["resources"][1]["message"],
            "admission webhook denied the request: no"
        );
        assert!(status["resources"][1].get("waitingFor").is_none());
        let resources_ready = &status["conditions"][0];
        assert_eq!(resources_ready["reason"], REASON_APPLY_FAILED);
        assert_eq!(resources_ready["lastTransitionTime"], "t0");
        assert!(
            resources_ready["message"]
                .as_str()
                .is_some_and(|m| m.contains("resource \"deployment\": admission webhook denied"))
        );
        assert_eq!(status["conditions"][1]["status"], "False");
        assert_eq!(status["conditions"][1]["lastTransitionTime"], "t1");
        assert_eq!(status["conditions"][2]["status"], "True");
    }

    #[test]
    fn missing_permissions_carry_their_own_reason() {
        let mut status = json!({
            "resources": [{"id": "source", "state": "IN_PROGRESS"}],
            "conditions": [{"type": "Ready", "status": "False", "reason": "NotReady"}]
        });
        let message = "secrets \"s\" is forbidden: User \"u\" cannot get resource \"secrets\"";
        let errors = BTreeMap::from([("source".to_owned(), message.to_owned())]);
        mark_node_errors(&mut status, &errors, REASON_FORBIDDEN, "t1");
        assert_eq!(status["state"], "ERROR");
        assert_eq!(status["resources"][0]["state"], "ERROR");
        assert_eq!(status["conditions"][0]["reason"], REASON_FORBIDDEN);
        assert_eq!(
            status["conditions"][0]["message"],
            format!("resource \"source\": {message}")
        );
    }

    #[test]
    fn no_errors_leaves_the_status_alone() {
        let mut status = json!({"state": "ACTIVE"});
        mark_apply_errors(&mut status, &BTreeMap::new(), "t1");
        assert_eq!(status, json!({"state": "ACTIVE"}));
    }
}
