//! The controllers' error type.

use thiserror::Error;

/// Why a controller step failed.
///
/// `Display` says what the controller was doing; the cause is the
/// [`source`](std::error::Error::source). Logs print the chain ([`kro_api::ErrorChain`]).
#[derive(Debug, Error)]
pub enum ControllerError {
    /// A request to the API server failed.
    #[error("{action}")]
    Kube {
        /// What the controller was doing (`"applying CRD webapps.kro.run"`).
        action: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// The engine failed (schema fetch, reconcile).
    #[error("{action}")]
    Runtime {
        /// What the controller was doing.
        action: String,
        /// The executor's error.
        #[source]
        source: crate::executor::Error,
    },
    /// The watched object is not an instance kro can reconcile (no name or UID).
    #[error("{action}")]
    Instance {
        /// What the controller was doing.
        action: String,
        /// What the object lacks.
        #[source]
        source: kro_api::InstanceError,
    },
    /// A reconcile task panicked.
    #[error("{action}: the reconcile task failed: {message}")]
    Panicked {
        /// What the controller was doing.
        action: String,
        /// The panic or cancellation message.
        message: String,
    },
    /// An object read from the cluster lacks a field the controller needs.
    #[error("{object} {field}: expected {expected}")]
    InvalidObject {
        /// The object (`ResourceGraphDefinition webapp`).
        object: String,
        /// The field path (`metadata.uid`).
        field: &'static str,
        /// What was expected.
        expected: &'static str,
    },
    /// A generated CRD did not become Established in time.
    #[error("CRD {name} was not Established within {seconds}s")]
    NotEstablished {
        /// The CRD's name.
        name: String,
        /// How long the controller waited.
        seconds: u64,
    },
}

impl ControllerError {
    /// Wraps a client error with what the controller was doing.
    pub fn kube(action: impl Into<String>, source: kube::Error) -> Self {
        ControllerError::Kube {
            action: action.into(),
            source,
        }
    }
}
