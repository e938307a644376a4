//! The real binary: serves its probes, and stops cleanly on SIGTERM within the grace period.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A kubeconfig for an API server that is never contacted: without leader election and without
/// controllers, start-up only builds the client.
const KUBECONFIG: &str = "apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:1
    insecure-skip-tls-verify: true
users:
- name: local
  user:
    token: test
contexts:
- name: local
  context:
    cluster: local
    user: local
current-context: local
";

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binds");
    listener.local_addr().expect("addr").port()
}

fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

#[test]
fn serves_probes_and_exits_zero_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("kro-operator-binary-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, KUBECONFIG).expect("writes kubeconfig");
    let (metrics_port, health_port) = (free_port(), free_port());

    let mut child = Command::new(env!("CARGO_BIN_EXE_kro-operator"))
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .arg(format!("--metrics-bind-address=127.0.0.1:{metrics_port}"))
        .arg(format!(
            "--health-probe-bind-address=127.0.0.1:{health_port}"
        ))
        .arg("--graceful-shutdown-timeout=5s")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");

    let deadline = Instant::now() + Duration::from_secs(20);
    let health = loop {
        if let Some(response) = get(health_port, "/healthz") {
            break response;
        }
        assert!(Instant::now() < deadline, "the health server never came up");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let ready = get(health_port, "/readyz").expect("readyz answers");
    assert!(
        ready.starts_with("HTTP/1.1 200"),
        "no checks registered means ready: {ready}"
    );
    let metrics = get(metrics_port, "/metrics").expect("metrics answer");
    assert!(
        metrics.contains("# TYPE cel_expr_eval counter"),
        "{metrics}"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("waits") {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        pipe.read_to_string(&mut stderr).expect("reads stderr");
    }
    assert_eq!(exit.code(), Some(0), "stderr:\n{stderr}");
    assert!(stderr.contains("shutdown requested"), "stderr:\n{stderr}");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
