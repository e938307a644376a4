//! Parsing with kro's macros; shared with the type checker, which walks the same AST.

use crate::error::CompileError;
use crate::library::ENVIRONMENT;
use cel::common::ast::{IdedExpr, SourceInfo};

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
pub(crate) fn parse_with_details(source: &str) -> Result<Parsed, ParseFailure> {
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
