use kro_applyset::labels::{
    INSTANCE_GROUP_LABEL, INSTANCE_KIND_LABEL, INSTANCE_NAME_LABEL, INSTANCE_NAMESPACE_LABEL,
    INSTANCE_VERSION_LABEL, OWNED_LABEL, PART_OF_LABEL,
};
use kube::api::{DynamicObject, PartialObjectMeta};

use super::metadata::{LAST_APPLIED_ANNOTATION, to_cached_metadata};
use super::*;
use crate::executor::ChildEvent;

/// The kind of ConfigMaps, for tests of this module and its siblings.
pub(crate) fn config_maps() -> KindMapping {
    KindMapping {
        group: String::new(),
        version: "v1".into(),
        kind: "ConfigMap".into(),
        plural: "configmaps".into(),
        namespaced: true,
    }
}

/// The instance of a [`ChildEvent::Changed`].
fn changed(event: Option<ChildEvent>) -> Option<ObjectKey> {
    match event? {
        ChildEvent::Changed(key) => Some(key),
        other => panic!("expected a change, got {other:?}"),
    }
}

/// A client whose every connection is refused: watches keep retrying, nothing is read.
fn unreachable_client() -> Client {
    let config = kube::Config::new("http://127.0.0.1:1".parse().expect("valid uri"));
    Client::try_from(config).expect("client")
}

#[test]
fn instance_key_comes_from_child_labels() {
    let labels = BTreeMap::from([
        (INSTANCE_GROUP_LABEL.to_owned(), "kro.run".to_owned()),
        (INSTANCE_VERSION_LABEL.to_owned(), "v1alpha1".to_owned()),
        (INSTANCE_KIND_LABEL.to_owned(), "WebApp".to_owned()),
        (INSTANCE_NAME_LABEL.to_owned(), "web".to_owned()),
        (INSTANCE_NAMESPACE_LABEL.to_owned(), "team".to_owned()),
    ]);
    let key = kro_api::labels::owning_instance(&labels).expect("complete labels");
    assert_eq!(key.namespace.as_deref(), Some("team"));
    assert_eq!(key.kind, "WebApp");
    let mut cluster = labels.clone();
    cluster.remove(INSTANCE_NAMESPACE_LABEL);
    assert_eq!(
        kro_api::labels::owning_instance(&cluster).and_then(|key| key.namespace),
        None
    );
    let mut partial = labels;
    partial.remove(INSTANCE_NAME_LABEL);
    assert_eq!(kro_api::labels::owning_instance(&partial), None);
}

#[test]
fn applyset_index_follows_relabels_and_deletions() {
    let object = |name: &str, applyset: Option<&str>| {
        let mut labels = serde_json::Map::new();
        if let Some(id) = applyset {
            labels.insert(PART_OF_LABEL.into(), id.into());
        }
        (
            (Some("ns".to_owned()), name.to_owned()),
            Arc::new(serde_json::json!({"metadata": {"name": name, "labels": labels}})),
        )
    };
    let names = |objects: &KindObjects, id: &str| -> Vec<String> {
        objects
            .members(id)
            .map(|((_, name), _)| name.clone())
            .collect()
    };
    let mut objects = KindObjects::default().listed(BTreeMap::from([
        object("b", Some("applyset-1")),
        object("a", Some("applyset-1")),
        object("c", Some("applyset-2")),
        object("d", None),
    ]));
    assert_eq!(names(&objects, "applyset-1"), ["a", "b"]);
    assert_eq!(names(&objects, "applyset-2"), ["c"]);
    let kept = objects
        .get(&(Some("ns".to_owned()), "a".to_owned()))
        .expect("kept");
    assert_eq!(kept["metadata"]["labels"][PART_OF_LABEL], "applyset-1");

    let (key, value) = object("a", Some("applyset-2"));
    objects.insert(key, &value);
    assert_eq!(names(&objects, "applyset-1"), ["b"]);
    assert_eq!(names(&objects, "applyset-2"), ["a", "c"]);

    let (key, value) = object("c", None);
    objects.insert(key.clone(), &value);
    assert_eq!(names(&objects, "applyset-2"), ["a"]);
    objects.remove(&key);
    objects.remove(&(Some("ns".to_owned()), "b".to_owned()));
    assert!(names(&objects, "applyset-1").is_empty());
    assert!(!objects.by_applyset.contains_key("applyset-1"));
    assert_eq!(objects.by_name.len(), 2);
}

#[test]
fn cached_metadata_drops_managed_fields_and_carries_its_kind() {
    let kind = config_maps();
    // Items of a metadata LIST carry no apiVersion or kind of the listed resource.
    let object: PartialObjectMeta<DynamicObject> = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "a", "namespace": "ns", "managedFields": [{"manager": "x"}],
                     "labels": {"a": "b"},
                     "annotations": {LAST_APPLIED_ANNOTATION: "{...}", "keep": "me"}}
    }))
    .expect("valid metadata");
    let ((namespace, name), value) = to_cached_metadata(&kind, &object).expect("named object");
    assert_eq!((namespace.as_deref(), name.as_str()), (Some("ns"), "a"));
    assert!(value.pointer("/metadata/managedFields").is_none());
    assert_eq!(value["apiVersion"], "v1");
    assert_eq!(value["kind"], "ConfigMap");
    assert_eq!(
        value["metadata"]["annotations"],
        serde_json::json!({"keep": "me"})
    );
    assert_eq!(
        labels_of(&value),
        BTreeMap::from([("a".to_owned(), "b".to_owned())])
    );
}

/// An event that arrives while kro writes the object waits for the write: the echo of the
/// write is dropped, another version is published, and so is anything held by a write that
/// never finished.
#[tokio::test]
async fn events_during_a_write_are_held_until_it_ends() {
    let cache = ObjectCache::new(unreachable_client());
    let mut events = cache.subscribe();
    let kind = config_maps();
    let at = |version: &str| {
        Arc::new(serde_json::json!({"metadata": {
            "name": "child", "namespace": "ns", "resourceVersion": version,
            "labels": {
                OWNED_LABEL: "true",
                INSTANCE_GROUP_LABEL: "kro.run",
                INSTANCE_VERSION_LABEL: "v1alpha1",
                INSTANCE_KIND_LABEL: "App",
                INSTANCE_NAME_LABEL: "app",
                INSTANCE_NAMESPACE_LABEL: "ns",
            }
        }}))
    };
    let key = (store_key(&kind), object_name(&kind, Some("ns"), "child"));
    let hold = |version: &str| cache.lock_bodies().defer_if_writing(&key, &at(version));

    assert!(!hold("5"), "nothing is being written");
    let write = cache.begin_write(&kind, Some("ns"), "child");
    assert!(hold("5"));
    write.finish(Some(&at("5")));
    assert!(
        events.try_recv().is_none(),
        "the echo of the write is dropped"
    );

    let write = cache.begin_write(&kind, Some("ns"), "child");
    assert!(hold("5"));
    assert!(hold("6"));
    write.finish(Some(&at("5")));
    assert_eq!(
        changed(events.try_recv()).expect("a newer version").name,
        "app"
    );
    assert!(events.try_recv().is_none());

    let write = cache.begin_write(&kind, Some("ns"), "child");
    assert!(hold("7"));
    drop(write);
    assert_eq!(
        changed(events.try_recv())
            .expect("held by a cancelled write")
            .name,
        "app"
    );
    assert!(!hold("8"), "the write is over");
}

/// A cache whose ConfigMap store is synced but has no watch task: the test plays the watch.
struct PlayedWatch {
    cache: ObjectCache,
    events: ChildEvents,
    kind: KindMapping,
    store: Arc<KindStore>,
}

impl PlayedWatch {
    fn new() -> Self {
        let cache = ObjectCache::new(unreachable_client());
        let events = cache.subscribe();
        let kind = config_maps();
        let store = Arc::new(KindStore {
            objects: RwLock::new(KindObjects::default()),
            synced: AtomicBool::new(true),
            synced_signal: Notify::new(),
            task: OnceLock::new(),
        });
        cache.lock_kinds().insert(store_key(&kind), store.clone());
        Self {
            cache,
            events,
            kind,
            store,
        }
    }

    /// The names of the watched members of the ApplySet `applyset-owner`.
    fn members(&self) -> Vec<String> {
        match self
            .cache
            .applyset_members(&self.kind, Some("ns"), "applyset-owner")
        {
            CacheAnswer::Answered(members) => members
                .iter()
                .map(|m| {
                    m["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect::<Vec<_>>(),
            CacheAnswer::NotSynced => panic!("the store is synced"),
        }
    }

    /// Plays the watch reporting `event` for `name` while it is being written.
    fn hold_during_write(&self, name: &str, event: Value) -> bool {
        let key = (
            store_key(&self.kind),
            object_name(&self.kind, Some("ns"), name),
        );
        self.cache
            .lock_bodies()
            .defer_if_writing(&key, &Arc::new(event))
    }
}

/// The response to a write of the ConfigMap `name` of the instance `owner`.
fn write_response(name: &str, version: &str, owned: bool) -> Value {
    let mut labels = serde_json::Map::new();
    labels.insert(PART_OF_LABEL.into(), "applyset-owner".into());
    for (label, value) in [
        (INSTANCE_GROUP_LABEL, "kro.run"),
        (INSTANCE_VERSION_LABEL, "v1alpha1"),
        (INSTANCE_KIND_LABEL, "App"),
        (INSTANCE_NAME_LABEL, "owner"),
        (INSTANCE_NAMESPACE_LABEL, "ns"),
    ] {
        labels.insert(label.into(), value.into());
    }
    if owned {
        labels.insert(OWNED_LABEL.into(), "true".into());
    }
    serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {
            "name": name, "namespace": "ns", "uid": format!("uid-{name}"),
            "resourceVersion": version, "labels": labels,
            "managedFields": [{"manager": "kro"}],
        },
        "data": {"owner": "owner"},
    })
}

/// A write's response is in the watched metadata as soon as the write ends, so a plan made
/// before the watch reports it sees the object and its ApplySet; not when the watch reported
/// another version meanwhile, and not for objects the watch would never see.
#[tokio::test]
async fn a_write_enters_the_watched_metadata_when_it_ends() {
    let mut watch = PlayedWatch::new();
    a_write_is_known_before_its_watch_event(&mut watch);
    a_version_watched_during_the_write_stands(&mut watch);
    writes_that_cannot_be_ordered_enter_nothing(&mut watch);
    the_deletion_of_a_replaced_object_is_older_than_its_creation(&mut watch);
    assert_eq!(watch.members(), ["raced", "recreated", "shared"]);
}

fn a_write_is_known_before_its_watch_event(watch: &mut PlayedWatch) {
    let (cache, kind) = (&watch.cache, &watch.kind);
    let write = cache.begin_write(kind, Some("ns"), "shared");
    write.finish(Some(&write_response("shared", "5", true)));
    let CacheAnswer::Answered(Some(kept)) = cache.get(kind, Some("ns"), "shared") else {
        panic!("the written object is known before its watch event");
    };
    assert_eq!(kept["metadata"]["resourceVersion"], "5");
    assert_eq!(kept["metadata"].get("managedFields"), None);
    assert!(kept.get("data").is_none(), "metadata only: {kept}");
    assert_eq!(watch.members(), ["shared"]);
    assert!(
        watch.events.try_recv().is_none(),
        "kro's own write publishes nothing"
    );
}

/// The watch reported a newer version during the write: it stands, and is published.
fn a_version_watched_during_the_write_stands(watch: &mut PlayedWatch) {
    let (cache, kind) = (&watch.cache, &watch.kind);
    let newer = Arc::new(write_response("raced", "9", true));
    watch
        .store
        .objects
        .write()
        .expect("lock")
        .insert((Some("ns".into()), "raced".into()), &newer);
    let write = cache.begin_write(kind, Some("ns"), "raced");
    assert!(watch.hold_during_write("raced", Value::clone(&newer)));
    write.finish(Some(&write_response("raced", "8", true)));
    let CacheAnswer::Answered(Some(kept)) = cache.get(kind, Some("ns"), "raced") else {
        panic!("the watched object stays");
    };
    assert_eq!(kept["metadata"]["resourceVersion"], "9");
    assert_eq!(
        changed(watch.events.try_recv())
            .expect("the newer version")
            .name,
        "owner"
    );
}

fn writes_that_cannot_be_ordered_enter_nothing(watch: &mut PlayedWatch) {
    let (cache, kind, store) = (&watch.cache, &watch.kind, &watch.store);
    // Failed writes and objects without kro's label enter nothing.
    cache.begin_write(kind, Some("ns"), "failed").finish(None);
    cache
        .begin_write(kind, Some("ns"), "foreign")
        .finish(Some(&write_response("foreign", "3", false)));

    // Two writes of one name at once: their responses cannot be ordered, neither enters.
    let first = cache.begin_write(kind, Some("ns"), "twice");
    let second = cache.begin_write(kind, Some("ns"), "twice");
    second.finish(Some(&write_response("twice", "7", true)));
    first.finish(Some(&write_response("twice", "6", true)));

    // A list running, or completed, during the write may predate it: the write stays out.
    let write = cache.begin_write(kind, Some("ns"), "listing");
    store.objects.write().expect("lock").listing = true;
    write.finish(Some(&write_response("listing", "4", true)));
    store.objects.write().expect("lock").listing = false;
    let write = cache.begin_write(kind, Some("ns"), "listed");
    store.objects.write().expect("lock").lists_done += 1;
    write.finish(Some(&write_response("listed", "4", true)));
    for name in ["failed", "foreign", "twice", "listing", "listed"] {
        assert_eq!(
            cache.get(kind, Some("ns"), name),
            CacheAnswer::Answered(None),
            "{name}"
        );
    }
    assert!(watch.events.try_recv().is_none(), "nothing was held");
}

/// The deletion of the object a creation replaced is older than the creation: the new
/// object enters, and the deletion is published.
fn the_deletion_of_a_replaced_object_is_older_than_its_creation(watch: &mut PlayedWatch) {
    let (cache, kind) = (&watch.cache, &watch.kind);
    let mut deleted = write_response("recreated", "4", true);
    deleted["metadata"]["uid"] = "uid-earlier".into();
    let write = cache.begin_write(kind, Some("ns"), "recreated");
    assert!(watch.hold_during_write("recreated", deleted));
    write.finish(Some(&write_response("recreated", "5", true)));
    let CacheAnswer::Answered(Some(kept)) = cache.get(kind, Some("ns"), "recreated") else {
        panic!("the new incarnation enters");
    };
    assert_eq!(kept["metadata"]["uid"], "uid-recreated");
    assert_eq!(
        changed(watch.events.try_recv()).expect("the deletion").name,
        "owner"
    );
    assert!(watch.events.try_recv().is_none());
}

/// The late deletion event of an earlier incarnation leaves the object kro created since.
#[test]
fn a_deletion_removes_only_its_own_incarnation() {
    let incarnation = |uid: &str| {
        serde_json::json!({"metadata": {
            "name": "child", "namespace": "ns", "uid": uid, "resourceVersion": "1",
            "labels": {PART_OF_LABEL: "applyset-a"},
        }})
    };
    let key: ObjectName = (Some("ns".into()), "child".into());
    let mut objects = KindObjects::default();
    objects.insert(key.clone(), &incarnation("new"));
    assert!(!objects.remove_incarnation(&key, &incarnation("old")));
    assert!(objects.get(&key).is_some());
    assert!(objects.remove_incarnation(&key, &incarnation("new")));
    assert!(objects.get(&key).is_none());
    assert_eq!(objects.members("applyset-a").count(), 0);
    assert!(!objects.remove_incarnation(&key, &incarnation("new")));
    // Without uids (never from a real server) the name decides.
    objects.insert(
        key.clone(),
        &serde_json::json!({"metadata": {"name": "child"}}),
    );
    assert!(objects.remove_incarnation(&key, &serde_json::json!({"metadata": {"name": "child"}})));
}

/// A watch task must outlive the `ensure_watch` call that started it, however the runtime
/// schedules it: the server here refuses every connection, so a live task keeps retrying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_watch_task_keeps_running() {
    let cache = ObjectCache::new(unreachable_client());
    let kinds: Vec<KindMapping> = (0..200)
        .map(|index| KindMapping {
            group: "example.com".into(),
            version: "v1".into(),
            kind: format!("Kind{index}"),
            plural: format!("kind{index}s"),
            namespaced: true,
        })
        .collect();
    for kind in &kinds {
        cache.ensure_watch(kind);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let finished = kinds
        .iter()
        .filter(|kind| {
            cache
                .store(kind)
                .and_then(|store| store.task.get().map(tokio::task::AbortHandle::is_finished))
                .unwrap_or(true)
        })
        .count();
    assert_eq!(finished, 0, "{finished} of 200 watch tasks ended at once");
    assert!(!cache.is_synced(&kinds[0]));
}

fn body(version: &str) -> Arc<str> {
    Arc::from(serde_json::json!({"metadata": {"resourceVersion": version}}).to_string())
}

fn body_key(name: &str) -> (StoreKey, ObjectName) {
    (
        kro_api::Gvk::new("", "v1", "ConfigMap"),
        (Some("ns".into()), name.to_owned()),
    )
}

#[test]
fn a_kept_body_answers_only_at_its_resource_version() {
    let mut store = BodyStore::new(4);
    store.put(body_key("a"), "7".into(), body("7"));
    assert_eq!(store.get(&body_key("a"), "7"), Some(body("7")));
    assert_eq!(store.get(&body_key("a"), "8"), None);
    assert_eq!(store.get(&body_key("b"), "7"), None);
    store.remove(&body_key("a"));
    assert_eq!(store.get(&body_key("a"), "7"), None);
}

#[test]
fn the_body_store_stays_bounded_and_keeps_recently_used_bodies() {
    let mut store = BodyStore::new(8);
    for index in 0..8 {
        store.put(body_key(&index.to_string()), "1".into(), body("1"));
    }
    // "0" is the oldest put, but reading it makes it recent.
    assert!(store.get(&body_key("0"), "1").is_some());
    for index in 8..40 {
        store.put(body_key(&index.to_string()), "1".into(), body("1"));
        assert!(store.len() <= 8, "{} bodies kept", store.len());
    }
    assert!(store.get(&body_key("39"), "1").is_some());
    assert!(store.get(&body_key("1"), "1").is_none());
    let mut disabled = BodyStore::new(0);
    disabled.put(body_key("a"), "1".into(), body("1"));
    assert_eq!(disabled.len(), 0);
}
