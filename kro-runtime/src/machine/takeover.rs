//! Whether kro may take over an object it did not know of.
//!
//! The driver's knowledge holds kro's own children only (objects without kro's label, such as
//! another tool's ApplySet or an object made by hand, are not seen), and a forced apply would
//! take such an object over. So an object the driver does not know is first applied without
//! force: a new object then costs one request, and the server refuses the apply with a
//! conflict when another manager owns a field kro sets to another value (such as the ApplySet
//! label). Only then is the live object read, and `kro_applyset::check_membership` decides:
//! an object of another ApplySet is that node's error, anything else is applied again with
//! force.

use std::sync::Arc;

use kro_api::labels::PART_OF_LABEL;
use kro_applyset::{ChildMeta, check_membership};
use serde_json::Value;

use super::{
    ApplyAnswer, ApplyItem, ApplyRequest, MachineError, Phase, Read, ReadAnswer, Reconcile, Step,
};
use crate::core::stamp::live_label;

impl Reconcile<'_> {
    /// Lays the answers of an apply step into the overlay and the node errors; objects whose
    /// unforced apply met a conflict wait for the take-over check.
    pub(super) fn answer_applies(
        &mut self,
        requests: Vec<ApplyRequest>,
        answers: Vec<ApplyAnswer>,
    ) {
        let (mut items, mut recorded, mut contested) = (Vec::new(), Vec::new(), Vec::new());
        for (request, answer) in requests.into_iter().zip(answers) {
            match answer {
                ApplyAnswer::Conflict(_)
                    if !request.force && self.targets.contains_key(&request.item.node_id) =>
                {
                    contested.push(request.item);
                }
                // A forced apply takes field ownership: a conflict then is a plain rejection.
                ApplyAnswer::Conflict(message) => {
                    items.push(request.item);
                    recorded.push(ApplyAnswer::Rejected(message));
                }
                answer => {
                    items.push(request.item);
                    recorded.push(answer);
                }
            }
        }
        self.record_applies(items, recorded);
        self.phase = if contested.is_empty() {
            Phase::Plan
        } else {
            Phase::TakeOverNext(contested)
        };
    }

    /// Asks for the live objects of the contested items.
    pub(super) fn take_over_reads(&mut self, contested: Vec<ApplyItem>) -> Step {
        let reads = contested
            .iter()
            .filter_map(|item| {
                let target = self.targets.get(&item.node_id)?;
                Some(Read::Get {
                    target: target.clone(),
                    namespace: item.key.namespace.clone().filter(|_| target.namespaced),
                    name: item.key.name.clone(),
                })
            })
            .collect();
        self.phase = Phase::CheckingTakeOver(contested);
        Step::Read(reads)
    }

    /// Decides each contested item from its live object: a forced apply, or the node's error.
    pub(super) fn check_take_over(
        &mut self,
        contested: Vec<ApplyItem>,
        live: Vec<ReadAnswer>,
    ) -> Result<(), MachineError> {
        let (mut items, mut refused, mut forced) = (Vec::new(), Vec::new(), Vec::new());
        for (item, live) in contested.into_iter().zip(live) {
            match take_over(&item, live)? {
                None => forced.push(ApplyRequest { item, force: true }),
                Some(answer) => {
                    items.push(item);
                    refused.push(answer);
                }
            }
        }
        self.record_applies(items, refused);
        self.phase = if forced.is_empty() {
            Phase::Plan
        } else {
            Phase::ApplyNext(forced)
        };
        Ok(())
    }
}

/// `None` when kro may apply `item` with force over `live`; else the node's answer (another
/// ApplySet's object, or a read the server refused).
fn take_over(item: &ApplyItem, live: ReadAnswer) -> Result<Option<ApplyAnswer>, MachineError> {
    let live: Arc<Value> = match live {
        // Gone since the conflict: the forced apply creates it.
        ReadAnswer::Absent => return Ok(None),
        // Without read access the check cannot be made: nothing is applied.
        ReadAnswer::Refused(message) => return Ok(Some(ApplyAnswer::Forbidden(message))),
        ReadAnswer::Object(live) => live,
        ReadAnswer::Objects(_) => {
            return Err(MachineError::UnexpectedResponse {
                expected: "ReadAnswer::Object, Absent or Refused for a GET",
            });
        }
    };
    let current = match ChildMeta::from_object(&live) {
        Ok(current) => current,
        Err(error) => {
            return Ok(Some(ApplyAnswer::Rejected(format!(
                "the object in the cluster cannot be checked for its ApplySet: {error}"
            ))));
        }
    };
    let applyset_id = live_label(&item.body, PART_OF_LABEL).unwrap_or_default();
    Ok(check_membership(applyset_id, &item.key, Some(&current))
        .err()
        .map(|conflict| ApplyAnswer::Rejected(conflict.to_string())))
}
