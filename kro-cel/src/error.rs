//! Typed errors: compile errors point at the character, evaluation errors carry a kind that
//! callers branch on instead of matching message text.

use thiserror::Error;

/// A CEL expression that did not parse or breaks a static rule (a feature gate, a macro's shape).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid CEL expression `{expression}` at line {line}, column {column}: {message}")]
pub struct CompileError {
    /// The expression source as written.
    pub expression: String,
    /// 1-based line of the offending character within the expression.
    pub line: usize,
    /// 1-based column (in characters) of the offending character.
    pub column: usize,
    /// What went wrong and what was expected.
    pub message: String,
}

/// Why an evaluation failed, as a category callers can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    /// The data is not there yet: a missing map key, object field, a variable not bound in the
    /// activation (cel-go's "no such attribute"), or a list index out of range. kro retries later
    /// instead of failing the resource.
    Pending,
    /// A field was selected on `null`. This is a real failure (the data is present and says
    /// "no value"), not pending: a `null` in observed data does not heal by waiting.
    NullSelection,
    /// No function or overload accepts the arguments (wrong types, unknown function, operands
    /// of mismatched types).
    NoSuchOverload,
    /// Integer overflow, division or remainder by zero.
    Arithmetic,
    /// A library function refused its input (invalid JSON, bad regex, out-of-range index, ...).
    InvalidArgument,
    /// The result cannot be written as JSON (bytes, a type value, a kro or Kubernetes opaque
    /// value that has no JSON form).
    Conversion,
    /// The evaluation exceeded its cost budget or its deadline.
    BudgetExceeded,
    /// The expression evaluated to `omit()` where a value is required.
    Omitted,
    /// Anything else the interpreter reports.
    Other,
}

impl ErrorKind {
    /// True for "data not there yet": the caller should wait and retry, not fail.
    pub fn is_pending(self) -> bool {
        matches!(self, ErrorKind::Pending)
    }
}

/// A failed evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("evaluating `{expression}`: {message}")]
pub struct EvalError {
    kind: ErrorKind,
    /// The expression being evaluated.
    pub expression: String,
    /// What went wrong.
    pub message: String,
}

impl EvalError {
    pub(crate) fn new(kind: ErrorKind, expression: &str, message: impl Into<String>) -> Self {
        EvalError {
            kind,
            expression: expression.to_owned(),
            message: message.into(),
        }
    }

    /// The category of the failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// True for "data not there yet" (see [`ErrorKind::Pending`]).
    pub fn is_pending(&self) -> bool {
        self.kind.is_pending()
    }
}

/// A `${...}` template that cannot be scanned or compiled.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    /// A `${` opened inside another expression outside a double-quoted string literal.
    #[error(
        "template `{template}`: nested expressions are not allowed unless inside string literals \
         (`${{` at character {offset})"
    )]
    Nested {
        /// The whole template string.
        template: String,
        /// 0-based character offset of the nested `${`.
        offset: usize,
    },
    /// An expression of the template does not compile; the compile error, positioned within the
    /// expression, is the [`source`](std::error::Error::source).
    #[error("template `{template}`, expression at character {offset}")]
    Compile {
        /// The whole template string.
        template: String,
        /// 0-based character offset of the expression's first character in the template.
        offset: usize,
        /// The compile error, positioned within the expression.
        source: CompileError,
    },
}

/// A JSON value that cannot become a CEL value under its schema, or the reverse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("at `{path}`: {message}")]
pub struct ConversionError {
    /// JSON path of the offending value, such as `spec.replicas` or `spec.ports[0]`.
    pub path: String,
    /// What was found and what was expected.
    pub message: String,
}
