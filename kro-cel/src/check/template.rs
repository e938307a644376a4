//! Type checking of a whole `${}` template, with every position relative to the template text.

use super::{CheckError, Checked, Checker, assignable};
use crate::parse::position_at;
use crate::template::{NestedAt, Segment, scan_detailed};
use crate::types::CelType;

/// What is wrong at one place of a template (see [`TemplateCheckError`] for where).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateProblem {
    /// A `${` inside an expression that does not directly follow `"` (it would open a nested
    /// expression; inside a string literal it is text).
    #[error("nested expressions are not allowed unless inside string literals")]
    Nested,
    /// The expression does not type-check. The message of a syntax error is the parser's
    /// report, which quotes the expression and positions within it; [`TemplateCheckError`]
    /// positions it in the template.
    #[error("{0}")]
    Check(CheckError),
    /// An expression of a string template (text around it, or several expressions) whose type
    /// is not `string`: kro concatenates the parts and converts nothing.
    #[error(
        "returns type \"{found}\" but every expression of a string template must return a string \
         (convert with string() or format())"
    )]
    NotAString {
        /// The expression's type.
        found: CelType,
    },
}

/// One problem of a template, positioned in the template text.
///
/// Offsets and columns count characters (not bytes), as [`Segment`]'s offsets and
/// [`LocatedCheckError`](super::LocatedCheckError)'s columns do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expression `{expression}` at line {line}, column {column}: {problem}")]
pub struct TemplateCheckError {
    /// The expression, as written between `${` and `}`. For [`TemplateProblem::Nested`], the
    /// text of the enclosing expression before the nested `${`.
    pub expression: String,
    /// 0-based character offset of the expression's first character in the template.
    pub expression_offset: usize,
    /// 0-based character offset of the problem in the template.
    pub offset: usize,
    /// 1-based line of the problem in the template.
    pub line: usize,
    /// 1-based column (in characters) of the problem in its line of the template.
    pub column: usize,
    /// What is wrong.
    pub problem: TemplateProblem,
}

/// Every problem found in a template by [`Checker::check_template`], in template order.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid template `{template}`: {}", join_errors(.errors))]
pub struct TemplateCheckErrors {
    /// The template, as written.
    pub template: String,
    /// The problems, in the order of the expressions, each expression's in the checker's order.
    pub errors: Vec<TemplateCheckError>,
}

fn join_errors(errors: &[TemplateCheckError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Checker<'_> {
    /// Scans `template` (a field value holding `${...}` expressions) and checks every expression,
    /// reporting problems at their position in the template rather than in the expression.
    ///
    /// A template that is exactly one `${...}` is *standalone*: its output is the expression's
    /// type. Any other template is a string template (text around an expression, or several
    /// expressions): every expression must return a `string`, as kro requires, and the output is
    /// `string`; plain text is a `string` too. The warnings are every expression's, sorted and
    /// deduplicated.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    ///
    /// use kro_cel::{CelType, Checker, FieldType, StructType, TemplateProblem, TypeEnv};
    ///
    /// let spec = StructType::new(
    ///     "schema.spec",
    ///     BTreeMap::from([
    ///         ("host".to_owned(), FieldType::required(CelType::String)),
    ///         ("port".to_owned(), FieldType::required(CelType::Int)),
    ///     ]),
    /// );
    /// let schema = StructType::new(
    ///     "schema",
    ///     BTreeMap::from([("spec".to_owned(), FieldType::required(CelType::object(spec)))]),
    /// );
    /// let env = TypeEnv::new().with("schema", CelType::object(schema));
    /// let checker = Checker::new(&env);
    ///
    /// // A string template, and a standalone expression that keeps its type.
    /// let url = checker.check_template("https://${schema.spec.host}:${string(schema.spec.port)}")?;
    /// assert_eq!(url.output, CelType::String);
    /// assert_eq!(checker.check_template("${schema.spec.port}")?.output, CelType::Int);
    ///
    /// // Problems are positioned in the template: line 2, column 15 is the `.` selecting `prot`.
    /// let errors = checker
    ///     .check_template("https://${schema.spec.host}\n:${schema.spec.prot}")
    ///     .unwrap_err();
    /// let error = &errors.errors[0];
    /// assert_eq!(error.expression, "schema.spec.prot");
    /// assert_eq!((error.line, error.column, error.offset), (2, 15, 42));
    /// assert!(matches!(error.problem, TemplateProblem::Check(_)));
    ///
    /// // In a string template, every expression must be a string.
    /// let errors = checker.check_template("port ${schema.spec.port}").unwrap_err();
    /// assert_eq!(
    ///     errors.errors[0].problem,
    ///     TemplateProblem::NotAString { found: CelType::Int }
    /// );
    /// # Ok::<(), kro_cel::TemplateCheckErrors>(())
    /// ```
    ///
    /// # Errors
    /// Every problem: a nested `${` (scanning stops there), an expression that does not
    /// type-check, and an expression of a string template that does not return a string.
    pub fn check_template(&self, template: &str) -> Result<Checked, TemplateCheckErrors> {
        let failed = |errors| TemplateCheckErrors {
            template: template.to_owned(),
            errors,
        };
        let segments = scan_detailed(template)
            .map_err(|nested| failed(vec![nested_error(template, &nested)]))?;
        let standalone = matches!(segments.as_slice(), [Segment::Expression { .. }]);
        let mut output = CelType::String;
        let mut warnings = Vec::new();
        let mut errors = Vec::new();
        for segment in &segments {
            let Segment::Expression { source, offset } = segment else {
                continue;
            };
            let located = |line: usize, column: usize, problem: TemplateProblem| {
                let at = offset + char_index(source, line, column);
                let (line, column) = position_at(template, at);
                TemplateCheckError {
                    expression: source.clone(),
                    expression_offset: *offset,
                    offset: at,
                    line,
                    column,
                    problem,
                }
            };
            match self.check(source) {
                Ok(checked) => {
                    warnings.extend(checked.warnings);
                    if standalone {
                        output = checked.output;
                    } else if !assignable(&checked.output, &CelType::String) {
                        let found = checked.output;
                        errors.push(located(1, 1, TemplateProblem::NotAString { found }));
                    }
                }
                Err(failure) => errors.extend(
                    failure
                        .errors
                        .into_iter()
                        .map(|e| located(e.line, e.column, TemplateProblem::Check(e.error))),
                ),
            }
        }
        if !errors.is_empty() {
            return Err(failed(errors));
        }
        warnings.sort();
        warnings.dedup();
        Ok(Checked { output, warnings })
    }
}

/// The error of a nested `${`, positioned at it.
fn nested_error(template: &str, nested: &NestedAt) -> TemplateCheckError {
    let offset = template[..nested.at].chars().count();
    let (line, column) = position_at(template, offset);
    TemplateCheckError {
        expression: template[nested.expression..nested.at].to_owned(),
        expression_offset: template[..nested.expression].chars().count(),
        offset,
        line,
        column,
        problem: TemplateProblem::Nested,
    }
}

/// The 0-based character offset within `source` of 1-based `line` and `column` (in characters);
/// a column past the end of its line is the end of the line, a line past the end is the end.
fn char_index(source: &str, line: usize, column: usize) -> usize {
    let mut chars = source.chars();
    let mut index = 0;
    let mut current = 1;
    while current < line {
        match chars.next() {
            Some(c) => {
                index += 1;
                if c == '\n' {
                    current += 1;
                }
            }
            None => return index,
        }
    }
    let line_length = chars.take_while(|c| *c != '\n').count();
    index + column.saturating_sub(1).min(line_length)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::check::TypeEnv;
    use crate::types::{FieldType, StructType};

    fn env() -> TypeEnv {
        let spec = StructType::new(
            "schema.spec",
            BTreeMap::from([
                ("host".to_owned(), FieldType::required(CelType::String)),
                ("port".to_owned(), FieldType::required(CelType::Int)),
                (
                    "tags".to_owned(),
                    FieldType::optional(CelType::list(CelType::String)),
                ),
                ("note".to_owned(), FieldType::optional(CelType::String)),
            ]),
        );
        let schema = StructType::new(
            "schema",
            BTreeMap::from([(
                "spec".to_owned(),
                FieldType::required(CelType::object(spec)),
            )]),
        );
        TypeEnv::new().with("schema", CelType::object(schema))
    }

    fn check(template: &str) -> Result<Checked, TemplateCheckErrors> {
        Checker::new(&env()).check_template(template)
    }

    fn errors(template: &str) -> Vec<TemplateCheckError> {
        check(template).expect_err("must be rejected").errors
    }

    /// The character offset of `needle` in `text`.
    fn at(text: &str, needle: &str) -> usize {
        text[..text.find(needle).expect("needle")].chars().count()
    }

    #[test]
    fn a_standalone_expression_keeps_its_type_and_anything_else_is_a_string() {
        assert_eq!(
            check("${schema.spec.port}").expect("ok").output,
            CelType::Int
        );
        assert_eq!(
            check("${schema.spec.tags}").expect("ok").output,
            CelType::list(CelType::String)
        );
        assert_eq!(
            check("https://${schema.spec.host}:${string(schema.spec.port)}")
                .expect("ok")
                .output,
            CelType::String
        );
        // Text around one expression makes a string template, even a trailing newline.
        assert_eq!(
            check("${schema.spec.host}\n").expect("ok").output,
            CelType::String
        );
        assert_eq!(check("just text").expect("ok").output, CelType::String);
        assert_eq!(check("").expect("ok").output, CelType::String);
        // An unterminated `${` is text.
        assert_eq!(check("a ${b").expect("ok").output, CelType::String);
    }

    #[test]
    fn a_standalone_expression_may_have_any_type_a_string_template_only_strings() {
        let error = &errors("${schema.spec.host}-${schema.spec.port}")[0];
        assert_eq!(error.expression, "schema.spec.port");
        assert_eq!(
            error.problem,
            TemplateProblem::NotAString {
                found: CelType::Int
            }
        );
        // Positioned at the expression's first character.
        assert_eq!((error.offset, error.line, error.column), (22, 1, 23));
        assert_eq!(error.expression_offset, 22);
        assert_eq!(
            error.to_string(),
            "expression `schema.spec.port` at line 1, column 23: returns type \"int\" but every \
             expression of a string template must return a string (convert with string() or \
             format())"
        );
        // `dyn` may be a string at run time.
        assert!(check("n-${dyn(schema.spec.port)}").is_ok());
    }

    #[test]
    fn an_error_in_the_second_expression_points_into_the_template() {
        let template = "https://${schema.spec.host}:${string(schema.spec.prot)}";
        let errors = errors(template);
        assert_eq!(errors.len(), 1, "{errors:?}");
        let error = &errors[0];
        assert_eq!(error.expression, "string(schema.spec.prot)");
        assert_eq!(error.expression_offset, 30);
        // The checker points at the `.` that selects `prot`: column 19 of the expression, 49 of
        // the template.
        let inner = Checker::new(&env())
            .check("string(schema.spec.prot)")
            .expect_err("unknown field");
        assert_eq!((inner.errors[0].line, inner.errors[0].column), (1, 19));
        assert_eq!((error.offset, error.line, error.column), (48, 1, 49));
        assert_eq!(error.offset, at(template, ".prot"));
        assert!(
            matches!(&error.problem, TemplateProblem::Check(CheckError::UnknownField { field, .. }) if field == "prot"),
            "{:?}",
            error.problem
        );
        assert_eq!(
            error.to_string(),
            "expression `string(schema.spec.prot)` at line 1, column 49: type \"schema.spec\" has no \
             field \"prot\" (did you mean \"port\"?)"
        );
    }

    #[test]
    fn positions_count_lines_and_columns_of_the_template() {
        // The second expression starts on line 2 and fails on its own second line, the
        // template's third: `  schema.spec.prt)}`, whose `.` before `prt` is column 14.
        let template = "host: ${schema.spec.host}\nport: ${string(\n  schema.spec.prt)}\n";
        let error = &errors(template)[0];
        assert_eq!(error.expression, "string(\n  schema.spec.prt)");
        assert_eq!(error.expression_offset, at(template, "string("));
        assert_eq!((error.line, error.column), (3, 14));
        assert_eq!(error.offset, at(template, ".prt"));

        // An expression that starts in the middle of line 2 and fails on its first line.
        let template = "a\nb ${schema.spec.nope}";
        let error = &errors(template)[0];
        assert_eq!((error.offset, error.line, error.column), (17, 2, 16));
        assert_eq!(error.offset, at(template, ".nope"));

        // The end of an expression cut short, on the template's line of the closing `}`.
        let template = "x ${schema.spec.host +\n}";
        let error = &errors(template)[0];
        assert!(matches!(
            error.problem,
            TemplateProblem::Check(CheckError::Syntax { .. })
        ));
        assert_eq!((error.offset, error.line, error.column), (23, 2, 1));
    }

    #[test]
    fn syntax_errors_and_non_ascii_text_are_positioned_in_characters() {
        // `é` is two bytes but one character: the first `(` is character 16, column 17.
        let template = "é ${schema.spec.((}";
        let error = &errors(template)[0];
        assert!(matches!(
            error.problem,
            TemplateProblem::Check(CheckError::Syntax { .. })
        ));
        assert_eq!(error.expression_offset, 4);
        assert_eq!((error.offset, error.line, error.column), (16, 1, 17));

        let error = &errors("x ${}")[0];
        assert_eq!(error.expression, "");
        assert_eq!((error.offset, error.line, error.column), (4, 1, 5));
    }

    #[test]
    fn every_expressions_errors_are_reported_in_template_order() {
        let template = "${schema.spec.a}-${schema.spec.port}-${schema.spec.b}";
        let errors = errors(template);
        let expressions: Vec<&str> = errors.iter().map(|e| e.expression.as_str()).collect();
        assert_eq!(
            expressions,
            ["schema.spec.a", "schema.spec.port", "schema.spec.b"]
        );
        assert!(
            errors
                .windows(2)
                .all(|pair| pair[0].offset < pair[1].offset)
        );
        let all = check(template).expect_err("rejected");
        assert!(
            all.to_string().starts_with(&format!(
                "invalid template `{template}`: expression `schema.spec.a` at line 1, column "
            )),
            "{all}"
        );
    }

    #[test]
    fn a_nested_expression_is_reported_at_its_dollar() {
        let template = "x\n${schema.spec.host + ${schema.spec.host}}";
        let error = &errors(template)[0];
        assert_eq!(error.problem, TemplateProblem::Nested);
        assert_eq!(error.expression, "schema.spec.host + ");
        assert_eq!(error.expression_offset, 4);
        assert_eq!((error.offset, error.line, error.column), (23, 2, 22));
        // Inside a string literal, `${` is text.
        assert!(check(r#"${"${" + schema.spec.host}"#).is_ok());
    }

    #[test]
    fn warnings_of_every_expression_are_kept() {
        let checked = check("${schema.spec.note}/${schema.spec.note}-${schema.spec.host}")
            .expect("optional reads type-check");
        assert_eq!(checked.warnings.len(), 1, "{:?}", checked.warnings);
        assert_eq!(checked.warnings[0].field_path, "schema.spec.note");
    }

    #[test]
    fn char_index_clamps_to_the_line_and_the_source() {
        assert_eq!(char_index("ab\ncd", 1, 1), 0);
        assert_eq!(char_index("ab\ncd", 1, 9), 2);
        assert_eq!(char_index("ab\ncd", 2, 2), 4);
        assert_eq!(char_index("ab\ncd", 7, 1), 5);
    }
}
