//! Errors of reading kro's API types from text.

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
