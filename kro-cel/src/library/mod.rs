//! The function libraries of kro's CEL environment, on top of the `cel` crate's standard library
//! and its strings, lists and encoders extensions.
//!
//! Every library function is a plain `fn(&[Value]) -> Result<Value, ExecutionError>`; the
//! [`value_fns!`] macro adapts it to the `cel` crate's overload signature, and the `OVERLOADS`
//! tables declare name, receiver style and argument types.

pub(crate) mod budget;
pub(crate) mod comprehension;
pub(crate) mod cost;
pub(crate) mod k8s_lists;
pub(crate) mod kro;
pub(crate) mod net;
pub(crate) mod omit;
pub(crate) mod optionals;
pub(crate) mod quantity;
pub(crate) mod regex_lib;
pub(crate) mod semver;
pub(crate) mod url;

use cel::common::functions::Function;
use cel::common::types::Type;
use cel::common::value::{CowVal, Val};
use cel::objects::Value;
use cel::{DeclarationError, Env, ExecutionError};
use std::sync::{Arc, LazyLock};

/// A library function working on whole [`Value`]s.
pub(crate) type ValueFn = fn(&[Value]) -> Result<Value, ExecutionError>;

/// Adapts value functions to the `cel` crate's borrowed-value overload signature.
macro_rules! value_fns {
    ($($wrapper:ident => $body:path),* $(,)?) => {$(
        fn $wrapper<'b, 'v>(
            args: Vec<cel::common::value::CowVal<'b, 'v>>,
        ) -> Result<cel::common::value::CowVal<'b, 'v>, cel::ExecutionError> {
            $crate::library::call_with_values(&args, $body)
        }
    )*};
}
pub(crate) use value_fns;

/// As [`value_fns!`], for functions whose result may be larger than their arguments taken one
/// by one (merges, insertions, parsing): the result is charged to the budget.
macro_rules! charged_value_fns {
    ($($wrapper:ident => $body:path as $name:literal),* $(,)?) => {$(
        fn $wrapper<'b, 'v>(
            args: Vec<cel::common::value::CowVal<'b, 'v>>,
        ) -> Result<cel::common::value::CowVal<'b, 'v>, cel::ExecutionError> {
            $crate::library::call_charging_result(&args, $body, $name)
        }
    )*};
}
pub(crate) use charged_value_fns;

pub(crate) fn call_with_values<'b, 'v>(
    args: &[CowVal<'b, 'v>],
    body: ValueFn,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let values = args
        .iter()
        .map(|arg| Value::try_from(arg.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    let result = body(&values)?;
    let boxed: Box<dyn Val> = Box::<dyn Val>::try_from(result)?;
    Ok(CowVal::Owned(boxed))
}

pub(crate) fn call_charging_result<'b, 'v>(
    args: &[CowVal<'b, 'v>],
    body: ValueFn,
    name: &str,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let result = call_with_values(args, body)?;
    if let Some(cap) = budget::remaining() {
        budget::charge_size(cost::weight(result.as_ref(), cap), name)?;
    }
    Ok(result)
}

/// One overload: for a receiver-style function the first argument type is the receiver's.
pub(crate) struct Overload {
    pub(crate) name: &'static str,
    pub(crate) id: &'static str,
    pub(crate) receiver: bool,
    pub(crate) args: &'static [Type],
    pub(crate) func: Function,
}

/// Where a function comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Library {
    /// CEL's standard library (operators, conversions, `size`, `matches`, time accessors, ...).
    Standard,
    /// CEL macros and their extensions (`has`, `all`, `map`, `cel.bind`, two-variable
    /// comprehensions, `sortBy`).
    Macro,
    /// The optional types library (`optional.of`, `orValue`, ...).
    Optional,
    /// cel-go's strings extension.
    Strings,
    /// cel-go's lists extension.
    Lists,
    /// cel-go's encoders extension.
    Encoders,
    /// kro's own libraries (hash, json, random, maps, lists, omit, runtime).
    Kro,
    /// The Kubernetes API server's libraries (lists, regex, url, quantity, ip, cidr, semver).
    Kubernetes,
    /// Helpers the macros expand to; their names start with `@` so users cannot call them.
    Internal,
}

/// A function or overload the environment registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FunctionSignature {
    /// The name as written in CEL, qualified for namespaced functions (`hash.sha256`).
    pub name: &'static str,
    /// True when called on a receiver: `x.name(args)`.
    pub receiver: bool,
    /// Number of arguments, not counting the receiver.
    pub arity: usize,
    /// The argument types by name (receiver first for receiver-style), `dyn` for any.
    pub arg_types: &'static [&'static str],
    /// The library that provides it.
    pub library: Library,
}

const fn sig(
    name: &'static str,
    receiver: bool,
    arg_types: &'static [&'static str],
    library: Library,
) -> FunctionSignature {
    let arity = if receiver {
        arg_types.len() - 1
    } else {
        arg_types.len()
    };
    FunctionSignature {
        name,
        receiver,
        arity,
        arg_types,
        library,
    }
}

/// The functions and macros of the `cel` crate kro's environment enables (standard library,
/// optionals, strings, lists, encoders). The kro and Kubernetes libraries are listed from the
/// tables they are registered from.
const CEL_FUNCTIONS: &[FunctionSignature] = {
    use Library::*;
    &[
        sig("size", false, &["dyn"], Standard),
        sig("size", true, &["dyn"], Standard),
        sig("contains", true, &["string", "string"], Standard),
        sig("startsWith", true, &["string", "string"], Standard),
        sig("endsWith", true, &["string", "string"], Standard),
        sig("matches", true, &["string", "string"], Standard),
        sig("matches", false, &["string", "string"], Standard),
        sig("int", false, &["dyn"], Standard),
        sig("uint", false, &["dyn"], Standard),
        sig("double", false, &["dyn"], Standard),
        sig("string", false, &["dyn"], Standard),
        sig("bytes", false, &["dyn"], Standard),
        sig("bool", false, &["dyn"], Standard),
        sig("dyn", false, &["dyn"], Standard),
        sig("type", false, &["dyn"], Standard),
        sig("duration", false, &["string"], Standard),
        sig("timestamp", false, &["string"], Standard),
        sig("getFullYear", true, &["timestamp"], Standard),
        sig("getMonth", true, &["timestamp"], Standard),
        sig("getDate", true, &["timestamp"], Standard),
        sig("getDayOfMonth", true, &["timestamp"], Standard),
        sig("getDayOfWeek", true, &["timestamp"], Standard),
        sig("getDayOfYear", true, &["timestamp"], Standard),
        sig("getHours", true, &["dyn"], Standard),
        sig("getMinutes", true, &["dyn"], Standard),
        sig("getSeconds", true, &["dyn"], Standard),
        sig("getMilliseconds", true, &["dyn"], Standard),
        // The same accessors in a time zone (an IANA name or a UTC offset).
        sig("getFullYear", true, &["timestamp", "string"], Standard),
        sig("getMonth", true, &["timestamp", "string"], Standard),
        sig("getDate", true, &["timestamp", "string"], Standard),
        sig("getDayOfMonth", true, &["timestamp", "string"], Standard),
        sig("getDayOfWeek", true, &["timestamp", "string"], Standard),
        sig("getDayOfYear", true, &["timestamp", "string"], Standard),
        sig("getHours", true, &["timestamp", "string"], Standard),
        sig("getMinutes", true, &["timestamp", "string"], Standard),
        sig("getSeconds", true, &["timestamp", "string"], Standard),
        sig("getMilliseconds", true, &["timestamp", "string"], Standard),
        sig("has", false, &["dyn"], Macro),
        sig("all", true, &["dyn", "ident", "bool"], Macro),
        sig("exists", true, &["dyn", "ident", "bool"], Macro),
        sig("exists_one", true, &["dyn", "ident", "bool"], Macro),
        sig("map", true, &["dyn", "ident", "dyn"], Macro),
        sig("map", true, &["dyn", "ident", "bool", "dyn"], Macro),
        sig("filter", true, &["dyn", "ident", "bool"], Macro),
        sig("all", true, &["dyn", "ident", "ident", "bool"], Macro),
        sig("exists", true, &["dyn", "ident", "ident", "bool"], Macro),
        sig("existsOne", true, &["dyn", "ident", "ident", "bool"], Macro),
        sig(
            "transformList",
            true,
            &["dyn", "ident", "ident", "dyn"],
            Macro,
        ),
        sig(
            "transformList",
            true,
            &["dyn", "ident", "ident", "bool", "dyn"],
            Macro,
        ),
        sig(
            "transformMap",
            true,
            &["dyn", "ident", "ident", "dyn"],
            Macro,
        ),
        sig(
            "transformMap",
            true,
            &["dyn", "ident", "ident", "bool", "dyn"],
            Macro,
        ),
        sig(
            "transformMapEntry",
            true,
            &["dyn", "ident", "ident", "map"],
            Macro,
        ),
        sig(
            "transformMapEntry",
            true,
            &["dyn", "ident", "ident", "bool", "map"],
            Macro,
        ),
        sig("cel.bind", false, &["ident", "dyn", "dyn"], Macro),
        sig("sortBy", true, &["list", "ident", "dyn"], Macro),
        sig("runtime.newCondition", false, &["map"], Macro),
        sig("optional.of", false, &["dyn"], Optional),
        sig("optional.ofNonZeroValue", false, &["dyn"], Optional),
        sig("optional.none", false, &[], Optional),
        sig("hasValue", true, &["optional"], Optional),
        sig("value", true, &["optional"], Optional),
        sig("orValue", true, &["optional", "dyn"], Optional),
        sig("or", true, &["optional", "optional"], Optional),
        sig("optMap", true, &["optional", "ident", "dyn"], Optional),
        sig(
            "optFlatMap",
            true,
            &["optional", "ident", "optional"],
            Optional,
        ),
        sig("charAt", true, &["string", "int"], Strings),
        sig("indexOf", true, &["string", "string"], Strings),
        sig("indexOf", true, &["string", "string", "int"], Strings),
        sig("lastIndexOf", true, &["string", "string"], Strings),
        sig("lastIndexOf", true, &["string", "string", "int"], Strings),
        sig("lowerAscii", true, &["string"], Strings),
        sig("upperAscii", true, &["string"], Strings),
        sig("replace", true, &["string", "string", "string"], Strings),
        sig(
            "replace",
            true,
            &["string", "string", "string", "int"],
            Strings,
        ),
        sig("split", true, &["string", "string"], Strings),
        sig("split", true, &["string", "string", "int"], Strings),
        sig("substring", true, &["string", "int"], Strings),
        sig("substring", true, &["string", "int", "int"], Strings),
        sig("trim", true, &["string"], Strings),
        sig("reverse", true, &["string"], Strings),
        sig("join", true, &["list"], Strings),
        sig("join", true, &["list", "string"], Strings),
        sig("format", true, &["string", "list"], Strings),
        sig("strings.quote", false, &["string"], Strings),
        sig("slice", true, &["list", "int", "int"], Lists),
        sig("flatten", true, &["list"], Lists),
        sig("flatten", true, &["list", "int"], Lists),
        sig("distinct", true, &["list"], Lists),
        sig("reverse", true, &["list"], Lists),
        sig("sort", true, &["list"], Lists),
        sig("lists.range", false, &["int"], Lists),
        sig("@sortByAssociatedKeys", true, &["list", "list"], Internal),
        sig("base64.encode", false, &["bytes"], Encoders),
        sig("base64.decode", false, &["string"], Encoders),
    ]
};

/// The overload tables of kro's own and the Kubernetes libraries, and the internal helpers.
fn overload_tables() -> [(&'static [Overload], Library); 11] {
    [
        (optionals::OVERLOADS, Library::Optional),
        (kro::OVERLOADS, Library::Kro),
        (omit::OVERLOADS, Library::Kro),
        (k8s_lists::OVERLOADS, Library::Kubernetes),
        (regex_lib::OVERLOADS, Library::Kubernetes),
        (url::OVERLOADS, Library::Kubernetes),
        (quantity::OVERLOADS, Library::Kubernetes),
        (net::OVERLOADS, Library::Kubernetes),
        (semver::OVERLOADS, Library::Kubernetes),
        (comprehension::OVERLOADS, Library::Internal),
        (cost::OVERLOADS, Library::Internal),
    ]
}

fn type_name(t: &'static Type) -> &'static str {
    t.name()
}

/// Every function and overload kro's environment registers: name, receiver style, arity and
/// argument types. The type checker declares a signature for each.
pub static FUNCTIONS: LazyLock<Vec<FunctionSignature>> = LazyLock::new(|| {
    let mut all: Vec<FunctionSignature> = CEL_FUNCTIONS.to_vec();
    for (table, library) in overload_tables() {
        for overload in table {
            let args: Vec<&'static str> = overload.args.iter().map(type_name).collect();
            let args: &'static [&'static str] = Box::leak(args.into_boxed_slice());
            let library = if overload.name.starts_with('@') {
                Library::Internal
            } else {
                library
            };
            all.push(sig(overload.name, overload.receiver, args, library));
        }
    }
    all
});

fn register(env: &mut Env, table: &[Overload]) -> Result<(), DeclarationError> {
    for overload in table {
        if overload.receiver {
            let (target, rest) = overload
                .args
                .split_first()
                .ok_or_else(|| DeclarationError::duplicate_overload(overload.name, overload.id))?;
            env.add_member_overload(
                overload.name,
                overload.id,
                target.to_owned(),
                rest.iter().map(ToOwned::to_owned).collect(),
                overload.func,
            )?;
        } else {
            env.add_overload(
                overload.name,
                overload.id,
                overload.args.iter().map(ToOwned::to_owned).collect(),
                overload.func,
            )?;
        }
    }
    Ok(())
}

/// Builds kro's full environment. Feature gates (such as `omit()`) are enforced statically when
/// compiling, so one environment serves every configuration.
fn build_environment() -> Result<Env, DeclarationError> {
    let mut env = Env::stdlib();
    env.set_error_on_duplicate_map_keys(false);
    env.add_extension(cel::extensions::strings)?;
    env.add_extension(cel::extensions::lists)?;
    env.add_extension(cel::extensions::encoders)?;
    for (table, _) in overload_tables() {
        register(&mut env, table)?;
    }
    comprehension::add_macros(&mut env)?;
    kro::add_macros(&mut env)?;
    Ok(env)
}

/// The shared environment: built once per process.
pub(crate) static ENVIRONMENT: LazyLock<Result<Arc<Env>, DeclarationError>> =
    LazyLock::new(|| build_environment().map(Arc::new));
