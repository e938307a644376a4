//! The metrics and health HTTP servers as [`Service`]s.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::StatusCode;
use tokio_util::sync::CancellationToken;

use crate::health::{HealthEndpoints, Readiness};
use crate::http::{Endpoints, PlainResponse, PlainServer, ServerError};
use crate::metrics::{Metrics, OPENMETRICS_CONTENT_TYPE};
use crate::service::{Service, ServiceError, ServiceFuture};

/// `/metrics`.
#[derive(Debug, Clone)]
pub struct MetricsEndpoints {
    metrics: Arc<Metrics>,
}

impl MetricsEndpoints {
    /// The exposition of `metrics`.
    #[must_use]
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl Endpoints for MetricsEndpoints {
    fn respond(&self, path: &str) -> Option<PlainResponse> {
        if path != "/metrics" {
            return None;
        }
        Some(match self.metrics.encode() {
            Ok(body) => PlainResponse {
                status: StatusCode::OK,
                content_type: OPENMETRICS_CONTENT_TYPE,
                body,
            },
            Err(error) => PlainResponse::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("encoding failed: {error}\n"),
            ),
        })
    }
}

/// A bound HTTP server run as a [`Service`].
#[derive(Debug)]
pub struct HttpService {
    service_name: String,
    server: PlainServer,
}

impl HttpService {
    /// Binds the metrics server on `addr`.
    ///
    /// # Errors
    /// [`ServerError::Bind`] when the address cannot be bound.
    pub async fn metrics(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<Self, ServerError> {
        let server =
            PlainServer::bind("metrics", addr, Arc::new(MetricsEndpoints::new(metrics))).await?;
        Ok(Self {
            service_name: "metrics-server".to_owned(),
            server,
        })
    }

    /// Binds the health probe server on `addr`.
    ///
    /// # Errors
    /// [`ServerError::Bind`] when the address cannot be bound.
    pub async fn health(addr: SocketAddr, readiness: Readiness) -> Result<Self, ServerError> {
        let server =
            PlainServer::bind("health", addr, Arc::new(HealthEndpoints::new(readiness))).await?;
        Ok(Self {
            service_name: "health-server".to_owned(),
            server,
        })
    }

    /// The address actually bound.
    ///
    /// # Errors
    /// The I/O error of `getsockname`.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.server.local_addr()
    }
}

impl Service for HttpService {
    fn name(&self) -> &str {
        &self.service_name
    }

    fn run(self: Box<Self>, shutdown: CancellationToken) -> ServiceFuture {
        Box::pin(async move {
            if let Ok(addr) = self.server.local_addr() {
                tracing::info!(server = self.server.name(), %addr, "serving");
            }
            self.server
                .serve(shutdown)
                .await
                .map_err(ServiceError::from)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_endpoint_serves_openmetrics() {
        let endpoints = MetricsEndpoints::new(Arc::new(Metrics::new()));
        let response = endpoints.respond("/metrics").expect("served");
        assert_eq!(response.status, StatusCode::OK);
        assert_eq!(response.content_type, OPENMETRICS_CONTENT_TYPE);
        assert!(
            response.body.contains("# TYPE cel_expr_eval counter"),
            "{}",
            response.body
        );
        assert_eq!(endpoints.respond("/healthz"), None);
    }
}
