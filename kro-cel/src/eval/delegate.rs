//! Running one operation, or one expression the evaluator does not lower, in the `cel` crate's
//! interpreter over values the evaluator computed.

use super::lower::placeholder;
use super::object::to_plain;
use cel::common::ast::IdedExpr;
use cel::common::value::{CowVal, Val};
use cel::context::VariableResolver;
use cel::objects::Value;
use cel::{Context, Env, ExecutionError};
use std::sync::Arc;

struct Bound(Vec<(String, Box<dyn Val>)>);

impl VariableResolver for Bound {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        self.0
            .iter()
            .find(|(name, _)| name == variable)
            .map(|(_, value)| CowVal::Borrowed(value.as_ref()))
    }
}

fn run(
    expr: &IdedExpr,
    bound: Vec<(String, Value)>,
    env: &Arc<Env>,
) -> Result<Value, ExecutionError> {
    let boxed = bound
        .into_iter()
        .map(|(name, value)| Box::<dyn Val>::try_from(to_plain(value)).map(|v| (name, v)))
        .collect::<Result<Vec<_>, _>>()?;
    let resolver = Bound(boxed);
    let mut context = Context::with_env(Arc::clone(env));
    context.set_variable_resolver(&resolver);
    let value = Value::resolve_val(expr, &context)?;
    Value::try_from(value.as_ref())
}

/// Runs a delegate over its operands, bound to `@v0`, `@v1`, ...
pub(crate) fn operation(
    expr: &IdedExpr,
    operands: Vec<Value>,
    env: &Arc<Env>,
) -> Result<Value, ExecutionError> {
    let bound = operands
        .into_iter()
        .enumerate()
        .map(|(i, v)| (placeholder(i), v))
        .collect();
    run(expr, bound, env)
}

/// Runs an expression with the variables it reads bound by name.
pub(crate) fn subtree(
    expr: &IdedExpr,
    bindings: Vec<(String, Value)>,
    env: &Arc<Env>,
) -> Result<Value, ExecutionError> {
    run(expr, bindings, env)
}

/// The `cel` crate's name for the type of `value`, for error messages.
pub(crate) fn type_name(value: &Value) -> String {
    match Box::<dyn Val>::try_from(to_plain(value.clone())) {
        Ok(boxed) => boxed.get_type().name().to_owned(),
        Err(_) => format!("{}", value.type_of()),
    }
}
