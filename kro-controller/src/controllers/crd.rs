//! CustomResourceDefinitions: kro's own (installed at start-up when missing) and the ones
//! generated from RGDs (ensured on every RGD reconcile, deleted with the RGD when allowed).

use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kro_api::labels::{
    CRD_FIELD_MANAGER, CRD_INSTALLER_FIELD_MANAGER, OWNED_LABEL, RGD_NAME_LABEL,
};
use kro_applyset::labels::{MANAGED_BY_KRO, MANAGED_BY_LABEL};
use kro_schema::diff_crds;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, ResourceExt as _};

use super::error::ControllerError;

/// Field manager of the start-up installation of kro's own CRDs.
/// Field manager of generated CRDs.
/// How often Established is polled.
const ESTABLISHED_POLL: Duration = Duration::from_millis(150);
/// How many breaking changes a condition message lists.
const BREAKING_CHANGES_LISTED: usize = 3;

/// Installs the ResourceGraphDefinition and GraphRevision CRDs when they are missing, upgrades
/// an installed older shape of them (a CRD that upgraded Helm charts never touch, since Helm
/// installs `crds/` only once), and waits until both are Established. A CRD that serves
/// something this build's CRD lacks (a newer kro's) is left alone.
///
/// # Errors
/// A request failed or a CRD did not become Established within `timeout`.
pub async fn install_kro_crds(client: &Client, timeout: Duration) -> Result<(), ControllerError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in [
        kro_api::resource_graph_definition_crd(),
        kro_api::graph_revision_crd(),
    ] {
        let name = crd.name_any();
        let existing = api
            .get_opt(&name)
            .await
            .map_err(|source| ControllerError::kube(format!("reading CRD {name}"), source))?;
        let action = match &existing {
            None => Some("installing CRD"),
            Some(live) => match own_crd_update(live, &crd) {
                OwnCrdUpdate::Current => None,
                OwnCrdUpdate::Upgrade(changes) => {
                    tracing::info!(crd = %name, %changes, "upgrading an older CRD");
                    Some("upgrading CRD")
                }
                OwnCrdUpdate::Newer(changes) => {
                    tracing::warn!(crd = %name, %changes, "installed CRD is newer than this build's; left as it is");
                    None
                }
            },
        };
        if let Some(action) = action {
            tracing::info!(crd = %name, "{action}");
            api.patch(
                &name,
                &PatchParams::apply(CRD_INSTALLER_FIELD_MANAGER).force(),
                &Patch::Apply(&crd),
            )
            .await
            .map_err(|source| ControllerError::kube(format!("{action} {name}"), source))?;
        }
        wait_established(&api, &name, timeout).await?;
    }
    Ok(())
}

/// What to do with one of kro's own CRDs found installed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OwnCrdUpdate {
    /// Same schema (descriptions aside): nothing to do.
    Current,
    /// An older shape: apply this build's CRD. The changes, in words.
    Upgrade(String),
    /// It serves properties or versions this build's CRD lacks: applying would drop them.
    Newer(String),
}

/// Compares an installed kro CRD with this build's. Description-only differences do not count
/// (upstream's CRD carries its own texts and is otherwise the same).
fn own_crd_update(
    live: &CustomResourceDefinition,
    desired: &CustomResourceDefinition,
) -> OwnCrdUpdate {
    use kro_schema::ChangeKind;
    let diff = diff_crds(live, desired);
    let relevant: Vec<_> = diff
        .changes
        .iter()
        .filter(|change| change.kind != ChangeKind::DescriptionChanged)
        .collect();
    let words = |changes: &[&kro_schema::SchemaChange]| {
        changes
            .iter()
            .take(BREAKING_CHANGES_LISTED)
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    };
    let dropped: Vec<_> = relevant
        .iter()
        .copied()
        .filter(|change| {
            matches!(
                change.kind,
                ChangeKind::PropertyRemoved | ChangeKind::VersionRemoved
            )
        })
        .collect();
    if !dropped.is_empty() {
        return OwnCrdUpdate::Newer(words(&dropped));
    }
    if relevant.is_empty() {
        OwnCrdUpdate::Current
    } else {
        OwnCrdUpdate::Upgrade(words(&relevant))
    }
}

/// What ensuring a generated CRD came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrdOutcome {
    /// The CRD matches the graph and is Established.
    Ready,
    /// The CRD was not touched; the message says why (KindReady False).
    Blocked(String),
}

/// Whether `crd` carries kro's ownership label (or, without it, kro's managed-by label).
fn is_kro_owned(crd: &CustomResourceDefinition) -> bool {
    let labels = crd.labels();
    match labels.get(OWNED_LABEL) {
        Some(owned) => owned == "true",
        None => labels.get(MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGED_BY_KRO),
    }
}

/// Decides whether the live CRD may be replaced by `desired`: `Ok(None)` = apply, `Ok(Some(..))`
/// = up to date (`true`) or blocked with a message. Pure, so the rules are unit-tested.
fn check_update(
    live: &CustomResourceDefinition,
    desired: &CustomResourceDefinition,
    rgd_name: &str,
    allow_breaking: bool,
) -> Result<bool, String> {
    let name = desired.name_any();
    if !is_kro_owned(live) {
        return Err(format!(
            "CRD {name} already exists and is not owned by kro (label {OWNED_LABEL}=true is missing)"
        ));
    }
    if let Some(owner) = live.labels().get(RGD_NAME_LABEL)
        && owner != rgd_name
    {
        return Err(format!(
            "CRD {name} is owned by ResourceGraphDefinition {owner}, not {rgd_name}"
        ));
    }
    let diff = diff_crds(live, desired);
    if !diff.has_changes() {
        return Ok(false);
    }
    if diff.is_breaking() && !allow_breaking {
        return Err(format!(
            "CRD {name} has breaking changes (set annotation kro.run/allow-breaking-changes: \"true\" to apply them): {}",
            diff.breaking_summary(BREAKING_CHANGES_LISTED)
        ));
    }
    Ok(true)
}

/// Creates or updates the generated CRD (server-side apply, field manager [`CRD_FIELD_MANAGER`])
/// and waits until it is Established.
///
/// # Errors
/// A request failed, or the CRD did not become Established within `timeout`.
pub async fn ensure_generated_crd(
    client: &Client,
    desired: &CustomResourceDefinition,
    rgd_name: &str,
    allow_breaking: bool,
    timeout: Duration,
) -> Result<CrdOutcome, ControllerError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = desired.name_any();
    let live = api
        .get_opt(&name)
        .await
        .map_err(|source| ControllerError::kube(format!("reading CRD {name}"), source))?;
    let apply = match &live {
        None => true,
        Some(live) => match check_update(live, desired, rgd_name, allow_breaking) {
            Ok(apply) => apply,
            Err(message) => return Ok(CrdOutcome::Blocked(message)),
        },
    };
    if apply {
        tracing::info!(crd = %name, rgd = %rgd_name, created = live.is_none(), "applying CRD");
        match api
            .patch(
                &name,
                &PatchParams::apply(CRD_FIELD_MANAGER).force(),
                &Patch::Apply(desired),
            )
            .await
        {
            Ok(_) => {}
            // The server rejects the CRD itself (e.g. a label value too long): no retry helps.
            Err(kube::Error::Api(status)) if status.code == 422 => {
                return Ok(CrdOutcome::Blocked(format!(
                    "CRD {name} was rejected by the API server: {}",
                    status.message
                )));
            }
            Err(source) => {
                return Err(ControllerError::kube(
                    format!("applying CRD {name}"),
                    source,
                ));
            }
        }
    }
    wait_established(&api, &name, timeout).await?;
    Ok(CrdOutcome::Ready)
}

/// Deletes the generated CRD `name` when its RGD-name label names `rgd_name`, and says where
/// its deletion stands.
///
/// # Errors
/// A request failed.
pub async fn delete_generated_crd(
    client: &Client,
    name: &str,
    rgd_name: &str,
) -> Result<CrdDeletion, ControllerError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let Some(live) = api
        .get_opt(name)
        .await
        .map_err(|source| ControllerError::kube(format!("reading CRD {name}"), source))?
    else {
        return Ok(CrdDeletion::Gone);
    };
    if live.labels().get(RGD_NAME_LABEL).map(String::as_str) != Some(rgd_name) {
        tracing::info!(crd = %name, rgd = %rgd_name, "CRD belongs to another owner; not deleting it");
        return Ok(CrdDeletion::NotOurs);
    }
    if live.metadata.deletion_timestamp.is_some() {
        return Ok(CrdDeletion::Terminating);
    }
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => {
            tracing::info!(crd = %name, rgd = %rgd_name, "deleting the generated CRD");
            Ok(CrdDeletion::Terminating)
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(CrdDeletion::Gone),
        Err(source) => Err(ControllerError::kube(
            format!("deleting CRD {name}"),
            source,
        )),
    }
}

/// Where the deletion of a generated CRD stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrdDeletion {
    /// The CRD does not exist (any more).
    Gone,
    /// The CRD exists but another RGD (or no RGD) generated it: it is left alone.
    NotOurs,
    /// The CRD is being deleted: the API server deletes its instances first, each of which
    /// waits for kro's finalizer.
    Terminating,
}

fn is_established(crd: &CustomResourceDefinition) -> bool {
    crd.status
        .as_ref()
        .and_then(|status| status.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|condition| condition.type_ == "Established" && condition.status == "True")
        })
}

async fn wait_established(
    api: &Api<CustomResourceDefinition>,
    name: &str,
    timeout: Duration,
) -> Result<(), ControllerError> {
    let start = Instant::now();
    loop {
        let crd = api
            .get_opt(name)
            .await
            .map_err(|source| ControllerError::kube(format!("reading CRD {name}"), source))?;
        if crd.as_ref().is_some_and(is_established) {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            return Err(ControllerError::NotEstablished {
                name: name.to_owned(),
                seconds: timeout.as_secs(),
            });
        }
        tokio::time::sleep(ESTABLISHED_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;
    use kro_api::ResourceGraphDefinition;

    fn root_schema(crd: &mut CustomResourceDefinition) -> &mut JSONSchemaProps {
        crd.spec.versions[0]
            .schema
            .as_mut()
            .and_then(|schema| schema.open_api_v3_schema.as_mut())
            .expect("schema")
    }

    #[test]
    fn own_crds_are_upgraded_from_older_shapes_and_never_downgraded() {
        let desired = kro_api::resource_graph_definition_crd();
        assert_eq!(own_crd_update(&desired, &desired), OwnCrdUpdate::Current);

        // Only other descriptions (upstream's texts): nothing to do.
        let mut described = desired.clone();
        root_schema(&mut described).description = Some("upstream's words".into());
        assert_eq!(own_crd_update(&described, &desired), OwnCrdUpdate::Current);

        // An earlier kro-rs CRD required `spec`: upgraded.
        let mut older = desired.clone();
        root_schema(&mut older).required = Some(vec!["spec".into()]);
        assert!(matches!(
            own_crd_update(&older, &desired),
            OwnCrdUpdate::Upgrade(changes) if changes.contains("spec")
        ));

        // A newer CRD serving a property this build lacks: left alone.
        let mut newer = desired.clone();
        root_schema(&mut newer)
            .properties
            .get_or_insert_with(Default::default)
            .insert("future".into(), JSONSchemaProps::default());
        assert!(matches!(
            own_crd_update(&newer, &desired),
            OwnCrdUpdate::Newer(changes) if changes.contains("future")
        ));
    }
    use kro_graph::{OfflineResolver, compile};
    use kro_schema::CrdOptions;

    fn crd_for(spec_fields: &str, rgd: &str) -> CustomResourceDefinition {
        let rgd_yaml = format!(
            r#"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {{name: {rgd}}}
spec:
  schema: {{apiVersion: v1alpha1, kind: App, spec: {{{spec_fields}}}}}
"#
        );
        let rgd_object = ResourceGraphDefinition::from_yaml(&rgd_yaml).expect("valid rgd");
        compile(&rgd_object, &OfflineResolver::new())
            .expect("compiles")
            .crd_with_options(&CrdOptions::kro_owned(rgd, "uid-1", "0.1.0"))
    }

    #[test]
    fn an_identical_crd_is_not_reapplied() {
        let crd = crd_for("name: string", "app");
        assert_eq!(check_update(&crd, &crd, "app", false), Ok(false));
    }

    #[test]
    fn breaking_changes_are_blocked_unless_allowed_and_named() {
        let old = crd_for("name: string, port: integer", "app");
        let new = crd_for("name: string", "app");
        let message = check_update(&old, &new, "app", false).expect_err("blocked");
        assert!(message.contains("breaking"), "{message}");
        assert!(message.contains("port"), "{message}");
        assert_eq!(check_update(&old, &new, "app", true), Ok(true));
        // Adding an optional field is safe.
        assert_eq!(check_update(&new, &old, "app", false), Ok(true));
    }

    #[test]
    fn foreign_crds_are_not_taken_over() {
        let desired = crd_for("name: string", "app");
        let other_rgd = crd_for("name: string", "other");
        let message = check_update(&other_rgd, &desired, "app", true).expect_err("owned by other");
        assert!(
            message.contains("owned by ResourceGraphDefinition other"),
            "{message}"
        );
        let mut unowned = desired.clone();
        unowned.metadata.labels = None;
        let message = check_update(&unowned, &desired, "app", true).expect_err("not kro");
        assert!(message.contains("not owned by kro"), "{message}");
    }
}
