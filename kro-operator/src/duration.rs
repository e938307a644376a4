//! Go-style duration strings (`200ms`, `3s`, `1m30s`, `1.5h`), the format upstream's flags use.
//!
//! Go's `time.ParseDuration` accepts a sequence of decimal numbers, each with an optional fraction
//! and a unit suffix. Negative durations are rejected here because every duration flag of the
//! operator is a timeout, interval or delay.

use std::time::Duration;

use thiserror::Error;

/// Why a duration string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DurationError {
    /// The string was empty.
    #[error("empty duration, expected a Go duration such as `3s`, `200ms` or `1m30s`")]
    Empty,
    /// A leading minus sign: durations of the operator cannot be negative.
    #[error("negative duration `{0}`, expected zero or more")]
    Negative(String),
    /// A number without a unit (other than the bare `0`).
    #[error("missing unit in duration `{0}`, expected one of ns, us, µs, ms, s, m, h")]
    MissingUnit(String),
    /// A unit that Go does not know.
    #[error("unknown unit `{unit}` in duration `{input}`, expected one of ns, us, µs, ms, s, m, h")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// The whole input.
        input: String,
    },
    /// A character where a number was expected.
    #[error("invalid duration `{0}`, expected digits followed by a unit, e.g. `1m30s`")]
    Invalid(String),
    /// The value does not fit a `Duration`.
    #[error("duration `{0}` is too large")]
    Overflow(String),
}

/// Parses a Go duration string into a [`Duration`].
///
/// # Errors
/// Returns a [`DurationError`] naming the input when it is empty, negative, has a missing or
/// unknown unit, or overflows.
pub fn parse_go_duration(input: &str) -> Result<Duration, DurationError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text.starts_with('-') {
        return Err(DurationError::Negative(input.to_owned()));
    }
    let text = text.strip_prefix('+').unwrap_or(text);
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text;
    let mut total_nanos: u128 = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(DurationError::Invalid(input.to_owned()));
        }
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        if unit.is_empty() {
            return Err(DurationError::MissingUnit(input.to_owned()));
        }
        let unit_nanos = unit_in_nanos(unit).ok_or_else(|| DurationError::UnknownUnit {
            unit: unit.to_owned(),
            input: input.to_owned(),
        })?;
        let component =
            scale(number, unit_nanos).ok_or_else(|| DurationError::Overflow(input.to_owned()))?;
        total_nanos = total_nanos
            .checked_add(component)
            .ok_or_else(|| DurationError::Overflow(input.to_owned()))?;
    }
    let secs = u64::try_from(total_nanos / 1_000_000_000)
        .map_err(|_| DurationError::Overflow(input.to_owned()))?;
    // The remainder of a division by 1e9 always fits in u32.
    let nanos = u32::try_from(total_nanos % 1_000_000_000).unwrap_or(0);
    Ok(Duration::new(secs, nanos))
}

/// Formats a [`Duration`] the way Go prints it (`1m30s`, `200ms`, `0s`), so that defaults shown in
/// `--help` and in manifests read like upstream's.
#[must_use]
pub fn format_go_duration(duration: Duration) -> String {
    if duration.is_zero() {
        return "0s".to_owned();
    }
    let total_nanos = duration.as_nanos();
    if total_nanos < 1_000_000_000 {
        return if total_nanos.is_multiple_of(1_000_000) {
            format!("{}ms", total_nanos / 1_000_000)
        } else if total_nanos.is_multiple_of(1_000) {
            format!("{}us", total_nanos / 1_000)
        } else {
            format!("{total_nanos}ns")
        };
    }
    let secs = duration.as_secs();
    let (hours, minutes, seconds) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    let subsec = duration.subsec_nanos();
    if subsec == 0 {
        out.push_str(&format!("{seconds}s"));
    } else {
        let fraction = format!("{subsec:09}");
        out.push_str(&format!("{seconds}.{}s", fraction.trim_end_matches('0')));
    }
    out
}

fn unit_in_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3_600 * 1_000_000_000,
        _ => return None,
    })
}

/// Multiplies a decimal `number` (digits with at most one `.`) by `unit_nanos` exactly, dropping
/// fractions of a nanosecond like Go does.
fn scale(number: &str, unit_nanos: u128) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut nanos = whole.checked_mul(unit_nanos)?;
    let mut place = unit_nanos;
    for digit in fraction.chars() {
        place /= 10;
        if place == 0 {
            break;
        }
        nanos = nanos.checked_add(u128::from(digit.to_digit(10)?) * place)?;
    }
    Some(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(value: u64) -> Duration {
        Duration::from_millis(value)
    }

    #[test]
    fn parses_single_units() {
        assert_eq!(parse_go_duration("200ms"), Ok(ms(200)));
        assert_eq!(parse_go_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_go_duration("1000s"), Ok(Duration::from_secs(1000)));
        assert_eq!(parse_go_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_go_duration("15us"), Ok(Duration::from_micros(15)));
        assert_eq!(parse_go_duration("15µs"), Ok(Duration::from_micros(15)));
        assert_eq!(parse_go_duration("7ns"), Ok(Duration::from_nanos(7)));
    }

    #[test]
    fn parses_compound_and_fractional_values() {
        assert_eq!(parse_go_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(
            parse_go_duration("1h2m3s4ms"),
            Ok(Duration::from_millis(3_723_004))
        );
        assert_eq!(parse_go_duration("1.5s"), Ok(ms(1500)));
        assert_eq!(parse_go_duration(".5m"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_go_duration("2.25h"), Ok(Duration::from_secs(8100)));
        assert_eq!(
            parse_go_duration("1.0000000009s"),
            Ok(Duration::from_secs(1))
        );
    }

    #[test]
    fn accepts_zero_and_plus_sign() {
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_go_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_go_duration("+5s"), Ok(Duration::from_secs(5)));
    }

    #[test]
    fn rejects_malformed_input() {
        assert_eq!(parse_go_duration(""), Err(DurationError::Empty));
        assert_eq!(
            parse_go_duration("-1s"),
            Err(DurationError::Negative("-1s".into()))
        );
        assert_eq!(
            parse_go_duration("10"),
            Err(DurationError::MissingUnit("10".into()))
        );
        assert_eq!(
            parse_go_duration("3d"),
            Err(DurationError::UnknownUnit {
                unit: "d".into(),
                input: "3d".into()
            })
        );
        assert_eq!(
            parse_go_duration("s"),
            Err(DurationError::Invalid("s".into()))
        );
        assert_eq!(
            parse_go_duration("1..2s"),
            Err(DurationError::Invalid("1..2s".into()))
        );
        assert_eq!(
            parse_go_duration("1s2"),
            Err(DurationError::MissingUnit("1s2".into()))
        );
        assert!(matches!(
            parse_go_duration("99999999999999999999999999999999999999999h"),
            Err(DurationError::Overflow(_))
        ));
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_go_duration(Duration::ZERO), "0s");
        assert_eq!(format_go_duration(ms(200)), "200ms");
        assert_eq!(format_go_duration(Duration::from_secs(3)), "3s");
        assert_eq!(format_go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_go_duration(Duration::from_secs(1000)), "16m40s");
        assert_eq!(format_go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(format_go_duration(ms(1500)), "1.5s");
        assert_eq!(format_go_duration(Duration::from_micros(15)), "15us");
    }

    #[test]
    fn format_then_parse_round_trips() {
        for value in [
            ms(1),
            ms(250),
            ms(1500),
            Duration::from_secs(36_000),
            Duration::from_nanos(1_000_000_123),
        ] {
            assert_eq!(parse_go_duration(&format_go_duration(value)), Ok(value));
        }
    }
}
