//! kro's CEL: the `${}` template scanner, the full kro and Kubernetes CEL environment, type checking
//! and evaluation.
//!
//! See the crate README for an overview and an example.
#![forbid(unsafe_code)]

// --- evaluation side (templates, environment, libraries, values, evaluation) ---

// --- type checker side (CEL types, OpenAPI -> type, checker) ---
