//! A builder for [`PlanInput`], so that callers name only what differs from the defaults.

use kro_graph::Graph;
use serde_json::Value;

use crate::core::input::{Gating, Limits, PlanInput, RgdIdentity};
use crate::core::view::ClusterView;

/// The pass time when none is given: fixed, so that a plan made without one is reproducible.
pub const DEFAULT_NOW: &str = "1970-01-01T00:00:00Z";

/// The kro version stamped when none is given: this crate's version.
pub const DEFAULT_KRO_VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));

// `String::new` is const, so the default identity can be borrowed for any lifetime.
static NO_RGD: RgdIdentity = RgdIdentity {
    name: String::new(),
    uid: String::new(),
};

/// Builds a [`PlanInput`] (see [`PlanInput::builder`]).
#[derive(Clone, Copy)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct PlanInputBuilder<'a> {
    input: PlanInput<'a>,
}

impl std::fmt::Debug for PlanInputBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlanInputBuilder")
            .field("now", &self.input.now)
            .field("kro_version", &self.input.kro_version)
            .field("rgd", self.input.rgd)
            .field("limits", &self.input.limits)
            .finish_non_exhaustive()
    }
}

impl<'a> PlanInput<'a> {
    /// A builder with the required inputs. The rest defaults to: `now` [`DEFAULT_NOW`],
    /// `kro_version` [`DEFAULT_KRO_VERSION`], an RGD identity with empty name and uid,
    /// [`Limits::default`], the instance's own `status` as the previous status, and
    /// [`Gating::Readiness`].
    pub fn builder(
        graph: &'a Graph,
        instance: &'a Value,
        view: &'a dyn ClusterView,
    ) -> PlanInputBuilder<'a> {
        PlanInputBuilder {
            input: PlanInput {
                graph,
                instance,
                view,
                now: DEFAULT_NOW,
                kro_version: DEFAULT_KRO_VERSION,
                rgd: &NO_RGD,
                limits: Limits::default(),
                previous_status: instance.get("status"),
                gating: Gating::Readiness,
            },
        }
    }
}

impl<'a> PlanInputBuilder<'a> {
    /// The pass time, RFC 3339.
    pub fn now(mut self, now: &'a str) -> Self {
        self.input.now = now;
        self
    }

    /// The kro version stamped on labels and the ApplySet tooling annotation.
    pub fn kro_version(mut self, kro_version: &'a str) -> Self {
        self.input.kro_version = kro_version;
        self
    }

    /// The RGD the instance belongs to.
    pub fn rgd(mut self, rgd: &'a RgdIdentity) -> Self {
        self.input.rgd = rgd;
        self
    }

    /// What nodes wait for ([`Gating::Readiness`] unless given).
    pub fn gating(mut self, gating: Gating) -> Self {
        self.input.gating = gating;
        self
    }

    /// Bounds and intervals.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.input.limits = limits;
        self
    }

    /// The status that conditions keep their transition times from (`None`: a first pass).
    pub fn previous_status(mut self, previous_status: Option<&'a Value>) -> Self {
        self.input.previous_status = previous_status;
        self
    }

    /// The input.
    pub fn build(self) -> PlanInput<'a> {
        self.input
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use kro_api::ResourceGraphDefinition;
    use kro_graph::{OfflineResolver, compile};
    use serde_json::json;

    use super::*;
    use crate::core::InMemoryView;

    fn graph() -> Graph {
        let rgd = ResourceGraphDefinition::from_yaml(
            "apiVersion: kro.run/v1alpha1\nkind: ResourceGraphDefinition\nmetadata: {name: app}\n\
             spec:\n  schema: {apiVersion: v1alpha1, kind: App, spec: {name: string}}\n  resources: []\n",
        )
        .expect("valid RGD");
        compile(&rgd, &OfflineResolver::new()).expect("compiles")
    }

    #[test]
    fn defaults_and_overrides() {
        let graph = graph();
        let instance = json!({"metadata": {"name": "a"}, "status": {"state": "ACTIVE"}});
        let view = InMemoryView::new();
        let input = PlanInput::builder(&graph, &instance, &view).build();
        assert_eq!(input.now, DEFAULT_NOW);
        assert_eq!(input.kro_version, DEFAULT_KRO_VERSION);
        assert_eq!(input.rgd, &RgdIdentity::default());
        assert_eq!(input.limits, Limits::default());
        assert_eq!(input.previous_status, Some(&json!({"state": "ACTIVE"})));

        let rgd = RgdIdentity {
            name: "app".into(),
            uid: "u".into(),
        };
        let limits = Limits {
            max_collection_size: 3,
            requeue_interval: Duration::from_secs(1),
        };
        let input = PlanInput::builder(&graph, &instance, &view)
            .now("2026-01-01T00:00:00Z")
            .kro_version("v9")
            .rgd(&rgd)
            .limits(limits)
            .previous_status(None)
            .build();
        assert_eq!(input.now, "2026-01-01T00:00:00Z");
        assert_eq!(input.kro_version, "v9");
        assert_eq!(input.rgd, &rgd);
        assert_eq!(input.limits, limits);
        assert_eq!(input.previous_status, None);
    }
}
