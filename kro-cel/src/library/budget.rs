//! The per-evaluation cost budget.
//!
//! The `cel` interpreter has no cost hook, so the budget is charged where kro-cel controls the
//! work: every comprehension's range passes through an internal helper that charges one unit per
//! element (nested comprehensions are charged each time they run, so the total bounds the
//! number of loop iterations) and checks the deadline; kro's own functions charge for the size
//! of what they build. The budget lives in a thread-local for the duration of one synchronous
//! evaluation.

use cel::ExecutionError;
use std::cell::Cell;
use std::time::Instant;

/// The internal function name budget errors are reported under, so that they can be classified.
pub(crate) const BUDGET_FUNCTION: &str = "@kro.budget";

/// Bytes of text an evaluation may build for one unit of cost (see `library::cost`).
pub(crate) const BYTES_PER_UNIT: u64 = 16;

#[derive(Clone, Copy)]
struct Budget {
    remaining: u64,
    deadline: Option<Instant>,
}

thread_local! {
    static CURRENT: Cell<Option<Budget>> = const { Cell::new(None) };
}

/// Installs a budget for the current thread until dropped, restoring the previous one.
pub(crate) struct BudgetGuard {
    previous: Option<Budget>,
}

impl BudgetGuard {
    pub(crate) fn install(units: u64, deadline: Option<Instant>) -> Self {
        let previous = CURRENT.with(|c| {
            c.replace(Some(Budget {
                remaining: units,
                deadline,
            }))
        });
        BudgetGuard { previous }
    }
}

impl Drop for BudgetGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

/// Charges `units` of work; fails once the budget or the deadline is exhausted. Without an
/// installed budget (a raw evaluation) nothing is limited.
pub(crate) fn charge(units: u64, what: &str) -> Result<(), ExecutionError> {
    debit(units, what, true)
}

/// Charges `units` for data an evaluation builds, without looking at the deadline: these
/// charges happen in plain expressions (`a + b`), which must not fail for running slowly on a
/// busy machine; loops and kro's functions still check it.
pub(crate) fn charge_size(units: u64, what: &str) -> Result<(), ExecutionError> {
    debit(units, what, false)
}

fn debit(units: u64, what: &str, check_deadline: bool) -> Result<(), ExecutionError> {
    CURRENT.with(|cell| {
        let Some(mut budget) = cell.get() else {
            return Ok(());
        };
        if check_deadline
            && let Some(deadline) = budget.deadline
            && Instant::now() > deadline
        {
            // The deadline is part of the budget: both stop an evaluation for doing too much.
            return Err(ExecutionError::function_error(
                BUDGET_FUNCTION,
                format!("evaluation cost budget exceeded: deadline passed (in {what})"),
            ));
        }
        if units > budget.remaining {
            budget.remaining = 0;
            cell.set(Some(budget));
            return Err(ExecutionError::function_error(
                BUDGET_FUNCTION,
                format!("evaluation cost budget exceeded (in {what})"),
            ));
        }
        budget.remaining -= units;
        cell.set(Some(budget));
        Ok(())
    })
}

/// The units left in the installed budget; `None` without one (nothing is limited).
pub(crate) fn remaining() -> Option<u64> {
    CURRENT.with(|cell| cell.get().map(|budget| budget.remaining))
}
