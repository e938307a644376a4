//! kro-cel's evaluator: the instrumented AST lowered once, when compiling, into a tree whose
//! variables are slots, whose field selections are prebuilt map keys and whose operators are
//! resolved; evaluated over [`cel::objects::Value`]s, which share their data through `Arc`s.
//!
//! The common cases run natively; everything else, and every operation whose operands are off
//! the common path (wrong types, missing keys, overflow), is *delegated*: the `cel` crate's
//! interpreter runs that one operation over the already evaluated operands, so results and
//! errors stay those of the `cel` crate. See the crate README ("Evaluation") for the numbers
//! behind this design.

mod delegate;
mod lower;
mod native;
pub(crate) mod object;
mod run;
#[cfg(test)]
mod tests;

pub(crate) use lower::lower;
pub(crate) use run::evaluate;

use cel::common::ast::IdedExpr;
use cel::objects::{Key, Value};
use std::sync::Arc;

/// A lowered expression.
pub(crate) enum Node {
    /// A literal.
    Const(Value),
    /// A variable of the activation, by index into [`Lowered::roots`].
    Root(usize),
    /// A comprehension variable, by slot.
    Local(usize),
    /// `operand.f1.f2...`: map fields selected in turn; `test` for `has(operand.f1...fn)`.
    Path(Box<Path>),
    /// A function or operator call.
    Call(Box<Call>),
    /// `a && b`.
    And(Box<Node>, Box<Node>),
    /// `a || b`.
    Or(Box<Node>, Box<Node>),
    /// `c ? a : b`.
    Cond(Box<[Node; 3]>),
    /// A list literal.
    List(Vec<Node>),
    /// A map literal.
    Map(Vec<(Node, Node)>),
    /// A comprehension.
    Comprehension(Box<Comprehension>),
    /// An expression the evaluator does not lower (struct literals, optional list and map
    /// entries, two-variable comprehensions): the `cel` crate evaluates it with the variables it
    /// names bound to their values.
    Subtree(Box<Subtree>),
}

/// A chain of field selections.
pub(crate) struct Path {
    pub(crate) operand: Node,
    /// The field names, for objects.
    pub(crate) names: Vec<Arc<String>>,
    /// The field names as keys, for `cel` crate maps.
    pub(crate) fields: Vec<Key>,
    /// `has(...)`: the last field is tested rather than selected.
    pub(crate) test: bool,
    /// `@v0.field` (or `has(@v0.field)`) for each field: how the `cel` crate selects it.
    pub(crate) delegates: Vec<IdedExpr>,
}

/// What a call does natively.
#[derive(Clone, Copy)]
pub(crate) enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Not,
    Neg,
    NotStrictlyFalse,
    Index,
    OptSelect,
    Size,
    String,
    Int,
    OrValue,
    HasValue,
    OptValue,
    OptOf,
    OptNone,
    /// `@kro.iter(range)`: charges the budget, sorts map keys.
    Iter,
    /// `@kro.cost(x)`: charges the size of `x`.
    Cost,
    /// One of kro-cel's functions on whole values, called directly when the arguments have
    /// the declared types.
    Value(native::ValueCall),
    /// Anything else: always delegated.
    Other,
}

/// A call: its operation, arguments (receiver first) and how the `cel` crate runs it.
pub(crate) struct Call {
    pub(crate) op: Op,
    pub(crate) args: Vec<Node>,
    /// Called on a receiver (`args[0]`), which is evaluated after the other arguments.
    pub(crate) receiver: bool,
    /// The call over `@v0, @v1, ...` in place of the evaluated arguments.
    pub(crate) delegate: IdedExpr,
}

/// A one-variable comprehension.
pub(crate) struct Comprehension {
    pub(crate) range: Node,
    pub(crate) accu_init: Node,
    pub(crate) cond: Node,
    pub(crate) step: Node,
    pub(crate) result: Node,
    pub(crate) iter_slot: usize,
    pub(crate) accu_slot: usize,
    /// `map` / `filter`: the step appends to the accumulator.
    pub(crate) append: Option<Append>,
    /// `all` / `exists`: errors of a step may be absorbed by a later one.
    pub(crate) fold: Option<Fold>,
}

/// The step of `map` / `filter`: `guard ? @result + [item] : @result`.
pub(crate) struct Append {
    pub(crate) guard: Option<Node>,
    pub(crate) item: Node,
}

/// The connective of an `all` / `exists` step.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fold {
    And,
    Or,
}

/// An expression left to the `cel` crate.
pub(crate) struct Subtree {
    pub(crate) expr: IdedExpr,
    /// The names it reads and where their values come from.
    pub(crate) bindings: Vec<(String, Node)>,
}

/// A lowered program.
pub(crate) struct Lowered {
    pub(crate) root: Node,
    /// The activation variables it reads, by [`Node::Root`] index.
    pub(crate) roots: Vec<Arc<String>>,
    /// Comprehension variable slots needed.
    pub(crate) slots: usize,
    /// Whether evaluating it may look at the deadline: it loops, or calls a function that is
    /// not one of the native operations (kro's functions and the comprehension helpers check
    /// the deadline; see `library::budget`). Without, the clock is not read.
    pub(crate) clock: bool,
}
