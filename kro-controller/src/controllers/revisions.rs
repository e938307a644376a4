//! GraphRevisions (`internal.kro.run/v1alpha1`): immutable, numbered snapshots of an RGD's spec,
//! issued when the normalized spec hash differs from the newest revision's, and garbage collected
//! beyond `--rgd-max-graph-revisions`.
//!
//! The operator compiles the RGD itself before issuing, so a revision is created already verified:
//! its status says `GraphVerified`/`Ready` True, and the RGD's `GraphRevisionsResolved` follows.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kro_api::labels::{GRAPH_REVISION_HASH_LABEL, OWNED_LABEL, RGD_NAME_LABEL};
use kro_api::{
    Condition, GraphRevision, GraphRevisionSnapshot, GraphRevisionSpec, GraphRevisionStatus,
    ResourceGraphDefinition,
};
use kro_graph::Graph;
use kro_graph::hash::fnv64a;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt as _};

use super::error::ControllerError;
use super::metrics::{ControllerMetrics, RevisionIssue, RevisionResolution};
use super::status::resources_info;

/// Longest object name the API server accepts.
const MAX_NAME_LENGTH: usize = 253;

/// `<rgd>-r<NNNNN>`; a name too long is truncated and made unique again with the FNV-32a hash of
/// the full RGD name.
#[must_use]
pub fn revision_name(rgd_name: &str, revision: i64) -> String {
    let suffix = format!("-r{revision:05}");
    let plain = format!("{rgd_name}{suffix}");
    if plain.len() <= MAX_NAME_LENGTH {
        return plain;
    }
    let hash = format!("{:08x}", fnv32a(rgd_name.as_bytes()));
    let keep = MAX_NAME_LENGTH - suffix.len() - 1 - hash.len();
    let mut prefix: String = rgd_name.chars().take(keep).collect();
    while prefix.ends_with(['-', '.']) {
        prefix.pop();
    }
    if prefix.is_empty() {
        prefix = "gr".to_owned();
    }
    format!("{prefix}{suffix}-{hash}")
}

fn fnv32a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |hash, &byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

/// What [`ensure_revision`] found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionOutcome {
    /// The newest revision number, serving now.
    pub revision: i64,
    /// Whether this reconcile created it.
    pub issued: bool,
    /// The new high-water mark for `status.lastIssuedRevision`.
    pub last_issued: i64,
}

/// The revisions of `rgd_name`, oldest first.
async fn list_revisions(
    api: &Api<GraphRevision>,
    rgd_name: &str,
) -> Result<Vec<GraphRevision>, ControllerError> {
    let selector = format!("{}={}", RGD_NAME_LABEL, label_value(rgd_name));
    let mut revisions: Vec<GraphRevision> = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|source| ControllerError::kube("listing GraphRevisions", source))?
        .items
        .into_iter()
        .filter(|revision| revision.spec.snapshot.name == rgd_name)
        .collect();
    revisions.sort_by_key(|revision| revision.spec.revision);
    Ok(revisions)
}

/// A label value for a name: names longer than a label value allows are hashed.
fn label_value(name: &str) -> String {
    if name.len() <= 63 {
        name.to_owned()
    } else {
        format!("h-{:016x}", fnv64a(name.as_bytes()))
    }
}

/// Issues a revision when the newest one's hash differs from `graph`'s, then deletes revisions
/// beyond `max_revisions` (oldest first).
///
/// # Errors
/// A request failed.
pub async fn ensure_revision(
    client: &Client,
    rgd: &ResourceGraphDefinition,
    graph: &Graph,
    max_revisions: usize,
    now: &str,
    metrics: &dyn ControllerMetrics,
) -> Result<RevisionOutcome, ControllerError> {
    let result = issue_and_collect(client, rgd, graph, max_revisions, now, metrics).await;
    let resolution = match &result {
        Ok(outcome) if outcome.issued => RevisionResolution::Issue,
        Ok(_) => RevisionResolution::Serve,
        Err(_) => RevisionResolution::Failed,
    };
    metrics.graph_revision_resolved(resolution);
    result
}

async fn issue_and_collect(
    client: &Client,
    rgd: &ResourceGraphDefinition,
    graph: &Graph,
    max_revisions: usize,
    now: &str,
    metrics: &dyn ControllerMetrics,
) -> Result<RevisionOutcome, ControllerError> {
    let api: Api<GraphRevision> = Api::all(client.clone());
    let rgd_name = rgd.name_any();
    let revisions = list_revisions(&api, &rgd_name).await?;
    let last_issued = rgd
        .status
        .as_ref()
        .and_then(|status| status.last_issued_revision)
        .unwrap_or(0);
    let newest = revisions.last();
    let newest_hash = newest.and_then(|revision| revision.labels().get(GRAPH_REVISION_HASH_LABEL));
    let mut outcome = match newest {
        Some(revision) if newest_hash.map(String::as_str) == Some(graph.spec_hash()) => {
            RevisionOutcome {
                revision: revision.spec.revision,
                issued: false,
                last_issued: last_issued.max(revision.spec.revision),
            }
        }
        _ => {
            let number = last_issued.max(newest.map_or(0, |r| r.spec.revision)) + 1;
            create_revision(&api, rgd, graph, number, now).await?;
            metrics.graph_revision_issued(if newest.is_some() {
                RevisionIssue::SpecChanged
            } else {
                RevisionIssue::NoRevision
            });
            RevisionOutcome {
                revision: number,
                issued: true,
                last_issued: number,
            }
        }
    };
    let mut all: Vec<(i64, String)> = revisions
        .iter()
        .map(|revision| (revision.spec.revision, revision.name_any()))
        .collect();
    if outcome.issued {
        all.push((outcome.revision, revision_name(&rgd_name, outcome.revision)));
    }
    let excess = all.len().saturating_sub(max_revisions.max(1));
    for (_, name) in all.iter().take(excess) {
        match api.delete(name, &DeleteParams::background()).await {
            Ok(_) => metrics.graph_revision_collected(true),
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(source) => {
                metrics.graph_revision_collected(false);
                return Err(ControllerError::kube(
                    format!("deleting GraphRevision {name}"),
                    source,
                ));
            }
        }
    }
    outcome.last_issued = outcome.last_issued.max(outcome.revision);
    Ok(outcome)
}

async fn create_revision(
    api: &Api<GraphRevision>,
    rgd: &ResourceGraphDefinition,
    graph: &Graph,
    number: i64,
    now: &str,
) -> Result<(), ControllerError> {
    let rgd_name = rgd.name_any();
    let name = revision_name(&rgd_name, number);
    let mut revision = GraphRevision::new(
        &name,
        GraphRevisionSpec {
            revision: number,
            snapshot: GraphRevisionSnapshot {
                name: rgd_name.clone(),
                generation: rgd.metadata.generation.unwrap_or_default(),
                spec: rgd.spec.clone(),
            },
        },
    );
    revision.metadata.labels = Some(BTreeMap::from([
        (
            GRAPH_REVISION_HASH_LABEL.to_owned(),
            graph.spec_hash().to_owned(),
        ),
        (RGD_NAME_LABEL.to_owned(), label_value(&rgd_name)),
        (OWNED_LABEL.to_owned(), "true".to_owned()),
        // Upstream labels its revisions with the issuing kro's version too.
        (
            kro_applyset::labels::KRO_VERSION_LABEL.to_owned(),
            super::rgd::KRO_VERSION.to_owned(),
        ),
    ]));
    if let Some(uid) = rgd.metadata.uid.clone() {
        revision.metadata.owner_references = Some(vec![OwnerReference {
            api_version: rgd.api_version.clone(),
            kind: rgd.kind.clone(),
            name: rgd_name.clone(),
            uid,
            controller: Some(true),
            block_owner_deletion: Some(false),
        }]);
    }
    let created = match api.create(&PostParams::default(), &revision).await {
        Ok(created) => created,
        // A revision of that name survives from an earlier RGD of the same name: adopt it.
        Err(kube::Error::Api(status)) if status.code == 409 => {
            api.get(&name).await.map_err(|source| {
                ControllerError::kube(format!("reading GraphRevision {name}"), source)
            })?
        }
        Err(source) => {
            return Err(ControllerError::kube(
                format!("creating GraphRevision {name}"),
                source,
            ));
        }
    };
    let verified = |type_: &str, reason: &str| Condition {
        type_: type_.to_owned(),
        status: "True".to_owned(),
        reason: Some(reason.to_owned()),
        message: None,
        last_transition_time: Some(now.to_owned()),
        observed_generation: created.metadata.generation,
    };
    let status = GraphRevisionStatus {
        topological_order: graph.topological_ids(),
        conditions: vec![
            verified("GraphVerified", "Verified"),
            verified("Ready", "Ready"),
        ],
        resources: resources_info(graph),
    };
    let patch = serde_json::json!({ "status": status });
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|source| {
            ControllerError::kube(format!("writing GraphRevision {name} status"), source)
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_padded_revision_numbers() {
        assert_eq!(revision_name("webapp.kro.run", 1), "webapp.kro.run-r00001");
        assert_eq!(revision_name("a", 123_456), "a-r123456");
    }

    #[test]
    fn long_names_are_truncated_and_hashed() {
        let long = format!("{}-.", "x".repeat(300));
        let name = revision_name(&long, 7);
        assert!(name.len() <= MAX_NAME_LENGTH, "{}", name.len());
        assert!(name.contains("-r00007-"), "{name}");
        let other = revision_name(&format!("{}y", "x".repeat(300)), 7);
        assert_ne!(name, other, "the hash of the full name keeps names apart");
    }

    #[test]
    fn long_rgd_names_make_hashed_label_values() {
        assert_eq!(label_value("webapp"), "webapp");
        let hashed = label_value(&"n".repeat(80));
        assert!(hashed.starts_with("h-") && hashed.len() <= 63, "{hashed}");
    }
}
