//! Writes to the instance itself (kro's labels and finalizer, ApplySet metadata, status), and
//! the JSON forms of the instance and of observed objects.

use kro_applyset::labels::{LABELLER_FIELD_MANAGER, PARENT_FIELD_MANAGER};
use kro_graph::Graph;
use kro_runtime::core::ResourceTarget;
use kro_runtime::machine::adopt_instance_response;
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use serde_json::Value;

use super::error::status_code;
use super::view::mapping_of;
use super::{Error, Executor, InstanceKey, KindMapping, ReconcileStats, contains};

impl Executor {
    /// Writes the instance's kro labels and finalizer (`labels`, manager
    /// `kro.run/labeller`) and its ApplySet metadata (`parent`, manager
    /// `kro.run/applyset-parent`), each only when given. Two separate managers keep upstream's
    /// field ownership; when both are due they go out together, and the instance afterwards is
    /// the response that carries both (the write that committed last).
    pub(super) async fn write_instance_metadata(
        &self,
        instance: &mut Value,
        labels: Option<Value>,
        parent: Option<Value>,
        stats: &mut ReconcileStats,
    ) -> Result<(), Error> {
        match (labels, parent) {
            (None, None) => Ok(()),
            (Some(body), None) => {
                self.apply_to_instance(instance, &body, LABELLER_FIELD_MANAGER, stats)
                    .await
            }
            (None, Some(body)) => {
                self.apply_to_instance(instance, &body, PARENT_FIELD_MANAGER, stats)
                    .await
            }
            (Some(labels), Some(parent)) => {
                let (labelled, parented) = futures::join!(
                    self.send_instance_apply(instance, &labels, LABELLER_FIELD_MANAGER),
                    self.send_instance_apply(instance, &parent, PARENT_FIELD_MANAGER),
                );
                let (labelled, parented) = (labelled?, parented?);
                stats.instance_writes += 2;
                let carries_both = |response: &Value| {
                    let metadata = &response["metadata"];
                    contains(&metadata["labels"], &labels["metadata"]["labels"])
                        && contains(metadata, &parent["metadata"])
                };
                let latest = if carries_both(&labelled) {
                    labelled
                } else {
                    parented
                };
                adopt_instance_response(instance, latest);
                Ok(())
            }
        }
    }

    pub(super) async fn apply_to_instance(
        &self,
        instance: &mut Value,
        body: &Value,
        manager: &str,
        stats: &mut ReconcileStats,
    ) -> Result<(), Error> {
        let response = self.send_instance_apply(instance, body, manager).await?;
        stats.instance_writes += 1;
        adopt_instance_response(instance, response);
        Ok(())
    }

    /// Server-side applies `body` to the instance; the response as JSON with its kind.
    pub(super) async fn send_instance_apply(
        &self,
        instance: &Value,
        body: &Value,
        manager: &str,
    ) -> Result<Value, Error> {
        let (kind, namespace, name) = self.instance_api_parts(instance)?;
        let api = kind.api(self.client.clone(), namespace.as_deref());
        let response = api
            .patch(
                &name,
                &PatchParams::apply(manager).force(),
                &Patch::Apply(body),
            )
            .await
            .map_err(|source| {
                Error::kube(
                    format!("applying {manager} metadata to instance {name}"),
                    source,
                )
            })?;
        Ok(observed_json_kind(&response, &kind))
    }

    /// Writes `status` over `instance` (its `resourceVersion` included) through the status
    /// subresource, once: the machine decides whether to write and how to retry a conflict.
    pub(super) async fn write_status(
        &self,
        instance: &Value,
        status: Value,
        stats: &mut ReconcileStats,
    ) -> Result<StatusWritten, Error> {
        let (kind, namespace, name) = self.instance_api_parts(instance)?;
        let api = kind.api(self.client.clone(), namespace.as_deref());
        let mut body = instance.clone();
        if let Some(map) = body.as_object_mut() {
            map.insert("status".into(), status);
        }
        let body: DynamicObject =
            serde_json::from_value(body).map_err(|_| Error::InvalidInstance {
                field: "metadata",
                expected: "Kubernetes object metadata",
            })?;
        match api
            .replace_status(&name, &PostParams::default(), &body)
            .await
        {
            Ok(response) => {
                stats.status_written = true;
                Ok(StatusWritten::Written(observed_json_kind(&response, &kind)))
            }
            Err(error) if status_code(&error) == Some(409) => Ok(StatusWritten::Conflict),
            Err(error) if status_code(&error) == Some(404) => Ok(StatusWritten::Gone),
            Err(source) => Err(Error::kube(
                format!("writing the status of instance {name}"),
                source,
            )),
        }
    }

    /// Reads the instance again; `None` when it is gone.
    pub(super) async fn read_instance(
        &self,
        graph: &Graph,
        instance: &Value,
        stats: &mut ReconcileStats,
    ) -> Result<Option<Value>, Error> {
        let (kind, namespace, name) = self.instance_api_parts(instance)?;
        let api = kind.api(self.client.clone(), namespace.as_deref());
        stats.live_reads += 1;
        let fresh = api
            .get_opt(&name)
            .await
            .map_err(|source| Error::kube(format!("reading instance {name}"), source))?;
        fresh.map(|fresh| instance_json(graph, &fresh)).transpose()
    }

    pub(super) fn instance_api_parts(
        &self,
        instance: &Value,
    ) -> Result<(KindMapping, Option<String>, String), Error> {
        let api_version =
            instance
                .get("apiVersion")
                .and_then(Value::as_str)
                .ok_or(Error::InvalidInstance {
                    field: "apiVersion",
                    expected: "a string",
                })?;
        let kind_name =
            instance
                .get("kind")
                .and_then(Value::as_str)
                .ok_or(Error::InvalidInstance {
                    field: "kind",
                    expected: "a string",
                })?;
        let (group, _) = kro_applyset::object::split_api_version(api_version);
        let kind = self
            .mapper
            .known(&kro_applyset::GroupKind::new(group, kind_name))
            .ok_or(Error::InvalidInstance {
                field: "kind",
                expected: "the generated kind of the graph",
            })?;
        let name = instance
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .ok_or(Error::InvalidInstance {
                field: "metadata.name",
                expected: "a string",
            })?
            .to_owned();
        let namespace = instance
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|ns| !ns.is_empty())
            .map(str::to_owned);
        Ok((kind, namespace, name))
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

/// The key under which the cache publishes events for `instance`.
pub(super) fn instance_key(graph: &Graph, instance: &Value) -> Option<InstanceKey> {
    let gvk = graph.instance().gvk();
    Some(InstanceKey {
        group: gvk.group.clone(),
        version: gvk.version.clone(),
        kind: gvk.kind.clone(),
        namespace: instance
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|namespace| !namespace.is_empty())
            .map(str::to_owned),
        name: instance.pointer("/metadata/name")?.as_str()?.to_owned(),
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

pub(super) fn observed_json(object: &DynamicObject, target: &ResourceTarget) -> Value {
    observed_json_kind(object, &mapping_of(target))
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
