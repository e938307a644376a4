//! kro's CEL: the `${}` template scanner, the full kro and Kubernetes CEL environment, type checking
//! and evaluation.
//!
//! See the crate README for an overview and an example.
#![forbid(unsafe_code)]
#![doc = include_str!("../README.md")]

// --- evaluation side (templates, environment, libraries, values, evaluation) ---
mod error;
mod eval;
mod library;
pub(crate) mod parse;
mod program;
mod references;
mod template;
mod value;

pub use error::{CompileError, ConversionError, ErrorKind, EvalError, TemplateError};
pub use library::{FUNCTIONS, FunctionSignature, Library};
pub use program::{Activation, Budget, CelValue, Environment, Program};
pub use references::Reference;
pub use template::{Segment, Template, TemplatePart, scan};

// --- type checker side (CEL types, OpenAPI -> type, checker) ---
pub mod check;
pub mod gojson;
pub mod types;
pub use check::{
    CheckError, CheckErrors, Checked, Checker, FieldCheckError, LocatedCheckError,
    TemplateCheckError, TemplateCheckErrors, TemplateProblem, TypeEnv, TypeMismatch, Warning,
    assignable, check_assignable,
};
pub use types::{CelType, FieldType, StructType, instance_schema_type, object_meta_type};
