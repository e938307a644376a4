//! One side of the comparison: a fresh control plane, one controller on it, and the calls the
//! harness makes there (apply, delete, capture).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use kube::Client;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Discovery, Scope, verbs};
use serde_json::Value;

use crate::cluster::{Cluster, api_resource, rgd_resource};
use crate::controller::{ControllerSpec, RunningController};
use crate::testenv::ControlPlane;

/// The CRDs kro itself installs; every other CRD carrying kro's labels was generated from an RGD.
const KRO_CRDS: [&str; 2] = [
    "resourcegraphdefinitions.kro.run",
    "graphrevisions.internal.kro.run",
];

/// How long an object whose kind is not served yet (a CRD still being generated) is retried.
const KIND_WAIT: Duration = Duration::from_secs(45);

/// Everything captured from one cluster, as the API server returned it.
#[derive(Debug, Default, Clone)]
pub struct Raw {
    /// CRDs generated from RGDs.
    pub crds: Vec<Value>,
    /// RGDs.
    pub rgds: Vec<Value>,
    /// GraphRevisions.
    pub revisions: Vec<Value>,
    /// Instances of the generated CRDs.
    pub instances: Vec<Value>,
    /// Objects labelled with an instance id.
    pub children: Vec<Value>,
    /// Every Event.
    pub events: Vec<Value>,
}

/// A control plane with its controller.
pub struct Side {
    /// `upstream-kro` or `kro-rs`.
    pub name: String,
    plane: ControlPlane,
    controller: Option<RunningController>,
    client: Client,
    /// The last outcome of applying each input object (`Kind namespace/name`).
    pub applied: Mutex<BTreeMap<(String, String), String>>,
}

impl std::fmt::Debug for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Side").field("name", &self.name).finish()
    }
}

fn to_value(object: DynamicObject) -> Value {
    serde_json::to_value(object).unwrap_or_default()
}

impl Side {
    /// Starts `spec` on `plane` (its CRDs applied first when it brings them) and connects.
    ///
    /// # Errors
    /// When the CRDs cannot be applied, the controller cannot start or the client cannot connect.
    pub async fn start(
        plane: ControlPlane,
        spec: &ControllerSpec,
        log_dir: &Path,
    ) -> anyhow::Result<Self> {
        if let Some(dir) = &spec.crd_dir {
            let dir = dir.display().to_string();
            plane.kubectl(&["apply", "--server-side", "-f", &dir])?;
        }
        let log = log_dir.join(format!("{}.log", spec.name));
        let controller = RunningController::start(spec, &plane.kubeconfig, &log)?;
        let cluster = Cluster::connect(&plane.kubeconfig).await?;
        Ok(Self {
            name: spec.name.clone(),
            client: cluster.client().clone(),
            plane,
            controller: Some(controller),
            applied: Mutex::default(),
        })
    }

    /// Fails when the controller has exited.
    ///
    /// # Errors
    /// The controller's exit with the end of its log.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(controller) = &mut self.controller {
            controller.check_alive()?;
        }
        Ok(())
    }

    /// Stops the controller and the control plane.
    ///
    /// # Errors
    /// When the control plane's stop script fails.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(controller) = self.controller.take() {
            controller.stop(Duration::from_secs(10)).await;
        }
        self.plane.stop()?;
        Ok(())
    }

    /// The resource of `apiVersion`/`kind`, retried for `wait` while the kind is not served yet.
    async fn resource(
        &self,
        api_version: &str,
        kind: &str,
        wait: Duration,
    ) -> Result<(ApiResource, bool), String> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let deadline = Instant::now() + wait;
        loop {
            match discovery::pinned_kind(&self.client, &gvk).await {
                Ok((resource, caps)) => return Ok((resource, caps.scope == Scope::Namespaced)),
                Err(err) if Instant::now() >= deadline => {
                    return Err(format!("kind {kind} not served: {err}"));
                }
                Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
    }

    fn api_for(&self, resource: &ApiResource, namespaced: bool, doc: &Value) -> Api<DynamicObject> {
        if namespaced {
            let namespace = doc
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("default");
            Api::namespaced_with(self.client.clone(), namespace, resource)
        } else {
            Api::all_with(self.client.clone(), resource)
        }
    }

    /// Server-side applies `doc` like `kubectl apply --server-side` and records the outcome
    /// (`accepted` or the API server's message) under `Kind namespace/name`.
    pub async fn apply(&self, doc: &Value) {
        let (kind, name) = super::normalize::object_name(doc);
        let outcome = self.apply_inner(doc).await;
        // The API server's words are compared no further: with two unknown fields it names
        // either one, and the CRDs it validates against are compared on their own.
        let shown = match outcome {
            Ok(()) => "accepted".to_owned(),
            Err(message) => {
                eprintln!("differential: {kind} {name} rejected: {message}");
                "rejected".to_owned()
            }
        };
        if let Ok(mut applied) = self.applied.lock() {
            applied.insert((kind, name), shown);
        }
    }

    async fn apply_inner(&self, doc: &Value) -> Result<(), String> {
        let api_version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let (resource, namespaced) = self.resource(api_version, kind, KIND_WAIT).await?;
        let api = self.api_for(&resource, namespaced, doc);
        let params = PatchParams::apply("kubectl").force();
        let deadline = Instant::now() + KIND_WAIT;
        loop {
            match api.patch(name, &params, &Patch::Apply(doc)).await {
                Ok(_) => return Ok(()),
                // A CRD that was just established can still answer 404 for a moment.
                Err(kube::Error::Api(status))
                    if status.code == 404 && Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(kube::Error::Api(status)) => return Err(status.message),
                Err(err) => return Err(err.to_string()),
            }
        }
    }

    /// Deletes the object `doc` names (background propagation, like kubectl); absent is fine.
    ///
    /// # Errors
    /// When the delete request fails for another reason.
    pub async fn delete(&self, doc: &Value) -> anyhow::Result<()> {
        let api_version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let what = format!("{}: deleting {kind} {name}", self.name);
        // A kind this side does not serve (its RGD was refused) has nothing to delete; the
        // comparison shows the refusal.
        let Ok((resource, namespaced)) = self.resource(api_version, kind, Duration::ZERO).await
        else {
            return Ok(());
        };
        match self
            .api_for(&resource, namespaced, doc)
            .delete(name, &DeleteParams::background())
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            // Debug: some kube errors display as an empty string.
            Err(err) => Err(anyhow::anyhow!("{what}: {err:?}")),
        }
    }

    async fn list(&self, resource: &ApiResource, params: &ListParams) -> kube::Result<Vec<Value>> {
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), resource);
        let list = api.list(params).await?;
        Ok(list
            .items
            .into_iter()
            .map(|o| self.typed(o, resource))
            .collect())
    }

    /// List items come without `apiVersion`/`kind`; the comparison names objects by kind.
    fn typed(&self, mut object: DynamicObject, resource: &ApiResource) -> Value {
        object.types = Some(kube::core::TypeMeta {
            api_version: resource.api_version.clone(),
            kind: resource.kind.clone(),
        });
        to_value(object)
    }

    /// The generated CRDs, RGDs, GraphRevisions and instances (what settling watches).
    ///
    /// # Errors
    /// When the CRDs or RGDs cannot be listed.
    pub async fn capture_kro(&self) -> anyhow::Result<Raw> {
        let crd = api_resource(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
        );
        let all = ListParams::default();
        let crds: Vec<Value> = Api::<DynamicObject>::all_with(self.client.clone(), &crd)
            .list(&all)
            .await
            .with_context(|| format!("{}: listing CRDs", self.name))?
            .items
            .into_iter()
            .map(|o| self.typed(o, &crd))
            .filter(is_generated)
            .collect();
        let rgds = Api::<DynamicObject>::all_with(self.client.clone(), &rgd_resource())
            .list(&all)
            .await
            .with_context(|| format!("{}: listing RGDs", self.name))?
            .items
            .into_iter()
            .map(|o| self.typed(o, &rgd_resource()))
            .collect();
        let revision = api_resource(
            "internal.kro.run",
            "v1alpha1",
            "GraphRevision",
            "graphrevisions",
        );
        let revisions = self
            .list(&revision, &all)
            .await
            .with_context(|| format!("{}: listing GraphRevisions", self.name))?;
        let mut instances = Vec::new();
        for resource in crds.iter().filter_map(served_resource) {
            match self.list(&resource, &all).await {
                Ok(items) => instances.extend(items),
                // A CRD just deleted with its RGD has nothing to list.
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(err) => {
                    return Err(err)
                        .with_context(|| format!("{}: listing {}", self.name, resource.plural));
                }
            }
        }
        Ok(Raw {
            crds,
            rgds,
            revisions,
            instances,
            ..Raw::default()
        })
    }

    /// Everything the comparison reads: [`Side::capture_kro`] plus children and Events.
    ///
    /// # Errors
    /// When discovery or the kro lists fail.
    pub async fn capture(&self) -> anyhow::Result<Raw> {
        let mut raw = self.capture_kro().await?;
        let discovery = Discovery::new(self.client.clone())
            .run()
            .await
            .with_context(|| format!("{}: discovery", self.name))?;
        let resources: Vec<ApiResource> = discovery
            .groups()
            .flat_map(|group| group.recommended_resources())
            .filter(|(resource, caps)| {
                caps.supports_operation(verbs::LIST) && resource.plural != "events"
            })
            .map(|(resource, _)| resource)
            .collect();
        let labelled = ListParams::default().labels("kro.run/instance-id");
        let children: Vec<Vec<Value>> = futures::stream::iter(&resources)
            // Some kinds cannot be listed (an aggregated API without its server): nothing of
            // kro's can be there either.
            .map(|resource| async { self.list(resource, &labelled).await.unwrap_or_default() })
            .buffer_unordered(8)
            .collect()
            .await;
        raw.children = children.into_iter().flatten().collect();
        raw.events = self
            .list(
                &api_resource("", "v1", "Event", "events"),
                &ListParams::default(),
            )
            .await
            .with_context(|| format!("{}: listing Events", self.name))?;
        Ok(raw)
    }
}

/// Whether a CRD was generated from an RGD (kro's labels or an RGD owner), not one of kro's own.
fn is_generated(crd: &Value) -> bool {
    let name = crd
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if KRO_CRDS.contains(&name) {
        return false;
    }
    let labelled = crd
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .is_some_and(|labels| labels.keys().any(|k| k.starts_with("kro.run/")));
    let owned = crd
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|owners| {
            owners
                .iter()
                .any(|o| o.get("kind").and_then(Value::as_str) == Some("ResourceGraphDefinition"))
        });
    labelled || owned
}

/// The resource a generated CRD serves (its first served version).
fn served_resource(crd: &Value) -> Option<ApiResource> {
    let group = crd.pointer("/spec/group")?.as_str()?;
    let kind = crd.pointer("/spec/names/kind")?.as_str()?;
    let plural = crd.pointer("/spec/names/plural")?.as_str()?;
    let version = crd
        .pointer("/spec/versions")?
        .as_array()?
        .iter()
        .find(|v| v.get("served").and_then(Value::as_bool) == Some(true))?
        .get("name")?
        .as_str()?;
    Some(api_resource(group, version, kind, plural))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn generated_crds_are_told_from_kros_own() {
        let own = json!({"metadata": {"name": "resourcegraphdefinitions.kro.run", "labels": {"kro.run/owned": "true"}}});
        let generated =
            json!({"metadata": {"name": "webapps.kro.run", "labels": {"kro.run/owned": "true"}}});
        let foreign = json!({"metadata": {"name": "x.example.com"}});
        assert!(!is_generated(&own));
        assert!(is_generated(&generated));
        assert!(!is_generated(&foreign));
    }

    #[test]
    fn a_generated_crd_names_its_served_resource() {
        let crd = json!({"spec": {"group": "kro.run", "names": {"kind": "WebApp", "plural": "webapps"},
            "versions": [{"name": "v1alpha1", "served": true}]}});
        let resource = served_resource(&crd).expect("served");
        assert_eq!(resource.api_version, "kro.run/v1alpha1");
        assert_eq!(resource.plural, "webapps");
    }
}
