//! Compiling and evaluating expressions: [`Environment`], [`Program`], [`Activation`].

use crate::error::{CompileError, ConversionError, ErrorKind, EvalError};
use crate::library::ENVIRONMENT;
use crate::library::budget::{BUDGET_FUNCTION, BudgetGuard};
use crate::library::comprehension::instrument;
use crate::library::kro::NEW_CONDITION;
use crate::library::omit::is_omit;
use crate::parse::{Parsed, children, parse};
use crate::references::{Reference, references, root_names};
use crate::value::{cel_to_json, json_to_cel_with_schema};
use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue};
use cel::objects::Value;
use cel::{Env, ExecutionError};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Limits on one evaluation. See the crate README for what is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Cost units per evaluation: one per comprehension element visited (nested loops pay for
    /// every pass) plus the size of the data the expression builds (`+` operands, literal
    /// elements, the results of `replace`, `join`, `split`, `lists.range` and kro's functions):
    /// one unit per value and per 16 bytes of text.
    pub max_cost: u64,
    /// Wall-clock limit, checked when a comprehension starts and when one of kro's functions
    /// runs. `None` for no deadline.
    pub timeout: Option<Duration>,
    /// Most AST nodes an expression may have after macro expansion (checked when compiling).
    pub max_ast_nodes: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_cost: 1_000_000,
            timeout: Some(Duration::from_millis(100)),
            max_ast_nodes: 10_000,
        }
    }
}

/// Builds [`Program`]s: which variables exist, which feature gates are on, the budget.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    variables: Option<BTreeSet<String>>,
    omit_enabled: bool,
    budget: Budget,
}

impl Environment {
    /// An environment with every variable allowed, `omit()` disabled and the default budget.
    pub fn new() -> Self {
        Environment::default()
    }

    /// Restricts expressions to these variables: compiling one that reads any other fails.
    pub fn with_variables<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.variables = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Enables `omit()` (kro's `CELOmitFunction` feature gate, off by default).
    pub fn with_omit(mut self, enabled: bool) -> Self {
        self.omit_enabled = enabled;
        self
    }

    /// Sets the per-evaluation budget.
    pub fn with_budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }

    /// The per-evaluation budget programs compiled here get.
    pub fn budget(&self) -> Budget {
        self.budget
    }

    /// Compiles an expression (the text between `${` and `}`).
    ///
    /// # Errors
    /// Syntax errors, an undeclared variable, `omit()` while the gate is off, an expression
    /// larger than the budget's AST node limit; each with the line and column.
    pub fn compile(&self, source: &str) -> Result<Program, CompileError> {
        let parsed = parse(source)?;
        let error = |id: u64, message: String| {
            let (line, column) = parsed.position_of(id);
            CompileError {
                expression: source.to_owned(),
                line,
                column,
                message,
            }
        };
        let nodes = count_nodes(&parsed.expr);
        if nodes > self.budget.max_ast_nodes {
            return Err(error(
                parsed.expr.id,
                format!(
                    "expression has {nodes} nodes, more than the limit of {}",
                    self.budget.max_ast_nodes
                ),
            ));
        }
        if !self.omit_enabled
            && let Some(id) = find_call(&parsed.expr, "omit")
        {
            return Err(error(
                id,
                "omit() requires the CELOmitFunction feature gate, which is disabled".to_owned(),
            ));
        }
        if let Some(declared) = &self.variables {
            for name in root_names(&parsed.expr) {
                if !declared.contains(&name) {
                    let id = find_ident(&parsed.expr, &name).unwrap_or(parsed.expr.id);
                    let known: Vec<&str> = declared.iter().map(String::as_str).collect();
                    return Err(error(
                        id,
                        format!(
                            "undeclared reference to `{name}`: expected one of {}",
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
        let env = match ENVIRONMENT.as_ref() {
            Ok(env) => Arc::clone(env),
            Err(e) => {
                return Err(error(
                    0,
                    format!("the CEL environment failed to build: {e}"),
                ));
            }
        };
        let mut instrumented = parsed.expr.clone();
        instrument(&mut instrumented);
        let roots = root_names(&parsed.expr);
        let lowered = crate::eval::lower(&instrumented);
        Ok(Program {
            inner: Arc::new(CompiledProgram {
                source: source.to_owned(),
                parsed,
                instrumented,
                lowered,
                env,
                budget: self.budget,
                roots,
            }),
        })
    }
}

fn count_nodes(expr: &IdedExpr) -> usize {
    let mut count = 0;
    visit(expr, &mut |_| count += 1);
    count
}

fn find_call(expr: &IdedExpr, name: &str) -> Option<u64> {
    let mut found = None;
    visit(expr, &mut |e| {
        if let Expr::Call(call) = &e.expr
            && call.func_name == name
            && call.target.is_none()
            && found.is_none()
        {
            found = Some(e.id);
        }
    });
    found
}

fn find_ident(expr: &IdedExpr, name: &str) -> Option<u64> {
    let mut found = None;
    visit(expr, &mut |e| {
        if matches!(&e.expr, Expr::Ident(n) if n == name) && found.is_none() {
            found = Some(e.id);
        }
    });
    found
}

/// Calls `f` on every node, parents first.
pub(crate) fn visit(expr: &IdedExpr, f: &mut dyn FnMut(&IdedExpr)) {
    f(expr);
    for child in children(expr) {
        visit(child, f);
    }
}

struct CompiledProgram {
    source: String,
    parsed: Parsed,
    instrumented: IdedExpr,
    lowered: crate::eval::Lowered,
    env: Arc<Env>,
    budget: Budget,
    roots: BTreeSet<String>,
}

/// A compiled expression: `Send + Sync`, cheap to clone (shared), evaluated many times.
#[derive(Clone)]
pub struct Program {
    inner: Arc<CompiledProgram>,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("source", &self.inner.source)
            .finish()
    }
}

/// A CEL value produced by an evaluation, before conversion to JSON.
///
/// It may hold kro-cel's own representation of bound data (see the crate README,
/// "Evaluation"); [`CelValue::as_cel`] gives the `cel` crate's form, converted on first use.
#[derive(Debug, Clone)]
pub struct CelValue {
    value: Value,
    plain: OnceLock<Value>,
}

impl PartialEq for CelValue {
    fn eq(&self, other: &Self) -> bool {
        self.as_cel() == other.as_cel()
    }
}

impl CelValue {
    fn new(value: Value) -> Self {
        CelValue {
            value,
            plain: OnceLock::new(),
        }
    }
}

impl CelValue {
    /// The CEL type name: `int`, `string`, `map`, `list`, `null_type`, ...
    pub fn type_name(&self) -> String {
        match &self.value {
            Value::Opaque(o) => o.runtime_type_name().to_owned(),
            other => format!("{}", other.type_of()),
        }
    }

    /// The boolean, when this is a `bool`.
    pub fn as_bool(&self) -> Option<bool> {
        match self.value {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The string, when this is a `string`.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// True for `null`.
    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// True for the `omit()` sentinel.
    pub fn is_omit(&self) -> bool {
        is_omit(&self.value)
    }

    /// A JSON value as CEL sees it: objects become maps, integral numbers `int` (`uint` above
    /// `i64::MAX`), other numbers `double`.
    pub fn from_json(json: &serde_json::Value) -> Self {
        Self::from_cel(crate::value::json_to_cel(json))
    }

    /// A JSON value typed by its OpenAPI schema, as the API server's CEL sees it (`int-or-string`,
    /// `byte` strings, `date-time` and `duration` formats, preserved unknown fields).
    ///
    /// # Errors
    /// The value does not fit the schema.
    pub fn from_json_with_schema(
        json: &serde_json::Value,
        schema: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps,
    ) -> Result<Self, ConversionError> {
        crate::value::json_to_cel_with_schema(json, schema).map(Self::from_cel)
    }

    /// Converts to JSON; `None` for `omit()`.
    ///
    /// # Errors
    /// Values without a JSON form, such as bytes.
    pub fn to_json(&self) -> Result<Option<serde_json::Value>, ConversionError> {
        cel_to_json(&self.value)
    }

    /// The underlying `cel` crate value, for kro-cel's own tests. Not part of the supported API:
    /// the `cel` crate is pinned and its types change between releases.
    #[doc(hidden)]
    pub fn as_cel(&self) -> &Value {
        self.plain
            .get_or_init(|| crate::eval::object::to_plain(self.value.clone()))
    }

    /// Wraps a `cel` crate value, for kro-cel's own tests (see [`CelValue::as_cel`]).
    #[doc(hidden)]
    pub fn from_cel(value: Value) -> Self {
        CelValue::new(value)
    }
}

impl Program {
    /// The expression source.
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    /// The variables and field paths the expression reads, sorted (see [`Reference`]).
    pub fn references(&self) -> Vec<Reference> {
        references(&self.inner.parsed.expr).into_iter().collect()
    }

    /// Whether the expression calls `omit()` anywhere.
    pub fn calls_omit(&self) -> bool {
        find_call(&self.inner.parsed.expr, "omit").is_some()
    }

    /// The condition types given as string literals to `runtime.newCondition({type: ...})`,
    /// in source order (a type computed by an expression is not listed).
    pub fn literal_condition_types(&self) -> Vec<String> {
        let mut types = Vec::new();
        visit(&self.inner.parsed.expr, &mut |e| {
            let Expr::Call(call) = &e.expr else {
                return;
            };
            let [argument] = call.args.as_slice() else {
                return;
            };
            if call.func_name != NEW_CONDITION || call.target.is_some() {
                return;
            }
            let Expr::Map(map) = &argument.expr else {
                return;
            };
            for entry in &map.entries {
                if let EntryExpr::MapEntry(entry) = &entry.expr
                    && matches!(&entry.key.expr, Expr::Literal(LiteralValue::String(key)) if key.inner() == "type")
                    && let Expr::Literal(LiteralValue::String(value)) = &entry.value.expr
                {
                    types.push(value.inner().to_owned());
                }
            }
        });
        types
    }

    /// The macro-expanded AST, for the type checker.
    #[allow(dead_code)]
    pub(crate) fn ast(&self) -> &IdedExpr {
        &self.inner.parsed.expr
    }

    /// The parsed expression with node positions, for the type checker's messages.
    pub(crate) fn parsed(&self) -> &Parsed {
        &self.inner.parsed
    }

    /// The lowered program the evaluator runs.
    #[cfg(test)]
    pub(crate) fn lowered(&self) -> &crate::eval::Lowered {
        &self.inner.lowered
    }

    /// The instrumented AST the evaluator runs, which the type checker types.
    pub(crate) fn instrumented(&self) -> &IdedExpr {
        &self.inner.instrumented
    }

    /// Evaluates to a CEL value.
    ///
    /// # Errors
    /// An [`EvalError`] whose kind says whether the data is pending or the expression failed.
    pub fn evaluate_value(&self, activation: &Activation) -> Result<CelValue, EvalError> {
        let budget = self.inner.budget;
        // Only an expression that may look at the deadline reads the clock for it.
        let deadline = budget
            .timeout
            .filter(|_| self.inner.lowered.clock)
            .map(|t| Instant::now() + t);
        let _guard = BudgetGuard::install(budget.max_cost, deadline);
        crate::eval::evaluate(&self.inner.lowered, &activation.variables, &self.inner.env)
            .map(CelValue::new)
            .map_err(|e| self.classify(&e))
    }

    /// Evaluates to JSON; `Ok(None)` when the expression evaluates to `omit()`.
    ///
    /// # Errors
    /// As [`Program::evaluate_value`], plus [`ErrorKind::Conversion`] for results without a JSON
    /// form (bytes must be encoded explicitly).
    pub fn evaluate_optional(
        &self,
        activation: &Activation,
    ) -> Result<Option<serde_json::Value>, EvalError> {
        self.evaluate_value(activation)?
            .to_json()
            .map_err(|e| EvalError::new(ErrorKind::Conversion, &self.inner.source, e.to_string()))
    }

    /// Evaluates to JSON.
    ///
    /// # Errors
    /// As [`Program::evaluate_optional`], plus [`ErrorKind::Omitted`] when the result is
    /// `omit()`.
    pub fn evaluate(&self, activation: &Activation) -> Result<serde_json::Value, EvalError> {
        self.evaluate_optional(activation)?.ok_or_else(|| {
            EvalError::new(
                ErrorKind::Omitted,
                &self.inner.source,
                "omit() is not allowed here",
            )
        })
    }

    fn classify(&self, error: &ExecutionError) -> EvalError {
        let kind = match error {
            ExecutionError::NoSuchKey(_) | ExecutionError::IndexOutOfBounds(_) => {
                ErrorKind::Pending
            }
            ExecutionError::UndeclaredReference(name)
                if self.inner.roots.contains(name.as_str()) =>
            {
                ErrorKind::Pending
            }
            ExecutionError::NoSuchOverload(overload)
                if overload.function() == "_._"
                    && overload
                        .argument_types()
                        .first()
                        .is_some_and(|t| t == "null_type") =>
            {
                ErrorKind::NullSelection
            }
            ExecutionError::DivisionByZero(_)
            | ExecutionError::RemainderByZero(_)
            | ExecutionError::Overflow(..) => ErrorKind::Arithmetic,
            ExecutionError::FunctionError { function, .. } if function == BUDGET_FUNCTION => {
                ErrorKind::BudgetExceeded
            }
            ExecutionError::FunctionError { .. } => ErrorKind::InvalidArgument,
            ExecutionError::NoSuchOverload(_)
            | ExecutionError::UndeclaredReference(_)
            | ExecutionError::UnsupportedBinaryOperator(..)
            | ExecutionError::ValuesNotComparable(..)
            | ExecutionError::NotSupportedAsMethod { .. }
            | ExecutionError::UnsupportedTargetType { .. }
            | ExecutionError::UnexpectedType { .. }
            | ExecutionError::InvalidArgumentCount { .. }
            | ExecutionError::UnsupportedIndex(..)
            | ExecutionError::UnsupportedKeyType(_) => ErrorKind::NoSuchOverload,
            _ => ErrorKind::Other,
        };
        let message = match (kind, error) {
            (ErrorKind::Pending, ExecutionError::UndeclaredReference(name)) => {
                format!("no such attribute: variable `{name}` is not bound yet")
            }
            // Said in plain words: what is missing, not the interpreter's error name.
            (ErrorKind::Pending, ExecutionError::NoSuchKey(key)) => {
                format!("field `{key}` is not set yet")
            }
            (ErrorKind::Pending, ExecutionError::IndexOutOfBounds(index)) => match index {
                cel::Value::Int(index) => format!("index {index} is not there yet"),
                cel::Value::UInt(index) => format!("index {index} is not there yet"),
                _ => "the index is not there yet".to_owned(),
            },
            (ErrorKind::NullSelection, _) => {
                "field selected on null: the value exists but is null".to_owned()
            }
            // The budget's internal function name means nothing to the author.
            (ErrorKind::BudgetExceeded, ExecutionError::FunctionError { message, .. }) => {
                message.clone()
            }
            _ => error.to_string(),
        };
        EvalError::new(kind, &self.inner.source, message)
    }
}

/// The variable bindings of an evaluation, converted to CEL once and reusable across programs
/// and evaluations.
#[derive(Debug, Default)]
pub struct Activation {
    variables: BTreeMap<String, Value>,
}

impl Activation {
    /// An activation with no variables.
    pub fn new() -> Self {
        Activation::default()
    }

    /// Binds `name` to a JSON value, converted without a schema.
    ///
    /// # Errors
    /// None in practice; kept for symmetry with the schema-aware binding.
    pub fn bind(&mut self, name: &str, json: &serde_json::Value) -> Result<(), ConversionError> {
        self.variables
            .insert(name.to_owned(), crate::eval::object::from_json(json));
        Ok(())
    }

    /// Binds `name` to a JSON value converted under its OpenAPI schema.
    ///
    /// # Errors
    /// A value that contradicts its schema (see [`CelValue::from_json_with_schema`]).
    pub fn bind_with_schema(
        &mut self,
        name: &str,
        json: &serde_json::Value,
        schema: &JSONSchemaProps,
    ) -> Result<(), ConversionError> {
        let value = json_to_cel_with_schema(json, schema).map_err(|mut e| {
            e.path = if e.path.is_empty() {
                name.to_owned()
            } else {
                format!("{name}.{}", e.path)
            };
            e
        })?;
        self.variables.insert(name.to_owned(), value);
        Ok(())
    }

    /// Binds `name` to a CEL value (such as another program's result).
    ///
    /// # Errors
    /// Values the interpreter cannot hold (function values).
    pub fn bind_value(&mut self, name: &str, value: CelValue) -> Result<(), ConversionError> {
        if let Value::Function(..) = value.value {
            return Err(ConversionError {
                path: name.to_owned(),
                message: ExecutionError::UnsupportedTargetType {
                    target: value.value,
                }
                .to_string(),
            });
        }
        self.variables.insert(name.to_owned(), value.value);
        Ok(())
    }

    /// True when `name` is bound.
    pub fn contains(&self, name: &str) -> bool {
        self.variables.contains_key(name)
    }

    /// Removes a binding.
    pub fn unbind(&mut self, name: &str) {
        self.variables.remove(name);
    }
}
