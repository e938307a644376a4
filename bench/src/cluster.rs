//! The driver's own API calls, each one tallied so it can be subtracted from the API server's
//! counters when attributing requests to the controller.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt as _, TryStreamExt as _};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher;
use kube::{Client, Config};
use serde_json::Value;
use thiserror::Error;

use crate::apimetrics::{MetricsParseError, RequestCounts, RequestKey};

/// Why a cluster call failed.
#[derive(Debug, Error)]
pub enum ClusterError {
    /// The kubeconfig could not be loaded.
    #[error("kubeconfig {path}: {detail}")]
    Kubeconfig {
        /// Its path.
        path: String,
        /// What went wrong.
        detail: String,
    },
    /// An API call failed.
    #[error("{what}")]
    Api {
        /// The call, with the object it was about.
        what: String,
        /// The client error.
        source: kube::Error,
    },
    /// An object did not reach the expected state in time.
    #[error("timed out after {seconds} s waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The limit.
        seconds: u64,
    },
    /// A manifest was not a valid object.
    #[error("manifest for {what} is not a Kubernetes object: {detail}")]
    Manifest {
        /// Which manifest.
        what: String,
        /// The decode error.
        detail: String,
    },
    /// The API server's metrics page was unreadable.
    #[error("API server /metrics")]
    Metrics(#[from] MetricsParseError),
}

/// A client for one control plane plus the tally of requests the driver made through it.
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    tally: Arc<Mutex<BTreeMap<RequestKey, u64>>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").finish_non_exhaustive()
    }
}

/// The API resource of a kind served at `group/version` under `plural`.
#[must_use]
pub fn api_resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// The RGD resource.
#[must_use]
pub fn rgd_resource() -> ApiResource {
    api_resource(
        "kro.run",
        "v1alpha1",
        "ResourceGraphDefinition",
        "resourcegraphdefinitions",
    )
}

fn crd_resource() -> ApiResource {
    api_resource(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
    )
}

/// `status.state` of an object, if any.
#[must_use]
pub fn state(object: &DynamicObject) -> Option<&str> {
    object.data.get("status")?.get("state")?.as_str()
}

/// Whether the object's `status.conditions` has `type` with status `True`.
#[must_use]
pub fn condition_true(object: &DynamicObject, kind: &str) -> bool {
    object
        .data
        .get("status")
        .and_then(|status| status.get("conditions"))
        .and_then(Value::as_array)
        .is_some_and(|conditions| {
            conditions.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some(kind)
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

impl Cluster {
    /// Connects with the kubeconfig at `path`.
    ///
    /// # Errors
    /// [`ClusterError::Kubeconfig`] when it cannot be read or used.
    pub async fn connect(path: &Path) -> Result<Self, ClusterError> {
        let err = |detail: String| ClusterError::Kubeconfig {
            path: path.display().to_string(),
            detail,
        };
        let kubeconfig = Kubeconfig::read_from(path).map_err(|e| err(e.to_string()))?;
        let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| err(e.to_string()))?;
        config.proxy_url = None;
        // Thousands of creates in flight: the defaults time out under a saturated API server.
        config.read_timeout = Some(Duration::from_secs(120));
        let client = Client::try_from(config).map_err(|e| err(e.to_string()))?;
        Ok(Self {
            client,
            tally: Arc::default(),
        })
    }

    /// The underlying client, for callers that do not need their requests tallied.
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn count(&self, verb: &str, resource: &ApiResource, subresource: &str) {
        let key = RequestKey::new(verb, &resource.group, &resource.plural, subresource);
        if let Ok(mut tally) = self.tally.lock() {
            *tally.entry(key).or_insert(0) += 1;
        }
    }

    /// The driver's requests since the last [`Cluster::reset_tally`].
    #[must_use]
    pub fn tally(&self) -> BTreeMap<RequestKey, u64> {
        self.tally
            .lock()
            .map(|tally| tally.clone())
            .unwrap_or_default()
    }

    /// Starts a new tally window.
    pub fn reset_tally(&self) {
        if let Ok(mut tally) = self.tally.lock() {
            tally.clear();
        }
    }

    /// The API server's request counters now.
    ///
    /// # Errors
    /// [`ClusterError`] when `/metrics` cannot be fetched or parsed.
    pub async fn scrape(&self) -> Result<RequestCounts, ClusterError> {
        let request = http::Request::get("/metrics")
            .body(Vec::new())
            .map_err(|e| ClusterError::Api {
                what: "GET /metrics".into(),
                source: kube::Error::HttpError(e),
            })?;
        let page = self
            .client
            .request_text(request)
            .await
            .map_err(|source| ClusterError::Api {
                what: "GET /metrics".into(),
                source,
            })?;
        Ok(RequestCounts::parse(&page)?)
    }

    fn api(&self, resource: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
        match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, resource),
            None => Api::all_with(self.client.clone(), resource),
        }
    }

    /// Creates `manifest` (POST), retrying while its kind is not served yet (a CRD just established).
    ///
    /// # Errors
    /// [`ClusterError`] when the manifest is invalid or the create fails for another reason.
    pub async fn create(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        manifest: Value,
    ) -> Result<(), ClusterError> {
        let name = manifest
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        let what = format!("creating {} {name}", resource.kind);
        let object: DynamicObject =
            serde_json::from_value(manifest).map_err(|e| ClusterError::Manifest {
                what: what.clone(),
                detail: e.to_string(),
            })?;
        let api = self.api(resource, namespace);
        let mut attempts = 0;
        loop {
            attempts += 1;
            self.count("POST", resource, "");
            match api.create(&PostParams::default(), &object).await {
                Ok(_) => return Ok(()),
                Err(kube::Error::Api(status)) if status.code == 404 && attempts < 20 => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(source) => return Err(ClusterError::Api { what, source }),
            }
        }
    }

    /// Polls `name` until `ready` holds for it.
    ///
    /// # Errors
    /// [`ClusterError::Timeout`] after `limit`, or an API error other than not-found.
    pub async fn wait_for(
        &self,
        resource: &ApiResource,
        name: &str,
        limit: Duration,
        ready: impl Fn(&DynamicObject) -> bool,
    ) -> Result<DynamicObject, ClusterError> {
        let api = self.api(resource, None);
        let deadline = Instant::now() + limit;
        loop {
            self.count("GET", resource, "");
            match api.get_opt(name).await {
                Ok(Some(object)) if ready(&object) => return Ok(object),
                Ok(_) => {}
                Err(source) => {
                    return Err(ClusterError::Api {
                        what: format!("getting {} {name}", resource.kind),
                        source,
                    });
                }
            }
            if Instant::now() >= deadline {
                return Err(ClusterError::Timeout {
                    what: format!("{} {name}", resource.kind),
                    seconds: limit.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the RGD is Active and its CRD Established.
    ///
    /// # Errors
    /// [`ClusterError::Timeout`] when either does not happen within `limit`.
    pub async fn wait_rgd_ready(
        &self,
        rgd: &str,
        crd: &str,
        limit: Duration,
    ) -> Result<(), ClusterError> {
        self.wait_for(&rgd_resource(), rgd, limit, |o| state(o) == Some("Active"))
            .await?;
        self.wait_for(&crd_resource(), crd, limit, |o| {
            condition_true(o, "Established")
        })
        .await?;
        Ok(())
    }

    /// Creates many objects with `parallel` requests in flight; returns when each create finished.
    ///
    /// # Errors
    /// The first [`ClusterError`].
    pub async fn create_many(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        manifests: Vec<Value>,
        parallel: usize,
    ) -> Result<BTreeMap<String, Instant>, ClusterError> {
        futures::stream::iter(manifests)
            .map(|manifest| async move {
                let name = manifest
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                self.create(resource, namespace, manifest)
                    .await
                    .map(|()| (name, Instant::now()))
            })
            .buffer_unordered(parallel.max(1))
            .try_collect()
            .await
    }

    /// Watches `resource` and records when each object is first seen with `status.state` ACTIVE
    /// and, separately, with condition Ready True (upstream kro reports ACTIVE on the pass that
    /// creates the children, and Ready only after a later pass changed nothing). The maps grow as
    /// instances progress; the task ends when `expected` objects are both.
    #[must_use]
    pub fn watch_progress(
        &self,
        resource: &ApiResource,
        expected: usize,
    ) -> (Arc<Mutex<Progress>>, tokio::task::JoinHandle<()>) {
        let progress: Arc<Mutex<Progress>> = Arc::default();
        let api = self.api(resource, None);
        let recorder = Arc::clone(&progress);
        let this = self.clone();
        let resource = resource.clone();
        let task = tokio::spawn(async move {
            let mut events = std::pin::pin!(watcher(api, watcher::Config::default()));
            while let Some(event) = events.next().await {
                let object = match event {
                    Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object)) => object,
                    Ok(watcher::Event::Init) => {
                        this.count("LIST", &resource, "");
                        continue;
                    }
                    Ok(_) => continue,
                    Err(_) => {
                        // The watcher retries by itself; a short pause keeps errors from spinning.
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
                let active = state(&object) == Some("ACTIVE");
                let ready = condition_true(&object, "Ready");
                let Some(name) = object.metadata.name else {
                    continue;
                };
                let Ok(mut progress) = recorder.lock() else {
                    return;
                };
                let now = Instant::now();
                if active {
                    progress.active.entry(name.clone()).or_insert(now);
                }
                if ready {
                    progress.ready.entry(name).or_insert(now);
                }
                if progress.active.len() >= expected && progress.ready.len() >= expected {
                    return;
                }
            }
        });
        (progress, task)
    }
}

/// When each instance was first seen ACTIVE and first seen Ready.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Instance name to the moment `status.state` was first ACTIVE.
    pub active: BTreeMap<String, Instant>,
    /// Instance name to the moment condition Ready was first True.
    pub ready: BTreeMap<String, Instant>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> DynamicObject {
        serde_json::from_value(value).expect("test setup")
    }

    #[test]
    fn reads_state_and_conditions() {
        let active = object(json!({
            "apiVersion": "kro.run/v1alpha1", "kind": "BenchApp", "metadata": {"name": "a"},
            "status": {"state": "ACTIVE", "conditions": [{"type": "Established", "status": "True"}, {"type": "Ready", "status": "False"}]}
        }));
        assert_eq!(state(&active), Some("ACTIVE"));
        assert!(condition_true(&active, "Established"));
        assert!(!condition_true(&active, "Ready"));
        assert!(!condition_true(&active, "Missing"));
        let bare =
            object(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}}));
        assert_eq!(state(&bare), None);
    }

    #[test]
    fn resources_carry_group_and_plural() {
        let rgd = rgd_resource();
        assert_eq!(
            (
                rgd.group.as_str(),
                rgd.plural.as_str(),
                rgd.api_version.as_str()
            ),
            ("kro.run", "resourcegraphdefinitions", "kro.run/v1alpha1")
        );
        assert_eq!(crd_resource().plural, "customresourcedefinitions");
    }
}
