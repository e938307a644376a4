//! `drift_and_conflicts`: other field managers and deleted children.

use super::*;

/// Label of the objects `drift_and_conflicts` creates on the shared control plane.
pub(crate) const DRIFT_TEST: &str = "faults-drift";
/// The field manager that fights kro in `drift_and_conflicts`.
pub(crate) const INTRUDER: &str = "e2e-intruder";

/// Whether `manager` owns `data.value` of the ConfigMap.
pub(crate) fn owns_value(configmap: &ConfigMap, manager: &str) -> bool {
    configmap
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|entry| entry.manager.as_deref() == Some(manager))
        .any(|entry| {
            entry
                .fields_v1
                .as_ref()
                .is_some_and(|fields| fields.0.pointer("/f:data/f:value").is_some())
        })
}

/// Another field manager force-applies `data.value` of a child; kro takes the field back.
pub(crate) async fn force_applied_field_is_taken_back(
    fleet: &Fleet,
    instance: &str,
) -> anyhow::Result<f64> {
    let name = format!("{instance}-config");
    let intruding = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": fleet.namespace},
        "data": {"value": "intruder-value"}
    });
    let applied = Instant::now();
    let taken = fleet
        .configmaps
        .patch(
            &name,
            &PatchParams::apply(INTRUDER).force(),
            &Patch::Apply(&intruding),
        )
        .await?;
    ensure!(
        owns_value(&taken, INTRUDER),
        "the forced apply did not take data.value over"
    );
    wait_for(RECREATE_TIMEOUT, "kro to take data.value back", || async {
        let configmap = fleet.configmaps.get(&name).await?;
        Ok(configmap
            .data
            .as_ref()
            .and_then(|data| data.get("value"))
            .is_some_and(|value| value == "kro-value")
            && !owns_value(&configmap, INTRUDER))
    })
    .await?;
    Ok(applied.elapsed().as_secs_f64())
}

/// 30 spec updates back to back: the instance converges to the last one.
pub(crate) async fn rapid_updates_converge(fleet: &Fleet, instance: &str) -> anyhow::Result<()> {
    let updates = 30;
    for update in 0..updates {
        fleet
            .set_values(&[instance.to_owned()], &format!("update-{update}"))
            .await?;
    }
    let last = BTreeMap::from([(instance.to_owned(), format!("update-{}", updates - 1))]);
    fleet
        .wait_converged(
            &last,
            TIMEOUT,
            "the instance to converge to the last update",
        )
        .await?;
    fleet
        .verify(&last, &mut BTreeMap::new(), &last.keys().cloned().collect())
        .await?;
    // Put the value the other steps expect back.
    let back = BTreeMap::from([(instance.to_owned(), "kro-value".to_owned())]);
    fleet
        .set_values(&[instance.to_owned()], "kro-value")
        .await?;
    fleet
        .wait_converged(&back, TIMEOUT, "the instance to converge back")
        .await
}

/// Another manager force-applies a field kro owns `tries` times; the slowest take-back in
/// seconds, or the first attempt that failed.
pub(crate) async fn force_applies_are_taken_back(
    fleet: &Fleet,
    instance: &str,
    tries: u32,
) -> anyhow::Result<f64> {
    let mut slowest = 0.0_f64;
    for attempt in 1..=tries {
        match force_applied_field_is_taken_back(fleet, instance).await {
            Ok(seconds) => slowest = slowest.max(seconds),
            Err(error) => return Err(error.context(format!("attempt {attempt} of {tries}"))),
        }
    }
    Ok(slowest)
}

/// The instance's ConfigMap and Secret deleted in turn, `tries` times; the slowest recreation
/// in seconds, or the first attempt that failed.
pub(crate) async fn deleted_children_are_recreated(
    fleet: &Fleet,
    instance: &str,
    tries: u32,
) -> anyhow::Result<f64> {
    let mut slowest = 0.0_f64;
    for attempt in 1..=tries {
        let result = if attempt % 2 == 1 {
            delete_child_and_wait(&fleet.configmaps, &format!("{instance}-config")).await
        } else {
            delete_child_and_wait(&fleet.secrets, &format!("{instance}-secret")).await
        };
        match result {
            Ok(seconds) => slowest = slowest.max(seconds),
            Err(error) => return Err(error.context(format!("attempt {attempt} of {tries}"))),
        }
    }
    Ok(slowest)
}
