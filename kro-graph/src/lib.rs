//! Compiles a kro ResourceGraphDefinition into a typed, immutable dependency graph.
//!
//! See the crate README for an overview and an example.
#![forbid(unsafe_code)]
