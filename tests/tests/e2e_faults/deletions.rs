//! `hostile_deletions`: instances, CRDs and RGDs deleted at awkward moments.

use super::*;

/// Label of the objects `hostile_deletions` creates on the shared control plane.
pub(crate) const DELETION_TEST: &str = "faults-deletions";

/// An RGD whose second ConfigMap waits for the first to be ready, which it never is (nothing
/// ever writes the `gate` key): an instance of it stays in the middle of creating its children.
pub(crate) fn gated_rgd(name: &str, group: &str) -> Value {
    let mut rgd = json!({
        "apiVersion": "kro.run/v1alpha1",
        "kind": "ResourceGraphDefinition",
        "metadata": {"name": name},
        "spec": {
            "schema": {
                "apiVersion": "v1alpha1",
                "group": group,
                "kind": "GatedApp",
                "spec": {"value": "string | default=gated"}
            },
            "resources": [
                {"id": "first",
                 "readyWhen": ["${\"gate\" in first.data}"],
                 "template": {
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "${schema.metadata.name}-first"},
                    "data": {"value": "${schema.spec.value}"}
                }},
                {"id": "second", "template": {
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "${schema.metadata.name}-second"},
                    "data": {"from": "${first.metadata.name}"}
                }}
            ]
        }
    });
    label_for_test(&mut rgd, DELETION_TEST);
    rgd
}

/// The generated CRDs.
pub(crate) fn crd_api(client: &Client) -> Api<DynamicObject> {
    dynamic_api(
        client,
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        None,
    )
}

/// The name of the CRD generated for the fleet RGD.
pub(crate) fn fleet_crd_name(fleet: &Fleet) -> String {
    format!("faultapps.{}", fleet.group())
}

pub(crate) fn established(crd: &DynamicObject) -> bool {
    crd.data
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conditions| {
            conditions.iter().any(|condition| {
                condition["type"] == "Established" && condition["status"] == "True"
            })
        })
}

/// A fleet with `count` converged instances named `<prefix>-<i>`.
pub(crate) async fn small_fleet(
    client: &Client,
    operator: &OperatorProcess,
    prefix: &str,
    count: usize,
) -> anyhow::Result<(Fleet, BTreeMap<String, String>)> {
    let fleet = Fleet::create(client, DELETION_TEST).await?;
    fleet.wait_rgd_active(client, operator).await?;
    let mut expected = BTreeMap::new();
    for i in 0..count {
        let name = format!("{prefix}-{i}");
        fleet.create_instance(&name, "live").await?;
        expected.insert(name, "live".to_owned());
    }
    fleet
        .wait_converged(&expected, TIMEOUT, "the instances to converge")
        .await?;
    Ok((fleet, expected))
}

/// The gated RGD, Active, and a namespace for its instances.
pub(crate) struct Gated {
    pub(crate) rgd: Value,
    pub(crate) namespace: String,
    pub(crate) instances: Api<DynamicObject>,
    pub(crate) configmaps: Api<ConfigMap>,
}

impl Gated {
    pub(crate) async fn create(client: &Client) -> anyhow::Result<Self> {
        let namespace =
            create_test_namespace(client, DELETION_TEST, "kro-e2e-faults-gated").await?;
        let rgd = gated_rgd(&unique_name("gated"), &unique_group("gated"));
        create(&rgd_api(client), &rgd).await?;
        let rgd_name = rgd["metadata"]["name"].as_str().unwrap_or_default();
        let api = rgd_api(client);
        wait_for(TIMEOUT, "the gated RGD to be Active", || async {
            Ok(state_of(&api.get(rgd_name).await?) == Some("Active"))
        })
        .await?;
        Ok(Self {
            instances: instance_api(client, &rgd, Some(&namespace)),
            configmaps: Api::namespaced(client.clone(), &namespace),
            rgd,
            namespace,
        })
    }

    pub(crate) fn instance(&self, name: &str) -> Value {
        let group = self.rgd["spec"]["schema"]["group"]
            .as_str()
            .unwrap_or_default();
        json!({
            "apiVersion": format!("{group}/v1alpha1"),
            "kind": "GatedApp",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {}
        })
    }
}

/// An instance deleted while its second child waits for the first one's readiness.
pub(crate) async fn instance_deleted_mid_creation(gated: &Gated) -> anyhow::Result<String> {
    let Gated {
        instances,
        configmaps,
        ..
    } = gated;
    create(instances, &gated.instance("gated")).await?;
    wait_for(TIMEOUT, "the first child to be created", || async {
        Ok(configmaps.get_opt("gated-first").await?.is_some())
    })
    .await?;
    let instance = instances.get("gated").await?;
    ensure!(
        state_of(&instance) != Some("ACTIVE"),
        "the gated instance is ACTIVE: {}",
        instance.data["status"]
    );
    ensure!(
        configmaps.get_opt("gated-second").await?.is_none(),
        "the second child was created before the first was ready"
    );
    delete_and_wait(instances, "gated", TIMEOUT)
        .await
        .context("the instance deleted mid-creation to go")?;
    ensure!(
        configmaps.get_opt("gated-first").await?.is_none(),
        "the first child outlived its instance"
    );
    ensure!(
        configmaps.get_opt("gated-second").await?.is_none(),
        "the second child was created during the deletion"
    );
    Ok("the instance went away with its first child; the second was never created".to_owned())
}

/// [`QUICK_DELETIONS`] instances deleted right after they were created.
pub(crate) async fn instances_deleted_right_after_creation(
    gated: &Gated,
) -> anyhow::Result<String> {
    let Gated {
        instances,
        configmaps,
        ..
    } = gated;
    // Deleted before the operator has put its finalizer on: the operator's first look at the
    // instance races with its deletion.
    let mut created_uids = BTreeMap::new();
    for i in 0..QUICK_DELETIONS {
        let name = format!("quick-{i}");
        let created = create(instances, &gated.instance(&name)).await?;
        instances.delete(&name, &DeleteParams::default()).await?;
        created_uids.insert(name, created.uid().unwrap_or_default());
    }
    let gone = wait_for(TIMEOUT, "the quickly deleted instances to go", || async {
        Ok(instances
            .list(&ListParams::default())
            .await?
            .items
            .is_empty())
    })
    .await;
    if let Err(error) = gone {
        let left = instances.list(&ListParams::default()).await?.items;
        let resurrected = left
            .iter()
            .filter(|instance| {
                created_uids
                    .get(&instance.name_any())
                    .is_some_and(|uid| instance.uid().as_ref() != Some(uid))
            })
            .count();
        let details: Vec<String> = left
            .iter()
            .map(|instance| {
                format!(
                    "{} (uid {:?}, created as {:?}, deleting: {}, finalizers {:?})",
                    instance.name_any(),
                    instance.uid(),
                    created_uids.get(&instance.name_any()),
                    instance.metadata.deletion_timestamp.is_some(),
                    instance.finalizers(),
                )
            })
            .collect();
        bail!(
            "{} of {QUICK_DELETIONS} deleted instances are still there, {resurrected} of them \
             recreated as new objects (another UID, kro's finalizer, not being deleted); {error:#}; left: \
             {details:?}",
            left.len()
        );
    }
    // The API server may hard-delete an instance whose finalizer kro added a moment before
    // (kubernetes issue 77988); kro then deletes the children it applied meanwhile as soon as
    // it sees the instance go, a moment after the test does.
    let owned = ListParams::default().labels(&format!("{OWNED_LABEL}=true"));
    let children_gone = wait_for(CHILDREN_SWEPT_TIMEOUT, "the children to go", || async {
        Ok(configmaps.list(&owned).await?.items.is_empty())
    })
    .await;
    if children_gone.is_err() {
        let left: Vec<String> = configmaps
            .list(&owned)
            .await?
            .items
            .iter()
            .map(|object| object.name_any())
            .collect();
        bail!("children left behind: {left:?}");
    }
    Ok("all gone, no child left".to_owned())
}

/// The generated CRD deleted by hand while 3 instances are ACTIVE.
pub(crate) async fn crd_deleted_by_hand(
    client: &Client,
    operator: &OperatorProcess,
) -> anyhow::Result<String> {
    let (fleet, _) = small_fleet(client, operator, "crd", 3).await?;
    let crds = crd_api(client);
    let crd_name = fleet_crd_name(&fleet);
    let old_uid = crds.get(&crd_name).await?.metadata.uid;
    let deleted = Instant::now();
    crds.delete(&crd_name, &DeleteParams::default()).await?;
    wait_for(CONVERGE_TIMEOUT, "the CRD to be recreated", || async {
        Ok(crds
            .get_opt(&crd_name)
            .await?
            .is_some_and(|crd| crd.metadata.uid != old_uid && established(&crd)))
    })
    .await?;
    let recreated = deleted.elapsed().as_secs_f64();
    fleet.wait_rgd_active(client, operator).await?;
    let instances = fleet.instances.list(&ListParams::default()).await?.items;
    ensure!(
        instances.is_empty(),
        "instances survived their CRD: {:?}",
        instances
            .iter()
            .map(|object| object.name_any())
            .collect::<Vec<_>>()
    );
    let children = fleet.children().await?;
    ensure!(
        children.is_empty(),
        "children of the deleted instances are left: {:?}",
        children.iter().map(|child| &child.name).collect::<Vec<_>>()
    );
    let fresh = BTreeMap::from([("after-crd".to_owned(), "fresh".to_owned())]);
    let created = Instant::now();
    fleet.create_instance("after-crd", "fresh").await?;
    fleet
        .wait_converged(&fresh, TIMEOUT, "a new instance on the recreated CRD")
        .await?;
    eprintln!(
        "deletions: CRD back {recreated:.1} s after its deletion; a new instance converged in \
         {:.1} s",
        created.elapsed().as_secs_f64()
    );
    fleet
        .verify(
            &fresh,
            &mut BTreeMap::new(),
            &fresh.keys().cloned().collect(),
        )
        .await?;
    Ok(format!(
        "CRD recreated by the operator {recreated:.0} s after its deletion, RGD Active; the CRD's \
         deletion took the instances, whose children kro deleted; a new instance converged"
    ))
}

/// Without `--allow-crd-deletion`: the RGD deleted while 3 instances are ACTIVE, then created
/// again.
pub(crate) async fn rgd_deleted_keeping_crd(
    client: &Client,
    operator: &OperatorProcess,
) -> anyhow::Result<String> {
    let (fleet, mut expected) = small_fleet(client, operator, "kept", 3).await?;
    let mut uids = BTreeMap::new();
    fleet
        .verify(&expected, &mut uids, &expected.keys().cloned().collect())
        .await?;
    delete_and_wait(&rgd_api(client), fleet.rgd_name(), TIMEOUT)
        .await
        .context("the RGD to go")?;
    let crd = crd_api(client).get_opt(&fleet_crd_name(&fleet)).await?;
    ensure!(
        crd.as_ref()
            .is_some_and(|crd| crd.metadata.deletion_timestamp.is_none()),
        "the CRD was deleted without --allow-crd-deletion"
    );
    // Instances and children stay as they were (unmanaged until the RGD comes back).
    fleet
        .verify(&expected, &mut uids, &BTreeSet::new())
        .await
        .context("after the RGD deletion")?;
    for instance in fleet.instances.list(&ListParams::default()).await?.items {
        ensure!(
            instance
                .finalizers()
                .iter()
                .any(|f| f == "kro.run/finalizer")
                && instance.metadata.deletion_timestamp.is_none(),
            "instance {} changed with its RGD's deletion: finalizers {:?}",
            instance.name_any(),
            instance.finalizers()
        );
    }

    let mut again = fleet.rgd.clone();
    again["metadata"] = json!({"name": fleet.rgd_name()});
    label_for_test(&mut again, DELETION_TEST);
    create(&rgd_api(client), &again).await?;
    fleet.wait_rgd_active(client, operator).await?;
    let first = expected.keys().next().cloned().context("no instance")?;
    fleet
        .set_values(std::slice::from_ref(&first), "managed-again")
        .await?;
    expected.insert(first, "managed-again".to_owned());
    fleet
        .wait_converged(&expected, TIMEOUT, "the instances to be managed again")
        .await?;
    fleet
        .verify(&expected, &mut uids, &BTreeSet::new())
        .await
        .context("after the RGD came back")?;
    Ok(
        "RGD gone; CRD, instances and children kept (unmanaged); the RGD created again adopted \
        them with the same child UIDs and applied a spec change"
            .to_owned(),
    )
}

/// With `--allow-crd-deletion`: the RGD deleted while 3 instances are ACTIVE.
pub(crate) async fn rgd_deleted_with_crd(
    client: &Client,
    operator: &OperatorProcess,
) -> anyhow::Result<String> {
    let (fleet, _) = small_fleet(client, operator, "gone", 3).await?;
    let crds = crd_api(client);
    let crd_name = fleet_crd_name(&fleet);
    delete_and_wait(&rgd_api(client), fleet.rgd_name(), TIMEOUT)
        .await
        .context("the RGD to go")?;
    let gone = wait_for(TIMEOUT, "the CRD and its instances to go", || async {
        Ok(crds.get_opt(&crd_name).await?.is_none())
    })
    .await;
    if let Err(error) = gone {
        // Say what holds the CRD, then release it so the shared control plane stays clean.
        let stuck: Vec<String> = fleet
            .instances
            .list(&ListParams::default())
            .await
            .map(|list| {
                list.items
                    .iter()
                    .map(|instance| {
                        format!(
                            "{} finalizers {:?}",
                            instance.name_any(),
                            instance.finalizers()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        for instance in fleet.instances.list(&ListParams::default()).await?.items {
            let release = Patch::Merge(json!({"metadata": {"finalizers": null}}));
            let _ = fleet
                .instances
                .patch(&instance.name_any(), &PatchParams::default(), &release)
                .await;
        }
        bail!(
            "the CRD stays Terminating: {} instance(s) keep kro's finalizer once the RGD's \
             instance controller is stopped; {error:#}; instances: {stuck:?}",
            stuck.len()
        );
    }
    let children = fleet.children().await?;
    ensure!(
        children.is_empty(),
        "children orphaned by the RGD deletion: {:?}",
        children.iter().map(|child| &child.name).collect::<Vec<_>>()
    );
    Ok("RGD, CRD and instances gone; kro deleted the instances' children".to_owned())
}
