//! Log set-up: `tracing` events to stderr as text or JSON lines, configured by the operator's
//! flags with the meaning of controller-runtime's zap flags (`--zap-devel`, `--zap-log-level`,
//! `--zap-encoder`, `--zap-stacktrace-level`, `--zap-time-encoding`).

use std::fmt;

use clap::ValueEnum;
use thiserror::Error;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

use crate::config::{LogFormat, LogLevel, OperatorConfig};

/// The kro-rs crates whose events development mode logs at debug level by default; the libraries
/// below them (HTTP, TLS, the Kubernetes client) stay at info, their debug output being per
/// request and per frame.
const KRO_CRATES: [&str; 6] = [
    "kro_operator",
    "kro_runtime",
    "kro_graph",
    "kro_cel",
    "kro_schema",
    "kro_applyset",
];

/// zap's `--zap-stacktrace-level`: the level from which zap attaches a stack trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StacktraceLevel {
    /// Info and above.
    Info,
    /// Errors and above.
    Error,
    /// Panics only.
    Panic,
}

/// zap's `--zap-time-encoding`: how the timestamp of a line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum TimeEncoding {
    /// Seconds since the Unix epoch, with a fraction.
    #[value(name = "epoch")]
    Epoch,
    /// Milliseconds since the Unix epoch, with a fraction.
    #[value(name = "millis")]
    Millis,
    /// Nanoseconds since the Unix epoch.
    #[value(name = "nanos")]
    Nanos,
    /// ISO 8601 with milliseconds and the UTC offset.
    #[value(name = "iso8601")]
    Iso8601,
    /// RFC 3339 in whole seconds (controller-runtime's default).
    #[default]
    #[value(name = "rfc3339")]
    Rfc3339,
    /// RFC 3339 with nanoseconds.
    #[value(name = "rfc3339nano")]
    Rfc3339Nano,
}

impl TimeEncoding {
    /// `time` written in this encoding.
    #[must_use]
    pub fn render(self, time: chrono::DateTime<chrono::Utc>) -> String {
        use chrono::SecondsFormat;
        let nanos = i128::from(time.timestamp()) * 1_000_000_000
            + i128::from(time.timestamp_subsec_nanos());
        match self {
            TimeEncoding::Epoch => format_fraction(nanos, 1_000_000_000),
            TimeEncoding::Millis => format_fraction(nanos, 1_000_000),
            TimeEncoding::Nanos => nanos.to_string(),
            TimeEncoding::Iso8601 => time.format("%Y-%m-%dT%H:%M:%S%.3f%z").to_string(),
            TimeEncoding::Rfc3339 => time.to_rfc3339_opts(SecondsFormat::Secs, true),
            TimeEncoding::Rfc3339Nano => time.to_rfc3339_opts(SecondsFormat::Nanos, true),
        }
    }
}

/// `nanos / unit` with as many decimals as the unit has digits, trailing zeros trimmed.
fn format_fraction(nanos: i128, unit: i128) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let (whole, rest) = (nanos.abs() / unit, nanos.abs() % unit);
    let digits = unit.to_string().len() - 1;
    let fraction = format!("{rest:0digits$}");
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{fraction}")
    }
}

/// The timer of the log lines: the current time in a [`TimeEncoding`].
#[derive(Debug, Clone, Copy)]
struct ZapTimer(TimeEncoding);

impl FormatTime for ZapTimer {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        w.write_str(&self.0.render(chrono::Utc::now()))
    }
}

/// The logging part of the flags, with zap's defaults resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// `--log-level` / `--zap-log-level` when given.
    pub level: Option<LogLevel>,
    /// `--log-format` / `--zap-encoder` when given.
    pub format: Option<LogFormat>,
    /// `--zap-devel`.
    pub development: bool,
    /// `--zap-stacktrace-level` when given. Accepted and validated only: Rust's log events carry
    /// no stack traces (development mode adds file:line to every line instead).
    pub stacktrace_level: Option<StacktraceLevel>,
    /// `--zap-time-encoding`, RFC 3339 when not given.
    pub time_encoding: TimeEncoding,
}

impl LogOptions {
    /// The logging options of `config`.
    #[must_use]
    pub fn from_config(config: &OperatorConfig) -> Self {
        Self {
            level: config.log_level,
            format: config.log_format,
            development: config.zap_devel,
            stacktrace_level: config.zap_stacktrace_level,
            time_encoding: config.zap_time_encoding.unwrap_or_default(),
        }
    }

    /// The encoding: the flag, else text in development mode and JSON otherwise (zap's).
    #[must_use]
    pub fn effective_format(&self) -> LogFormat {
        match (self.format, self.development) {
            (Some(format), _) => format,
            (None, true) => LogFormat::Text,
            (None, false) => LogFormat::Json,
        }
    }

    /// The `tracing` filter directive: the level flag for everything, else in development mode
    /// debug for kro's crates and info for the rest, and info otherwise.
    #[must_use]
    pub fn directive(&self) -> String {
        match (self.level, self.development) {
            (Some(level), _) => level.as_directive().to_owned(),
            (None, true) => std::iter::once("info".to_owned())
                .chain(KRO_CRATES.iter().map(|krate| format!("{krate}=debug")))
                .collect::<Vec<_>>()
                .join(","),
            (None, false) => LogLevel::Info.as_directive().to_owned(),
        }
    }
}

/// The global subscriber could not be installed.
#[derive(Debug, Error)]
pub enum LoggingError {
    /// `RUST_LOG` is set but is not a valid filter (the parser's error is the
    /// [`source`](std::error::Error::source)).
    #[error("RUST_LOG is not a valid tracing filter")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    /// A global subscriber was already installed.
    #[error("a global log subscriber is already installed: {0}")]
    AlreadyInstalled(String),
}

/// The filter for `directive`, unless `rust_log` (the value of `RUST_LOG`) is set, which wins so
/// that per-module directives stay possible.
///
/// # Errors
/// [`LoggingError::Filter`] when `rust_log` or `directive` does not parse.
pub fn log_filter(directive: &str, rust_log: Option<&str>) -> Result<EnvFilter, LoggingError> {
    match rust_log.map(str::trim).filter(|value| !value.is_empty()) {
        Some(directives) => Ok(EnvFilter::try_new(directives)?),
        None => Ok(EnvFilter::try_new(directive)?),
    }
}

/// Installs the process-wide subscriber.
///
/// # Errors
/// An invalid `RUST_LOG`, or a subscriber already installed.
pub fn init_logging(options: &LogOptions) -> Result<(), LoggingError> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = log_filter(&options.directive(), rust_log.as_deref())?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_timer(ZapTimer(options.time_encoding))
        .with_file(options.development)
        .with_line_number(options.development)
        // Colours only on a terminal: a pod's log or a file must not carry escape codes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(true);
    let installed = match options.effective_format() {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    installed.map_err(|error| LoggingError::AlreadyInstalled(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(level: Option<LogLevel>, development: bool) -> LogOptions {
        LogOptions {
            level,
            format: None,
            development,
            stacktrace_level: None,
            time_encoding: TimeEncoding::default(),
        }
    }

    #[test]
    fn level_is_used_without_rust_log() {
        let filter = log_filter("debug", None).expect("valid");
        assert_eq!(filter.to_string(), "debug");
        let filter = log_filter("warn", Some("  ")).expect("valid");
        assert_eq!(filter.to_string(), "warn");
    }

    #[test]
    fn an_invalid_rust_log_names_the_variable_and_leaves_the_parser_error_to_its_source() {
        let error = log_filter("info", Some("kro_operator=loud")).expect_err("invalid");
        let parser = std::error::Error::source(&error)
            .expect("a source")
            .to_string();
        assert_eq!(error.to_string(), "RUST_LOG is not a valid tracing filter");
        assert_eq!(
            kro_api::ErrorChain::new(&error).to_string(),
            format!("RUST_LOG is not a valid tracing filter: {parser}")
        );
    }

    #[test]
    fn rust_log_overrides_the_level() {
        let filter = log_filter("info", Some("kro_operator=trace")).expect("valid");
        assert_eq!(filter.to_string(), "kro_operator=trace");
        assert!(log_filter("info", Some("kro_operator=loud")).is_err());
    }

    #[test]
    fn development_mode_sets_zaps_defaults() {
        let development = options(None, true);
        assert_eq!(development.effective_format(), LogFormat::Text);
        let directive = development.directive();
        assert!(
            directive.starts_with("info,") && directive.contains("kro_operator=debug"),
            "{directive}"
        );
        log_filter(&directive, None).expect("the development directive parses");
        let production = options(None, false);
        assert_eq!(production.effective_format(), LogFormat::Json);
        assert_eq!(production.directive(), "info");
        let explicit = options(Some(LogLevel::Warn), true);
        assert_eq!(explicit.directive(), "warn");
    }

    #[test]
    fn time_encodings_render_like_zap() {
        let time = chrono::DateTime::from_timestamp(1_700_000_000, 123_456_789).expect("valid");
        assert_eq!(TimeEncoding::Epoch.render(time), "1700000000.123456789");
        assert_eq!(TimeEncoding::Millis.render(time), "1700000000123.456789");
        assert_eq!(TimeEncoding::Nanos.render(time), "1700000000123456789");
        assert_eq!(
            TimeEncoding::Iso8601.render(time),
            "2023-11-14T22:13:20.123+0000"
        );
        assert_eq!(TimeEncoding::Rfc3339.render(time), "2023-11-14T22:13:20Z");
        assert_eq!(
            TimeEncoding::Rfc3339Nano.render(time),
            "2023-11-14T22:13:20.123456789Z"
        );
    }
}
