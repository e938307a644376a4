//! Comprehension support the `cel` crate lacks: `cel.bind`, two-variable comprehensions, sorted
//! iteration over maps, and the iteration budget.
//!
//! Two-variable comprehensions desugar into one-variable ones over `@kro.pairs(range)`, a list of
//! `[key, value]` pairs (`[index, element]` for lists, sorted by key for maps), with the two
//! variables bound by `cel.bind`-style comprehensions around the user's expressions. Every other
//! comprehension's range is wrapped in `@kro.iter(range)`, which turns a map into its sorted key
//! list (the `cel` crate's maps iterate in random order) and charges the budget.

use super::budget::charge;
use super::{Overload, value_fns};
use cel::common::ast::{
    CallExpr, ComprehensionExpr, EntryExpr, Expr, IdedExpr, ListExpr, LiteralValue, operators,
};
use cel::common::types::{DYN_TYPE, LIST_TYPE};
use cel::common::value::{CowVal, Val};
use cel::objects::{Key, Map, Value};
use cel::parser::{Macro, MacroExprHelper, ParseError};
use cel::{DeclarationError, Env, ExecutionError};
use std::collections::HashMap;
use std::sync::Arc;

pub(crate) const ITER: &str = "@kro.iter";
pub(crate) const PAIRS: &str = "@kro.pairs";
const PAIRS_TO_MAP: &str = "@kro.pairsToMap";
const ENTRIES_TO_MAP: &str = "@kro.entriesToMap";
const ITEM: &str = "@it";
const RESULT: &str = "@result";
const UNUSED: &str = "#unused";

value_fns! {
    pairs_fn => pairs,
    pairs_to_map_fn => pairs_to_map,
    entries_to_map_fn => entries_to_map,
}

pub(crate) static OVERLOADS: &[Overload] = &[
    Overload {
        name: ITER,
        id: "@kro.iter(dyn)",
        receiver: false,
        args: &[DYN_TYPE],
        func: iter,
    },
    Overload {
        name: PAIRS,
        id: "@kro.pairs(dyn)",
        receiver: false,
        args: &[DYN_TYPE],
        func: pairs_fn,
    },
    Overload {
        name: PAIRS_TO_MAP,
        id: "@kro.pairsToMap(list)",
        receiver: false,
        args: &[LIST_TYPE],
        func: pairs_to_map_fn,
    },
    Overload {
        name: ENTRIES_TO_MAP,
        id: "@kro.entriesToMap(list)",
        receiver: false,
        args: &[LIST_TYPE],
        func: entries_to_map_fn,
    },
];

/// The range of a one-variable comprehension: lists pass through untouched (no copy), maps
/// become their keys in sorted order.
fn iter<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let Some(range) = args.into_iter().next() else {
        return Err(ExecutionError::invalid_argument_count(1, 0));
    };
    let size = range.as_sizer().map(|s| *s.size().inner()).unwrap_or(0);
    charge(u64::try_from(size).unwrap_or(0), "comprehension")?;
    if range.get_type().kind() != cel::common::types::Kind::Map {
        return Ok(range);
    }
    let Value::Map(map) = Value::try_from(range.as_ref())? else {
        return Ok(range);
    };
    let mut keys: Vec<&Key> = map.map.keys().collect();
    keys.sort();
    let keys: Vec<Value> = keys.into_iter().map(Value::from).collect();
    let boxed: Box<dyn Val> = Box::<dyn Val>::try_from(Value::List(Arc::new(keys)))?;
    Ok(CowVal::Owned(boxed))
}

fn pairs(args: &[Value]) -> Result<Value, ExecutionError> {
    let pair = |k: Value, v: Value| Value::List(Arc::new(vec![k, v]));
    let out: Vec<Value> = match args.first() {
        Some(Value::List(items)) => {
            charge(items.len() as u64, "comprehension")?;
            items
                .iter()
                .enumerate()
                .map(|(i, v)| pair(Value::Int(i as i64), v.clone()))
                .collect()
        }
        Some(Value::Map(map)) => {
            charge(map.map.len() as u64, "comprehension")?;
            let mut entries: Vec<(&Key, &Value)> = map.map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            entries
                .into_iter()
                .map(|(k, v)| pair(Value::from(k), v.clone()))
                .collect()
        }
        Some(other) => {
            return Err(ExecutionError::UnexpectedType {
                got: format!("{:?}", other.type_of()),
                want: "list or map".to_owned(),
            });
        }
        None => return Err(ExecutionError::invalid_argument_count(1, 0)),
    };
    Ok(Value::List(Arc::new(out)))
}

fn map_key(value: &Value, function: &str) -> Result<Key, ExecutionError> {
    match value {
        Value::String(s) => Ok(Key::String(s.clone())),
        Value::Int(i) => Ok(Key::Int(*i)),
        Value::UInt(u) => Ok(Key::Uint(*u)),
        Value::Bool(b) => Ok(Key::Bool(*b)),
        other => Err(ExecutionError::function_error(
            function,
            format!("{other:?} cannot be a map key"),
        )),
    }
}

fn pairs_to_map(args: &[Value]) -> Result<Value, ExecutionError> {
    let Some(Value::List(items)) = args.first() else {
        return Err(ExecutionError::invalid_argument_count(1, 0));
    };
    let mut map = HashMap::with_capacity(items.len());
    for item in items.iter() {
        if let Value::List(pair) = item
            && let [k, v] = pair.as_slice()
        {
            map.insert(map_key(k, "transformMap")?, v.clone());
        }
    }
    Ok(Value::Map(Map { map: Arc::new(map) }))
}

fn entries_to_map(args: &[Value]) -> Result<Value, ExecutionError> {
    let Some(Value::List(items)) = args.first() else {
        return Err(ExecutionError::invalid_argument_count(1, 0));
    };
    let mut map = HashMap::new();
    for item in items.iter() {
        let Value::Map(entry) = item else {
            return Err(ExecutionError::function_error(
                "transformMapEntry",
                format!("the transform must return a map, got {:?}", item.type_of()),
            ));
        };
        for (k, v) in entry.map.iter() {
            if map.insert(k.clone(), v.clone()).is_some() {
                return Err(ExecutionError::function_error(
                    "transformMapEntry",
                    format!("insert failed: key {k:?} already exists"),
                ));
            }
        }
    }
    Ok(Value::Map(Map { map: Arc::new(map) }))
}

fn call(helper: &mut MacroExprHelper<'_>, name: &str, args: Vec<IdedExpr>) -> IdedExpr {
    helper.next_expr(Expr::Call(CallExpr {
        func_name: name.to_owned(),
        target: None,
        args,
    }))
}

fn ident(helper: &mut MacroExprHelper<'_>, name: &str) -> IdedExpr {
    helper.next_expr(Expr::Ident(name.to_owned()))
}

fn boolean(helper: &mut MacroExprHelper<'_>, value: bool) -> IdedExpr {
    helper.next_expr(Expr::Literal(LiteralValue::Boolean(value.into())))
}

fn int(helper: &mut MacroExprHelper<'_>, value: i64) -> IdedExpr {
    helper.next_expr(Expr::Literal(LiteralValue::Int(value.into())))
}

fn list(helper: &mut MacroExprHelper<'_>, elements: Vec<IdedExpr>) -> IdedExpr {
    helper.next_expr(Expr::List(ListExpr::new(elements)))
}

/// `cel.bind(name, init, body)`: a comprehension over an empty list whose accumulator is the
/// bound variable.
pub(crate) fn bind(
    helper: &mut MacroExprHelper<'_>,
    name: &str,
    init: IdedExpr,
    body: IdedExpr,
) -> IdedExpr {
    let iter_range = list(helper, Vec::new());
    let loop_cond = boolean(helper, false);
    let loop_step = ident(helper, name);
    helper.next_expr(Expr::Comprehension(Box::new(ComprehensionExpr {
        iter_range,
        iter_var: UNUSED.to_owned(),
        iter_var2: None,
        accu_var: name.to_owned(),
        accu_init: init,
        loop_cond,
        loop_step,
        result: body,
    })))
}

/// `body` with the two comprehension variables bound to the current pair's halves.
fn with_pair(
    helper: &mut MacroExprHelper<'_>,
    (key, value): (&str, &str),
    body: IdedExpr,
) -> IdedExpr {
    let item = ident(helper, ITEM);
    let one = int(helper, 1);
    let second = call(helper, operators::INDEX, vec![item, one]);
    let inner = bind(helper, value, second, body);
    let item = ident(helper, ITEM);
    let zero = int(helper, 0);
    let first = call(helper, operators::INDEX, vec![item, zero]);
    bind(helper, key, first, inner)
}

fn variable_name(helper: &MacroExprHelper<'_>, arg: &IdedExpr) -> Result<String, ParseError> {
    match &arg.expr {
        Expr::Ident(name) => Ok(name.clone()),
        _ => Err(helper.new_error(arg.id, "argument must be a simple name")),
    }
}

/// The parts every two-variable macro starts from: both variable names and the pairs range.
fn two_var_setup(
    helper: &mut MacroExprHelper<'_>,
    target: &mut Option<IdedExpr>,
    args: &mut Vec<IdedExpr>,
) -> Result<(String, String, IdedExpr), ParseError> {
    let key = variable_name(helper, &args[0])?;
    let value = variable_name(helper, &args[1])?;
    if key == value {
        return Err(helper.new_error(
            args[1].id,
            format!("duplicate variable name: {key} is used for both the key and the value"),
        ));
    }
    let target = target.take().unwrap_or_default();
    let range = call(helper, PAIRS, vec![target]);
    args.drain(0..2);
    Ok((key, value, range))
}

#[derive(Clone, Copy)]
enum Quantifier {
    All,
    Exists,
    ExistsOne,
}

fn quantifier(
    kind: Quantifier,
) -> impl Fn(
    &mut MacroExprHelper<'_>,
    &mut Option<IdedExpr>,
    &mut Vec<IdedExpr>,
) -> Result<Option<IdedExpr>, ParseError>
+ Send
+ Sync
+ 'static {
    move |helper, target, args| {
        let (key, value, range) = two_var_setup(helper, target, args)?;
        let predicate = args.remove(0);
        let predicate = with_pair(helper, (&key, &value), predicate);
        let accu = ident(helper, RESULT);
        let (init, cond, step, result) = match kind {
            Quantifier::All => {
                let init = boolean(helper, true);
                let cond = call(helper, operators::NOT_STRICTLY_FALSE, vec![accu]);
                let accu = ident(helper, RESULT);
                let step = call(helper, operators::LOGICAL_AND, vec![accu, predicate]);
                (init, cond, step, ident(helper, RESULT))
            }
            Quantifier::Exists => {
                let init = boolean(helper, false);
                let not = call(helper, operators::LOGICAL_NOT, vec![accu]);
                let cond = call(helper, operators::NOT_STRICTLY_FALSE, vec![not]);
                let accu = ident(helper, RESULT);
                let step = call(helper, operators::LOGICAL_OR, vec![accu, predicate]);
                (init, cond, step, ident(helper, RESULT))
            }
            Quantifier::ExistsOne => {
                let init = int(helper, 0);
                let cond = boolean(helper, true);
                let one = int(helper, 1);
                let plus = call(helper, operators::ADD, vec![accu, one]);
                let unchanged = ident(helper, RESULT);
                let step = call(
                    helper,
                    operators::CONDITIONAL,
                    vec![predicate, plus, unchanged],
                );
                let accu = ident(helper, RESULT);
                let one = int(helper, 1);
                (
                    init,
                    cond,
                    step,
                    call(helper, operators::EQUALS, vec![accu, one]),
                )
            }
        };
        Ok(Some(helper.next_expr(Expr::Comprehension(Box::new(
            ComprehensionExpr {
                iter_range: range,
                iter_var: ITEM.to_owned(),
                iter_var2: None,
                accu_var: RESULT.to_owned(),
                accu_init: init,
                loop_cond: cond,
                loop_step: step,
                result,
            },
        )))))
    }
}

#[derive(Clone, Copy)]
enum Transform {
    List,
    Map,
    MapEntry,
}

fn transform(
    kind: Transform,
) -> impl Fn(
    &mut MacroExprHelper<'_>,
    &mut Option<IdedExpr>,
    &mut Vec<IdedExpr>,
) -> Result<Option<IdedExpr>, ParseError>
+ Send
+ Sync
+ 'static {
    move |helper, target, args| {
        let (key, value, range) = two_var_setup(helper, target, args)?;
        let filter = if args.len() == 2 {
            Some(args.remove(0))
        } else {
            None
        };
        let transformed = args.remove(0);
        let transformed = with_pair(helper, (&key, &value), transformed);
        let element = match kind {
            Transform::List | Transform::MapEntry => transformed,
            Transform::Map => {
                let item = ident(helper, ITEM);
                let zero = int(helper, 0);
                let key = call(helper, operators::INDEX, vec![item, zero]);
                list(helper, vec![key, transformed])
            }
        };
        let element = list(helper, vec![element]);
        let accu = ident(helper, RESULT);
        let append = call(helper, operators::ADD, vec![accu, element]);
        let step = match filter {
            Some(filter) => {
                let filter = with_pair(helper, (&key, &value), filter);
                let unchanged = ident(helper, RESULT);
                call(
                    helper,
                    operators::CONDITIONAL,
                    vec![filter, append, unchanged],
                )
            }
            None => append,
        };
        let init = list(helper, Vec::new());
        let cond = boolean(helper, true);
        let result = ident(helper, RESULT);
        let comprehension = helper.next_expr(Expr::Comprehension(Box::new(ComprehensionExpr {
            iter_range: range,
            iter_var: ITEM.to_owned(),
            iter_var2: None,
            accu_var: RESULT.to_owned(),
            accu_init: init,
            loop_cond: cond,
            loop_step: step,
            result,
        })));
        Ok(Some(match kind {
            Transform::List => comprehension,
            Transform::Map => call(helper, PAIRS_TO_MAP, vec![comprehension]),
            Transform::MapEntry => call(helper, ENTRIES_TO_MAP, vec![comprehension]),
        }))
    }
}

fn cel_bind(
    helper: &mut MacroExprHelper<'_>,
    target: &mut Option<IdedExpr>,
    args: &mut Vec<IdedExpr>,
) -> Result<Option<IdedExpr>, ParseError> {
    if !matches!(target.as_ref().map(|t| &t.expr), Some(Expr::Ident(name)) if name == "cel") {
        return Ok(None);
    }
    let name = variable_name(helper, &args[0])?;
    let body = args.remove(2);
    let init = args.remove(1);
    Ok(Some(bind(helper, &name, init, body)))
}

pub(crate) fn add_macros(env: &mut Env) -> Result<(), DeclarationError> {
    env.add_macro(Macro::receiver("bind", 3, cel_bind))?;
    env.add_macro(Macro::receiver("all", 3, quantifier(Quantifier::All)))?;
    env.add_macro(Macro::receiver("exists", 3, quantifier(Quantifier::Exists)))?;
    env.add_macro(Macro::receiver(
        "existsOne",
        3,
        quantifier(Quantifier::ExistsOne),
    ))?;
    env.add_macro(Macro::receiver(
        "exists_one",
        3,
        quantifier(Quantifier::ExistsOne),
    ))?;
    for arity in [3, 4] {
        env.add_macro(Macro::receiver(
            "transformList",
            arity,
            transform(Transform::List),
        ))?;
        env.add_macro(Macro::receiver(
            "transformMap",
            arity,
            transform(Transform::Map),
        ))?;
        env.add_macro(Macro::receiver(
            "transformMapEntry",
            arity,
            transform(Transform::MapEntry),
        ))?;
    }
    Ok(())
}

/// Wraps every comprehension range that is not already one of ours (two-variable pairs, a bind's
/// empty list) in `@kro.iter(...)`, so maps iterate in sorted key order and the budget sees
/// every loop.
pub(crate) fn instrument(expr: &mut IdedExpr) {
    match &mut expr.expr {
        Expr::Comprehension(c) => {
            let already = match &c.iter_range.expr {
                Expr::Call(call) => call.func_name == PAIRS || call.func_name == ITER,
                Expr::List(list) => list.elements.is_empty(),
                _ => false,
            };
            if !already {
                let range = std::mem::take(&mut c.iter_range);
                // Id 0 is never assigned by the parser; the wrapper has no source position.
                c.iter_range = IdedExpr {
                    id: 0,
                    expr: Expr::Call(CallExpr {
                        func_name: ITER.to_owned(),
                        target: None,
                        args: vec![range],
                    }),
                };
            }
            for part in [
                &mut c.iter_range,
                &mut c.accu_init,
                &mut c.loop_cond,
                &mut c.loop_step,
                &mut c.result,
            ] {
                instrument(part);
            }
        }
        Expr::Call(call) => {
            if let Some(target) = call.target.as_mut() {
                instrument(target);
            }
            call.args.iter_mut().for_each(instrument);
        }
        Expr::Select(select) => instrument(&mut select.operand),
        Expr::List(list) => list.elements.iter_mut().for_each(instrument),
        Expr::Map(map) => {
            for entry in &mut map.entries {
                if let EntryExpr::MapEntry(e) = &mut entry.expr {
                    instrument(&mut e.key);
                    instrument(&mut e.value);
                }
            }
        }
        Expr::Struct(s) => {
            for entry in &mut s.entries {
                if let EntryExpr::StructField(f) = &mut entry.expr {
                    instrument(&mut f.value);
                }
            }
        }
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}
