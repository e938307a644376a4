//! The Kubernetes semver library: `semver()`, `isSemver()`, the accessors and comparisons, with
//! Semantic Versioning 2.0 precedence. `normalize = true` accepts a leading `v`, missing minor or
//! patch numbers and leading zeros, as the API server does.

use super::{Overload, value_fns};
use cel::ExecutionError;
use cel::common::types::{BOOL_TYPE, Kind, STRING_TYPE, Type};
use cel::objects::{Opaque, Value};
use std::cmp::Ordering;
use std::sync::Arc;

const SEMVER_TYPE: Type = Type::simple_type(Kind::Opaque, "kubernetes.Semver");

/// A parsed semantic version. Build metadata is kept but ignored by comparisons.
#[derive(Debug, Clone)]
pub(crate) struct Semver {
    major: u64,
    minor: u64,
    patch: u64,
    pre: Vec<String>,
}

impl PartialEq for Semver {
    fn eq(&self, other: &Self) -> bool {
        self.precedence(other) == Ordering::Equal
    }
}

impl Eq for Semver {}

impl Opaque for Semver {
    fn runtime_type_name(&self) -> &str {
        "kubernetes.Semver"
    }
}

impl Semver {
    fn precedence(&self, other: &Semver) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_pre(&self.pre, &other.pre),
            })
    }
}

fn compare_pre(a: &[String], b: &[String]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let ordering = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            (Err(_), Err(_)) => x.cmp(y),
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    a.len().cmp(&b.len())
}

fn numeric(part: &str, normalize: bool, what: &str) -> Result<u64, String> {
    if part.is_empty() || !part.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("invalid {what} version {part:?}"));
    }
    if !normalize && part.len() > 1 && part.starts_with('0') {
        return Err(format!(
            "{what} version {part:?} must not contain leading zeroes"
        ));
    }
    part.parse()
        .map_err(|_| format!("{what} version {part:?} is too large"))
}

fn parse(input: &str, normalize: bool) -> Result<Semver, String> {
    let mut text = input;
    if normalize {
        text = text.strip_prefix('v').unwrap_or(text);
    }
    let (text, build) = match text.split_once('+') {
        Some((t, b)) => (t, Some(b)),
        None => (text, None),
    };
    let (core, pre) = match text.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (text, None),
    };
    let mut parts: Vec<&str> = core.split('.').collect();
    if normalize {
        while parts.len() < 3 {
            parts.push("0");
        }
    }
    let [major, minor, patch] = parts[..] else {
        return Err(format!(
            "{input:?} is not a semantic version: expected MAJOR.MINOR.PATCH"
        ));
    };
    let identifier_ok =
        |id: &str| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let pre: Vec<String> = match pre {
        Some(p) => {
            let ids: Vec<String> = p.split('.').map(str::to_owned).collect();
            for id in &ids {
                let numeric_with_zero =
                    id.len() > 1 && id.starts_with('0') && id.chars().all(|c| c.is_ascii_digit());
                if !identifier_ok(id) || numeric_with_zero {
                    return Err(format!("invalid prerelease identifier {id:?} in {input:?}"));
                }
            }
            ids
        }
        None => Vec::new(),
    };
    if let Some(build) = build
        && !build.split('.').all(identifier_ok)
    {
        return Err(format!("invalid build metadata in {input:?}"));
    }
    Ok(Semver {
        major: numeric(major, normalize, "major")?,
        minor: numeric(minor, normalize, "minor")?,
        patch: numeric(patch, normalize, "patch")?,
        pre,
    })
}

fn fail(function: &str, message: impl ToString) -> ExecutionError {
    ExecutionError::function_error(function, message)
}

fn text_and_normalize<'a>(
    args: &'a [Value],
    function: &str,
) -> Result<(&'a str, bool), ExecutionError> {
    let text = match args.first() {
        Some(Value::String(s)) => s.as_str(),
        _ => return Err(fail(function, "expected a string")),
    };
    let normalize = matches!(args.get(1), Some(Value::Bool(true)));
    Ok((text, normalize))
}

fn semver_at(args: &[Value], index: usize, function: &str) -> Result<Semver, ExecutionError> {
    match args.get(index) {
        Some(Value::Opaque(o)) => o
            .downcast_ref::<Semver>()
            .cloned()
            .ok_or_else(|| fail(function, "expected a semver")),
        _ => Err(fail(function, "expected a semver")),
    }
}

fn semver(args: &[Value]) -> Result<Value, ExecutionError> {
    let (text, normalize) = text_and_normalize(args, "semver")?;
    let version = parse(text, normalize).map_err(|e| fail("semver", e))?;
    Ok(Value::Opaque(Arc::new(version)))
}

fn is_semver(args: &[Value]) -> Result<Value, ExecutionError> {
    let (text, normalize) = text_and_normalize(args, "isSemver")?;
    Ok(Value::Bool(parse(text, normalize).is_ok()))
}

fn major(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Int(semver_at(args, 0, "major")?.major as i64))
}

fn minor(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Int(semver_at(args, 0, "minor")?.minor as i64))
}

fn patch(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Int(semver_at(args, 0, "patch")?.patch as i64))
}

fn compare(args: &[Value], function: &str) -> Result<Ordering, ExecutionError> {
    Ok(semver_at(args, 0, function)?.precedence(&semver_at(args, 1, function)?))
}

fn is_greater_than(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Bool(
        compare(args, "isGreaterThan")? == Ordering::Greater,
    ))
}

fn is_less_than(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Bool(compare(args, "isLessThan")? == Ordering::Less))
}

fn compare_to(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Int(compare(args, "compareTo")? as i64))
}

value_fns! {
    semver_fn => semver,
    is_semver_fn => is_semver,
    major_fn => major,
    minor_fn => minor,
    patch_fn => patch,
    greater_fn => is_greater_than,
    less_fn => is_less_than,
    compare_fn => compare_to,
}

pub(crate) static OVERLOADS: &[Overload] = &[
    Overload {
        name: "semver",
        id: "semver(string)",
        receiver: false,
        args: &[STRING_TYPE],
        func: semver_fn,
    },
    Overload {
        name: "semver",
        id: "semver(string,bool)",
        receiver: false,
        args: &[STRING_TYPE, BOOL_TYPE],
        func: semver_fn,
    },
    Overload {
        name: "isSemver",
        id: "isSemver(string)",
        receiver: false,
        args: &[STRING_TYPE],
        func: is_semver_fn,
    },
    Overload {
        name: "isSemver",
        id: "isSemver(string,bool)",
        receiver: false,
        args: &[STRING_TYPE, BOOL_TYPE],
        func: is_semver_fn,
    },
    Overload {
        name: "major",
        id: "semver.major()",
        receiver: true,
        args: &[SEMVER_TYPE],
        func: major_fn,
    },
    Overload {
        name: "minor",
        id: "semver.minor()",
        receiver: true,
        args: &[SEMVER_TYPE],
        func: minor_fn,
    },
    Overload {
        name: "patch",
        id: "semver.patch()",
        receiver: true,
        args: &[SEMVER_TYPE],
        func: patch_fn,
    },
    Overload {
        name: "isGreaterThan",
        id: "semver.isGreaterThan(semver)",
        receiver: true,
        args: &[SEMVER_TYPE, SEMVER_TYPE],
        func: greater_fn,
    },
    Overload {
        name: "isLessThan",
        id: "semver.isLessThan(semver)",
        receiver: true,
        args: &[SEMVER_TYPE, SEMVER_TYPE],
        func: less_fn,
    },
    Overload {
        name: "compareTo",
        id: "semver.compareTo(semver)",
        receiver: true,
        args: &[SEMVER_TYPE, SEMVER_TYPE],
        func: compare_fn,
    },
];
