#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod dag;
mod error;
pub mod hash;
pub mod limits;
pub mod naming;
pub mod resolver;

pub use error::{CompileError, Problem, ProblemKind};
pub use resolver::{
    ChainResolver, ClusterSchemaCache, Gvk, OfflineResolver, ResolveError, ResolvedKind,
    SchemaResolver,
};
mod compile;
mod graph;
mod template;
mod warning;

pub use compile::{CompileOptions, compile, compile_with, compile_with_limits};
pub use graph::{
    CompiledExpression, ExpressionSlot, ExternalSelection, ForEachDimension, Graph, InstanceNode,
    NodeKind, ResourceNode,
};
pub use limits::CompileLimits;
pub use template::{FieldPath, PathSegment};
pub use warning::Warning;
