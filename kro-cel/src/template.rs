//! The `${...}` template scanner and templates.
//!
//! A field value that is exactly one `${expr}` is *standalone* and keeps the expression's native
//! type. Any other value with expressions is a string template: literal text and expressions
//! concatenated, every expression required to produce a string. The scanner counts braces to find
//! the closing `}`, ignoring braces inside double-quoted literals (with `\` escapes); single
//! quotes do not protect braces. A `${` inside an expression is an error unless it directly
//! follows a `"` (it then opens a string literal's text). An unterminated `${` is literal text.

use crate::error::TemplateError;
use crate::error::{ErrorKind, EvalError};
use crate::program::{Activation, Environment, Program};
use crate::references::Reference;
use std::collections::BTreeSet;

/// A piece of a scanned template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Literal text.
    Literal(String),
    /// The source of an expression, without `${` and `}`.
    Expression {
        /// The expression text.
        source: String,
        /// 0-based character offset of the expression's first character in the template.
        offset: usize,
    },
}

/// Splits a template into literal text and expressions.
///
/// # Errors
/// [`TemplateError::Nested`] for a `${` inside an expression that does not directly follow `"`.
pub fn scan(template: &str) -> Result<Vec<Segment>, TemplateError> {
    scan_detailed(template).map_err(|nested| TemplateError::Nested {
        template: template.to_owned(),
        offset: template[..nested.at].chars().count(),
    })
}

/// A `${` inside an expression, as [`scan_detailed`] found it.
pub(crate) struct NestedAt {
    /// Byte index of the enclosing expression's first character (just after its `${`).
    pub(crate) expression: usize,
    /// Byte index of the nested `${`.
    pub(crate) at: usize,
}

/// [`scan`], telling where the enclosing expression of a nested `${` starts.
pub(crate) fn scan_detailed(template: &str) -> Result<Vec<Segment>, NestedAt> {
    let bytes = template.as_bytes();
    let char_offset = |byte: usize| template[..byte].chars().count();
    let mut segments = Vec::new();
    let mut literal_start = 0;
    let mut i = 0;
    while i + 1 < bytes.len() {
        if !(bytes[i] == b'$' && bytes[i + 1] == b'{') {
            i += 1;
            continue;
        }
        let start = i + 2;
        let mut j = start;
        let mut depth = 1usize;
        let mut in_string = false;
        let mut escaped = false;
        while j < bytes.len() {
            let c = bytes[j];
            if escaped {
                escaped = false;
                j += 1;
                continue;
            }
            if c == b'$' && bytes.get(j + 1) == Some(&b'{') && (j == 0 || bytes[j - 1] != b'"') {
                return Err(NestedAt {
                    expression: start,
                    at: j,
                });
            }
            match c {
                b'\\' => escaped = true,
                b'"' => in_string = !in_string,
                b'{' if !in_string => depth += 1,
                b'}' if !in_string => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            j += 1;
        }
        if depth != 0 {
            // Unterminated: the rest of the string is literal text.
            break;
        }
        if literal_start < i {
            segments.push(Segment::Literal(template[literal_start..i].to_owned()));
        }
        segments.push(Segment::Expression {
            source: template[start..j].to_owned(),
            offset: char_offset(start),
        });
        i = j + 1;
        literal_start = i;
    }
    if literal_start < template.len() {
        segments.push(Segment::Literal(template[literal_start..].to_owned()));
    }
    Ok(segments)
}

/// A compiled piece of a string template.
#[derive(Debug, Clone)]
pub enum TemplatePart {
    /// Literal text.
    Literal(String),
    /// A compiled expression and its character offset in the template.
    Expression(Program, usize),
}

#[derive(Debug, Clone)]
enum Shape {
    Literal,
    Standalone(Program),
    Concatenation(Vec<TemplatePart>),
}

/// A compiled template: plain text, a standalone expression, or a string concatenation.
#[derive(Debug, Clone)]
pub struct Template {
    source: String,
    shape: Shape,
}

impl Template {
    /// Scans and compiles `template` in `environment`.
    ///
    /// # Errors
    /// A nested `${`, or an expression that does not compile (positioned in the template).
    pub fn compile(environment: &Environment, template: &str) -> Result<Template, TemplateError> {
        let segments = scan(template)?;
        let compile = |source: &str, offset: usize| {
            environment
                .compile(source)
                .map_err(|source| TemplateError::Compile {
                    template: template.to_owned(),
                    offset,
                    source,
                })
        };
        let shape = match segments.as_slice() {
            [] | [Segment::Literal(_)] => Shape::Literal,
            [Segment::Expression { source, offset }] => {
                Shape::Standalone(compile(source, *offset)?)
            }
            parts => Shape::Concatenation(
                parts
                    .iter()
                    .map(|part| match part {
                        Segment::Literal(text) => Ok(TemplatePart::Literal(text.clone())),
                        Segment::Expression { source, offset } => {
                            Ok(TemplatePart::Expression(compile(source, *offset)?, *offset))
                        }
                    })
                    .collect::<Result<_, TemplateError>>()?,
            ),
        };
        Ok(Template {
            source: template.to_owned(),
            shape,
        })
    }

    /// The template text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when the template has at least one expression.
    pub fn has_expressions(&self) -> bool {
        !matches!(self.shape, Shape::Literal)
    }

    /// True when the template is exactly one `${...}` (the result keeps its native type).
    pub fn is_standalone(&self) -> bool {
        matches!(self.shape, Shape::Standalone(_))
    }

    /// The compiled expressions, in order.
    pub fn programs(&self) -> Vec<&Program> {
        match &self.shape {
            Shape::Literal => Vec::new(),
            Shape::Standalone(program) => vec![program],
            Shape::Concatenation(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    TemplatePart::Expression(program, _) => Some(program),
                    TemplatePart::Literal(_) => None,
                })
                .collect(),
        }
    }

    /// Every variable reference of every expression, sorted and deduplicated.
    pub fn references(&self) -> Vec<Reference> {
        let all: BTreeSet<Reference> = self
            .programs()
            .into_iter()
            .flat_map(|p| p.references())
            .collect();
        all.into_iter().collect()
    }

    /// The single CEL expression a string template stands for: `"lit" + (e1) + "lit"`. For a
    /// standalone template, the expression itself; for plain text, a string literal.
    pub fn to_cel(&self) -> String {
        match &self.shape {
            Shape::Literal => cel_string_literal(&self.source),
            Shape::Standalone(program) => program.source().to_owned(),
            Shape::Concatenation(parts) => parts
                .iter()
                .map(|part| match part {
                    TemplatePart::Literal(text) => cel_string_literal(text),
                    TemplatePart::Expression(program, _) => format!("({})", program.source()),
                })
                .collect::<Vec<_>>()
                .join(" + "),
        }
    }

    /// Evaluates the template: the native JSON value for a standalone expression, a string
    /// otherwise. `Ok(None)` when a standalone expression evaluates to `omit()`.
    ///
    /// # Errors
    /// An expression's evaluation error, or a string-template part that is not a string.
    pub fn evaluate_optional(
        &self,
        activation: &Activation,
    ) -> Result<Option<serde_json::Value>, EvalError> {
        match &self.shape {
            Shape::Literal => Ok(Some(serde_json::Value::String(self.source.clone()))),
            Shape::Standalone(program) => program.evaluate_optional(activation),
            Shape::Concatenation(parts) => {
                let mut out = String::new();
                for part in parts {
                    match part {
                        TemplatePart::Literal(text) => out.push_str(text),
                        TemplatePart::Expression(program, offset) => {
                            let value = program.evaluate_value(activation)?;
                            let Some(text) = value.as_str() else {
                                return Err(EvalError::new(
                                    ErrorKind::NoSuchOverload,
                                    program.source(),
                                    format!(
                                        "in template `{}` at character {offset}: expected a string, \
                                         got {}; every part of a string template must be a string \
                                         (convert with string() or format())",
                                        self.source,
                                        value.type_name()
                                    ),
                                ));
                            };
                            out.push_str(text);
                        }
                    }
                }
                Ok(Some(serde_json::Value::String(out)))
            }
        }
    }

    /// Evaluates the template (see [`Template::evaluate_optional`]).
    ///
    /// # Errors
    /// As [`Template::evaluate_optional`], plus [`ErrorKind::Omitted`] for `omit()`.
    pub fn evaluate(&self, activation: &Activation) -> Result<serde_json::Value, EvalError> {
        self.evaluate_optional(activation)?.ok_or_else(|| {
            EvalError::new(
                ErrorKind::Omitted,
                &self.source,
                "omit() is not allowed here",
            )
        })
    }
}

fn cel_string_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
