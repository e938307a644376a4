//! The HTTP servers over real sockets, and the supervisor's start, failure and shutdown rules.

use std::sync::Arc;
use std::time::Duration;

use kro_operator::health::Readiness;
use kro_operator::metrics::{GvrLabels, Metrics};
use kro_operator::servers::HttpService;
use kro_operator::service::{FnService, Service, ServiceError, SupervisorError, run_services};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

async fn request(addr: std::net::SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.expect("writes");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.expect("reads");
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("status line");
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn localhost() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().expect("addr")
}

#[tokio::test]
async fn probes_and_metrics_are_served_until_shutdown() {
    let readiness = Readiness::new();
    let caches = readiness.register("caches-synced");
    let metrics = Arc::new(Metrics::new());
    metrics
        .instance
        .reconcile_total
        .get_or_create(&GvrLabels::new("kro.run/v1alpha1/apps"))
        .inc();
    let health = HttpService::health(localhost(), readiness.clone())
        .await
        .expect("binds");
    let exposition = HttpService::metrics(localhost(), Arc::clone(&metrics))
        .await
        .expect("binds");
    let (health_addr, metrics_addr) = (
        health.local_addr().expect("addr"),
        exposition.local_addr().expect("addr"),
    );
    let shutdown = CancellationToken::new();
    let supervisor = tokio::spawn(run_services(
        vec![Box::new(health), Box::new(exposition)],
        shutdown.clone(),
        Duration::from_secs(5),
    ));

    assert_eq!(
        request(health_addr, "GET", "/healthz").await,
        (200, "ok\n".to_owned())
    );
    let (status, body) = request(health_addr, "GET", "/readyz").await;
    assert_eq!(status, 503);
    assert!(body.contains("[-]caches-synced not ready"), "{body}");
    caches.set_ready(true);
    let (status, body) = request(health_addr, "GET", "/readyz").await;
    assert_eq!(status, 200);
    assert!(body.contains("[+]caches-synced ok"), "{body}");
    assert_eq!(request(health_addr, "GET", "/nope").await.0, 404);
    assert_eq!(request(health_addr, "POST", "/healthz").await.0, 405);
    assert_eq!(
        request(health_addr, "HEAD", "/healthz").await,
        (200, String::new())
    );

    let (status, body) = request(metrics_addr, "GET", "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("instance_reconcile_total{gvr=\"kro.run/v1alpha1/apps\"} 1"),
        "{body}"
    );

    shutdown.cancel();
    let outcome = tokio::time::timeout(Duration::from_secs(5), supervisor)
        .await
        .expect("stops in time");
    assert!(matches!(outcome, Ok(Ok(()))), "{outcome:?}");
    assert!(
        TcpStream::connect(health_addr).await.is_err(),
        "the listener is closed after shutdown"
    );
}

#[tokio::test]
async fn a_port_conflict_fails_at_bind_time() {
    let first = HttpService::health(localhost(), Readiness::new())
        .await
        .expect("binds");
    let taken = first.local_addr().expect("addr");
    let error = HttpService::health(taken, Readiness::new())
        .await
        .expect_err("port in use");
    assert!(error.to_string().contains(&taken.to_string()), "{error}");
}

fn waits_for_shutdown(name: &str) -> Box<dyn Service> {
    Box::new(FnService::new(
        name,
        |shutdown: CancellationToken| async move {
            shutdown.cancelled().await;
            Ok(())
        },
    ))
}

#[tokio::test]
async fn a_failing_service_stops_the_others() {
    let failing = Box::new(FnService::new("controller", |_shutdown| async {
        Err(ServiceError::other(std::io::Error::other("watch failed")))
    }));
    let shutdown = CancellationToken::new();
    let outcome = run_services(
        vec![waits_for_shutdown("server"), failing],
        shutdown.clone(),
        Duration::from_secs(5),
    )
    .await;
    match outcome {
        Err(SupervisorError::ServiceFailed { service, source }) => {
            assert_eq!(service, "controller");
            assert_eq!(source.to_string(), "watch failed");
        }
        other => panic!("expected a service failure, got {other:?}"),
    }
    assert!(
        shutdown.is_cancelled(),
        "the failure cancels the root token"
    );
}

#[tokio::test]
async fn a_service_that_ignores_shutdown_is_aborted_after_the_grace_period() {
    let stubborn = Box::new(FnService::new("stubborn", |_shutdown| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(())
    }));
    let shutdown = CancellationToken::new();
    shutdown.cancel();
    let started = std::time::Instant::now();
    let outcome = run_services(
        vec![waits_for_shutdown("polite"), stubborn],
        shutdown,
        Duration::from_millis(200),
    )
    .await;
    match outcome {
        Err(SupervisorError::ShutdownTimedOut { pending, timeout }) => {
            assert_eq!(pending, vec!["stubborn".to_owned()]);
            assert_eq!(timeout, Duration::from_millis(200));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_panicking_service_is_reported_by_name() {
    let panicking = Box::new(FnService::new("buggy", |_shutdown| async {
        let items: Vec<u8> = Vec::new();
        let first = items.first().copied();
        assert!(first.is_some(), "deliberate panic in a test service");
        Ok(())
    }));
    let outcome = run_services(
        vec![waits_for_shutdown("server"), panicking],
        CancellationToken::new(),
        Duration::from_secs(5),
    )
    .await;
    assert!(
        matches!(outcome, Err(SupervisorError::ServicePanicked { ref service }) if service == "buggy"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn services_that_finish_early_do_not_stop_the_others() {
    let one_shot = Box::new(FnService::new("one-shot", |_shutdown| async { Ok(()) }));
    let shutdown = CancellationToken::new();
    let supervisor = tokio::spawn(run_services(
        vec![one_shot, waits_for_shutdown("server")],
        shutdown.clone(),
        Duration::from_secs(5),
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!shutdown.is_cancelled() && !supervisor.is_finished());
    shutdown.cancel();
    assert!(matches!(supervisor.await, Ok(Ok(()))));
}
