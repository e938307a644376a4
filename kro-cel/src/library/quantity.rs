//! The Kubernetes quantity library: `quantity()`, `isQuantity()` and the arithmetic and
//! comparison methods, over exact decimal values (`mantissa × 10^exponent`).

use super::{Overload, value_fns};
use cel::ExecutionError;
use cel::common::types::{INT_TYPE, Kind, STRING_TYPE, Type};
use cel::objects::{Opaque, Value};
use std::cmp::Ordering;
use std::sync::Arc;

const QUANTITY_TYPE: Type = Type::simple_type(Kind::Opaque, "kubernetes.Quantity");
/// More digits than this cannot be held exactly; Kubernetes itself rounds far earlier.
const MAX_DIGITS: usize = 30;

/// An exact quantity: `mantissa × 10^exponent`, normalized so the mantissa has no trailing zero.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Quantity {
    mantissa: i128,
    exponent: i32,
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.cmp_value(other) == Ordering::Equal
    }
}

impl Eq for Quantity {}

impl Opaque for Quantity {
    fn runtime_type_name(&self) -> &str {
        "kubernetes.Quantity"
    }
}

impl Quantity {
    fn new(mantissa: i128, exponent: i32) -> Quantity {
        let (mut mantissa, mut exponent) = (mantissa, exponent);
        if mantissa == 0 {
            return Quantity {
                mantissa: 0,
                exponent: 0,
            };
        }
        while mantissa % 10 == 0 {
            mantissa /= 10;
            exponent += 1;
        }
        Quantity { mantissa, exponent }
    }

    /// Both mantissas at the smaller exponent, when that fits.
    fn aligned(&self, other: &Quantity) -> Option<(i128, i128, i32)> {
        let exponent = self.exponent.min(other.exponent);
        let scale = |q: &Quantity| {
            let shift = u32::try_from(q.exponent - exponent).ok()?;
            10i128
                .checked_pow(shift)
                .and_then(|p| q.mantissa.checked_mul(p))
        };
        Some((scale(self)?, scale(other)?, exponent))
    }

    fn approximate(&self) -> f64 {
        self.mantissa as f64 * 10f64.powi(self.exponent)
    }

    fn cmp_value(&self, other: &Quantity) -> Ordering {
        match self.aligned(other) {
            Some((a, b, _)) => a.cmp(&b),
            None => self.approximate().total_cmp(&other.approximate()),
        }
    }

    fn checked_add(&self, other: &Quantity) -> Option<Quantity> {
        let (a, b, exponent) = self.aligned(other)?;
        Some(Quantity::new(a.checked_add(b)?, exponent))
    }
}

/// Parses `<signed number><suffix>` where the suffix is a binary SI suffix (`Ki`…`Ei`), a decimal
/// SI suffix (`n`, `u`, `m`, `k`, `M`, `G`, `T`, `P`, `E`) or a decimal exponent (`e3`, `E-2`).
fn parse(input: &str) -> Result<Quantity, String> {
    let invalid = || {
        format!(
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {input:?}"
        )
    };
    let (negative, rest) = match input.as_bytes().first() {
        Some(b'-') => (true, &input[1..]),
        Some(b'+') => (false, &input[1..]),
        _ => (false, input),
    };
    let number_len = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_len);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return Err(invalid());
    }
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = format!("{whole}{fraction}");
    let digits = digits.trim_start_matches('0');
    if digits.len() > MAX_DIGITS {
        return Err(format!("quantity {input:?} has too many digits"));
    }
    let mut mantissa: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().map_err(|_| invalid())?
    };
    let mut exponent = -(fraction.len() as i32);
    let (binary_power, decimal_exponent) = match suffix {
        "" => (0, 0),
        "Ki" => (10, 0),
        "Mi" => (20, 0),
        "Gi" => (30, 0),
        "Ti" => (40, 0),
        "Pi" => (50, 0),
        "Ei" => (60, 0),
        "n" => (0, -9),
        "u" => (0, -6),
        "m" => (0, -3),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        s if s.starts_with(['e', 'E']) => {
            let exp: i32 = s[1..].parse().map_err(|_| invalid())?;
            if !(-1000..=1000).contains(&exp) {
                return Err(invalid());
            }
            (0, exp)
        }
        _ => return Err(invalid()),
    };
    mantissa = mantissa
        .checked_mul(1i128 << binary_power)
        .ok_or_else(|| format!("quantity {input:?} is too large"))?;
    exponent += decimal_exponent;
    if negative {
        mantissa = -mantissa;
    }
    Ok(Quantity::new(mantissa, exponent))
}

fn fail(function: &str, message: impl ToString) -> ExecutionError {
    ExecutionError::function_error(function, message)
}

fn quantity_at(args: &[Value], index: usize, function: &str) -> Result<Quantity, ExecutionError> {
    match args.get(index) {
        Some(Value::Opaque(o)) => o
            .downcast_ref::<Quantity>()
            .copied()
            .ok_or_else(|| fail(function, "expected a quantity")),
        Some(Value::Int(i)) => Ok(Quantity::new(i128::from(*i), 0)),
        _ => Err(fail(function, "expected a quantity")),
    }
}

fn string_arg<'a>(args: &'a [Value], function: &str) -> Result<&'a str, ExecutionError> {
    match args.first() {
        Some(Value::String(s)) => Ok(s.as_str()),
        _ => Err(fail(function, "expected a string")),
    }
}

fn quantity(args: &[Value]) -> Result<Value, ExecutionError> {
    let q = parse(string_arg(args, "quantity")?).map_err(|e| fail("quantity", e))?;
    Ok(Value::Opaque(Arc::new(q)))
}

fn is_quantity(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Bool(parse(string_arg(args, "isQuantity")?).is_ok()))
}

fn add(args: &[Value]) -> Result<Value, ExecutionError> {
    let (a, b) = (quantity_at(args, 0, "add")?, quantity_at(args, 1, "add")?);
    let sum = a
        .checked_add(&b)
        .ok_or_else(|| fail("add", "quantity overflow"))?;
    Ok(Value::Opaque(Arc::new(sum)))
}

fn sub(args: &[Value]) -> Result<Value, ExecutionError> {
    let (a, b) = (quantity_at(args, 0, "sub")?, quantity_at(args, 1, "sub")?);
    let negated = Quantity::new(-b.mantissa, b.exponent);
    let difference = a
        .checked_add(&negated)
        .ok_or_else(|| fail("sub", "quantity overflow"))?;
    Ok(Value::Opaque(Arc::new(difference)))
}

fn compare(args: &[Value], function: &str) -> Result<Ordering, ExecutionError> {
    Ok(quantity_at(args, 0, function)?.cmp_value(&quantity_at(args, 1, function)?))
}

fn is_less_than(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Bool(compare(args, "isLessThan")? == Ordering::Less))
}

fn is_greater_than(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Bool(
        compare(args, "isGreaterThan")? == Ordering::Greater,
    ))
}

fn compare_to(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Int(compare(args, "compareTo")? as i64))
}

fn as_integer(args: &[Value]) -> Result<Value, ExecutionError> {
    let q = quantity_at(args, 0, "asInteger")?;
    let not_int = || fail("asInteger", "cannot convert value to integer");
    if q.exponent < 0 {
        return Err(not_int());
    }
    let scaled = 10i128
        .checked_pow(q.exponent as u32)
        .and_then(|p| q.mantissa.checked_mul(p))
        .ok_or_else(not_int)?;
    Ok(Value::Int(i64::try_from(scaled).map_err(|_| not_int())?))
}

fn as_approximate_float(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Float(
        quantity_at(args, 0, "asApproximateFloat")?.approximate(),
    ))
}

fn is_integer(args: &[Value]) -> Result<Value, ExecutionError> {
    let q = quantity_at(args, 0, "isInteger")?;
    Ok(Value::Bool(
        as_integer(&[Value::Opaque(Arc::new(q))]).is_ok(),
    ))
}

fn sign(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Int(
        quantity_at(args, 0, "sign")?.mantissa.signum() as i64
    ))
}

value_fns! {
    quantity_fn => quantity,
    is_quantity_fn => is_quantity,
    add_fn => add,
    sub_fn => sub,
    less_fn => is_less_than,
    greater_fn => is_greater_than,
    compare_fn => compare_to,
    as_integer_fn => as_integer,
    as_float_fn => as_approximate_float,
    is_integer_fn => is_integer,
    sign_fn => sign,
}

pub(crate) static OVERLOADS: &[Overload] = &[
    Overload {
        name: "quantity",
        id: "quantity(string)",
        receiver: false,
        args: &[STRING_TYPE],
        func: quantity_fn,
    },
    Overload {
        name: "isQuantity",
        id: "isQuantity(string)",
        receiver: false,
        args: &[STRING_TYPE],
        func: is_quantity_fn,
    },
    Overload {
        name: "add",
        id: "quantity.add(quantity)",
        receiver: true,
        args: &[QUANTITY_TYPE, QUANTITY_TYPE],
        func: add_fn,
    },
    Overload {
        name: "add",
        id: "quantity.add(int)",
        receiver: true,
        args: &[QUANTITY_TYPE, INT_TYPE],
        func: add_fn,
    },
    Overload {
        name: "sub",
        id: "quantity.sub(quantity)",
        receiver: true,
        args: &[QUANTITY_TYPE, QUANTITY_TYPE],
        func: sub_fn,
    },
    Overload {
        name: "sub",
        id: "quantity.sub(int)",
        receiver: true,
        args: &[QUANTITY_TYPE, INT_TYPE],
        func: sub_fn,
    },
    Overload {
        name: "isLessThan",
        id: "quantity.isLessThan(quantity)",
        receiver: true,
        args: &[QUANTITY_TYPE, QUANTITY_TYPE],
        func: less_fn,
    },
    Overload {
        name: "isGreaterThan",
        id: "quantity.isGreaterThan(quantity)",
        receiver: true,
        args: &[QUANTITY_TYPE, QUANTITY_TYPE],
        func: greater_fn,
    },
    Overload {
        name: "compareTo",
        id: "quantity.compareTo(quantity)",
        receiver: true,
        args: &[QUANTITY_TYPE, QUANTITY_TYPE],
        func: compare_fn,
    },
    Overload {
        name: "asInteger",
        id: "quantity.asInteger()",
        receiver: true,
        args: &[QUANTITY_TYPE],
        func: as_integer_fn,
    },
    Overload {
        name: "asApproximateFloat",
        id: "quantity.asApproximateFloat()",
        receiver: true,
        args: &[QUANTITY_TYPE],
        func: as_float_fn,
    },
    Overload {
        name: "isInteger",
        id: "quantity.isInteger()",
        receiver: true,
        args: &[QUANTITY_TYPE],
        func: is_integer_fn,
    },
    Overload {
        name: "sign",
        id: "quantity.sign()",
        receiver: true,
        args: &[QUANTITY_TYPE],
        func: sign_fn,
    },
];
