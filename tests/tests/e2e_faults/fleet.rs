//! The fleet RGD's instances and children, and how to check them.

use super::*;

/// The UIDs of the children seen so far, by instance name and node id.
pub(crate) type ChildUids = BTreeMap<(String, String), String>;

/// One kro child as listed.
#[derive(Debug, Clone)]
pub(crate) struct Child {
    pub(crate) kind: &'static str,
    pub(crate) name: String,
    pub(crate) uid: String,
    pub(crate) instance_uid: Option<String>,
    pub(crate) node_id: Option<String>,
    pub(crate) value: Option<String>,
}

/// A namespace of instances of the fleet RGD, and how to check them.
pub(crate) struct Fleet {
    pub(crate) namespace: String,
    pub(crate) rgd: Value,
    pub(crate) instances: Api<DynamicObject>,
    pub(crate) configmaps: Api<ConfigMap>,
    pub(crate) secrets: Api<Secret>,
}

impl Fleet {
    /// Creates the namespace and the RGD (not waiting for it).
    pub(crate) async fn create(client: &Client, test: &str) -> anyhow::Result<Self> {
        let namespace = create_test_namespace(client, test, &format!("kro-e2e-{test}")).await?;
        let rgd = fleet_rgd(&unique_name(test), &unique_group(test), test);
        create(&rgd_api(client), &rgd).await?;
        Ok(Self {
            instances: instance_api(client, &rgd, Some(&namespace)),
            configmaps: Api::namespaced(client.clone(), &namespace),
            secrets: Api::namespaced(client.clone(), &namespace),
            namespace,
            rgd,
        })
    }

    pub(crate) fn rgd_name(&self) -> &str {
        self.rgd["metadata"]["name"].as_str().unwrap_or_default()
    }

    pub(crate) fn group(&self) -> &str {
        self.rgd["spec"]["schema"]["group"]
            .as_str()
            .unwrap_or_default()
    }

    pub(crate) async fn wait_rgd_active(
        &self,
        client: &Client,
        operator: &OperatorProcess,
    ) -> anyhow::Result<()> {
        wait_rgd_active(client, self.rgd_name(), TIMEOUT, operator).await?;
        Ok(())
    }

    pub(crate) async fn create_instance(&self, name: &str, value: &str) -> anyhow::Result<()> {
        let instance = json!({
            "apiVersion": format!("{}/v1alpha1", self.group()),
            "kind": KIND,
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {"value": value}
        });
        create(&self.instances, &instance).await?;
        Ok(())
    }

    /// Sets `spec.value` of every instance in `names`, 20 requests at a time.
    pub(crate) async fn set_values(&self, names: &[String], value: &str) -> anyhow::Result<()> {
        for chunk in names.chunks(20) {
            let mut patches = tokio::task::JoinSet::new();
            for name in chunk {
                let api = self.instances.clone();
                let name = name.clone();
                let patch = Patch::Merge(json!({"spec": {"value": value}}));
                patches.spawn(async move {
                    api.patch(&name, &PatchParams::default(), &patch)
                        .await
                        .map(drop)
                        .with_context(|| format!("updating instance {name}"))
                });
            }
            while let Some(joined) = patches.join_next().await {
                joined??;
            }
        }
        Ok(())
    }

    /// The instances of `expected` (name -> value) that have not converged: not ACTIVE, or
    /// `Ready` not True for the current generation, or a different `spec.value`.
    pub(crate) async fn unconverged(
        &self,
        expected: &BTreeMap<String, String>,
    ) -> anyhow::Result<Vec<String>> {
        let live: BTreeMap<String, DynamicObject> = self
            .instances
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .map(|instance| (instance.name_any(), instance))
            .collect();
        Ok(expected
            .iter()
            .filter(|(name, value)| {
                !live
                    .get(*name)
                    .is_some_and(|instance| instance_converged(instance, value))
            })
            .map(|(name, _)| name.clone())
            .collect())
    }

    pub(crate) async fn wait_converged(
        &self,
        expected: &BTreeMap<String, String>,
        timeout: Duration,
        what: &str,
    ) -> anyhow::Result<()> {
        let waited = wait_for(timeout, what, || async {
            Ok(self.unconverged(expected).await?.is_empty())
        })
        .await;
        if let Err(error) = waited {
            let pending = self.unconverged(expected).await.unwrap_or_default();
            let first = pending.first().cloned().unwrap_or_default();
            let status = self
                .instances
                .get(&first)
                .await
                .map(|instance| instance.data["status"].to_string())
                .unwrap_or_default();
            bail!(
                "{error:#}; {} of {} not converged, e.g. {first}: {status}",
                pending.len(),
                expected.len()
            );
        }
        Ok(())
    }

    /// The kro children (ConfigMaps and Secrets with `kro.run/owned=true`) in the namespace.
    pub(crate) async fn children(&self) -> anyhow::Result<Vec<Child>> {
        let owned = ListParams::default().labels(&format!("{OWNED_LABEL}=true"));
        let mut children = Vec::new();
        for configmap in self.configmaps.list(&owned).await?.items {
            let value = configmap
                .data
                .as_ref()
                .and_then(|data| data.get("value"))
                .cloned();
            children.push(child("ConfigMap", &configmap, value));
        }
        for secret in self.secrets.list(&owned).await?.items {
            let value = secret
                .data
                .as_ref()
                .and_then(|data| data.get("value"))
                .map(|bytes| String::from_utf8_lossy(&bytes.0).into_owned());
            children.push(child("Secret", &secret, value));
        }
        Ok(children)
    }

    /// Checks the converged fleet: every instance of `expected` has exactly its two children,
    /// holding its value; every kro child belongs to a live instance; no node is duplicated; and
    /// a child seen before (in `uids`, by instance and node) still has its UID, that is, was
    /// neither deleted nor recreated. New children are accepted only for instances in
    /// `new_instances`.
    pub(crate) async fn verify(
        &self,
        expected: &BTreeMap<String, String>,
        uids: &mut ChildUids,
        new_instances: &BTreeSet<String>,
    ) -> anyhow::Result<()> {
        let live: BTreeMap<String, String> = self
            .instances
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .filter_map(|instance| Some((instance.uid()?, instance.name_any())))
            .collect();
        let mut problems = Vec::new();
        let mut nodes: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for child in self.children().await? {
            let id = format!("{} {}", child.kind, child.name);
            let Some(instance) = child.instance_uid.as_ref().and_then(|uid| live.get(uid)) else {
                problems.push(format!(
                    "orphan: {id} names instance {:?}, which does not exist",
                    child.instance_uid
                ));
                continue;
            };
            let node = child.node_id.clone().unwrap_or_default();
            nodes
                .entry((instance.clone(), node.clone()))
                .or_default()
                .push(id.clone());
            if child.name != format!("{instance}-{node}") {
                problems.push(format!(
                    "{id}: unexpected name for node {node} of {instance}"
                ));
            }
            if child.value.as_deref() != expected.get(instance).map(String::as_str) {
                problems.push(format!(
                    "{id}: value {:?}, expected {:?}",
                    child.value,
                    expected.get(instance)
                ));
            }
            let key = (instance.clone(), node.clone());
            match uids.get(&key) {
                Some(uid) if *uid != child.uid => problems.push(format!(
                    "{id} was recreated (UID {uid} -> {}): deleted by mistake",
                    child.uid
                )),
                Some(_) => {}
                None if new_instances.contains(instance) => {
                    uids.insert(key, child.uid.clone());
                }
                None => problems.push(format!(
                    "{id} is new, but {instance} existed already without it"
                )),
            }
        }
        for ((instance, node), ids) in &nodes {
            if ids.len() > 1 {
                problems.push(format!("duplicate: node {node} of {instance} is {ids:?}"));
            }
        }
        for name in expected.keys() {
            for (node, kind) in CHILDREN {
                let key = (name.clone(), node.to_owned());
                if !nodes.contains_key(&key) {
                    let seen_before = if uids.contains_key(&key) {
                        " (it existed before: deleted by mistake)"
                    } else {
                        ""
                    };
                    problems.push(format!("missing: {kind} {name}-{node}{seen_before}"));
                }
            }
        }
        ensure!(
            problems.is_empty(),
            "{} problem(s):\n{}",
            problems.len(),
            problems.join("\n")
        );
        Ok(())
    }
}

pub(crate) fn child<K: kube::Resource>(
    kind: &'static str,
    object: &K,
    value: Option<String>,
) -> Child {
    let meta = object.meta();
    let labels = meta.labels.clone().unwrap_or_default();
    Child {
        kind,
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        instance_uid: labels.get(INSTANCE_ID_LABEL).cloned(),
        node_id: labels.get(NODE_ID_LABEL).cloned(),
        value,
    }
}

/// ACTIVE, `Ready` True for the current generation, and `spec.value` as expected.
pub(crate) fn instance_converged(instance: &DynamicObject, value: &str) -> bool {
    let generation = instance.metadata.generation;
    let ready = instance
        .data
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conditions| {
            conditions.iter().any(|condition| {
                condition["type"] == "Ready"
                    && condition["status"] == "True"
                    && condition["observedGeneration"].as_i64() == generation
            })
        });
    state_of(instance) == Some("ACTIVE")
        && ready
        && instance.data.pointer("/spec/value") == Some(&Value::from(value))
}

/// Deletes a child and waits (at most [`RECREATE_TIMEOUT`]) until kro has recreated it; returns
/// how many seconds that took.
pub(crate) async fn delete_child_and_wait<K>(api: &Api<K>, name: &str) -> anyhow::Result<f64>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let old = api.get(name).await?.meta().uid.clone();
    let deleted = Instant::now();
    api.delete(name, &DeleteParams::default()).await?;
    wait_for(
        RECREATE_TIMEOUT,
        &format!("{name} to be recreated"),
        || async {
            Ok(api
                .get_opt(name)
                .await?
                .is_some_and(|object| object.meta().uid != old))
        },
    )
    .await?;
    Ok(deleted.elapsed().as_secs_f64())
}
