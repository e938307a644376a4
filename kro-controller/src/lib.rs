//! The async edge of kro-rs: runs the pure reconcile core of `kro-runtime` against a real API
//! server through `kube::Client`.
//!
//! [`executor`] holds the shared watch cache of kro-managed objects, the watches on external
//! references, the REST mapping, RGD compilation against the cluster's schemas and the
//! [`Executor`] that carries one reconcile of an instance out. Every decision about what to apply,
//! prune or report is made by `kro_runtime::core`; this crate only carries requests and responses.
//! [`embed`] wires an executor into a kube-rs controller of your own; [`controllers`] are kro's
//! own controllers (the ResourceGraphDefinition controller and the instance controllers it
//! starts), which the kro-rs operator runs and an embedder can run with its own metrics sink.
//!
//! See the crate README for an overview and an example.
#![forbid(unsafe_code)]

pub mod controllers;
pub mod embed;
pub mod executor;

pub use embed::{VanishedInstances, child_kinds, instance_api_resource, triggers};
pub use executor::{ChildEvent, ChildEvents, Executor, ExecutorConfig, ObjectCache, Outcome};

// The README's example is compiled as a doc test (not run: it needs a cluster), so it cannot
// drift from the API.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
