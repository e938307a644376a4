//! One reconcile of a live instance: [`kro_runtime::machine::Reconcile`] decides, this module
//! carries each of its steps to the API server and hands the answers back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use kro_api::Instance;
use kro_graph::Graph;
use kro_runtime::core::{Gating, Plan};
use kro_runtime::machine::{
    ApplyAnswer, ApplyRequest, DeleteAnswer, MachineError, Read, ReadAnswer, Reconcile, Response,
    Settings, Step,
};
use kube::api::ListParams;

use super::cache::KindApi as _;
use super::error::status_code;
use super::instance::{StatusWritten, now_rfc3339, observed_json};
use super::members::{DeleteResult, ListFrom, delete_all, list_members};
use super::view::CacheState;
use super::{Error, Executor, ExternalRef, NodeSummary, Outcome, ReconcileStats};

impl Executor {
    pub(super) async fn reconcile_live(
        &self,
        graph: &Graph,
        instance: Instance,
        stats: &mut ReconcileStats,
    ) -> Result<Outcome, Error> {
        let now = now_rfc3339();
        let mut machine = Reconcile::new(graph, instance, &now, self.machine_settings());
        for node in graph.resources() {
            if matches!(node.kind(), kro_graph::NodeKind::Template)
                && let Some(target) = machine.target(node.id())
            {
                self.cache.ensure_watch(target);
            }
        }
        let known = CacheState {
            cache: &self.cache,
            memo: &self.memo,
        };
        let outcome = loop {
            let started = Instant::now();
            let step = machine
                .step(&known)
                .map_err(|error| machine_error(machine.instance(), error))?;
            stats.planning += started.elapsed();
            let response = match step {
                Step::Done(outcome) => break outcome,
                Step::Read(reads) => Response::Read(self.read_all(&reads, stats).await?),
                Step::WriteInstanceMetadata { labels, parent } => Response::InstanceWritten(
                    self.write_instance_metadata(graph, machine.instance(), labels, parent, stats)
                        .await?,
                ),
                Step::Apply(items) => {
                    Response::Applied(self.apply_items(&items, &machine, stats).await?)
                }
                Step::ListMembers(scope) => {
                    let members = list_members(
                        &self.client,
                        &self.cache,
                        &self.mapper,
                        &scope,
                        ListFrom::Cache,
                    )
                    .await?;
                    Response::Members(members.into_iter().map(|member| member.meta).collect())
                }
                Step::Delete(deletions) => {
                    stats.deletes += deletions.len();
                    Response::Deleted(self.delete_wave_answers(&deletions).await?)
                }
                Step::WriteStatus(status) => {
                    match self
                        .write_status(graph, machine.instance(), status, stats)
                        .await?
                    {
                        StatusWritten::Written(instance) => Response::StatusWritten(Some(instance)),
                        StatusWritten::Gone => Response::StatusWritten(None),
                        StatusWritten::Conflict => Response::StatusConflict,
                    }
                }
                Step::ReadInstance => Response::InstanceRead(
                    self.read_instance(graph, machine.instance(), stats).await?,
                ),
            };
            machine
                .respond(response)
                .map_err(|error| machine_error(machine.instance(), error))?;
        };
        stats.plan_passes = machine.plan_passes();
        stats.skipped_applies = machine.skipped_applies();
        if let Some((plan, _)) = machine.last_plan() {
            stats.nodes = node_summaries(plan);
        }
        let refs = outcome
            .external_reads
            .iter()
            .map(|read| ExternalRef {
                kind: read.target.clone(),
                namespace: read.namespace.clone(),
                selection: read.selection.clone(),
            })
            .collect();
        self.cache
            .watch_external_refs(machine.instance().key(), refs);
        Ok(Outcome {
            state: outcome.state,
            requeue_after: outcome.requeue_after,
            waiting_on: outcome.waiting_on,
            finalized: false,
            stats: ReconcileStats::default(),
            elapsed: Duration::ZERO,
        })
    }

    /// Deletes `deletions` (one wave, each with its UID precondition) and forgets what was
    /// applied to them; one answer per deletion, in order. Prune, deletion and the sweeps all
    /// delete through here.
    pub(super) async fn delete_wave_answers(
        &self,
        deletions: &[kro_applyset::Deletion],
    ) -> Result<Vec<DeleteAnswer>, Error> {
        let wave: Vec<_> = deletions.iter().collect();
        let results =
            delete_all(&self.client, &self.mapper, &wave, self.config.concurrency).await?;
        Ok(deletions
            .iter()
            .zip(results)
            .map(|(deletion, result)| {
                self.memo.forget(&deletion.key);
                match result {
                    DeleteResult::UidConflict => DeleteAnswer::UidConflict,
                    DeleteResult::Deleted | DeleteResult::Gone => DeleteAnswer::Deleted,
                }
            })
            .collect())
    }

    fn machine_settings(&self) -> Settings {
        Settings {
            kro_version: self.config.kro_version.clone(),
            rgd: self.rgd.clone(),
            limits: self.config.limits,
            max_read_rounds: self.config.max_read_rounds,
            max_apply_rounds: self.config.max_apply_rounds,
            apply_error_retry: self.config.apply_error_retry,
            gating: Gating::Readiness,
        }
    }

    /// Performs independent reads concurrently; answers in the reads' order.
    async fn read_all(
        &self,
        reads: &[Read],
        stats: &mut ReconcileStats,
    ) -> Result<Vec<ReadAnswer>, Error> {
        stats.live_reads += reads.len();
        let pending: Vec<_> = reads.iter().map(|read| self.read_one(read)).collect();
        let answers: Vec<Result<ReadAnswer, Error>> = futures::stream::iter(pending)
            .buffered(self.config.concurrency.max(1))
            .collect()
            .await;
        answers.into_iter().collect()
    }

    async fn read_one(&self, read: &Read) -> Result<ReadAnswer, Error> {
        let kind = read.target();
        let refused = |error: &kube::Error| match error {
            // A missing permission belongs on the instance, not only in the log.
            kube::Error::Api(status) if status.code == 403 => Some(status.message.clone()),
            _ => None,
        };
        match read {
            Read::Get {
                target,
                namespace,
                name,
            } => match kind
                .api(self.client.clone(), namespace.as_deref())
                .get_opt(name)
                .await
            {
                Ok(Some(object)) => {
                    let object = Arc::new(observed_json(&object, target));
                    self.cache.remember(kind, &object);
                    Ok(ReadAnswer::Object(object))
                }
                Ok(None) => Ok(ReadAnswer::Absent),
                // A kind the server does not serve has no objects.
                Err(error) if status_code(&error) == Some(404) => Ok(ReadAnswer::Absent),
                Err(error) => match refused(&error) {
                    Some(message) => Ok(ReadAnswer::Refused(message)),
                    None => Err(Error::kube(format!("reading {read}"), error)),
                },
            },
            Read::List {
                target,
                namespace,
                selector,
            } => {
                let params = ListParams::default().labels(&selector.to_string());
                let api = kind.api(self.client.clone(), namespace.as_deref());
                match api.list(&params).await {
                    Ok(list) => {
                        let objects: Vec<_> = list
                            .items
                            .iter()
                            .map(|object| Arc::new(observed_json(object, target)))
                            .collect();
                        for object in &objects {
                            self.cache.remember(kind, object);
                        }
                        Ok(ReadAnswer::Objects(objects))
                    }
                    Err(error) if status_code(&error) == Some(404) => {
                        Ok(ReadAnswer::Objects(Vec::new()))
                    }
                    Err(error) => match refused(&error) {
                        Some(message) => Ok(ReadAnswer::Refused(message)),
                        None => Err(Error::kube(format!("reading {read}"), error)),
                    },
                }
            }
        }
    }

    /// Applies `requests`; each answer in order.
    async fn apply_items(
        &self,
        requests: &[ApplyRequest],
        machine: &Reconcile<'_>,
        stats: &mut ReconcileStats,
    ) -> Result<Vec<ApplyAnswer>, Error> {
        let mut targeted = Vec::with_capacity(requests.len());
        for request in requests {
            let target = machine
                .target(&request.item.node_id)
                .ok_or_else(|| Error::UnknownKind {
                    key: request.item.key.clone(),
                })?
                .clone();
            targeted.push((request, target));
        }
        self.apply_targeted(targeted, stats).await
    }
}

/// The machine's protocol errors are the driver's bugs; unsettled reads and a status write
/// that kept conflicting keep their own errors.
pub(super) fn machine_error(instance: &Instance, error: MachineError) -> Error {
    match error {
        MachineError::UnsettledReads { rounds, missing } => {
            Error::UnsettledReads { rounds, missing }
        }
        MachineError::StatusConflicts { attempts } => Error::StatusConflicts {
            instance: format!(
                "{}/{}",
                instance.namespace().unwrap_or_default(),
                instance.name()
            ),
            attempts,
        },
        other => Error::Machine { source: other },
    }
}

fn node_summaries(plan: &Plan) -> Vec<NodeSummary> {
    plan.nodes
        .iter()
        .map(|node| NodeSummary {
            id: node.id.clone(),
            state: node.state,
            rendered: node.desired.len(),
        })
        .collect()
}
