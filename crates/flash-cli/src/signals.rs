//! Stop requests: Ctrl-C (SIGINT) and SIGTERM, the signal `kill`, systemd, Docker and CI
//! runners send. Both stop `flash run` and `flash emulator` in order: callers, then workers
//! (SIGTERM to each worker's process group, SIGKILL after a grace period), then the emulator's
//! temporary state directory.

/// Listens for SIGINT and SIGTERM from the moment it is created: a signal that arrives before
/// anyone waits (while the emulator starts, say) is kept, not met by the default action that
/// would end the process with nothing stopped in order.
#[derive(Debug)]
pub struct StopSignals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    /// Installs the handlers now. One that cannot be installed is logged and not waited for.
    pub fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let install = |kind: SignalKind, name: &str| match signal(kind) {
                Ok(s) => Some(s),
                Err(error) => {
                    tracing::warn!("cannot watch for {name}: {error}");
                    None
                }
            };
            Self {
                term: install(SignalKind::terminate(), "SIGTERM"),
                int: install(SignalKind::interrupt(), "SIGINT"),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Resolves at the first SIGINT or SIGTERM since [`StopSignals::listen`] (forever if neither
    /// could be watched).
    pub async fn requested(&mut self) {
        #[cfg(unix)]
        {
            async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                () = next(&mut self.term) => {}
                () = next(&mut self.int) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
