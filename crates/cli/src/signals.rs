//! SIGINT and SIGTERM: long-running commands stop cleanly on either.

/// Resolves on the first SIGINT or SIGTERM.
pub(crate) async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        // Without signal handlers (never expected on Unix) fall back to Ctrl-C only.
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
