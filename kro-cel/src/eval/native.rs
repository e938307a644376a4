//! The operations the evaluator runs itself, on the common operand types. Each returns
//! `Ok(None)` when its operands are off that path: the caller then delegates the operation to
//! the `cel` crate, which gives the result or error it always gave.

use super::Op;
use super::object::{as_object, to_plain};
use crate::library::ValueFn;
use crate::library::budget::{BYTES_PER_UNIT, charge, charge_size, remaining};
use crate::library::{comprehension, kro};
use cel::ExecutionError;
use cel::objects::{Key, KeyRef, Map, OptionalValue, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// A kro-cel function on whole values with its declared argument types (receiver first).
#[derive(Clone, Copy)]
pub(crate) struct ValueCall {
    spec: &'static Spec,
    /// The function charges the budget with `budget::charge`, which looks at the deadline.
    pub(crate) deadline: bool,
}

/// One function called directly.
struct Spec {
    name: &'static str,
    receiver: bool,
    /// The declared argument types, receiver first.
    types: &'static [&'static str],
    func: ValueFn,
    /// The size of the result is charged (under the function's name): it may outgrow the
    /// arguments.
    charged: bool,
    /// See [`ValueCall::deadline`].
    deadline: bool,
    /// The function reads kro-cel's objects itself: its arguments are not made plain.
    objects: bool,
}

impl Spec {
    const fn new(
        name: &'static str,
        receiver: bool,
        types: &'static [&'static str],
        func: ValueFn,
    ) -> Self {
        Spec {
            name,
            receiver,
            types,
            func,
            charged: false,
            deadline: false,
            objects: false,
        }
    }

    const fn charged(mut self) -> Self {
        self.charged = true;
        self
    }

    const fn deadline(mut self) -> Self {
        self.deadline = true;
        self
    }

    const fn objects(mut self) -> Self {
        self.objects = true;
        self
    }
}

/// The functions called directly.
static VALUE_CALLS: &[Spec] = &[
    Spec::new("hash.fnv64a", false, &["string"], kro::fnv64a),
    Spec::new("hash.sha256", false, &["string"], kro::sha256_hash),
    Spec::new("hash.md5", false, &["string"], kro::md5_hash),
    Spec::new("json.marshal", false, &["dyn"], kro::json_marshal)
        .deadline()
        .objects(),
    Spec::new("json.unmarshal", false, &["string"], kro::json_unmarshal)
        .charged()
        .deadline(),
    Spec::new(
        "random.seededString",
        false,
        &["int", "string"],
        kro::seeded_string,
    )
    .deadline(),
    Spec::new(
        "random.seededInt",
        false,
        &["int", "int", "string"],
        kro::seeded_int,
    ),
    Spec::new("merge", true, &["map", "map"], kro::merge).charged(),
    Spec::new("deepMerge", true, &["dyn", "dyn"], kro::deep_merge).charged(),
    Spec::new(comprehension::KEYS, false, &["dyn"], comprehension::keys).deadline(),
];

/// The direct call for `name`, if it is one of [`VALUE_CALLS`].
pub(crate) fn value_call(name: &str, receiver: bool, arity: usize) -> Option<ValueCall> {
    VALUE_CALLS
        .iter()
        .find(|spec| spec.name == name && spec.receiver == receiver && spec.types.len() == arity)
        .map(|spec| ValueCall {
            spec,
            deadline: spec.deadline,
        })
}

fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "dyn" => true,
        "string" => matches!(value, Value::String(_)),
        "int" => matches!(value, Value::Int(_)),
        "map" => matches!(value, Value::Map(_)) || as_object(value).is_some(),
        "list" => matches!(value, Value::List(_)),
        _ => false,
    }
}

/// A value that holds no other value (so no object to make plain).
fn is_scalar(value: &Value) -> bool {
    matches!(
        value,
        Value::Int(_)
            | Value::UInt(_)
            | Value::Float(_)
            | Value::String(_)
            | Value::Bytes(_)
            | Value::Bool(_)
            | Value::Null
            | Value::Duration(_)
            | Value::Timestamp(_)
    )
}

pub(crate) fn optional(value: &Value) -> Option<&OptionalValue> {
    match value {
        Value::Opaque(o) => o.downcast_ref::<OptionalValue>(),
        _ => None,
    }
}

pub(crate) fn wrap(value: Option<Value>) -> Value {
    Value::Opaque(Arc::new(match value {
        Some(v) => OptionalValue::of(v),
        None => OptionalValue::none(),
    }))
}

/// Runs `op` on `args` (receiver first); `Ok(None)` to delegate. `args` may be replaced by
/// equivalent operands that are cheaper to hand to the `cel` crate.
pub(crate) fn apply(op: Op, args: &mut [Value]) -> Result<Option<Value>, ExecutionError> {
    let value = match (op, &*args) {
        (Op::Add, [Value::String(_), Value::String(_)]) => concat(args),
        (Op::Add, [a, b]) => add(a, b),
        (Op::Sub, [Value::Int(a), Value::Int(b)]) => a.checked_sub(*b).map(Value::Int),
        (Op::Sub, [Value::Float(a), Value::Float(b)]) => Some(Value::Float(a - b)),
        (Op::Mul, [Value::Int(a), Value::Int(b)]) => a.checked_mul(*b).map(Value::Int),
        (Op::Mul, [Value::Float(a), Value::Float(b)]) => Some(Value::Float(a * b)),
        (Op::Div, [Value::Int(a), Value::Int(b)]) => a.checked_div(*b).map(Value::Int),
        (Op::Rem, [Value::Int(a), Value::Int(b)]) => a.checked_rem(*b).map(Value::Int),
        (Op::Eq, [a, b]) => equal(a, b).map(Value::Bool),
        (Op::Ne, [a, b]) => equal(a, b).map(|e| Value::Bool(!e)),
        (Op::Lt | Op::Le | Op::Gt | Op::Ge, [a, b]) => compare(op, a, b),
        (Op::In, [a, b]) => contains(b, a).map(Value::Bool),
        (Op::Not, [Value::Bool(b)]) => Some(Value::Bool(!b)),
        (Op::Neg, [Value::Int(i)]) => i.checked_neg().map(Value::Int),
        (Op::Neg, [Value::Float(f)]) => Some(Value::Float(-f)),
        (Op::Index, [Value::List(items), Value::Int(i)]) => {
            usize::try_from(*i).ok().and_then(|i| items.get(i)).cloned()
        }
        (Op::Index, [target, Value::String(key)]) if as_object(target).is_some() => {
            let found = as_object(target).and_then(|o| o.get(key)).cloned();
            if found.is_none() {
                args[0] = empty_map();
            }
            found
        }
        (Op::Index, [Value::Map(map), key @ Value::String(_)]) => {
            let found = lookup(map, key);
            if found.is_none() {
                // The error for a missing key does not depend on the map's other entries.
                args[0] = empty_map();
            }
            found
        }
        (Op::OptSelect, [target, Value::String(field)]) => opt_select(target, field),
        (Op::Size, [Value::String(s)]) => Some(Value::Int(s.chars().count() as i64)),
        (Op::Size, [Value::List(items)]) => Some(Value::Int(items.len() as i64)),
        (Op::Size, [Value::Map(map)]) => Some(Value::Int(map.map.len() as i64)),
        (Op::Size, [target]) if as_object(target).is_some() => {
            as_object(target).map(|o| Value::Int(o.len() as i64))
        }
        (Op::String, [s @ Value::String(_)]) => Some(s.clone()),
        (Op::String, [Value::Int(i)]) => Some(Value::String(Arc::new(i.to_string()))),
        (Op::String, [Value::UInt(u)]) => Some(Value::String(Arc::new(u.to_string()))),
        (Op::Int, [i @ Value::Int(_)]) => Some(i.clone()),
        (Op::OrValue, [opt, default]) => {
            optional(opt).map(|o| o.value().unwrap_or(default).clone())
        }
        (Op::HasValue, [opt]) => optional(opt).map(|o| Value::Bool(o.value().is_some())),
        (Op::OptValue, [opt]) => optional(opt).and_then(|o| o.value().cloned()),
        (Op::OptOf, [value]) => Some(wrap(Some(value.clone()))),
        (Op::OptNone, []) => Some(wrap(None)),
        (Op::Iter, [range]) => iter(range)?,
        (Op::Cost, [value]) => {
            charge_weight(value)?;
            Some(value.clone())
        }
        (Op::Value(call), args) => {
            let spec = call.spec;
            if args.len() != spec.types.len()
                || !args.iter().zip(spec.types).all(|(a, t)| has_type(a, t))
            {
                return Ok(None);
            }
            // Scalars are plain already: no copy of the arguments for them.
            let result = if spec.objects || args.iter().all(is_scalar) {
                (spec.func)(args)?
            } else {
                let plain: Vec<Value> = args.iter().cloned().map(to_plain).collect();
                (spec.func)(&plain)?
            };
            if spec.charged
                && let Some(cap) = remaining()
            {
                charge_size(weight(&result, cap), spec.name)?;
            }
            Some(result)
        }
        _ => None,
    };
    Ok(value)
}

/// `@kro.cost(value)`: charges the size of `value` when a budget is installed.
pub(crate) fn charge_weight(value: &Value) -> Result<(), ExecutionError> {
    match value {
        // Scalars weigh one unit whatever the cap.
        Value::Int(_) | Value::UInt(_) | Value::Float(_) | Value::Bool(_) | Value::Null => {
            charge_size(1, "building a value")
        }
        _ => match remaining() {
            Some(cap) => charge_size(weight(value, cap), "building a value"),
            None => Ok(()),
        },
    }
}

fn empty_map() -> Value {
    Value::Map(Map {
        map: Arc::new(HashMap::new()),
    })
}

pub(crate) fn lookup(map: &Map, key: &Value) -> Option<Value> {
    match key {
        Value::String(s) => map
            .map
            .get(&KeyRef::String(s.as_str()) as &dyn cel::objects::AsKeyRef),
        _ => None,
    }
    .cloned()
}

/// Room left after a concatenation for the next one: `a + "-" + b + "-" + c` builds one
/// string, appended in place while no one else holds it.
const CONCAT_SLACK: usize = 32;

/// `a + b` on strings, appending to `a` when this evaluation is its only holder.
fn concat(args: &mut [Value]) -> Option<Value> {
    let [first, Value::String(b)] = args else {
        return None;
    };
    let Value::String(mut a) = std::mem::replace(first, Value::Null) else {
        return None;
    };
    if let Some(text) = Arc::get_mut(&mut a) {
        text.push_str(b);
        return Some(Value::String(a));
    }
    let mut text = String::with_capacity(a.len() + b.len() + CONCAT_SLACK);
    text.push_str(&a);
    text.push_str(b);
    Some(Value::String(Arc::new(text)))
}

fn add(a: &Value, b: &Value) -> Option<Value> {
    match (a, b) {
        (Value::Int(a), Value::Int(b)) => a.checked_add(*b).map(Value::Int),
        (Value::Float(a), Value::Float(b)) => Some(Value::Float(a + b)),
        (Value::List(a), Value::List(b)) => {
            let mut items = Vec::with_capacity(a.len() + b.len());
            items.extend(a.iter().cloned());
            items.extend(b.iter().cloned());
            Some(Value::List(Arc::new(items)))
        }
        _ => None,
    }
}

/// Equality of scalars of one type; `None` for anything else (heterogeneous numbers,
/// containers, opaque values), which the `cel` crate decides.
fn equal(a: &Value, b: &Value) -> Option<bool> {
    match (a, b) {
        (Value::Int(a), Value::Int(b)) => Some(a == b),
        (Value::UInt(a), Value::UInt(b)) => Some(a == b),
        (Value::String(a), Value::String(b)) => Some(a == b),
        (Value::Bool(a), Value::Bool(b)) => Some(a == b),
        (Value::Null, Value::Null) => Some(true),
        _ => None,
    }
}

fn compare(op: Op, a: &Value, b: &Value) -> Option<Value> {
    let ordering = match (a, b) {
        (Value::Int(a), Value::Int(b)) => a.cmp(b),
        (Value::UInt(a), Value::UInt(b)) => a.cmp(b),
        (Value::String(a), Value::String(b)) => a.cmp(b),
        _ => return None,
    };
    Some(Value::Bool(match op {
        Op::Lt => ordering.is_lt(),
        Op::Le => ordering.is_le(),
        Op::Gt => ordering.is_gt(),
        _ => ordering.is_ge(),
    }))
}

fn contains(container: &Value, item: &Value) -> Option<bool> {
    if let (Some(object), Value::String(name)) = (as_object(container), item) {
        return Some(object.get(name).is_some());
    }
    match (container, item) {
        (Value::Map(map), Value::String(_)) => Some(lookup(map, item).is_some()),
        (Value::List(items), _) => {
            for element in items.iter() {
                if equal(element, item)? {
                    return Some(true);
                }
            }
            Some(false)
        }
        _ => None,
    }
}

fn opt_select(target: &Value, field: &Arc<String>) -> Option<Value> {
    let select = |target: &Value| -> Option<Value> {
        if let Some(object) = as_object(target) {
            return Some(wrap(object.get(field).cloned()));
        }
        match target {
            Value::Map(map) => Some(wrap(lookup(map, &Value::String(Arc::clone(field))))),
            _ => None,
        }
    };
    match optional(target) {
        None => select(target),
        Some(inner) => match inner.value() {
            None => Some(wrap(None)),
            Some(value) => select(value),
        },
    }
}

/// `@kro.iter(range)`: a list as it is, a map as its keys in sorted order; one unit of budget
/// per element.
fn iter(range: &Value) -> Result<Option<Value>, ExecutionError> {
    match range {
        Value::List(items) => {
            charge(items.len() as u64, "comprehension")?;
            Ok(Some(range.clone()))
        }
        Value::Map(map) => {
            charge(map.map.len() as u64, "comprehension")?;
            let mut keys: Vec<&Key> = map.map.keys().collect();
            keys.sort();
            Ok(Some(Value::List(Arc::new(
                keys.into_iter().map(Value::from).collect(),
            ))))
        }
        other => match as_object(other) {
            Some(object) => {
                charge(object.len() as u64, "comprehension")?;
                Ok(Some(Value::List(Arc::new(
                    object
                        .names()
                        .map(|k| Value::String(Arc::new(k.to_owned())))
                        .collect(),
                ))))
            }
            None => Ok(None),
        },
    }
}

fn text_units(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX) / BYTES_PER_UNIT
}

/// The cost of holding `value` (see `library::cost`): one unit per value, map key and element,
/// plus one per [`BYTES_PER_UNIT`] bytes of text. Counting stops once it passes `cap`.
pub(crate) fn weight(value: &Value, cap: u64) -> u64 {
    match value {
        Value::String(s) => return 1 + text_units(s.len()),
        Value::List(_) | Value::Map(_) | Value::Opaque(_) => {}
        Value::Bytes(b) => return 1 + text_units(b.len()),
        _ => return 1,
    }
    let mut total: u64 = 0;
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        total = total.saturating_add(1);
        match value {
            Value::String(s) => total = total.saturating_add(text_units(s.len())),
            Value::Bytes(b) => total = total.saturating_add(text_units(b.len())),
            Value::List(items) => pending.extend(items.iter()),
            Value::Map(map) => {
                for (key, entry) in map.map.iter() {
                    total = total.saturating_add(1);
                    if let Key::String(k) = key {
                        total = total.saturating_add(text_units(k.len()));
                    }
                    pending.push(entry);
                }
            }
            other => {
                if let Some(object) = as_object(other) {
                    for (key, entry) in object.fields() {
                        total = total.saturating_add(1 + text_units(key.len()));
                        pending.push(entry);
                    }
                } else if let Some(inner) = optional(other).and_then(OptionalValue::value) {
                    pending.push(inner);
                }
            }
        }
        if total > cap {
            break;
        }
    }
    total
}
