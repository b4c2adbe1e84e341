//! Requests to end a run early: Ctrl-C (SIGINT) and, on Unix, SIGTERM (CI timeouts,
//! `docker stop`). A run that sees one stops starting work and still writes its report.

/// Resolves when the process is asked to stop; returns the name of the signal.
///
/// The first call replaces the default handlers for the rest of the process, so a second
/// signal no longer kills it either: call it only where a run will end on its own after.
/// If a handler cannot be installed, that signal keeps its default action (the future
/// waits for the other one).
pub async fn requested() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let ctrl_c = tokio::signal::ctrl_c();
        match term {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                Ok(()) = ctrl_c => "Ctrl-C",
            },
            Err(_) => match ctrl_c.await {
                Ok(()) => "Ctrl-C",
                Err(_) => std::future::pending().await,
            },
        }
    }
    #[cfg(not(unix))]
    {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "Ctrl-C",
            Err(_) => std::future::pending().await,
        }
    }
}
