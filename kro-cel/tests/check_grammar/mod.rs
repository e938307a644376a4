//! A grammar of CEL expressions over a small typed environment, for the checker/evaluator
//! agreement property: every production is well-typed by construction (its type is known without
//! asking the checker), and a few ill-typed ones are built on purpose.
//!
//! Generation is driven by a choice sequence (`&[u16]`) rather than by nested strategies: each
//! decision reads the next choice, and a missing choice reads as 0, which is always the simplest
//! production (a literal or a variable). Proptest shrinks the sequence (fewer, smaller choices),
//! so a failing expression shrinks toward a short one.

#![allow(dead_code)]

use kro_cel::CelType;

/// The types of the grammar: scalars, lists and maps with string keys.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    Int,
    Uint,
    Double,
    Str,
    Bool,
    List(Box<Ty>),
    /// `map(string, T)`.
    Map(Box<Ty>),
}

impl Ty {
    /// The checker's spelling of the type.
    pub fn cel(&self) -> CelType {
        match self {
            Ty::Int => CelType::Int,
            Ty::Uint => CelType::Uint,
            Ty::Double => CelType::Double,
            Ty::Str => CelType::String,
            Ty::Bool => CelType::Bool,
            Ty::List(element) => CelType::list(element.cel()),
            Ty::Map(value) => CelType::map(CelType::String, value.cel()),
        }
    }
}

fn list(element: Ty) -> Ty {
    Ty::List(Box::new(element))
}

fn map(value: Ty) -> Ty {
    Ty::Map(Box::new(value))
}

/// The types an operand or a whole expression may have.
fn menu() -> [Ty; 9] {
    [
        Ty::Int,
        Ty::Uint,
        Ty::Double,
        Ty::Str,
        Ty::Bool,
        list(Ty::Int),
        list(Ty::Str),
        map(Ty::Int),
        map(Ty::Str),
    ]
}

/// The variables every expression may read, with their types. `schema` is the instance of
/// `check_common::spec_schema()` (its required and defaulted fields); the others are declared and
/// bound by the test.
pub fn globals() -> Vec<(&'static str, Ty)> {
    vec![
        ("schema.spec.name", Ty::Str),
        ("schema.spec.config.host", Ty::Str),
        ("schema.metadata.name", Ty::Str),
        ("schema.spec.replicas", Ty::Int),
        ("schema.spec.port", Ty::Int),
        ("schema.metadata.generation", Ty::Int),
        ("schema.spec.enabled", Ty::Bool),
        ("schema.spec.tags", list(Ty::Str)),
        ("u", Ty::Uint),
        ("d", Ty::Double),
        ("ints", list(Ty::Int)),
        ("counts", map(Ty::Int)),
    ]
}

/// Optional fields of `schema.spec`, read behind `has()`: the field and its type.
fn optional_fields() -> [(&'static str, Ty); 5] {
    [
        ("schema.spec.image", Ty::Str),
        ("schema.spec.ratio", Ty::Double),
        ("schema.spec.ports", list(Ty::Int)),
        ("schema.spec.labels", map(Ty::Str)),
        ("schema.spec.config.retries", Ty::Int),
    ]
}

/// Generates expressions from a choice sequence.
pub struct Grammar<'a> {
    choices: &'a [u16],
    next: usize,
    /// Macro variables in scope, innermost last.
    locals: Vec<(String, Ty)>,
    /// No empty `[]` or `{}` literals: their element type is `dyn`, which the checker accepts
    /// anywhere, so an operand built with one is not ill-typed where it is put.
    strict: bool,
}

impl<'a> Grammar<'a> {
    /// A generator reading `choices`.
    pub fn new(choices: &'a [u16]) -> Self {
        Grammar {
            choices,
            next: 0,
            locals: Vec::new(),
            strict: false,
        }
    }

    /// The next choice, in `0..n`; 0 once the sequence is used up.
    fn pick(&mut self, n: usize) -> usize {
        let choice = self.choices.get(self.next).copied().unwrap_or(0);
        self.next += 1;
        usize::from(choice) % n
    }

    /// A type from the menu.
    pub fn ty(&mut self) -> Ty {
        let menu = menu();
        let index = self.pick(menu.len());
        menu[index].clone()
    }

    /// A well-typed expression of type `ty`, nested at most `depth` levels.
    pub fn expr(&mut self, ty: &Ty, depth: u32) -> String {
        if depth == 0 {
            return self.leaf(ty);
        }
        match self.pick(6) {
            0 => self.leaf(ty),
            1 => {
                let condition = self.expr(&Ty::Bool, depth - 1);
                let then = self.expr(ty, depth - 1);
                let otherwise = self.expr(ty, depth - 1);
                format!("({condition} ? {then} : {otherwise})")
            }
            2 => self.optional_index(ty, depth),
            3 => self.guarded_field(ty, depth),
            _ => self.typed(ty, depth),
        }
    }

    /// A literal, or a variable (global or macro-local) of the type.
    fn leaf(&mut self, ty: &Ty) -> String {
        let mut variables: Vec<String> = globals()
            .into_iter()
            .filter(|(_, t)| t == ty)
            .map(|(name, _)| name.to_owned())
            .collect();
        variables.extend(
            self.locals
                .iter()
                .filter(|(_, t)| t == ty)
                .map(|(name, _)| name.clone()),
        );
        // Choice 0 is a literal: the simplest expression shrinks to one.
        match self.pick(variables.len() + 1) {
            0 => self.literal(ty),
            n => variables[n - 1].clone(),
        }
    }

    fn literal(&mut self, ty: &Ty) -> String {
        let options: &[&str] = match ty {
            Ty::Int => &["1", "0", "-3", "42", "9223372036854775807"],
            Ty::Uint => &["1u", "0u", "7u", "18446744073709551615u"],
            Ty::Double => &["1.5", "0.0", "-2.25", "1e300"],
            Ty::Str => &["'a'", "''", "'bc'", "'a-b'", "'Ab C'"],
            Ty::Bool => &["true", "false"],
            Ty::List(element) => {
                let element = (**element).clone();
                return match self.pick(3) {
                    0 => format!("[{}]", self.literal(&element)),
                    1 if !self.strict => "[]".to_owned(),
                    _ => format!("[{}, {}]", self.literal(&element), self.literal(&element)),
                };
            }
            Ty::Map(value) => {
                let value = (**value).clone();
                return match self.pick(3) {
                    0 => format!("{{'a': {}}}", self.literal(&value)),
                    1 if !self.strict => "{}".to_owned(),
                    _ => format!(
                        "{{'a': {}, 'bc': {}}}",
                        self.literal(&value),
                        self.literal(&value)
                    ),
                };
            }
        };
        options[self.pick(options.len())].to_owned()
    }

    /// `m[?key].orValue(default)` or `l[?index].orValue(default)`: optional indexing.
    fn optional_index(&mut self, ty: &Ty, depth: u32) -> String {
        let default = self.expr(ty, depth - 1);
        if self.pick(2) == 0 {
            let container = self.expr(&map(ty.clone()), depth - 1);
            let key = self.expr(&Ty::Str, depth - 1);
            format!("{container}[?{key}].orValue({default})")
        } else {
            let container = self.expr(&list(ty.clone()), depth - 1);
            let index = self.expr(&Ty::Int, depth - 1);
            format!("{container}[?{index}].orValue({default})")
        }
    }

    /// An optional field of `schema.spec` read behind `has()`, when one has this type.
    fn guarded_field(&mut self, ty: &Ty, depth: u32) -> String {
        let fields: Vec<&str> = optional_fields()
            .into_iter()
            .filter(|(_, field_ty)| field_ty == ty)
            .map(|(field, _)| field)
            .collect();
        if fields.is_empty() {
            return self.typed(ty, depth);
        }
        let field = fields[self.pick(fields.len())];
        let default = self.expr(ty, depth - 1);
        if self.pick(2) == 0 {
            format!("(has({field}) ? {field} : {default})")
        } else {
            let (parent, name) = field.rsplit_once('.').unwrap_or((field, ""));
            format!("{parent}.?{name}.orValue({default})")
        }
    }

    /// The productions proper to each type.
    fn typed(&mut self, ty: &Ty, depth: u32) -> String {
        let d = depth - 1;
        match ty {
            Ty::Int => self.int(d),
            Ty::Uint => {
                let ops = ["+", "-", "*", "/", "%"];
                match self.pick(ops.len() + 1) {
                    0 => format!("uint(size({}))", self.expr(&Ty::Str, d)),
                    n => self.binary(ops[n - 1], &Ty::Uint, d),
                }
            }
            Ty::Double => match self.pick(6) {
                0 => format!("double({})", self.expr(&Ty::Int, d)),
                1 => format!("double({})", self.expr(&Ty::Uint, d)),
                2 => format!("(-({}))", self.expr(&Ty::Double, d)),
                n => self.binary(["+", "-", "*", "/"][n - 3], &Ty::Double, d),
            },
            Ty::Str => self.string(d),
            Ty::Bool => self.boolean(d),
            Ty::List(element) => self.list(element, d),
            Ty::Map(value) => {
                let value = (**value).clone();
                let entries = [self.expr(&value, d), self.expr(&value, d)];
                format!("{{'k': {}, 'kk': {}}}", entries[0], entries[1])
            }
        }
    }

    fn binary(&mut self, op: &str, operands: &Ty, depth: u32) -> String {
        let left = self.expr(operands, depth);
        let right = self.expr(operands, depth);
        format!("({left} {op} {right})")
    }

    fn int(&mut self, d: u32) -> String {
        match self.pick(11) {
            0 => format!("size({})", self.expr(&Ty::Str, d)),
            1 => {
                let ty = [list(Ty::Int), list(Ty::Str), map(Ty::Int), map(Ty::Str)][self.pick(4)]
                    .clone();
                format!("size({})", self.expr(&ty, d))
            }
            2 => format!("(-({}))", self.expr(&Ty::Int, d)),
            3 => format!("int({})", self.expr(&Ty::Double, d)),
            4 => format!("int({})", self.expr(&Ty::Uint, d)),
            5 => format!(
                "{}.indexOf({})",
                self.expr(&Ty::Str, d),
                self.expr(&Ty::Str, d)
            ),
            n => self.binary(["+", "-", "*", "/", "%"][n - 6], &Ty::Int, d),
        }
    }

    fn string(&mut self, d: u32) -> String {
        match self.pick(10) {
            0 => self.binary("+", &Ty::Str, d),
            1 => format!("{}.lowerAscii()", self.expr(&Ty::Str, d)),
            2 => format!("{}.upperAscii()", self.expr(&Ty::Str, d)),
            3 => format!("{}.trim()", self.expr(&Ty::Str, d)),
            4 => {
                let (s, from, to) = (
                    self.expr(&Ty::Str, d),
                    self.expr(&Ty::Str, d),
                    self.expr(&Ty::Str, d),
                );
                format!("{s}.replace({from}, {to})")
            }
            5 => format!(
                "{}.join({})",
                self.expr(&list(Ty::Str), d),
                self.expr(&Ty::Str, d)
            ),
            n => {
                let ty = [Ty::Int, Ty::Uint, Ty::Double, Ty::Bool][n - 6].clone();
                format!("string({})", self.expr(&ty, d))
            }
        }
    }

    fn boolean(&mut self, d: u32) -> String {
        match self.pick(12) {
            0 => self.binary("&&", &Ty::Bool, d),
            1 => self.binary("||", &Ty::Bool, d),
            2 => format!("!({})", self.expr(&Ty::Bool, d)),
            3 => {
                let ty = self.ty();
                let op = ["==", "!="][self.pick(2)];
                self.binary(op, &ty, d)
            }
            4 => {
                let ty = [Ty::Int, Ty::Uint, Ty::Double, Ty::Str][self.pick(4)].clone();
                let op = ["<", "<=", ">", ">="][self.pick(4)];
                self.binary(op, &ty, d)
            }
            5 => {
                let function = ["startsWith", "endsWith", "contains"][self.pick(3)];
                let (s, t) = (self.expr(&Ty::Str, d), self.expr(&Ty::Str, d));
                format!("{s}.{function}({t})")
            }
            6 => format!("{}.matches('^[a-c]+$')", self.expr(&Ty::Str, d)),
            7 => {
                let element = [Ty::Int, Ty::Str][self.pick(2)].clone();
                let (e, l) = (self.expr(&element, d), self.expr(&list(element), d));
                format!("({e} in {l})")
            }
            8 => {
                let value = [Ty::Int, Ty::Str][self.pick(2)].clone();
                let (key, m) = (self.expr(&Ty::Str, d), self.expr(&map(value), d));
                format!("({key} in {m})")
            }
            9 => {
                let fields = optional_fields();
                let (field, _) = &fields[self.pick(fields.len())];
                format!("has({field})")
            }
            _ => {
                let element = [Ty::Int, Ty::Str][self.pick(2)].clone();
                let quantifier = ["exists", "all", "exists_one"][self.pick(3)];
                let target = self.expr(&list(element.clone()), d);
                self.with_local(element, |g, name| {
                    let body = g.expr(&Ty::Bool, d);
                    format!("{target}.{quantifier}({name}, {body})")
                })
            }
        }
    }

    fn list(&mut self, element: &Ty, d: u32) -> String {
        match self.pick(4) {
            0 => self.binary("+", &list(element.clone()), d),
            1 => {
                let target = self.expr(&list(element.clone()), d);
                self.with_local(element.clone(), |g, name| {
                    let body = g.expr(&Ty::Bool, d);
                    format!("{target}.filter({name}, {body})")
                })
            }
            2 => {
                // Over a map: the keys.
                let from = [Ty::Int, Ty::Str][self.pick(2)].clone();
                let target = self.expr(&map(from), d);
                self.with_local(Ty::Str, |g, name| {
                    let body = g.expr(element, d);
                    format!("{target}.map({name}, {body})")
                })
            }
            _ => {
                let from = [Ty::Int, Ty::Str][self.pick(2)].clone();
                let target = self.expr(&list(from.clone()), d);
                self.with_local(from, |g, name| {
                    let body = g.expr(element, d);
                    format!("{target}.map({name}, {body})")
                })
            }
        }
    }

    /// Runs `body` with a new macro variable of type `ty` in scope.
    fn with_local(&mut self, ty: Ty, body: impl FnOnce(&mut Self, &str) -> String) -> String {
        let name = format!("x{}", self.locals.len());
        self.locals.push((name.clone(), ty));
        let out = body(self, &name);
        self.locals.pop();
        out
    }

    /// An ill-typed expression over well-typed operands: the checker must reject it, and the
    /// evaluator, which meets the same operands, must fail too. Only forms whose evaluation
    /// always reaches the mistyped operation (no short-circuit can skip it) are built.
    pub fn ill_typed(&mut self, depth: u32) -> String {
        self.strict = true;
        let expression = self.ill_typed_form(depth);
        self.strict = false;
        expression
    }

    fn ill_typed_form(&mut self, depth: u32) -> String {
        match self.pick(6) {
            0 => format!(
                "({} + {})",
                self.expr(&Ty::Int, depth),
                self.expr(&Ty::Str, depth)
            ),
            1 => format!(
                "({} < {})",
                self.expr(&Ty::Str, depth),
                self.expr(&Ty::Bool, depth)
            ),
            2 => format!("size({})", self.expr(&Ty::Bool, depth)),
            3 => format!("(-({}))", self.expr(&Ty::Str, depth)),
            4 => format!(
                "{}.startsWith({})",
                self.expr(&Ty::Str, depth),
                self.expr(&Ty::Int, depth)
            ),
            _ => format!(
                "({} ? {} : {})",
                self.expr(&Ty::Int, depth),
                self.expr(&Ty::Str, depth),
                self.expr(&Ty::Str, depth)
            ),
        }
    }
}
