//! The static type checker: declarations, the checker over the parsed AST, assignability of an
//! expression's type to the schema of the field it fills, and the warnings for unguarded reads of
//! optional fields.

mod assign;
mod infer;
mod overloads;
mod suggest;
mod template;

use std::collections::BTreeMap;
use std::fmt;

use crate::library::comprehension::instrument;
use crate::parse::{Parsed, parse_with_details};
use crate::program::Program;
use crate::types::CelType;
use cel::common::ast::IdedExpr;

pub use assign::{TypeMismatch, assignable, check_assignable};
pub use template::{TemplateCheckError, TemplateCheckErrors, TemplateProblem};

/// The declarations an expression is checked against: variables and the optional libraries.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TypeEnv {
    variables: BTreeMap<String, CelType>,
    omit_enabled: bool,
}

impl TypeEnv {
    /// An environment with no variables and kro's default feature gates (`omit()` off).
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares variable `name` of type `ty`, replacing an earlier declaration of the same name.
    pub fn declare(&mut self, name: impl Into<String>, ty: CelType) -> &mut Self {
        self.variables.insert(name.into(), ty);
        self
    }

    /// Builder form of [`TypeEnv::declare`].
    pub fn with(mut self, name: impl Into<String>, ty: CelType) -> Self {
        self.declare(name, ty);
        self
    }

    /// Enables or disables `omit()` (the `CELOmitFunction` feature gate).
    pub fn set_omit_enabled(&mut self, enabled: bool) -> &mut Self {
        self.omit_enabled = enabled;
        self
    }

    /// The declared type of variable `name`.
    pub fn variable(&self, name: &str) -> Option<&CelType> {
        self.variables.get(name)
    }

    /// Every declared variable, sorted by name.
    pub fn variables(&self) -> impl Iterator<Item = (&str, &CelType)> {
        self.variables.iter().map(|(n, t)| (n.as_str(), t))
    }

    /// Whether `omit()` is available.
    pub fn omit_enabled(&self) -> bool {
        self.omit_enabled
    }
}

/// Checks expressions against a [`TypeEnv`].
#[derive(Clone, Copy, Debug)]
pub struct Checker<'env> {
    env: &'env TypeEnv,
}

/// A successfully checked expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Checked {
    /// The type the expression evaluates to.
    pub output: CelType,
    /// Reads that type-check but may wait forever at run time, sorted and deduplicated.
    pub warnings: Vec<Warning>,
}

/// A read of a field that valid data may lack (not required, no default) without a `has()`,
/// `.?` or `orValue()` guard: the expression cannot be evaluated while the field is absent.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Warning {
    /// The expression, as written.
    pub expression: String,
    /// The field read, as a CEL path (`schema.spec.replicas`).
    pub field_path: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expression \"{}\" reads optional field \"{}\" that has no default and no has(), \".?\" or orValue() guard; it cannot be evaluated while the field is absent",
            self.expression, self.field_path
        )
    }
}

/// One problem found in an expression.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, thiserror::Error)]
pub enum CheckError {
    /// The expression does not parse.
    #[error("syntax error: {message}")]
    Syntax {
        /// The parser's message.
        message: String,
    },
    /// An identifier that is neither a variable nor a type name.
    #[error("undeclared reference to \"{name}\"{}", did_you_mean(.suggestion))]
    UnknownIdentifier {
        /// The identifier.
        name: String,
        /// The nearest declared name.
        suggestion: Option<String>,
    },
    /// A field that the selected object's schema does not have.
    #[error("type \"{on}\" has no field \"{field}\"{}", did_you_mean(.suggestion))]
    UnknownField {
        /// The field.
        field: String,
        /// The object's type.
        on: String,
        /// The nearest existing field.
        suggestion: Option<String>,
    },
    /// A field selected on a value that has no fields.
    #[error("type \"{on}\" does not support field selection (field \"{field}\")")]
    NotSelectable {
        /// The field.
        field: String,
        /// The value's type.
        on: String,
    },
    /// A function the environment does not declare.
    #[error("undeclared function \"{name}\"{}", did_you_mean(.suggestion))]
    UnknownFunction {
        /// The function.
        name: String,
        /// The nearest declared function.
        suggestion: Option<String>,
    },
    /// A declared function called with arguments none of its overloads accepts.
    #[error("found no matching overload for \"{function}\" applied to \"{arguments}\"")]
    NoMatchingOverload {
        /// The function or operator (`_+_` for `+`).
        function: String,
        /// The argument types: `(int, string)`, or `string.(int)` for a member call.
        arguments: String,
    },
    /// Anything else: misuse of a macro, a value that cannot be iterated, ...
    #[error("{message}")]
    Invalid {
        /// What is wrong.
        message: String,
    },
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map(|s| format!(" (did you mean \"{s}\"?)"))
        .unwrap_or_default()
}

/// A [`CheckError`] and where it is: the 1-based line and column (in characters) of the
/// offending node within the expression.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, thiserror::Error)]
#[error("at line {line}, column {column}: {error}")]
pub struct LocatedCheckError {
    /// 1-based line of the offending node within the expression.
    pub line: usize,
    /// 1-based column (in characters) of the offending node.
    pub column: usize,
    /// What is wrong.
    pub error: CheckError,
}

/// Every problem found in one expression, displayed like the evaluator's
/// [`CompileError`](crate::CompileError): `` invalid CEL expression `x` at line 1, column 3: ... ``.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid CEL expression `{expression}` {}", join_errors(.errors))]
pub struct CheckErrors {
    /// The expression, as written.
    pub expression: String,
    /// The problems, in the order found.
    pub errors: Vec<LocatedCheckError>,
}

fn join_errors(errors: &[LocatedCheckError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl<'env> Checker<'env> {
    /// A checker for expressions over `env`.
    pub fn new(env: &'env TypeEnv) -> Self {
        Self { env }
    }

    /// Parses and checks `expression` (the text inside `${}`), returning its output type and
    /// warnings, or every error found.
    ///
    /// The expression is parsed, macro-expanded and instrumented exactly as
    /// [`Environment::compile`](crate::Environment::compile) does, so the checker types the AST
    /// the evaluator runs.
    pub fn check(&self, expression: &str) -> Result<Checked, CheckErrors> {
        let parsed = parse_with_details(expression).map_err(|failure| CheckErrors {
            expression: expression.to_string(),
            errors: vec![LocatedCheckError {
                line: failure.error.line,
                column: failure.error.column,
                error: CheckError::Syntax {
                    message: failure.report,
                },
            }],
        })?;
        let mut evaluated = parsed.expr.clone();
        instrument(&mut evaluated);
        self.check_parsed(expression, &evaluated, &parsed)
    }

    /// Checks an already compiled program, sharing its parsed and instrumented AST instead of
    /// parsing the source again. Same result as [`Checker::check`] on the program's source.
    pub fn check_program(&self, program: &Program) -> Result<Checked, CheckErrors> {
        self.check_parsed(program.source(), program.instrumented(), program.parsed())
    }

    /// Types `evaluated` (the instrumented form of `parsed`), positioning errors with `parsed`.
    fn check_parsed(
        &self,
        expression: &str,
        evaluated: &IdedExpr,
        parsed: &Parsed,
    ) -> Result<Checked, CheckErrors> {
        let outcome = infer::infer(self.env, evaluated, &parsed.source_info);
        if outcome.errors.is_empty() {
            let mut warnings: Vec<Warning> = outcome
                .unguarded_reads
                .into_iter()
                .map(|field_path| Warning {
                    expression: expression.to_string(),
                    field_path,
                })
                .collect();
            warnings.sort();
            warnings.dedup();
            Ok(Checked {
                output: outcome.output.without_params(),
                warnings,
            })
        } else {
            let errors = outcome
                .errors
                .into_iter()
                .map(|(node, error)| {
                    let (line, column) = parsed.position_of(node);
                    LocatedCheckError {
                        line,
                        column,
                        error,
                    }
                })
                .collect();
            Err(CheckErrors {
                expression: expression.to_string(),
                errors,
            })
        }
    }

    /// Checks `expression` and that its output type is assignable to `expected`, the type of
    /// the field of resource `resource` at `path` that it fills.
    pub fn check_field(
        &self,
        resource: &str,
        path: &str,
        expression: &str,
        expected: &CelType,
    ) -> Result<Checked, FieldCheckError> {
        let checked = self.check(expression).map_err(FieldCheckError::Check)?;
        check_assignable(resource, path, expression, &checked.output, expected)
            .map_err(FieldCheckError::Mismatch)?;
        Ok(checked)
    }
}

/// Why [`Checker::check_field`] rejected an expression.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FieldCheckError {
    /// The expression itself is wrong.
    #[error(transparent)]
    Check(CheckErrors),
    /// The expression is fine but returns the wrong type for the field.
    #[error(transparent)]
    Mismatch(TypeMismatch),
}
