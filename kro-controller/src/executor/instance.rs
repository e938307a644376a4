//! Writes to the instance itself (kro's labels and finalizer, ApplySet metadata, status), and
//! the JSON forms of the instance and of observed objects.

use kro_api::{Instance, InstanceError};
use kro_applyset::labels::{LABELLER_FIELD_MANAGER, PARENT_FIELD_MANAGER};
use kro_graph::Graph;
use kro_runtime::machine::adopt_instance_response;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::Value;

use super::cache::KindApi as _;
use super::error::status_code;
use super::{Error, Executor, KindMapping, ReconcileStats, contains};

impl Executor {
    /// Writes the instance's kro labels and finalizer (`labels`, manager
    /// `kro.run/labeller`) and its ApplySet metadata (`parent`, manager
    /// `kro.run/applyset-parent`), each only when given; the instance afterwards. Two separate
    /// managers keep upstream's field ownership; when both are due they go out together, and
    /// the instance afterwards is the response that carries both (the write that committed
    /// last).
    pub(super) async fn write_instance_metadata(
        &self,
        graph: &Graph,
        instance: &Instance,
        labels: Option<Value>,
        parent: Option<Value>,
        stats: &mut ReconcileStats,
    ) -> Result<Value, Error> {
        let mut current = instance.object().clone();
        let latest = match (labels, parent) {
            (None, None) => return Ok(current),
            (Some(body), None) => {
                stats.instance_writes += 1;
                self.send_instance_apply(graph, instance, &body, LABELLER_FIELD_MANAGER)
                    .await?
            }
            (None, Some(body)) => {
                stats.instance_writes += 1;
                self.send_instance_apply(graph, instance, &body, PARENT_FIELD_MANAGER)
                    .await?
            }
            (Some(labels), Some(parent)) => {
                let (labelled, parented) = futures::join!(
                    self.send_instance_apply(graph, instance, &labels, LABELLER_FIELD_MANAGER),
                    self.send_instance_apply(graph, instance, &parent, PARENT_FIELD_MANAGER),
                );
                let (labelled, parented) = (labelled?, parented?);
                stats.instance_writes += 2;
                let carries_both = |response: &Value| {
                    let metadata = &response["metadata"];
                    contains(&metadata["labels"], &labels["metadata"]["labels"])
                        && contains(metadata, &parent["metadata"])
                };
                if carries_both(&labelled) {
                    labelled
                } else {
                    parented
                }
            }
        };
        adopt_instance_response(&mut current, latest);
        Ok(current)
    }

    /// Server-side applies `body` to the instance; the response as JSON with its kind.
    async fn send_instance_apply(
        &self,
        graph: &Graph,
        instance: &Instance,
        body: &Value,
        manager: &str,
    ) -> Result<Value, Error> {
        let (kind, api) = self.instance_api(graph, instance);
        let response = api
            .patch(
                instance.name(),
                &PatchParams::apply(manager).force(),
                &Patch::Apply(body),
            )
            .await
            .map_err(|source| {
                Error::kube(
                    format!(
                        "applying {manager} metadata to instance {}",
                        instance.name()
                    ),
                    source,
                )
            })?;
        Ok(observed_json_kind(&response, &kind))
    }

    /// Writes `status` over `instance` (its `resourceVersion` included) through the status
    /// subresource, once: the machine decides whether to write and how to retry a conflict.
    pub(super) async fn write_status(
        &self,
        graph: &Graph,
        instance: &Instance,
        status: Value,
        stats: &mut ReconcileStats,
    ) -> Result<StatusWritten, Error> {
        let (kind, api) = self.instance_api(graph, instance);
        let mut body = instance.clone();
        body.set_status(status);
        let body: DynamicObject =
            serde_json::from_value(body.into_object()).map_err(|_| Error::InvalidInstance {
                field: "metadata",
                expected: "Kubernetes object metadata",
            })?;
        match api
            .replace_status(instance.name(), &PostParams::default(), &body)
            .await
        {
            Ok(response) => {
                stats.status_written = true;
                Ok(StatusWritten::Written(observed_json_kind(&response, &kind)))
            }
            Err(error) if status_code(&error) == Some(409) => Ok(StatusWritten::Conflict),
            Err(error) if status_code(&error) == Some(404) => Ok(StatusWritten::Gone),
            Err(source) => Err(Error::kube(
                format!("writing the status of instance {}", instance.name()),
                source,
            )),
        }
    }

    /// Reads the instance again; `None` when it is gone.
    pub(super) async fn read_instance(
        &self,
        graph: &Graph,
        instance: &Instance,
        stats: &mut ReconcileStats,
    ) -> Result<Option<Value>, Error> {
        let (_, api) = self.instance_api(graph, instance);
        stats.live_reads += 1;
        let fresh = api.get_opt(instance.name()).await.map_err(|source| {
            Error::kube(format!("reading instance {}", instance.name()), source)
        })?;
        fresh.map(|fresh| instance_json(graph, &fresh)).transpose()
    }

    /// The graph's generated kind, and the API of `instance` (its namespace, when the kind is
    /// namespaced): the identity comes from the parsed instance, never from JSON again.
    pub(super) fn instance_api(
        &self,
        graph: &Graph,
        instance: &Instance,
    ) -> (KindMapping, Api<DynamicObject>) {
        let kind = graph.instance().mapping();
        let api = kind.api(self.client.clone(), instance.namespace());
        (kind, api)
    }
}

/// How one status write went.
pub(super) enum StatusWritten {
    /// Written: the instance the server returned.
    Written(Value),
    /// 409 Conflict: the instance changed since it was read.
    Conflict,
    /// 404: the instance is gone.
    Gone,
}

/// The instance's identity, read once for the whole reconcile.
pub(super) fn parse_instance(object: Value) -> Result<Instance, Error> {
    Instance::from_object(object).map_err(|error| match error {
        InstanceError::MissingField { field } => Error::InvalidInstance {
            field,
            expected: "a non-empty string",
        },
        InstanceError::NotAnObject | InstanceError::OtherObject { .. } => Error::InvalidInstance {
            field: "metadata",
            expected: "Kubernetes object metadata",
        },
    })
}

/// The instance as JSON, with `apiVersion`/`kind` filled from the graph when the object came
/// from a list (list items carry none).
pub(super) fn instance_json(graph: &Graph, instance: &DynamicObject) -> Result<Value, Error> {
    if instance.metadata.uid.is_none() {
        return Err(Error::InvalidInstance {
            field: "metadata.uid",
            expected: "a string (an object read from the API server)",
        });
    }
    let mut value = serde_json::to_value(instance).map_err(|_| Error::InvalidInstance {
        field: "metadata",
        expected: "an object that serializes to JSON",
    })?;
    if let Some(map) = value.as_object_mut() {
        let gvk = graph.instance().gvk();
        map.entry("apiVersion")
            .or_insert_with(|| gvk.api_version().into());
        map.entry("kind").or_insert_with(|| gvk.kind.clone().into());
    }
    Ok(value)
}

pub(super) fn observed_json(object: &DynamicObject, target: &KindMapping) -> Value {
    observed_json_kind(object, target)
}

/// An object read or returned by the server, as the planner expects it: with `apiVersion` and
/// `kind`, without `managedFields`.
pub(super) fn observed_json_kind(object: &DynamicObject, kind: &KindMapping) -> Value {
    let mut value = serde_json::to_value(object).unwrap_or(Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.entry("apiVersion")
            .or_insert_with(|| kind.api_version().into());
        map.entry("kind")
            .or_insert_with(|| kind.kind.clone().into());
        if let Some(metadata) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.remove("managedFields");
        }
    }
    value
}

pub(super) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
