//! Charging the budget for data an evaluation builds.
//!
//! The `cel` interpreter copies values whenever it combines them: `a + b` builds a new string or
//! list, a list or map literal copies every element it holds, `replace`, `join` and `split`
//! build their results in one call. Without a charge, an expression that doubles a value a few
//! dozen times (`cel.bind(a, s + s, cel.bind(b, a + a, ...))`, `[x, x]`, `{"k": x, "l": x}`)
//! or squares it (`s.replace("x", s)`) exhausts memory long before any loop is charged.
//!
//! After the comprehension ranges are instrumented, [`instrument`] rewrites the AST so that:
//! - every operand of `+` and every element, key and value of a list or map literal that is not
//!   itself a literal passes through `@kro.cost(x)`, which charges the size of `x` (one unit
//!   per element and per [`BYTES_PER_UNIT`] bytes of text) and returns it untouched;
//! - `t.replace(...)`, `t.join(...)`, `t.split(...)` pass their receiver through a hook that
//!   charges the size of the result from the arguments *before* the call builds it; arguments
//!   that are not literals are bound once (as `cel.bind` does) so they are not evaluated twice;
//! - `lists.range(n)` passes `n` through `@kro.costRange`, one unit per element.
//!
//! Every hook returns its first argument as it came, so types, results and errors are those of
//! the expression as written; the type checker types the hooks as the identity.

use super::Overload;
use super::budget::{BYTES_PER_UNIT, charge_size, remaining};
use cel::ExecutionError;
use cel::common::ast::{
    CallExpr, ComprehensionExpr, EntryExpr, Expr, IdedExpr, ListExpr, LiteralValue, operators,
};
use cel::common::types::{CelInt, CelString, DYN_TYPE};
use cel::common::value::{BuiltinRef, CowVal, Val};

pub(crate) const COST: &str = "@kro.cost";
pub(crate) const COST_RANGE: &str = "@kro.costRange";
pub(crate) const COST_REPLACE: &str = "@kro.costReplace";
pub(crate) const COST_JOIN: &str = "@kro.costJoin";
pub(crate) const COST_SPLIT: &str = "@kro.costSplit";

/// Accumulators of the bindings that keep guarded arguments from being evaluated twice.
const ARGUMENTS: [&str; 3] = ["@arg0", "@arg1", "@arg2"];
const UNUSED: &str = "#unused";

pub(crate) static OVERLOADS: &[Overload] = &[
    Overload {
        name: COST,
        id: "@kro.cost(dyn)",
        receiver: false,
        args: &[DYN_TYPE],
        func: cost,
    },
    Overload {
        name: COST_RANGE,
        id: "@kro.costRange(dyn)",
        receiver: false,
        args: &[DYN_TYPE],
        func: cost_range,
    },
    Overload {
        name: COST_REPLACE,
        id: "@kro.costReplace(dyn,dyn,dyn)",
        receiver: false,
        args: &[DYN_TYPE, DYN_TYPE, DYN_TYPE],
        func: cost_replace,
    },
    Overload {
        name: COST_REPLACE,
        id: "@kro.costReplace(dyn,dyn,dyn,dyn)",
        receiver: false,
        args: &[DYN_TYPE, DYN_TYPE, DYN_TYPE, DYN_TYPE],
        func: cost_replace,
    },
    Overload {
        name: COST_JOIN,
        id: "@kro.costJoin(dyn)",
        receiver: false,
        args: &[DYN_TYPE],
        func: cost_join,
    },
    Overload {
        name: COST_JOIN,
        id: "@kro.costJoin(dyn,dyn)",
        receiver: false,
        args: &[DYN_TYPE, DYN_TYPE],
        func: cost_join,
    },
    Overload {
        name: COST_SPLIT,
        id: "@kro.costSplit(dyn,dyn)",
        receiver: false,
        args: &[DYN_TYPE, DYN_TYPE],
        func: cost_split,
    },
    Overload {
        name: COST_SPLIT,
        id: "@kro.costSplit(dyn,dyn,dyn)",
        receiver: false,
        args: &[DYN_TYPE, DYN_TYPE, DYN_TYPE],
        func: cost_split,
    },
];

/// The cost of holding `value`: one unit for it, one per [`BYTES_PER_UNIT`] bytes of text, and
/// the cost of every element, key and value it contains. Counting stops once it passes `cap`.
pub(crate) fn weight(value: &dyn Val, cap: u64) -> u64 {
    let mut total: u64 = 0;
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        total = total.saturating_add(1);
        match value.as_builtin() {
            BuiltinRef::String(text) => total = total.saturating_add(text_units(text.inner())),
            BuiltinRef::Bytes(bytes) => {
                total = total.saturating_add(byte_units(bytes.inner().len()));
            }
            BuiltinRef::List(items) => pending.extend(items.iter().map(AsRef::as_ref)),
            BuiltinRef::Map(map) => {
                for (key, entry) in map.inner() {
                    pending.push(key.inner());
                    pending.push(entry.as_ref());
                }
            }
            BuiltinRef::Optional(optional) => pending.extend(optional.inner()),
            _ => {}
        }
        if total > cap {
            break;
        }
    }
    total
}

fn byte_units(bytes: usize) -> u64 {
    u64::try_from(bytes).unwrap_or(u64::MAX) / BYTES_PER_UNIT
}

fn text_units(text: &str) -> u64 {
    byte_units(text.len())
}

/// Charges for `value` when a budget is installed (a raw evaluation is not limited, and its
/// values need not be measured).
fn charge_weight(value: &dyn Val, what: &str) -> Result<(), ExecutionError> {
    match remaining() {
        Some(cap) => charge_size(weight(value, cap), what),
        None => Ok(()),
    }
}

fn first<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let given = args.len();
    args.into_iter()
        .next()
        .ok_or_else(|| ExecutionError::invalid_argument_count(1, given))
}

fn text<'a>(args: &'a [CowVal<'_, '_>], index: usize) -> Option<&'a str> {
    args.get(index)
        .and_then(|arg| arg.downcast_ref::<CelString>())
        .map(|text| text.inner())
}

fn int(args: &[CowVal<'_, '_>], index: usize) -> Option<i64> {
    args.get(index)
        .and_then(|arg| arg.downcast_ref::<CelInt>())
        .map(|n| *n.inner())
}

/// `@kro.cost(x)`: charges for holding `x`, returns it.
fn cost<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    if let Some(value) = args.first() {
        charge_weight(value.as_ref(), "building a value")?;
    }
    first(args)
}

/// `lists.range(@kro.costRange(n))`: one unit per element of the range.
fn cost_range<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    if let Some(n) = int(&args, 0) {
        charge_size(u64::try_from(n).unwrap_or(0), "lists.range")?;
    }
    first(args)
}

/// `@kro.costReplace(t, old, new[, n]).replace(old, new[, n])`: charges the size of the result,
/// counted from the occurrences of `old` before anything is built.
fn cost_replace<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    if let (Some(target), Some(old), Some(new)) = (text(&args, 0), text(&args, 1), text(&args, 2)) {
        let limit = match int(&args, 3) {
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
            None => usize::MAX,
        };
        // An empty pattern matches before every character and at the end.
        let found = if old.is_empty() {
            target.chars().count().saturating_add(1)
        } else {
            target.matches(old).count()
        };
        let replaced = found.min(limit);
        let bytes = target
            .len()
            .saturating_add(replaced.saturating_mul(new.len()));
        charge_size(1 + byte_units(bytes), "replace")?;
    }
    first(args)
}

/// `@kro.costJoin(list[, sep]).join([sep])`: charges the size of the joined string.
fn cost_join<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    if let Some(BuiltinRef::List(items)) = args.first().map(|list| list.as_builtin()) {
        let separator = text(&args, 1).map_or(0, str::len);
        let mut bytes = separator.saturating_mul(items.len());
        for item in items.iter() {
            if let BuiltinRef::String(part) = item.as_builtin() {
                bytes = bytes.saturating_add(part.inner().len());
            }
        }
        charge_size(1 + byte_units(bytes), "join")?;
    }
    first(args)
}

/// `@kro.costSplit(t, sep[, n]).split(sep[, n])`: one unit per part, plus the text copied.
fn cost_split<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    if let (Some(target), Some(separator)) = (text(&args, 0), text(&args, 1)) {
        let parts = if separator.is_empty() {
            target.chars().count()
        } else {
            target.matches(separator).count().saturating_add(1)
        };
        let parts = match int(&args, 2) {
            Some(n) => parts.min(usize::try_from(n).unwrap_or(usize::MAX)),
            None => parts,
        };
        let parts = u64::try_from(parts).unwrap_or(u64::MAX);
        charge_size(parts.saturating_add(text_units(target)), "split")?;
    }
    first(args)
}

/// Rewrites `expr` so that the data it builds is charged (see the module documentation).
/// Children are rewritten before their parent, so no hook is ever wrapped again.
pub(crate) fn instrument(expr: &mut IdedExpr) {
    match &mut expr.expr {
        Expr::Call(call) => {
            if let Some(target) = call.target.as_mut() {
                instrument(target);
            }
            call.args.iter_mut().for_each(instrument);
        }
        Expr::Comprehension(c) => {
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
        Expr::Select(select) => instrument(&mut select.operand),
        Expr::List(list) => {
            for element in &mut list.elements {
                instrument(element);
                charge_held(element);
            }
        }
        Expr::Map(map) => {
            for entry in &mut map.entries {
                if let EntryExpr::MapEntry(entry) = &mut entry.expr {
                    instrument(&mut entry.key);
                    instrument(&mut entry.value);
                    charge_held(&mut entry.key);
                    charge_held(&mut entry.value);
                }
            }
        }
        Expr::Struct(s) => {
            for entry in &mut s.entries {
                if let EntryExpr::StructField(field) = &mut entry.expr {
                    instrument(&mut field.value);
                }
            }
        }
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
    if let Expr::Call(call) = &mut expr.expr {
        match guard_of(call) {
            Some(Guard::Operands) => call.args.iter_mut().for_each(charge_held),
            Some(Guard::Range) => call.args.iter_mut().for_each(|n| wrap(n, COST_RANGE)),
            Some(Guard::Receiver(hook)) => guard_receiver(expr, hook),
            None => {}
        }
    }
}

enum Guard {
    /// `a + b`: each operand is charged.
    Operands,
    /// `lists.range(n)`.
    Range,
    /// A member call whose result is charged from its receiver and arguments.
    Receiver(&'static str),
}

fn guard_of(call: &CallExpr) -> Option<Guard> {
    let arity = call.args.len();
    match (call.target.as_deref(), call.func_name.as_str()) {
        (None, operators::ADD) if arity == 2 => Some(Guard::Operands),
        (Some(target), "range") if arity == 1 && is_ident(target, "lists") => Some(Guard::Range),
        (Some(_), "replace") if (2..=3).contains(&arity) => Some(Guard::Receiver(COST_REPLACE)),
        (Some(_), "join") if arity <= 1 => Some(Guard::Receiver(COST_JOIN)),
        (Some(_), "split") if (1..=2).contains(&arity) => Some(Guard::Receiver(COST_SPLIT)),
        _ => None,
    }
}

fn is_ident(expr: &IdedExpr, name: &str) -> bool {
    matches!(&expr.expr, Expr::Ident(ident) if ident == name)
}

/// Wraps a value a literal or `+` takes a copy of in `@kro.cost(...)`. Literals cost nothing
/// beyond the source that spells them; list and map literals are charged element by element
/// already; the accumulators of macro expansions (`@result`) must stay bare for the
/// interpreter to append to them in place.
fn charge_held(expr: &mut IdedExpr) {
    let exempt = match &expr.expr {
        Expr::Literal(_) | Expr::List(_) | Expr::Map(_) => true,
        Expr::Ident(name) => name.starts_with('@'),
        _ => false,
    };
    if !exempt {
        wrap(expr, COST);
    }
}

/// Replaces `expr` with `hook(expr)`. Added nodes have id 0: no source position, so the type
/// checker reports problems inside them at the enclosing node, as for `@kro.iter`.
fn wrap(expr: &mut IdedExpr, hook: &str) {
    let inner = std::mem::take(expr);
    *expr = synthetic(Expr::Call(CallExpr {
        func_name: hook.to_owned(),
        target: None,
        args: vec![inner],
    }));
}

fn synthetic(expr: Expr) -> IdedExpr {
    IdedExpr { id: 0, expr }
}

/// `t.f(a, b)` becomes `cel.bind(@arg0, a, cel.bind(@arg1, b, hook(t, @arg0, @arg1).f(@arg0,
/// @arg1)))`, literal arguments being used as they are instead of bound. Arguments are thus
/// evaluated once and before the receiver, as the interpreter evaluates a member call.
fn guard_receiver(expr: &mut IdedExpr, hook: &str) {
    let Expr::Call(call) = &mut expr.expr else {
        return;
    };
    let Some(target) = call.target.take() else {
        return;
    };
    let mut bindings = Vec::new();
    for (slot, arg) in call.args.iter_mut().enumerate() {
        if matches!(arg.expr, Expr::Literal(_)) {
            continue;
        }
        let Some(name) = ARGUMENTS.get(slot) else {
            continue;
        };
        let value = std::mem::replace(arg, synthetic(Expr::Ident((*name).to_owned())));
        bindings.push((*name, value));
    }
    let mut hook_args = vec![*target];
    hook_args.extend(call.args.iter().cloned());
    call.target = Some(Box::new(synthetic(Expr::Call(CallExpr {
        func_name: hook.to_owned(),
        target: None,
        args: hook_args,
    }))));
    for (name, value) in bindings.into_iter().rev() {
        let body = std::mem::take(expr);
        *expr = synthetic(Expr::Comprehension(Box::new(ComprehensionExpr {
            iter_range: synthetic(Expr::List(ListExpr::new(Vec::new()))),
            iter_var: UNUSED.to_owned(),
            iter_var2: None,
            accu_var: name.to_owned(),
            accu_init: value,
            loop_cond: synthetic(Expr::Literal(LiteralValue::Boolean(false.into()))),
            loop_step: synthetic(Expr::Ident(name.to_owned())),
            result: body,
        })));
    }
}

#[cfg(test)]
mod tests {
    use crate::{Activation, Budget, Checker, Environment, ErrorKind, EvalError, TypeEnv};
    use serde_json::{Value, json};

    /// No deadline: which charge stops an evaluation must not depend on the machine's speed.
    fn environment(max_cost: u64) -> Environment {
        Environment::new().with_budget(Budget {
            max_cost,
            timeout: None,
            ..Budget::default()
        })
    }

    fn evaluate_with(env: &Environment, source: &str) -> Result<Value, EvalError> {
        let mut activation = Activation::new();
        activation
            .bind("s", &json!("x".repeat(1024)))
            .expect("binds");
        env.compile(source).expect("compiles").evaluate(&activation)
    }

    fn evaluate(source: &str) -> Result<Value, EvalError> {
        evaluate_with(&environment(Budget::default().max_cost), source)
    }

    #[test]
    fn charged_expressions_evaluate_as_written() {
        for (source, expected) in [
            ("'a.b.c'.replace('.', '-')", json!("a-b-c")),
            ("'a.b.c'.replace('.', '-', 1)", json!("a-b.c")),
            ("'abc'.replace('', '-')", json!("-a-b-c-")),
            (
                "cel.bind(dot, '.', 'a.b'.replace(dot, dot + dot))",
                json!("a..b"),
            ),
            ("['a', 'b'].join()", json!("ab")),
            ("['a', 'b'].join(', ')", json!("a, b")),
            ("cel.bind(sep, '-', ['a', 'b'].join(sep))", json!("a-b")),
            ("'a,b,c'.split(',')", json!(["a", "b", "c"])),
            ("'a,b,c'.split(',', 2)", json!(["a", "b,c"])),
            ("'ab'.split('')", json!(["a", "b"])),
            ("lists.range(3)", json!([0, 1, 2])),
            ("[1, 2] + [3]", json!([1, 2, 3])),
            ("cel.bind(x, 'ab', x + x)", json!("abab")),
            ("cel.bind(x, [1], [x, x])", json!([[1], [1]])),
            (
                "cel.bind(k, 'a', {k: [k], 'b': k + k})",
                json!({"a": ["a"], "b": "aa"}),
            ),
            ("[1, 2, 3].map(i, i * 2)", json!([2, 4, 6])),
            ("[1, 2, 3].filter(i, i > 1).size()", json!(2)),
            ("lists.insertAtIndex([1, 2], 0, 0)", json!([0, 1, 2])),
            ("{'a': 1}.merge({'b': 2})", json!({"a": 1, "b": 2})),
        ] {
            assert_eq!(evaluate(source).expect(source), expected, "{source}");
        }
    }

    #[test]
    fn each_way_of_building_data_is_charged_where_it_happens() {
        for (source, place) in [
            (
                "cel.bind(a, s + s, cel.bind(b, a + a, cel.bind(c, b + b, cel.bind(d, c + c, cel.bind(e, d + d, cel.bind(f, e + e, cel.bind(g, f + f, cel.bind(h, g + g, cel.bind(i, h + h, cel.bind(j, i + i, cel.bind(k, j + j, cel.bind(l, k + k, cel.bind(m, l + l, cel.bind(n, m + m, size(n + n)))))))))))))))",
                "(in building a value)",
            ),
            (
                "cel.bind(a, [s, s], cel.bind(b, [a, a], cel.bind(c, [b, b], cel.bind(d, [c, c], cel.bind(e, [d, d], cel.bind(f, [e, e], cel.bind(g, [f, f], cel.bind(h, [g, g], cel.bind(i, [h, h], cel.bind(j, [i, i], cel.bind(k, [j, j], size([k, k]))))))))))))",
                "(in building a value)",
            ),
            (
                "cel.bind(a, s.replace('x', s), cel.bind(b, a.replace('x', a), size(b)))",
                "(in replace)",
            ),
            (
                "cel.bind(t, lists.range(100).map(i, s).join(), size(lists.range(100).map(i, '').join(t)))",
                "(in join)",
            ),
            (
                "cel.bind(t, lists.range(100).map(i, s).join(), size(t.split('')))",
                "(in split)",
            ),
            (
                "size(lists.range(1000000)) + size(lists.range(1))",
                "(in lists.range)",
            ),
            (
                "cel.bind(a, lists.insertAtIndex(dyn([s]), 0, [s]), cel.bind(b, lists.insertAtIndex(dyn(a), 0, a), cel.bind(c, lists.insertAtIndex(dyn(b), 0, b), cel.bind(d, lists.insertAtIndex(dyn(c), 0, c), cel.bind(e, lists.insertAtIndex(dyn(d), 0, d), cel.bind(f, lists.insertAtIndex(dyn(e), 0, e), cel.bind(g, lists.insertAtIndex(dyn(f), 0, f), cel.bind(h, lists.insertAtIndex(dyn(g), 0, g), cel.bind(i, lists.insertAtIndex(dyn(h), 0, h), cel.bind(j, lists.insertAtIndex(dyn(i), 0, i), cel.bind(k, lists.insertAtIndex(dyn(j), 0, j), cel.bind(l, lists.insertAtIndex(dyn(k), 0, k), size(lists.insertAtIndex(dyn(l), 0, l))))))))))))))",
                "(in lists.insertAtIndex)",
            ),
        ] {
            let error = evaluate_with(&environment(100_000), source).expect_err(source);
            assert_eq!(error.kind(), ErrorKind::BudgetExceeded, "{source}");
            assert_eq!(
                error.message,
                format!("evaluation cost budget exceeded {place}"),
                "{source}"
            );
        }
    }

    #[test]
    fn guarded_arguments_are_evaluated_once() {
        // Evaluating the argument costs 600 of the 1000 units: twice would not fit.
        let env = environment(1_000);
        assert_eq!(
            evaluate_with(&env, "'a'.replace('a', string(size(lists.range(600))))")
                .expect("fits the budget once"),
            json!("600")
        );
        assert_eq!(
            evaluate_with(
                &env,
                "lists.range(600).map(i, string(i)).join(string(size(lists.range(300))))"
            )
            .expect_err("600 + 300 + the joined text do not fit")
            .kind(),
            ErrorKind::BudgetExceeded
        );
    }

    #[test]
    fn weight_counts_every_element_and_the_text() {
        let value = crate::value::json_to_cel(&json!({"k": ["x".repeat(32), 1]}));
        let boxed = Box::<dyn cel::common::value::Val>::try_from(value).expect("converts");
        // map + key + list + string (1 + 32 / 16) + int
        assert_eq!(super::weight(boxed.as_ref(), u64::MAX), 7);
        assert!(
            super::weight(boxed.as_ref(), 2) < 7,
            "counting stops past the cap"
        );
    }

    #[test]
    fn type_errors_name_the_expression_not_the_hooks() {
        let env = TypeEnv::new();
        let error = Checker::new(&env)
            .check("'a' + 1")
            .expect_err("string + int")
            .to_string();
        assert!(error.contains("_+_") && !error.contains("@kro"), "{error}");
        let error = Checker::new(&env)
            .check("1.replace('a', 'b')")
            .expect_err("int has no replace")
            .to_string();
        assert!(
            error.contains("replace") && !error.contains("@kro"),
            "{error}"
        );
    }
}
