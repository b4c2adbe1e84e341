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

/// A stop that synchronous work (the capture reader) polls: set once, with the name of
/// what asked for it.
#[derive(Debug, Default)]
pub struct StopRequest {
    flag: std::sync::atomic::AtomicBool,
    reason: std::sync::OnceLock<&'static str>,
}

impl StopRequest {
    /// Asks the work to stop; the first reason given is kept.
    pub fn request(&self, reason: &'static str) {
        let _ = self.reason.set(reason);
        self.flag.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// The reason, once a stop was asked for.
    pub fn requested(&self) -> Option<&'static str> {
        if self.flag.load(std::sync::atomic::Ordering::Relaxed) {
            Some(self.reason.get().copied().unwrap_or("a stop request"))
        } else {
            None
        }
    }

    /// The flag itself, for loops that check it per item.
    pub fn flag(&self) -> &std::sync::atomic::AtomicBool {
        &self.flag
    }
}

/// Installs the Ctrl-C and SIGTERM handlers on a thread of their own (for work that runs
/// outside an async runtime) and returns the request they set. `on_signal` is called
/// with the signal's name when one arrives. If the process is still running `grace`
/// after that (a read blocked on a pipe that brings nothing), it exits with code 130
/// rather than hang.
pub fn stop_on_signal(
    grace: std::time::Duration,
    on_signal: impl FnOnce(&'static str) + Send + 'static,
) -> std::io::Result<std::sync::Arc<StopRequest>> {
    let stop = std::sync::Arc::new(StopRequest::default());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Installed here, before the work starts: a signal from now on is seen.
    let interrupt = {
        let _entered = runtime.enter();
        Interrupt::install()
    };
    let set = stop.clone();
    std::thread::Builder::new()
        .name("stop-on-signal".into())
        .spawn(move || {
            let reason = runtime.block_on(interrupt.requested());
            set.request(reason);
            on_signal(reason);
            std::thread::sleep(grace);
            eprintln!(
                "error: the run did not stop within {:.0} s of {reason}; exiting without a report",
                grace.as_secs_f64()
            );
            std::process::exit(130);
        })?;
    Ok(stop)
}
