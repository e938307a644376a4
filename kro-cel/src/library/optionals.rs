//! cel-go's optional list helpers, which upstream kro gets from `cel.OptionalTypes()`:
//! `optional.unwrap(list)` and `list.unwrapOpt()` keep the values of the present optionals of a
//! list, in order, and drop the empty ones.

use super::{Overload, value_fns};
use cel::ExecutionError;
use cel::common::types::LIST_TYPE;
use cel::objects::{OptionalValue, Value};
use std::sync::Arc;

value_fns! {
    unwrap_fn => unwrap_optionals,
}

pub(crate) static OVERLOADS: &[Overload] = &[
    Overload {
        name: "optional.unwrap",
        id: "optional.unwrap(list)",
        receiver: false,
        args: &[LIST_TYPE],
        func: unwrap_fn,
    },
    Overload {
        name: "unwrapOpt",
        id: "list.unwrapOpt()",
        receiver: true,
        args: &[LIST_TYPE],
        func: unwrap_fn,
    },
];

/// The values of the present optionals in a list; an element that is not an optional is an
/// error, as in cel-go.
fn unwrap_optionals(args: &[Value]) -> Result<Value, ExecutionError> {
    let [Value::List(items)] = args else {
        return Err(ExecutionError::function_error(
            "optional.unwrap",
            "expects one list of optionals",
        ));
    };
    let mut present = Vec::with_capacity(items.len());
    for item in items.iter() {
        let optional = <&OptionalValue>::try_from(item)?;
        if let Some(value) = optional.value() {
            present.push(value.clone());
        }
    }
    Ok(Value::List(Arc::new(present)))
}
