//! Comprehension support the `cel` crate lacks: `cel.bind`, two-variable comprehensions, sorted
//! iteration over maps, and the iteration budget.
//!
//! Two-variable comprehensions desugar into one-variable ones that the type checker can type with
//! ordinary signatures: the range is bound once to `@range`, the first variable iterates over
//! `@kro.keys(@range)` (a list's indices, or a map's keys in sorted order) and the second is bound
//! to `@range[key]` by a `cel.bind`-style comprehension around the user's expression.
//! `transformMap` and `transformMapEntry` collect single-entry maps that `@kro.entriesToMap`
//! merges. Every other comprehension's range is wrapped in `@kro.iter(range)`, which turns a map
//! into its sorted key list (the `cel` crate's maps iterate in random order) and charges the
//! budget.

use super::budget::charge;
use super::{Overload, value_fns};
use cel::common::ast::{
    CallExpr, ComprehensionExpr, EntryExpr, Expr, IdedEntryExpr, IdedExpr, ListExpr, LiteralValue,
    MapEntryExpr, MapExpr, operators,
};
use cel::common::types::{DYN_TYPE, LIST_TYPE};
use cel::common::value::{CowVal, Val};
use cel::objects::{Key, Map, Value};
use cel::parser::{Macro, MacroExprHelper, ParseError};
use cel::{DeclarationError, Env, ExecutionError};
use std::collections::HashMap;
use std::sync::Arc;

pub(crate) const ITER: &str = "@kro.iter";
pub(crate) const KEYS: &str = "@kro.keys";
const ENTRIES_TO_MAP: &str = "@kro.entriesToMap";
const RANGE: &str = "@range";
const RESULT: &str = "@result";
const UNUSED: &str = "#unused";

value_fns! {
    keys_fn => keys,
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
        name: KEYS,
        id: "@kro.keys(dyn)",
        receiver: false,
        args: &[DYN_TYPE],
        func: keys_fn,
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

/// What the first variable of a two-variable comprehension visits: a list's indices, or a map's
/// keys in sorted order.
pub(crate) fn keys(args: &[Value]) -> Result<Value, ExecutionError> {
    let out: Vec<Value> = match args.first() {
        Some(Value::List(items)) => {
            charge(items.len() as u64, "comprehension")?;
            (0..items.len()).map(|i| Value::Int(i as i64)).collect()
        }
        Some(Value::Map(map)) => {
            charge(map.map.len() as u64, "comprehension")?;
            let mut keys: Vec<&Key> = map.map.keys().collect();
            keys.sort();
            keys.into_iter().map(Value::from).collect()
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

/// `body` with the second variable bound to the element the first one indexes: `value` is
/// `@range[key]`.
fn with_value(
    helper: &mut MacroExprHelper<'_>,
    (key, value): (&str, &str),
    body: IdedExpr,
) -> IdedExpr {
    let range = ident(helper, RANGE);
    let key = ident(helper, key);
    let element = call(helper, operators::INDEX, vec![range, key]);
    bind(helper, value, element, body)
}

fn variable_name(
    helper: &MacroExprHelper<'_>,
    arg: &IdedExpr,
    function: &str,
) -> Result<String, ParseError> {
    match &arg.expr {
        Expr::Ident(name) => Ok(name.clone()),
        _ => Err(helper.new_error(
            arg.id,
            format!("{function}: the variable argument must be a simple identifier"),
        )),
    }
}

/// The parts every two-variable macro starts from: both variable names and the target, which
/// the finished comprehension is bound around (see [`bind_range`]).
fn two_var_setup(
    helper: &mut MacroExprHelper<'_>,
    function: &str,
    target: &mut Option<IdedExpr>,
    args: &mut Vec<IdedExpr>,
) -> Result<(String, String, IdedExpr), ParseError> {
    let key = variable_name(helper, &args[0], function)?;
    let value = variable_name(helper, &args[1], function)?;
    if key == value {
        return Err(helper.new_error(
            args[1].id,
            format!("duplicate variable name: {key} is used for both the key and the value"),
        ));
    }
    let target = target.take().unwrap_or_default();
    args.drain(0..2);
    Ok((key, value, target))
}

/// A comprehension whose first variable `key` visits `@kro.keys(@range)`.
fn over_keys(
    helper: &mut MacroExprHelper<'_>,
    key: &str,
    (init, cond, step, result): (IdedExpr, IdedExpr, IdedExpr, IdedExpr),
) -> IdedExpr {
    let range = ident(helper, RANGE);
    let keys = call(helper, KEYS, vec![range]);
    helper.next_expr(Expr::Comprehension(Box::new(ComprehensionExpr {
        iter_range: keys,
        iter_var: key.to_owned(),
        iter_var2: None,
        accu_var: RESULT.to_owned(),
        accu_init: init,
        loop_cond: cond,
        loop_step: step,
        result,
    })))
}

/// `comprehension` with `@range` bound to the macro's target, evaluated once.
fn bind_range(
    helper: &mut MacroExprHelper<'_>,
    target: IdedExpr,
    comprehension: IdedExpr,
) -> IdedExpr {
    bind(helper, RANGE, target, comprehension)
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
        let function = match kind {
            Quantifier::All => "all",
            Quantifier::Exists => "exists",
            Quantifier::ExistsOne => "existsOne",
        };
        let (key, value, target) = two_var_setup(helper, function, target, args)?;
        let predicate = args.remove(0);
        let predicate = with_value(helper, (&key, &value), predicate);
        let accu = ident(helper, RESULT);
        let parts = match kind {
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
        let comprehension = over_keys(helper, &key, parts);
        Ok(Some(bind_range(helper, target, comprehension)))
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
        let function = match kind {
            Transform::List => "transformList",
            Transform::Map => "transformMap",
            Transform::MapEntry => "transformMapEntry",
        };
        let (key, value, target) = two_var_setup(helper, function, target, args)?;
        let filter = if args.len() == 2 {
            Some(args.remove(0))
        } else {
            None
        };
        let transformed = args.remove(0);
        let transformed = with_value(helper, (&key, &value), transformed);
        let element = match kind {
            Transform::List | Transform::MapEntry => transformed,
            // A single-entry map, so that `@kro.entriesToMap` builds the result for both map
            // transforms and its key and value types stay apart for the type checker.
            Transform::Map => {
                let key = ident(helper, &key);
                // Entries need ids of their own: take one from a node that is then dropped.
                let entry_id = helper.next_expr(Expr::Unspecified).id;
                helper.next_expr(Expr::Map(MapExpr {
                    entries: vec![IdedEntryExpr {
                        id: entry_id,
                        expr: EntryExpr::MapEntry(MapEntryExpr {
                            key,
                            value: transformed,
                            optional: false,
                        }),
                    }],
                }))
            }
        };
        let element = list(helper, vec![element]);
        let accu = ident(helper, RESULT);
        let append = call(helper, operators::ADD, vec![accu, element]);
        let step = match filter {
            Some(filter) => {
                let filter = with_value(helper, (&key, &value), filter);
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
        let comprehension = over_keys(helper, &key, (init, cond, step, result));
        let built = match kind {
            Transform::List => comprehension,
            Transform::Map | Transform::MapEntry => {
                call(helper, ENTRIES_TO_MAP, vec![comprehension])
            }
        };
        Ok(Some(bind_range(helper, target, built)))
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
    let name = variable_name(helper, &args[0], "cel.bind")?;
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

/// Instruments a parsed expression for evaluation: comprehension ranges (see
/// [`instrument_ranges`]), then the data it builds (`super::cost::instrument`).
pub(crate) fn instrument(expr: &mut IdedExpr) {
    instrument_ranges(expr);
    super::cost::instrument(expr);
}

/// Wraps every comprehension range that is not already one of ours (two-variable keys, a bind's
/// empty list) in `@kro.iter(...)`, so maps iterate in sorted key order and the budget sees
/// every loop.
fn instrument_ranges(expr: &mut IdedExpr) {
    match &mut expr.expr {
        Expr::Comprehension(c) => {
            let already = match &c.iter_range.expr {
                Expr::Call(call) => call.func_name == KEYS || call.func_name == ITER,
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
                instrument_ranges(part);
            }
        }
        Expr::Call(call) => {
            if let Some(target) = call.target.as_mut() {
                instrument_ranges(target);
            }
            call.args.iter_mut().for_each(instrument_ranges);
        }
        Expr::Select(select) => instrument_ranges(&mut select.operand),
        Expr::List(list) => list.elements.iter_mut().for_each(instrument_ranges),
        Expr::Map(map) => {
            for entry in &mut map.entries {
                if let EntryExpr::MapEntry(e) = &mut entry.expr {
                    instrument_ranges(&mut e.key);
                    instrument_ranges(&mut e.value);
                }
            }
        }
        Expr::Struct(s) => {
            for entry in &mut s.entries {
                if let EntryExpr::StructField(f) = &mut entry.expr {
                    instrument_ranges(&mut f.value);
                }
            }
        }
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}
