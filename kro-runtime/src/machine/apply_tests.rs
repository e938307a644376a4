//! The machine's decisions about apply requests: which changed items need no request because
//! the driver applied them before.

use super::tests::{ChildCache, Server, cluster_after, drive, graph, instance, settings};
use super::*;
use crate::core::{InMemoryView, LabelSelector};
use serde_json::json;

/// A cluster and the bodies the driver remembers applying (object, UID, body).
struct Remembering<'a> {
    cluster: &'a InMemoryView,
    applied: Vec<(ObjectKey, String, Value)>,
}

impl<'a> Remembering<'a> {
    /// Remembers every body `machine` applied, on the UIDs the cluster holds.
    fn after(machine: &Reconcile<'_>, cluster: &'a InMemoryView) -> Self {
        let plan = &machine.last_plan().expect("a plan").0;
        let applied = plan
            .apply
            .iter()
            .map(|item| {
                let target = machine.target(&item.node_id).expect("a node");
                let observed = machine.observed(target, &item.key).expect("applied");
                let uid = observed["metadata"]["uid"].as_str().expect("a uid");
                (item.key.clone(), uid.to_owned(), item.body.clone())
            })
            .collect();
        Self { cluster, applied }
    }
}

impl KnownState for Remembering<'_> {
    fn get(&self, target: &ResourceTarget, namespace: Option<&str>, name: &str) -> Known {
        KnownState::get(self.cluster, target, namespace, name)
    }

    fn list(
        &self,
        target: &ResourceTarget,
        namespace: Option<&str>,
        selector: &LabelSelector,
    ) -> Listing {
        KnownState::list(self.cluster, target, namespace, selector)
    }

    fn applied_before(&self, key: &ObjectKey, uid: &str, body: &Value) -> bool {
        self.applied.iter().any(|(known, known_uid, known_body)| {
            known == key && known_uid == uid && known_body == body
        })
    }
}

/// The node ids of every apply line of a transcript.
fn applied_ids(transcript: &str) -> Vec<&str> {
    transcript
        .lines()
        .filter(|line| line.starts_with("apply "))
        .collect()
}

#[test]
fn bodies_the_driver_applied_before_are_answered_by_the_machine_without_a_request() {
    let graph = graph();
    let mut first = Reconcile::new(&graph, instance(), "2026-01-01T00:00:00Z", settings());
    drive(&mut first, &ChildCache, Server::Accepting);
    let cluster = cluster_after(&first);
    let remembering = Remembering::after(&first, &cluster);
    let settled = first.instance().clone();
    let mut again = Reconcile::new(&graph, settled, "2026-01-01T00:01:00Z", settings());
    let (transcript, outcome) = drive(&mut again, &remembering, Server::Accepting);
    assert!(applied_ids(&transcript).is_empty(), "{transcript}");
    assert_eq!(again.skipped_applies(), 2);
    assert_eq!(outcome.state, InstanceState::Active);
    assert!(outcome.converged);
}

#[test]
fn an_object_that_no_longer_holds_the_body_is_applied_again() {
    let graph = graph();
    let mut first = Reconcile::new(&graph, instance(), "2026-01-01T00:00:00Z", settings());
    drive(&mut first, &ChildCache, Server::Accepting);
    let mut cluster = cluster_after(&first);
    let remembering = Remembering::after(&first, &cluster);
    let applied = remembering.applied;
    // Someone edited the second ConfigMap since kro applied it.
    let second = applied
        .iter()
        .find(|(key, _, _)| key.name == "demo-second")
        .expect("the second ConfigMap");
    let mut drifted = second.2.clone();
    drifted["metadata"]["uid"] = json!(second.1);
    drifted["data"]["copy"] = json!("edited");
    cluster.insert(drifted).expect("a valid object");
    let remembering = Remembering {
        cluster: &cluster,
        applied,
    };
    let settled = first.instance().clone();
    let mut again = Reconcile::new(&graph, settled, "2026-01-01T00:01:00Z", settings());
    let (transcript, _) = drive(&mut again, &remembering, Server::Accepting);
    assert_eq!(
        applied_ids(&transcript),
        [r#"apply ["second"]"#],
        "{transcript}"
    );
    assert_eq!(again.skipped_applies(), 1);
}

#[test]
fn a_recreated_object_with_a_new_uid_is_applied_again() {
    let graph = graph();
    let mut first = Reconcile::new(&graph, instance(), "2026-01-01T00:00:00Z", settings());
    drive(&mut first, &ChildCache, Server::Accepting);
    let cluster = cluster_after(&first);
    let mut remembering = Remembering::after(&first, &cluster);
    // The memory holds the UID of an object that was deleted and created again since.
    for (key, uid, _) in &mut remembering.applied {
        if key.name == "demo-first" {
            *uid = "an-older-uid".into();
        }
    }
    let settled = first.instance().clone();
    let mut again = Reconcile::new(&graph, settled, "2026-01-01T00:01:00Z", settings());
    let (transcript, _) = drive(&mut again, &remembering, Server::Accepting);
    assert_eq!(
        applied_ids(&transcript),
        [r#"apply ["first"]"#],
        "{transcript}"
    );
    assert_eq!(again.skipped_applies(), 1);
}
