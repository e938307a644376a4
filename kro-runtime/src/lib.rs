//! The kro reconcile engine: a pure planning core plus an executor on kube::Client.
//!
//! See the crate README for an overview and an example.
#![forbid(unsafe_code)]
