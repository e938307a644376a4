//! Evaluating a lowered program.

use super::delegate::{self, type_name};
use super::native::{apply, charge_weight, lookup, optional, wrap};
use super::object::as_object;
use super::{Append, Call, Comprehension, Fold, Lowered, Node, Op, Path};
use cel::common::ast::operators;
use cel::objects::{Key, KeyRef, Map, Value};
use cel::{Env, ExecutionError};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Evaluates `lowered` with the activation's variables.
pub(crate) fn evaluate(
    lowered: &Lowered,
    variables: &BTreeMap<String, Value>,
    env: &Arc<Env>,
) -> Result<Value, ExecutionError> {
    // Most expressions read a few variables: they are looked up once, without allocating.
    const INLINE: usize = 8;
    let mut inline: [Option<&Value>; INLINE] = [None; INLINE];
    let heap: Vec<Option<&Value>>;
    let roots: &[Option<&Value>] = if lowered.roots.len() <= INLINE {
        for (slot, name) in inline.iter_mut().zip(&lowered.roots) {
            *slot = variables.get(name.as_str());
        }
        &inline[..lowered.roots.len()]
    } else {
        heap = lowered
            .roots
            .iter()
            .map(|name| variables.get(name.as_str()))
            .collect();
        &heap
    };
    let mut frame = Frame {
        roots,
        names: &lowered.roots,
        // Most expressions have no comprehension: no slots, no allocation.
        locals: if lowered.slots == 0 {
            Vec::new()
        } else {
            vec![Value::Null; lowered.slots]
        },
        env,
    };
    frame.eval(&lowered.root)
}

struct Frame<'a> {
    roots: &'a [Option<&'a Value>],
    names: &'a [Arc<String>],
    locals: Vec<Value>,
    env: &'a Arc<Env>,
}

fn to_bool(value: Result<Value, ExecutionError>) -> Result<bool, ExecutionError> {
    match value? {
        Value::Bool(b) => Ok(b),
        other => Err(ExecutionError::UnexpectedType {
            got: type_name(&other),
            want: "bool".to_owned(),
        }),
    }
}

/// The error of `left op right` when it is neither a boolean result nor absorbed.
fn logic_error(
    operator: &str,
    left: Result<bool, ExecutionError>,
    right: &Value,
) -> ExecutionError {
    let right_type = type_name(right);
    match left {
        Err(ExecutionError::UnexpectedType { got, want }) if want == "bool" => {
            ExecutionError::no_such_overload(operator, vec![got, right_type])
        }
        Err(error) => error,
        Ok(_) => ExecutionError::no_such_overload(operator, vec!["bool".to_owned(), right_type]),
    }
}

impl Frame<'_> {
    fn root(&self, index: usize) -> Result<&Value, ExecutionError> {
        self.roots
            .get(index)
            .copied()
            .flatten()
            .ok_or_else(|| ExecutionError::UndeclaredReference(Arc::clone(&self.names[index])))
    }

    fn eval(&mut self, node: &Node) -> Result<Value, ExecutionError> {
        match node {
            Node::Const(value) => Ok(value.clone()),
            Node::Root(index) => self.root(*index).cloned(),
            Node::Local(slot) => Ok(self.locals[*slot].clone()),
            Node::Path(path) => self.path(path),
            Node::Call(call) if matches!(call.op, Op::OptSelect) => Ok(match self.maybe(node)? {
                Maybe::Present(value) => wrap(Some(value)),
                Maybe::Absent => wrap(None),
                Maybe::Plain(value) => value,
            }),
            Node::Call(call) if matches!(call.op, Op::Index) => match self.find(node) {
                Some(Place::Plain(value)) => Ok(value.clone()),
                _ => self.call(call),
            },
            Node::Call(call) => self.call(call),
            Node::And(a, b) => self.logic(a, b, false),
            Node::Or(a, b) => self.logic(a, b, true),
            Node::Cond(parts) => {
                let [c, a, b] = parts.as_ref();
                if to_bool(self.eval(c))? {
                    self.eval(a)
                } else {
                    self.eval(b)
                }
            }
            Node::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(self.eval(item)?);
                }
                Ok(Value::List(Arc::new(out)))
            }
            Node::Map(entries) => self.map(entries),
            Node::Comprehension(c) => self.comprehension(c),
            Node::Subtree(s) => {
                let mut bound = Vec::with_capacity(s.bindings.len());
                for (name, node) in &s.bindings {
                    let value = match node {
                        // A name the expression reads that is no variable (a function
                        // qualifier such as `json`) is left for the interpreter to resolve.
                        Node::Root(index) => match self.roots.get(*index).copied().flatten() {
                            Some(value) => value.clone(),
                            None => continue,
                        },
                        other => self.eval(other)?,
                    };
                    bound.push((name.clone(), value));
                }
                delegate::subtree(&s.expr, bound, self.env)
            }
        }
    }

    /// `a && b` (`or` false) or `a || b`, as the `cel` crate decides them: the absorbing value
    /// on either side wins over an error on the other.
    fn logic(&mut self, a: &Node, b: &Node, or: bool) -> Result<Value, ExecutionError> {
        let left = to_bool(self.eval(a));
        if matches!(left, Ok(l) if l == or) {
            return Ok(Value::Bool(or));
        }
        let right = self.eval(b)?;
        match (left, &right) {
            (Ok(_), Value::Bool(r)) => Ok(Value::Bool(*r)),
            (Err(_), Value::Bool(r)) if *r == or => Ok(Value::Bool(or)),
            (left, _) => {
                let name = if or {
                    operators::LOGICAL_OR
                } else {
                    operators::LOGICAL_AND
                };
                Err(logic_error(name, left, &right))
            }
        }
    }

    fn map(&mut self, entries: &[(Node, Node)]) -> Result<Value, ExecutionError> {
        let mut map = HashMap::with_capacity(entries.len());
        for (k, v) in entries {
            let key = match self.eval(k)? {
                Value::String(s) => Key::String(s),
                Value::Int(i) => Key::Int(i),
                Value::UInt(u) => Key::Uint(u),
                Value::Bool(b) => Key::Bool(b),
                other => return Err(ExecutionError::UnsupportedKeyType(other)),
            };
            let value = self.eval(v)?;
            map.insert(key, value);
        }
        Ok(Value::Map(Map { map: Arc::new(map) }))
    }

    fn path(&mut self, path: &Path) -> Result<Value, ExecutionError> {
        if let Some(Place::Plain(start)) = self.find(&path.operand) {
            return walk(start, path, 0, self.env);
        }
        let start = match &path.operand {
            Node::Root(index) => self.root(*index)?.clone(),
            other => self.eval(other)?,
        };
        walk(&start, path, 0, self.env)
    }

    /// `node` evaluated in place, when it only reads data that exists: a variable, a field
    /// selection or list index that finds its value, an optional selection. `None` when
    /// evaluating it could fail, charge the budget or build a value: the caller then evaluates
    /// it, and gets the error or the value the evaluation gives.
    fn find<'s>(&'s self, node: &'s Node) -> Option<Place<'s>> {
        match node {
            Node::Const(value) => Some(Place::Plain(value)),
            Node::Root(index) => self.roots.get(*index).copied().flatten().map(Place::Plain),
            Node::Local(slot) => self.locals.get(*slot).map(Place::Plain),
            Node::Path(path) if !path.test => {
                let Place::Plain(mut value) = self.find(&path.operand)? else {
                    return None;
                };
                for (name, key) in path.names.iter().zip(&path.fields) {
                    value = field(value, name, key)?;
                }
                Some(Place::Plain(value))
            }
            Node::Call(call) => match (call.op, call.args.as_slice()) {
                (Op::Index, [target, index]) => {
                    let (Place::Plain(target), Place::Plain(index)) =
                        (self.find(target)?, self.find(index)?)
                    else {
                        return None;
                    };
                    index_of(target, index).map(Place::Plain)
                }
                (Op::OptSelect, [operand, Node::Const(Value::String(name))]) => {
                    let target = match self.find(operand)?.unwrapped() {
                        Place::Absent => return Some(Place::Absent),
                        Place::Present(value) | Place::Plain(value) => value,
                    };
                    if !is_map(target) {
                        return None;
                    }
                    Some(entry(target, name).map_or(Place::Absent, Place::Present))
                }
                _ => None,
            },
            _ => None,
        }
    }

    fn call(&mut self, call: &Call) -> Result<Value, ExecutionError> {
        match (call.op, call.args.as_slice()) {
            (Op::NotStrictlyFalse, [arg]) => {
                let value = self.eval(arg);
                return Ok(Value::Bool(!matches!(value, Ok(Value::Bool(false)))));
            }
            (Op::OrValue, [target, default]) => {
                // A literal default cannot fail: a receiver found in place needs neither.
                if let Node::Const(literal) = default
                    && let Some(place) = self.find(target)
                {
                    match place.unwrapped() {
                        Place::Present(value) => return Ok(value.clone()),
                        Place::Absent => return Ok(literal.clone()),
                        Place::Plain(_) => {}
                    }
                }
                // As the `cel` crate does: the argument, then the receiver.
                let default = self.eval(default)?;
                return match self.maybe(target)? {
                    Maybe::Present(value) => Ok(value),
                    Maybe::Absent => Ok(default),
                    Maybe::Plain(value) => {
                        delegate::operation(&call.delegate, vec![value, default], self.env)
                    }
                };
            }
            (Op::Cost, [arg]) => {
                let value = self.eval(arg)?;
                charge_weight(&value)?;
                return Ok(value);
            }
            _ => {}
        }
        // Calls take few arguments: they are held inline, without allocating.
        let count = call.args.len();
        if count <= 3 {
            let mut inline = [Value::Null, Value::Null, Value::Null];
            let args = &mut inline[..count];
            self.arguments(call, args)?;
            if !matches!(call.op, Op::Other)
                && let Some(value) = apply(call.op, args)?
            {
                return Ok(value);
            }
            return delegate::operation(&call.delegate, args.to_vec(), self.env);
        }
        let mut args = vec![Value::Null; count];
        self.arguments(call, &mut args)?;
        if !matches!(call.op, Op::Other)
            && let Some(value) = apply(call.op, &mut args)?
        {
            return Ok(value);
        }
        delegate::operation(&call.delegate, args, self.env)
    }

    /// Evaluates an optional without building the intermediate optionals of a chain of
    /// optional selections (`a.?b.?c`).
    fn maybe(&mut self, node: &Node) -> Result<Maybe, ExecutionError> {
        if let Some(place) = self.find(node) {
            return Ok(match place.unwrapped() {
                Place::Plain(value) => Maybe::Plain(value.clone()),
                Place::Present(value) => Maybe::Present(value.clone()),
                Place::Absent => Maybe::Absent,
            });
        }
        let Node::Call(call) = node else {
            return self.eval(node).map(Maybe::of);
        };
        let (Op::OptSelect, [operand, Node::Const(Value::String(field))]) =
            (call.op, call.args.as_slice())
        else {
            return self.eval(node).map(Maybe::of);
        };
        let (target, was_optional) = match self.maybe(operand)? {
            Maybe::Absent => return Ok(Maybe::Absent),
            Maybe::Present(value) => (value, true),
            Maybe::Plain(value) => (value, false),
        };
        if let Some(object) = as_object(&target) {
            return Ok(Maybe::from(object.get(field).cloned()));
        }
        if let Value::Map(map) = &target {
            return Ok(Maybe::from(lookup(map, &Value::String(Arc::clone(field)))));
        }
        let operand = if was_optional {
            wrap(Some(target))
        } else {
            target
        };
        let field = Value::String(Arc::clone(field));
        delegate::operation(&call.delegate, vec![operand, field], self.env).map(Maybe::of)
    }

    /// Evaluates the arguments of `call` into `out`: as the `cel` crate does, the arguments,
    /// then the receiver.
    fn arguments(&mut self, call: &Call, out: &mut [Value]) -> Result<(), ExecutionError> {
        let skip = usize::from(call.receiver);
        for (slot, arg) in out.iter_mut().zip(&call.args).skip(skip) {
            *slot = self.eval(arg)?;
        }
        if call.receiver {
            out[0] = self.eval(&call.args[0])?;
        }
        Ok(())
    }

    fn comprehension(&mut self, c: &Comprehension) -> Result<Value, ExecutionError> {
        let accu = self.eval(&c.accu_init)?;
        let range = self.eval(&c.range)?;
        let Value::List(items) = range else {
            return Err(ExecutionError::UnexpectedType {
                got: type_name(&range),
                want: "iterable".to_owned(),
            });
        };
        if let Some(append) = &c.append
            && matches!(&accu, Value::List(l) if l.is_empty())
        {
            return self.append(c, append, &items);
        }
        self.locals[c.accu_slot] = accu;
        let mut pending: Option<ExecutionError> = None;
        for item in items.iter() {
            if !to_bool(self.eval(&c.cond))? {
                break;
            }
            self.locals[c.iter_slot] = item.clone();
            match (self.eval(&c.step), c.fold) {
                (Err(e), Some(_)) => pending = Some(e),
                (Err(e), None) => return Err(e),
                (Ok(v), Some(fold)) if pending.is_some() && v != Value::Bool(fold == Fold::Or) => {}
                (Ok(v), _) => {
                    pending = None;
                    self.locals[c.accu_slot] = v;
                }
            }
        }
        if let Some(error) = pending {
            return Err(error);
        }
        self.eval(&c.result)
    }

    /// A `map` / `filter` loop appending to one list.
    fn append(
        &mut self,
        c: &Comprehension,
        append: &Append,
        items: &[Value],
    ) -> Result<Value, ExecutionError> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if !to_bool(self.eval(&c.cond))? {
                break;
            }
            self.locals[c.iter_slot] = item.clone();
            if let Some(guard) = &append.guard
                && !to_bool(self.eval(guard))?
            {
                continue;
            }
            match &append.item {
                Node::List(elements) => {
                    for element in elements {
                        out.push(self.eval(element)?);
                    }
                }
                other => match self.eval(other)? {
                    Value::List(list) => out.extend(list.iter().cloned()),
                    value => {
                        return Err(ExecutionError::UnexpectedType {
                            got: type_name(&value),
                            want: "list".to_owned(),
                        });
                    }
                },
            }
        }
        Ok(Value::List(Arc::new(out)))
    }
}

/// A value found in place (see [`Frame::find`]).
enum Place<'v> {
    /// A value, which may itself be an optional.
    Plain(&'v Value),
    /// What an optional selection found.
    Present(&'v Value),
    /// An optional selection found nothing.
    Absent,
}

impl<'v> Place<'v> {
    /// A plain optional value as what it holds, as [`Maybe::of`] takes it.
    fn unwrapped(self) -> Place<'v> {
        match self {
            Place::Plain(value) => match optional(value) {
                Some(o) => o.value().map_or(Place::Absent, Place::Present),
                None => Place::Plain(value),
            },
            other => other,
        }
    }
}

fn is_map(value: &Value) -> bool {
    matches!(value, Value::Map(_)) || as_object(value).is_some()
}

/// `target[index]` for a list and an int, or an object or map and a string, when present.
fn index_of<'v>(target: &'v Value, index: &Value) -> Option<&'v Value> {
    match (target, index) {
        (Value::List(items), Value::Int(i)) => usize::try_from(*i).ok().and_then(|i| items.get(i)),
        (target, Value::String(key)) => entry(target, key),
        _ => None,
    }
}

/// The entry `key` of an object or map, when present.
fn entry<'v>(target: &'v Value, key: &str) -> Option<&'v Value> {
    match target {
        Value::Map(map) => map
            .map
            .get(&KeyRef::String(key) as &dyn cel::objects::AsKeyRef),
        other => as_object(other).and_then(|object| object.get(key)),
    }
}

/// The field `name` of an object or map, if it has one.
fn field<'v>(value: &'v Value, name: &str, key: &Key) -> Option<&'v Value> {
    if let Some(object) = as_object(value) {
        return object.get(name);
    }
    match value {
        Value::Map(map) => map.map.get(key),
        _ => None,
    }
}

/// An optional being evaluated: present, absent, or not an optional at all.
enum Maybe {
    Present(Value),
    Absent,
    Plain(Value),
}

impl Maybe {
    fn of(value: Value) -> Self {
        match optional(&value) {
            Some(o) => Maybe::from(o.value().cloned()),
            None => Maybe::Plain(value),
        }
    }
}

impl From<Option<Value>> for Maybe {
    fn from(value: Option<Value>) -> Self {
        value.map_or(Maybe::Absent, Maybe::Present)
    }
}

/// The error of selecting the missing field `path.fields[index]`, which does not depend on the
/// map's other entries: the `cel` crate selects it from an empty map.
fn missing(path: &Path, index: usize, env: &Arc<Env>) -> Result<Value, ExecutionError> {
    let empty = Value::Map(Map {
        map: Arc::new(HashMap::new()),
    });
    delegate::operation(&path.delegates[index], vec![empty], env)
}

/// Selects `path.fields[from..]` in turn from `value`, borrowing until the end.
fn walk(
    mut value: &Value,
    path: &Path,
    from: usize,
    env: &Arc<Env>,
) -> Result<Value, ExecutionError> {
    let last = path.fields.len() - 1;
    for index in from..path.fields.len() {
        let key = &path.fields[index];
        let test = path.test && index == last;
        if let Some(object) = as_object(value) {
            match object.get(&path.names[index]) {
                Some(_) if test => return Ok(Value::Bool(true)),
                None if test => return Ok(Value::Bool(false)),
                Some(found) => {
                    value = found;
                    continue;
                }
                None => return missing(path, index, env),
            }
        }
        if let Value::Map(map) = value {
            match map.map.get(key) {
                Some(_) if test => return Ok(Value::Bool(true)),
                None if test => return Ok(Value::Bool(false)),
                Some(found) => {
                    value = found;
                    continue;
                }
                None => return missing(path, index, env),
            }
        }
        let next = delegate::operation(&path.delegates[index], vec![value.clone()], env)?;
        return if index == last {
            Ok(next)
        } else {
            walk(&next, path, index + 1, env)
        };
    }
    Ok(value.clone())
}
