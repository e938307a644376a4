//! `omit()`: a sentinel that removes the map key or list element holding it from the output.
//! Behind the `CELOmitFunction` feature gate; with the gate off, compiling any use fails.

use super::{Overload, value_fns};
use cel::ExecutionError;
use cel::objects::{Opaque, Value};
use std::sync::Arc;

/// The sentinel `omit()` returns.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Omit;

impl Opaque for Omit {
    fn runtime_type_name(&self) -> &str {
        "kro.omit"
    }
}

/// True when `value` is the `omit()` sentinel.
pub(crate) fn is_omit(value: &Value) -> bool {
    matches!(value, Value::Opaque(o) if o.downcast_ref::<Omit>().is_some())
}

fn omit(_: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Opaque(Arc::new(Omit)))
}

value_fns! { omit_fn => omit }

pub(crate) static OVERLOADS: &[Overload] = &[Overload {
    name: "omit",
    id: "omit()",
    receiver: false,
    args: &[],
    func: omit_fn,
}];
