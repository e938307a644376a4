//! The benchmark scenarios: which RGD, how many instances, what else is in the cluster.

use std::fmt;
use std::str::FromStr;

use serde_json::{Value, json};
use thiserror::Error;

/// The namespace instances live in.
pub const INSTANCE_NAMESPACE: &str = "default";
/// The API group of the generated instance kinds (kro's default).
pub const INSTANCE_GROUP: &str = "kro.run";
/// The version of the generated instance kinds.
pub const INSTANCE_VERSION: &str = "v1alpha1";

/// Which RGD a scenario installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Workload {
    /// A Deployment, a Service and a ConfigMap (the Deployment reads the ConfigMap's name).
    ThreeResource,
    /// Three ConfigMaps, each reading the data of the one before.
    Chain,
    /// The three-resource RGD with one instance, in a cluster full of unrelated objects: measures
    /// what a controller caches that it does not need.
    IdleNoise,
}

impl Workload {
    /// The scenario name used on the command line and in reports.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::ThreeResource => "three-resource",
            Self::Chain => "chain",
            Self::IdleNoise => "idle-noise",
        }
    }

    /// Kind of the generated instance CRD.
    #[must_use]
    pub fn kind(self) -> &'static str {
        match self {
            Self::ThreeResource | Self::IdleNoise => "BenchApp",
            Self::Chain => "BenchChain",
        }
    }

    /// Plural resource name of the generated instance CRD.
    #[must_use]
    pub fn plural(self) -> &'static str {
        match self {
            Self::ThreeResource | Self::IdleNoise => "benchapps",
            Self::Chain => "benchchains",
        }
    }

    /// Name of the RGD.
    #[must_use]
    pub fn rgd_name(self) -> &'static str {
        match self {
            Self::ThreeResource | Self::IdleNoise => "bench-app",
            Self::Chain => "bench-chain",
        }
    }

    /// The ResourceGraphDefinition, as JSON.
    #[must_use]
    pub fn rgd(self) -> Value {
        let spec = match self {
            Self::ThreeResource | Self::IdleNoise => three_resource_spec(),
            Self::Chain => chain_spec(),
        };
        json!({
            "apiVersion": "kro.run/v1alpha1",
            "kind": "ResourceGraphDefinition",
            "metadata": { "name": self.rgd_name() },
            "spec": spec,
        })
    }

    /// Instance number `index`, as JSON.
    #[must_use]
    pub fn instance(self, index: usize) -> Value {
        let name = instance_name(index);
        let spec = match self {
            Self::ThreeResource | Self::IdleNoise => json!({ "name": name }),
            Self::Chain => json!({ "name": name, "seed": format!("s{index}") }),
        };
        json!({
            "apiVersion": format!("{INSTANCE_GROUP}/{INSTANCE_VERSION}"),
            "kind": self.kind(),
            "metadata": { "name": name, "namespace": INSTANCE_NAMESPACE },
            "spec": spec,
        })
    }
}

/// The name of instance number `index` (zero-padded so listings sort in creation order).
#[must_use]
pub fn instance_name(index: usize) -> String {
    format!("bench-{index:05}")
}

fn three_resource_spec() -> Value {
    json!({
        "schema": {
            "apiVersion": INSTANCE_VERSION,
            "kind": "BenchApp",
            "spec": {
                "name": "string",
                "image": "string | default=\"registry.k8s.io/pause:3.10\"",
                // No Pods: on a 2-core machine, kube-controller-manager, the scheduler and kwok
                // churning thousands of Pods would compete with the controller being measured.
                "replicas": "integer | default=0",
                "port": "integer | default=8080"
            },
            "status": {
                "deploymentName": "${deployment.metadata.name}"
            }
        },
        "resources": [
            {
                "id": "config",
                "template": {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": { "name": "${schema.spec.name}-config" },
                    "data": { "PORT": "${string(schema.spec.port)}" }
                }
            },
            {
                "id": "deployment",
                "template": {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": { "name": "${schema.spec.name}" },
                    "spec": {
                        "replicas": "${schema.spec.replicas}",
                        "selector": { "matchLabels": { "app": "${schema.spec.name}" } },
                        "template": {
                            "metadata": { "labels": { "app": "${schema.spec.name}" } },
                            "spec": {
                                "containers": [{
                                    "name": "app",
                                    "image": "${schema.spec.image}",
                                    "envFrom": [{ "configMapRef": { "name": "${config.metadata.name}" } }],
                                    "ports": [{ "containerPort": "${schema.spec.port}" }]
                                }]
                            }
                        }
                    }
                }
            },
            {
                "id": "service",
                "template": {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": { "name": "${schema.spec.name}" },
                    "spec": {
                        "selector": { "app": "${schema.spec.name}" },
                        "ports": [{ "port": 80, "targetPort": "${schema.spec.port}" }]
                    }
                }
            }
        ]
    })
}

fn chain_spec() -> Value {
    let layer = |id: &str, suffix: &str, value: &str| {
        json!({
            "id": id,
            "template": {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": { "name": format!("${{schema.spec.name}}-{suffix}") },
                "data": { "value": value }
            }
        })
    };
    json!({
        "schema": {
            "apiVersion": INSTANCE_VERSION,
            "kind": "BenchChain",
            "spec": { "name": "string", "seed": "string" },
            "status": { "last": "${layer3.data.value}" }
        },
        "resources": [
            layer("layer1", "l1", "${schema.spec.seed}"),
            layer("layer2", "l2", "${layer1.data.value + \"-2\"}"),
            layer("layer3", "l3", "${layer2.data.value + \"-3\"}")
        ]
    })
}

/// One scenario: a workload and a number of instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Scenario {
    /// The RGD.
    pub workload: Workload,
    /// How many instances to create.
    pub instances: usize,
}

/// How many unrelated CRDs the idle scenario installs.
pub const NOISE_CRDS: usize = 200;
/// How many unrelated ConfigMaps the idle scenario creates.
pub const NOISE_CONFIGMAPS: usize = 10_000;

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.workload.name(), self.instances)
    }
}

/// Why a scenario argument was rejected.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("scenario `{0}`: expected `three-resource:N`, `chain:N` or `idle-noise` with N >= 1")]
pub struct ScenarioParseError(String);

impl FromStr for Scenario {
    type Err = ScenarioParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || ScenarioParseError(text.to_owned());
        let (name, count) = match text.split_once(':') {
            Some((name, count)) => (name, Some(count)),
            None => (text, None),
        };
        let workload = match name {
            "three-resource" => Workload::ThreeResource,
            "chain" => Workload::Chain,
            "idle-noise" => Workload::IdleNoise,
            _ => return Err(err()),
        };
        let instances = match (workload, count) {
            (Workload::IdleNoise, None) => 1,
            (Workload::IdleNoise, Some(_)) | (_, None) => return Err(err()),
            (_, Some(count)) => count
                .replace('_', "")
                .parse()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(err)?,
        };
        Ok(Self {
            workload,
            instances,
        })
    }
}

/// Unrelated CRD number `index` for the idle scenario.
#[must_use]
pub fn noise_crd(index: usize) -> Value {
    let plural = format!("noise{index:03}s");
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": format!("{plural}.noise.bench.example.com") },
        "spec": {
            "group": "noise.bench.example.com",
            "scope": "Namespaced",
            "names": { "plural": plural, "singular": format!("noise{index:03}"), "kind": format!("Noise{index:03}") },
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": { "openAPIV3Schema": { "type": "object", "x-kubernetes-preserve-unknown-fields": true } }
            }]
        }
    })
}

/// Unrelated ConfigMap number `index` for the idle scenario (about 1 KiB of data each).
#[must_use]
pub fn noise_configmap(index: usize) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": format!("noise-{index:05}"), "namespace": INSTANCE_NAMESPACE },
        "data": { "payload": "x".repeat(1024) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scenarios() {
        let s: Scenario = "three-resource:1_000".parse().expect("test setup");
        assert_eq!(
            s,
            Scenario {
                workload: Workload::ThreeResource,
                instances: 1000
            }
        );
        assert_eq!(s.to_string(), "three-resource:1000");
        assert_eq!(
            "chain:20"
                .parse::<Scenario>()
                .expect("test setup")
                .instances,
            20
        );
        assert_eq!(
            "idle-noise"
                .parse::<Scenario>()
                .expect("test setup")
                .instances,
            1
        );
        for bad in ["chain", "chain:0", "chain:x", "idle-noise:5", "other:3"] {
            assert_eq!(bad.parse::<Scenario>(), Err(ScenarioParseError(bad.into())));
        }
    }

    #[test]
    fn rgds_reference_what_they_promise() {
        let three = Workload::ThreeResource.rgd();
        let ids: Vec<&str> = three["spec"]["resources"]
            .as_array()
            .expect("test setup")
            .iter()
            .map(|r| r["id"].as_str().expect("test setup"))
            .collect();
        assert_eq!(ids, ["config", "deployment", "service"]);
        let chain = Workload::Chain.rgd().to_string();
        assert!(chain.contains("${layer1.data.value + \\\"-2\\\"}"));
        assert!(chain.contains("${layer2.data.value + \\\"-3\\\"}"));
        assert_eq!(
            Workload::Chain.rgd()["spec"]["schema"]["kind"],
            "BenchChain"
        );
    }

    #[test]
    fn instances_are_named_and_typed() {
        let instance = Workload::Chain.instance(7);
        assert_eq!(instance["metadata"]["name"], "bench-00007");
        assert_eq!(instance["kind"], "BenchChain");
        assert_eq!(instance["spec"]["seed"], "s7");
        assert_eq!(noise_crd(3)["spec"]["names"]["kind"], "Noise003");
        assert_eq!(noise_configmap(12)["metadata"]["name"], "noise-00012");
    }
}
