//! Lowering the instrumented AST into [`Node`]s: variables become slots, select chains become
//! paths of prebuilt keys, calls get their native operation and their delegate.

use super::native::value_call;
use super::{Append, Call, Comprehension, Fold, Lowered, Node, Op, Path, Subtree};
use crate::library::FUNCTIONS;
use crate::library::comprehension::ITER;
use crate::library::cost::COST;
use cel::common::ast::{
    CallExpr, ComprehensionExpr, EntryExpr, Expr, IdedExpr, SelectExpr, operators,
};
use cel::objects::{Key, Value};
use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

/// The names of the functions whose names are qualified (`json.marshal`): a call whose target
/// spells the qualifier calls them, as in the `cel` crate and cel-go.
static QUALIFIED: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    FUNCTIONS
        .iter()
        .map(|f| f.name)
        .filter(|name| name.contains('.'))
        .collect()
});

/// The names of CEL's types, which are values in expressions.
const TYPE_NAMES: &[&str] = &[
    "bool",
    "bytes",
    "double",
    "int",
    "list",
    "map",
    "null_type",
    "string",
    "type",
    "uint",
    "optional_type",
    "google.protobuf.Timestamp",
    "google.protobuf.Duration",
];

/// The placeholder the delegate of an operation reads its `index`-th operand from.
pub(crate) fn placeholder(index: usize) -> String {
    format!("@v{index}")
}

fn synthetic(expr: Expr) -> IdedExpr {
    IdedExpr { id: 0, expr }
}

fn placeholders(from: usize, count: usize) -> Vec<IdedExpr> {
    (from..from + count)
        .map(|i| synthetic(Expr::Ident(placeholder(i))))
        .collect()
}

/// Lowers an instrumented expression.
pub(crate) fn lower(expr: &IdedExpr) -> Lowered {
    let mut lowerer = Lowerer::default();
    let root = lowerer.node(expr);
    Lowered {
        root,
        roots: lowerer.roots,
        slots: lowerer.slots,
        clock: lowerer.clock,
    }
}

#[derive(Default)]
struct Lowerer {
    /// Comprehension variables in scope, innermost last.
    scope: Vec<(String, usize)>,
    roots: Vec<Arc<String>>,
    next_slot: usize,
    slots: usize,
    /// See [`Lowered::clock`].
    clock: bool,
}

impl Lowerer {
    fn variable(&mut self, name: &str) -> Node {
        if let Some((_, slot)) = self.scope.iter().rev().find(|(n, _)| n == name) {
            return Node::Local(*slot);
        }
        let index = match self.roots.iter().position(|r| r.as_str() == name) {
            Some(index) => index,
            None => {
                self.roots.push(Arc::new(name.to_owned()));
                self.roots.len() - 1
            }
        };
        Node::Root(index)
    }

    fn node(&mut self, expr: &IdedExpr) -> Node {
        match &expr.expr {
            Expr::Literal(literal) => match Value::try_from(literal.to_val().as_ref()) {
                Ok(value) => Node::Const(value),
                Err(_) => self.subtree(expr),
            },
            // A type name (`int`) is a value unless a variable shadows it: the `cel` crate
            // resolves it.
            Expr::Ident(name)
                if TYPE_NAMES.contains(&name.as_str())
                    && !self.scope.iter().any(|(n, _)| n == name) =>
            {
                self.subtree(expr)
            }
            Expr::Ident(name) => self.variable(name),
            Expr::Select(select) => self.select(select),
            Expr::Call(call) => self.call(call),
            Expr::List(list) if list.optional_indices.is_empty() => {
                Node::List(list.elements.iter().map(|e| self.node(e)).collect())
            }
            Expr::Map(map) => {
                let mut entries = Vec::with_capacity(map.entries.len());
                for entry in &map.entries {
                    match &entry.expr {
                        EntryExpr::MapEntry(e) if !e.optional => {
                            entries.push((self.node(&e.key), self.node(&e.value)));
                        }
                        _ => return self.subtree(expr),
                    }
                }
                Node::Map(entries)
            }
            Expr::Comprehension(c) if c.iter_var2.is_none() => self.comprehension(c),
            _ => self.subtree(expr),
        }
    }

    fn select(&mut self, select: &SelectExpr) -> Node {
        let mut fields = vec![select.field.as_str()];
        let mut operand = &*select.operand;
        while let Expr::Select(inner) = &operand.expr
            && !inner.test
        {
            fields.push(inner.field.as_str());
            operand = &inner.operand;
        }
        fields.reverse();
        let last = fields.len() - 1;
        let delegates = fields
            .iter()
            .enumerate()
            .map(|(i, field)| {
                synthetic(Expr::Select(SelectExpr {
                    operand: Box::new(synthetic(Expr::Ident(placeholder(0)))),
                    field: (*field).to_owned(),
                    test: select.test && i == last,
                }))
            })
            .collect();
        Node::Path(Box::new(Path {
            operand: self.node(operand),
            names: fields.iter().map(|f| Arc::new((*f).to_owned())).collect(),
            fields: fields
                .iter()
                .map(|f| Key::String(Arc::new((*f).to_owned())))
                .collect(),
            test: select.test,
            delegates,
        }))
    }

    fn call(&mut self, call: &CallExpr) -> Node {
        let name = call.func_name.as_str();
        match (name, call.target.is_some(), call.args.as_slice()) {
            (operators::CONDITIONAL, false, [c, a, b]) => {
                return Node::Cond(Box::new([self.node(c), self.node(a), self.node(b)]));
            }
            (operators::LOGICAL_AND, false, [a, b]) => {
                return Node::And(Box::new(self.node(a)), Box::new(self.node(b)));
            }
            (operators::LOGICAL_OR, false, [a, b]) => {
                return Node::Or(Box::new(self.node(a)), Box::new(self.node(b)));
            }
            _ => {}
        }
        let args: Vec<Node> = call.args.iter().map(|a| self.node(a)).collect();
        let Some(target) = call.target.as_deref() else {
            return self.call_node(Call {
                op: op_of(name, false, args.len()),
                receiver: false,
                delegate: synthetic(Expr::Call(CallExpr {
                    func_name: name.to_owned(),
                    target: None,
                    args: placeholders(0, args.len()),
                })),
                args,
            });
        };
        if let Some(qualifier) = qualified_name(target) {
            let full = format!("{qualifier}.{name}");
            if QUALIFIED.contains(full.as_str()) {
                return self.call_node(Call {
                    op: op_of(&full, false, args.len()),
                    receiver: false,
                    delegate: synthetic(Expr::Call(CallExpr {
                        func_name: name.to_owned(),
                        target: Some(Box::new(target.clone())),
                        args: placeholders(0, args.len()),
                    })),
                    args,
                });
            }
        }
        let mut all = Vec::with_capacity(args.len() + 1);
        all.push(self.node(target));
        all.extend(args);
        self.call_node(Call {
            op: op_of(name, true, all.len()),
            receiver: true,
            delegate: synthetic(Expr::Call(CallExpr {
                func_name: name.to_owned(),
                target: Some(Box::new(synthetic(Expr::Ident(placeholder(0))))),
                args: placeholders(1, all.len() - 1),
            })),
            args: all,
        })
    }

    fn call_node(&mut self, call: Call) -> Node {
        // The native operations never look at the deadline; the rest may (see `Lowered::clock`).
        match call.op {
            Op::Other | Op::Iter => self.clock = true,
            Op::Value(value) if value.deadline => self.clock = true,
            _ => {}
        }
        Node::Call(Box::new(call))
    }

    fn comprehension(&mut self, c: &ComprehensionExpr) -> Node {
        let range = self.node(&c.iter_range);
        let accu_init = self.node(&c.accu_init);
        let iter_slot = self.next_slot;
        let accu_slot = self.next_slot + 1;
        self.next_slot += 2;
        self.slots = self.slots.max(self.next_slot);
        self.scope.push((c.iter_var.clone(), iter_slot));
        self.scope.push((c.accu_var.clone(), accu_slot));
        let append = append_step(c).map(|(guard, item)| Append {
            guard: guard.map(|g| self.node(g)),
            item: self.node(item),
        });
        let node = Comprehension {
            range,
            accu_init,
            cond: self.node(&c.loop_cond),
            step: self.node(&c.loop_step),
            result: self.node(&c.result),
            iter_slot,
            accu_slot,
            append,
            fold: fold_of(c),
        };
        self.scope.truncate(self.scope.len() - 2);
        self.next_slot -= 2;
        self.clock = true;
        Node::Comprehension(Box::new(node))
    }

    fn subtree(&mut self, expr: &IdedExpr) -> Node {
        let mut names: Vec<String> = Vec::new();
        crate::program::visit(expr, &mut |e| {
            if let Expr::Ident(name) = &e.expr
                && !names.contains(name)
            {
                names.push(name.clone());
            }
        });
        let bindings = names
            .into_iter()
            .map(|name| {
                let node = self.variable(&name);
                (name, node)
            })
            .collect();
        self.clock = true;
        Node::Subtree(Box::new(Subtree {
            expr: expr.clone(),
            bindings,
        }))
    }
}

/// `a.b.c` as a dotted name, when `expr` is only identifiers and selections.
fn qualified_name(expr: &IdedExpr) -> Option<String> {
    match &expr.expr {
        Expr::Ident(name) => Some(name.clone()),
        Expr::Select(select) if !select.test => {
            qualified_name(&select.operand).map(|q| format!("{q}.{}", select.field))
        }
        _ => None,
    }
}

fn op_of(name: &str, receiver: bool, arity: usize) -> Op {
    match (name, receiver, arity) {
        (operators::ADD, false, 2) => Op::Add,
        (operators::SUBSTRACT, false, 2) => Op::Sub,
        (operators::MULTIPLY, false, 2) => Op::Mul,
        (operators::DIVIDE, false, 2) => Op::Div,
        (operators::MODULO, false, 2) => Op::Rem,
        (operators::EQUALS, false, 2) => Op::Eq,
        (operators::NOT_EQUALS, false, 2) => Op::Ne,
        (operators::LESS, false, 2) => Op::Lt,
        (operators::LESS_EQUALS, false, 2) => Op::Le,
        (operators::GREATER, false, 2) => Op::Gt,
        (operators::GREATER_EQUALS, false, 2) => Op::Ge,
        (operators::IN, false, 2) => Op::In,
        (operators::LOGICAL_NOT, false, 1) => Op::Not,
        (operators::NEGATE, false, 1) => Op::Neg,
        (operators::NOT_STRICTLY_FALSE, false, 1) => Op::NotStrictlyFalse,
        (operators::INDEX, false, 2) => Op::Index,
        (operators::OPT_SELECT, false, 2) => Op::OptSelect,
        ("size", _, 1) => Op::Size,
        ("string", false, 1) => Op::String,
        ("int", false, 1) => Op::Int,
        ("orValue", true, 2) => Op::OrValue,
        ("hasValue", true, 1) => Op::HasValue,
        ("value", true, 1) => Op::OptValue,
        ("optional.of", false, 1) => Op::OptOf,
        ("optional.none", false, 0) => Op::OptNone,
        (ITER, false, 1) => Op::Iter,
        (COST, false, 1) => Op::Cost,
        _ => value_call(name, receiver, arity).map_or(Op::Other, Op::Value),
    }
}

fn is_ident(expr: &IdedExpr, name: &str) -> bool {
    matches!(&expr.expr, Expr::Ident(n) if n == name)
}

/// The guard and appended list of a `map` / `filter` step: `[guard ?] @result + [item] [:
/// @result]`, when the accumulator starts empty and is the result.
fn append_step(c: &ComprehensionExpr) -> Option<(Option<&IdedExpr>, &IdedExpr)> {
    let accu = c.accu_var.as_str();
    let empty_init = matches!(&c.accu_init.expr, Expr::List(l) if l.elements.is_empty());
    if !empty_init || !is_ident(&c.result, accu) || !matches!(c.loop_cond.expr, Expr::Literal(_)) {
        return None;
    }
    let appended = |e: &'_ IdedExpr| -> bool {
        matches!(&e.expr, Expr::Call(call) if call.func_name == operators::ADD
            && call.target.is_none()
            && matches!(call.args.as_slice(), [lhs, rhs] if is_ident(lhs, accu)
                && matches!(&rhs.expr, Expr::List(l) if l.optional_indices.is_empty())))
    };
    match &c.loop_step.expr {
        Expr::Call(call) if call.func_name == operators::CONDITIONAL && call.target.is_none() => {
            match call.args.as_slice() {
                [guard, step, otherwise] if is_ident(otherwise, accu) && appended(step) => {
                    Some((Some(guard), appended_item(step)?))
                }
                _ => None,
            }
        }
        _ if appended(&c.loop_step) => Some((None, appended_item(&c.loop_step)?)),
        _ => None,
    }
}

fn appended_item(e: &IdedExpr) -> Option<&IdedExpr> {
    match &e.expr {
        Expr::Call(call) => call.args.get(1),
        _ => None,
    }
}

/// `@result && x` or `@result || x`.
fn fold_of(c: &ComprehensionExpr) -> Option<Fold> {
    let Expr::Call(call) = &c.loop_step.expr else {
        return None;
    };
    if call.target.is_some() || !call.args.first().is_some_and(|a| is_ident(a, &c.accu_var)) {
        return None;
    }
    match call.func_name.as_str() {
        operators::LOGICAL_AND => Some(Fold::And),
        operators::LOGICAL_OR => Some(Fold::Or),
        _ => None,
    }
}
