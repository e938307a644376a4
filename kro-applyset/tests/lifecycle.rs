//! A simulated instance lifecycle driven only through the public API: create, shrink (an
//! includeWhen turning false), a UID conflict during prune, then graph-free deletion.

use std::collections::BTreeMap;

use kro_applyset::labels::{self, CollectionPosition, KroVersion};
use kro_applyset::{
    ChildMeta, DeletionPlan, InstanceRef, KindScope, ObjectKey, PassInventory, plan_deletion,
    plan_prune, validate_parent_inventory,
};
use serde_json::{Value, json};

/// A tiny in-memory cluster: objects by key, each with a UID.
#[derive(Default)]
struct Cluster {
    objects: BTreeMap<ObjectKey, Value>,
    next_uid: u32,
}

impl Cluster {
    fn apply(&mut self, key: &ObjectKey, labels: &BTreeMap<String, String>, apply_order: u32) {
        let uid = match self.objects.get(key) {
            Some(existing) => existing["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            None => {
                self.next_uid += 1;
                format!("uid-{}", self.next_uid)
            }
        };
        let mut object = json!({
            "apiVersion": key.api_version(),
            "kind": key.kind,
            "metadata": {"name": key.name, "uid": uid}
        });
        if let Some(namespace) = &key.namespace {
            object["metadata"]["namespace"] = json!(namespace);
        }
        labels::stamp_metadata(&mut object, labels, &labels::child_annotations(apply_order))
            .expect("object is a map");
        self.objects.insert(key.clone(), object);
    }

    fn list(&self, selector: &str) -> Vec<ChildMeta> {
        let (label, value) = selector.split_once('=').expect("equality selector");
        self.objects
            .values()
            .filter(|object| object["metadata"]["labels"][label] == json!(value))
            .map(|object| ChildMeta::from_object(object).expect("well-formed object"))
            .collect()
    }
}

fn scope_of(group_kind: &kro_applyset::GroupKind) -> KindScope {
    match group_kind.kind.as_str() {
        "Namespace" => KindScope::Cluster,
        _ => KindScope::Namespaced,
    }
}

#[test]
fn create_shrink_and_delete() {
    let mut lifecycle = Lifecycle::new();
    lifecycle.apply_everything();
    // From pass 2 on, the workers collection is excluded (includeWhen false) and the service
    // node was removed from the RGD.
    let applied = vec![lifecycle.deployment.clone()];
    let orders_without_service =
        BTreeMap::from([("deployment".to_owned(), 1), ("workers".to_owned(), 2)]);
    lifecycle.prune_meets_a_uid_conflict(&applied, &orders_without_service);
    lifecycle.prune_completes(&applied, &orders_without_service);
    lifecycle.delete_through_the_inventory();
    lifecycle.tampered_inventory_blocks_deletion();
}

/// What the passes of one instance's life hand on to the next: the cluster and the parent's
/// labels and annotations.
struct Lifecycle {
    instance: InstanceRef,
    version: KroVersion,
    tooling: String,
    id: String,
    cluster: Cluster,
    parent_annotations: BTreeMap<String, String>,
    parent_labels: BTreeMap<String, String>,
    deployment: ObjectKey,
    service: ObjectKey,
    workers: Vec<ObjectKey>,
}

impl Lifecycle {
    fn new() -> Self {
        let instance = InstanceRef {
            group: "kro.run".into(),
            version: "v1alpha1".into(),
            kind: "WebApp".into(),
            namespace: Some("team".into()),
            name: "web".into(),
            uid: "inst-uid".into(),
        };
        let version = KroVersion::new("v0.9.0");
        let tooling = version.tooling();
        let id = instance.applyset_id();
        Self {
            instance,
            version,
            tooling,
            id,
            cluster: Cluster::default(),
            parent_annotations: BTreeMap::new(),
            parent_labels: BTreeMap::new(),
            deployment: ObjectKey::namespaced("apps", "v1", "Deployment", "team", "web"),
            service: ObjectKey::namespaced("", "v1", "Service", "team", "web"),
            workers: (0..2)
                .map(|i| {
                    ObjectKey::namespaced("", "v1", "ConfigMap", "jobs", format!("worker-{i}"))
                })
                .collect(),
        }
    }

    /// Pass 1: everything is applied.
    fn apply_everything(&mut self) {
        let graph_orders = BTreeMap::from([
            ("deployment".to_owned(), 1),
            ("service".to_owned(), 2),
            ("workers".to_owned(), 2),
        ]);
        let mut applied = vec![self.deployment.clone(), self.service.clone()];
        applied.extend(self.workers.iter().cloned());
        let pass = PassInventory::new(self.instance.parent(), &applied, &self.parent_annotations)
            .expect("empty memory");
        let metadata = pass.superset_metadata(&self.tooling);
        self.parent_labels.extend(metadata.labels.clone());
        self.parent_annotations.extend(metadata.annotations);
        let instance = &self.instance;
        let version = &self.version;
        self.cluster.apply(
            &self.deployment,
            &labels::child_labels(instance, version, "deployment", None),
            1,
        );
        self.cluster.apply(
            &self.service,
            &labels::child_labels(instance, version, "service", None),
            2,
        );
        for (index, worker) in self.workers.iter().enumerate() {
            let position = CollectionPosition {
                index,
                size: self.workers.len(),
            };
            self.cluster.apply(
                worker,
                &labels::child_labels(instance, version, "workers", Some(position)),
                2,
            );
        }
        assert_eq!(
            self.parent_annotations[labels::CONTAINS_GROUP_KINDS_ANNOTATION],
            "ConfigMap,Deployment.apps,Service"
        );
        assert_eq!(
            self.parent_annotations[labels::ADDITIONAL_NAMESPACES_ANNOTATION],
            "jobs"
        );

        let observed = list_scope(&self.cluster, &pass);
        assert_eq!(observed.len(), 4);
        assert!(plan_prune(&self.id, &observed, &applied, &graph_orders).is_empty());
        let shrunk = pass.batch_metadata(&self.tooling);
        self.parent_annotations.extend(shrunk.annotations);
    }

    /// Pass 2: the excluded workers and the removed service are pruned, but the service was
    /// recreated by someone else between list and delete.
    fn prune_meets_a_uid_conflict(
        &mut self,
        applied: &[ObjectKey],
        orders_without_service: &BTreeMap<String, u32>,
    ) {
        let pass = PassInventory::new(self.instance.parent(), applied, &self.parent_annotations)
            .expect("valid memory");
        // Memory keeps ConfigMap and the `jobs` namespace in scope although nothing is applied there.
        let superset = pass.superset_metadata(&self.tooling);
        assert_eq!(
            superset.annotations[labels::ADDITIONAL_NAMESPACES_ANNOTATION],
            "jobs"
        );
        self.parent_annotations.extend(superset.annotations);

        let observed = list_scope(&self.cluster, &pass);
        let plan = plan_prune(&self.id, &observed, applied, orders_without_service);
        let waves: Vec<Vec<String>> = plan
            .waves
            .iter()
            .map(|wave| wave.deletions.iter().map(|d| d.key.name.clone()).collect())
            .collect();
        assert_eq!(
            waves,
            vec![
                vec!["web".to_owned()],
                vec!["worker-0".to_owned(), "worker-1".to_owned()]
            ]
        );

        // The service's UID precondition fails.
        let mut conflict = false;
        for deletion in plan.deletions() {
            let current_uid = self.cluster.objects[&deletion.key]["metadata"]["uid"]
                .as_str()
                .map(str::to_owned);
            if deletion.key == self.service {
                conflict = true;
                continue;
            }
            assert_eq!(
                current_uid.as_deref(),
                Some(deletion.uid_precondition.as_str())
            );
            self.cluster.objects.remove(&deletion.key);
        }
        assert!(conflict);
        // Incomplete prune: the superset stays on the parent and still validates.
        assert!(
            validate_parent_inventory(
                &self.instance.parent(),
                &self.parent_labels,
                &self.parent_annotations
            )
            .is_ok()
        );
    }

    /// Pass 3: the prune completes and the inventory shrinks to the Deployment alone.
    fn prune_completes(
        &mut self,
        applied: &[ObjectKey],
        orders_without_service: &BTreeMap<String, u32>,
    ) {
        let pass = PassInventory::new(self.instance.parent(), applied, &self.parent_annotations)
            .expect("valid memory");
        let observed = list_scope(&self.cluster, &pass);
        let plan = plan_prune(&self.id, &observed, applied, orders_without_service);
        assert_eq!(plan.deletions().count(), 1);
        for deletion in plan.deletions() {
            self.cluster.objects.remove(&deletion.key);
        }
        self.parent_annotations
            .extend(pass.batch_metadata(&self.tooling).annotations);
        assert_eq!(
            self.parent_annotations[labels::CONTAINS_GROUP_KINDS_ANNOTATION],
            "Deployment.apps"
        );
        assert_eq!(
            self.parent_annotations[labels::ADDITIONAL_NAMESPACES_ANNOTATION],
            ""
        );
    }

    /// Deletion: only the validated inventory is used.
    fn delete_through_the_inventory(&mut self) {
        let scope = kro_applyset::deletion_scope(
            &self.instance.parent(),
            &self.parent_labels,
            &self.parent_annotations,
        )
        .expect("valid inventory");
        let members: Vec<ChildMeta> = scope
            .list_requests(scope_of)
            .requests
            .iter()
            .flat_map(|request| {
                self.cluster
                    .list(&request.label_selector)
                    .into_iter()
                    .filter(move |member| {
                        member.key.kind == request.group_kind.kind
                            && member.key.namespace == request.namespace
                    })
            })
            .collect();
        let plan = plan_deletion(
            &self.instance.parent(),
            &self.parent_labels,
            &self.parent_annotations,
            &members,
        )
        .expect("valid inventory");
        assert_eq!(plan.next_wave().map(|wave| wave.order), Some(1));
        for deletion in plan
            .next_wave()
            .map(|wave| wave.members.clone())
            .unwrap_or_default()
        {
            self.cluster.objects.remove(&deletion.key);
        }
        assert!(
            DeletionPlan::new(&self.id, &self.cluster.list(&scope.label_selector)).is_complete()
        );
    }

    /// Tampering with the inventory blocks deletion.
    fn tampered_inventory_blocks_deletion(&mut self) {
        self.parent_annotations.insert(
            labels::CONTAINS_GROUP_KINDS_ANNOTATION.to_owned(),
            String::new(),
        );
        let blocked = plan_deletion(
            &self.instance.parent(),
            &self.parent_labels,
            &self.parent_annotations,
            &[],
        )
        .expect_err("hash mismatch");
        assert!(
            blocked
                .to_string()
                .contains(labels::INVENTORY_HASH_ANNOTATION)
        );
    }
}

fn list_scope(cluster: &Cluster, pass: &PassInventory) -> Vec<ChildMeta> {
    let scope = pass.prune_scope();
    scope
        .list_requests(scope_of)
        .requests
        .iter()
        .flat_map(|request| {
            cluster
                .list(&request.label_selector)
                .into_iter()
                .filter(move |member| {
                    member.key.group == request.group_kind.group
                        && member.key.kind == request.group_kind.kind
                        && member.key.namespace == request.namespace
                })
        })
        .collect()
}

#[test]
fn output_is_byte_identical_across_runs() {
    let instance = InstanceRef {
        group: "kro.run".into(),
        version: "v1alpha1".into(),
        kind: "Tenant".into(),
        namespace: None,
        name: "acme".into(),
        uid: "u".into(),
    };
    let applied: Vec<ObjectKey> = ["z", "a", "m"]
        .iter()
        .flat_map(|ns| {
            [
                ObjectKey::namespaced("", "v1", "ConfigMap", *ns, "c"),
                ObjectKey::namespaced("apps", "v1", "Deployment", *ns, "d"),
            ]
        })
        .collect();
    let render = || {
        let pass =
            PassInventory::new(instance.parent(), &applied, &BTreeMap::new()).expect("valid");
        serde_json::to_string(&pass.superset_metadata("kro/v1")).expect("serialisable")
    };
    let first = render();
    assert_eq!(first, render());
    assert!(first.contains(r#""applyset.kubernetes.io/additional-namespaces":"a,m,z""#));
}
