//! The variables and field paths an expression reads, for dependency edges.

use crate::library::FUNCTIONS;
use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue, operators};
use std::collections::BTreeSet;
use std::fmt;

/// A variable and the field path selected on it, such as `schema.spec.name` (root `schema`,
/// path `["spec", "name"]`). The path stops at the first non-field step (an index, a call).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reference {
    /// The variable name.
    pub root: String,
    /// Field names selected on the variable, outermost first.
    pub path: Vec<String>,
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.root)?;
        for field in &self.path {
            write!(f, ".{field}")?;
        }
        Ok(())
    }
}

/// Every variable reference of `expr`, sorted; comprehension and `cel.bind` variables are
/// excluded within their scope.
pub(crate) fn references(expr: &IdedExpr) -> BTreeSet<Reference> {
    let mut found = BTreeSet::new();
    walk(expr, &mut Vec::new(), &mut found);
    found
}

/// Names of the variables `expr` reads (the roots of its references).
pub(crate) fn root_names(expr: &IdedExpr) -> BTreeSet<String> {
    references(expr).into_iter().map(|r| r.root).collect()
}

fn is_namespaced_function(namespace: &str, function: &str) -> bool {
    FUNCTIONS.iter().any(|f| {
        f.name.len() == namespace.len() + 1 + function.len()
            && f.name.starts_with(namespace)
            && f.name.ends_with(function)
            && f.name.as_bytes()[namespace.len()] == b'.'
    })
}

/// The root variable and field path of a chain of field selections (`a.b.c`, `a.?b`), or None
/// when the chain does not end at an identifier.
fn selection_path(expr: &IdedExpr) -> Option<(&str, Vec<String>)> {
    let mut fields = Vec::new();
    let mut current = expr;
    loop {
        match &current.expr {
            Expr::Ident(name) => {
                fields.reverse();
                return Some((name, fields));
            }
            Expr::Select(select) => {
                fields.push(select.field.clone());
                current = &select.operand;
            }
            Expr::Call(call) if call.func_name == operators::OPT_SELECT && call.args.len() == 2 => {
                let Expr::Literal(LiteralValue::String(field)) = &call.args[1].expr else {
                    return None;
                };
                fields.push(field.inner().to_owned());
                current = &call.args[0];
            }
            _ => return None,
        }
    }
}

fn walk(expr: &IdedExpr, scope: &mut Vec<String>, found: &mut BTreeSet<Reference>) {
    if let Some((root, path)) = selection_path(expr)
        && !matches!(expr.expr, Expr::Ident(_))
    {
        if !scope.iter().any(|s| s == root) {
            found.insert(Reference {
                root: root.to_owned(),
                path,
            });
        }
        return;
    }
    match &expr.expr {
        Expr::Ident(name) => {
            if !scope.iter().any(|s| s == name) {
                found.insert(Reference {
                    root: name.clone(),
                    path: Vec::new(),
                });
            }
        }
        Expr::Select(select) => walk(&select.operand, scope, found),
        Expr::Call(call) => {
            if let Some(target) = &call.target {
                let namespace = match &target.expr {
                    Expr::Ident(ns) => Some(ns.as_str()),
                    _ => None,
                };
                let is_function_namespace = namespace.is_some_and(|ns| {
                    !scope.iter().any(|s| s == ns) && is_namespaced_function(ns, &call.func_name)
                });
                if !is_function_namespace {
                    walk(target, scope, found);
                }
            }
            for arg in &call.args {
                walk(arg, scope, found);
            }
        }
        Expr::Comprehension(c) => {
            walk(&c.iter_range, scope, found);
            walk(&c.accu_init, scope, found);
            let depth = scope.len();
            scope.push(c.iter_var.clone());
            if let Some(second) = &c.iter_var2 {
                scope.push(second.clone());
            }
            scope.push(c.accu_var.clone());
            walk(&c.loop_cond, scope, found);
            walk(&c.loop_step, scope, found);
            walk(&c.result, scope, found);
            scope.truncate(depth);
        }
        Expr::List(list) => {
            for element in &list.elements {
                walk(element, scope, found);
            }
        }
        Expr::Map(map) => {
            for entry in &map.entries {
                if let EntryExpr::MapEntry(e) = &entry.expr {
                    walk(&e.key, scope, found);
                    walk(&e.value, scope, found);
                }
            }
        }
        Expr::Struct(s) => {
            for entry in &s.entries {
                if let EntryExpr::StructField(f) = &entry.expr {
                    walk(&f.value, scope, found);
                }
            }
        }
        Expr::Literal(_) | Expr::Unspecified => {}
    }
}
