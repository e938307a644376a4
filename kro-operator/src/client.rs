//! The Kubernetes client of the operator.
//!
//! `--client-qps` and `--client-burst` are accepted for compatibility with upstream's flags but
//! not enforced yet: kube 5's `Config` has no client-side rate limiter.

use std::path::Path;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use thiserror::Error;

/// The client could not be configured.
#[derive(Debug, Error)]
pub enum ClientError {
    /// `--kubeconfig` could not be read or parsed.
    #[error("--kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The path given.
        path: String,
        /// The kube error.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// No configuration found (no KUBECONFIG, not in a cluster, no ~/.kube/config).
    #[error("cannot find a Kubernetes configuration: {0}")]
    Infer(#[from] kube::config::InferConfigError),
    /// Building the HTTP client failed (TLS material, proxy, ...).
    #[error("cannot build the Kubernetes client: {0}")]
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

/// Builds the client from [`load_config`].
///
/// # Errors
/// See [`ClientError`].
pub async fn build_client(kubeconfig: Option<&Path>) -> Result<Client, ClientError> {
    let config = load_config(kubeconfig).await?;
    Ok(Client::try_from(config)?)
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
