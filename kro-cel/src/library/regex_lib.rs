//! The Kubernetes regex library: `find` and `findAll`, RE2 syntax via the `regex` crate.

use super::{Overload, value_fns};
use cel::ExecutionError;
use cel::common::types::{INT_TYPE, STRING_TYPE};
use cel::objects::Value;
use regex::Regex;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

/// Compiled patterns kept per thread, so an expression evaluated many times compiles its regex
/// once. Bounded: cleared when full.
const CACHE_LIMIT: usize = 128;

thread_local! {
    static CACHE: RefCell<HashMap<String, Regex>> = RefCell::new(HashMap::new());
}

fn compiled(pattern: &str, function: &str) -> Result<Regex, ExecutionError> {
    CACHE.with(|cache| {
        if let Some(re) = cache.borrow().get(pattern) {
            return Ok(re.clone());
        }
        let re = Regex::new(pattern).map_err(|e| {
            ExecutionError::function_error(function, format!("invalid regex {pattern:?}: {e}"))
        })?;
        let mut cache = cache.borrow_mut();
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(pattern.to_owned(), re.clone());
        Ok(re)
    })
}

value_fns! {
    find_fn => find,
    find_all_fn => find_all,
    find_all_n_fn => find_all,
}

pub(crate) static OVERLOADS: &[Overload] = &[
    Overload {
        name: "find",
        id: "string.find(string)",
        receiver: true,
        args: &[STRING_TYPE, STRING_TYPE],
        func: find_fn,
    },
    Overload {
        name: "findAll",
        id: "string.findAll(string)",
        receiver: true,
        args: &[STRING_TYPE, STRING_TYPE],
        func: find_all_fn,
    },
    Overload {
        name: "findAll",
        id: "string.findAll(string,int)",
        receiver: true,
        args: &[STRING_TYPE, STRING_TYPE, INT_TYPE],
        func: find_all_n_fn,
    },
];

fn strings<'a>(args: &'a [Value], function: &str) -> Result<(&'a str, &'a str), ExecutionError> {
    match (args.first(), args.get(1)) {
        (Some(Value::String(s)), Some(Value::String(p))) => Ok((s.as_str(), p.as_str())),
        _ => Err(ExecutionError::function_error(
            function,
            "expected string arguments",
        )),
    }
}

/// The first match, or `""` when there is none.
fn find(args: &[Value]) -> Result<Value, ExecutionError> {
    let (subject, pattern) = strings(args, "find")?;
    let re = compiled(pattern, "find")?;
    Ok(Value::String(Arc::new(
        re.find(subject)
            .map_or(String::new(), |m| m.as_str().to_owned()),
    )))
}

/// Every match, or at most `n` of them when `n` is given and not negative.
fn find_all(args: &[Value]) -> Result<Value, ExecutionError> {
    let (subject, pattern) = strings(args, "findAll")?;
    let limit = match args.get(2) {
        Some(Value::Int(n)) if *n >= 0 => Some(*n as usize),
        _ => None,
    };
    let re = compiled(pattern, "findAll")?;
    let matches = re
        .find_iter(subject)
        .take(limit.unwrap_or(usize::MAX))
        .map(|m| Value::String(Arc::new(m.as_str().to_owned())))
        .collect();
    Ok(Value::List(Arc::new(matches)))
}
