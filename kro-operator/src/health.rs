//! Liveness (`/healthz`) and readiness (`/readyz`) probes.
//!
//! Readiness is the conjunction of named checks. Each part of the operator that must be ready
//! before the pod receives traffic registers a check at construction time (before the services
//! start) and flips it: the controllers when their caches have synced, the leader election when
//! a leader is known.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use hyper::StatusCode;

use crate::http::{Endpoints, PlainResponse};

/// Shared readiness state: a set of named checks, each ready or not.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    checks: Arc<Mutex<BTreeMap<String, bool>>>,
}

impl Readiness {
    /// An empty readiness state (ready, since no check is pending).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a check named `name`, not ready yet, and returns the handle that flips it.
    /// Registering the same name twice returns handles to the same check.
    #[must_use]
    pub fn register(&self, name: impl Into<String>) -> ReadinessCheck {
        let name = name.into();
        self.lock().entry(name.clone()).or_insert(false);
        ReadinessCheck {
            name,
            readiness: self.clone(),
        }
    }

    /// Whether every registered check is ready.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.lock().values().all(|ready| *ready)
    }

    /// The probe answer: readiness and one `[+]name ok` / `[-]name not ready` line per check,
    /// sorted by name.
    #[must_use]
    pub fn report(&self) -> (bool, String) {
        let checks = self.lock();
        let mut body = String::new();
        for (name, ready) in checks.iter() {
            if *ready {
                body.push_str(&format!("[+]{name} ok\n"));
            } else {
                body.push_str(&format!("[-]{name} not ready\n"));
            }
        }
        let ready = checks.values().all(|ready| *ready);
        body.push_str(if ready {
            "readyz check passed\n"
        } else {
            "readyz check failed\n"
        });
        (ready, body)
    }

    fn set(&self, name: &str, ready: bool) {
        self.lock().insert(name.to_owned(), ready);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, bool>> {
        // A panic while holding this lock cannot leave the map half-written, so keep using it.
        self.checks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The handle one component uses to flip its readiness check.
#[derive(Debug, Clone)]
pub struct ReadinessCheck {
    name: String,
    readiness: Readiness,
}

impl ReadinessCheck {
    /// Marks the check ready or not ready.
    pub fn set_ready(&self, ready: bool) {
        self.readiness.set(&self.name, ready);
    }

    /// The check's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// `/healthz` and `/readyz`.
#[derive(Debug, Clone)]
pub struct HealthEndpoints {
    readiness: Readiness,
}

impl HealthEndpoints {
    /// Probes answering from `readiness`.
    #[must_use]
    pub fn new(readiness: Readiness) -> Self {
        Self { readiness }
    }
}

impl Endpoints for HealthEndpoints {
    fn respond(&self, path: &str) -> Option<PlainResponse> {
        match path {
            // Liveness only says the process serves requests: restarting a pod whose caches are
            // still syncing would not make them sync faster.
            "/healthz" | "/livez" => Some(PlainResponse::text(StatusCode::OK, "ok\n")),
            "/readyz" => {
                let (ready, body) = self.readiness.report();
                let status = if ready {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                Some(PlainResponse::text(status, body))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_needs_every_check() {
        let readiness = Readiness::new();
        assert!(readiness.is_ready(), "no checks means ready");
        let caches = readiness.register("caches-synced");
        let leader = readiness.register("leader-known");
        assert!(!readiness.is_ready());
        caches.set_ready(true);
        assert!(!readiness.is_ready());
        leader.set_ready(true);
        assert!(readiness.is_ready());
        leader.set_ready(false);
        let (ready, body) = readiness.report();
        assert!(!ready);
        assert_eq!(
            body,
            "[+]caches-synced ok\n[-]leader-known not ready\nreadyz check failed\n"
        );
    }

    #[test]
    fn probes_answer_with_status_codes() {
        let readiness = Readiness::new();
        let check = readiness.register("caches-synced");
        let endpoints = HealthEndpoints::new(readiness);
        assert_eq!(
            endpoints.respond("/healthz").map(|r| r.status),
            Some(StatusCode::OK)
        );
        assert_eq!(
            endpoints.respond("/readyz").map(|r| r.status),
            Some(StatusCode::SERVICE_UNAVAILABLE)
        );
        check.set_ready(true);
        assert_eq!(
            endpoints.respond("/readyz").map(|r| r.status),
            Some(StatusCode::OK)
        );
        assert_eq!(endpoints.respond("/metrics"), None);
    }
}
