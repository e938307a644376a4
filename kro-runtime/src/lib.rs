//! The kro reconcile engine: a pure planning core plus an executor on kube::Client.
//!
//! [`core`] turns a compiled graph, an instance and the observed cluster state into a
//! [`core::Plan`]; it is synchronous and compiles without the `client` feature.
//!
//! See the crate README for an overview and an example.
#![forbid(unsafe_code)]

pub mod core;

#[cfg(feature = "client")]
pub mod executor;
#[cfg(feature = "client")]
pub use executor::{Executor, ExecutorConfig, ObjectCache, Outcome};
