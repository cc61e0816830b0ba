//! Waiting for the operator to stop the process.

/// Resolves at Ctrl-C (SIGINT) or SIGTERM (what `docker stop` and systemd
/// send), whichever comes first; on platforms without SIGTERM, Ctrl-C only.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
