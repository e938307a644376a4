//! CPU and heap profiles in the pprof format on `--pprof-bind-address`, in builds with the
//! `pprof` feature (upstream kro serves Go's pprof only in builds tagged `pprof`).
//!
//! - `GET /debug/pprof/profile?seconds=N` samples the CPU for N seconds (default 30, at most
//!   300) at 99 Hz and answers a gzip-free pprof protobuf, as `go tool pprof` reads it.
//! - `GET /debug/pprof/heap` dumps jemalloc's heap profile as pprof; jemalloc samples only when
//!   started with `_RJEM_MALLOC_CONF=prof:true,prof_active:true,lg_prof_sample:19`, otherwise
//!   the answer is 503 saying so.
//!
//! One CPU profile runs at a time (the sampler is process-wide); a second request gets 409.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use pprof::protos::Message as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::http::ServerError;
use crate::service::{Service, ServiceFuture};

/// jemalloc with heap profiling as the global allocator of profiling builds.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Default and longest CPU sampling windows, as Go's `net/http/pprof` defaults to 30 s.
const DEFAULT_SECONDS: u64 = 30;
const MAX_SECONDS: u64 = 300;
/// Sampling frequency: 99 Hz, off the beat of 100 Hz timers.
const SAMPLING_HZ: i32 = 99;
const PROTOBUF: &str = "application/octet-stream";
const TEXT: &str = "text/plain; charset=utf-8";

/// The pprof server, bound and ready to run as a [`Service`].
#[derive(Debug)]
pub struct PprofService {
    listener: TcpListener,
    busy: Arc<AtomicBool>,
}

impl PprofService {
    /// Binds `addr` now, so that a port conflict fails the start-up.
    ///
    /// # Errors
    /// [`ServerError::Bind`] naming the address.
    pub async fn bind(addr: SocketAddr) -> Result<Self, ServerError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind {
                server: "pprof",
                addr,
                source,
            })?;
        Ok(Self {
            listener,
            busy: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The address actually bound.
    ///
    /// # Errors
    /// The I/O error of `getsockname`.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

impl Service for PprofService {
    fn name(&self) -> &str {
        "pprof-server"
    }

    fn run(self: Box<Self>, shutdown: CancellationToken) -> ServiceFuture {
        Box::pin(async move {
            if let Ok(addr) = self.listener.local_addr() {
                tracing::info!(server = "pprof", %addr, "serving");
            }
            loop {
                let (stream, _) = tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    accepted = self.listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(error) => {
                            tracing::debug!(%error, "pprof accept failed");
                            continue;
                        }
                    },
                };
                let busy = Arc::clone(&self.busy);
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let busy = Arc::clone(&busy);
                        async move { Ok::<_, Infallible>(answer(&request, &busy).await) }
                    });
                    let served = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                    if let Err(error) = served {
                        tracing::debug!(%error, "pprof connection ended with an error");
                    }
                });
            }
        })
    }
}

async fn answer(request: &Request<Incoming>, busy: &AtomicBool) -> Response<Full<Bytes>> {
    if request.method() != Method::GET {
        return reply(StatusCode::METHOD_NOT_ALLOWED, TEXT, "only GET is served\n");
    }
    match request.uri().path() {
        "/debug/pprof/profile" => {
            let seconds = sampling_seconds(request.uri().query());
            cpu_profile(seconds, busy).await
        }
        "/debug/pprof/heap" => heap_profile().await,
        "/debug/pprof/" | "/debug/pprof" => reply(
            StatusCode::OK,
            TEXT,
            "profile: CPU, ?seconds=N (pprof protobuf)\nheap: jemalloc heap (pprof protobuf)\n",
        ),
        other => reply(
            StatusCode::NOT_FOUND,
            TEXT,
            format!("no endpoint at {other}\n"),
        ),
    }
}

/// `seconds=N` from the query, clamped to 1..=MAX_SECONDS; the default when absent or invalid.
fn sampling_seconds(query: Option<&str>) -> u64 {
    query
        .into_iter()
        .flat_map(|query| query.split('&'))
        .find_map(|pair| pair.strip_prefix("seconds="))
        .and_then(|value| value.parse::<u64>().ok())
        .map_or(DEFAULT_SECONDS, |seconds| seconds.clamp(1, MAX_SECONDS))
}

async fn cpu_profile(seconds: u64, busy: &AtomicBool) -> Response<Full<Bytes>> {
    if busy.swap(true, Ordering::SeqCst) {
        return reply(
            StatusCode::CONFLICT,
            TEXT,
            "a CPU profile is already running\n",
        );
    }
    // The sampler's guard lives on a blocking thread: it is not meant to cross await points.
    let sampled = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
        let guard = pprof::ProfilerGuardBuilder::default()
            .frequency(SAMPLING_HZ)
            .blocklist(&["libc", "libgcc", "pthread", "vdso"])
            .build()
            .map_err(|error| format!("cannot start the CPU sampler: {error}"))?;
        std::thread::sleep(Duration::from_secs(seconds));
        let profile = guard
            .report()
            .build()
            .and_then(|report| report.pprof())
            .map_err(|error| format!("cannot build the profile: {error}"))?;
        let mut body = Vec::new();
        profile
            .encode(&mut body)
            .map_err(|error| format!("cannot encode the profile: {error}"))?;
        Ok(body)
    })
    .await;
    busy.store(false, Ordering::SeqCst);
    match sampled {
        Ok(Ok(body)) => reply(StatusCode::OK, PROTOBUF, body),
        Ok(Err(message)) => reply(StatusCode::INTERNAL_SERVER_ERROR, TEXT, message + "\n"),
        Err(error) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            TEXT,
            format!("the CPU sampler stopped: {error}\n"),
        ),
    }
}

async fn heap_profile() -> Response<Full<Bytes>> {
    let Some(control) = jemalloc_pprof::PROF_CTL.as_ref() else {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            TEXT,
            "jemalloc profiling is off: start the operator with \
             _RJEM_MALLOC_CONF=prof:true,prof_active:true,lg_prof_sample:19\n",
        );
    };
    let mut control = control.lock().await;
    if !control.activated() {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            TEXT,
            "jemalloc profiling is not active (prof_active:false)\n",
        );
    }
    match control.dump_pprof() {
        Ok(body) => reply(StatusCode::OK, PROTOBUF, body),
        Err(error) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            TEXT,
            format!("cannot dump the heap profile: {error:#}\n"),
        ),
    }
}

fn reply(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_window_defaults_and_clamps() {
        assert_eq!(sampling_seconds(None), DEFAULT_SECONDS);
        assert_eq!(sampling_seconds(Some("seconds=5")), 5);
        assert_eq!(sampling_seconds(Some("debug=1&seconds=0")), 1);
        assert_eq!(sampling_seconds(Some("seconds=100000")), MAX_SECONDS);
        assert_eq!(sampling_seconds(Some("seconds=x")), DEFAULT_SECONDS);
    }
}
