//! End to end: the operator under faults of a real control plane and hostile inputs.
//!
//! Cases that break the control plane or kill the operator run on a private control plane each
//! (`PrivateControlPlane`: scripts/testenv-up.sh, stopped when dropped, also on failure) with
//! their own operator, one at a time (`DISRUPTIVE`):
//! - `sigkill_storm`: 200 instances, 20 rounds of "change every spec, SIGKILL the operator after
//!   a random delay, start it again"; after each round every instance converges with exactly its
//!   children, none duplicated, orphaned or recreated.
//! - `control_plane_outages`: kube-apiserver restarted under load, etcd paused, etcd stopped and
//!   started, and watches resumed from a compacted revision (410 Gone): the same operator process
//!   converges every instance and still sees new events afterwards.
//!
//! The other cases use the shared control plane (`KRO_TEST_KUBECONFIG`), one at a time
//! (`SHARED`), because two operators on one control plane would both act on every RGD:
//! - `drift_and_conflicts`: another field manager force-applies a field kro owns; rapid spec
//!   updates; a child deleted behind the operator's back is recreated within 40 s.
//! - `hostile_deletions`: an instance deleted while its children are being created, a generated
//!   CRD deleted by hand, an RGD deleted with live instances (with and without
//!   `--allow-crd-deletion`). The end states are documented in docs/reliability.md.
//!
//! Every case records what it tried and how it ended, failures included, with
//! `reliability::record` (category `fault`), from which the table of docs/reliability.md is
//! rendered.
//!
//! The steps of each case live in `e2e_faults/`, as modules of this one test binary: the
//! `DISRUPTIVE` and `SHARED` locks serialise the cases only within one process.

#[path = "e2e_faults/deletions.rs"]
mod deletions;
#[path = "e2e_faults/drift.rs"]
mod drift;
mod e2e_support;
#[path = "e2e_faults/fleet.rs"]
mod fleet;
#[path = "e2e_faults/outages.rs"]
mod outages;
#[path = "e2e_faults/storm.rs"]
mod storm;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail, ensure};
use deletions::*;
use drift::*;
use fleet::*;
use outages::*;
use storm::*;

use e2e_support::{
    INSTANCE_ID_LABEL, OWNED_LABEL, SweptKind, create, create_test_namespace, delete_and_wait,
    dynamic_api, instance_api, label_for_test, no_unlabelled, operator_log, remove_test_objects,
    rgd_api, start_operator, start_operator_on, state_of, unique_group, wait_rgd_active,
};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kro_integration_tests::reliability::record;
use kro_integration_tests::testenv::{Component, Disruption, PrivateControlPlane};
use kro_integration_tests::{OperatorProcess, client, unique_name, wait_for};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt as _};
use serde_json::{Value, json};

/// Serialises the cases that run a private control plane: each one loads the machine.
static DISRUPTIVE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
/// Serialises the cases that run an operator on the shared control plane.
static SHARED: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The kind of the RGD most cases use.
const KIND: &str = "FaultApp";
/// The label that names a child's node in the graph.
const NODE_ID_LABEL: &str = "kro.run/node-id";
/// The children of one instance: node id (also the suffix of the child's name) and kind.
const CHILDREN: [(&str, &str); 2] = [("config", "ConfigMap"), ("secret", "Secret")];
/// Child kinds the clean-up of the shared control plane sweeps.
const CHILD_KINDS: [SweptKind; 2] = [
    SweptKind {
        api_version: "v1",
        kind: "ConfigMap",
        plural: "configmaps",
    },
    SweptKind {
        api_version: "v1",
        kind: "Secret",
        plural: "secrets",
    },
];

/// Instances of the SIGKILL storm.
const STORM_INSTANCES: usize = 200;
/// Rounds of the SIGKILL storm.
const STORM_ROUNDS: u32 = 20;
/// The storm's operator works on several instances at once, so a kill interrupts several
/// reconciles in flight (and 200 instances converge in a few seconds per round).
const STORM_OPERATOR_ARGS: [&str; 2] = ["--dynamic-controller-concurrent-reconciles", "4"];
/// Instances of the control-plane outage cases.
const LOAD_INSTANCES: usize = 50;
/// How long the whole fleet may take to converge after a fault.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(180);
/// How long one instance or RGD may take to converge.
const TIMEOUT: Duration = Duration::from_secs(60);
/// A deleted child must be back within this; the ACTIVE resync is 60 s, so recreation inside
/// 40 s shows that the child's watch event drove it.
const RECREATE_TIMEOUT: Duration = Duration::from_secs(40);
/// Instances created and deleted at once; about one in forty is hard-deleted by the API server
/// right after kro's finalizer was added (kubernetes issue 77988).
const QUICK_DELETIONS: u32 = 40;
/// How long the children of an instance hard-deleted past kro's finalizer may outlive it.
const CHILDREN_SWEPT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long clean-ups wait before forcing.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(60);

/// The RGD: a ConfigMap holding `spec.value` and a Secret that reads it from the ConfigMap, so
/// an instance converges in two waves and a kill can land between them.
fn fleet_rgd(name: &str, group: &str, test: &str) -> Value {
    let mut rgd = json!({
        "apiVersion": "kro.run/v1alpha1",
        "kind": "ResourceGraphDefinition",
        "metadata": {"name": name},
        "spec": {
            "schema": {
                "apiVersion": "v1alpha1",
                "group": group,
                "kind": KIND,
                "spec": {"value": "string | default=initial"}
            },
            "resources": [
                {"id": "config", "template": {
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "${schema.metadata.name}-config"},
                    "data": {"value": "${schema.spec.value}"}
                }},
                {"id": "secret", "template": {
                    "apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": "${schema.metadata.name}-secret"},
                    "type": "Opaque",
                    "stringData": {"value": "${config.data.value}"}
                }}
            ]
        }
    });
    label_for_test(&mut rgd, test);
    rgd
}

/// Adds the operator's log to an error.
fn logged<T>(result: anyhow::Result<T>, operator: &OperatorProcess) -> anyhow::Result<T> {
    result.map_err(|error| {
        anyhow!(
            "{error:#}\n--- operator log (last 60 lines):\n{}",
            operator.log_tail(60)
        )
    })
}

#[tokio::test]
async fn sigkill_storm() -> anyhow::Result<()> {
    let _serial = DISRUPTIVE.lock().await;
    let case = format!("SIGKILL during reconcile ({STORM_INSTANCES} instances)");
    let outcome = storm().await;
    match &outcome {
        Ok(summary) => record("fault", &case, STORM_ROUNDS, summary),
        Err(error) => record("fault", &case, STORM_ROUNDS, &failure_summary(error)),
    }
    outcome.map(drop)
}

/// The reliability table's outcome for a failed case: the error's first clause (the failing
/// cases put their finding first; details follow after a `;`).
fn failure_summary(error: &anyhow::Error) -> String {
    let text = format!("{error:#}");
    let first = text.lines().next().unwrap_or_default();
    let clause = first.split("; ").next().unwrap_or(first);
    let short: String = clause.chars().take(240).collect();
    format!("FAILED: {short}")
}

#[tokio::test]
async fn control_plane_outages() -> anyhow::Result<()> {
    let _serial = DISRUPTIVE.lock().await;
    let plane = PrivateControlPlane::start()?;
    let client = plane.client().await?;
    let operator = start_operator_on(&client, plane.kubeconfig(), &[]).await?;
    let fleet = Fleet::create(&client, "faults-outage").await?;
    fleet.wait_rgd_active(&client, &operator).await?;
    let mut outages = Outages {
        pid: operator.pid(),
        plane,
        operator,
        fleet,
        expected: BTreeMap::new(),
        uids: BTreeMap::new(),
    };

    // Each step runs even when an earlier one failed, so one failure cannot hide another.
    let mut failures = Vec::new();
    let steps: [(&str, u32); 4] = [
        ("kube-apiserver restarted under load (50 instances)", 1),
        ("etcd paused (SIGSTOP) for 10 s under load", 1),
        ("etcd stopped for 5 s and started under load", 1),
        ("watches resumed from a compacted revision (410 Gone)", 1),
    ];
    for (index, (case, tries)) in steps.iter().enumerate() {
        let started = Instant::now();
        let result = match index {
            0 => apiserver_restart(&mut outages).await,
            1 => etcd_pause(&mut outages).await,
            2 => etcd_restart(&mut outages).await,
            _ => watches_resume_after_compaction(&mut outages).await,
        };
        eprintln!(
            "outages: {case}: {} in {:.1} s",
            if result.is_ok() { "ok" } else { "FAILED" },
            started.elapsed().as_secs_f64()
        );
        match result {
            Ok(summary) => record("fault", case, *tries, &summary),
            Err(error) => {
                record("fault", case, *tries, &failure_summary(&error));
                failures.push(format!("{case}: {error:#}"));
            }
        }
    }
    if !failures.is_empty() {
        panic!(
            "{}\n--- kube-apiserver log:\n{}",
            failures.join("\n\n"),
            outages.plane.log_tail(Component::ApiServer, 20)
        );
    }
    Ok(())
}

#[tokio::test]
async fn drift_and_conflicts() -> anyhow::Result<()> {
    let _serial = SHARED.lock().await;
    let client = client().await?;
    let operator = start_operator(&client, &["--allow-crd-deletion"]).await?;
    if let Err(error) = remove_test_objects(
        &client,
        DRIFT_TEST,
        no_unlabelled,
        &CHILD_KINDS,
        CLEANUP_TIMEOUT,
    )
    .await
    {
        eprintln!("warning: removing leftovers of earlier runs: {error:#}");
    }
    let fleet = Fleet::create(&client, DRIFT_TEST).await?;
    fleet.wait_rgd_active(&client, &operator).await?;
    let instance = "drift";
    fleet.create_instance(instance, "kro-value").await?;
    let expected = BTreeMap::from([(instance.to_owned(), "kro-value".to_owned())]);
    logged(
        fleet
            .wait_converged(&expected, TIMEOUT, "the instance to converge")
            .await,
        &operator,
    )?;

    let mut failures = Vec::new();
    // A field kro owns, force-applied by another manager, three times.
    let tries = 3;
    let conflict = force_applies_are_taken_back(&fleet, instance, tries).await;
    let case = "another field manager force-applies a field kro owns";
    match conflict {
        Ok(slowest) => record(
            "fault",
            case,
            tries,
            &format!("kro took the field back every time (slowest {slowest:.1} s)"),
        ),
        Err(error) => {
            record("fault", case, tries, &failure_summary(&error));
            failures.push(format!("{case}: {error:#}"));
        }
    }

    let case = "30 spec updates back to back (status write conflicts)";
    match rapid_updates_converge(&fleet, instance).await {
        Ok(()) => record(
            "fault",
            case,
            1,
            "converged to the last update, children match",
        ),
        Err(error) => {
            record("fault", case, 1, &failure_summary(&error));
            failures.push(format!("{case}: {error:#}"));
        }
    }

    // Children deleted behind the operator's back, ConfigMap and Secret in turn.
    let tries = 6;
    let recreated = deleted_children_are_recreated(&fleet, instance, tries).await;
    let case = "child deleted behind the operator's back";
    match recreated {
        Ok(slowest) => record(
            "fault",
            case,
            tries,
            &format!("recreated every time within 40 s (slowest {slowest:.1} s)"),
        ),
        Err(error) => {
            record("fault", case, tries, &failure_summary(&error));
            failures.push(format!("{case}: {error:#}"));
        }
    }
    if failures.is_empty() {
        let mut uids = BTreeMap::new();
        let all = expected.keys().cloned().collect();
        if let Err(error) = fleet.verify(&expected, &mut uids, &all).await {
            failures.push(format!("final state: {error:#}"));
        }
    }

    let cleaned = remove_test_objects(
        &client,
        DRIFT_TEST,
        no_unlabelled,
        &CHILD_KINDS,
        CLEANUP_TIMEOUT,
    )
    .await;
    if !failures.is_empty() {
        panic!(
            "{}\n--- operator log:\n{}",
            failures.join("\n\n"),
            operator.log_tail(80)
        );
    }
    cleaned
}

#[tokio::test]
async fn hostile_deletions() -> anyhow::Result<()> {
    let _serial = SHARED.lock().await;
    let client = client().await?;
    let mut operator = start_operator(&client, &["--allow-crd-deletion"]).await?;
    if let Err(error) = remove_test_objects(
        &client,
        DELETION_TEST,
        no_unlabelled,
        &CHILD_KINDS,
        CLEANUP_TIMEOUT,
    )
    .await
    {
        eprintln!("warning: removing leftovers of earlier runs: {error:#}");
    }

    let mut failures = Vec::new();
    let mut step_started = Instant::now();
    let mut note =
        |case: &str, tries: u32, result: anyhow::Result<String>, operator: &OperatorProcess| {
            eprintln!(
                "deletions: {case}: {} in {:.1} s",
                if result.is_ok() { "ok" } else { "FAILED" },
                step_started.elapsed().as_secs_f64()
            );
            step_started = Instant::now();
            match result {
                Ok(summary) => record("fault", case, tries, &summary),
                Err(error) => {
                    record("fault", case, tries, &failure_summary(&error));
                    failures.push(format!(
                        "{case}: {error:#}\n--- operator log:\n{}",
                        operator.log_tail(40)
                    ));
                }
            }
        };
    match Gated::create(&client).await {
        Ok(gated) => {
            let result = instance_deleted_mid_creation(&gated).await;
            note(
                "instance deleted while its children are being created",
                1,
                result,
                &operator,
            );
            let result = instances_deleted_right_after_creation(&gated).await;
            note(
                "instance deleted right after creation (before kro's finalizer)",
                QUICK_DELETIONS,
                result,
                &operator,
            );
        }
        Err(error) => note(
            "instance deleted while its children are being created",
            1,
            Err(error),
            &operator,
        ),
    }
    let result = crd_deleted_by_hand(&client, &operator).await;
    note("generated CRD deleted by hand", 1, result, &operator);
    let result = rgd_deleted_with_crd(&client, &operator).await;
    note(
        "RGD deleted with live instances (--allow-crd-deletion)",
        1,
        result,
        &operator,
    );
    operator.kill()?;
    operator = start_operator(&client, &[]).await?;
    let result = rgd_deleted_keeping_crd(&client, &operator).await;
    note(
        "RGD deleted with live instances (default: CRD kept)",
        1,
        result,
        &operator,
    );
    operator.kill()?;
    let janitor = start_operator(&client, &["--allow-crd-deletion"]).await?;
    let cleanup_started = Instant::now();
    let cleaned = remove_test_objects(
        &client,
        DELETION_TEST,
        no_unlabelled,
        &CHILD_KINDS,
        CLEANUP_TIMEOUT,
    )
    .await;
    eprintln!(
        "deletions: clean-up in {:.1} s",
        cleanup_started.elapsed().as_secs_f64()
    );
    if !failures.is_empty() {
        panic!("{}", failures.join("\n\n"));
    }
    drop(janitor);
    cleaned
}
