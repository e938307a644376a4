//! The ResourceGraphDefinition reconcile: compile, issue a GraphRevision, ensure the generated CRD,
//! (re)start the instance controller, write the status; on deletion, stop the instance controller,
//! optionally delete the CRD and drop the finalizer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::executor::{ClusterResolver, compile_rgd};
use kro_api::labels::{ALLOW_BREAKING_CHANGES_ANNOTATION, FINALIZER};
use kro_api::{Condition, ResourceGraphDefinition, ResourceGraphDefinitionStatus, RgdState};
use kro_graph::{CompileOptions, Graph};
use kro_schema::CrdOptions;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Resource as _, ResourceExt as _};
use serde_json::{Value, json};

use super::Environment;
use super::conditions::{
    CONTROLLER_READY, ConditionSet, GRAPH_ACCEPTED, GRAPH_REVISIONS_RESOLVED, KIND_READY,
    RGD_DEPENDENTS, Status,
};
use super::crd::{CrdDeletion, CrdOutcome, delete_generated_crd, ensure_generated_crd};
use super::error::ControllerError;
use super::instances::InstanceControllers;
use super::revisions::ensure_revision;
use super::status::resources_info;

/// Annotation that lets breaking CRD changes through.
/// Condition type of an RGD served although it passes only upstream kro's schema checks.
pub const SCHEMA_WARNINGS: &str = "SchemaWarnings";
/// The kro version written into CRD labels.
pub const KRO_VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));
/// How long a reconcile waits for a generated CRD to become Established.
const ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(60);

/// What the RGD reconcile needs.
pub struct RgdContext {
    /// Client, settings, metrics.
    pub env: Environment,
    /// Schemas: offline built-ins and the cluster's OpenAPI documents, shared by every RGD.
    pub resolver: ClusterResolver,
    /// The running instance controllers.
    pub instances: Arc<InstanceControllers>,
    /// Publishes RGD events.
    pub recorder: Recorder,
}

impl std::fmt::Debug for RgdContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RgdContext").finish_non_exhaustive()
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn api(ctx: &RgdContext) -> Api<ResourceGraphDefinition> {
    Api::all(ctx.env.client.clone())
}

/// Reconciles one RGD.
///
/// # Errors
/// A request failed; the controller retries with backoff.
pub async fn reconcile_rgd(
    rgd: Arc<ResourceGraphDefinition>,
    ctx: Arc<RgdContext>,
) -> Result<Action, ControllerError> {
    let name = rgd.name_any();
    if rgd.metadata.deletion_timestamp.is_some() {
        let started = Instant::now();
        let action = cleanup(&rgd, &ctx).await?;
        if action == Action::await_change() {
            ctx.env.metrics.rgd_deleted(&name, started.elapsed());
        }
        return Ok(action);
    }
    ensure_finalizer(&rgd, &ctx, &name).await?;

    let previous = rgd.status.clone().unwrap_or_default();
    let generation = rgd.metadata.generation.unwrap_or_default();
    let now = now_rfc3339();
    let mut conditions = ConditionSet::new(&previous.conditions, &RGD_DEPENDENTS, generation, &now);
    let mut status = ResourceGraphDefinitionStatus {
        last_issued_revision: previous.last_issued_revision,
        topological_order: previous.topological_order.clone(),
        resources: previous.resources.clone(),
        ..ResourceGraphDefinitionStatus::default()
    };

    let config = &ctx.env.config;
    let compiled = compile_checked(&ctx, &rgd, &name).await;
    let warnings = match &compiled {
        Ok(graph) => schema_warnings(graph),
        Err(_) => Vec::new(),
    };
    let action = match compiled {
        Err(message) => {
            tracing::info!(rgd = %name, %message, "graph rejected");
            conditions.set(
                GRAPH_ACCEPTED,
                Status::False,
                "InvalidResourceGraph",
                message,
            );
            // A missing kind may be another RGD's CRD that is still on its way: look again soon.
            Action::requeue(
                config
                    .rgd_progress_requeue_delay
                    .max(Duration::from_secs(1))
                    * 2,
            )
        }
        Ok(graph) => {
            // Accepted first, as upstream marks it before its GraphRevision compiles.
            conditions.set(
                GRAPH_ACCEPTED,
                Status::True,
                "Valid",
                "resource graph and schema are valid",
            );
            status.topological_order = graph.topological_ids();
            status.resources = resources_info(&graph);
            serve(&ctx, &rgd, graph, &mut conditions, &mut status, &now).await?;
            Action::await_change()
        }
    };

    status.state = Some(rgd_state(&conditions));
    status.conditions = conditions.finish();
    let warned = warnings_condition(&warnings, &previous.conditions, generation, &now);
    if let Some(condition) = warned {
        if !previous.conditions.contains(&condition) {
            publish_schema_warnings(&ctx, &rgd, &warnings).await;
        }
        status.conditions.push(condition);
    }
    write_status(&ctx, &rgd, &previous, &status).await?;
    Ok(action)
}

/// Adds kro's finalizer unless the RGD has it, so that its deletion waits for the cleanup.
async fn ensure_finalizer(
    rgd: &ResourceGraphDefinition,
    ctx: &RgdContext,
    name: &str,
) -> Result<(), ControllerError> {
    if !rgd
        .finalizers()
        .iter()
        .any(|finalizer| finalizer == FINALIZER)
    {
        let mut finalizers = rgd.finalizers().to_vec();
        finalizers.push(FINALIZER.to_owned());
        let patch = json!({"metadata": {
            "finalizers": finalizers,
            "resourceVersion": rgd.resource_version(),
        }});
        api(ctx)
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|source| {
                ControllerError::kube(format!("adding the finalizer to RGD {name}"), source)
            })?;
    }
    Ok(())
}

/// Compiles the RGD with the controllers' settings, timing the graph build; in strict mode a graph
/// with warnings of checks upstream kro does not make is refused. The error is the condition
/// message.
async fn compile_checked(
    ctx: &RgdContext,
    rgd: &ResourceGraphDefinition,
    name: &str,
) -> Result<Graph, String> {
    let config = &ctx.env.config;
    let options = CompileOptions {
        omit_enabled: config.cel_omit_function,
        max_foreach_dimensions: config.rgd_max_collection_dimension_size as usize,
    };
    let started = Instant::now();
    let compiled = compile_rgd(&ctx.env.client, &ctx.resolver, rgd, &options).await;
    ctx.env
        .metrics
        .graph_built(name, started.elapsed(), compiled.is_err());
    match compiled {
        Ok(graph) if config.strict_schema_checks => match graph.strict_check() {
            Ok(()) => Ok(graph),
            Err(refused) => Err(refused.to_string()),
        },
        Ok(graph) => Ok(graph),
        Err(crate::executor::Error::Compile { source, .. }) => Err(source.to_string()),
        Err(other) => Err(kro_api::ErrorChain::new(&other).to_string()),
    }
}

/// Active once the graph is accepted, its kind is ready and its instance controller runs.
fn rgd_state(conditions: &ConditionSet) -> RgdState {
    if [GRAPH_ACCEPTED, KIND_READY, CONTROLLER_READY]
        .iter()
        .all(|type_| conditions.is_true(type_))
    {
        RgdState::Active
    } else {
        RgdState::Inactive
    }
}

/// The texts of the graph's warnings about checks upstream kro does not make.
fn schema_warnings(graph: &Graph) -> Vec<String> {
    graph
        .warnings()
        .iter()
        .filter(|warning| warning.is_strict_error())
        .map(ToString::to_string)
        .collect()
}

/// `SchemaWarnings` (True, `AcceptedAsUpstream`) while the graph passes only upstream's checks.
/// Not one of `Ready`'s dependents: the RGD is served as upstream serves it. The transition time
/// is kept while the message is unchanged.
fn warnings_condition(
    warnings: &[String],
    previous: &[Condition],
    generation: i64,
    now: &str,
) -> Option<Condition> {
    if warnings.is_empty() {
        return None;
    }
    let message = format!("{} warning(s): {}", warnings.len(), warnings.join("; "));
    let kept = previous
        .iter()
        .find(|condition| condition.type_ == SCHEMA_WARNINGS)
        .filter(|condition| condition.message.as_deref() == Some(message.as_str()))
        .and_then(|condition| condition.last_transition_time.clone());
    Some(Condition {
        type_: SCHEMA_WARNINGS.to_owned(),
        status: "True".to_owned(),
        reason: Some("AcceptedAsUpstream".to_owned()),
        message: Some(message),
        last_transition_time: kept.or_else(|| Some(now.to_owned())),
        observed_generation: Some(generation),
    })
}

/// One Warning event per warning, when they first appear or change.
async fn publish_schema_warnings(
    ctx: &RgdContext,
    rgd: &ResourceGraphDefinition,
    warnings: &[String],
) {
    for warning in warnings {
        let event = Event {
            type_: EventType::Warning,
            reason: "SchemaWarning".to_owned(),
            note: Some(truncate(warning, 1000)),
            action: "Validate".to_owned(),
            secondary: None,
        };
        if let Err(error) = ctx.recorder.publish(&event, &rgd.object_ref(&())).await {
            tracing::debug!(rgd = %rgd.name_any(), %error, "cannot publish event");
        }
    }
}

/// Issues the revision, ensures the CRD and starts or updates the instance controller.
async fn serve(
    ctx: &RgdContext,
    rgd: &ResourceGraphDefinition,
    graph: Graph,
    conditions: &mut ConditionSet,
    status: &mut ResourceGraphDefinitionStatus,
    now: &str,
) -> Result<(), ControllerError> {
    let name = rgd.name_any();
    let config = &ctx.env.config;
    let revision = ensure_revision(
        &ctx.env.client,
        rgd,
        &graph,
        config.rgd_max_graph_revisions as usize,
        now,
        ctx.env.metrics.as_ref(),
    )
    .await?;
    status.last_issued_revision = Some(revision.last_issued);
    conditions.set(
        GRAPH_REVISIONS_RESOLVED,
        Status::True,
        "Resolved",
        format!("revision {} compiled and active", revision.revision),
    );

    let uid = rgd.uid().ok_or_else(|| ControllerError::InvalidObject {
        object: format!("ResourceGraphDefinition {name}"),
        field: "metadata.uid",
        expected: "a UID assigned by the API server",
    })?;
    let crd = graph.crd_with_options(&CrdOptions::kro_owned(&name, &uid, KRO_VERSION));
    let allow_breaking = rgd
        .annotations()
        .get(ALLOW_BREAKING_CHANGES_ANNOTATION)
        .is_some_and(|value| value == "true");
    let kind = graph.instance().gvk().kind.clone();
    match ensure_generated_crd(
        &ctx.env.client,
        &crd,
        &name,
        allow_breaking,
        ESTABLISHED_TIMEOUT,
    )
    .await?
    {
        CrdOutcome::Blocked(message) => {
            tracing::warn!(rgd = %name, %message, "CRD not updated");
            conditions.set(KIND_READY, Status::False, "Failed", message);
            // The previous graph (if any) keeps serving the old CRD.
            return Ok(());
        }
        CrdOutcome::Ready => conditions.set(
            KIND_READY,
            Status::True,
            "Ready",
            format!("kind {kind} has been accepted and ready"),
        ),
    }

    let identity = kro_runtime::core::RgdIdentity {
        name: name.clone(),
        uid: uid.clone(),
    };
    match ctx.instances.ensure(&identity, Arc::new(graph)) {
        Ok(()) => conditions.set(
            CONTROLLER_READY,
            Status::True,
            "Running",
            "controller is running",
        ),
        Err(message) => conditions.set(CONTROLLER_READY, Status::False, "FailedToStart", message),
    }
    Ok(())
}

/// The status as the wire sees it: every field present, `null` when empty, so a merge patch
/// also removes what is gone.
fn status_patch(status: &ResourceGraphDefinitionStatus) -> Value {
    let value = serde_json::to_value(status).unwrap_or(Value::Null);
    let mut patch = serde_json::Map::new();
    for key in [
        "state",
        "topologicalOrder",
        "conditions",
        "resources",
        "lastIssuedRevision",
    ] {
        patch.insert(
            key.to_owned(),
            value.get(key).cloned().unwrap_or(Value::Null),
        );
    }
    Value::Object(patch)
}

async fn write_status(
    ctx: &RgdContext,
    rgd: &ResourceGraphDefinition,
    previous: &ResourceGraphDefinitionStatus,
    status: &ResourceGraphDefinitionStatus,
) -> Result<(), ControllerError> {
    let name = rgd.name_any();
    if rgd.status.as_ref() == Some(status) {
        return Ok(());
    }
    let patch = json!({ "status": status_patch(status) });
    api(ctx)
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|source| ControllerError::kube(format!("writing RGD {name} status"), source))?;
    let from = previous.state;
    let to = status.state;
    if from != to {
        let label = |state: Option<RgdState>| match state {
            Some(RgdState::Active) => "Active",
            Some(RgdState::Inactive) => "Inactive",
            None => "",
        };
        // Upstream counts transitions from a previous state only, not the first one.
        if from.is_some() {
            ctx.env
                .metrics
                .rgd_state_changed(&name, label(from), label(to));
        }
        let ready = status.conditions.last();
        let why = ready
            .and_then(|condition| condition.message.clone().or(condition.reason.clone()))
            .unwrap_or_default();
        let event = Event {
            type_: if to == Some(RgdState::Active) {
                EventType::Normal
            } else {
                EventType::Warning
            },
            reason: label(to).to_owned(),
            note: Some(truncate(
                &format!(
                    "{} -> {}: {why}",
                    if from.is_none() { "none" } else { label(from) },
                    label(to)
                ),
                1000,
            )),
            action: "Reconcile".to_owned(),
            secondary: None,
        };
        if let Err(error) = ctx.recorder.publish(&event, &rgd.object_ref(&())).await {
            tracing::debug!(rgd = %name, %error, "cannot publish event");
        }
    }
    Ok(())
}

/// Cuts `text` to at most `limit` bytes on a character boundary.
pub(crate) fn truncate(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// How often a deleted RGD looks at its generated CRD while the CRD's instances finalize.
const CRD_DELETION_POLL: Duration = Duration::from_secs(2);

async fn cleanup(
    rgd: &ResourceGraphDefinition,
    ctx: &RgdContext,
) -> Result<Action, ControllerError> {
    let name = rgd.name_any();
    if ctx.env.config.allow_crd_deletion {
        let spec = &rgd.spec.schema;
        let crd_name = format!(
            "{}.{}",
            kro_schema::pluralize(&spec.kind.to_lowercase()),
            spec.group_or_default()
        );
        // The instance controller keeps running while the CRD goes: deleting the CRD deletes
        // its instances, and each of them waits for kro to delete its children and remove the
        // finalizer. Stopping the controller first would leave the CRD terminating for ever.
        if delete_generated_crd(&ctx.env.client, &crd_name, &name).await?
            == CrdDeletion::Terminating
        {
            return Ok(Action::requeue(CRD_DELETION_POLL));
        }
    }
    ctx.instances.stop(&name).await;
    if rgd
        .finalizers()
        .iter()
        .any(|finalizer| finalizer == FINALIZER)
    {
        let finalizers: Vec<&String> = rgd
            .finalizers()
            .iter()
            .filter(|finalizer| *finalizer != FINALIZER)
            .collect();
        let patch = json!({"metadata": {
            "finalizers": finalizers,
            "resourceVersion": rgd.resource_version(),
        }});
        match api(ctx)
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(source) => {
                return Err(ControllerError::kube(
                    format!("removing the finalizer of RGD {name}"),
                    source,
                ));
            }
        }
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_patch_names_every_field_so_removals_reach_the_server() {
        let status = ResourceGraphDefinitionStatus {
            state: Some(RgdState::Inactive),
            ..ResourceGraphDefinitionStatus::default()
        };
        let patch = status_patch(&status);
        assert_eq!(patch["state"], "Inactive");
        assert_eq!(patch["topologicalOrder"], Value::Null);
        assert_eq!(patch["resources"], Value::Null);
        assert!(patch.as_object().is_some_and(|map| map.len() == 5));
    }

    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
