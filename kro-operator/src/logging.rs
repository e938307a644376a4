//! Log set-up: `tracing` events to stderr as text or JSON lines.

use thiserror::Error;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogLevel};

/// The global subscriber could not be installed.
#[derive(Debug, Error)]
pub enum LoggingError {
    /// `RUST_LOG` is set but is not a valid filter.
    #[error("RUST_LOG is not a valid tracing filter: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    /// A global subscriber was already installed.
    #[error("a global log subscriber is already installed: {0}")]
    AlreadyInstalled(String),
}

/// The filter for `level`, unless `rust_log` (the value of `RUST_LOG`) is set, which wins so
/// that per-module directives stay possible.
///
/// # Errors
/// [`LoggingError::Filter`] when `rust_log` does not parse.
pub fn log_filter(level: LogLevel, rust_log: Option<&str>) -> Result<EnvFilter, LoggingError> {
    match rust_log.map(str::trim).filter(|value| !value.is_empty()) {
        Some(directives) => Ok(EnvFilter::try_new(directives)?),
        None => Ok(EnvFilter::new(level.as_directive())),
    }
}

/// Installs the process-wide subscriber.
///
/// # Errors
/// An invalid `RUST_LOG`, or a subscriber already installed.
pub fn init_logging(level: LogLevel, format: LogFormat) -> Result<(), LoggingError> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = log_filter(level, rust_log.as_deref())?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    installed.map_err(|error| LoggingError::AlreadyInstalled(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_is_used_without_rust_log() {
        let filter = log_filter(LogLevel::Debug, None).expect("valid");
        assert_eq!(filter.to_string(), "debug");
        let filter = log_filter(LogLevel::Warn, Some("  ")).expect("valid");
        assert_eq!(filter.to_string(), "warn");
    }

    #[test]
    fn rust_log_overrides_the_level() {
        let filter = log_filter(LogLevel::Info, Some("kro_operator=trace")).expect("valid");
        assert_eq!(filter.to_string(), "kro_operator=trace");
        assert!(log_filter(LogLevel::Info, Some("kro_operator=loud")).is_err());
    }
}
