//! The real binary against the test control plane (`KRO_TEST_KUBECONFIG`, started by
//! scripts/testenv-up.sh): serves its probes, becomes ready once its caches synced, and stops
//! cleanly on SIGTERM within the grace period.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    let kubeconfig = std::env::var("KRO_TEST_KUBECONFIG").expect(
        "KRO_TEST_KUBECONFIG is not set: run through scripts/test-all.sh, or start a control \
         plane with scripts/testenv-up.sh and source its env file",
    );
    let (metrics_port, health_port) = (free_port(), free_port());

    // The log goes to a file: a pipe nobody reads fills up and blocks the process.
    let log_path =
        std::env::temp_dir().join(format!("kro-operator-binary-{}.log", std::process::id()));
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kro-operator"))
        .arg(format!("--kubeconfig={kubeconfig}"))
        .arg(format!("--metrics-bind-address=127.0.0.1:{metrics_port}"))
        .arg(format!(
            "--health-probe-bind-address=127.0.0.1:{health_port}"
        ))
        .arg("--graceful-shutdown-timeout=5s")
        .env_remove("RUST_LOG")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("starts");

    // Generous: the control plane and this machine's two cores are shared with other tests.
    let deadline = Instant::now() + Duration::from_secs(60);
    let health = loop {
        if let Some(response) = get(health_port, "/healthz") {
            break response;
        }
        assert!(Instant::now() < deadline, "the health server never came up");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    // Ready once the RGD controller's caches have synced.
    let ready = loop {
        let ready = get(health_port, "/readyz").unwrap_or_default();
        if ready.starts_with("HTTP/1.1 200") {
            break ready;
        }
        assert!(
            child.try_wait().expect("waits").is_none(),
            "the operator exited before it became ready"
        );
        assert!(Instant::now() < deadline, "never became ready: {ready}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(ready.contains("rgd-caches-synced"), "{ready}");
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
    let stderr = std::fs::read_to_string(&log_path).expect("reads the log");
    std::fs::remove_file(&log_path).expect("removes the log");
    assert_eq!(exit.code(), Some(0), "stderr:\n{stderr}");
    assert!(stderr.contains("shutdown requested"), "stderr:\n{stderr}");
}
