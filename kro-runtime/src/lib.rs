//! The kro reconcile engine, pure: no I/O, no async runtime, no Kubernetes client.
//!
//! [`core`] turns a compiled graph, an instance and the observed cluster state into a
//! [`core::Plan`]; [`preview`] renders what an instance would become without a cluster. The
//! async edge that carries plans to an API server is the `kro-controller` crate.
//!
//! See the crate README for an overview and an example.
#![forbid(unsafe_code)]

pub mod compare;
pub mod core;
pub mod machine;
pub mod preview;

// The README's example is compiled and run as a doc test, so it cannot drift from the API.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
