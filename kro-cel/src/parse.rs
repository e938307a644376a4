//! Parsing with kro's macros; shared with the type checker, which walks the same AST.

use crate::error::CompileError;
use crate::library::ENVIRONMENT;
use cel::common::ast::{EntryExpr, Expr, IdedExpr, SourceInfo};

/// Longest expression source, in characters: cel-go's default expression size limit.
pub(crate) const MAX_SOURCE_CHARS: usize = 100_000;

/// Deepest AST an expression may have, macros expanded. Checking and evaluating recurse once
/// per level; at this depth both need well under 1 MiB of stack in an optimised build, and
/// expressions written by hand stay far below it (cel-go's parser stops at 250 levels of
/// nesting).
pub(crate) const MAX_AST_DEPTH: usize = 100;

/// Stack of the thread long expressions are parsed on. The `cel` parser recurses once per
/// nesting level and once per operator of a chain such as `a + b + c`, with frames of up to
/// 150 KiB in unoptimised builds; the thread's stack is reserved, not committed, so only what a
/// parse uses is touched.
const PARSER_STACK_BYTES: usize = 256 * 1024 * 1024;

/// Expressions up to this length are parsed on the caller's thread in optimised builds, sparing
/// them a thread: every level of nesting takes at least one character, and an optimised build
/// parses 256 levels in a few hundred KiB of stack. Unoptimised builds need far more per level,
/// so there every expression goes to the parser thread.
const INLINE_PARSE_BYTES: usize = 256;

/// A parsed expression: the macro-expanded AST and the positions of its nodes.
#[derive(Debug)]
pub(crate) struct Parsed {
    /// The AST, with kro's macros (two-variable comprehensions, `cel.bind`, ...) expanded.
    pub(crate) expr: IdedExpr,
    /// Node positions, for error messages.
    pub(crate) source_info: SourceInfo,
}

impl Parsed {
    /// 1-based line and column (in characters) of a node of this expression.
    pub(crate) fn position_of(&self, id: u64) -> (usize, usize) {
        let offset = self
            .source_info
            .offset_for(id)
            .map_or(0, |(start, _)| start as usize);
        position_at(&self.source_info.source, offset)
    }
}

/// 1-based line and column (in characters) of a character offset within `source`.
pub(crate) fn position_at(source: &str, char_offset: usize) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    for c in source.chars().take(char_offset) {
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

/// Parses `source` with kro's environment (standard and kro macros expanded).
pub(crate) fn parse(source: &str) -> Result<Parsed, CompileError> {
    parse_with_details(source).map_err(|failure| failure.error)
}

/// A parse failure: the first error, positioned, and the parser's full report (every error,
/// with source snippets) for the type checker's messages.
#[derive(Debug)]
pub(crate) struct ParseFailure {
    /// The first error.
    pub(crate) error: CompileError,
    /// Every error the parser reported, as it formats them.
    pub(crate) report: String,
}

/// [`parse`], keeping the parser's full report on failure.
///
/// A long expression is parsed on a thread of its own with a large stack, and an AST deeper
/// than [`MAX_AST_DEPTH`] is rejected (and dropped) there: a deeply nested or chained
/// expression never reaches the recursive checker and evaluator, and cannot overflow the
/// caller's stack.
pub(crate) fn parse_with_details(source: &str) -> Result<Parsed, ParseFailure> {
    if !cfg!(debug_assertions) && source.len() <= INLINE_PARSE_BYTES {
        return parse_bounded(source);
    }
    let spawned = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("kro-cel-parse".to_owned())
            .stack_size(PARSER_STACK_BYTES)
            .spawn_scoped(scope, || parse_bounded(source))
            .map(|handle| handle.join())
    });
    match spawned {
        Ok(Ok(result)) => result,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        // No thread to be had (resource limits): parse here; the limits still apply after.
        Err(_) => parse_bounded(source),
    }
}

fn parse_bounded(source: &str) -> Result<Parsed, ParseFailure> {
    let chars = source.chars().count();
    if chars > MAX_SOURCE_CHARS {
        return Err(over_limit(
            source,
            format!(
                "expression is {chars} characters long, more than the limit of {MAX_SOURCE_CHARS}"
            ),
        ));
    }
    let parsed = parse_unbounded(source)?;
    let depth = depth(&parsed.expr);
    if depth > MAX_AST_DEPTH {
        return Err(over_limit(
            source,
            format!(
                "expression is nested {depth} levels deep, more than the limit of {MAX_AST_DEPTH}"
            ),
        ));
    }
    Ok(parsed)
}

/// A limit broken by the expression as a whole, reported at its start.
fn over_limit(source: &str, message: String) -> ParseFailure {
    ParseFailure {
        report: message.clone(),
        error: CompileError {
            expression: source.to_owned(),
            line: 1,
            column: 1,
            message,
        },
    }
}

/// The number of nodes on the longest path from the root to a leaf, counted without recursion
/// (the tree may be arbitrarily deep).
pub(crate) fn depth(root: &IdedExpr) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(root, 1)];
    while let Some((expr, level)) = pending.pop() {
        deepest = deepest.max(level);
        pending.extend(children(expr).into_iter().map(|child| (child, level + 1)));
    }
    deepest
}

/// The direct subexpressions of `expr`, in source order.
pub(crate) fn children(expr: &IdedExpr) -> Vec<&IdedExpr> {
    match &expr.expr {
        Expr::Call(call) => call
            .target
            .as_deref()
            .into_iter()
            .chain(&call.args)
            .collect(),
        Expr::Comprehension(c) => vec![
            &c.iter_range,
            &c.accu_init,
            &c.loop_cond,
            &c.loop_step,
            &c.result,
        ],
        Expr::Select(select) => vec![&select.operand],
        Expr::List(list) => list.elements.iter().collect(),
        Expr::Map(map) => map
            .entries
            .iter()
            .filter_map(|entry| match &entry.expr {
                EntryExpr::MapEntry(entry) => Some([&entry.key, &entry.value]),
                EntryExpr::StructField(_) => None,
            })
            .flatten()
            .collect(),
        Expr::Struct(s) => s
            .entries
            .iter()
            .filter_map(|entry| match &entry.expr {
                EntryExpr::StructField(field) => Some(&field.value),
                EntryExpr::MapEntry(_) => None,
            })
            .collect(),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => Vec::new(),
    }
}

fn parse_unbounded(source: &str) -> Result<Parsed, ParseFailure> {
    let only = |error: CompileError| ParseFailure {
        report: error.message.clone(),
        error,
    };
    let error = |line: usize, column: usize, message: String| CompileError {
        expression: source.to_owned(),
        line,
        column,
        message,
    };
    let env = match ENVIRONMENT.as_ref() {
        Ok(env) => env,
        Err(e) => {
            return Err(only(error(
                1,
                1,
                format!("the CEL environment failed to build: {e}"),
            )));
        }
    };
    if source.trim().is_empty() {
        return Err(only(error(
            1,
            1,
            "empty expression: expected a CEL expression".to_owned(),
        )));
    }
    match env.parser().parse_with_source_info(source) {
        Ok((expr, source_info)) => Ok(Parsed { expr, source_info }),
        Err(errors) => {
            let first = errors.errors.first();
            // The parser's positions are 1-based already, for syntax and macro errors alike.
            let (line, column) = first.map_or((1, 1), |e| {
                (
                    usize::try_from(e.pos.0).unwrap_or(1).max(1),
                    usize::try_from(e.pos.1).unwrap_or(1).max(1),
                )
            });
            let message = first.map_or_else(|| errors.to_string(), |e| e.msg.clone());
            Err(ParseFailure {
                error: error(line, column, message),
                report: errors.to_string().trim().to_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_AST_DEPTH, MAX_SOURCE_CHARS};
    use crate::{Activation, Checker, Environment, TypeEnv};

    /// `1+1+...+1`: a left-leaning chain as deep as it has terms.
    fn chain(terms: usize) -> String {
        format!("1{}", "+1".repeat(terms - 1))
    }

    #[test]
    fn depth_at_the_limit_compiles_and_one_more_level_fails() {
        let env = Environment::new();
        let program = env
            .compile(&chain(MAX_AST_DEPTH))
            .expect("a chain as deep as the limit compiles");
        // Unoptimised builds of the `cel` interpreter take tens of KiB of stack per level: more
        // than a test thread's 2 MiB at this depth (an optimised build needs a few hundred KiB).
        let value = std::thread::Builder::new()
            .stack_size(64 * 1024 * 1024)
            .spawn(move || program.evaluate(&Activation::new()))
            .expect("spawns")
            .join()
            .expect("evaluates without overflowing")
            .expect("evaluates");
        assert_eq!(value, serde_json::json!(MAX_AST_DEPTH));
        let error = env
            .compile(&chain(MAX_AST_DEPTH + 1))
            .expect_err("one level deeper");
        assert_eq!(
            error.message,
            format!("expression is nested 101 levels deep, more than the limit of {MAX_AST_DEPTH}")
        );
        let checked = Checker::new(&TypeEnv::new()).check(&chain(MAX_AST_DEPTH + 1));
        assert!(checked.is_err(), "the checker parses under the same limits");
    }

    #[test]
    fn source_length_at_the_limit_compiles_and_one_more_character_fails() {
        let env = Environment::new();
        let at = format!("'{}'", "a".repeat(MAX_SOURCE_CHARS - 2));
        env.compile(&at).expect("100,000 characters compile");
        let over = format!("'{}'", "a".repeat(MAX_SOURCE_CHARS - 1));
        assert_eq!(
            env.compile(&over).expect_err("one character more").message,
            "expression is 100001 characters long, more than the limit of 100000"
        );
    }

    #[test]
    fn deep_expressions_are_parsed_and_rejected_off_the_callers_stack() {
        // Far less stack than the parser needs for either expression in any build.
        let small = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let env = Environment::new();
                // Padded past the length optimised builds parse inline.
                let nested = format!("{}1{}{}", "(".repeat(90), ")".repeat(90), " ".repeat(100));
                let chained = chain(4000);
                (
                    env.compile(&nested).map(|_| ()),
                    env.compile(&chained).map(|_| ()).map_err(|e| e.message),
                )
            })
            .expect("spawns")
            .join()
            .expect("no stack overflow on the caller's thread");
        small
            .0
            .expect("90 nested parentheses are within the parser's limit of 96");
        assert_eq!(
            small.1,
            Err("expression is nested 4000 levels deep, more than the limit of 100".to_owned())
        );
    }
}
