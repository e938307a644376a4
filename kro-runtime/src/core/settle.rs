//! Planning to a fixed point without a cluster: the reconcile machine
//! ([`crate::machine::Reconcile`]) driven offline, with the API server replaced by a merge of
//! each apply body over the observed object, so offline tools (`kro render`) show what the
//! operator applies. It is the same machine the operator drives; only the answers differ.

use std::sync::Arc;

use kro_api::Instance;
use kro_cel::Activation;
use serde_json::Value;

use crate::core::plan::Plan;
use crate::core::view::InMemoryView;
use crate::core::{PlanInput, plan_with_activation};
use crate::machine::{
    ApplyAnswer, ApplyRequest, Complete, DeleteAnswer, ReadAnswer, Reconcile, Response, Settings,
    Step,
};

/// The result of [`settle`].
#[derive(Debug)]
pub struct Settled {
    /// The last pass: its apply items are the objects the operator applies, in topological
    /// order; its nodes say what each resource still waits for.
    pub plan: Plan,
    /// How many passes ran.
    pub passes: usize,
    /// Whether the apply set stopped changing within the pass bound.
    pub converged: bool,
    /// The simulated objects: every applied body merged over its observed object.
    pub applied: InMemoryView,
    /// The CEL variables of the last pass (see [`crate::core::plan_with_activation`]).
    pub activation: Activation,
}

/// Runs the reconcile machine on `input` offline, at most `max_passes` apply rounds: each
/// apply is answered with its body merged into any observed object with the same identity
/// (whose `status` is kept), writes to the instance are merged into it, reads find nothing
/// beyond `input.view`, and no member is pruned.
pub fn settle(input: &PlanInput<'_>, max_passes: usize) -> Settled {
    let settings = Settings {
        kro_version: input.kro_version.to_owned(),
        rgd: input.rgd.clone(),
        limits: input.limits,
        max_apply_rounds: max_passes.max(1) - 1,
        ..Settings::default()
    };
    // An object without its identity cannot be reconciled; the planner explains why in the
    // plan's instance error.
    let Ok(instance) = Instance::from_object(input.instance.clone()) else {
        let (plan, activation) = plan_with_activation(input);
        return Settled {
            plan,
            passes: 1,
            converged: true,
            applied: InMemoryView::new(),
            activation,
        };
    };
    let mut machine = Reconcile::new(input.graph, instance, input.now, settings);
    let known = Complete(input.view);
    let mut applied = InMemoryView::new();
    let mut converged = false;
    while let Ok(step) = machine.step(&known) {
        let response = match step {
            Step::Done(outcome) => {
                converged = outcome.converged;
                break;
            }
            Step::Read(reads) => Response::Read(vec![ReadAnswer::Absent; reads.len()]),
            Step::WriteInstanceMetadata { labels, parent } => {
                let mut instance = machine.instance().object().clone();
                for body in labels.iter().chain(parent.iter()) {
                    merge_object(&mut instance, body);
                }
                Response::InstanceWritten(instance)
            }
            Step::Apply(items) => Response::Applied(
                items
                    .iter()
                    .map(|ApplyRequest { item, .. }| {
                        let observed = machine.target(&item.node_id).and_then(|target| {
                            machine.observed(target, &item.key).or_else(|| {
                                input.view.get(
                                    target,
                                    item.key.namespace.as_deref(),
                                    &item.key.name,
                                )
                            })
                        });
                        let merged = merge_applied(observed.as_deref(), &item.body);
                        // An apply body always has apiVersion, kind and metadata.name.
                        let _ = applied.insert(merged.clone());
                        ApplyAnswer::Applied(Arc::new(merged))
                    })
                    .collect(),
            ),
            Step::ListMembers(_) => Response::Members(Vec::new()),
            Step::Delete(deletions) => {
                Response::Deleted(vec![DeleteAnswer::Deleted; deletions.len()])
            }
            Step::WriteStatus(status) => {
                let mut instance = machine.instance().clone();
                instance.set_status(status);
                Response::StatusWritten(Some(instance.into_object()))
            }
            // Offline writes never conflict, so this is never asked; the instance is at hand.
            Step::ReadInstance => Response::InstanceRead(Some(machine.instance().object().clone())),
        };
        if machine.respond(response).is_err() {
            break;
        }
    }
    let passes = machine.plan_passes();
    let (plan, activation) = machine
        .into_last_plan()
        .unwrap_or_else(|| plan_with_activation(input));
    Settled {
        plan,
        passes,
        converged,
        applied,
        activation,
    }
}

/// What the API server stores after a server-side apply of `desired` over `observed`, as far
/// as planning can tell: maps merge recursively, other values (lists included) are replaced,
/// and the observed `status` is kept (the main resource endpoint ignores `status`).
pub fn merge_applied(observed: Option<&Value>, desired: &Value) -> Value {
    let mut merged = match observed {
        Some(observed) => {
            let mut merged = observed.clone();
            merge_object(&mut merged, desired);
            merged
        }
        None => desired.clone(),
    };
    if let Value::Object(map) = &mut merged {
        match observed.and_then(|observed| observed.get("status")) {
            Some(status) => {
                map.insert("status".to_owned(), status.clone());
            }
            None => {
                map.remove("status");
            }
        }
    }
    merged
}

/// Merges `patch` into `target` the way a server-side apply changes the fields it sets: maps
/// merge recursively, every other value (lists included) is replaced. What a driver without a
/// server answers a write with.
pub fn merge_object(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                match target.get_mut(key) {
                    Some(existing) => merge_object(existing, value),
                    None => {
                        target.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_keeps_observed_status_and_unrelated_fields() {
        let observed = json!({
            "metadata": {"name": "a", "uid": "u-1", "labels": {"x": "1"}},
            "spec": {"replicas": 1, "ports": [1, 2]},
            "status": {"ready": true}
        });
        let desired = json!({
            "metadata": {"name": "a", "labels": {"y": "2"}},
            "spec": {"replicas": 3, "ports": [3]},
            "status": {"ready": false}
        });
        assert_eq!(
            merge_applied(Some(&observed), &desired),
            json!({
                "metadata": {"name": "a", "uid": "u-1", "labels": {"x": "1", "y": "2"}},
                "spec": {"replicas": 3, "ports": [3]},
                "status": {"ready": true}
            })
        );
        assert_eq!(
            merge_applied(None, &desired),
            json!({"metadata": {"name": "a", "labels": {"y": "2"}}, "spec": {"replicas": 3, "ports": [3]}})
        );
    }
}
