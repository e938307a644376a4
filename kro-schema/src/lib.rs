//! SimpleSchema to OpenAPI v3, CRD generation and schema evolution for kro ResourceGraphDefinitions.
//!
//! See the crate README for an overview and an example.
#![forbid(unsafe_code)]
