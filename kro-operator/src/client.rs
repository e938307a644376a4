//! The Kubernetes client of the operator.
//!
//! kube 5 has no client-side rate limiter, so the client's HTTP stack gets one here: token
//! buckets refilled at `--client-qps` holding at most `--client-burst` tokens, one token per
//! request (a watch takes one when it starts, like client-go's). There is one bucket per
//! resource (group, version and resource of the request path), as upstream kro gets from
//! controller-runtime, whose client keeps a REST client, and so a rate limiter, per kind: one
//! busy kind cannot starve the others, and the operator as a whole is not held to the rate of
//! one kind. The same layer feeds client-go's `rest_client_*` families: requests by status code,
//! method and host, latency, rate-limiter wait, and request and response sizes.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use kube::client::ClientBuilder;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use thiserror::Error;
use tokio::time::Instant;

use crate::metrics::ClientMetrics;

/// The client could not be configured.
///
/// `Display` says what failed; kube's error is the [`source`](std::error::Error::source) (print
/// both with [`kro_api::ErrorChain`]).
#[derive(Debug, Error)]
pub enum ClientError {
    /// `--kubeconfig` could not be read or parsed.
    #[error("--kubeconfig {path}")]
    Kubeconfig {
        /// The path given.
        path: String,
        /// The kube error.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// No configuration found (no KUBECONFIG, not in a cluster, no ~/.kube/config).
    #[error("cannot find a Kubernetes configuration")]
    Infer(#[from] kube::config::InferConfigError),
    /// Building the HTTP client failed (TLS material, proxy, ...).
    #[error("cannot build the Kubernetes client")]
    Build(#[from] kube::Error),
}

/// Loads the configuration from `kubeconfig` or infers it (KUBECONFIG, in-cluster, ~/.kube/config).
///
/// # Errors
/// [`ClientError::Kubeconfig`] or [`ClientError::Infer`].
pub async fn load_config(kubeconfig: Option<&Path>) -> Result<Config, ClientError> {
    let mut config = match kubeconfig {
        Some(path) => {
            let wrap = |source| ClientError::Kubeconfig {
                path: path.display().to_string(),
                source,
            };
            let file = Kubeconfig::read_from(path).map_err(wrap)?;
            Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                .await
                .map_err(wrap)?
        }
        None => Config::infer().await?,
    };
    ignore_proxy_for_loopback(&mut config);
    Ok(config)
}

/// Builds the client from [`load_config`], limited to `limits` and recording its requests in
/// `metrics` (when given).
///
/// # Errors
/// See [`ClientError`].
pub async fn build_client(
    kubeconfig: Option<&Path>,
    limits: RateLimits,
    metrics: Option<ClientMetrics>,
) -> Result<Client, ClientError> {
    let config = load_config(kubeconfig).await?;
    let host = config
        .cluster_url
        .authority()
        .map(ToString::to_string)
        .unwrap_or_default();
    let layer = RequestLayer {
        buckets: Arc::new(Buckets::new(limits)),
        metrics: metrics.map(|metrics| Arc::new((metrics, host))),
    };
    Ok(ClientBuilder::try_from(config)?.with_layer(&layer).build())
}

/// Client-side request rate limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimits {
    /// Sustained requests per second.
    pub qps: f32,
    /// Requests allowed at once after a quiet period.
    pub burst: u32,
}

/// A token bucket shared by every request of the client.
#[derive(Debug)]
pub struct TokenBucket {
    limits: RateLimits,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    /// A full bucket.
    #[must_use]
    pub fn new(limits: RateLimits) -> Self {
        Self {
            limits,
            state: Mutex::new(BucketState {
                tokens: f64::from(limits.burst.max(1)),
                refilled: Instant::now(),
            }),
        }
    }

    /// Takes a token; returns how long to wait before the request may go (zero when a token
    /// was there). Tokens are reserved in order, so waiting requests are served first come,
    /// first served.
    pub fn reserve(&self) -> Duration {
        let qps = f64::from(self.limits.qps);
        if !qps.is_finite() || qps <= 0.0 {
            return Duration::ZERO;
        }
        let capacity = f64::from(self.limits.burst.max(1));
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(state.refilled).as_secs_f64();
        state.tokens = (state.tokens + elapsed * qps).min(capacity);
        state.refilled = now;
        state.tokens -= 1.0;
        if state.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-state.tokens / qps)
        }
    }
}

/// One [`TokenBucket`] per resource, created on first use.
#[derive(Debug)]
struct Buckets {
    limits: RateLimits,
    by_resource: Mutex<HashMap<String, Arc<TokenBucket>>>,
}

impl Buckets {
    fn new(limits: RateLimits) -> Self {
        Self {
            limits,
            by_resource: Mutex::new(HashMap::new()),
        }
    }

    fn reserve(&self, resource: String) -> Duration {
        let bucket = Arc::clone(
            self.by_resource
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(resource)
                .or_insert_with(|| Arc::new(TokenBucket::new(self.limits))),
        );
        bucket.reserve()
    }
}

/// The resource a request path addresses, as a bucket key: `group/version/resource` (`v1/pods`
/// for the core group), or the path's first segment for discovery and other endpoints.
fn resource_of(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').filter(|part| !part.is_empty()).collect();
    let (group_version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ((*version).to_owned(), rest),
        ["apis", group, version, rest @ ..] => (format!("{group}/{version}"), rest),
        [first, ..] => return (*first).to_owned(),
        [] => return String::new(),
    };
    let resource = match rest {
        ["namespaces", _, resource, ..] => resource,
        [resource, ..] => resource,
        [] => "",
    };
    format!("{group_version}/{resource}")
}

/// The tower layer adding per-resource [`TokenBucket`] limiting and request counting to the
/// client stack.
#[derive(Clone)]
struct RequestLayer {
    buckets: Arc<Buckets>,
    /// The families and the API server's `host:port` label.
    metrics: Option<Arc<(ClientMetrics, String)>>,
}

impl<S> tower::Layer<S> for RequestLayer {
    type Service = RequestService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestService {
            inner,
            buckets: Arc::clone(&self.buckets),
            metrics: self.metrics.clone(),
        }
    }
}

struct RequestService<S> {
    inner: S,
    buckets: Arc<Buckets>,
    metrics: Option<Arc<(ClientMetrics, String)>>,
}

impl<S, B, R> tower::Service<http::Request<B>> for RequestService<S>
where
    B: hyper::body::Body,
    R: hyper::body::Body,
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    // The stack below sends a request when its future is first polled (the HTTP client's
    // futures are lazy), so waiting before the first poll holds the request back without
    // holding up requests for other resources.
    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let delay = self.buckets.reserve(resource_of(request.uri().path()));
        let metrics = self.metrics.clone();
        let verb = verb_of(&request);
        if let Some(metrics) = &metrics {
            metrics.0.observe_wait(verb, delay);
            metrics
                .0
                .observe_request_size(verb, request.body().size_hint().exact());
        }
        let response = self.inner.call(request);
        Box::pin(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let sent = Instant::now();
            let result = response.await;
            if let Some(metrics) = metrics {
                let (code, size) = match &result {
                    Ok(response) => (
                        response.status().as_u16().to_string(),
                        response.body().size_hint().exact(),
                    ),
                    Err(_) => ("<error>".to_owned(), None),
                };
                let (families, host) = metrics.as_ref();
                families.observe_response((verb, host), &code, sent.elapsed(), size);
            }
            result
        })
    }
}

/// The Kubernetes verb family of a request, as client-go's metrics name it (the HTTP method).
fn verb_of<B>(request: &http::Request<B>) -> &'static str {
    match *request.method() {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::PATCH => "PATCH",
        http::Method::DELETE => "DELETE",
        http::Method::HEAD => "HEAD",
        _ => "OTHER",
    }
}

/// kube honours `HTTPS_PROXY` even for a loopback API server (a local test control plane),
/// which a proxy cannot reach; such servers are contacted directly.
pub fn ignore_proxy_for_loopback(config: &mut Config) {
    let loopback = match config.cluster_url.host() {
        Some(host) => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        None => false,
    };
    if loopback {
        config.proxy_url = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreadable_kubeconfig_names_the_flag_and_leaves_kubes_error_to_its_source() {
        let path = Path::new("/nonexistent/kro-operator/kubeconfig");
        let error = load_config(Some(path)).await.expect_err("no such file");
        let kube = std::error::Error::source(&error)
            .expect("a source")
            .to_string();
        assert_eq!(
            error.to_string(),
            format!("--kubeconfig {}", path.display())
        );
        assert!(!error.to_string().contains(&kube), "{error}");
        assert_eq!(
            kro_api::ErrorChain::new(&error).to_string(),
            format!("--kubeconfig {}: {kube}", path.display())
        );
    }

    #[test]
    fn the_bucket_allows_a_burst_then_spaces_requests_at_the_rate() {
        let bucket = TokenBucket::new(RateLimits { qps: 2.0, burst: 3 });
        for _ in 0..3 {
            assert_eq!(bucket.reserve(), Duration::ZERO);
        }
        // Each further request waits half a second more than the one before it.
        let fourth = bucket.reserve();
        let fifth = bucket.reserve();
        assert!(fourth > Duration::from_millis(400) && fourth <= Duration::from_millis(500));
        assert!(fifth > Duration::from_millis(900) && fifth <= Duration::from_millis(1000));
    }

    #[test]
    fn each_resource_has_its_own_bucket() {
        assert_eq!(
            resource_of("/apis/apps/v1/namespaces/team/deployments/web"),
            "apps/v1/deployments"
        );
        assert_eq!(
            resource_of("/apis/apps/v1/deployments"),
            "apps/v1/deployments"
        );
        assert_eq!(
            resource_of("/api/v1/namespaces/team/configmaps"),
            "v1/configmaps"
        );
        assert_eq!(resource_of("/api/v1/namespaces/team"), "v1/namespaces");
        assert_eq!(
            resource_of("/apis/kro.run/v1alpha1/resourcegraphdefinitions/x/status"),
            "kro.run/v1alpha1/resourcegraphdefinitions"
        );
        assert_eq!(resource_of("/openapi/v3"), "openapi");
        let buckets = Buckets::new(RateLimits { qps: 1.0, burst: 1 });
        assert_eq!(buckets.reserve("v1/configmaps".into()), Duration::ZERO);
        assert!(buckets.reserve("v1/configmaps".into()) > Duration::ZERO);
        assert_eq!(
            buckets.reserve("apps/v1/deployments".into()),
            Duration::ZERO
        );
    }

    #[test]
    fn a_non_positive_rate_does_not_limit() {
        let bucket = TokenBucket::new(RateLimits { qps: 0.0, burst: 1 });
        for _ in 0..10 {
            assert_eq!(bucket.reserve(), Duration::ZERO);
        }
    }

    #[test]
    fn requests_are_counted_by_their_http_method() {
        let request = |method: http::Method| {
            http::Request::builder()
                .method(method)
                .body(())
                .expect("valid request")
        };
        assert_eq!(verb_of(&request(http::Method::PATCH)), "PATCH");
        assert_eq!(verb_of(&request(http::Method::GET)), "GET");
        assert_eq!(verb_of(&request(http::Method::OPTIONS)), "OTHER");
    }

    fn config_for(url: &str) -> Config {
        let mut config = Config::new(url.parse().expect("valid uri"));
        config.proxy_url = Some("http://proxy.example:3128".parse().expect("valid uri"));
        config
    }

    #[test]
    fn loopback_servers_bypass_the_proxy() {
        for url in [
            "https://127.0.0.1:6443",
            "https://localhost:6443",
            "https://[::1]:6443",
            "https://127.0.0.2",
        ] {
            let mut config = config_for(url);
            ignore_proxy_for_loopback(&mut config);
            assert_eq!(config.proxy_url, None, "{url}");
        }
    }

    #[test]
    fn remote_servers_keep_the_proxy() {
        let mut config = config_for("https://api.cluster.example:6443");
        ignore_proxy_for_loopback(&mut config);
        assert!(config.proxy_url.is_some());
    }
}
