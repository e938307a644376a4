//! The decisions of each step: when to read, what to write to the instance, what to apply,
//! whether to prune, what the status and the outcome say.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::Known;
use crate::compare::contains;

use super::{
    ApplyAnswer, ApplyItem, ApplyRequest, InstanceState, MachineError, MachineView, Outcome, Phase,
    Plan, PlanInput, Pruning, Reconcile, Requeue, StatusWrite, Step, WaitingOn, labels_body,
    mark_node_errors, parent_body, plan_with_activation, wave_deletions,
};

/// Whether the driver applied the item's body to the observed object before and the object
/// still holds it.
fn applied_before(known: &dyn super::KnownState, item: &ApplyItem, observed: &Value) -> bool {
    let uid = observed
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    known.applied_before(&item.key, uid, &item.body) && contains(observed, &item.body)
}

/// After a prune left a UID conflict (a recreated object), retry soon.
const PRUNE_CONFLICT_RETRY: Duration = Duration::from_secs(1);

impl Reconcile<'_> {
    /// Plans once; asks for the reads the pass missed, or acts on the settled plan.
    pub(super) fn plan_step(
        &mut self,
        known: &dyn super::KnownState,
    ) -> Result<Step, MachineError> {
        let (planned, activation, reads) = {
            let view = MachineView::new(known, &self.overlay, &self.external_kinds);
            let (planned, activation) = plan_with_activation(&PlanInput {
                graph: self.graph,
                instance: self.instance.object(),
                view: &view,
                now: &self.now,
                kro_version: &self.settings.kro_version,
                rgd: &self.settings.rgd,
                limits: self.settings.limits,
                previous_status: self.instance.status(),
                gating: self.settings.gating,
            });
            let (reads, external_reads) = view.into_reads();
            self.external_reads.extend(external_reads);
            (planned, activation, reads)
        };
        self.plan_passes += 1;
        if !reads.is_empty() {
            self.read_rounds += 1;
            if self.read_rounds > self.settings.max_read_rounds {
                return Err(MachineError::UnsettledReads {
                    rounds: self.settings.max_read_rounds,
                    missing: reads
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            let reads: Vec<_> = reads.into_iter().collect();
            self.phase = Phase::Reading(reads.clone());
            return Ok(Step::Read(reads));
        }
        self.read_rounds = 0;
        self.act_on(planned, activation, known)
    }

    /// One apply round on a settled plan: prepare the instance, apply what changed, or finish.
    fn act_on(
        &mut self,
        plan: Plan,
        activation: kro_cel::Activation,
        known: &dyn super::KnownState,
    ) -> Result<Step, MachineError> {
        let labels = if self.instance_prepared {
            None
        } else {
            self.instance_prepared = true;
            labels_body(self.instance.object(), &plan)
        };
        let changed: Vec<ApplyItem> = plan
            .changed_since(&self.applied)
            .into_iter()
            .cloned()
            .collect();
        self.apply_rounds += 1;
        self.converged = changed.is_empty();
        let done = changed.is_empty()
            || plan.suspended
            || self.apply_rounds > self.settings.max_apply_rounds;
        // Before applying, and on the first round even when nothing is to be applied (an
        // instance that waits still becomes an ApplySet parent, as upstream makes it).
        let first_round = self.apply_rounds == 1 && !plan.suspended;
        let parent = plan
            .parent_metadata
            .as_ref()
            .filter(|_| !done || first_round)
            .and_then(|metadata| parent_body(self.instance.object(), metadata));
        self.last = Some((plan, activation));
        let next = (!done).then(|| self.skip_unchanged(changed, known));
        if labels.is_some() || parent.is_some() {
            self.phase = Phase::Preparing(next);
            return Ok(Step::WriteInstanceMetadata { labels, parent });
        }
        match next {
            // Every change was applied before: the round is over without a request.
            Some(items) if items.is_empty() => self.plan_step(known),
            Some(items) => {
                self.phase = Phase::Applying(items.clone());
                Ok(Step::Apply(items))
            }
            None => Ok(self.finish_step()),
        }
    }

    /// Answers the items the driver applied before whose observed object still holds the body
    /// (a request would change nothing); the requests for the others, forced over objects the
    /// driver knows (kro's own) and unforced over the rest (see `takeover`).
    fn skip_unchanged(
        &mut self,
        items: Vec<ApplyItem>,
        known: &dyn super::KnownState,
    ) -> Vec<ApplyRequest> {
        let mut requests = Vec::new();
        let (mut skipped, mut answers) = (Vec::new(), Vec::new());
        for item in items {
            match self.observed_or_known(&item, known) {
                Some(observed) if applied_before(known, &item, &observed) => {
                    skipped.push(item);
                    answers.push(ApplyAnswer::Applied(observed));
                }
                observed => requests.push(ApplyRequest {
                    item,
                    force: observed.is_some(),
                }),
            }
        }
        self.skipped_applies += skipped.len();
        self.record_applies(skipped, answers);
        requests
    }

    /// The object `item` applies to as this reconcile observed it, else as the driver knows it.
    pub(super) fn observed_or_known(
        &self,
        item: &ApplyItem,
        known: &dyn super::KnownState,
    ) -> Option<Arc<Value>> {
        let target = self.targets.get(&item.node_id)?;
        self.observed(target, &item.key).or_else(|| {
            match known.get(target, item.key.namespace.as_deref(), &item.key.name) {
                Known::Object(object) => Some(object),
                Known::Absent | Known::NoKroObject | Known::Unknown => None,
            }
        })
    }

    /// Lays apply answers into the overlay and the node errors.
    pub(super) fn record_applies(&mut self, items: Vec<ApplyItem>, answers: Vec<ApplyAnswer>) {
        for (item, answer) in items.into_iter().zip(answers) {
            if let Some(object) = self.errors.record(&item.node_id, answer)
                && let Some(target) = self.targets.get(&item.node_id)
            {
                self.overlay.put(target, object);
            }
            self.applied.retain(|previous| previous.key != item.key);
            self.applied.push(item);
        }
    }

    /// After the apply rounds: prune when allowed, else write the status.
    pub(super) fn finish_step(&mut self) -> Step {
        self.errors.add_read_refusals(&self.targets, &self.overlay);
        let prune = self
            .last
            .as_ref()
            .and_then(|(plan, _)| plan.prune.clone())
            .filter(|_| self.errors.messages.is_empty());
        match prune {
            // Pruning runs once: `Finishing` comes back after it without a prune to start.
            Some(prune) if !self.prune_started => {
                self.prune_started = true;
                self.phase = Phase::Listing(prune.clone());
                Step::ListMembers(prune.scope())
            }
            _ => self.status_step(),
        }
    }

    /// The next wave of a prune, or what follows the last one.
    pub(super) fn prune_step(&mut self, pruning: Pruning) -> Step {
        let next_wave = (pruning.wave..pruning.plan.waves.len())
            .find(|&wave| !wave_deletions(&pruning.plan, wave).is_empty());
        if let Some(wave) = next_wave {
            let deletions = wave_deletions(&pruning.plan, wave);
            self.phase = Phase::Deleting(Pruning { wave, ..pruning });
            return Step::Delete(deletions);
        }
        // The inventory shrinks only when every deletion succeeded.
        if !self.prune_conflicts
            && let Some(parent) =
                parent_body(self.instance.object(), &pruning.prune.completed_metadata())
        {
            self.phase = Phase::WritingCompleted;
            return Step::WriteInstanceMetadata {
                labels: None,
                parent: Some(parent),
            };
        }
        self.status_step()
    }

    /// Writes the planned status with failed nodes marked, when it changed.
    fn status_step(&mut self) -> Step {
        let Some((plan, _)) = &self.last else {
            self.phase = Phase::Done;
            return Step::Done(self.outcome());
        };
        let mut status = plan.status.clone();
        mark_node_errors(
            &mut status,
            &self.errors.messages,
            self.errors.reason(),
            &self.now,
        );
        let Some(write) = StatusWrite::first(self.instance.object(), status) else {
            self.phase = Phase::Done;
            return Step::Done(self.outcome());
        };
        self.phase = Phase::WritingStatus(write.clone());
        Step::WriteStatus(write.status)
    }

    /// The plan's state and waits, overridden by apply errors, which also bring the retry
    /// forward.
    pub(super) fn outcome(&self) -> Outcome {
        let Some((plan, _)) = &self.last else {
            return Outcome {
                state: InstanceState::Error,
                requeue_after: Some(self.settings.apply_error_retry),
                waiting_on: Vec::new(),
                external_reads: self.external_reads.clone(),
                converged: false,
            };
        };
        let mut requeue_after = match plan.requeue {
            Requeue::After(delay) => Some(delay),
            Requeue::None | Requeue::AfterChange => None,
        };
        if self.prune_conflicts {
            requeue_after = Some(PRUNE_CONFLICT_RETRY);
        }
        let mut state = plan.instance_state;
        let mut waiting_on: Vec<WaitingOn> = plan
            .nodes
            .iter()
            .filter(|node| !node.ready)
            .map(|node| WaitingOn {
                id: node.id.clone(),
                state: node.state.as_str(),
                reason: node
                    .waiting_for
                    .clone()
                    .or_else(|| node.message.clone())
                    .unwrap_or_default(),
            })
            .collect();
        if !self.errors.messages.is_empty() {
            state = InstanceState::Error;
            let retry = self.settings.apply_error_retry;
            requeue_after = Some(requeue_after.map_or(retry, |delay| delay.min(retry)));
            for waiting in &mut waiting_on {
                if let Some(message) = self.errors.messages.get(&waiting.id) {
                    waiting.state = "ERROR";
                    waiting.reason.clone_from(message);
                }
            }
        }
        Outcome {
            state,
            requeue_after,
            waiting_on,
            external_reads: self.external_reads.clone(),
            converged: self.converged,
        }
    }
}
