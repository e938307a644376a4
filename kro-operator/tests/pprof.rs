//! Builds with the `pprof` feature serve CPU and heap profiles in the pprof format on
//! `--pprof-bind-address` (run by scripts/test-all.sh as
//! `cargo test -p kro-operator --features pprof --test pprof`, against the test control plane).
#![cfg(feature = "pprof")]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pprof::protos::{Message as _, Profile};

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binds");
    listener.local_addr().expect("addr").port()
}

/// Status line and body of `GET path`.
fn get(port: u16, path: &str) -> Option<(String, Vec<u8>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.lines().next()?.to_owned();
    Some((status, raw[split + 4..].to_vec()))
}

struct Operator(Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn cpu_and_heap_profiles_are_served_in_the_pprof_format() {
    let kubeconfig = std::env::var("KRO_TEST_KUBECONFIG")
        .expect("KRO_TEST_KUBECONFIG is not set: run through scripts/test-all.sh");
    let port = free_port();
    let operator = Operator(
        Command::new(env!("CARGO_BIN_EXE_kro-operator"))
            .arg(format!("--kubeconfig={kubeconfig}"))
            .arg("--metrics-bind-address=0")
            .arg("--health-probe-bind-address=0")
            .arg(format!("--pprof-bind-address=127.0.0.1:{port}"))
            .env(
                "_RJEM_MALLOC_CONF",
                "prof:true,prof_active:true,lg_prof_sample:19",
            )
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starts"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let index = loop {
        if let Some(answer) = get(port, "/debug/pprof/") {
            break answer;
        }
        assert!(Instant::now() < deadline, "the pprof server never came up");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(index.0.contains("200"), "{}", index.0);

    let (status, body) = get(port, "/debug/pprof/profile?seconds=1").expect("CPU profile");
    assert!(
        status.contains("200"),
        "{status}: {}",
        String::from_utf8_lossy(&body)
    );
    let cpu = Profile::decode(body.as_slice()).expect("a pprof protobuf");
    assert!(
        !cpu.sample_type.is_empty(),
        "a CPU profile names its sample types"
    );
    assert!(
        cpu.duration_nanos >= 900_000_000,
        "sampled for about a second"
    );

    let (status, body) = get(port, "/debug/pprof/heap").expect("heap profile");
    assert!(
        status.contains("200"),
        "{status}: {}",
        String::from_utf8_lossy(&body)
    );
    assert!(!body.is_empty(), "a heap profile");
    drop(operator);
}
