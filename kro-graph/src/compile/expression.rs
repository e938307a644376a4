//! Type checking of template slots and standalone conditions.

use std::collections::BTreeSet;

use kro_api::ErrorChain;
use kro_cel::{
    CelType, Checked, Checker, Program, Segment, Template, TypeEnv, assignable, check_assignable,
};

use super::{Compilation, join_path, omit_not_allowed};
use crate::error::ProblemKind;
use crate::graph::{CompiledExpression, ExpressionSlot};
use crate::template::RawSlot;
use crate::warning::Warning;

impl Compilation<'_> {
    /// Type-checks and compiles one template string holding `${}`.
    pub(super) fn slot(
        &mut self,
        id: &str,
        section: &str,
        raw: &RawSlot,
        expected: &CelType,
        env: &TypeEnv,
    ) -> Option<ExpressionSlot> {
        let checker = Checker::new(env);
        let field = raw.path.to_string();
        let problem_path = join_path(section, &raw.path);
        let mut fits = true;
        for expression in raw.expressions() {
            fits &= self.expression_fits(id, &problem_path, expression);
        }
        if !fits {
            return None;
        }
        // Compiling first lets the checker type the parsed programs instead of parsing again;
        // when compilation fails the checker's own diagnosis of the text comes first.
        let compiled = Template::compile(&self.environment, &raw.source);
        let programs = compiled
            .as_ref()
            .map(Template::programs)
            .unwrap_or_default();
        let check = |index: usize, source: &str| match programs.get(index) {
            Some(program) => checker.check_program(program),
            None => checker.check(source),
        };
        let output = if raw.is_standalone() {
            let source = raw.expressions().next().unwrap_or_default();
            let checked = match check(0, source) {
                Ok(checked) => checked,
                Err(errors) => {
                    self.expression_problem(id, &problem_path, errors.to_string());
                    return None;
                }
            };
            if let Err(mismatch) = check_assignable(id, &field, source, &checked.output, expected) {
                self.expression_problem(id, &problem_path, mismatch.to_string());
                return None;
            }
            self.record_warnings(id, &problem_path, &checked);
            checked.output
        } else {
            let mut ok = true;
            for (index, source) in raw.expressions().enumerate() {
                match check(index, source) {
                    Ok(checked) => {
                        self.record_warnings(id, &problem_path, &checked);
                        if let Err(mismatch) =
                            check_assignable(id, &field, source, &checked.output, &CelType::String)
                        {
                            self.expression_problem(id, &problem_path, mismatch.to_string());
                            ok = false;
                        }
                    }
                    Err(errors) => {
                        self.expression_problem(id, &problem_path, errors.to_string());
                        ok = false;
                    }
                }
            }
            if let Err(mismatch) =
                check_assignable(id, &field, &raw.source, &CelType::String, expected)
            {
                self.expression_problem(id, &problem_path, mismatch.to_string());
                ok = false;
            }
            if !ok {
                return None;
            }
            CelType::String
        };
        let template = match compiled {
            Ok(template) => template,
            Err(error) => {
                let message = ErrorChain::new(&error).to_string();
                self.expression_problem(id, &problem_path, message);
                return None;
            }
        };
        let dependencies = self.resource_roots(template.references().into_iter().map(|r| r.root));
        Some(ExpressionSlot {
            path: raw.path.clone(),
            template,
            output,
            dependencies,
        })
    }

    fn expression_problem(&mut self, id: &str, path: &str, message: String) {
        self.problem(id, path, ProblemKind::Expression { message });
    }

    /// Resource ids among `roots`, sorted.
    fn resource_roots(&self, roots: impl Iterator<Item = String>) -> Vec<String> {
        let ids: BTreeSet<String> = roots.filter(|root| self.ids.contains_key(root)).collect();
        ids.into_iter().collect()
    }

    /// A standalone `${}` condition (includeWhen, forEach, readyWhen, status condition),
    /// checked against `env`; its output must fit `expected` when given.
    pub(super) fn condition(
        &mut self,
        id: &str,
        path: &str,
        source: &str,
        env: &TypeEnv,
        expected: Option<&CelType>,
    ) -> Option<CompiledExpression> {
        let expression = match kro_cel::scan(source).as_deref() {
            Ok([Segment::Expression { source, .. }]) => source.clone(),
            _ => {
                self.invalid(
                    id,
                    path,
                    format!("only standalone expressions are allowed, found \"{source}\""),
                );
                return None;
            }
        };
        if !self.expression_fits(id, path, &expression) {
            return None;
        }
        let program = self.environment.compile(&expression);
        self.checked_condition(id, path, &expression, program, env, expected)
    }

    /// Type-checks a condition's compiled program (or, when compilation failed, its text, so the
    /// checker's diagnosis comes first) and pairs it with its output type and dependencies.
    fn checked_condition(
        &mut self,
        id: &str,
        path: &str,
        expression: &str,
        program: Result<Program, kro_cel::CompileError>,
        env: &TypeEnv,
        expected: Option<&CelType>,
    ) -> Option<CompiledExpression> {
        let checker = Checker::new(env);
        let checked = match &program {
            Ok(program) => checker.check_program(program),
            Err(_) => checker.check(expression),
        };
        let checked = match checked {
            Ok(checked) => checked,
            Err(errors) => {
                self.expression_problem(id, path, errors.to_string());
                return None;
            }
        };
        if let Some(expected) = expected
            && !assignable(&checked.output, expected)
        {
            self.expression_problem(
                id,
                path,
                format!(
                    "expression \"{expression}\" returns type \"{}\" but expected \"{expected}\"",
                    checked.output
                ),
            );
            return None;
        }
        self.record_warnings(id, path, &checked);
        let program = match program {
            Ok(program) => program,
            Err(error) => {
                self.expression_problem(id, path, error.to_string());
                return None;
            }
        };
        if program.calls_omit() {
            let place = if path.starts_with("schema.status") {
                "status"
            } else {
                path.split(['[', '.']).next().unwrap_or(path)
            };
            self.invalid(id, path, omit_not_allowed(place, expression));
            return None;
        }
        let dependencies = self.resource_roots(program.references().into_iter().map(|r| r.root));
        Some(CompiledExpression {
            program,
            output: checked.output,
            dependencies,
        })
    }

    /// Keeps the checker's warnings about reads of the instance (`schema.*`): other resources'
    /// fields appear as the cluster converges, but an instance field the user never sets keeps
    /// the resource waiting forever.
    fn record_warnings(&mut self, id: &str, path: &str, checked: &Checked) {
        for warning in &checked.warnings {
            let field = warning.field_path.as_str();
            if field != "schema" && !field.starts_with("schema.") {
                continue;
            }
            let message = warning.to_string();
            let warning = if id.is_empty() {
                Warning::spec(path, message)
            } else {
                Warning::resource(id, path, message)
            };
            if !self.warnings.contains(&warning) {
                self.warnings.push(warning);
            }
        }
    }

    pub(super) fn ready_condition(
        &mut self,
        id: &str,
        path: &str,
        source: &str,
        env: &TypeEnv,
        self_name: &str,
    ) -> Option<CompiledExpression> {
        let segments = kro_cel::scan(source);
        let Ok(
            [
                Segment::Expression {
                    source: expression, ..
                },
            ],
        ) = segments.as_deref()
        else {
            // Reported by `condition`, which rejects anything but one standalone expression.
            return self.condition(id, path, source, env, Some(&CelType::Bool));
        };
        if !self.expression_fits(id, path, expression) {
            return None;
        }
        let program = self.environment.compile(expression);
        if let Ok(program) = &program {
            let foreign: BTreeSet<String> = program
                .references()
                .into_iter()
                .map(|r| r.root)
                .filter(|root| root != self_name)
                .collect();
            if let Some(other) = foreign.into_iter().next() {
                self.invalid(
                    id,
                    path,
                    format!(
                        "readyWhen expressions may only reference the resource itself (\"{self_name}\"), found \"{other}\""
                    ),
                );
                return None;
            }
        }
        self.checked_condition(id, path, expression, program, env, Some(&CelType::Bool))
    }
}
