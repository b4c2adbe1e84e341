//! Requests to end a run early: Ctrl-C (SIGINT) and, on Unix, SIGTERM (CI timeouts,
//! `docker stop`). A run that sees one stops starting work and still writes its report.

/// The process's Ctrl-C and SIGTERM handlers, installed by [`Interrupt::install`].
///
/// Once installed they replace the default handlers for the rest of the process, so
/// neither signal kills it any more: install them only where a run ends on its own after
/// one arrives.
pub struct Interrupt {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Interrupt {
    /// Installs the handlers now, so a signal that arrives before the run first waits for
    /// one is not lost. Must be called inside a tokio runtime. A handler that cannot be
    /// installed leaves that signal its default action.
    pub fn install() -> Interrupt {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Interrupt {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        {
            Interrupt {}
        }
    }

    /// Resolves when one of the signals arrives; returns its name.
    pub async fn requested(self) -> &'static str {
        #[cfg(unix)]
        {
            let (mut interrupt, mut terminate) = (self.interrupt, self.terminate);
            tokio::select! {
                () = arrival(&mut interrupt) => "Ctrl-C",
                () = arrival(&mut terminate) => "SIGTERM",
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
}

/// The next arrival of `signal`; never, for a handler that is not installed or a runtime
/// that shut down.
#[cfg(unix)]
async fn arrival(signal: &mut Option<tokio::signal::unix::Signal>) {
    let arrived = match signal {
        Some(s) => s.recv().await.is_some(),
        None => false,
    };
    if !arrived {
        std::future::pending::<()>().await;
    }
}
