//! Stop requests: Ctrl-C (SIGINT) and SIGTERM, the signal `kill`, systemd, Docker and CI
//! runners send. Both stop `flash run` and `flash emulator` in order: callers, then workers
//! (SIGTERM to each worker's process group, SIGKILL after a grace period), then the emulator's
//! temporary state directory.

/// Resolves at the first SIGINT or SIGTERM. If a handler cannot be installed, it waits for the
/// other one only (and forever if neither can be).
pub async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!("cannot watch for SIGTERM: {error}");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
