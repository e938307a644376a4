//! The Kubernetes lists library (`sum`, `min`, `max`, `isSorted`, `indexOf`, `lastIndexOf`) and
//! cel-go's `first()` / `last()`.

use super::{Overload, value_fns};
use cel::ExecutionError;
use cel::common::types::{DYN_TYPE, LIST_TYPE};
use cel::objects::{OptionalValue, Value};
use std::cmp::Ordering;
use std::sync::Arc;

value_fns! {
    sum_fn => sum,
    min_fn => min,
    max_fn => max,
    is_sorted_fn => is_sorted,
    index_of_fn => index_of,
    last_index_of_fn => last_index_of,
    first_fn => first,
    last_fn => last,
}

pub(crate) static OVERLOADS: &[Overload] = &[
    Overload {
        name: "sum",
        id: "list.sum()",
        receiver: true,
        args: &[LIST_TYPE],
        func: sum_fn,
    },
    Overload {
        name: "min",
        id: "list.min()",
        receiver: true,
        args: &[LIST_TYPE],
        func: min_fn,
    },
    Overload {
        name: "max",
        id: "list.max()",
        receiver: true,
        args: &[LIST_TYPE],
        func: max_fn,
    },
    Overload {
        name: "isSorted",
        id: "list.isSorted()",
        receiver: true,
        args: &[LIST_TYPE],
        func: is_sorted_fn,
    },
    Overload {
        name: "indexOf",
        id: "list.indexOf(dyn)",
        receiver: true,
        args: &[LIST_TYPE, DYN_TYPE],
        func: index_of_fn,
    },
    Overload {
        name: "lastIndexOf",
        id: "list.lastIndexOf(dyn)",
        receiver: true,
        args: &[LIST_TYPE, DYN_TYPE],
        func: last_index_of_fn,
    },
    Overload {
        name: "first",
        id: "list.first()",
        receiver: true,
        args: &[LIST_TYPE],
        func: first_fn,
    },
    Overload {
        name: "last",
        id: "list.last()",
        receiver: true,
        args: &[LIST_TYPE],
        func: last_fn,
    },
];

fn items<'a>(args: &'a [Value], function: &str) -> Result<&'a [Value], ExecutionError> {
    match args.first() {
        Some(Value::List(items)) => Ok(items.as_slice()),
        _ => Err(ExecutionError::function_error(
            function,
            "receiver must be a list",
        )),
    }
}

fn compare(a: &Value, b: &Value, function: &str) -> Result<Ordering, ExecutionError> {
    a.partial_cmp(b).ok_or_else(|| {
        ExecutionError::function_error(function, format!("{a:?} and {b:?} are not comparable"))
    })
}

/// Sums ints, uints, doubles or durations; the empty list sums to int 0.
fn sum(args: &[Value]) -> Result<Value, ExecutionError> {
    let items = items(args, "sum")?;
    let Some(first) = items.first() else {
        return Ok(Value::Int(0));
    };
    let mut total = match first {
        Value::Int(_) => Value::Int(0),
        Value::UInt(_) => Value::UInt(0),
        Value::Float(_) => Value::Float(0.0),
        Value::Duration(_) => Value::Duration(chrono::Duration::zero()),
        other => {
            return Err(ExecutionError::function_error(
                "sum",
                format!("cannot sum {:?} values", other.type_of()),
            ));
        }
    };
    for item in items {
        total = match (&total, item) {
            (Value::Int(a), Value::Int(b)) => {
                Value::Int(a.checked_add(*b).ok_or_else(|| {
                    ExecutionError::Overflow("add", Value::Int(*a), Value::Int(*b))
                })?)
            }
            (Value::UInt(a), Value::UInt(b)) => {
                Value::UInt(a.checked_add(*b).ok_or_else(|| {
                    ExecutionError::Overflow("add", Value::UInt(*a), Value::UInt(*b))
                })?)
            }
            (Value::Float(a), Value::Float(b)) => Value::Float(a + b),
            (Value::Duration(a), Value::Duration(b)) => Value::Duration(*a + *b),
            (_, other) => {
                return Err(ExecutionError::function_error(
                    "sum",
                    format!(
                        "cannot add {:?} to a sum of {:?}",
                        other.type_of(),
                        total.type_of()
                    ),
                ));
            }
        };
    }
    Ok(total)
}

fn extreme(args: &[Value], function: &str, keep: Ordering) -> Result<Value, ExecutionError> {
    let items = items(args, function)?;
    let Some(mut best) = items.first() else {
        return Err(ExecutionError::function_error(
            function,
            format!("{function}() on an empty list: the list must have at least one element"),
        ));
    };
    for item in &items[1..] {
        if compare(item, best, function)? == keep {
            best = item;
        }
    }
    Ok(best.clone())
}

fn min(args: &[Value]) -> Result<Value, ExecutionError> {
    extreme(args, "min", Ordering::Less)
}

fn max(args: &[Value]) -> Result<Value, ExecutionError> {
    extreme(args, "max", Ordering::Greater)
}

fn is_sorted(args: &[Value]) -> Result<Value, ExecutionError> {
    let items = items(args, "isSorted")?;
    for pair in items.windows(2) {
        if compare(&pair[0], &pair[1], "isSorted")? == Ordering::Greater {
            return Ok(Value::Bool(false));
        }
    }
    Ok(Value::Bool(true))
}

fn index_of(args: &[Value]) -> Result<Value, ExecutionError> {
    let items = items(args, "indexOf")?;
    let wanted = args.get(1).unwrap_or(&Value::Null);
    Ok(Value::Int(
        items
            .iter()
            .position(|v| v == wanted)
            .map_or(-1, |i| i as i64),
    ))
}

fn last_index_of(args: &[Value]) -> Result<Value, ExecutionError> {
    let items = items(args, "lastIndexOf")?;
    let wanted = args.get(1).unwrap_or(&Value::Null);
    Ok(Value::Int(
        items
            .iter()
            .rposition(|v| v == wanted)
            .map_or(-1, |i| i as i64),
    ))
}

fn optional(value: Option<&Value>) -> Value {
    Value::Opaque(Arc::new(match value {
        Some(v) => OptionalValue::of(v.clone()),
        None => OptionalValue::none(),
    }))
}

fn first(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(optional(items(args, "first")?.first()))
}

fn last(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(optional(items(args, "last")?.last()))
}
