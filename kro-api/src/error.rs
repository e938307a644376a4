//! Errors of reading kro's API types from text, and [`ErrorChain`], which prints any error with
//! its causes.

use thiserror::Error;

/// A document that is not a well-formed ResourceGraphDefinition: YAML syntax, a field of the
/// wrong type, or a missing required field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("not a valid ResourceGraphDefinition: {message}")]
pub struct ParseError {
    message: String,
}

impl ParseError {
    /// Wraps the YAML reader's description (which carries the line and column where it has one).
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// What is wrong and where, as the YAML reader described it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// An error and its causes on one line: the error's message, then the message of each
/// [`source`](std::error::Error::source) in turn, joined with `": "`.
///
/// kro's errors describe their own layer only and leave the cause to `source()` (as the Rust API
/// guidelines and kube-rs do), so `Display` of one error is a part of the story; this is the whole
/// story, as kro writes it into status conditions, logs and the CLI's output.
///
/// A cause whose message the error before it already shows ends the line: errors of other crates
/// (kube's among them) often repeat their source's message in their own, and their chain below
/// that point is theirs to describe.
///
/// ```
/// use kro_api::ErrorChain;
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("reading config.yaml")]
/// struct ReadConfig {
///     source: std::io::Error,
/// }
///
/// let error = ReadConfig {
///     source: std::io::Error::other("permission denied"),
/// };
/// assert_eq!(error.to_string(), "reading config.yaml");
/// assert_eq!(
///     ErrorChain::new(&error).to_string(),
///     "reading config.yaml: permission denied"
/// );
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ErrorChain<'a> {
    error: &'a (dyn std::error::Error + 'static),
}

impl<'a> ErrorChain<'a> {
    /// The chain starting at `error`.
    pub fn new(error: &'a (dyn std::error::Error + 'static)) -> Self {
        Self { error }
    }
}

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.error.to_string();
        f.write_str(&shown)?;
        let mut next = self.error.source();
        while let Some(cause) = next {
            let message = cause.to_string();
            if shown.contains(&message) {
                break;
            }
            write!(f, ": {message}")?;
            shown = message;
            next = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorChain;

    #[derive(Debug, thiserror::Error)]
    #[error("outer {name}")]
    struct Outer {
        name: &'static str,
        source: Middle,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("middle")]
    struct Middle {
        source: std::io::Error,
    }

    /// The convention this crate's type does not follow: the source in the message too.
    #[derive(Debug, thiserror::Error)]
    #[error("repeating: {source}")]
    struct Repeating {
        source: Middle,
    }

    fn middle() -> Middle {
        Middle {
            source: std::io::Error::other("disk full"),
        }
    }

    #[test]
    fn every_cause_is_shown_once_in_order() {
        let error = Outer {
            name: "a",
            source: middle(),
        };
        assert_eq!(
            ErrorChain::new(&error).to_string(),
            "outer a: middle: disk full"
        );
    }

    #[test]
    fn an_error_alone_is_its_message() {
        let error = std::io::Error::other("disk full");
        assert_eq!(ErrorChain::new(&error).to_string(), "disk full");
    }

    #[test]
    fn a_cause_the_message_already_shows_ends_the_chain() {
        // An error that repeats its source's message follows the other convention: it tells the
        // rest of the story itself (here it does not, and `disk full` stays untold).
        let error = Repeating { source: middle() };
        assert_eq!(ErrorChain::new(&error).to_string(), "repeating: middle");
    }
}
