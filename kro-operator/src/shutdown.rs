//! Turns SIGTERM and SIGINT into the cancellation of the operator's root token.

use tokio_util::sync::CancellationToken;

/// Waits for SIGTERM or SIGINT, then cancels `shutdown`. A second signal exits at once with
/// status 130, for an operator stuck in its grace period under an impatient user.
///
/// # Errors
/// The I/O error if the signal handlers cannot be installed.
pub async fn cancel_on_signal(shutdown: CancellationToken) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let received = tokio::select! {
        _ = terminate.recv() => "SIGTERM",
        _ = interrupt.recv() => "SIGINT",
        () = shutdown.cancelled() => return Ok(()),
    };
    tracing::info!(signal = received, "shutdown requested");
    shutdown.cancel();
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    tracing::warn!("second signal received, exiting without waiting");
    std::process::exit(130);
}
