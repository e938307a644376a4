//! What the three programs share: the RGD they use.

/// A ConfigMap, a Deployment with a readiness condition, and a Service that waits for it.
pub const RGD: &str = include_str!("../rgd.yaml");
