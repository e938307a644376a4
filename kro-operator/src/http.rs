//! A minimal HTTP/1 server for the operator's plain-text endpoints (`/metrics`, `/healthz`,
//! `/readyz`). Built on hyper directly, which kube already pulls in, instead of a web framework:
//! the endpoints need no routing beyond an exact path match.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The content type of plain-text answers.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainResponse {
    /// The HTTP status.
    pub status: StatusCode,
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

impl PlainResponse {
    /// A `text/plain` answer.
    pub fn text(status: StatusCode, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: TEXT_CONTENT_TYPE,
            body: body.into(),
        }
    }

    fn not_found(path: &str) -> Self {
        Self::text(StatusCode::NOT_FOUND, format!("no endpoint at {path}\n"))
    }
}

/// Maps a request path to an answer; `None` means 404.
pub trait Endpoints: Send + Sync + 'static {
    /// Answers a `GET` (or `HEAD`) of `path`.
    fn respond(&self, path: &str) -> Option<PlainResponse>;
}

/// An HTTP server could not start or stopped on an I/O error (the
/// [`source`](std::error::Error::source)).
#[derive(Debug, Error)]
pub enum ServerError {
    /// Binding the listening socket failed (port in use, no permission, ...).
    #[error("cannot listen on {addr} for the {server} server")]
    Bind {
        /// Which server (`metrics` or `health`).
        server: &'static str,
        /// The requested address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Accepting connections failed.
    #[error("the {server} server stopped accepting connections")]
    Accept {
        /// Which server.
        server: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// A bound listener with its endpoints, ready to serve until cancelled.
pub struct PlainServer {
    server: &'static str,
    listener: TcpListener,
    endpoints: Arc<dyn Endpoints>,
}

impl std::fmt::Debug for PlainServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainServer")
            .field("server", &self.server)
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

impl PlainServer {
    /// Binds `addr` now, so that a port conflict fails the start-up instead of a later task.
    ///
    /// # Errors
    /// [`ServerError::Bind`] naming the server and address.
    pub async fn bind(
        server: &'static str,
        addr: SocketAddr,
        endpoints: Arc<dyn Endpoints>,
    ) -> Result<Self, ServerError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind {
                server,
                addr,
                source,
            })?;
        Ok(Self {
            server,
            listener,
            endpoints,
        })
    }

    /// The address actually bound (useful with port 0).
    ///
    /// # Errors
    /// The I/O error of `getsockname`.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The server's name, as used in logs and errors.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.server
    }

    /// Serves until `shutdown` is cancelled, then lets open connections finish their current
    /// request and returns.
    ///
    /// # Errors
    /// [`ServerError::Accept`] if the listener fails.
    pub async fn serve(self, shutdown: CancellationToken) -> Result<(), ServerError> {
        let mut connections = JoinSet::new();
        let result = loop {
            tokio::select! {
                () = shutdown.cancelled() => break Ok(()),
                accepted = self.listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(accepted) => accepted,
                        Err(source) if is_transient(&source) => {
                            tracing::debug!(server = self.server, error = %source, "transient accept error");
                            continue;
                        }
                        Err(source) => break Err(ServerError::Accept { server: self.server, source }),
                    };
                    let endpoints = Arc::clone(&self.endpoints);
                    let shutdown = shutdown.clone();
                    let server = self.server;
                    connections.spawn(async move {
                        let service = service_fn(move |request| {
                            let endpoints = Arc::clone(&endpoints);
                            async move { Ok::<_, Infallible>(answer(endpoints.as_ref(), &request)) }
                        });
                        let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                        tokio::pin!(connection);
                        let outcome = tokio::select! {
                            outcome = connection.as_mut() => outcome,
                            () = shutdown.cancelled() => {
                                connection.as_mut().graceful_shutdown();
                                connection.await
                            }
                        };
                        if let Err(error) = outcome {
                            tracing::debug!(server, %peer, %error, "connection ended with an error");
                        }
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        };
        while connections.join_next().await.is_some() {}
        result
    }
}

/// Errors that concern one connection only, after which accepting can go on.
fn is_transient(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::ConnectionAborted
            | ErrorKind::ConnectionReset
            | ErrorKind::Interrupted
            | ErrorKind::WouldBlock
    )
}

fn answer(endpoints: &dyn Endpoints, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let is_head = request.method() == Method::HEAD;
    let plain = if request.method() == Method::GET || is_head {
        endpoints
            .respond(request.uri().path())
            .unwrap_or_else(|| PlainResponse::not_found(request.uri().path()))
    } else {
        PlainResponse::text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are served\n",
        )
    };
    let body = if is_head {
        Bytes::new()
    } else {
        Bytes::from(plain.body)
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = plain.status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(plain.content_type));
    if plain.status == StatusCode::METHOD_NOT_ALLOWED {
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    response
}
