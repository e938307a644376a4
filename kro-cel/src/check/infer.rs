//! Type inference over the parsed AST.

use cel::IdedExpr;
use cel::common::ast::{
    CallExpr, ComprehensionExpr, EntryExpr, Expr, ListExpr, LiteralValue, MapExpr, SelectExpr,
    SourceInfo,
};

use super::overloads::{self, free, join, resolve, table};
use super::suggest::nearest;
use super::{CheckError, TypeEnv};
use crate::types::{CelType, FieldType};

/// What inference found: the output type, the errors (each with the id of the innermost node
/// that has a source position) and the unguarded optional reads.
pub(super) struct Outcome {
    pub output: CelType,
    pub errors: Vec<(u64, CheckError)>,
    pub unguarded_reads: Vec<String>,
}

/// Identifiers that name types (`type(x) == string`).
const TYPE_NAMES: &[&str] = &[
    "bool",
    "bytes",
    "double",
    "dyn",
    "int",
    "list",
    "map",
    "null_type",
    "string",
    "type",
    "uint",
    "google.protobuf.Duration",
    "google.protobuf.Timestamp",
];

/// The fields of a `kro.run.Condition`.
const CONDITION_KEYS: &[&str] = &["type", "status", "reason", "message"];

/// Infers the type of `expr`, parsed from the source `positions` describes.
pub(super) fn infer(env: &TypeEnv, expr: &IdedExpr, positions: &SourceInfo) -> Outcome {
    let mut walker = Walker {
        env,
        positions,
        node: expr.id,
        scopes: Vec::new(),
        guards: Vec::new(),
        errors: Vec::new(),
        reads: Vec::new(),
    };
    let output = walker.expr(expr);
    Outcome {
        output,
        errors: walker.errors,
        unguarded_reads: walker.reads,
    }
}

struct Walker<'env> {
    env: &'env TypeEnv,
    positions: &'env SourceInfo,
    /// The innermost node being checked that has a source position: errors point at it.
    node: u64,
    /// Comprehension and bind variables, innermost last.
    scopes: Vec<(String, CelType)>,
    /// Paths known present thanks to an enclosing `has()` test.
    guards: Vec<String>,
    errors: Vec<(u64, CheckError)>,
    reads: Vec<String>,
}

fn invalid(message: impl Into<String>) -> CheckError {
    CheckError::Invalid {
        message: message.into(),
    }
}

fn literal_string(expr: &IdedExpr) -> Option<&str> {
    match &expr.expr {
        Expr::Literal(LiteralValue::String(s)) => Some(s.inner()),
        _ => None,
    }
}

fn ident_name(expr: &IdedExpr) -> Option<&str> {
    match &expr.expr {
        Expr::Ident(name) => Some(name),
        _ => None,
    }
}

/// The CEL path an expression reads (`schema.spec.a`), for guards and warnings.
fn path_of(expr: &IdedExpr) -> Option<String> {
    match &expr.expr {
        Expr::Ident(name) => Some(name.clone()),
        Expr::Select(s) if !s.test => Some(format!("{}.{}", path_of(&s.operand)?, s.field)),
        Expr::Call(c) if c.func_name == "_?._" && c.args.len() == 2 => Some(format!(
            "{}.{}",
            path_of(&c.args[0])?,
            literal_string(&c.args[1])?
        )),
        _ => None,
    }
}

/// The paths an expression proves present when it evaluates to `positive`.
fn presence_tests(expr: &IdedExpr, positive: bool) -> Vec<String> {
    match &expr.expr {
        Expr::Select(s) if s.test && positive => path_of(&s.operand)
            .map(|p| vec![format!("{p}.{}", s.field)])
            .unwrap_or_default(),
        Expr::Call(c) if c.target.is_none() => match (c.func_name.as_str(), c.args.as_slice()) {
            ("!_", [inner]) => presence_tests(inner, !positive),
            ("_&&_", [a, b]) if positive => {
                let mut tests = presence_tests(a, true);
                tests.extend(presence_tests(b, true));
                tests
            }
            ("_||_", [a, b]) if !positive => {
                let mut tests = presence_tests(a, false);
                tests.extend(presence_tests(b, false));
                tests
            }
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Whether `condition ? then : otherwise` is the expansion of `x.optFlatMap(v, e)`:
/// `x.hasValue() ? cel.bind(v, x.value(), e) : optional.none()`.
fn is_opt_flat_map(condition: &IdedExpr, then: &IdedExpr, otherwise: &IdedExpr) -> bool {
    let receiver_of = |expr: &IdedExpr, method: &str| match &expr.expr {
        Expr::Call(c) if c.func_name == method && c.args.is_empty() => {
            c.target.as_deref().and_then(ident_name).map(str::to_owned)
        }
        _ => None,
    };
    let Some(optional) = receiver_of(condition, "hasValue") else {
        return false;
    };
    let binds_value = matches!(&then.expr, Expr::Comprehension(c)
        if receiver_of(&c.accu_init, "value").as_deref() == Some(optional.as_str()));
    let is_none = matches!(&otherwise.expr, Expr::Call(c)
        if c.func_name == "none" && c.target.as_deref().and_then(ident_name) == Some("optional"));
    binds_value && is_none
}

/// The error to report, in the terms of the macro the user wrote, when an internal helper of a
/// macro expansion rejects its arguments; `None` for ordinary functions.
fn internal_misuse(function: &str, args: &[CelType]) -> Option<CheckError> {
    let first = args.first().cloned().unwrap_or(CelType::Dyn);
    match function {
        overloads::ITER | overloads::KEYS => Some(invalid(format!(
            "expression of type \"{first}\" cannot be iterated; expected a list or a map"
        ))),
        overloads::ENTRIES_TO_MAP => {
            let element = match first {
                CelType::List(element) => *element,
                other => other,
            };
            Some(invalid(format!(
                "transformMapEntry must return a map, found \"{element}\""
            )))
        }
        overloads::SORT_BY_KEYS => Some(CheckError::NoMatchingOverload {
            function: "sortBy".to_string(),
            arguments: describe_arguments(Some(&first), &[]),
        }),
        _ => None,
    }
}

fn describe_arguments(target: Option<&CelType>, args: &[CelType]) -> String {
    let list = args
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    match target {
        Some(t) => format!("{t}.({list})"),
        None => format!("({list})"),
    }
}

impl Walker<'_> {
    fn report(&mut self, error: CheckError) {
        self.errors.push((self.node, error));
    }

    fn expr(&mut self, expr: &IdedExpr) -> CelType {
        let outer = self.node;
        // Nodes added after parsing (the `@kro.iter` wrappers) have no position: errors in
        // them point at the enclosing node.
        if self.positions.offset_for(expr.id).is_some() {
            self.node = expr.id;
        }
        let ty = self.expr_kind(expr);
        self.node = outer;
        ty
    }

    fn expr_kind(&mut self, expr: &IdedExpr) -> CelType {
        match &expr.expr {
            Expr::Literal(literal) => match literal {
                LiteralValue::Boolean(_) => CelType::Bool,
                LiteralValue::Bytes(_) => CelType::Bytes,
                LiteralValue::Double(_) => CelType::Double,
                LiteralValue::Int(_) => CelType::Int,
                LiteralValue::Null => CelType::Null,
                LiteralValue::String(_) => CelType::String,
                LiteralValue::UInt(_) => CelType::Uint,
            },
            Expr::Ident(name) => self.ident(name),
            Expr::Select(select) => self.select(expr, select),
            Expr::Call(call) => self.call(call),
            Expr::List(list) => self.list(list),
            Expr::Map(map) => self.map(map),
            Expr::Comprehension(comprehension) => self.comprehension(comprehension),
            Expr::Struct(s) => {
                self.report(invalid(format!(
                    "message construction \"{}{{...}}\" is not supported; use a map literal",
                    s.type_name
                )));
                CelType::Dyn
            }
            Expr::Unspecified => {
                self.report(invalid("empty expression"));
                CelType::Dyn
            }
        }
    }

    fn lookup(&self, name: &str) -> Option<CelType> {
        self.scopes
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.clone())
            .or_else(|| self.env.variable(name).cloned())
    }

    fn ident(&mut self, name: &str) -> CelType {
        if let Some(ty) = self.lookup(name) {
            return ty;
        }
        if TYPE_NAMES.contains(&name) {
            return CelType::Type;
        }
        let candidates: Vec<&str> = self
            .scopes
            .iter()
            .map(|(n, _)| n.as_str())
            .chain(self.env.variables().map(|(n, _)| n))
            .collect();
        self.report(CheckError::UnknownIdentifier {
            name: name.to_string(),
            suggestion: nearest(name, candidates),
        });
        CelType::Dyn
    }

    fn is_guarded(&self, path: &str) -> bool {
        self.guards.iter().any(|g| {
            g == path
                || g.strip_prefix(path)
                    .is_some_and(|rest| rest.starts_with('.'))
        })
    }

    fn select(&mut self, expr: &IdedExpr, select: &SelectExpr) -> CelType {
        let operand = self.expr(&select.operand);
        let field = self.field(&operand, &select.field);
        if select.test {
            return match operand {
                CelType::Struct(_)
                | CelType::Map(..)
                | CelType::Dyn
                | CelType::Condition
                | CelType::Optional(_) => CelType::Bool,
                other => {
                    self.report(CheckError::NotSelectable {
                        field: select.field.clone(),
                        on: other.to_string(),
                    });
                    CelType::Bool
                }
            };
        }
        if let CelType::Struct(s) = &operand
            && s.fields
                .get(&select.field)
                .is_some_and(FieldType::may_be_absent)
            && let Some(path) = path_of(expr)
            && !self.is_guarded(&path)
        {
            self.reads.push(path);
        }
        field
    }

    /// The type of `field` selected on a value of type `operand`.
    fn field(&mut self, operand: &CelType, field: &str) -> CelType {
        match operand {
            CelType::Struct(s) => match s.fields.get(field) {
                Some(f) => f.ty.clone(),
                None if s.preserves_unknown_fields => CelType::Dyn,
                None => {
                    self.report(CheckError::UnknownField {
                        field: field.to_string(),
                        on: s.name.clone(),
                        suggestion: nearest(field, s.fields.keys().map(String::as_str)),
                    });
                    CelType::Dyn
                }
            },
            CelType::Condition => {
                if CONDITION_KEYS.contains(&field) {
                    CelType::String
                } else {
                    self.report(CheckError::UnknownField {
                        field: field.to_string(),
                        on: CelType::Condition.to_string(),
                        suggestion: nearest(field, CONDITION_KEYS.iter().copied()),
                    });
                    CelType::Dyn
                }
            }
            CelType::Map(key, value) if matches!(**key, CelType::String | CelType::Dyn) => {
                (**value).clone()
            }
            CelType::Dyn | CelType::Param(_) => CelType::Dyn,
            CelType::Optional(inner) => match self.field(inner, field) {
                CelType::Optional(t) => CelType::Optional(t),
                t => CelType::optional(t),
            },
            other => {
                self.report(CheckError::NotSelectable {
                    field: field.to_string(),
                    on: other.to_string(),
                });
                CelType::Dyn
            }
        }
    }

    fn list(&mut self, list: &ListExpr) -> CelType {
        let mut element = free();
        for (index, item) in list.elements.iter().enumerate() {
            let mut ty = self.expr(item);
            if list.optional_indices.contains(&index) {
                ty = self.unwrap_optional(ty, "optional list element \"[?e]\"");
            }
            element = join(&element, &ty).unwrap_or(CelType::Dyn);
        }
        CelType::list(element)
    }

    fn unwrap_optional(&mut self, ty: CelType, what: &str) -> CelType {
        match ty {
            CelType::Optional(inner) => *inner,
            CelType::Dyn => CelType::Dyn,
            other => {
                self.report(invalid(format!(
                    "{what} must be of type optional_type(T), found \"{other}\""
                )));
                CelType::Dyn
            }
        }
    }

    fn map(&mut self, map: &MapExpr) -> CelType {
        let (mut key, mut value) = (free(), free());
        for entry in &map.entries {
            let EntryExpr::MapEntry(entry) = &entry.expr else {
                self.report(invalid("struct field in a map literal"));
                continue;
            };
            let key_type = self.expr(&entry.key);
            if !matches!(
                key_type,
                CelType::String | CelType::Int | CelType::Uint | CelType::Bool | CelType::Dyn
            ) {
                self.report(invalid(format!(
                    "map keys must be string, int, uint or bool, found \"{key_type}\""
                )));
            }
            let mut value_type = self.expr(&entry.value);
            if entry.optional {
                value_type = self.unwrap_optional(value_type, "optional map entry \"{?k: v}\"");
            }
            key = join(&key, &key_type).unwrap_or(CelType::Dyn);
            value = join(&value, &value_type).unwrap_or(CelType::Dyn);
        }
        CelType::map(key, value)
    }

    /// The types of the iteration variable(s) over a range of type `range`.
    fn iteration_types(&mut self, range: &CelType, two: bool) -> (CelType, CelType) {
        match range {
            CelType::List(element) => {
                if two {
                    (CelType::Int, (**element).clone())
                } else {
                    ((**element).clone(), CelType::Dyn)
                }
            }
            CelType::Map(key, value) => ((**key).clone(), (**value).clone()),
            CelType::Struct(_) | CelType::Condition => (CelType::String, CelType::Dyn),
            CelType::Dyn | CelType::Param(_) => (CelType::Dyn, CelType::Dyn),
            other => {
                self.report(invalid(format!(
                    "expression of type \"{other}\" cannot be iterated; expected a list or a map"
                )));
                (CelType::Dyn, CelType::Dyn)
            }
        }
    }

    fn comprehension(&mut self, c: &ComprehensionExpr) -> CelType {
        let range = self.expr(&c.iter_range);
        let (first, second) = self.iteration_types(&range, c.iter_var2.is_some());
        let mut accu = self.expr(&c.accu_init);
        let depth = self.scopes.len();
        self.scopes.push((c.iter_var.clone(), first));
        if let Some(var2) = &c.iter_var2 {
            self.scopes.push((var2.clone(), second));
        }
        self.scopes.push((c.accu_var.clone(), accu.clone()));
        if accu.has_params() {
            // An empty literal accumulator (`[]` in map/filter) takes the step's type, found
            // by a first, silent pass over the step.
            let (errors, reads) = (self.errors.len(), self.reads.len());
            let step = self.expr(&c.loop_step);
            self.errors.truncate(errors);
            self.reads.truncate(reads);
            accu = join(&accu, &step).unwrap_or(step);
            if let Some(last) = self.scopes.last_mut() {
                last.1 = accu.clone();
            }
        }
        let condition = self.expr(&c.loop_cond);
        self.expect_bool(&condition, "comprehension condition");
        self.expr(&c.loop_step);
        self.scopes.truncate(depth);
        self.scopes.push((c.accu_var.clone(), accu));
        let result = self.expr(&c.result);
        self.scopes.truncate(depth);
        result
    }

    fn expect_bool(&mut self, ty: &CelType, what: &str) {
        if !matches!(ty, CelType::Bool | CelType::Dyn) {
            self.report(invalid(format!(
                "{what} must be of type bool, found \"{ty}\""
            )));
        }
    }

    fn with_guards<T>(&mut self, guards: Vec<String>, f: impl FnOnce(&mut Self) -> T) -> T {
        let depth = self.guards.len();
        self.guards.extend(guards);
        let out = f(self);
        self.guards.truncate(depth);
        out
    }

    fn call(&mut self, call: &CallExpr) -> CelType {
        let name = call.func_name.as_str();
        match (name, call.target.as_deref(), call.args.as_slice()) {
            ("_&&_" | "_||_", None, [a, b]) => {
                let left = self.expr(a);
                let guards = presence_tests(a, name == "_&&_");
                let right = self.with_guards(guards, |w| w.expr(b));
                return self.resolve_call(name, false, &[left, right]);
            }
            ("_?_:_", None, [condition, then, otherwise]) => {
                let condition_type = self.expr(condition);
                let then_type = self.with_guards(presence_tests(condition, true), |w| w.expr(then));
                let else_type =
                    self.with_guards(presence_tests(condition, false), |w| w.expr(otherwise));
                if is_opt_flat_map(condition, then, otherwise)
                    && !matches!(then_type, CelType::Optional(_) | CelType::Dyn)
                {
                    self.report(invalid(format!(
                        "optFlatMap must return an optional, found \"{then_type}\""
                    )));
                    return CelType::Dyn;
                }
                return self.resolve_call(name, false, &[condition_type, then_type, else_type]);
            }
            ("_?._", None, [operand, field]) => {
                let operand_type = self.expr(operand);
                let Some(field) = literal_string(field) else {
                    self.report(invalid("optional selection needs a field name"));
                    return CelType::Dyn;
                };
                return match self.field(&operand_type, field) {
                    CelType::Optional(inner) => CelType::Optional(inner),
                    other => CelType::optional(other),
                };
            }
            ("_[_]" | "_[?_]", None, [operand, key]) => {
                let operand_type = self.expr(operand);
                let key_type = self.expr(key);
                if matches!(operand_type, CelType::Struct(_) | CelType::Condition) {
                    let field = match literal_string(key) {
                        Some(field) => self.field(&operand_type, field),
                        None => {
                            if !matches!(key_type, CelType::String | CelType::Dyn) {
                                self.no_overload(name, None, &[operand_type, key_type]);
                            }
                            CelType::Dyn
                        }
                    };
                    return if name == "_[?_]" {
                        CelType::optional(field)
                    } else {
                        field
                    };
                }
                return self.resolve_call(name, false, &[operand_type, key_type]);
            }
            ("_==_" | "_!=_", None, [a, b]) => {
                let (left, right) = (self.expr(a), self.expr(b));
                if left == CelType::Null || right == CelType::Null {
                    return CelType::Bool;
                }
                return self.resolve_call(name, false, &[left, right]);
            }
            _ => {}
        }
        if let Some(target) = call.target.as_deref() {
            if let Some(namespace) = self.namespace(target, name) {
                let qualified = format!("{namespace}.{name}");
                return self.global_call(&qualified, &call.args);
            }
            let target_type = self.expr(target);
            let mut args = vec![target_type];
            args.extend(call.args.iter().map(|a| self.expr(a)));
            return self.resolve_call(name, true, &args);
        }
        self.global_call(name, &call.args)
    }

    /// The namespace a call target spells (`hash` in `hash.fnv64a(...)`), when its root is not a
    /// variable, or when the qualified name is a function, which wins over a variable as in
    /// cel-go (`runtime.condition` while `runtime` is declared).
    fn namespace(&self, target: &IdedExpr, function: &str) -> Option<String> {
        if matches!(target.expr, Expr::Call(_)) {
            return None;
        }
        let path = path_of(target)?;
        if path == "cel" || table().has_global(&format!("{path}.{function}")) {
            return Some(path);
        }
        let root = path.split('.').next()?;
        self.lookup(root).is_none().then_some(path)
    }

    fn global_call(&mut self, name: &str, args: &[IdedExpr]) -> CelType {
        if name == overloads::OMIT && args.is_empty() && !self.env.omit_enabled() {
            self.report(invalid(
                "omit() requires the CELOmitFunction feature gate to be enabled",
            ));
            return CelType::Dyn;
        }
        // `runtime.newCondition(...)` reaches the checker expanded to `@kro.newCondition`.
        let user_name = if name == overloads::NEW_CONDITION {
            "runtime.newCondition"
        } else {
            name
        };
        if user_name.starts_with("runtime.") && self.env.variable("runtime").is_none() {
            self.report(invalid(format!(
                "{user_name}() is only available in status conditions"
            )));
            return CelType::Dyn;
        }
        if let (overloads::NEW_CONDITION, [argument]) = (name, args)
            && let Expr::Map(map) = &argument.expr
        {
            return self.new_condition(map);
        }
        let arg_types: Vec<CelType> = args.iter().map(|a| self.expr(a)).collect();
        self.resolve_call(name, false, &arg_types)
    }

    /// The values of `runtime.newCondition({...})`; its macro already checked the keys.
    fn new_condition(&mut self, map: &MapExpr) -> CelType {
        for entry in &map.entries {
            let EntryExpr::MapEntry(entry) = &entry.expr else {
                continue;
            };
            let value = self.expr(&entry.value);
            if !matches!(value, CelType::String | CelType::Dyn) {
                self.report(invalid(format!(
                    "runtime.newCondition: values must be strings, found \"{value}\""
                )));
            }
        }
        CelType::Condition
    }

    fn no_overload(&mut self, function: &str, target: Option<&CelType>, args: &[CelType]) {
        self.report(CheckError::NoMatchingOverload {
            function: function.to_string(),
            arguments: describe_arguments(target, args),
        });
    }

    /// Resolves a call against the overload table; `member` is true for receiver calls, whose
    /// receiver type is `args[0]`.
    fn resolve_call(&mut self, name: &str, member: bool, args: &[CelType]) -> CelType {
        let table = table();
        let Some(candidates) = table.get(name) else {
            self.report(CheckError::UnknownFunction {
                name: name.to_string(),
                suggestion: nearest(name, table.names()),
            });
            return CelType::Dyn;
        };
        let results = resolve(candidates, member, args);
        let mut results = results.into_iter();
        match results.next() {
            None => {
                if let Some(error) = internal_misuse(name, args) {
                    self.report(error);
                    return CelType::Dyn;
                }
                match args.split_first() {
                    Some((receiver, rest)) if member => {
                        self.no_overload(name, Some(receiver), rest);
                    }
                    _ => self.no_overload(name, None, args),
                }
                CelType::Dyn
            }
            Some(first) => {
                results.fold(first, |acc, next| join(&acc, &next).unwrap_or(CelType::Dyn))
            }
        }
    }
}
