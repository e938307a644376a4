//! The executor's error type.

use kro_applyset::ObjectKey;
use thiserror::Error;

/// Why a reconcile (or a schema fetch, or a compile) could not finish.
///
/// Per-resource apply failures and reads refused for a missing permission are not errors of the
/// reconcile: they become node `ERROR` states in the plan's status. These variants are what
/// stops a whole pass.
///
/// `Display` describes what the executor was doing; the cause (the client's error, the compile
/// problems, ...) is the [`source`](std::error::Error::source). Print the whole chain with
/// [`kro_api::ErrorChain`], as kro-operator does in its logs and conditions.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A request to the API server failed.
    #[error("{action}")]
    Kube {
        /// What the executor was doing (`"applying ConfigMap team/web"`).
        action: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// A raw request could not be built (an invalid path).
    #[error("building the request {path}: {reason}")]
    Request {
        /// The request path.
        path: String,
        /// Why the path cannot be requested.
        reason: String,
    },
    /// The API server answered with a document of an unexpected shape.
    #[error("{what}: unexpected response at {field}: expected {expected}")]
    UnexpectedResponse {
        /// The request or object (`"GET /openapi/v3"`).
        what: String,
        /// The JSON path that was wrong.
        field: String,
        /// What was expected there.
        expected: &'static str,
    },
    /// The instance object lacks a field the executor needs.
    #[error("instance {field}: expected {expected}")]
    InvalidInstance {
        /// The field path (`metadata.uid`).
        field: &'static str,
        /// What was expected.
        expected: &'static str,
    },
    /// An object read from the cluster lacks a field the executor needs.
    #[error("object {key}")]
    InvalidObject {
        /// The object.
        key: String,
        /// What is wrong.
        #[source]
        source: kro_applyset::ObjectError,
    },
    /// The RGD did not compile.
    #[error("compiling ResourceGraphDefinition {name}")]
    Compile {
        /// The RGD's name.
        name: String,
        /// Every problem found.
        #[source]
        source: kro_graph::CompileError,
    },
    /// The instance's ApplySet inventory does not validate, so deletion cannot know its members
    /// (the finalizer stays until the inventory is repaired).
    #[error("instance {instance}: {reason}")]
    DeletionBlocked {
        /// `namespace/name` of the instance.
        instance: String,
        /// What is wrong with the inventory, naming the label or annotation.
        reason: String,
    },
    /// Planning kept discovering reads the cache could not answer.
    #[error(
        "planning did not settle after {rounds} rounds of live reads; still missing: {missing}"
    )]
    UnsettledReads {
        /// How many rounds were made.
        rounds: usize,
        /// The reads still unanswered.
        missing: String,
    },
    /// The status write conflicted with another writer of the instance on every attempt.
    #[error(
        "writing the status of instance {instance}: it changed under each of {attempts} attempts"
    )]
    StatusConflicts {
        /// `namespace/name` of the instance.
        instance: String,
        /// How many attempts were made.
        attempts: usize,
    },
    /// A kind the plan refers to is not known to the executor (no plural or scope).
    #[error("no REST mapping for {key}: the kind is not in the compiled graph")]
    UnknownKind {
        /// The object.
        key: ObjectKey,
    },
    /// The reconcile machine refused an answer: a step was carried out wrongly (a bug of the
    /// driver, never of the RGD or the cluster).
    #[error("the reconcile machine refused the executor's answer")]
    Machine {
        /// What the machine expected.
        #[source]
        source: kro_runtime::machine::MachineError,
    },
}

impl Error {
    pub(crate) fn kube(action: impl Into<String>, source: kube::Error) -> Self {
        Self::Kube {
            action: action.into(),
            source,
        }
    }
}

/// The HTTP status of a failed API request, if the server answered.
pub(crate) fn status_code(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use kro_api::{ErrorChain, ResourceGraphDefinition};
    use kro_graph::OfflineResolver;

    use super::Error;

    fn not_found() -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure("configmaps \"web\" not found", "NotFound")
                .with_code(404)
                .boxed(),
        )
    }

    #[test]
    fn a_request_error_names_the_action_and_leaves_the_client_error_to_its_source() {
        let error = Error::kube("reading ConfigMap team/web", not_found());
        let client = not_found().to_string();
        assert_eq!(error.to_string(), "reading ConfigMap team/web");
        assert!(!error.to_string().contains(&client), "{error}");
        // The text kro printed before the cause moved to `source()`.
        assert_eq!(
            ErrorChain::new(&error).to_string(),
            format!("reading ConfigMap team/web: {client}")
        );
    }

    #[test]
    fn a_compile_error_names_the_rgd_and_leaves_the_problems_to_its_source() {
        let rgd = ResourceGraphDefinition::from_yaml(
            r#"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: widgets}
spec:
  schema: {apiVersion: v1alpha1, kind: Widgets, spec: {name: string}}
  resources:
  - id: widget
    template: {apiVersion: example.com/v1, kind: Widget, metadata: {name: w}}
"#,
        )
        .expect("parses");
        let source = kro_graph::compile(&rgd, &OfflineResolver::new()).expect_err("unknown kind");
        let problems = source.to_string();
        let error = Error::Compile {
            name: "widgets".to_owned(),
            source,
        };
        assert_eq!(
            error.to_string(),
            "compiling ResourceGraphDefinition widgets"
        );
        assert_eq!(
            ErrorChain::new(&error).to_string(),
            "compiling ResourceGraphDefinition widgets: resource \"widget\" template: failed to get \
             schema for resource widget: schema not found for example.com/v1, Kind=Widget"
        );
        assert!(
            ErrorChain::new(&error).to_string().ends_with(&problems),
            "{problems}"
        );
    }
}
