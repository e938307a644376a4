//! Instance deletion without the graph: the instance's ApplySet inventory says where members
//! are, their `apply-order` annotations say which wave goes first.

use kro_api::ErrorChain;
use kro_applyset::labels::FINALIZER;
use kro_applyset::{
    ChildMeta, Deletion, DeletionPlan, DeletionWave, ParentRef, PruneScope, deletion_scope,
};
use serde_json::Value;

use crate::core::conditions::{
    ConditionStatus, ConditionUpdate, REASON_UNDER_DELETION, RESOURCES_READY, condition_set_with,
};
use crate::core::error::InstanceError;
use crate::core::plan::InstanceState;
use crate::core::status::{CONDITIONS_FIELD, STATE_FIELD, previous_conditions};
use crate::core::view::{object_annotations, object_labels};

/// What to do next for a deleting instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeletionOutcome {
    /// The inventory does not validate: delete nothing, keep the finalizer.
    Blocked {
        /// Why, naming the offending label or annotation.
        reason: String,
    },
    /// Delete the wave's non-terminating members (UID preconditions), then requeue until the
    /// wave is gone.
    Delete(DeletionWave),
    /// No member is left: remove the finalizer.
    Complete,
}

/// One deletion step and the status to write meanwhile.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletionStep {
    /// What to do.
    pub outcome: DeletionOutcome,
    /// The instance status: state DELETING, ResourcesReady Unknown `UnderDeletion`.
    pub status: Value,
    /// Members that could not be read (missing name or uid), reported, not deleted.
    pub unreadable_members: Vec<String>,
}

/// The ApplySet parent of an instance object (`apiVersion`, `kind`, `metadata.name`,
/// `metadata.namespace`).
///
/// # Errors
/// A missing `apiVersion`, `kind` or `metadata.name`.
pub fn instance_parent(instance: &Value) -> Result<ParentRef, InstanceError> {
    let text = |pointer: &str, field: &'static str| {
        instance
            .pointer(pointer)
            .and_then(Value::as_str)
            .filter(|value| !value.is_empty())
            .ok_or(InstanceError::MissingField { field })
    };
    let api_version = text("/apiVersion", "apiVersion")?;
    let kind = text("/kind", "kind")?;
    let name = text("/metadata/name", "metadata.name")?;
    let namespace = instance
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|ns| !ns.is_empty())
        .map(str::to_owned);
    let (group, _) = kro_applyset::object::split_api_version(api_version);
    Ok(ParentRef {
        group: group.to_owned(),
        kind: kind.to_owned(),
        namespace,
        name: name.to_owned(),
    })
}

/// Where the members of a deleting instance may be (validated inventory), for the executor to
/// list before calling [`plan_deletion`].
///
/// # Errors
/// The instance lacks its identity, or its inventory does not validate (the message says why).
pub fn instance_deletion_scope(instance: &Value) -> Result<PruneScope, String> {
    let parent = instance_parent(instance).map_err(|error| ErrorChain::new(&error).to_string())?;
    deletion_scope(
        &parent,
        &object_labels(instance),
        &object_annotations(instance),
    )
    .map_err(|error| error.to_string())
}

/// Plans one deletion step from the instance and its listed members; never evaluates the
/// graph. `now` stamps condition transitions.
pub fn plan_deletion(
    instance: &Value,
    members: &[Value],
    previous_status: Option<&Value>,
    now: &str,
) -> DeletionStep {
    let status_for = |outcome: &DeletionOutcome| {
        let message = match outcome {
            DeletionOutcome::Blocked { reason } => format!("deletion blocked: {reason}"),
            _ => DELETING_MESSAGE.to_owned(),
        };
        deletion_status_saying(instance, previous_status, now, &message)
    };
    let parent = match instance_parent(instance) {
        Ok(parent) => parent,
        Err(error) => {
            let outcome = DeletionOutcome::Blocked {
                reason: ErrorChain::new(&error).to_string(),
            };
            return DeletionStep {
                status: status_for(&outcome),
                outcome,
                unreadable_members: Vec::new(),
            };
        }
    };
    let mut unreadable_members = Vec::new();
    let children: Vec<ChildMeta> = members
        .iter()
        .filter_map(|member| match ChildMeta::from_object(member) {
            Ok(child) => Some(child),
            Err(error) => {
                unreadable_members.push(error.to_string());
                None
            }
        })
        .collect();
    let outcome = match kro_applyset::plan_deletion(
        &parent,
        &object_labels(instance),
        &object_annotations(instance),
        &children,
    ) {
        Err(blocked) => DeletionOutcome::Blocked {
            reason: blocked.to_string(),
        },
        Ok(plan) => match plan.next_wave() {
            Some(wave) => DeletionOutcome::Delete(wave.clone()),
            None => DeletionOutcome::Complete,
        },
    };
    DeletionStep {
        status: status_for(&outcome),
        outcome,
        unreadable_members,
    }
}

/// Whether the instance carries kro's finalizer.
pub fn carries_finalizer(instance: &Value) -> bool {
    instance
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|finalizers| finalizers.iter().any(|f| f.as_str() == Some(FINALIZER)))
}

/// Whether a deleted instance's last state shows that it vanished without kro's deletion:
/// kro's finalizer is on and no `deletionTimestamp` was ever set. An object with a finalizer is
/// first marked and goes only once its finalizers are removed, and the deletion event of an
/// instance kro finalized shows the mark (the finalizer's removal is never stored as a state of
/// its own), so only the API server's race with the finalizer's addition (kubernetes issue
/// 77988) leaves this state behind.
pub fn vanished_unfinalized(last_state: &Value) -> bool {
    carries_finalizer(last_state)
        && matches!(
            last_state.pointer("/metadata/deletionTimestamp"),
            None | Some(Value::Null)
        )
}

/// Every member of a vanished instance's ApplySet, in deletion order (highest apply order
/// first), already terminating ones left out.
///
/// An instance can disappear while it still carries kro's finalizer: the API server may let a
/// delete that read the object before the finalizer was added remove it anyway (kubernetes
/// issue 77988). Its children would then outlive it with nobody to delete them. There is no
/// parent left to keep waiting on, so every wave is returned at once.
///
/// # Errors
/// The last known state lacks its identity, or its inventory does not validate.
pub fn vanished_instance_deletions(
    last_state: &Value,
    members: &[Value],
) -> Result<Vec<Deletion>, String> {
    let parent =
        instance_parent(last_state).map_err(|error| ErrorChain::new(&error).to_string())?;
    let plan = kro_applyset::plan_deletion(
        &parent,
        &object_labels(last_state),
        &object_annotations(last_state),
        &members
            .iter()
            .filter_map(|member| ChildMeta::from_object(member).ok())
            .collect::<Vec<_>>(),
    )
    .map_err(|blocked| blocked.to_string())?;
    Ok(deletions_in_order(plan))
}

fn deletions_in_order(plan: DeletionPlan) -> Vec<Deletion> {
    plan.waves
        .into_iter()
        .flat_map(|wave| wave.members)
        .filter(|deletion| !deletion.terminating)
        .collect()
}

/// The status of a deleting instance: previous fields kept, state DELETING, ResourcesReady
/// Unknown `UnderDeletion`.
pub fn deletion_status(instance: &Value, previous_status: Option<&Value>, now: &str) -> Value {
    deletion_status_saying(instance, previous_status, now, DELETING_MESSAGE)
}

/// What `ResourcesReady` says while deletion proceeds (upstream kro's text).
const DELETING_MESSAGE: &str = "deleting resources";

/// [`deletion_status`] with `ResourcesReady` saying `message`; the other conditions keep their
/// value, as upstream kro leaves them during deletion.
fn deletion_status_saying(
    instance: &Value,
    previous_status: Option<&Value>,
    now: &str,
    message: &str,
) -> Value {
    let generation = instance
        .pointer("/metadata/generation")
        .and_then(Value::as_i64);
    let previous = previous_conditions(previous_status);
    let conditions = condition_set_with(
        &[ConditionUpdate::new(
            RESOURCES_READY,
            ConditionStatus::Unknown,
            REASON_UNDER_DELETION,
            message,
        )],
        &previous,
        generation,
        now,
        true,
    );
    let mut status = previous_status
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    status.insert(
        STATE_FIELD.into(),
        Value::String(InstanceState::Deleting.as_str().to_owned()),
    );
    status.insert(CONDITIONS_FIELD.into(), Value::Array(conditions));
    Value::Object(status)
}
